// Shard placement (src/election/placement.h): balance, agreement whatever the order of the
// members, stable weights (the protocol between versions), and how many shards a membership
// change moves against the least any balanced placement could.
#include "election/placement.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace leasehold::election {
namespace {

std::vector<std::string> members_named(int count, const std::string& prefix = "pod-") {
  std::vector<std::string> members;
  for (int i = 0; i < count; ++i) members.push_back(prefix + std::to_string(i));
  return members;
}

std::map<std::string, std::uint32_t> loads(const std::vector<std::string>& owners) {
  std::map<std::string, std::uint32_t> load;
  for (const auto& owner : owners) ++load[owner];
  return load;
}

// How many shards change owner between two placements of the same shards.
std::uint32_t shards_moved(const std::vector<std::string>& before, const std::vector<std::string>& after) {
  std::uint32_t moved = 0;
  for (std::size_t i = 0; i < before.size(); ++i) moved += before[i] != after[i] ? 1 : 0;
  return moved;
}

// The fewest shards any placement over `after` that keeps every load at floor(N/M) or
// ceil(N/M) must move away from `before`: a member that stays keeps at most its share of what it
// had, and only N mod M of them may keep one more.
std::uint32_t least_moves(const std::vector<std::string>& before, const std::vector<std::string>& after) {
  const auto shards = static_cast<std::uint32_t>(before.size());
  const auto count = static_cast<std::uint32_t>(after.size());
  const std::uint32_t share = shards / count;
  const std::uint32_t extra = shards % count;
  const auto old_load = loads(before);
  std::uint32_t kept = 0;
  std::uint32_t over = 0;
  for (const auto& m : after) {
    const auto it = old_load.find(m);
    if (it == old_load.end()) continue;
    kept += std::min(it->second, share);
    over += it->second > share ? 1 : 0;
  }
  kept += std::min(over, extra);
  return shards - kept;
}

void check_balanced(const std::vector<std::string>& owners, const std::vector<std::string>& members) {
  const auto load = loads(owners);
  const std::set<std::string> live(members.begin(), members.end());
  std::uint32_t least = UINT32_MAX;
  std::uint32_t most = 0;
  for (const auto& m : live) {
    const auto it = load.find(m);
    const std::uint32_t n = it == load.end() ? 0 : it->second;
    least = std::min(least, n);
    most = std::max(most, n);
  }
  for (const auto& [owner, n] : load) CHECK_MESSAGE(live.count(owner) == 1, "owner " << owner << " is not a member");
  CHECK(most - least <= 1);
}

}  // namespace

TEST_CASE("placement: the weights are the protocol's (a change here breaks mixed versions)") {
  // Pinned values, computed apart from this code (FNV-1a 64 of "orders" NUL "7" NUL "pod-a",
  // then SplitMix64's finaliser).
  CHECK(placement_weight("orders", 7, "pod-a") == 0xa63816f576f71590ULL);
  CHECK(placement_weight("", 0, "") == 0x3ea04d46a5ed6ae1ULL);
  CHECK(placement_weight("orders", 7, "pod-a") != placement_weight("orders", 7, "pod-b"));
  CHECK(placement_weight("orders", 7, "pod-a") != placement_weight("orders", 70, "pod-a"));
  // The separators keep ("a", 1, "2b") and ("a1", 2, "b")-like inputs apart.
  CHECK(placement_weight("a", 12, "b") != placement_weight("a1", 2, "b"));
}

TEST_CASE("placement: every shard has a live owner, loads differ by at most one") {
  for (const std::uint32_t shards : {1U, 2U, 5U, 12U, 64U, 1024U}) {
    for (const int count : {1, 2, 3, 5, 7, 13, 100}) {
      CAPTURE(shards);
      CAPTURE(count);
      const auto members = members_named(count);
      const auto owners = place_shards("jobs", shards, members);
      REQUIRE(owners.size() == shards);
      for (const auto& owner : owners) CHECK_FALSE(owner.empty());
      check_balanced(owners, members);
    }
  }
}

TEST_CASE("placement: no members, no owners; duplicates count once") {
  CHECK(place_shards("jobs", 3, {}) == std::vector<std::string>(3));
  CHECK(place_shards("jobs", 0, {"a"}).empty());
  CHECK(place_shards("jobs", 8, {"a", "b", "a"}) == place_shards("jobs", 8, {"b", "a"}));
}

TEST_CASE("placement: members agree whatever order they list each other in") {
  auto members = members_named(9);
  const auto reference = place_shards("jobs", 100, members);
  std::mt19937 rng(7);
  for (int i = 0; i < 5; ++i) {
    std::shuffle(members.begin(), members.end(), rng);
    CHECK(place_shards("jobs", 100, members) == reference);
  }
}

TEST_CASE("placement: different elections spread their shards differently") {
  const auto members = members_named(4);
  CHECK(place_shards("jobs", 64, members) != place_shards("mail", 64, members));
}

TEST_CASE("placement: a membership change moves close to the fewest shards it must") {
  // Random joins and leaves; every step balanced, and the moves against the least possible.
  std::mt19937 rng(2026);
  for (const std::uint32_t shards : {12U, 64U, 1024U}) {
    CAPTURE(shards);
    std::vector<std::string> members = members_named(5);
    int next = 5;
    auto owners = place_shards("jobs", shards, members);
    std::uint64_t moved_total = 0;
    std::uint64_t least_total = 0;
    for (int step = 0; step < 60; ++step) {
      const bool join = members.size() <= 1 || (members.size() < 12 && rng() % 2 == 0);
      if (join) {
        members.push_back("pod-" + std::to_string(next++));
      } else {
        members.erase(members.begin() + static_cast<long>(rng() % members.size()));
      }
      const auto after = place_shards("jobs", shards, members);
      check_balanced(after, members);
      const std::uint32_t moved = shards_moved(owners, after);
      const std::uint32_t least = least_moves(owners, members);
      CAPTURE(step);
      CHECK(moved >= least);
      moved_total += moved;
      least_total += least;
      owners = after;
    }
    // Over the run, at most a third more than the least possible.
    CHECK(moved_total * 3 <= least_total * 4);
    MESSAGE("shards " << shards << ": moved " << moved_total << ", least possible " << least_total);
  }
}

TEST_CASE("placement: a member leaving moves only its own shards when the share allows") {
  // 12 shards over 4 members (3 each) to 3 members (4 each): each survivor keeps its 3 and takes
  // one of the leaver's.
  const auto members = members_named(4);
  const auto before = place_shards("jobs", 12, members);
  const std::vector<std::string> survivors(members.begin(), members.end() - 1);
  const auto after = place_shards("jobs", 12, survivors);
  CHECK(shards_moved(before, after) == 3);
  for (std::size_t i = 0; i < before.size(); ++i) {
    if (before[i] != members.back()) CHECK(after[i] == before[i]);
  }
}

}  // namespace leasehold::election
