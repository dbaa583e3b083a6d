#include "util/duration.h"

#include <cctype>
#include <cmath>

namespace leasehold::util {

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view s, bool* too_large) {
  if (too_large) *too_large = false;
  if (s == "0") return std::chrono::nanoseconds::zero();
  if (s.empty()) return std::nullopt;
  double total_ns = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (i == start) return std::nullopt;
    double value;
    try {
      size_t used = 0;
      value = std::stod(std::string(s.substr(start, i - start)), &used);
      if (used != i - start) return std::nullopt;
    } catch (const std::exception&) {
      return std::nullopt;
    }
    size_t unit_start = i;
    while (i < s.size() && !std::isdigit(static_cast<unsigned char>(s[i])) && s[i] != '.') ++i;
    const std::string_view unit = s.substr(unit_start, i - unit_start);
    double scale;
    if (unit == "ns")
      scale = 1;
    else if (unit == "us" || unit == "\u00b5s")
      scale = 1e3;
    else if (unit == "ms")
      scale = 1e6;
    else if (unit == "s")
      scale = 1e9;
    else if (unit == "m")
      scale = 60e9;
    else if (unit == "h")
      scale = 3600e9;
    else
      return std::nullopt;
    total_ns += value * scale;
  }
  if (!std::isfinite(total_ns) || total_ns > 1e18) {
    if (too_large) *too_large = true;
    return std::nullopt;
  }
  return std::chrono::nanoseconds(static_cast<long long>(std::llround(total_ns)));
}

std::string format_duration(std::chrono::nanoseconds d) {
  using namespace std::chrono;
  const auto ns = d.count();
  if (ns == 0) return "0s";
  if (ns % 1'000'000'000 == 0) {
    auto s = ns / 1'000'000'000;
    if (s % 3600 == 0) return std::to_string(s / 3600) + "h";
    if (s % 60 == 0) return std::to_string(s / 60) + "m";
    return std::to_string(s) + "s";
  }
  if (ns % 1'000'000 == 0) return std::to_string(ns / 1'000'000) + "ms";
  if (ns % 1000 == 0) return std::to_string(ns / 1000) + "us";
  return std::to_string(ns) + "ns";
}

}  // namespace leasehold::util
