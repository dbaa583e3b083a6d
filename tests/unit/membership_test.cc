// Membership (src/election/membership.h) on a fake clock: who is alive, judged from the member
// records' versions on the monotonic clock, never from the times written in them.
#include "election/membership.h"

#include <doctest/doctest.h>

#include "fakes.h"

namespace leasehold::election {

using namespace std::chrono_literals;
using Members = std::vector<std::string>;

TEST_CASE("membership: a record is alive for its duration after each new version seen") {
  testing::FakeClock clock;
  Membership m(clock);
  CHECK(m.live().empty());
  CHECK_FALSE(m.next_expiry().has_value());
  m.observe("jobs-m-a", {"pod-a", 30, "100"});
  m.observe("jobs-m-b", {"pod-b", 30, "101"});
  CHECK(m.live() == Members{"pod-a", "pod-b"});
  CHECK(m.next_expiry() == clock.steady_now() + 30s);
  clock.advance(20s);
  m.observe("jobs-m-a", {"pod-a", 30, "140"});  // renewed
  m.observe("jobs-m-b", {"pod-b", 30, "101"});  // the same version again: not a renewal
  clock.advance(10s);
  CHECK(m.live() == Members{"pod-a"});
  CHECK(m.next_expiry() == clock.steady_now() + 20s);
  clock.advance(20s);
  CHECK(m.live().empty());
  m.observe("jobs-m-b", {"pod-b", 30, "180"});  // back
  CHECK(m.live() == Members{"pod-b"});
}

TEST_CASE("membership: leaving on purpose counts at once; an empty identity is nobody") {
  testing::FakeClock clock;
  Membership m(clock);
  m.observe("jobs-m-a", {"pod-a", 30, "1"});
  m.observe("jobs-m-b", {"pod-b", 30, "2"});
  m.forget("jobs-m-a");
  CHECK(m.live() == Members{"pod-b"});
  m.observe("jobs-m-b", {"", 30, "3"});
  CHECK(m.live().empty());
  CHECK_FALSE(m.next_expiry().has_value());
}

TEST_CASE("membership: the wall clock plays no part") {
  testing::FakeClock clock;
  Membership m(clock);
  m.observe("jobs-m-a", {"pod-a", 10, "1"});
  clock.step_wall(-1h);
  clock.advance(9s);
  CHECK(m.live() == Members{"pod-a"});
  clock.step_wall(2h);
  CHECK(m.live() == Members{"pod-a"});
  clock.advance(1s);
  CHECK(m.live().empty());
}

TEST_CASE("membership: one identity under two records counts once") {
  testing::FakeClock clock;
  Membership m(clock);
  m.observe("jobs-m-a", {"pod-a", 10, "1"});
  m.observe("jobs-m-a2", {"pod-a", 10, "2"});
  CHECK(m.live() == Members{"pod-a"});
}

}  // namespace leasehold::election
