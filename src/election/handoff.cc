#include "election/handoff.h"

#include <algorithm>

namespace leasehold::election {

Handoff::Handoff(const Clock& clock, Duration timeout) : clock_(clock), timeout_(timeout) {}

Handoff::Decision Handoff::begin(Reason reason, const std::string& successor) {
  current_ = Current{reason, successor, clock_.steady_now() + timeout_};
  return Decision{Action::kStopClaiming, successor, {}};
}

Handoff::Decision Handoff::resign(bool leading, const std::string& successor) {
  // One way to resign, whoever asks: only a leader not already handing off or stopping.
  if (current_ || stopping_ || !leading) return {};
  return begin(Reason::kResign, successor);
}

Handoff::Decision Handoff::shutdown(bool leading) {
  stopping_ = true;
  if (!leading) {
    // Nothing to hand over (any handoff under way lost the Lease meanwhile).
    std::optional<Ended> ended;
    if (current_) ended = Ended::kLeaseLost;
    current_.reset();
    return Decision{Action::kRelease, {}, ended};
  }
  if (!current_) return begin(Reason::kShutdown, "");
  // A resign under way becomes the stop: the app already stopped claiming, and
  // what it acknowledged still counts.
  current_->reason = Reason::kShutdown;
  current_->successor.clear();
  return Decision{Action::kWait, {}, {}};
}

bool Handoff::acknowledge() {
  if (!current_) return false;
  current_->acknowledged = true;
  return true;
}

Handoff::Decision Handoff::advance(bool leading) {
  if (!current_) return {};
  Ended ended;
  if (current_->acknowledged) {
    ended = Ended::kAcknowledged;
  } else if (!leading) {
    ended = Ended::kLeaseLost;
  } else if (clock_.steady_now() >= current_->deadline) {
    ended = Ended::kTimedOut;
  } else {
    return Decision{Action::kWait, {}, {}};
  }
  const Current done = *current_;
  current_.reset();
  if (done.reason == Reason::kShutdown) return Decision{Action::kRelease, {}, ended};
  return Decision{Action::kResign, done.successor, ended};
}

SteadyTime Handoff::wake_at() const { return std::min(current_->deadline, clock_.steady_now() + kAckPollInterval); }

const char* to_string(Handoff::Reason reason) { return reason == Handoff::Reason::kShutdown ? "shutdown" : "resign"; }

const char* to_string(Handoff::Ended ended) {
  switch (ended) {
    case Handoff::Ended::kAcknowledged: return "acknowledged";
    case Handoff::Ended::kTimedOut: return "timed out";
    case Handoff::Ended::kLeaseLost: return "lease lost";
  }
  return "unknown";
}

}  // namespace leasehold::election
