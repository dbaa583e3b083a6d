#include "election/election_machine.h"

#include <algorithm>
#include <exception>

namespace leasehold::election {

ElectionMachine::ElectionMachine(MachineSettings settings, const Clock& clock, LeaseStore& store,
                                 ElectionObserver* observer, ElectionOutlet& outlet, AckSource& acks)
    : settings_(std::move(settings)),
      clock_(clock),
      outlet_(outlet),
      acks_(acks),
      elector_(settings_.identity, settings_.timings, clock_, store, observer),
      handoff_(clock_, settings_.handoff_timeout) {
  elector_.trust_unmarked_releases(settings_.trust_unmarked_release);
  healthy_enough_ = settings_.initially_eligible;
  placed_here_ = !settings_.sharded;
  update_eligibility();
}

void ElectionMachine::update_eligibility() { elector_.set_eligible(healthy_enough_ && placed_here_); }

bool ElectionMachine::should_move_shard() const {
  // An unknown owner (no member record seen, e.g. while the watch is down) moves nothing: the
  // leader keeps renewing rather than leave the shard to nobody.
  return settings_.sharded && !shard_owner_.empty() && shard_owner_ != settings_.identity && elector_.state().leading &&
         !handoff_.active() && !stopping_;
}

// The machine's one boundary: whatever escapes a step (out of memory, a bug) ends the claims,
// releases what can be released, and hands the error to the outlet inside the handler, where
// its text still lives.
void ElectionMachine::apply(const MachineEvent& event) {
  if (ended_) return;
  try {
    apply_event(event);
  } catch (const std::exception& e) {
    fail(e.what());
  } catch (...) {
    fail("unknown exception");
  }
}

ElectionMachine::Turn ElectionMachine::turn() {
  if (ended_) return Turn{clock_.steady_now(), true};
  try {
    return turn_once();
  } catch (const std::exception& e) {
    fail(e.what());
  } catch (...) {
    fail("unknown exception");
  }
  return Turn{clock_.steady_now(), true};
}

void ElectionMachine::apply_event(const MachineEvent& event) {
  if (const auto* seen = std::get_if<event::LeaseObserved>(&event)) {
    elector_.observe(seen->record);
  } else if (const auto* gone = std::get_if<event::LeaseDeleted>(&event)) {
    elector_.observe_absent(gone->revision);
  } else if (const auto* watch = std::get_if<event::WatchState>(&event)) {
    elector_.set_watch_healthy(watch->healthy);
  } else if (const auto* resign_request = std::get_if<event::ResignRequested>(&event)) {
    resign(resign_request->successor);
  } else if (std::holds_alternative<event::Acknowledged>(event)) {
    handoff_.acknowledge();
  } else if (const auto* health = std::get_if<event::AppHealthChanged>(&event)) {
    // A follower whose app is unhealthy stays out; a leader whose app turns unhealthy resigns as
    // POST /v1/resign does, and stays out (after the resign's stand-back) until it is healthy.
    healthy_enough_ = health->eligible;
    update_eligibility();
    if (!health->healthy) resign("");
  } else if (const auto* placement = std::get_if<event::PlacementChanged>(&event)) {
    // Only recorded here: the next turn hands the shard over if this leader is not its owner
    // (also one that took it as a vacancy and learns its owner later).
    placed_here_ = placement->eligible;
    shard_owner_ = placement->owner;
    update_eligibility();
  } else if (std::holds_alternative<event::ShutdownRequested>(event)) {
    stopping_ = true;
    carry_out(handoff_.shutdown(elector_.state().leading));
  }
}

ElectionMachine::Turn ElectionMachine::turn_once() {
  if (handoff_.active()) {
    if (acks_.present()) handoff_.acknowledge();
    carry_out(handoff_.advance(elector_.state().leading));
    if (ended_) return Turn{clock_.steady_now(), true};
  }
  SteadyTime next = elector_.step();
  outlet_.heartbeat();
  outlet_.publish();
  // An operator asked the leader to resign (an annotation on the Lease): exactly as
  // POST /v1/resign, through the handoff.
  if (!handoff_.active() && !stopping_ && elector_.state().resign_requested) {
    outlet_.note(MachineNote{MachineNote::Kind::kResignAsked, Handoff::Reason::kResign, "", std::nullopt});
    resign("");
    next = clock_.steady_now();
  }
  if (should_move_shard()) {
    outlet_.note(MachineNote{MachineNote::Kind::kShardMoving, Handoff::Reason::kResign, shard_owner_, std::nullopt});
    resign(shard_owner_);
    next = clock_.steady_now();
  }
  // The ack file is looked for often while a handoff waits for it.
  if (handoff_.active()) next = std::min(next, handoff_.wake_at());
  return Turn{next, ended_};
}

void ElectionMachine::resign(const std::string& successor) {
  // A resign that arrives after the stop began is the stop's to handle.
  if (stopping_) return;
  carry_out(handoff_.resign(elector_.state().leading, successor));
}

void ElectionMachine::carry_out(const Handoff::Decision& decision) {
  using Action = Handoff::Action;
  switch (decision.action) {
    case Action::kNone:
    case Action::kWait: return;
    case Action::kStopClaiming:
      // First, before anything that can wait: nothing reads as leader any more.
      outlet_.stop_claiming_now();
      acks_.clear();
      outlet_.note(MachineNote{MachineNote::Kind::kSteppingDown, handoff_.reason(), decision.successor, std::nullopt});
      return;
    case Action::kRelease:
    case Action::kResign: break;
  }
  if (decision.ended) {
    // The handoff is over (handoff_.reason() is gone with it): a release ends a stop's, a resign a resign's.
    const Handoff::Reason reason =
        decision.action == Action::kRelease ? Handoff::Reason::kShutdown : Handoff::Reason::kResign;
    outlet_.note(MachineNote{MachineNote::Kind::kHandoffEnded, reason, "", decision.ended});
    acks_.clear();
  }
  const SteadyTime release_deadline = clock_.steady_now() + settings_.release_timeout;
  if (decision.action == Action::kRelease) {
    outlet_.stop_claiming_now();
    elector_.stop_claiming("shutting down");
    outlet_.publish();
    released_ = elector_.release(release_deadline);
    outlet_.publish();
    ended_ = true;
    return;
  }
  elector_.resign(release_deadline, decision.successor, /*stand_back=*/!settings_.sharded);
  outlet_.publish();
  if (!stopping_) outlet_.resume_claiming();
}

void ElectionMachine::fail(std::string_view what) noexcept {
  // Stop claiming first, on every channel; then release what can be released; then the outlet
  // ends the process (in the agent) so that it is restarted.
  outlet_.abandon();
  try {
    elector_.stop_claiming("internal error");
    elector_.release(clock_.steady_now() + settings_.release_timeout);
  } catch (...) {
    // Nothing more can be done here: the Lease expires by itself.
  }
  failed_ = true;
  ended_ = true;
  outlet_.failed(what);
}

}  // namespace leasehold::election
