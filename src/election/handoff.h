// Handoff: the acknowledged handoff of one election as a state machine. Pure
// logic: it reads time from a Clock and does no I/O. The election loop feeds
// it what happened (a resign or stop was asked for, the app acknowledged,
// whether this agent still holds the Lease) and carries out what it decides:
//
//   kStopClaiming  a handoff began: stop claiming on every channel now, before
//                  any other I/O, and clear the ack files; keep holding (and
//                  renewing) the Lease while the app finishes its work.
//   kWait          keep holding the Lease; look again by wake_at().
//   kRelease       the stop is due: stop claiming for good, release the Lease,
//                  end the election loop.
//   kResign        the resign is due: release naming successor, stand back,
//                  stay in the election.
//
// A handoff ends when the app acknowledges, when the timeout passes, or when
// the Lease is no longer this agent's (someone else holds it: nothing is left
// to hand over). A stop asked for during a resign turns it into a stop, with
// the same deadline and whatever the app already acknowledged.
//
// Thread-safety: none. The election loop owns it.
#pragma once

#include <optional>
#include <string>

#include "election/clock.h"

namespace leasehold::election {

class Handoff {
 public:
  enum class Reason { kShutdown, kResign };
  enum class Action { kNone, kStopClaiming, kWait, kRelease, kResign };
  // Why a handoff ended (absent when no handoff was under way).
  enum class Ended { kAcknowledged, kTimedOut, kLeaseLost };

  struct Decision {
    Action action = Action::kNone;
    std::string successor;       // kStopClaiming, kResign: the preferred holder ("" for anyone)
    std::optional<Ended> ended;  // kRelease, kResign: how the handoff ended
  };

  // While a handoff waits, the ack files are looked for this often.
  static constexpr Duration kAckPollInterval = std::chrono::milliseconds(20);

  // timeout: --handoff-timeout, how long to wait for the app (0: release at once).
  Handoff(const Clock& clock, Duration timeout);

  // POST /v1/resign, the Lease's resign annotation, the app turning unhealthy:
  // begins a handoff if this agent leads, none is under way and no stop was
  // asked for. kStopClaiming or kNone.
  Decision resign(bool leading, const std::string& successor);
  // SIGTERM/SIGINT. Leading: begins a handoff (kStopClaiming), or turns a
  // resign under way into a stop (kWait). Not leading: kRelease at once.
  Decision shutdown(bool leading);
  // The app acknowledged (POST /v1/ack or the ack file). Returns whether a
  // handoff was waiting for it; otherwise nothing changes.
  bool acknowledge();
  // Each loop turn while active(): kWait, or how the handoff ends.
  Decision advance(bool leading);

  bool active() const { return current_.has_value(); }
  bool stopping() const { return stopping_; }
  // Active only.
  Reason reason() const { return current_->reason; }
  // When the loop should look again at the latest (active only).
  SteadyTime wake_at() const;

 private:
  struct Current {
    Reason reason;
    std::string successor;
    SteadyTime deadline;
    bool acknowledged = false;
  };
  Decision begin(Reason reason, const std::string& successor);

  const Clock& clock_;
  const Duration timeout_;
  std::optional<Current> current_;
  bool stopping_ = false;
};

const char* to_string(Handoff::Reason reason);
const char* to_string(Handoff::Ended ended);

}  // namespace leasehold::election
