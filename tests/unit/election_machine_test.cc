// Step-by-step tests of ElectionMachine: every decision of one election (claims, handoffs, resigns,
// the app's health, the watch, stops, internal errors), driven by events and turns on a fake clock.
// Several machines on one FakeApiServer are several replicas; a fake watch delivers each change of
// the Lease to the replicas that watch it. The outlet records every call together with the number
// of store requests made by then, so the order of "stop claiming" and the I/O is checked exactly.
#include "election/election_machine.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "fakes.h"

// Lists of calls print as ["a", "b"] in failure messages.
template <>
struct doctest::StringMaker<std::vector<std::string>> {
  static doctest::String convert(const std::vector<std::string>& names) {
    std::string text = "[";
    for (size_t i = 0; i < names.size(); ++i) text += (i ? ", \"" : "\"") + names[i] + "\"";
    return doctest::String((text + "]").c_str());
  }
};

namespace leasehold::testing {
namespace {

using namespace std::chrono_literals;
using election::ElectionMachine;
using election::Handoff;
using election::MachineNote;
using election::MachineSettings;
namespace event = election::event;
using Names = std::vector<std::string>;

// The default timings (15 s / 10 s / 2 s, margin 2 s).
constexpr Duration kLeaseDuration = 15s;
constexpr Duration kRenewDeadline = 10s;
constexpr Duration kRetryPeriod = 2s;

// One call the machine made on its outlet or ack source, and the store requests made by then.
struct Call {
  std::string what;
  int store_calls = 0;
  std::optional<MachineNote> note;
};

const char* note_name(MachineNote::Kind kind) {
  switch (kind) {
    case MachineNote::Kind::kResignAsked: return "note:resign-asked";
    case MachineNote::Kind::kSteppingDown: return "note:stepping-down";
    case MachineNote::Kind::kHandoffEnded: return "note:handoff-ended";
    case MachineNote::Kind::kShardMoving: return "note:shard-moving";
  }
  return "note:?";
}

// Records what the machine told the world, in order.
class FakeOutlet final : public election::ElectionOutlet {
 public:
  explicit FakeOutlet(std::function<int()> store_calls) : store_calls_(std::move(store_calls)) {}

  void stop_claiming_now() override { add("stop_claiming_now"); }
  void resume_claiming() override { add("resume_claiming"); }
  void publish() override {
    add("publish");
    if (throw_on_publish) throw std::bad_alloc();
  }
  void heartbeat() override { add("heartbeat"); }
  void note(const MachineNote& n) override {
    add(note_name(n.kind));
    calls.back().note = n;
  }
  void abandon() noexcept override { add("abandon"); }
  void failed(std::string_view what) noexcept override {
    add("failed");
    failure = std::string(what);
  }

  void add(std::string what) { calls.push_back(Call{std::move(what), store_calls_(), std::nullopt}); }
  // The calls from index `from` on, without the routine ones of every turn (heartbeat, publish).
  Names since(size_t from) const {
    Names names;
    for (size_t i = from; i < calls.size(); ++i) {
      if (calls[i].what != "heartbeat" && calls[i].what != "publish") names.push_back(calls[i].what);
    }
    return names;
  }
  Names all_since(size_t from) const {
    Names names;
    for (size_t i = from; i < calls.size(); ++i) names.push_back(calls[i].what);
    return names;
  }
  // The first call named `what` from index `from` on; fails the test when there is none.
  const Call& first(const std::string& what, size_t from = 0) const {
    for (size_t i = from; i < calls.size(); ++i) {
      if (calls[i].what == what) return calls[i];
    }
    FAIL("the outlet was never told " << what);
    return calls.front();
  }
  int count(const std::string& what) const {
    return static_cast<int>(std::count_if(calls.begin(), calls.end(), [&](const Call& c) { return c.what == what; }));
  }
  size_t mark() const { return calls.size(); }

  std::vector<Call> calls;
  std::string failure;
  bool throw_on_publish = false;  // as a publisher out of memory would

 private:
  std::function<int()> store_calls_;
};

// The ack files: `file` is whether one exists; clear() removes them.
class FakeAckSource final : public election::AckSource {
 public:
  explicit FakeAckSource(FakeOutlet& log) : log_(log) {}
  bool present() const override { return file; }
  void clear() override {
    file = false;
    log_.add("acks.clear");
  }
  bool file = false;

 private:
  FakeOutlet& log_;
};

// A FakeLeaseStore that can be told to throw from one operation, as running out of memory or a
// bug would. `calls` counts every request, those that threw included.
class ThrowingStore final : public election::LeaseStore {
 public:
  ThrowingStore(FakeApiServer& server, FakeClock& clock) : inner(server, clock) {}

  StoreResult get(SteadyTime deadline) override {
    enter("get");
    return inner.get(deadline);
  }
  StoreResult create(const LeaseRecord& record, SteadyTime deadline) override {
    enter("create");
    return inner.create(record, deadline);
  }
  StoreResult update(const LeaseRecord& record, SteadyTime deadline) override {
    enter("update");
    return inner.update(record, deadline);
  }
  StoreResult renew(const LeaseRecord& expected, const LeaseRecord& record, SteadyTime deadline) override {
    enter("renew");
    return inner.renew(expected, record, deadline);
  }

  FakeLeaseStore inner;
  std::string throw_on;  // "get", "create", "update" or "renew"; the next `throws` such calls throw
  int throws = 0;
  bool bad_alloc = false;  // std::bad_alloc, else std::runtime_error
  int calls = 0;
  std::vector<std::string> ops;

 private:
  void enter(const std::string& op) {
    ++calls;
    ops.push_back(op);
    if (throws > 0 && op == throw_on) {
      --throws;
      if (bad_alloc) throw std::bad_alloc();
      throw std::runtime_error("injected failure in " + op);
    }
  }
};

MachineSettings settings_for(const std::string& identity, Duration handoff_timeout, bool eligible) {
  MachineSettings s;
  s.identity = identity;
  s.handoff_timeout = handoff_timeout;
  s.release_timeout = 5s;
  s.initially_eligible = eligible;
  return s;
}

// One replica: its machine, its connection to the API server, its outlet and ack files.
struct Replica {
  Replica(FakeApiServer& server, FakeClock& clock, MachineSettings settings)
      : store(server, clock),
        outlet([this] { return store.calls; }),
        acks(outlet),
        machine(std::move(settings), clock, store, nullptr, outlet, acks) {}
  bool leads() const { return machine.state().leading; }

