#include "election/handoff.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/ack_files.h"
#include "fakes.h"
#include "scratch_dir.h"

namespace leasehold::election {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using Action = Handoff::Action;
using Ended = Handoff::Ended;

constexpr bool kLeading = true;
constexpr bool kNotLeading = false;

using TempDir = testing::ScratchDir;

// A handoff with a 30 s timeout, on a fake clock.
struct HandoffOnFakeClock {
  FakeClock clock;
  Handoff handoff{clock, 30s};
};

// Moves the clock to 1 ns before `deadline_in`, where the handoff must still wait, then onto it,
// where it must end unacknowledged with `action` and no successor.
void expect_times_out_exactly(Handoff& handoff, FakeClock& clock, Duration deadline_in, Action action) {
  clock.advance(deadline_in - 1ns);
  CHECK(handoff.advance(kLeading).action == Action::kWait);
  clock.advance(1ns);
  const Handoff::Decision done = handoff.advance(kLeading);
  CHECK(done.action == action);
  CHECK(done.successor.empty());
  CHECK(done.ended == Ended::kTimedOut);
}

// A decision that ends the handoff: what to do with the Lease, and why it ended.
void expect_ends(const Handoff::Decision& decision, Action action, Ended ended) {
  CHECK(decision.action == action);
  CHECK(decision.ended == ended);
}

// The app acknowledges `after` into the handoff: until then the Lease is kept; the next turn
// ends the handoff, acknowledged, with `action`.
Handoff::Decision expect_acknowledged_after(Handoff& handoff, FakeClock& clock, Duration after, Action action) {
  clock.advance(after);
  CHECK(handoff.advance(kLeading).action == Action::kWait);
  CHECK(handoff.acknowledge());
  const Handoff::Decision done = handoff.advance(kLeading);
  CHECK(done.action == action);
  CHECK(done.ended == Ended::kAcknowledged);
  CHECK_FALSE(handoff.active());
  return done;
}

}  // namespace

TEST_CASE_FIXTURE(HandoffOnFakeClock,
                  "resign, then the app acknowledges by POST: resign at once, naming the successor") {
  const Handoff::Decision begun = handoff.resign(kLeading, "pod-b");
  CHECK(begun.action == Action::kStopClaiming);
  CHECK(begun.successor == "pod-b");
  CHECK(handoff.active());
  CHECK(handoff.reason() == Handoff::Reason::kResign);

  // The app is still finishing its work for 5 s: the Lease is kept meanwhile.
  CHECK(expect_acknowledged_after(handoff, clock, 5s, Action::kResign).successor == "pod-b");
  CHECK_FALSE(handoff.stopping());
}

TEST_CASE_FIXTURE(HandoffOnFakeClock, "no acknowledgement: the handoff ends exactly at the timeout") {
  REQUIRE(handoff.resign(kLeading, "").action == Action::kStopClaiming);
  expect_times_out_exactly(handoff, clock, 30s, Action::kResign);
}

TEST_CASE("a zero timeout releases on the first turn after stepping down") {
  FakeClock clock;
  Handoff handoff(clock, 0s);
  REQUIRE(handoff.shutdown(kLeading).action == Action::kStopClaiming);
  expect_ends(handoff.advance(kLeading), Action::kRelease, Ended::kTimedOut);
}

TEST_CASE_FIXTURE(HandoffOnFakeClock, "shutdown while leading: stop claiming, wait for the ack, then release") {
  CHECK(handoff.shutdown(kLeading).action == Action::kStopClaiming);
  CHECK(handoff.stopping());
  CHECK(handoff.reason() == Handoff::Reason::kShutdown);
  expect_acknowledged_after(handoff, clock, 1s, Action::kRelease);
}

TEST_CASE_FIXTURE(HandoffOnFakeClock, "shutdown while not leading releases at once, with no handoff") {
  const Handoff::Decision done = handoff.shutdown(kNotLeading);
  CHECK(done.action == Action::kRelease);
  CHECK_FALSE(done.ended.has_value());
  CHECK_FALSE(handoff.active());
}

TEST_CASE_FIXTURE(HandoffOnFakeClock, "a successor that appears (the Lease is no longer ours) ends the wait at once") {
  REQUIRE(handoff.resign(kLeading, "pod-b").action == Action::kStopClaiming);
  clock.advance(1s);
  CHECK(handoff.advance(kLeading).action == Action::kWait);
  expect_ends(handoff.advance(kNotLeading), Action::kResign, Ended::kLeaseLost);

  SUBCASE("and during a shutdown") {
    REQUIRE(handoff.shutdown(kLeading).action == Action::kStopClaiming);
    expect_ends(handoff.advance(kNotLeading), Action::kRelease, Ended::kLeaseLost);
  }
  SUBCASE("and when the stop is asked for after the Lease was lost") {
    REQUIRE(handoff.resign(kLeading, "").action == Action::kStopClaiming);
    expect_ends(handoff.shutdown(kNotLeading), Action::kRelease, Ended::kLeaseLost);
    CHECK_FALSE(handoff.active());
  }
}

