// RateLimiter, the client-side token bucket, over given times.
#include "kube/rate_limiter.h"

#include <doctest/doctest.h>

namespace leasehold::kube {
namespace {

using namespace std::chrono_literals;
using election::SteadyTime;

}  // namespace

TEST_CASE("rate limiter: a burst goes at once, then one request per 1/qps") {
  RateLimiter limiter(2, 3);
  const SteadyTime t0{std::chrono::hours(1)};
  const SteadyTime far = t0 + 1h;
  for (int i = 0; i < 3; ++i) CHECK(limiter.reserve(t0, far) == t0);
  CHECK(limiter.reserve(t0, far) == t0 + 500ms);
  CHECK(limiter.reserve(t0, far) == t0 + 1000ms);  // queued behind the one before
  // Tokens come back with time, no more than the burst.
  RateLimiter refilled(2, 3);
  for (int i = 0; i < 3; ++i) REQUIRE(refilled.reserve(t0, far));
  CHECK(refilled.reserve(t0 + 10s, far) == t0 + 10s);
  CHECK(refilled.reserve(t0 + 10s, far) == t0 + 10s);
  CHECK(refilled.reserve(t0 + 10s, far) == t0 + 10s);
  CHECK(refilled.reserve(t0 + 10s, far) == t0 + 10s + 500ms);
}

TEST_CASE("rate limiter: no slot before the deadline reserves nothing") {
  RateLimiter limiter(1, 1);
  const SteadyTime t0{std::chrono::hours(1)};
  REQUIRE(limiter.reserve(t0, t0) == t0);
  CHECK_FALSE(limiter.reserve(t0, t0 + 999ms).has_value());
  CHECK_FALSE(limiter.reserve(t0, t0 + 999ms).has_value());
  // The refused requests took nothing: the next slot is still one second on.
  CHECK(limiter.reserve(t0, t0 + 1s) == t0 + 1s);
}

TEST_CASE("rate limiter: an earlier time from another thread neither refills nor goes back in time") {
  RateLimiter limiter(1, 1);
  const SteadyTime t0{std::chrono::hours(1)};
  REQUIRE(limiter.reserve(t0 + 5s, t0 + 1h) == t0 + 5s);
  CHECK(limiter.reserve(t0, t0 + 1h) == t0 + 6s);
}

TEST_CASE("rate limiter: qps 0 means no limit") {
  RateLimiter limiter(0, 1);
  const SteadyTime t0{std::chrono::hours(1)};
  for (int i = 0; i < 100; ++i) CHECK(limiter.reserve(t0, t0) == t0);
}

}  // namespace leasehold::kube
