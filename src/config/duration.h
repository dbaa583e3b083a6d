// Go-style durations ("15s", "500ms", "1m30s", "1.5h"), as Kubernetes users
// write them. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "election/clock.h"

namespace leasehold::config {

std::optional<election::Duration> parse_duration(std::string_view text);
std::string format_duration(election::Duration d);

}  // namespace leasehold::config
