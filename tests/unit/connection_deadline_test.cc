// ConnectionDeadline step by step on a fake clock: when an HTTP connection's one
// timer is armed, re-armed or left alone, and when the connection gives up.
#include "status/connection_deadline.h"

#include <doctest/doctest.h>

#include "fakes.h"

namespace leasehold::status {
namespace {

using namespace std::chrono_literals;
using election::Duration;
using testing::FakeClock;

constexpr Duration kRead = 10s;  // HttpLimits' defaults
constexpr Duration kIdle = 60s;

// The timer fires with `left` still to go on the clock: it re-arms for exactly that, and the
// connection gives up once `left` has passed.
void expect_rearmed_then_expired(ConnectionDeadline& deadline, FakeClock& clock, Duration left) {
  const ConnectionDeadline::Fired early = deadline.timer_fired();
  CHECK_FALSE(early.expired);
  CHECK(early.rearm == left);
  clock.advance(left);
  CHECK(deadline.timer_fired().expired);
}

}  // namespace

TEST_CASE("a request that does not arrive whole is given up exactly at the read timeout") {
  FakeClock clock;
  ConnectionDeadline deadline(clock);
  CHECK(deadline.expire_after(kRead) == kRead);
  clock.advance(kRead - 1ns);  // a timer may fire early
  expect_rearmed_then_expired(deadline, clock, 1ns);
}

TEST_CASE("a later deadline leaves the pending timer alone; it re-arms itself for what is left") {
  FakeClock clock;
  ConnectionDeadline deadline(clock);
  REQUIRE(deadline.expire_after(kRead) == kRead);
  clock.advance(4s);
  // The next request began: the deadline moves 4 s later, without a system call.
  CHECK_FALSE(deadline.expire_after(kRead).has_value());
  clock.advance(6s);  // the timer fires at the first deadline
  expect_rearmed_then_expired(deadline, clock, 4s);
}

// A keep-alive connection waits up to the idle timeout for its next request; once that request
// has begun, it must arrive within the read timeout, which ends before the pending idle wait.
TEST_CASE("an idle wait that becomes a request's read timeout re-arms the timer earlier") {
  FakeClock clock;
  ConnectionDeadline deadline(clock);
  CHECK(deadline.expire_after(kIdle) == kIdle);
  clock.advance(30s);  // the first byte of the next request, then nothing more
  CHECK(deadline.expire_after(kRead) == kRead);
  clock.advance(kRead);
  CHECK(deadline.timer_fired().expired);  // 40 s after the last answer, not 60
}

TEST_CASE("no deadline while a request is held: the pending timer finds nothing to do") {
  FakeClock clock;
  ConnectionDeadline deadline(clock);
  REQUIRE(deadline.expire_after(kRead).has_value());
  deadline.expire_never();
  clock.advance(kIdle);
  const ConnectionDeadline::Fired fired = deadline.timer_fired();
  CHECK_FALSE(fired.expired);
  CHECK_FALSE(fired.rearm.has_value());
  // Answered: the next deadline arms a fresh timer, the old one having ended.
  CHECK(deadline.expire_after(kIdle) == kIdle);
}

TEST_CASE("a cancelled timer is armed afresh by the next deadline, even a later one") {
  FakeClock clock;
  ConnectionDeadline deadline(clock);
  REQUIRE(deadline.expire_after(kRead).has_value());
  deadline.timer_cancelled();
  CHECK(deadline.expire_after(kIdle) == kIdle);
}

TEST_CASE("time is the injected clock's: a timer that fires before that clock moves re-arms") {
  FakeClock clock;
  ConnectionDeadline deadline(clock);
  REQUIRE(deadline.expire_after(kRead).has_value());
  for (int i = 0; i < 3; ++i) CHECK(deadline.timer_fired().rearm == kRead);
  clock.advance(kRead);
  CHECK(deadline.timer_fired().expired);
}

}  // namespace leasehold::status