  ThrowingStore store;
  FakeOutlet outlet;
  FakeAckSource acks;
  ElectionMachine machine;
  bool watching = true;                    // the fake watch delivers the Lease's changes
  std::optional<std::uint64_t> delivered;  // the server revision it last delivered
  SteadyTime due{};                        // turn() is due by then
};

LeaseRecord held_by(const std::string& who) {
  LeaseRecord r;
  r.holder_identity = who;
  r.lease_duration_seconds = 15;
  return r;
}

// Checks a release by `holder` of the term with `transitions`, naming `successor`.
void expect_released_by(const FakeApiServer& server, const std::string& holder, int transitions,
                        const std::string& successor = "") {
  REQUIRE(server.lease.has_value());
  CHECK(server.lease->holder_identity.empty());
  CHECK(server.lease->lease_duration_seconds == 1);
  CHECK(server.lease->lease_transitions == transitions);
  CHECK(server.lease->release_marker == election::release_marker(holder, transitions));
  CHECK(server.lease->preferred_holder == successor);
  CHECK_FALSE(server.lease->resign_requested);
}

// The replicas of one election on one fake API server.
struct Cluster {
  enum class Start { kReleased, kEmpty };
  explicit Cluster(Start start = Start::kReleased) {
    if (start == Start::kEmpty) return;
    // "old" held the Lease and released it itself: a replica that saw it may take it at once.
    old_term = server.commit(held_by("old"));
    server.commit(released_by_holder(old_term));
  }

  Replica& add(const std::string& id, Duration handoff_timeout = 0s, bool eligible = true) {
    replicas.push_back(std::make_unique<Replica>(server, clock, settings_for(id, handoff_timeout, eligible)));
    Replica& r = *replicas.back();
    r.due = now();
    return r;
  }
  // A replica that was running, with its watch up, when "old" released the Lease.
  Replica& join(const std::string& id, Duration handoff_timeout = 0s, bool eligible = true) {
    Replica& r = add(id, handoff_timeout, eligible);
    r.machine.apply(event::WatchState{true});
    r.machine.apply(event::LeaseObserved{old_term});
    r.delivered = std::stoull(old_term.resource_version);
    sync();
    return r;
  }

  // The watch: every watching replica is shown the Lease as it is now, if it changed.
  void sync() {
    for (auto& r : replicas) {
      if (!r->watching) continue;
      if (server.lease) {
        if (r->delivered == server.revision) continue;
        r->machine.apply(event::LeaseObserved{*server.lease});
      } else {
        if (!r->delivered || r->delivered == server.revision) continue;
        r->machine.apply(event::LeaseDeleted{server.revision});
      }
      r->delivered = server.revision;
    }
  }
  // As the runtime does after each batch of events; the watch then shows what the turn wrote.
  ElectionMachine::Turn turn(Replica& r) {
    const ElectionMachine::Turn t = r.machine.turn();
    r.due = t.wake_at;
    sync();
    return t;
  }
  // Turns every replica by the wake time it asked for, until `until` (without a turn at `until`).
  void run_until(SteadyTime until) {
    int rounds = 0;
    while (now() < until) {
      // A machine that keeps asking to run again without time moving is a bug.
      REQUIRE(++rounds < 1000000);
      for (auto& r : replicas) {
        if (!r->machine.ended() && r->due <= now()) turn(*r);
      }
      SteadyTime next = until;
      for (auto& r : replicas) {
        if (!r->machine.ended()) next = std::min(next, r->due);
      }
      advance_to(next);
    }
  }
  void advance_to(SteadyTime t) {
    if (t > now()) clock.advance(t - now());
  }
  SteadyTime now() const { return clock.steady_now(); }
  int transitions() const { return server.lease->lease_transitions; }