TEST_CASE_FIXTURE(HandoffOnFakeClock,
                  "a stop during a resign turns it into the stop: same deadline, the ack still counts") {
  REQUIRE(handoff.resign(kLeading, "pod-b").action == Action::kStopClaiming);
  clock.advance(10s);

  SUBCASE("acknowledged before the stop") {
    CHECK(handoff.acknowledge());
    // Already not claiming: nothing to begin again.
    CHECK(handoff.shutdown(kLeading).action == Action::kWait);
    expect_ends(handoff.advance(kLeading), Action::kRelease, Ended::kAcknowledged);
  }
  SUBCASE("no acknowledgement: released at the resign's deadline, not a new one") {
    CHECK(handoff.shutdown(kLeading).action == Action::kWait);
    CHECK(handoff.reason() == Handoff::Reason::kShutdown);
    expect_times_out_exactly(handoff, clock, 20s, Action::kRelease);
  }
}

TEST_CASE_FIXTURE(HandoffOnFakeClock,
                  "resign is ignored while not leading, during a handoff, and once a stop was asked for") {
  CHECK(handoff.resign(kNotLeading, "pod-b").action == Action::kNone);
  CHECK_FALSE(handoff.active());

  REQUIRE(handoff.resign(kLeading, "pod-b").action == Action::kStopClaiming);
  CHECK(handoff.resign(kLeading, "pod-c").action == Action::kNone);
  CHECK(handoff.acknowledge());
  CHECK(handoff.advance(kLeading).successor == "pod-b");

  REQUIRE(handoff.shutdown(kLeading).action == Action::kStopClaiming);
  CHECK(handoff.resign(kLeading, "pod-c").action == Action::kNone);
  CHECK(handoff.reason() == Handoff::Reason::kShutdown);
}

TEST_CASE_FIXTURE(HandoffOnFakeClock, "an acknowledgement with no handoff under way is refused and not remembered") {
  CHECK_FALSE(handoff.acknowledge());
  REQUIRE(handoff.resign(kLeading, "").action == Action::kStopClaiming);
  // The early acknowledgement does not end the handoff that began after it.
  CHECK(handoff.advance(kLeading).action == Action::kWait);
  CHECK(handoff.advance(kLeading).action == Action::kWait);
}

TEST_CASE_FIXTURE(HandoffOnFakeClock, "after a resign a later term can resign again, with a fresh deadline") {
  REQUIRE(handoff.resign(kLeading, "").action == Action::kStopClaiming);
  clock.advance(30s);
  REQUIRE(handoff.advance(kLeading).action == Action::kResign);
  clock.advance(5min);
  REQUIRE(handoff.resign(kLeading, "").action == Action::kStopClaiming);
  clock.advance(29s);
  CHECK(handoff.advance(kLeading).action == Action::kWait);
  clock.advance(1s);
  CHECK(handoff.advance(kLeading).ended == Ended::kTimedOut);
}

TEST_CASE("the loop looks again for the ack file often, and never later than the deadline") {
  FakeClock clock;
  Handoff handoff(clock, 1s);
  REQUIRE(handoff.resign(kLeading, "").action == Action::kStopClaiming);
  CHECK(handoff.wake_at() == clock.steady_now() + Handoff::kAckPollInterval);
  clock.advance(1s - Handoff::kAckPollInterval / 2);
  CHECK(handoff.wake_at() == clock.steady_now() + Handoff::kAckPollInterval / 2);
}

TEST_CASE("ack via the file: a stale file is cleared when the handoff begins; a new one acknowledges") {
  FakeClock clock;
  TempDir dir;
  std::vector<std::string> stuck;
  agent::AckFiles files({dir.path + "/ack", dir.path + "/elections-b-ack"},
                        [&](const std::string& path, const std::string&) { stuck.push_back(path); });
  Handoff handoff(clock, 30s);
  dir.touch("ack");  // left over from an earlier handoff or run

  // As the election loop does: stop claiming, clear the files, then look for them each turn.
  REQUIRE(handoff.resign(kLeading, "").action == Action::kStopClaiming);
  files.clear();
  CHECK_FALSE(files.present());
  clock.advance(Handoff::kAckPollInterval);
  CHECK(handoff.advance(kLeading).action == Action::kWait);

  dir.touch("elections-b-ack");
  REQUIRE(files.present());
  CHECK(handoff.acknowledge());
  expect_ends(handoff.advance(kLeading), Action::kResign, Ended::kAcknowledged);
  files.clear();
  CHECK_FALSE(std::filesystem::exists(dir.path + "/elections-b-ack"));
  CHECK(stuck.empty());
}

}  // namespace leasehold::election
