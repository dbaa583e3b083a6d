// Go-style durations ("15s", "500ms", "1m30s", "1.5h"), as Kubernetes users
// write them. Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace leasehold::util {

// Empty when `text` is not a duration, or is one longer than about 31 years (then *too_large, if
// given, is set: the caller can say which).
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text, bool* too_large = nullptr);
std::string format_duration(std::chrono::nanoseconds d);

}  // namespace leasehold::util
