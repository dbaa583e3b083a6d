// Go-style durations ("15s", "500ms", "1m30s", "1.5h"), as Kubernetes users
// write them. Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace leasehold::util {

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);
std::string format_duration(std::chrono::nanoseconds d);

}  // namespace leasehold::util
