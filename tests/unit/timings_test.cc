#include "election/timings.h"

#include <doctest/doctest.h>

namespace leasehold::election {
using namespace std::chrono_literals;

TEST_CASE("the defaults are valid and match client-go's 15/10/2") {
  ElectionTimings t;
  CHECK_FALSE(validate(t).has_value());
  CHECK(t.lease_duration == 15s);
  CHECK(t.renew_deadline == 10s);
  CHECK(t.retry_period == 2s);
}

TEST_CASE("timings are validated like client-go plus the safety rule") {
  ElectionTimings t;
  t.renew_deadline = 15s;
  CHECK(validate(t).value().setting == "lease-duration");
  t = {};
  t.retry_period = 9s;  // 1.2 x 9 = 10.8 >= 10
  CHECK(validate(t).value().setting == "renew-deadline");
  CHECK(validate(t).value().message == "must be greater than 1.2 x retry-period");
  t = {};
  t.lease_duration = 1500ms;
  CHECK(validate(t).value().setting == "lease-duration");
  t = {};
  t.safety_margin = 5s;  // 15 - 5 is not > 10
  CHECK(validate(t).value().setting == "safety-margin");
  t = {};
  t.safety_margin = -1s;
  CHECK(validate(t).value().setting == "safety-margin");
  t = {};
  t.request_timeout = 0s;
  CHECK(validate(t).value().setting == "request-timeout");
}

}  // namespace leasehold::election
