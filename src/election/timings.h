// ElectionTimings: the durations that govern one election, and their validation.
// A plain value type.
#pragma once

#include <optional>
#include <string>

#include "election/clock.h"

namespace leasehold::election {

struct ElectionTimings {
  Duration lease_duration = std::chrono::seconds(15);
  Duration renew_deadline = std::chrono::seconds(10);
  Duration retry_period = std::chrono::seconds(2);
  // The leader stops claiming this long before its lease could expire in the
  // eyes of a follower: room for clock-rate drift and for the app's reaction.
  Duration safety_margin = std::chrono::seconds(2);
  // Upper bound of one API request; a leader's requests are further bounded by
  // the time left on its lease.
  Duration request_timeout = std::chrono::seconds(5);
};

// What is wrong with the timings: the field at fault, by its setting's bare name
// ("lease-duration"), and why. The shape of util::SettingError, which this layer (the standard
// library only) cannot include: the config layer places the name (a flag, a file item).
struct TimingsError {
  std::string setting;
  std::string message;
};

// The first problem, or nullopt when the timings are usable. Rules: client-go's (lease-duration >
// renew-deadline > 1.2 x retry-period), lease-duration a whole number of seconds (the Lease
// stores seconds), and the leader's claim must outlast a renew round (lease-duration -
// safety-margin > renew-deadline).
std::optional<TimingsError> validate(const ElectionTimings& timings);

}  // namespace leasehold::election
