// Sharded ownership on a fake clock: ShardPlanner (src/election/shard_planner.h) step by step,
// then a randomised run of members joining, leaving, crashing and freezing (also with their member
// record deleted by hand, so that the others place their shards at once), each member a
// ShardPlanner and one ElectionMachine per shard over in-memory Leases, with the invariant
// checked at every step: no shard is claimed by two members at once.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <random>
#include <set>

#include "election/election_machine.h"
#include "election/shard_planner.h"
#include "fakes.h"

namespace leasehold::testing {
namespace {

using namespace std::chrono_literals;
using election::MemberRecord;
using election::ShardPlanner;
using election::ShardPlannerSettings;
namespace event = election::event;

constexpr Duration kLeaseDuration = 15s;

ShardPlannerSettings planner_settings(const std::string& me, std::uint32_t shards) {
  return ShardPlannerSettings{"jobs", shards, me, kLeaseDuration};
}

std::uint32_t eligible_count(const std::vector<ShardPlanner::Directive>& ds) {
  std::uint32_t n = 0;
  for (const auto& d : ds) n += d.eligible ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("shard planner: nothing is placed before a member record is seen; then every shard on the one member") {
  FakeClock clock;
  ShardPlanner p(planner_settings("a", 4), clock);
  auto first = p.plan();
  REQUIRE(first.size() == 4);  // every shard's first directive
  for (const auto& d : first) {
    CHECK_FALSE(d.eligible);
    CHECK(d.owner.empty());
  }
  CHECK(p.plan().empty());  // nothing changed
  p.member_seen("jobs-member-a", MemberRecord{"a", 15, "1"});
  auto placed = p.plan();
  CHECK(placed.size() == 4);
  CHECK(eligible_count(placed) == 4);
  CHECK(p.placed_here() == 4);
  CHECK(p.members() == std::vector<std::string>{"a"});
}

TEST_CASE("shard planner: a second member takes half; only the changed shards get a directive") {
  FakeClock clock;
  ShardPlanner a(planner_settings("a", 8), clock);
  a.member_seen("m-a", MemberRecord{"a", 15, "1"});
  a.plan();
  for (std::uint32_t s = 0; s < 8; ++s) a.shard_seen(s, "a");
  CHECK(a.plan().empty());
  a.member_seen("m-b", MemberRecord{"b", 15, "2"});
  const auto moved = a.plan();
  CHECK(moved.size() == 4);
  for (const auto& d : moved) {
    CHECK_FALSE(d.eligible);
    CHECK(d.owner == "b");
  }
  CHECK(a.placed_here() == 4);
}

TEST_CASE("shard planner: a member whose record runs out loses its shards at the expiry, not before") {
  FakeClock clock;
  ShardPlanner a(planner_settings("a", 6), clock);
  a.member_seen("m-a", MemberRecord{"a", 15, "1"});
  a.member_seen("m-b", MemberRecord{"b", 15, "2"});
  a.plan();
  CHECK(a.placed_here() == 3);
  for (std::uint32_t s = 0; s < 6; ++s) a.shard_seen(s, a.owners()[s]);
  clock.advance(10s);
  a.member_seen("m-a", MemberRecord{"a", 15, "3"});  // a renews, b does not
  CHECK(a.plan().empty());
  REQUIRE(a.wake_at().has_value());
  CHECK(*a.wake_at() == clock.steady_now() + 5s);  // b's record runs out
  clock.advance(5s - 1ns);
  CHECK(a.plan().empty());
  clock.advance(1ns);
  const auto moved = a.plan();
  CHECK(moved.size() == 3);
  CHECK(eligible_count(moved) == 3);
  CHECK(a.placed_here() == 6);
}

TEST_CASE("shard planner: a shard without a live holder is open to any member after the vacancy grace") {
  FakeClock clock;
  ShardPlanner a(planner_settings("a", 2), clock);
  a.member_seen("m-a", MemberRecord{"a", 100, "1"});
  a.member_seen("m-b", MemberRecord{"b", 100, "2"});
  a.plan();
  const std::uint32_t bs = a.owners()[0] == "b" ? 0 : 1;
  REQUIRE(a.owners()[bs] == "b");
  a.shard_seen(bs, "b");
  a.shard_seen(1 - bs, "a");
  CHECK(a.plan().empty());
  a.shard_seen(bs, "");  // b released it and never took it back (it sees the membership otherwise)
  CHECK(a.plan().empty());
  CHECK(a.wake_at() == clock.steady_now() + kLeaseDuration);
  clock.advance(kLeaseDuration - 1ns);
  CHECK(a.plan().empty());
  clock.advance(1ns);
  const auto open = a.plan();
  REQUIRE(open.size() == 1);
  CHECK(open[0].shard == bs);
  CHECK(open[0].eligible);
  CHECK(open[0].owner == "b");  // still b's: a hands it to b once it holds it
  a.shard_seen(bs, "a");        // a took it; a holder that is alive ends the vacancy
  const auto held = a.plan();
  REQUIRE(held.size() == 1);
  CHECK_FALSE(held[0].eligible);
}

TEST_CASE("shard planner: a holder that is no member is a vacancy (a crashed member's leftover)") {
  FakeClock clock;
  ShardPlanner a(planner_settings("a", 1), clock);
  a.member_seen("m-b", MemberRecord{"b", 100, "2"});
  a.plan();
  a.shard_seen(0, "ghost");
  CHECK(a.plan().empty());
  clock.advance(kLeaseDuration);
  const auto open = a.plan();
  REQUIRE(open.size() == 1);
  CHECK(open[0].eligible);
}

// --- A randomised run of a sharded election ---

namespace {

// Records whether the outlet was told to stop claiming (a handoff under way), as the publisher does.
class ClaimOutlet final : public election::ElectionOutlet {
 public:
  void stop_claiming_now() override { blocked = true; }
  void resume_claiming() override { blocked = false; }
  void publish() override {}
  void heartbeat() override {}
  void note(const election::MachineNote&) override {}
  void abandon() noexcept override { blocked = true; }
  void failed(std::string_view) noexcept override {}
  bool blocked = false;
};

class NoAcks final : public election::AckSource {
 public:
  bool present() const override { return false; }
  void clear() override {}
};

struct ShardSlot {
  ShardSlot(FakeApiServer& server, FakeClock& clock, const std::string& member)
      : store(server, clock), machine(settings(member), clock, store, nullptr, outlet, acks) {}
  static election::MachineSettings settings(const std::string& id) {
    election::MachineSettings s;
    s.identity = id;
    s.release_timeout = 5s;
    s.sharded = true;
    return s;
  }
  FakeLeaseStore store;
  ClaimOutlet outlet;
  NoAcks acks;
  election::ElectionMachine machine;
  std::optional<std::uint64_t> delivered;
  SteadyTime due{};
};

struct Member {
  Member(const std::string& member, std::vector<FakeApiServer>& servers, FakeClock& clock, std::uint32_t shards)
      : id(member), planner(ShardPlannerSettings{"jobs", shards, member, kLeaseDuration}, clock) {
    for (auto& server : servers) slots.push_back(std::make_unique<ShardSlot>(server, clock, member));
    for (auto& slot : slots) slot->machine.apply(event::WatchState{true});
  }
  // The app's view: this member says it owns the shard.
  bool claims(std::uint32_t s, SteadyTime now) const {
    const auto state = slots[s]->machine.state();
    return state.leading && now < state.valid_until && !slots[s]->outlet.blocked;
  }
  std::string id;
  ShardPlanner planner;
  std::vector<std::unique_ptr<ShardSlot>> slots;
  std::map<std::string, std::string> records_delivered;  // record name -> resourceVersion
  SteadyTime frozen_until{};
  SteadyTime next_member_renewal{};
  bool leaving = false;
};

struct ShardedCluster {
  explicit ShardedCluster(std::uint32_t shards) : servers(shards) {}

  Member& join(const std::string& id) {
    members.push_back(std::make_unique<Member>(id, servers, clock, static_cast<std::uint32_t>(servers.size())));
    return *members.back();
  }
  void write_member_record(Member& m) {
    records[m.id] = MemberRecord{m.id, static_cast<int>(kLeaseDuration / 1s), std::to_string(++record_version)};
    m.next_member_renewal = clock.steady_now() + 2s;
  }
  bool frozen(const Member& m) const { return clock.steady_now() < m.frozen_until; }

  // One round: the watch delivers what changed to members that are not frozen, the planner
  // places, the machines turn when due; member records are renewed every 2 s.
  void round() {
    const SteadyTime now = clock.steady_now();
    for (auto& m : members) {
      if (frozen(*m)) continue;
      if (!m->leaving && now >= m->next_member_renewal) write_member_record(*m);
      for (const auto& [name, record] : records) {
        auto it = m->records_delivered.find(name);
        if (it != m->records_delivered.end() && it->second == record.resource_version) continue;
        m->planner.member_seen(name, record);
        m->records_delivered[name] = record.resource_version;
      }
      for (auto it = m->records_delivered.begin(); it != m->records_delivered.end();) {
        if (records.count(it->first)) {
          ++it;
          continue;
        }
        m->planner.member_gone(it->first);
        it = m->records_delivered.erase(it);
      }
      for (std::uint32_t s = 0; s < servers.size(); ++s) deliver(*m, s);
      for (const auto& d : m->planner.plan()) {
        m->slots[d.shard]->machine.apply(event::PlacementChanged{d.eligible, d.owner});
        m->slots[d.shard]->due = now;
      }
      for (std::uint32_t s = 0; s < servers.size(); ++s) {
        ShardSlot& slot = *m->slots[s];
        if (slot.machine.ended() || slot.due > clock.steady_now()) continue;
        slot.due = slot.machine.turn().wake_at;
        deliver(*m, s);
      }
    }
  }
  void deliver(Member& m, std::uint32_t s) {
    ShardSlot& slot = *m.slots[s];
    const FakeApiServer& server = servers[s];
    if (slot.delivered == server.revision) return;
    if (server.lease) {
      slot.machine.apply(event::LeaseObserved{*server.lease});
      m.planner.shard_seen(s, server.lease->holder_identity);
    } else {
      slot.machine.apply(event::LeaseDeleted{server.revision});
      m.planner.shard_seen(s, "");
    }
    slot.delivered = server.revision;
    slot.due = clock.steady_now();
  }

  // The invariant: at most one member claims each shard. Returns the owners (empty: none).
  std::vector<std::string> check_claims() {
    std::vector<std::string> owners(servers.size());
    for (std::uint32_t s = 0; s < servers.size(); ++s) {
      int claiming = 0;
      for (auto& m : members) {
        if (!m->claims(s, clock.steady_now())) continue;
        ++claiming;
        owners[s] = m->id;
      }
      if (claiming > 1) {
        ++overlaps;
        FAIL_CHECK("shard " << s << " claimed by " << claiming << " members at t+" << (clock.steady_now() - start) / 1ms
                            << " ms");
      }
    }
    return owners;
  }

  void leave(Member& m) {
    m.leaving = true;
    records.erase(m.id);  // deleted first: the others rebalance without waiting
    for (auto& slot : m.slots) {
      slot->machine.apply(event::ShutdownRequested{});
      slot->due = clock.steady_now();
    }
  }
  void crash(std::size_t index) { members.erase(members.begin() + static_cast<std::ptrdiff_t>(index)); }
  // Members that left and whose machines have all ended are gone.
  void reap() {
    std::erase_if(members, [](const std::unique_ptr<Member>& m) {
      if (!m->leaving) return false;
      for (auto& slot : m->slots) {
        if (!slot->machine.ended()) return false;
      }
      return true;
    });
  }

  FakeClock clock;
  const SteadyTime start = clock.steady_now();
  std::vector<FakeApiServer> servers;
  std::map<std::string, MemberRecord> records;
  std::uint64_t record_version = 0;
  std::vector<std::unique_ptr<Member>> members;
  int overlaps = 0;
};

}  // namespace

TEST_CASE("sharded election, randomised: members join, leave, crash and freeze; no shard ever has two owners") {
  constexpr std::uint32_t kShards = 12;
  for (std::uint32_t seed : {1u, 2u, 3u, 4u, 5u}) {
    CAPTURE(seed);
    std::mt19937 random(seed);
    ShardedCluster c(kShards);
    int next_id = 0;
    for (int i = 0; i < 3; ++i) c.join("m" + std::to_string(next_id++));
    const Duration step = 100ms;
    for (int round = 0; round < 6000; ++round) {  // 10 minutes
      c.round();
      c.check_claims();
      c.reap();
      if (round % 150 == 149) {  // every 15 s, one change
        std::uniform_int_distribution<int> what(0, 4);
        const int live = static_cast<int>(c.members.size());
        switch (what(random)) {
          case 0:
            if (live < 6) c.join("m" + std::to_string(next_id++));
            break;
          case 1:
            if (live > 1) c.leave(*c.members[std::uniform_int_distribution<int>(0, live - 1)(random)]);
            break;
          case 2:
            if (live > 1) c.crash(static_cast<std::size_t>(std::uniform_int_distribution<int>(0, live - 1)(random)));
            break;
          case 3: {
            // Frozen for up to two lease durations: its claims must end by themselves meanwhile.
            Member& m = *c.members[std::uniform_int_distribution<int>(0, live - 1)(random)];
            m.frozen_until = c.clock.steady_now() +
                             std::chrono::milliseconds(std::uniform_int_distribution<int>(1000, 30000)(random));
            break;
          }
          case 4: {
            // Frozen, and its member record deleted by hand at once: the others place its shards on
            // themselves at once and may claim them as soon as its claims on the Leases allow.
            Member& m = *c.members[std::uniform_int_distribution<int>(0, live - 1)(random)];
            m.frozen_until = c.clock.steady_now() + 20s;
            c.records.erase(m.id);
            break;
          }
        }
      }
      c.clock.advance(step);
    }
    CHECK(c.overlaps == 0);

    // Settled (no change for 2 lease durations + the member records' life): every shard has
    // exactly one owner among the members, and the loads differ by at most one.
    for (auto& m : c.members) m->frozen_until = {};
    for (int round = 0; round < 600; ++round) {
      c.round();
      c.check_claims();
      c.reap();
      c.clock.advance(step);
    }
    const std::vector<std::string> owners = c.check_claims();
    std::map<std::string, int> load;
    for (auto& m : c.members) load[m->id] = 0;
    for (const auto& owner : owners) {
      CHECK_FALSE(owner.empty());
      ++load[owner];
    }
    int most = 0, least = static_cast<int>(kShards);
    for (const auto& [id, n] : load) {
      most = std::max(most, n);
      least = std::min(least, n);
    }
    CHECK(most - least <= 1);
    CHECK(c.overlaps == 0);
  }
}

}  // namespace leasehold::testing
