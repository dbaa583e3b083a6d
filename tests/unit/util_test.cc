// The small shared helpers of util/: durations, RFC 3339 times, UTF-8 and Kubernetes names.
#include <doctest/doctest.h>

#include "util/dns_name.h"
#include "util/duration.h"
#include "util/rfc3339.h"
#include "util/utf8.h"

namespace leasehold::util {

using namespace std::chrono_literals;

TEST_CASE("durations are read as Go writes them") {
  CHECK(parse_duration("15s") == 15s);
  CHECK(parse_duration("500ms") == 500ms);
  CHECK(parse_duration("1m30s") == 90s);
  CHECK(parse_duration("1.5h") == 90min);
  CHECK(parse_duration("0") == 0s);
  CHECK_FALSE(parse_duration("15").has_value());
  CHECK_FALSE(parse_duration("s").has_value());
  CHECK_FALSE(parse_duration("15x").has_value());
  CHECK_FALSE(parse_duration("").has_value());
  bool too_large = true;
  CHECK_FALSE(parse_duration("15x", &too_large).has_value());
  CHECK_FALSE(too_large);
  CHECK_FALSE(parse_duration("600000h", &too_large).has_value());
  CHECK(too_large);
  CHECK(format_duration(15s) == "15s");
  CHECK(format_duration(2min) == "2m");
  CHECK(format_duration(250ms) == "250ms");
}

TEST_CASE("MicroTime round-trips with microseconds") {
  const auto t = parse_rfc3339("2026-11-26T19:04:05.123456Z");
  REQUIRE(t.has_value());
  CHECK(format_micro_time(*t) == "2026-11-26T19:04:05.123456Z");
  CHECK(format_rfc3339_millis(*t) == "2026-11-26T19:04:05.123Z");
}

TEST_CASE("RFC 3339 parsing accepts offsets and whole seconds, rejects garbage") {
  CHECK(parse_rfc3339("2026-11-26T21:04:05+02:00") == parse_rfc3339("2026-11-26T19:04:05Z"));
  CHECK(parse_rfc3339("2026-11-26T19:04:05Z").has_value());
  CHECK_FALSE(parse_rfc3339("2026-11-26 19:04:05").has_value());
  CHECK_FALSE(parse_rfc3339("2026-13-26T19:04:05Z").has_value());
  CHECK_FALSE(parse_rfc3339("2026-11-26T19:04:05.Z").has_value());
  CHECK_FALSE(parse_rfc3339("").has_value());
  CHECK_FALSE(parse_rfc3339("0001-01-01T00:00:00Z").has_value());  // not representable in nanoseconds
  CHECK_FALSE(parse_rfc3339("9999-12-31T23:59:59Z").has_value());
  CHECK_FALSE(parse_rfc3339("2026-11-26T19:04:05Zjunk").has_value());
}

// Each text against the three name rules the API server applies: a DNS-1123 subdomain (object
// names), a DNS-1123 label, and a label key (an optional DNS-1123 prefix, a name of 1-63).
TEST_CASE("Kubernetes names: subdomains, labels and label keys") {
  struct Case {
    std::string text;
    bool subdomain, label, label_key;
  };
  const std::string long_name(64, 'a');
  const Case cases[] = {
      {"a.b-c", true, false, true},     {"-a", false, false, false},
      {"a..b", false, false, true},     {"A", false, false, true},
      {"team-1", true, true, true},     {long_name, false, false, false},
      {"leader", true, true, true},     {"a.b/x_y.Z-1", false, false, true},
      {"-leader", false, false, false}, {"Bad_Prefix/x", false, false, false},
      {"x/", false, false, false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    CHECK(is_dns1123_subdomain(c.text) == c.subdomain);
    CHECK(is_dns1123_label(c.text) == c.label);
    CHECK(is_label_key(c.text) == c.label_key);
  }
}

TEST_CASE("UTF-8: overlong forms, surrogates and truncated sequences are refused") {
  CHECK(is_valid_utf8("pod-\xc3\xa9"));        // é
  CHECK_FALSE(is_valid_utf8("\xe0\x80\x80"));  // overlong
  CHECK_FALSE(is_valid_utf8("\xed\xa0\x80"));  // surrogate
  CHECK_FALSE(is_valid_utf8("\xc3"));          // truncated
}

}  // namespace leasehold::util
