#include "election/timings.h"

namespace leasehold::election {

std::optional<TimingsError> validate(const ElectionTimings& t) {
  using std::chrono::seconds;
  if (t.retry_period <= Duration::zero()) return TimingsError{"retry-period", "must be positive"};
  if (t.lease_duration < seconds(1) || t.lease_duration % seconds(1) != Duration::zero()) {
    return TimingsError{"lease-duration", "must be a whole number of seconds, at least 1s"};
  }
  if (t.renew_deadline * 10 <= t.retry_period * 12) {
    return TimingsError{"renew-deadline", "must be greater than 1.2 x retry-period"};
  }
  if (t.lease_duration <= t.renew_deadline) {
    return TimingsError{"lease-duration", "must be greater than renew-deadline"};
  }
  if (t.safety_margin < Duration::zero()) return TimingsError{"safety-margin", "must not be negative"};
  if (t.lease_duration - t.safety_margin <= t.renew_deadline) {
    return TimingsError{"safety-margin", "must be less than lease-duration - renew-deadline"};
  }
  if (t.request_timeout <= Duration::zero()) return TimingsError{"request-timeout", "must be positive"};
  return std::nullopt;
}

}  // namespace leasehold::election
