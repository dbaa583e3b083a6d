// Step-by-step tests of the election logic on a fake clock and an in-memory
// Lease store.
#include "election/elector.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <random>

#include "fakes.h"

namespace leasehold::testing {
namespace {

using namespace std::chrono_literals;
using election::ElectionTimings;
using election::Elector;

// Records when leadership ended and how many store calls had been made by then.
struct StopRecorder : election::ElectionObserver {
  explicit StopRecorder(const FakeClock& c) : clock(c) {}
  void on_stopped_leading(std::string_view) override {
    stops.push_back(clock.steady_now());
    renews_at_stop.push_back(renews);
  }
  void on_renew(bool, Duration) override { ++renews; }
  const FakeClock& clock;
  std::vector<SteadyTime> stops;
  std::vector<int> renews_at_stop;
  int renews = 0;
};

struct Agent {
  Agent(const std::string& id, FakeApiServer& server, FakeClock& clock, ElectionTimings t = {})
      : recorder(clock), store(server, clock), elector(id, t, clock, store, &recorder), clock_(clock) {}
  StopRecorder recorder;
  FakeLeaseStore store;
  Elector elector;
  FakeClock& clock_;
  bool claims() const {
    auto s = elector.state();
    return s.leading && clock_.steady_now() < s.valid_until;
  }
  // Renews 2 s on (default timings): still claiming, valid 13 s from the renewal's send time.
  void renews_in_time() {
    clock_.advance(std::chrono::seconds(2));
    const SteadyTime sent = clock_.steady_now();
    elector.step();
    CHECK(claims());
    CHECK(elector.state().valid_until == sent + std::chrono::seconds(13));
  }
};

// Runs every agent's due steps until `until`, advancing the clock to each next wake-up.
void run_until(FakeClock& clock, std::vector<Agent*> agents, SteadyTime until) {
  std::vector<SteadyTime> due(agents.size(), clock.steady_now());
  int rounds = 0;
  while (clock.steady_now() < until) {
    // An elector that keeps asking to run again without time moving is a bug.
    REQUIRE(++rounds < 100000);
    for (size_t i = 0; i < agents.size(); ++i) {
      if (due[i] <= clock.steady_now()) due[i] = agents[i]->elector.step();
    }
    SteadyTime next = *std::min_element(due.begin(), due.end());
    if (next > clock.steady_now()) clock.advance(std::min(next, until) - clock.steady_now());
  }
}

// Steps one elector on the fake clock until it leads (bounded).
void step_until_leading(election::Elector& e, FakeClock& clock) {
  for (int i = 0; i < 100 && !e.state().leading; ++i) {
    const SteadyTime next = e.step();
    if (!e.state().leading && next > clock.steady_now()) clock.advance(next - clock.steady_now());
  }
  REQUIRE(e.state().leading);
}

LeaseRecord held_by(const std::string& who, int seconds = 15) {
  LeaseRecord r;
  r.holder_identity = who;
  r.lease_duration_seconds = seconds;
  return r;
}

// A fresh API server holding a Lease that its holder "old" released itself; the
// agents watched it happen (watched()), so the first agent to step takes it.
struct ReleasedLease {
  ReleasedLease() {
    old_term = server.commit(held_by("old"));
    server.commit(released_by_holder(old_term));
  }
  // As the watch showed it to an agent running when "old" released the Lease.
  void watched(Agent& agent) const { agent.elector.observe(old_term); }
  FakeClock clock;
  FakeApiServer server;
  LeaseRecord old_term;
};

}  // namespace

TEST_CASE("an absent Lease is created only after one lease duration of seeing it absent") {
  FakeClock clock;
  FakeApiServer server;
  Agent a("a", server, clock);
  const SteadyTime start = clock.steady_now();
  run_until(clock, {&a}, start + 14s);
  CHECK_FALSE(a.claims());
  CHECK_FALSE(server.lease.has_value());
  run_until(clock, {&a}, start + 15s + 1ms);
  CHECK(a.claims());
  REQUIRE(server.lease.has_value());
  CHECK(server.lease->holder_identity == "a");
  CHECK(server.lease->lease_duration_seconds == 15);
  CHECK(server.lease->lease_transitions == 0);
  CHECK(a.elector.state().fencing_token == std::stoull(server.lease->resource_version));
}

TEST_CASE("a held Lease is taken over only after it stopped changing for the lease duration") {
  FakeClock clock;
  FakeApiServer server;
  server.commit(held_by("old"));
  Agent a("a", server, clock);
  const SteadyTime start = clock.steady_now();
  run_until(clock, {&a}, start + 14900ms);
  CHECK_FALSE(a.claims());
  CHECK(server.lease->holder_identity == "old");
  run_until(clock, {&a}, start + 15s + 1ms);
  CHECK(a.claims());
  CHECK(server.lease->holder_identity == "a");
  CHECK(server.lease->lease_transitions == 1);
}

TEST_CASE_FIXTURE(ReleasedLease, "a live Lease is never taken over while its holder renews") {
  Agent leader("leader", server, clock);
  watched(leader);
  Agent follower("follower", server, clock);
  watched(follower);
  leader.elector.step();
  REQUIRE(leader.claims());
  run_until(clock, {&leader, &follower}, clock.steady_now() + 120s);
  CHECK(leader.claims());
  CHECK_FALSE(follower.claims());
  CHECK(server.lease->holder_identity == "leader");
}

TEST_CASE_FIXTURE(ReleasedLease, "a Lease released by its holder is acquired at once, and the release is marked") {
  Agent a("a", server, clock);
  watched(a);
  Agent b("b", server, clock);
  a.elector.step();
  REQUIRE(a.claims());
  b.elector.step();
  a.elector.stop_claiming("shutdown");
  CHECK_FALSE(a.claims());
  CHECK(a.elector.release(clock.steady_now() + 5s));
  CHECK(server.lease->holder_identity.empty());
  CHECK(server.lease->lease_duration_seconds == 1);
  CHECK(server.lease->release_marker == election::release_marker("a", server.lease->lease_transitions));
  b.elector.observe(*server.lease);  // as the watch delivers it
  b.elector.step();
  CHECK(b.claims());
  CHECK(b.elector.state().fencing_token > 0);
  CHECK(server.lease->release_marker.empty());  // the next acquisition clears it
}

TEST_CASE_FIXTURE(ReleasedLease,
                  "the leader renews every retry period and its claim follows the last renew's send time") {
  Agent a("a", server, clock);
  watched(a);
  a.elector.step();
  const int writes_after_acquire = server.writes;
  const SteadyTime start = clock.steady_now();
  run_until(clock, {&a}, start + 10s + 1ms);
  CHECK(server.writes - writes_after_acquire == 5);
  CHECK(a.elector.state().valid_until == start + 10s + 15s - 2s);
}

TEST_CASE_FIXTURE(ReleasedLease, "failing renewals demote exactly at the renew deadline") {
  Agent a("a", server, clock);
  watched(a);
  a.elector.step();
  const SteadyTime acquired = clock.steady_now();
  a.store.fail_next.assign(100, StoreError::kServerError);
  run_until(clock, {&a}, acquired + 10s - 1ms);
  CHECK(a.claims());
  run_until(clock, {&a}, acquired + 10s);
  a.elector.step();
  CHECK_FALSE(a.elector.state().leading);
}

TEST_CASE_FIXTURE(ReleasedLease,
                  "a partitioned leader stops claiming at the renew deadline, before any follower can acquire") {
  Agent leader("leader", server, clock);
  watched(leader);
  Agent follower("follower", server, clock);
  watched(follower);
  leader.elector.step();
  follower.elector.step();
  const SteadyTime last_write = clock.steady_now();
  leader.store.partitioned = true;
  std::optional<SteadyTime> leader_stopped, follower_started;
  std::vector<SteadyTime> due{clock.steady_now(), clock.steady_now()};
  while (clock.steady_now() < last_write + 40s) {
    if (due[0] <= clock.steady_now()) due[0] = leader.elector.step();
    if (due[1] <= clock.steady_now()) due[1] = follower.elector.step();
    if (!leader_stopped && !leader.claims()) leader_stopped = clock.steady_now();
    if (!follower_started && follower.claims()) follower_started = clock.steady_now();
    CHECK_FALSE((leader.claims() && follower.claims()));
    SteadyTime next = std::min(due[0], due[1]);
    if (next > clock.steady_now()) clock.advance(next - clock.steady_now());
  }
  REQUIRE(leader_stopped);
  REQUIRE(follower_started);
  REQUIRE(leader.recorder.stops.size() >= 1);
  CHECK(leader.recorder.stops.front() == last_write + 10s);
  CHECK(*follower_started >= last_write + 15s);
  CHECK(*follower_started < *leader_stopped + 15s);
}

TEST_CASE_FIXTURE(ReleasedLease, "a slow but successful renew is judged from its send time") {
  ElectionTimings timings;
  timings.request_timeout = 9s;
  Agent a("a", server, clock, timings);
  watched(a);
  a.elector.step();
  clock.advance(2s);
  a.store.latency = 8s;
  const SteadyTime sent = clock.steady_now();
  a.elector.step();  // the renew lands at once, its answer takes 8 s
  CHECK(clock.steady_now() == sent + 8s);
  CHECK(a.elector.state().leading);
  CHECK(a.elector.state().valid_until == sent + 13s);
}

TEST_CASE_FIXTURE(ReleasedLease, "a renew whose answer is lost counts as failed even though the write landed") {
  Agent a("a", server, clock);
  watched(a);
  a.elector.step();
  const SteadyTime acquired = clock.steady_now();
  a.store.latency = 8s;  // longer than the 5 s request timeout
  run_until(clock, {&a}, acquired + 20s);
  REQUIRE(a.recorder.stops.size() >= 1);
  CHECK(a.recorder.stops.front() == acquired + 10s);
}

TEST_CASE_FIXTURE(ReleasedLease, "every renew carries a deadline no later than the renew deadline") {
  Agent a("a", server, clock);
  watched(a);
  a.elector.step();
  const SteadyTime acquired = clock.steady_now();
  a.store.partitioned = true;
  run_until(clock, {&a}, acquired + 30s);
  REQUIRE(a.recorder.stops.size() == 1);
  CHECK(a.recorder.stops.front() == acquired + 10s);
}

TEST_CASE_FIXTURE(ReleasedLease, "a foreign holder seen by the watch demotes the leader at once") {
  Agent a("a", server, clock);
  watched(a);
  a.elector.step();
  REQUIRE(a.claims());
  server.commit(held_by("intruder", 1));
  a.elector.observe(*server.lease);
  CHECK_FALSE(a.claims());
  CHECK(a.elector.state().leader == "intruder");
  // and does not take it back before the (longer) lease duration has passed
  const SteadyTime seen = clock.steady_now();
  run_until(clock, {&a}, seen + 14s);
  CHECK_FALSE(a.claims());
  run_until(clock, {&a}, seen + 15s + 1ms);
  CHECK(a.claims());
}

TEST_CASE_FIXTURE(ReleasedLease, "a foreign holder found on renew (409, re-read) demotes the leader") {
  Agent a("a", server, clock);
  watched(a);
  a.elector.step();
  server.commit(held_by("intruder"));
  clock.advance(2s);
  a.elector.step();
  CHECK_FALSE(a.elector.state().leading);
}

TEST_CASE_FIXTURE(ReleasedLease, "a conflict from another writer's annotation does not demote the leader") {
  Agent a("a", server, clock);
  watched(a);
  a.elector.step();
  for (int i = 0; i < 10; ++i) {
    LeaseRecord same = *server.lease;
    server.commit(same);  // a new resourceVersion, same content
    clock.advance(2s);
    a.elector.step();
    CHECK(a.claims());
  }
  CHECK(server.lease->holder_identity == "a");
}

TEST_CASE_FIXTURE(ReleasedLease, "a writer faster than the renew's re-read cannot starve the renewals") {
  Agent a("a", server, clock);
  watched(a);
  a.elector.step();
  a.store.interfering_writes = 8;  // every update of the next renew conflicts, eight times over
  clock.advance(2s);
  const SteadyTime sent = clock.steady_now();
  a.elector.step();
  CHECK(a.claims());
  CHECK(a.elector.state().valid_until == sent + 13s);
  CHECK(a.recorder.renews == 1);
}

TEST_CASE_FIXTURE(ReleasedLease, "a guarded renewal goes through other writers' changes in one request") {
  Agent a("a", server, clock);
  watched(a);
  a.elector.step();
  a.store.guarded_renew = true;
  a.store.interfering_writes = 3;
  for (int renewal = 0; renewal < 3; ++renewal) {
    CAPTURE(renewal);
    const int calls = a.store.calls;
    a.renews_in_time();
    CHECK(a.store.calls == calls + 1);  // no conflict, no re-read
  }
  CHECK(server.lease->holder_identity == "a");
}

TEST_CASE_FIXTURE(ReleasedLease, "a guarded renewal never overwrites another term; the leader steps down") {
  Agent a("a", server, clock);
  watched(a);
  a.elector.step();
  a.store.guarded_renew = true;
  // Someone else's term begins behind a's back (a's watch has not delivered it yet).
  LeaseRecord taken = *server.lease;
  taken.holder_identity = "intruder";
  taken.lease_transitions += 1;
  taken.acquire_time = clock.wall_now();
  taken.renew_time = clock.wall_now();
  server.commit(taken);
  clock.advance(2s);
  a.elector.step();
  CHECK_FALSE(a.claims());
  CHECK(a.store.patch_tests_failed == 1);  // the 422, then a conflicting update
  CHECK(server.lease->holder_identity == "intruder");
  CHECK(server.lease->renew_time == taken.renew_time);
}

TEST_CASE_FIXTURE(ReleasedLease,
                  "a patch whose tests fail on an unchanged Lease: the term goes on, renewed by updates") {
  Agent a("a", server, clock);
  watched(a);
  a.elector.step();
  REQUIRE(a.claims());
  const std::uint64_t token = a.elector.state().fencing_token;
  a.store.guarded_renew = true;
  a.store.patch_tests_fail = true;
  for (int renewal = 0; renewal < 3; ++renewal) {
    CAPTURE(renewal);
    a.renews_in_time();
  }
  CHECK(a.store.patch_tests_failed == 1);
  CHECK_FALSE(a.store.guarded_renew);
  CHECK(a.elector.state().fencing_token == token);
}

TEST_CASE_FIXTURE(ReleasedLease, "release retries transient errors, within its deadline") {
  Agent a("a", server, clock);
  watched(a);
  a.elector.step();
  a.elector.stop_claiming("shutdown");
  a.store.fail_next.assign(3, StoreError::kNetwork);
  CHECK(a.elector.release(clock.steady_now() + 5s));
  CHECK(server.lease->holder_identity.empty());
}

TEST_CASE_FIXTURE(ReleasedLease, "a deleted Lease demotes the leader at once; the token still increases") {
  Agent a("a", server, clock);
  watched(a);
  Agent b("b", server, clock);
  watched(b);
  a.elector.step();
  b.elector.step();
  const auto first_token = a.elector.state().fencing_token;
  server.remove();
  a.elector.observe_absent(server.revision);
  CHECK_FALSE(a.claims());
  b.elector.observe_absent(server.revision);
  // The old holder may re-create at once; the follower waits out the old term.
  a.elector.step();
  b.elector.step();
  CHECK(a.claims());
  CHECK_FALSE(b.claims());
  CHECK(a.elector.state().fencing_token > first_token);
}

TEST_CASE_FIXTURE(ReleasedLease, "a deletion seen on renew (404) demotes the leader") {
  Agent a("a", server, clock);
  watched(a);
  a.elector.step();
  const auto first_token = a.elector.state().fencing_token;
  server.remove();
  clock.advance(2s);
  a.elector.step();  // renew gets 404: demote, then re-create as the old holder may
  CHECK(a.elector.state().terms_led == 2);
  CHECK(a.elector.state().fencing_token > first_token);
  CHECK(server.lease->holder_identity == "a");
}

TEST_CASE("followers wait out a deleted Lease's last term before re-creating it") {
  FakeClock clock;
  FakeApiServer server;
  server.commit(held_by("gone"));
  Agent b("b", server, clock);
  b.elector.step();
  const SteadyTime seen = clock.steady_now();
  clock.advance(5s);
  server.remove();
  b.elector.observe_absent(server.revision);
  run_until(clock, {&b}, seen + 14s);
  CHECK_FALSE(server.lease.has_value());
  run_until(clock, {&b}, seen + 15s + 1ms);
  CHECK(b.claims());
}

TEST_CASE("the Lease's own leaseDurationSeconds is honoured when longer than ours") {
  FakeClock clock;
  FakeApiServer server;
  server.commit(held_by("slow", 40));
  Agent a("a", server, clock);
  const SteadyTime start = clock.steady_now();
  run_until(clock, {&a}, start + 39s);
  CHECK_FALSE(a.claims());
  run_until(clock, {&a}, start + 40s + 1ms);
  CHECK(a.claims());
}

TEST_CASE("a leaseDurationSeconds edited down cannot make a follower take over early") {
  FakeClock clock;
  FakeApiServer server;
  server.commit(held_by("holder", 1));
  Agent a("a", server, clock);
  const SteadyTime start = clock.steady_now();
  run_until(clock, {&a}, start + 14s);
  CHECK_FALSE(a.claims());
}

TEST_CASE("a restarted agent with the same identity does not resume the old term") {
  FakeClock clock;
  FakeApiServer server;
  server.commit(held_by("pod-0"));
  Agent restarted("pod-0", server, clock);
  const SteadyTime start = clock.steady_now();
  restarted.elector.step();
  CHECK_FALSE(restarted.claims());
  run_until(clock, {&restarted}, start + 14s);
  CHECK_FALSE(restarted.claims());
  run_until(clock, {&restarted}, start + 15s + 1ms);
  CHECK(restarted.claims());
  CHECK(server.lease->lease_transitions == 1);
}

TEST_CASE_FIXTURE(ReleasedLease,
                  "a claim whose answer was lost is taken up when the watch shows it, from its send time") {
  Agent a("a", server, clock);
  watched(a);
  Agent b("b", server, clock);
  watched(b);
  a.elector.observe(*server.lease);   // the release, as the watch shows it
  a.elector.set_watch_healthy(true);  // so no poll before the claim
  a.store.latency = 8s;               // longer than the 5 s request timeout: the write lands, its answer never comes
  const SteadyTime sent = clock.steady_now();
  a.elector.step();
  CHECK_FALSE(a.claims());
  REQUIRE(server.lease->holder_identity == "a");
  a.store.latency = 0s;
  // The watch delivers the write: it is this process's claim, so its term begins, counted from
  // the send time as an answered claim's would be.
  a.elector.observe(*server.lease);
  b.elector.observe(*server.lease);
  a.elector.step();
  CHECK(a.claims());
  CHECK(a.elector.state().valid_until == sent + 13s);
  CHECK(a.elector.state().fencing_token == std::stoull(server.lease->resource_version));
  CHECK(a.elector.state().terms_led == 1);
  run_until(clock, {&a, &b}, clock.steady_now() + 60s);
  CHECK(a.claims());
  CHECK_FALSE(b.claims());
  CHECK(server.lease->holder_identity == "a");
  a.elector.stop_claiming("shutdown");
  CHECK(a.elector.release(clock.steady_now() + 5s));
  CHECK(server.lease->holder_identity.empty());
}

TEST_CASE_FIXTURE(ReleasedLease,
                  "a lost claim seen after its renew deadline is not taken up, and is released at shutdown") {
  Agent a("a", server, clock);
  watched(a);
  a.elector.observe(*server.lease);
  a.elector.set_watch_healthy(true);
  a.store.latency = 8s;
  const SteadyTime sent = clock.steady_now();
  a.elector.step();
  REQUIRE(server.lease->holder_identity == "a");
  a.store.latency = 0s;
  clock.advance(sent + 10s - clock.steady_now());
  a.elector.observe(*server.lease);
  a.elector.step();
  CHECK_FALSE(a.claims());
  CHECK(a.recorder.stops.empty());
  // Stopped before the record stood still for a lease duration: it is released, marked as this
  // holder's, so that the others take it at once instead of waiting it out.
  a.elector.stop_claiming("shutdown");
  CHECK(a.elector.release(clock.steady_now() + 5s));
  CHECK(server.lease->holder_identity.empty());
  CHECK(server.lease->release_marker == election::release_marker("a", server.lease->lease_transitions));
}

TEST_CASE_FIXTURE(ReleasedLease, "a lost claim overwritten by another process with the same identity is not taken up") {
  Agent a("a", server, clock);
  watched(a);
  a.elector.observe(*server.lease);
  a.elector.set_watch_healthy(true);
  a.store.latency = 8s;
  a.elector.step();
  REQUIRE(server.lease->holder_identity == "a");
  a.store.latency = 0s;
  // Another process started with --identity=a writes its own term over it.
  LeaseRecord other = *server.lease;
  other.acquire_time = clock.wall_now() + 1s;
  other.lease_transitions += 1;
  server.commit(other);
  a.elector.observe(*server.lease);
  a.elector.step();
  CHECK_FALSE(a.claims());
  a.elector.stop_claiming("shutdown");
  CHECK(a.elector.release(clock.steady_now() + 5s));
  CHECK(server.lease->holder_identity == "a");  // never another process's term
  CHECK(server.lease->lease_transitions == other.lease_transitions);
}

TEST_CASE("fencing tokens strictly increase across terms, delete/re-create and identity reuse") {
  FakeClock clock;
  FakeApiServer server;
  std::uint64_t last = 0;
  for (int round = 0; round < 6; ++round) {
    Agent a(round % 2 ? "same" : "other", server, clock);
    if (round == 3) server.remove();
    run_until(clock, {&a}, clock.steady_now() + 31s);
    REQUIRE(a.claims());
    const auto token = a.elector.state().fencing_token;
    CHECK(token > last);
    last = token;
    a.elector.stop_claiming("done");
    if (round % 3 == 0) a.elector.release(clock.steady_now() + 1s);
  }
}

TEST_CASE_FIXTURE(ReleasedLease, "429 with Retry-After never holds leadership past the renew deadline") {
  Agent a("a", server, clock);
  watched(a);
  a.elector.step();
  const SteadyTime acquired = clock.steady_now();
  a.store.fail_next.assign(100, StoreError::kTooManyRequests);
  a.store.retry_after = 30s;
  run_until(clock, {&a}, acquired + 20s);
  REQUIRE(a.recorder.stops.size() == 1);
  CHECK(a.recorder.stops.front() == acquired + 10s);
  // Retry-After spaced the renew attempts out: one 429, then the deadline.
  CHECK(a.recorder.renews_at_stop.front() == 1);
}

TEST_CASE("a follower honours Retry-After, for at most one lease duration, then takes over") {
  FakeClock clock;
  FakeApiServer server;
  server.commit(held_by("old"));
  Agent b("b", server, clock);
  const SteadyTime start = clock.steady_now();
  b.elector.step();
  REQUIRE(b.store.calls == 1);
  b.store.fail_next.assign(100, StoreError::kTooManyRequests);
  b.store.retry_after = 30s;
  run_until(clock, {&b}, start + 40s);
  // Polls every retry period would make 20 calls; Retry-After (capped at the
  // lease duration, 15 s) leaves the ones at +2 s, +17 s and +32 s.
  CHECK(b.store.calls == 4);
  CHECK_FALSE(b.claims());
  b.store.fail_next.clear();
  run_until(clock, {&b}, start + 46900ms);
  CHECK(b.store.calls == 4);
  CHECK_FALSE(b.claims());
  // At +47 s the server answers: the record has not changed since +0 s, so b claims at once.
  run_until(clock, {&b}, start + 47s + 1ms);
  CHECK(b.claims());
  CHECK(server.lease->holder_identity == "b");
}

TEST_CASE_FIXTURE(ReleasedLease, "a wall-clock step changes nothing") {
  Agent a("a", server, clock);
  watched(a);
  Agent b("b", server, clock);
  watched(b);
  a.elector.step();
  b.elector.step();
  clock.step_wall(1h);
  run_until(clock, {&a, &b}, clock.steady_now() + 60s);
  clock.step_wall(-2h);
  run_until(clock, {&a, &b}, clock.steady_now() + 60s);
  CHECK(a.claims());
  CHECK_FALSE(b.claims());
}

TEST_CASE_FIXTURE(ReleasedLease, "stop_claiming ends the claim at once and nothing is acquired afterwards") {
  Agent a("a", server, clock);
  watched(a);
  a.elector.stop_claiming("shutdown");
  run_until(clock, {&a}, clock.steady_now() + 60s);
  CHECK_FALSE(a.claims());
  CHECK(server.lease->holder_identity.empty());
}

TEST_CASE_FIXTURE(ReleasedLease, "resign hands over to the named successor; others and the resigner stand back") {
  Agent a("a", server, clock);
  watched(a);
  Agent b("b", server, clock);
  watched(b);
  Agent c("c", server, clock);
  watched(c);
  a.elector.step();
  b.elector.step();
  c.elector.step();
  REQUIRE(a.claims());
  const auto token = a.elector.state().fencing_token;
  CHECK(a.elector.resign(clock.steady_now() + 5s, "c"));
  CHECK_FALSE(a.claims());
  CHECK(server.lease->holder_identity.empty());
  CHECK(server.lease->preferred_holder == "c");
  for (Agent* agent : {&a, &b, &c}) agent->elector.observe(*server.lease);
  a.elector.step();
  b.elector.step();
  CHECK_FALSE(a.claims());
  CHECK_FALSE(b.claims());
  c.elector.step();
  CHECK(c.claims());
  CHECK(c.elector.state().fencing_token > token);
  CHECK(server.lease->preferred_holder.empty());
}

TEST_CASE_FIXTURE(ReleasedLease, "a successor named while it stands back from its own resign takes the Lease at once") {
  Agent a("a", server, clock);
  watched(a);
  Agent b("b", server, clock);
  watched(b);
  a.elector.step();
  b.elector.step();
  REQUIRE(a.claims());
  CHECK(a.elector.resign(clock.steady_now() + 5s, ""));  // a stands back for a lease duration
  b.elector.observe(*server.lease);
  b.elector.step();
  REQUIRE(b.claims());
  a.elector.observe(*server.lease);  // a's watch sees b's term
  clock.advance(1s);
  CHECK(b.elector.resign(clock.steady_now() + 5s, "a"));  // and b hands it back to a
  for (Agent* agent : {&a, &b}) agent->elector.observe(*server.lease);
  b.elector.step();
  CHECK_FALSE(b.claims());
  a.elector.step();
  CHECK(a.claims());
  CHECK(server.lease->preferred_holder.empty());
}

TEST_CASE_FIXTURE(ReleasedLease, "a successor that never comes is waited for one lease duration only") {
  Agent a("a", server, clock);
  watched(a);
  Agent b("b", server, clock);
  watched(b);
  a.elector.step();
  b.elector.step();
  a.elector.resign(clock.steady_now() + 5s, "gone");
  b.elector.observe(*server.lease);
  const SteadyTime released = clock.steady_now();
  run_until(clock, {&a, &b}, released + 14s);
  CHECK_FALSE(b.claims());
  CHECK_FALSE(a.claims());
  run_until(clock, {&a, &b}, released + 15s + 1ms);
  CHECK((a.claims() || b.claims()));
}

TEST_CASE_FIXTURE(ReleasedLease, "resign without a successor lets any other candidate take over at once") {
  Agent a("a", server, clock);
  watched(a);
  Agent b("b", server, clock);
  watched(b);
  a.elector.step();
  b.elector.step();
  CHECK(a.elector.resign(clock.steady_now() + 5s, ""));
  b.elector.observe(*server.lease);
  a.elector.step();
  CHECK_FALSE(a.claims());  // the resigner stands back
  b.elector.step();
  CHECK(b.claims());
  CHECK(b.elector.resign(clock.steady_now() + 5s, "x"));
  Agent c("c", server, clock);
  watched(c);
  CHECK_FALSE(c.elector.resign(clock.steady_now() + 5s, ""));  // not leading
}

// --- Releases the holder did not write, resign requests, foreign terms, unreadable Leases ---

// Someone other than the holder empties it (kubectl patch, a controller, a
// client-go elector's ReleaseOnCancel): the holder may still be claiming.
LeaseRecord emptied_by_someone_else(const LeaseRecord& held) {
  LeaseRecord r = held;
  r.holder_identity.clear();
  r.lease_duration_seconds = 1;
  return r;
}

// Agent a leads (it took the marked release), agent b follows.
struct LeaderAndFollower : ReleasedLease {
  LeaderAndFollower() {
    watched(a);
    a.elector.step();
    REQUIRE(a.claims());
    b.elector.step();
  }
  Agent a{"a", server, clock};
  Agent b{"b", server, clock};
};

TEST_CASE_FIXTURE(ReleasedLease, "a holder emptied by someone else is waited out for a full lease duration") {
  Agent a("a", server, clock);
  watched(a);
  Agent b("b", server, clock);
  watched(b);
  a.elector.step();
  REQUIRE(a.claims());
  b.elector.step();
  // The leader is paused (it sees nothing) while an operator empties the holder.
  server.commit(emptied_by_someone_else(*server.lease));
  const SteadyTime emptied = clock.steady_now();
  b.elector.observe(*server.lease);  // the watch shows it at once
  for (SteadyTime t = emptied; t < emptied + 15s; t += 100ms) {
    if (clock.steady_now() < t) clock.advance(t - clock.steady_now());
    b.elector.step();
    CHECK_FALSE(b.claims());
    CHECK_FALSE((a.claims() && b.claims()));
  }
  CHECK_FALSE(a.claims());  // its claim ran out by itself, before b may take over
  clock.advance(emptied + 15s + 1ms - clock.steady_now());
  b.elector.step();
  CHECK(b.claims());
}

TEST_CASE_FIXTURE(LeaderAndFollower, "a release marker of another term does not make a release takeable at once") {
  // The record still carries an old term's marker (left by a holder that does
  // not know it), and someone empties the holder.
  LeaseRecord forged = emptied_by_someone_else(*server.lease);
  forged.release_marker = election::release_marker("old", server.lease->lease_transitions - 1);
  server.commit(forged);
  b.elector.observe(*server.lease);
  b.elector.step();
  CHECK_FALSE(b.claims());
  // A marker naming the right holder but another term fails too.
  forged.release_marker = election::release_marker("a", server.lease->lease_transitions + 1);
  server.commit(forged);
  b.elector.observe(*server.lease);
  b.elector.step();
  CHECK_FALSE(b.claims());
}

TEST_CASE_FIXTURE(ReleasedLease, "an agent that did not see the released term waits a full lease duration") {
  // A marked release, but this agent never saw the term it ended (it just started).
  Agent late("late", server, clock);
  const SteadyTime start = clock.steady_now();
  late.elector.step();
  CHECK_FALSE(late.claims());
  run_until(clock, {&late}, start + 15s - 1ms);
  CHECK_FALSE(late.claims());
  run_until(clock, {&late}, start + 15s + 1ms);
  CHECK(late.claims());
}

TEST_CASE_FIXTURE(ReleasedLease, "another writer's change after a marked release keeps it takeable at once") {
  Agent b("b", server, clock);
  watched(b);
  b.elector.observe(*server.lease);  // the marked release
  LeaseRecord annotated = *server.lease;
  server.commit(annotated);  // e.g. a label added: a new revision, same fields
  b.elector.observe(*server.lease);
  b.elector.step();
  CHECK(b.claims());
}

TEST_CASE_FIXTURE(ReleasedLease, "trusting unmarked releases (opt-in) takes any release at once") {
  Agent a("a", server, clock);
  watched(a);
  Agent b("b", server, clock);
  b.elector.trust_unmarked_releases(true);
  a.elector.step();
  REQUIRE(a.claims());
  b.elector.step();
  a.elector.stop_claiming("a client-go candidate stops, then releases");
  server.commit(emptied_by_someone_else(*server.lease));
  b.elector.observe(*server.lease);
  b.elector.step();
  CHECK(b.claims());
}

TEST_CASE_FIXTURE(LeaderAndFollower, "a deleted Lease whose holder someone else emptied is not re-created at once") {
  server.commit(emptied_by_someone_else(*server.lease));
  b.elector.observe(*server.lease);
  const SteadyTime emptied = clock.steady_now();
  clock.advance(1s);
  server.remove();
  b.elector.observe_absent(server.revision);
  b.elector.step();
  CHECK_FALSE(b.claims());
  CHECK_FALSE(server.lease.has_value());
  run_until(clock, {&b}, emptied + 15s - 1ms);
  CHECK_FALSE(server.lease.has_value());
}

TEST_CASE_FIXTURE(LeaderAndFollower,
                  "an operator's resign request is reported to the leader and cleared by its release") {
  CHECK_FALSE(a.elector.state().resign_requested);
  LeaseRecord asked = *server.lease;
  asked.resign_requested = true;
  server.commit(asked);
  a.elector.observe(*server.lease);
  b.elector.observe(*server.lease);
  CHECK(a.elector.state().resign_requested);
  CHECK(a.claims());                                // resigning is the runner's decision (it hands off first)
  CHECK_FALSE(b.elector.state().resign_requested);  // followers ignore it
  CHECK(a.elector.resign(clock.steady_now() + 5s, ""));
  CHECK_FALSE(server.lease->resign_requested);
  CHECK(server.lease->holder_identity.empty());
  b.elector.observe(*server.lease);
  b.elector.step();
  CHECK(b.claims());
  CHECK_FALSE(b.elector.state().resign_requested);
}

TEST_CASE_FIXTURE(ReleasedLease, "a new term under our identity by another process demotes this one at once") {
  Agent a("a", server, clock);
  watched(a);
  a.store.guarded_renew = true;
  a.elector.step();
  REQUIRE(a.claims());
  // Another process started with the same --identity takes over after a
  // partition: same holder name, a new term.
  LeaseRecord other = *server.lease;
  other.acquire_time = clock.wall_now() + 1s;
  other.renew_time = other.acquire_time;
  other.lease_transitions += 1;
  server.commit(other);
  const int writes = server.writes;
  SUBCASE("seen by the watch") { a.elector.observe(*server.lease); }
  SUBCASE("found by the next renewal") {
    clock.advance(2s);
    a.elector.step();
  }
  CHECK_FALSE(a.claims());
  CHECK(server.writes == writes);  // its term was not renewed
  CHECK(server.lease->acquire_time == other.acquire_time);
  // And the other process's term is not released by this one.
  a.elector.stop_claiming("shutdown");
  CHECK(a.elector.release(clock.steady_now() + 5s));
  CHECK(server.lease->holder_identity == "a");
}

TEST_CASE_FIXTURE(LeaderAndFollower, "an unreadable Lease demotes the leader at once; followers wait a full term") {
  LeaseRecord garbled = *server.lease;
  garbled.unreadable = true;
  garbled.holder_identity.clear();
  server.commit(garbled);
  a.elector.observe(*server.lease);
  b.elector.observe(*server.lease);
  const SteadyTime seen = clock.steady_now();
  CHECK_FALSE(a.claims());
  b.elector.step();
  CHECK_FALSE(b.claims());
  run_until(clock, {&a, &b}, seen + 15s - 1ms);
  CHECK_FALSE(a.claims());
  CHECK_FALSE(b.claims());
  run_until(clock, {&a, &b}, seen + 17s);
  CHECK((a.claims() || b.claims()));  // then a compare-and-swap writes a readable record
  CHECK_FALSE(server.lease->unreadable);
}

TEST_CASE("the largest values the API server accepts are waited out, not overflowed") {
  FakeClock clock;
  FakeApiServer server;
  LeaseRecord huge = held_by("old", std::numeric_limits<std::int32_t>::max());
  huge.lease_transitions = std::numeric_limits<std::int32_t>::max();
  server.commit(huge);
  Agent a("a", server, clock);
  const SteadyTime start = clock.steady_now();
  run_until(clock, {&a}, start + std::chrono::minutes(10));
  CHECK_FALSE(a.claims());
  CHECK(a.elector.step() > clock.steady_now());  // no overflow into the past
  CHECK(server.lease->holder_identity == "old");
  // Released by its holder, as a watching agent sees it: taken at once, and
  // leaseTransitions wraps instead of overflowing.
  a.elector.observe(*server.lease);
  server.commit(released_by_holder(*server.lease));
  a.elector.observe(*server.lease);
  a.elector.step();
  CHECK(a.claims());
  CHECK(server.lease->lease_transitions == 0);
}

TEST_CASE("randomised faults: never two agents claiming at once") {
  // Seeded, so a failure reproduces. Faults: errors, partitions, slow answers,
  // lost answers, pauses of one agent, releases, deletions, hand edits, renewals by patch or by
  // update, patches the server misreads.
  int patched = 0;
  int patch_tests_failed = 0;
  int patching_turned_off = 0;
  for (unsigned seed = 1; seed <= 40; ++seed) {
    CAPTURE(seed);
    std::mt19937 rng(seed);
    FakeClock clock;
    FakeApiServer server;
    std::vector<std::unique_ptr<Agent>> agents;
    for (int i = 0; i < 3; ++i) {
      agents.push_back(std::make_unique<Agent>("agent-" + std::to_string(i), server, clock));
      agents.back()->store.guarded_renew = true;  // as LeaseClient renews
    }
    std::vector<SteadyTime> due(agents.size(), clock.steady_now());
    std::vector<SteadyTime> paused_until(agents.size(), clock.steady_now());
    int leader_time = 0;
    for (int tick = 0; tick < 3000; ++tick) {
      const size_t i = rng() % agents.size();
      Agent& agent = *agents[i];
      switch (rng() % 40) {
        case 0: agent.store.partitioned = !agent.store.partitioned; break;
        case 1: agent.store.fail_next.push_back(StoreError::kServerError); break;
        case 2: agent.store.latency = std::chrono::milliseconds(rng() % 9000); break;
        case 3: agent.store.latency = Duration::zero(); break;
        case 4: paused_until[i] = clock.steady_now() + std::chrono::milliseconds(rng() % 30000); break;
        case 5:
          if (rng() % 4 == 0) {
            server.remove();
            for (auto& other : agents) other->elector.observe_absent(server.revision);
          }
          break;
        case 6:
          if (server.lease) {
            LeaseRecord edited = *server.lease;
            edited.lease_duration_seconds = 1;
            server.commit(edited);
          }
          break;
        case 7:
          // Someone other than the holder empties it; running agents' watches show it at once.
          if (server.lease && !server.lease->holder_identity.empty()) {
            server.commit(emptied_by_someone_else(*server.lease));
            for (size_t j = 0; j < agents.size(); ++j) {
              if (paused_until[j] <= clock.steady_now()) agents[j]->elector.observe(*server.lease);
            }
          }
          break;
        // Patching off (a Role without the verb) or on again (the agent restarted).
        case 8: agent.store.guarded_renew = !agent.store.guarded_renew; break;
        case 9: agent.store.patch_tests_fail = !agent.store.patch_tests_fail; break;
        default: break;
      }
      for (size_t j = 0; j < agents.size(); ++j) {
        if (paused_until[j] <= clock.steady_now() && due[j] <= clock.steady_now()) due[j] = agents[j]->elector.step();
      }
      int claiming = 0;
      for (auto& other : agents) claiming += other->claims() ? 1 : 0;
      REQUIRE(claiming <= 1);
      leader_time += claiming;
      clock.advance(std::chrono::milliseconds(100 + rng() % 900));
    }
    CHECK(leader_time > 0);
    for (auto& agent : agents) {
      patched += agent->store.renewed_by_patch;
      patch_tests_failed += agent->store.patch_tests_failed;
      patching_turned_off += agent->store.patching_turned_off;
    }
  }
  // Both ways of renewing were taken, and a 422 turned patching off.
  CHECK(patched > 0);
  CHECK(patching_turned_off > 0);
  MESSAGE("renewals by patch: ", patched, ", patches answered 422: ", patch_tests_failed,
          ", of them on an unchanged Lease: ", patching_turned_off);
}

TEST_CASE("an ineligible follower observes but never takes or creates the Lease") {
  FakeClock clock;
  FakeApiServer server;
  FakeLeaseStore store_a(server, clock), store_b(server, clock);
  election::ElectionTimings t;
  election::Elector a("a", t, clock, store_a);
  election::Elector b("b", t, clock, store_b);
  b.set_eligible(false);
  // The Lease is absent: b must not create it, however long it waits.
  for (int i = 0; i < 40; ++i) {
    const SteadyTime next = b.step();
    CHECK(next > clock.steady_now());  // no busy loop while it may not claim
    clock.advance(next - clock.steady_now());
  }
  CHECK_FALSE(server.lease.has_value());
  CHECK(b.state().observed);
  step_until_leading(a, clock);
  CHECK(server.lease->holder_identity == "a");
  // a goes silent; b sees the Lease and its expiry, but stays out.
  const int writes = server.writes;
  for (int i = 0; i < 40; ++i) clock.advance(b.step() - clock.steady_now());
  CHECK(b.state().leader == "a");
  CHECK(server.writes == writes);
  // Eligible again: it takes over the expired Lease.
  b.set_eligible(true);
  b.step();
  CHECK(b.state().leading);
  CHECK(server.lease->holder_identity == "b");
}

TEST_CASE("a leader that resigns while ineligible stays out after the stand-back until eligible again") {
  FakeClock clock;
  FakeApiServer server;
  FakeLeaseStore store_a(server, clock);
  election::ElectionTimings t;
  election::Elector a("a", t, clock, store_a);
  step_until_leading(a, clock);
  a.set_eligible(false);  // the leader's app failed: the runner makes it ineligible and resigns
  a.step();
  CHECK(a.state().leading);  // eligibility alone does not end a term
  REQUIRE(a.resign(clock.steady_now() + 5s, ""));
  CHECK_FALSE(a.state().leading);
  CHECK(server.lease->holder_identity.empty());
  // Nobody else around: a stays out past its stand-back while ineligible.
  for (int i = 0; i < 40; ++i) clock.advance(a.step() - clock.steady_now());
  CHECK(server.lease->holder_identity.empty());
  a.set_eligible(true);
  a.step();
  CHECK(a.state().leading);
}

}  // namespace leasehold::testing
