#include "status/status_board.h"

namespace leasehold::status {

using election::SteadyTime;

StatusBoard::StatusBoard(StatusIdentity who, const election::Clock& clock)
    : who_(std::move(who)), clock_(clock), heartbeat_(clock.steady_now()) {}

bool StatusBoard::publish(const election::ElectionState& s) {
  std::unique_lock lock(mutex_);
  const auto& o = state_;
  const bool changed = s.leading != o.leading || s.fencing_token != o.fencing_token || s.leader != o.leader ||
                       s.lease_exists != o.lease_exists || s.observed != o.observed ||
                       s.lease_transitions != o.lease_transitions || s.terms_led != o.terms_led ||
                       s.lease_duration_seconds != o.lease_duration_seconds;
  state_ = s;
  if (changed) {
    ++base_revision_;
  }
  lock.unlock();
  if (changed && listener_) listener_();
  return changed;
}

void StatusBoard::set_claiming(bool claiming) {
  std::unique_lock lock(mutex_);
  if (stopping_ == !claiming) return;
  stopping_ = !claiming;
  ++base_revision_;
  lock.unlock();
  if (listener_) listener_();
}

void StatusBoard::set_app_health(const AppHealthStatus& health) {
  std::unique_lock lock(mutex_);
  if (app_health_ == health) return;
  app_health_ = health;
  ++base_revision_;
  lock.unlock();
  if (listener_) listener_();
}

std::optional<SteadyTime> StatusBoard::claim_deadline() const {
  std::lock_guard lock(mutex_);
  if (!state_.leading || stopping_) return std::nullopt;
  return state_.valid_until;
}

void StatusBoard::heartbeat() {
  std::lock_guard lock(mutex_);
  heartbeat_ = clock_.steady_now();
}

SteadyTime StatusBoard::last_heartbeat() const {
  std::lock_guard lock(mutex_);
  return heartbeat_;
}

StatusView StatusBoard::view() const {
  std::lock_guard lock(mutex_);
  return view_locked(clock_.steady_now(), clock_.wall_now());
}

StatusView StatusBoard::view_locked(SteadyTime now, election::WallTime wall) const {
  StatusView v;
  v.who = who_;
  const bool claim_live = state_.leading && now < state_.valid_until;
  v.is_leader = claim_live && !stopping_;
  v.leader = state_.leader;
  v.acquired_at = state_.acquired_at;
  v.renewed_at = state_.renewed_at;
  v.observed_at = state_.observed_at;
  v.lease_duration_seconds = state_.lease_duration_seconds;
  v.lease_transitions = state_.lease_transitions;
  v.observed = state_.observed;
  v.stepping_down = stopping_ && claim_live;
  v.app_health = app_health_;
  if (v.is_leader) {
    v.fencing_token = state_.fencing_token;
    const auto left = state_.valid_until - now;
    v.valid_until = wall + std::chrono::duration_cast<election::WallTime::duration>(left);
    v.valid_for_ms = std::chrono::duration_cast<std::chrono::milliseconds>(left).count();
  }
  // Odd revisions mark a claim that ran out on its own since the last publish.
  const bool expired_by_itself = state_.leading && !stopping_ && !claim_live;
  v.revision = base_revision_ * 2 + (expired_by_itself ? 1 : 0);
  return v;
}

}  // namespace leasehold::status
