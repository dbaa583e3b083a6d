// Fuzzes Go-style duration parsing (every timing flag, env var and config key goes through it):
// a duration or nullopt, never negative, never a crash; what format_duration prints for a
// parsed duration parses back to the same value.
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "util/duration.h"

namespace util = leasehold::util;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto d = util::parse_duration(text);
  if (!d) return 0;
  FUZZ_CHECK(d->count() >= 0, "a negative duration");
  const std::string printed = util::format_duration(*d);
  const auto back = util::parse_duration(printed);
  FUZZ_CHECK(back.has_value(), "format_duration output does not parse");
  FUZZ_CHECK(*back == *d, "parse_duration(format_duration(d)) != d");
  return 0;
}
