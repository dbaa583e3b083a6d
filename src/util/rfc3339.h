// RFC 3339 timestamps in UTC: with microseconds ("2006-01-02T15:04:05.000000Z", Kubernetes'
// MicroTime, as Lease acquireTime/renewTime carry them) and with milliseconds (logs, status
// output). Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace leasehold::util {

using WallTime = std::chrono::system_clock::time_point;

std::string format_micro_time(WallTime t);
std::string format_rfc3339_millis(WallTime t);
// The same into `out` (at least kRfc3339MillisSize bytes), without allocating: for a log line
// written while memory is exhausted. Returns the length written (without the NUL).
inline constexpr std::size_t kRfc3339MillisSize = 32;
std::size_t format_rfc3339_millis_to(WallTime t, char* out, std::size_t size) noexcept;
// Accepts RFC 3339 with any fraction (or none) and 'Z' or a numeric offset.
std::optional<WallTime> parse_rfc3339(std::string_view text);

}  // namespace leasehold::util
