#include "status/connection_deadline.h"

namespace leasehold::status {

std::optional<election::Duration> ConnectionDeadline::expire_after(election::Duration timeout) {
  const election::SteadyTime now = clock_.steady_now();
  deadline_ = now + timeout;
  if (armed_for_ && *armed_for_ <= *deadline_) return std::nullopt;
  armed_for_ = deadline_;
  return timeout;
}

void ConnectionDeadline::expire_never() { deadline_.reset(); }

ConnectionDeadline::Fired ConnectionDeadline::timer_fired() {
  armed_for_.reset();
  if (!deadline_) return {};
  const election::SteadyTime now = clock_.steady_now();
  if (now >= *deadline_) return {.expired = true, .rearm = std::nullopt};
  armed_for_ = deadline_;
  return {.expired = false, .rearm = *deadline_ - now};
}

}  // namespace leasehold::status
