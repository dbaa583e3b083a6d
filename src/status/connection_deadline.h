// ConnectionDeadline: when one HTTP connection must give up (a request that does
// not arrive whole within the read timeout, a keep-alive connection idle too
// long), on an injected Clock. It decides, and does no I/O: HttpServer's session
// owns the one timer, arms it for the wait this class returns and asks it again
// when the timer fires.
//
// A later deadline does not re-arm a pending timer (that would cost a
// timerfd_settime system call per request): the timer fires at the moment it was
// armed for and is then re-armed for what is left. An earlier deadline (an idle
// keep-alive wait becoming a request's read timeout) re-arms it at once.
//
// Thread-safety: none; a session uses it on its own strand only. The Clock must
// outlive it.
#pragma once

#include <optional>

#include "election/clock.h"

namespace leasehold::status {

class ConnectionDeadline {
 public:
  explicit ConnectionDeadline(const election::Clock& clock) : clock_(clock) {}

  // The connection must give up `timeout` from now. Returns the wait to arm the timer for when
  // it must be (re)armed now; nothing when a pending timer fires soon enough.
  std::optional<election::Duration> expire_after(election::Duration timeout);
  // No deadline (a request held by its handler, a stream between writes): a pending timer
  // finds nothing to do when it fires.
  void expire_never();

  struct Fired {
    bool expired = false;                     // give up now: close the connection
    std::optional<election::Duration> rearm;  // else wait this long more, when set
  };
  // The pending timer fired.
  Fired timer_fired();
  // The pending timer was cancelled: the next deadline arms it afresh.
  void timer_cancelled() { armed_for_.reset(); }

 private:
  const election::Clock& clock_;
  std::optional<election::SteadyTime> deadline_;   // none: never
  std::optional<election::SteadyTime> armed_for_;  // the moment the pending timer is for
};

}  // namespace leasehold::status
