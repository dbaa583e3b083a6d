#include "health/app_health.h"

#include <algorithm>

namespace leasehold::health {

const char* to_string(Health health) {
  switch (health) {
    case Health::kUnknown: return "unknown";
    case Health::kHealthy: return "healthy";
    case Health::kUnhealthy: return "unhealthy";
  }
  return "unknown";
}

const char* to_string(ProbeOutcome outcome) {
  switch (outcome) {
    case ProbeOutcome::kSuccess: return "success";
    case ProbeOutcome::kFailure: return "failure";
    case ProbeOutcome::kRefused: return "refused";
    case ProbeOutcome::kTimeout: return "timeout";
  }
  return "failure";
}

AppHealth::AppHealth(ProbeSettings settings, const election::Clock& clock)
    : settings_(std::move(settings)), clock_(clock) {
  state_.since = clock_.steady_now();
  state_.since_wall = clock_.wall_now();
  state_.eligible = !settings_.require_before_claim;
}

election::SteadyTime AppHealth::next_probe_at() const {
  if (!started_once_) return clock_.steady_now();
  // While one is in flight the next waits for it: wake at its deadline to cut it off.
  if (in_flight_) return probe_deadline();
  return std::max(probe_started_ + settings_.period, clock_.steady_now());
}

bool AppHealth::start_probe() {
  if (in_flight_) return false;
  in_flight_ = true;
  started_once_ = true;
  probe_started_ = clock_.steady_now();
  return true;
}

bool AppHealth::finish_probe(ProbeOutcome outcome) {
  if (!in_flight_) return false;
  in_flight_ = false;
  if (clock_.steady_now() > probe_deadline()) outcome = ProbeOutcome::kTimeout;
  return record(outcome);
}

bool AppHealth::record(ProbeOutcome outcome) {
  state_.last_outcome = outcome;
  Health next = state_.health;
  if (outcome == ProbeOutcome::kSuccess) {
    state_.consecutive_failures = 0;
    ++state_.consecutive_successes;
    if (state_.health != Health::kHealthy && state_.consecutive_successes >= settings_.success_threshold) {
      next = Health::kHealthy;
    }
  } else {
    state_.consecutive_successes = 0;
    ++state_.consecutive_failures;
    if (state_.health != Health::kUnhealthy && state_.consecutive_failures >= settings_.failure_threshold) {
      next = Health::kUnhealthy;
    }
  }
  if (next == state_.health) return false;
  state_.health = next;
  state_.since = clock_.steady_now();
  state_.since_wall = clock_.wall_now();
  if (next == Health::kHealthy) state_.ever_healthy = true;
  state_.eligible = next == Health::kHealthy;
  return true;
}

HealthSnapshot AppHealth::snapshot() const { return state_; }

}  // namespace leasehold::health