  FakeClock clock;
  FakeApiServer server;
  LeaseRecord old_term;
  std::vector<std::unique_ptr<Replica>> replicas;
};

// Replica "a" leads (it took old's release on its first turn); "b" follows, both watching.
struct LeaderAndFollower : Cluster {
  explicit LeaderAndFollower(Duration handoff_timeout = 30s)
      : a(join("a", handoff_timeout)), b(join("b", handoff_timeout)) {
    turn(a);
    REQUIRE(a.leads());
    turn(b);
    REQUIRE_FALSE(b.leads());
  }
  Replica& a;
  Replica& b;
};

struct LeaderAndFollowerNoWait : LeaderAndFollower {
  LeaderAndFollowerNoWait() : LeaderAndFollower(0s) {}
};

// A handoff began on `r` with the event just applied: the outlet was first told to stop claiming,
// before any store request (none was made since `calls_before`), then the ack files were cleared
// and the step-down noted. Returns the note.
MachineNote expect_stepped_down(const Replica& r, size_t from, int calls_before) {
  CHECK(r.store.calls == calls_before);
  CHECK(r.outlet.since(from) == Names{"stop_claiming_now", "acks.clear", "note:stepping-down"});
  REQUIRE(r.outlet.calls.size() > from);
  CHECK(r.outlet.calls[from].what == "stop_claiming_now");
  CHECK(r.outlet.calls[from].store_calls == calls_before);
  CHECK(r.machine.awaiting_ack());
  return *r.outlet.first("note:stepping-down", from).note;
}

}  // namespace

// --- Claims ---

TEST_CASE_FIXTURE(Cluster, "a Lease released by its holder is taken on the first turn; the renewal is the wake time") {
  Replica& a = join("a");
  const size_t from = a.outlet.mark();
  const ElectionMachine::Turn t = turn(a);
  CHECK(a.leads());
  CHECK(server.lease->holder_identity == "a");
  CHECK(server.lease->lease_transitions == old_term.lease_transitions + 1);
  CHECK(server.lease->release_marker.empty());
  CHECK(a.machine.state().fencing_token == std::stoull(server.lease->resource_version));
  CHECK(a.outlet.all_since(from) == Names{"heartbeat", "publish"});
  CHECK(t.wake_at == now() + kRetryPeriod);
  CHECK_FALSE(t.ended);
  CHECK_FALSE(a.machine.awaiting_ack());

  // The renewal at the wake time.
  const int writes = server.writes;
  advance_to(t.wake_at);
  turn(a);
  CHECK(server.writes == writes + 1);
  CHECK(server.lease->renew_time == clock.wall_now());
  CHECK(a.leads());
}

TEST_CASE("an absent Lease is created only after one lease duration of seeing it absent") {
  Cluster c(Cluster::Start::kEmpty);
  Replica& a = c.add("a");
  const SteadyTime start = c.now();
  c.run_until(start + kLeaseDuration - 1ns);
  c.turn(a);
  CHECK_FALSE(c.server.lease.has_value());
  CHECK_FALSE(a.leads());
  c.advance_to(start + kLeaseDuration);
  c.turn(a);
  REQUIRE(c.server.lease.has_value());
  CHECK(c.server.lease->holder_identity == "a");
  CHECK(c.server.lease->lease_transitions == 0);
  CHECK(a.leads());
}

TEST_CASE_FIXTURE(Cluster, "a follower takes a held Lease only after it stood still for one lease duration") {
  server.commit(held_by("gone"));  // its holder stopped renewing (a crashed pod)
  Replica& b = add("b");
  b.machine.apply(event::WatchState{true});
  sync();
  const SteadyTime seen = now();
  const ElectionMachine::Turn first = turn(b);
  CHECK(first.wake_at == seen + kRetryPeriod);  // a follower comes round every retry period (healthz)
  run_until(seen + kLeaseDuration - 1ns);
  turn(b);
  CHECK_FALSE(b.leads());
  CHECK(server.lease->holder_identity == "gone");
  CHECK(b.store.calls == 0);
  advance_to(seen + kLeaseDuration);
  turn(b);
  CHECK(b.leads());
  CHECK(server.lease->holder_identity == "b");
  CHECK(b.store.ops == std::vector<std::string>{"update"});
}

TEST_CASE_FIXTURE(LeaderAndFollower, "a leader that renews keeps the Lease; the follower never claims it") {
  const auto token = a.machine.state().fencing_token;
  const int writes = server.writes;
  run_until(now() + 60s);
  CHECK(a.leads());
  CHECK_FALSE(b.leads());
  CHECK(server.lease->holder_identity == "a");
  CHECK(a.machine.state().fencing_token == token);
  CHECK(server.writes - writes == 29);  // one renewal every retry period (+2 s .. +58 s)
  CHECK(b.store.calls == 0);
  CHECK(a.outlet.count("stop_claiming_now") == 0);
  CHECK(b.outlet.since(0).empty());
}

// --- The acknowledged handoff ---

TEST_CASE_FIXTURE(
    LeaderAndFollower,
    "resign with a handoff: stop claiming at once, keep and renew the Lease until the ack, then release") {
  const int calls = a.store.calls;
  const size_t from = a.outlet.mark();
  const LeaseRecord term = *server.lease;
  a.machine.apply(event::ResignRequested{""});
  const MachineNote stepping = expect_stepped_down(a, from, calls);
  CHECK(stepping.reason == Handoff::Reason::kResign);
  CHECK(stepping.successor.empty());
  CHECK(a.leads());  // the term is kept while the app finishes its work

  const SteadyTime begun = now();
  run_until(begun + 7s);
  CHECK(a.leads());
  CHECK_FALSE(b.leads());
  CHECK(server.lease->holder_identity == "a");
  CHECK(server.lease->lease_transitions == term.lease_transitions);
  CHECK(server.lease->renew_time > term.renew_time);  // renewed meanwhile
  CHECK(a.machine.awaiting_ack());
  CHECK(a.outlet.count("resume_claiming") == 0);

  a.machine.apply(event::Acknowledged{});
  CHECK(server.lease->holder_identity == "a");  // the turn acts on it
  const size_t at_ack = a.outlet.mark();
  const int calls_at_ack = a.store.calls;
  turn(a);
  expect_released_by(server, "a", term.lease_transitions);
  CHECK(a.outlet.since(at_ack) == Names{"note:handoff-ended", "acks.clear", "resume_claiming"});
  const MachineNote ended = *a.outlet.first("note:handoff-ended", at_ack).note;
  CHECK(ended.ended == Handoff::Ended::kAcknowledged);
  CHECK(ended.reason == Handoff::Reason::kResign);
  CHECK(a.outlet.first("note:handoff-ended", at_ack).store_calls == calls_at_ack);
  CHECK(a.outlet.first("resume_claiming", at_ack).store_calls > calls_at_ack);  // after the release
  CHECK_FALSE(a.leads());
  CHECK_FALSE(a.machine.awaiting_ack());
  CHECK_FALSE(a.machine.ended());

  // A watching follower takes the marked release at once.
  turn(b);
  CHECK(b.leads());
  CHECK(server.lease->holder_identity == "b");
}

TEST_CASE_FIXTURE(LeaderAndFollower, "the ack file acknowledges a handoff; a stale one is cleared when it begins") {
  a.acks.file = true;  // left over from an earlier handoff
  a.machine.apply(event::ResignRequested{""});
  CHECK_FALSE(a.acks.file);
  const SteadyTime begun = now();
  for (int i = 0; i < 10; ++i) {
    advance_to(begun + i * Handoff::kAckPollInterval);
    turn(a);
    CHECK(server.lease->holder_identity == "a");
    CHECK(a.machine.awaiting_ack());
  }
  a.acks.file = true;  // the app is done
  const size_t from = a.outlet.mark();
  advance_to(now() + Handoff::kAckPollInterval);
  turn(a);
  expect_released_by(server, "a", old_term.lease_transitions + 1);
  CHECK(a.outlet.first("note:handoff-ended", from).note->ended == Handoff::Ended::kAcknowledged);
  CHECK_FALSE(a.acks.file);  // cleared once the handoff ended
  CHECK_FALSE(a.machine.awaiting_ack());
  turn(b);
  CHECK(b.leads());
}

TEST_CASE_FIXTURE(Cluster, "an acknowledgement with no handoff under way does not end a later one") {
  Replica& a = join("a", 30s);
  turn(a);
  REQUIRE(a.leads());
  a.machine.apply(event::Acknowledged{});
  CHECK_FALSE(a.machine.awaiting_ack());
  a.machine.apply(event::ResignRequested{""});
  advance_to(now() + 1s);
  turn(a);
  CHECK(a.machine.awaiting_ack());
  CHECK(server.lease->holder_identity == "a");
}

TEST_CASE_FIXTURE(LeaderAndFollower,
                  "no acknowledgement: the Lease is released exactly when the handoff timeout passes") {
  a.machine.apply(event::ResignRequested{""});
  const SteadyTime deadline = now() + 30s;
  run_until(deadline - 1ns);
  const ElectionMachine::Turn last_wait = turn(a);
  CHECK(server.lease->holder_identity == "a");
  CHECK(a.leads());
  CHECK(a.machine.awaiting_ack());
  CHECK_FALSE(b.leads());
  CHECK(last_wait.wake_at == deadline);  // the deadline is nearer than the next ack poll

  const size_t from = a.outlet.mark();
  advance_to(deadline);
  turn(a);
  expect_released_by(server, "a", old_term.lease_transitions + 1);
  const MachineNote ended = *a.outlet.first("note:handoff-ended", from).note;
  CHECK(ended.ended == Handoff::Ended::kTimedOut);
  CHECK(a.outlet.since(from) == Names{"note:handoff-ended", "acks.clear", "resume_claiming"});
  turn(b);
  CHECK(b.leads());
}

TEST_CASE_FIXTURE(LeaderAndFollowerNoWait, "a handoff timeout of 0 releases on the next turn") {
  const int calls = a.store.calls;
  const size_t from = a.outlet.mark();
  a.machine.apply(event::ResignRequested{""});
  expect_stepped_down(a, from, calls);
  CHECK(server.lease->holder_identity == "a");  // nothing written before the turn
  turn(a);
  expect_released_by(server, "a", old_term.lease_transitions + 1);
  CHECK(a.outlet.first("note:handoff-ended", from).note->ended == Handoff::Ended::kTimedOut);
  CHECK_FALSE(a.machine.awaiting_ack());
}

// --- Resign ---

TEST_CASE_FIXTURE(LeaderAndFollowerNoWait,
                  "resign without a successor: release, another replica takes over at once, the resigner stays in") {
  const int term = transitions();
  a.machine.apply(event::ResignRequested{""});
  turn(a);
  const SteadyTime released = now();
  expect_released_by(server, "a", term);
  CHECK(a.outlet.count("resume_claiming") == 1);
  CHECK_FALSE(a.machine.ended());
  turn(b);
  CHECK(b.leads());
  CHECK(server.lease->lease_transitions == term + 1);

  // The resigner is a follower again: when b stops, it takes b's release at once.
  run_until(released + 20s);
  CHECK_FALSE(a.leads());
  CHECK(b.leads());
  b.machine.apply(event::ShutdownRequested{});
  turn(b);
  REQUIRE(b.machine.ended());
  expect_released_by(server, "b", term + 1);
  turn(a);
  CHECK(a.leads());
  CHECK(server.lease->holder_identity == "a");
}

TEST_CASE_FIXTURE(Cluster, "a resigner stands back exactly one lease duration, then takes its own release again") {
  Replica& a = join("a");
  turn(a);
  REQUIRE(a.leads());
  const auto token = a.machine.state().fencing_token;
  a.machine.apply(event::ResignRequested{""});
  const ElectionMachine::Turn t = turn(a);
  const SteadyTime released = now();
  expect_released_by(server, "a", old_term.lease_transitions + 1);
  CHECK(t.wake_at == released + kRetryPeriod);
  run_until(released + kLeaseDuration - 1ns);
  turn(a);
  CHECK_FALSE(a.leads());
  CHECK(server.lease->holder_identity.empty());
  advance_to(released + kLeaseDuration);
  turn(a);
  CHECK(a.leads());
  CHECK(a.machine.state().fencing_token > token);  // a new term
  CHECK(server.lease->lease_transitions == old_term.lease_transitions + 2);
}

TEST_CASE_FIXTURE(LeaderAndFollowerNoWait, "resign naming a successor: it takes over at once, the others wait") {
  Replica& c = join("c");
  turn(c);
  const size_t from = a.outlet.mark();
  a.machine.apply(event::ResignRequested{"c"});
  CHECK(a.outlet.first("note:stepping-down", from).note->successor == "c");
  turn(a);
  expect_released_by(server, "a", old_term.lease_transitions + 1, "c");
  turn(b);
  CHECK_FALSE(b.leads());
  CHECK(server.lease->holder_identity.empty());
  turn(c);
  CHECK(c.leads());
  CHECK(server.lease->holder_identity == "c");
  CHECK(server.lease->preferred_holder.empty());  // the successor removes it
  run_until(now() + 30s);
  CHECK(c.leads());
  CHECK_FALSE(a.leads());
  CHECK_FALSE(b.leads());
}

TEST_CASE_FIXTURE(LeaderAndFollowerNoWait, "a successor that never comes is waited for exactly one lease duration") {
  a.machine.apply(event::ResignRequested{"gone"});
  turn(a);
  const SteadyTime released = now();
  expect_released_by(server, "a", old_term.lease_transitions + 1, "gone");
  const ElectionMachine::Turn t = turn(b);
  CHECK_FALSE(b.leads());
  CHECK(t.wake_at == released + kRetryPeriod);
  run_until(released + kLeaseDuration - 1ns);
  turn(b);
  CHECK_FALSE(b.leads());
  CHECK(server.lease->holder_identity.empty());
  advance_to(released + kLeaseDuration);
  turn(b);
  CHECK(b.leads());
}

TEST_CASE_FIXTURE(LeaderAndFollower, "the Lease's resign annotation makes the leader resign through the handoff") {
  LeaseRecord asked = *server.lease;
  asked.resign_requested = true;
  server.commit(asked);  // kubectl annotate lease ... leasehold.io/resign=...
  sync();
  const size_t from = a.outlet.mark();
  const ElectionMachine::Turn t = turn(a);
  CHECK(a.outlet.since(from) == Names{"note:resign-asked", "stop_claiming_now", "acks.clear", "note:stepping-down"});
  // Nothing is sent to the API server after it stopped claiming.
  CHECK(a.outlet.first("stop_claiming_now", from).store_calls == a.store.calls);
  CHECK(a.outlet.first("note:stepping-down", from).note->reason == Handoff::Reason::kResign);
  CHECK(t.wake_at == now());  // the handoff is looked at again at once
  CHECK(a.machine.awaiting_ack());
  CHECK(server.lease->holder_identity == "a");
  CHECK(server.lease->resign_requested);

  // Still kept (and the annotation does not start a second handoff) until the app acknowledges.
  run_until(now() + 3s);
  CHECK(a.outlet.count("note:resign-asked") == 1);
  CHECK(a.outlet.count("stop_claiming_now") == 1);
  CHECK(server.lease->holder_identity == "a");
  a.machine.apply(event::Acknowledged{});
  turn(a);
  expect_released_by(server, "a", old_term.lease_transitions + 1);  // the release answers the request
  turn(b);
  CHECK(b.leads());
  CHECK_FALSE(b.machine.state().resign_requested);
}

TEST_CASE_FIXTURE(LeaderAndFollower, "a resign asked of a follower does nothing") {
  const int writes = server.writes;
  const int calls = b.store.calls;
  const size_t from = b.outlet.mark();
  b.machine.apply(event::ResignRequested{""});
  b.machine.apply(event::ResignRequested{"a"});
  b.machine.apply(event::AppHealthChanged{false, true});
  turn(b);
  CHECK(b.outlet.since(from).empty());
  CHECK_FALSE(b.machine.awaiting_ack());
  CHECK(b.store.calls == calls);
  CHECK(server.writes == writes);
  CHECK(server.lease->holder_identity == "a");
  CHECK(server.lease->preferred_holder.empty());
  // Not remembered: when b later leads, nothing makes it resign.
  a.machine.apply(event::ShutdownRequested{});
  a.machine.apply(event::Acknowledged{});
  turn(a);
  turn(b);
  REQUIRE(b.leads());
  run_until(now() + 30s);
  CHECK(b.leads());
  CHECK(b.outlet.count("stop_claiming_now") == 0);
}

// --- The app's health ---

TEST_CASE_FIXTURE(LeaderAndFollower, "an unhealthy leader resigns through the handoff and stays out until healthy") {
  const int calls = a.store.calls;
  const size_t from = a.outlet.mark();
  a.machine.apply(event::AppHealthChanged{false, false});
  CHECK(expect_stepped_down(a, from, calls).reason == Handoff::Reason::kResign);
  CHECK(server.lease->holder_identity == "a");
  a.machine.apply(event::Acknowledged{});
  turn(a);
  const SteadyTime released = now();
  expect_released_by(server, "a", old_term.lease_transitions + 1);
  turn(b);
  REQUIRE(b.leads());

  // b stops after a's stand-back: a free, marked release, which an ineligible replica leaves alone.
  run_until(released + 20s);
  b.machine.apply(event::ShutdownRequested{});
  b.machine.apply(event::Acknowledged{});
  turn(b);
  turn(b);
  REQUIRE(b.machine.ended());
  expect_released_by(server, "b", old_term.lease_transitions + 2);
  const int calls_while_out = a.store.calls;
  run_until(now() + 60s);
  CHECK_FALSE(a.leads());
  CHECK(server.lease->holder_identity.empty());
  CHECK(a.store.calls == calls_while_out);

  // Healthy again: it claims on its next turn.
  a.machine.apply(event::AppHealthChanged{true, true});
  turn(a);
  CHECK(a.leads());
  CHECK(server.lease->holder_identity == "a");
}

TEST_CASE_FIXTURE(LeaderAndFollowerNoWait, "an app healthy again within the stand-back claims only after it") {
  a.machine.apply(event::AppHealthChanged{false, false});
  turn(a);
  const SteadyTime released = now();
  expect_released_by(server, "a", old_term.lease_transitions + 1);
  turn(b);
  REQUIRE(b.leads());
  advance_to(released + 1s);
  b.machine.apply(event::ShutdownRequested{});
  turn(b);
  REQUIRE(b.machine.ended());
  advance_to(released + 5s);
  a.machine.apply(event::AppHealthChanged{true, true});
  turn(a);
  CHECK_FALSE(a.leads());
  run_until(released + kLeaseDuration - 1ns);
  turn(a);
  CHECK_FALSE(a.leads());
  advance_to(released + kLeaseDuration);
  turn(a);
  CHECK(a.leads());
}

TEST_CASE_FIXTURE(Cluster, "an ineligible follower never claims even a free Lease; once eligible it claims at once") {
  Replica& a = join("a", 0s, /*eligible=*/false);
  run_until(now() + 60s);
  CHECK_FALSE(a.leads());
  CHECK(server.lease->holder_identity.empty());
  CHECK(a.store.calls == 0);
  a.machine.apply(event::AppHealthChanged{false, false});  // still unhealthy: nothing to resign
  turn(a);
  CHECK(a.outlet.since(0).empty());
  a.machine.apply(event::AppHealthChanged{true, true});
  turn(a);
  CHECK(a.leads());
  CHECK(server.lease->holder_identity == "a");
}

// --- Shards (event::PlacementChanged) ---

// A member of a sharded election, watching, that saw "old" release the shard's Lease.
Replica& join_shard(Cluster& c, const std::string& id, Duration handoff_timeout = 0s) {
  MachineSettings s = settings_for(id, handoff_timeout, true);
  s.sharded = true;
  c.replicas.push_back(std::make_unique<Replica>(c.server, c.clock, std::move(s)));
  Replica& r = *c.replicas.back();
  r.due = c.now();
  r.machine.apply(event::WatchState{true});
  r.machine.apply(event::LeaseObserved{c.old_term});
  r.delivered = std::stoull(c.old_term.resource_version);
  c.sync();
  return r;
}

TEST_CASE_FIXTURE(Cluster, "a shard member claims nothing until the shard is placed on it, then takes it at once") {
  Replica& a = join_shard(*this, "a");
  run_until(now() + 60s);
  CHECK_FALSE(a.leads());
  CHECK(a.store.calls == 0);
  a.machine.apply(event::PlacementChanged{false, "b"});  // placed elsewhere
  run_until(now() + 60s);
  CHECK_FALSE(a.leads());
  a.machine.apply(event::PlacementChanged{true, "a"});
  turn(a);
  CHECK(a.leads());
  CHECK(server.lease->holder_identity == "a");
}

TEST_CASE_FIXTURE(Cluster,
                  "a shard leader placed elsewhere stops claiming first, then releases naming the owner, who takes "
                  "it at once") {
  Replica& a = join_shard(*this, "a");
  Replica& b = join_shard(*this, "b");
  a.machine.apply(event::PlacementChanged{true, "a"});
  b.machine.apply(event::PlacementChanged{false, "a"});
  turn(a);
  turn(b);
  REQUIRE(a.leads());
  const int transitions = server.lease->lease_transitions;

  // b joined: the shard is b's now.
  const int calls = a.store.calls;
  a.machine.apply(event::PlacementChanged{false, "b"});
  b.machine.apply(event::PlacementChanged{true, "b"});
  CHECK(a.store.calls == calls);  // applying the placement did no I/O
  const size_t from = a.outlet.mark();
  turn(a);
  const Names said = a.outlet.since(from);
  REQUIRE(said.size() >= 2);
  CHECK(said[0] == "note:shard-moving");
  CHECK(said[1] == "stop_claiming_now");
  CHECK(a.outlet.first("stop_claiming_now", from).store_calls == calls);  // before any request
  CHECK(a.outlet.first("note:shard-moving", from).note->successor == "b");
  turn(a);  // the handoff's next turn (no wait for an ack configured) releases
  expect_released_by(server, "a", transitions, "b");
  CHECK_FALSE(a.leads());
  turn(b);
  CHECK(b.leads());
  CHECK(server.lease->holder_identity == "b");
  run_until(now() + 60s);
  CHECK(b.leads());
  CHECK_FALSE(a.leads());
}

TEST_CASE_FIXTURE(Cluster, "a shard handed over and placed back is claimed again at once: no stand-back") {
  Replica& a = join_shard(*this, "a");
  Replica& b = join_shard(*this, "b");
  a.machine.apply(event::PlacementChanged{true, "a"});
  b.machine.apply(event::PlacementChanged{false, "a"});
  turn(a);
  REQUIRE(a.leads());
  a.machine.apply(event::PlacementChanged{false, "b"});
  b.machine.apply(event::PlacementChanged{true, "b"});
  turn(a);
  turn(a);
  turn(b);
  REQUIRE(b.leads());
  // b leaves at once: the shard is a's again, a moment after a handed it over.
  b.machine.apply(event::PlacementChanged{false, "a"});
  a.machine.apply(event::PlacementChanged{true, "a"});
  turn(b);
  turn(b);
  CHECK_FALSE(b.leads());
  turn(a);
  CHECK(a.leads());
  CHECK(server.lease->holder_identity == "a");
}

TEST_CASE_FIXTURE(Cluster, "a shard move waits for the app's acknowledgement like any handoff") {
  Replica& a = join_shard(*this, "a", 30s);
  a.machine.apply(event::PlacementChanged{true, "a"});
  turn(a);
  REQUIRE(a.leads());
  a.machine.apply(event::PlacementChanged{false, "b"});
  turn(a);
  CHECK(a.machine.awaiting_ack());
  CHECK(a.leads());  // the term is kept while the app finishes its work on the shard
  CHECK(server.lease->holder_identity == "a");
  a.acks.file = true;
  turn(a);
  expect_released_by(server, "a", server.lease->lease_transitions, "b");
}

TEST_CASE_FIXTURE(Cluster,
                  "a shard leader whose owner is unknown keeps the shard; one that took a vacancy hands it on") {
  Replica& a = join_shard(*this, "a");
  a.machine.apply(event::PlacementChanged{true, ""});  // a vacancy: no member record seen
  turn(a);
  REQUIRE(a.leads());
  a.machine.apply(event::PlacementChanged{false, ""});
  run_until(now() + 60s);
  CHECK(a.leads());
  CHECK(a.outlet.count("stop_claiming_now") == 0);
  a.machine.apply(event::PlacementChanged{false, "c"});
  turn(a);
  turn(a);
  CHECK_FALSE(a.leads());
  CHECK(server.lease->preferred_holder == "c");
}

TEST_CASE_FIXTURE(Cluster, "a shard placed here is not claimed while the app is unhealthy") {
  MachineSettings s = settings_for("a", 0s, /*eligible=*/false);
  s.sharded = true;
  replicas.push_back(std::make_unique<Replica>(server, clock, std::move(s)));
  Replica& a = *replicas.back();
  a.machine.apply(event::WatchState{true});
  a.machine.apply(event::LeaseObserved{old_term});
  a.machine.apply(event::PlacementChanged{true, "a"});
  run_until(now() + 60s);
  CHECK_FALSE(a.leads());
  a.machine.apply(event::AppHealthChanged{true, true});
  turn(a);
  CHECK(a.leads());
}

// --- The watch ---

TEST_CASE_FIXTURE(LeaderAndFollower, "a follower polls every retry period while the watch is down, and not otherwise") {
  run_until(now() + 10s);
  CHECK(b.store.calls == 0);

  b.watching = false;
  b.machine.apply(event::WatchState{false});
  const SteadyTime lost = now();
  const ElectionMachine::Turn t = turn(b);
  CHECK(b.store.ops == std::vector<std::string>{"get"});  // at once
  CHECK(t.wake_at == lost + kRetryPeriod);
  run_until(lost + 10s);
  CHECK(b.store.calls == 5);  // lost, +2, +4, +6, +8 s
  CHECK(b.store.ops == std::vector<std::string>(5, "get"));
  // The polls show a's renewals: b never mistakes the Lease for a still one.
  run_until(lost + 40s);
  CHECK_FALSE(b.leads());
  CHECK(a.leads());
  const int polls = b.store.calls;
  CHECK(polls == 20);

  b.watching = true;
  b.machine.apply(event::WatchState{true});
  sync();
  run_until(now() + 40s);
  CHECK(b.store.calls == polls);
  CHECK_FALSE(b.leads());
  CHECK(a.leads());
}

// --- The Lease lost during a handoff ---

TEST_CASE_FIXTURE(LeaderAndFollower,
                  "a Lease rewritten by another holder during a handoff ends it; nothing is released") {
  bool stop = false;
  SUBCASE("during a resign naming a successor") { a.machine.apply(event::ResignRequested{"b"}); }
  SUBCASE("during a stop") {
    stop = true;
    a.machine.apply(event::ShutdownRequested{});
  }
  run_until(now() + 3s);
  LeaseRecord taken = held_by("x");
  taken.lease_transitions = transitions() + 1;
  server.commit(taken);
  sync();
  CHECK_FALSE(a.leads());  // demoted by the watch, before any further request
  const int writes = server.writes;
  const size_t from = a.outlet.mark();
  turn(a);
  CHECK(a.outlet.first("note:handoff-ended", from).note->ended == Handoff::Ended::kLeaseLost);
  CHECK(server.writes == writes);
  CHECK(server.lease->holder_identity == "x");
  CHECK(server.lease->preferred_holder.empty());
  CHECK_FALSE(a.machine.awaiting_ack());
  CHECK(a.machine.ended() == stop);
  if (stop) CHECK(a.machine.released());  // nothing of ours was left to release
  CHECK(a.outlet.count("resume_claiming") == (stop ? 0 : 1));
  run_until(now() + 10s);
  CHECK_FALSE(a.leads());
  CHECK_FALSE(b.leads());
  CHECK(server.lease->holder_identity == "x");
  CHECK(server.writes == writes);
}

TEST_CASE_FIXTURE(LeaderAndFollower,
                  "a Lease deleted during a stop's handoff ends it: nothing is written, nothing led") {
  a.machine.apply(event::ShutdownRequested{});
  run_until(now() + 3s);
  server.remove();
  sync();
  CHECK_FALSE(a.leads());
  const int writes = server.writes;
  const int calls = a.store.calls;
  const size_t from = a.outlet.mark();
  const ElectionMachine::Turn t = turn(a);
  CHECK(t.ended);
  CHECK(a.machine.released());
  CHECK(a.outlet.first("note:handoff-ended", from).note->ended == Handoff::Ended::kLeaseLost);
  CHECK(a.outlet.first("note:handoff-ended", from).note->reason == Handoff::Reason::kShutdown);
  CHECK(a.store.calls == calls);
  CHECK(server.writes == writes);
  CHECK_FALSE(server.lease.has_value());
  CHECK(a.outlet.count("resume_claiming") == 0);
}

TEST_CASE_FIXTURE(LeaderAndFollower,
                  "a Lease deleted during a resign's handoff ends it; the last holder re-creates it") {
  a.machine.apply(event::ResignRequested{""});
  run_until(now() + 3s);
  const auto token = a.machine.state().fencing_token;
  server.remove();
  sync();
  CHECK_FALSE(a.leads());
  const int calls = a.store.calls;
  const size_t from = a.outlet.mark();
  turn(a);
  CHECK(a.outlet.since(from) == Names{"note:handoff-ended", "acks.clear", "resume_claiming"});
  CHECK(a.outlet.first("note:handoff-ended", from).note->ended == Handoff::Ended::kLeaseLost);
  // No release of the deleted term: the only request is the create of a new term, after it.
  CHECK(a.outlet.first("resume_claiming", from).store_calls == calls);
  CHECK(a.store.ops.back() == "create");
  CHECK(a.store.calls == calls + 1);
  // As the election runner's loop does (README: "a deleted Lease is re-created by its last holder").
  CHECK(a.leads());
  CHECK(server.lease->holder_identity == "a");
  CHECK(server.lease->lease_transitions == 0);
  CHECK(a.machine.state().fencing_token > token);
  CHECK_FALSE(b.leads());
}

// --- Stops ---

TEST_CASE_FIXTURE(LeaderAndFollower, "a stop while leading: stop claiming at once, hand off, release, end") {
  const int calls = a.store.calls;
  const size_t from = a.outlet.mark();
  a.machine.apply(event::ShutdownRequested{});
  CHECK(expect_stepped_down(a, from, calls).reason == Handoff::Reason::kShutdown);
  CHECK(a.machine.stopping());
  CHECK_FALSE(a.machine.ended());
  run_until(now() + 5s);
  CHECK(server.lease->holder_identity == "a");  // kept until the ack
  CHECK(a.leads());
  a.machine.apply(event::Acknowledged{});
  const size_t at_ack = a.outlet.mark();
  const ElectionMachine::Turn t = turn(a);
  CHECK(t.ended);
  CHECK(a.machine.ended());
  CHECK(a.machine.released());
  CHECK_FALSE(a.machine.failed());
  expect_released_by(server, "a", old_term.lease_transitions + 1);
  CHECK(a.outlet.since(at_ack) == Names{"note:handoff-ended", "acks.clear", "stop_claiming_now"});
  const MachineNote ended = *a.outlet.first("note:handoff-ended", at_ack).note;
  CHECK(ended.ended == Handoff::Ended::kAcknowledged);
  CHECK(ended.reason == Handoff::Reason::kShutdown);
  CHECK(a.outlet.count("resume_claiming") == 0);
  // Ended: nothing more happens.
  const size_t after = a.outlet.mark();
  const int calls_after = a.store.calls;
  a.machine.apply(event::ResignRequested{""});
  a.machine.apply(event::LeaseObserved{*server.lease});
  CHECK(turn(a).ended);
  CHECK(a.outlet.mark() == after);
  CHECK(a.store.calls == calls_after);
  turn(b);
  CHECK(b.leads());
}

TEST_CASE_FIXTURE(LeaderAndFollower, "a stop while not leading releases nothing and ends at once") {
  const int writes = server.writes;
  const int calls = b.store.calls;
  const size_t from = b.outlet.mark();
  b.machine.apply(event::ShutdownRequested{});
  CHECK(b.machine.ended());
  CHECK(b.machine.released());
  CHECK_FALSE(b.machine.failed());
  CHECK_FALSE(b.machine.awaiting_ack());
  CHECK(b.outlet.since(from) == Names{"stop_claiming_now"});
  CHECK(b.store.calls == calls);
  CHECK(server.writes == writes);
  CHECK(server.lease->holder_identity == "a");
  CHECK(turn(b).ended);
  CHECK(b.outlet.since(from) == Names{"stop_claiming_now"});
  // It takes no part any more: a's release is not taken by it.
  a.machine.apply(event::ShutdownRequested{});
  a.machine.apply(event::Acknowledged{});
  turn(a);
  turn(a);
  REQUIRE(a.machine.ended());
  CHECK(turn(b).ended);
  CHECK(server.lease->holder_identity.empty());
  CHECK(b.store.calls == calls);
}

TEST_CASE_FIXTURE(LeaderAndFollower, "a stop during a resign's handoff becomes the stop, with the same deadline") {
  a.machine.apply(event::ResignRequested{"b"});
  const SteadyTime deadline = now() + 30s;
  run_until(now() + 10s);
  const size_t from = a.outlet.mark();
  const int calls = a.store.calls;
  a.machine.apply(event::ShutdownRequested{});
  CHECK(a.outlet.mark() == from);  // already not claiming: nothing to tell
  CHECK(a.store.calls == calls);
  CHECK(a.machine.stopping());
  CHECK(a.machine.awaiting_ack());
  // A resign after the stop began is the stop's to handle: ignored.
  a.machine.apply(event::ResignRequested{"c"});
  a.machine.apply(event::AppHealthChanged{false, false});
  CHECK(a.outlet.mark() == from);
  run_until(deadline - 1ns);
  turn(a);
  CHECK(server.lease->holder_identity == "a");
  CHECK_FALSE(a.machine.ended());
  advance_to(deadline);
  const ElectionMachine::Turn t = turn(a);
  CHECK(t.ended);
  CHECK(a.machine.released());
  // Released as a stop: no successor named, no claiming resumed.
  expect_released_by(server, "a", old_term.lease_transitions + 1, "");
  const MachineNote ended = *a.outlet.first("note:handoff-ended", from).note;
  CHECK(ended.ended == Handoff::Ended::kTimedOut);
  CHECK(ended.reason == Handoff::Reason::kShutdown);
  CHECK(a.outlet.count("resume_claiming") == 0);
  CHECK(a.outlet.count("stop_claiming_now") == 2);  // the resign's, and the release's
  turn(b);
  CHECK(b.leads());
}

TEST_CASE_FIXTURE(LeaderAndFollower, "a resign or an annotation after the stop began is ignored") {
  a.machine.apply(event::ShutdownRequested{});
  const size_t from = a.outlet.mark();
  a.machine.apply(event::ResignRequested{"b"});
  LeaseRecord asked = *server.lease;
  asked.resign_requested = true;
  server.commit(asked);
  sync();
  turn(a);
  CHECK(a.outlet.since(from).empty());
  CHECK(a.machine.stopping());
  a.machine.apply(event::Acknowledged{});
  turn(a);
  CHECK(a.machine.ended());
  expect_released_by(server, "a", old_term.lease_transitions + 1, "");
  CHECK(a.outlet.count("note:resign-asked") == 0);
  CHECK(a.outlet.count("resume_claiming") == 0);
}

// --- Internal errors ---

TEST_CASE_FIXTURE(LeaderAndFollower, "an exception from a renewal: abandon, then release, then failed with its text") {
  a.store.throw_on = "renew";
  a.store.throws = 1;
  a.store.bad_alloc = true;
  advance_to(now() + kRetryPeriod);
  const int calls = a.store.calls;
  const size_t from = a.outlet.mark();
  const ElectionMachine::Turn t = turn(a);
  CHECK(t.ended);
  CHECK(a.outlet.since(from) == Names{"abandon", "failed"});
  CHECK(a.outlet.first("abandon", from).store_calls == calls + 1);  // the renewal that threw
  CHECK(a.outlet.first("failed", from).store_calls == calls + 2);   // the release
  CHECK(a.store.ops.back() == "update");
  CHECK(a.outlet.failure == std::bad_alloc().what());
  expect_released_by(server, "a", old_term.lease_transitions + 1);
  CHECK(a.machine.ended());
  CHECK(a.machine.failed());
  CHECK_FALSE(a.machine.released());
  CHECK_FALSE(a.leads());

  // Later events and turns are ignored.
  const size_t after = a.outlet.mark();
  a.machine.apply(event::LeaseObserved{*server.lease});
  a.machine.apply(event::ResignRequested{""});
  a.machine.apply(event::ShutdownRequested{});
  CHECK(turn(a).ended);
  CHECK(a.outlet.mark() == after);
  CHECK(a.store.calls == calls + 2);
  turn(b);
  CHECK(b.leads());
}

TEST_CASE_FIXTURE(LeaderAndFollower, "an exception from a follower's poll: abandon, nothing to release, failed") {
  b.watching = false;
  b.machine.apply(event::WatchState{false});
  b.store.throw_on = "get";
  b.store.throws = 1;
  const int writes = server.writes;
  const size_t from = b.outlet.mark();
  CHECK(turn(b).ended);
  CHECK(b.outlet.since(from) == Names{"abandon", "failed"});
  CHECK(b.outlet.failure == "injected failure in get");
  CHECK(b.store.calls == 1);
  CHECK(server.writes == writes);
  CHECK(b.machine.failed());
  CHECK(server.lease->holder_identity == "a");
}

TEST_CASE_FIXTURE(LeaderAndFollowerNoWait, "an exception in the middle of a release: the release is tried again") {
  a.machine.apply(event::ShutdownRequested{});
  a.store.throw_on = "update";
  a.store.throws = 1;
  const int calls = a.store.calls;
  const size_t from = a.outlet.mark();
  CHECK(turn(a).ended);
  CHECK(a.outlet.since(from) == Names{"note:handoff-ended", "acks.clear", "stop_claiming_now", "abandon", "failed"});
  // The release that threw, then the one the error handling tries.
  CHECK(a.store.calls == calls + 2);
  CHECK(std::vector<std::string>(a.store.ops.end() - 2, a.store.ops.end()) ==
        std::vector<std::string>{"update", "update"});
  CHECK(a.outlet.first("abandon", from).store_calls == calls + 1);
  CHECK(a.outlet.failure == "injected failure in update");
  expect_released_by(server, "a", old_term.lease_transitions + 1);
  CHECK(a.machine.failed());
  CHECK_FALSE(a.machine.released());
}

TEST_CASE_FIXTURE(LeaderAndFollower, "an exception while an event is applied ends the machine the same way") {
  b.outlet.throw_on_publish = true;
  const size_t from = b.outlet.mark();
  b.machine.apply(event::ShutdownRequested{});
  CHECK(b.outlet.since(from) == Names{"stop_claiming_now", "abandon", "failed"});
  CHECK(b.outlet.failure == std::bad_alloc().what());
  CHECK(b.machine.ended());
  CHECK(b.machine.failed());
  CHECK(turn(b).ended);
  CHECK(server.lease->holder_identity == "a");
}

// --- Wake times ---

TEST_CASE_FIXTURE(LeaderAndFollower,
                  "a leader's wake time is never later than its renewal, even when answers are late") {
  a.store.inner.latency = 300ms;
  for (int i = 0; i < 10; ++i) {
    advance_to(a.due);
    const SteadyTime sent = now();
    const ElectionMachine::Turn t = turn(a);
    REQUIRE(a.leads());
    CHECK(now() == sent + 300ms);
    CHECK(t.wake_at == sent + kRetryPeriod);  // the renewal is due one retry period after the last send
    CHECK(a.machine.state().valid_until == sent + kLeaseDuration - 2s);
  }
  // Renewals failing: it wakes for each retry and at the renew deadline, where it steps down.
  const SteadyTime last_success = now() - 300ms;
  a.store.inner.latency = 0ns;
  a.store.inner.fail_next.assign(100, StoreError::kServerError);
  for (int i = 0; i < 4; ++i) {
    advance_to(a.due);
    const ElectionMachine::Turn t = turn(a);
    CHECK(a.leads());
    CHECK(t.wake_at == std::min(now() + kRetryPeriod, last_success + kRenewDeadline));
  }
  CHECK(a.due == last_success + kRenewDeadline);
  advance_to(a.due);
  turn(a);
  CHECK_FALSE(a.leads());
}

TEST_CASE_FIXTURE(LeaderAndFollower,
                  "while a handoff waits, turn() wakes every ack poll interval and at the deadline") {
  a.machine.apply(event::ResignRequested{""});
  const SteadyTime deadline = now() + 30s;
  ElectionMachine::Turn t = turn(a);
  CHECK(t.wake_at == now() + Handoff::kAckPollInterval);
  advance_to(now() + 1s + 7ms);
  t = turn(a);
  CHECK(t.wake_at == now() + Handoff::kAckPollInterval);
  run_until(deadline - Handoff::kAckPollInterval / 2);
  t = turn(a);
  CHECK(a.leads());  // renewed all along
  CHECK(t.wake_at == deadline);
}

}  // namespace leasehold::testing
