// MicroTime: Kubernetes' RFC 3339 timestamps with microseconds
// ("2006-01-02T15:04:05.000000Z"), as Lease acquireTime/renewTime carry them.
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "election/clock.h"

namespace leasehold::kube {

std::string format_micro_time(election::WallTime t);
// RFC 3339 with milliseconds, for status output.
std::string format_rfc3339_millis(election::WallTime t);
// Accepts RFC 3339 with any fraction (or none) and 'Z' or a numeric offset.
std::optional<election::WallTime> parse_rfc3339(std::string_view text);

}  // namespace leasehold::kube
