// ShardPlanner: one member's view of a sharded election: which members are alive (their member
// records, election/membership.h), where each shard belongs (election/placement.h), and so which
// shards this member should stand for. It turns what the watch shows (member records, each
// shard's holder) into one directive per shard for that shard's ElectionMachine
// (event::PlacementChanged): eligible or not, and the rightful owner.
//
// A member is eligible for a shard when it is the shard's rightful owner, or when the shard has
// had no live holder (no holder, or one whose member record is not alive) for the vacancy grace:
// two members that see the membership differently for a while (each placing the shard on the
// other) must not leave it without an owner for good. Eligibility only steers; that a shard never
// has two owners rests on its Lease (ElectionMachine, Elector).
//
// Pure: no I/O; time from the Clock. Thread-safety: none; one strand of the election loop owns it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "election/clock.h"
#include "election/membership.h"

namespace leasehold::election {

// The Lease of shard `shard` of `shards`: <election>-shard-<shard>, the number padded with zeros
// to the width of the largest (so that `kubectl get leases` lists them in order).
std::string shard_lease_name(std::string_view election, std::uint32_t shard, std::uint32_t shards);
// Member records: <election>-member-<16 hex digits of the identity's hash>. Identities are not
// Lease names (any UTF-8); the record's holderIdentity carries the identity itself.
std::string member_lease_prefix(std::string_view election);
std::string member_lease_name(std::string_view election, std::string_view identity);

struct ShardPlannerSettings {
  std::string seed;  // the sharded election's name: members of other elections place apart
  std::uint32_t shards = 0;
  std::string identity;  // this member
  Duration vacancy_grace{};
};

class ShardPlanner {
 public:
  ShardPlanner(ShardPlannerSettings settings, const Clock& clock);

  // A member record as the watch shows it (by its Lease's name); see Membership.
  void member_seen(const std::string& record_name, const MemberRecord& record);
  void member_gone(const std::string& record_name);
  // The shard's Lease as the watch shows it: its holder, empty when released or absent.
  void shard_seen(std::uint32_t shard, const std::string& holder);

  struct Directive {
    std::uint32_t shard = 0;
    bool eligible = false;
    std::string owner;
  };
  // Looks at everything as of now; returns the directives that differ from the last ones given
  // (every shard's at the first call).
  std::vector<Directive> plan();
  // When plan() should look again at the latest (a member record runs out, a vacancy's grace
  // ends); nullopt: only when something is seen.
  std::optional<SteadyTime> wake_at() const;

  // As of the last plan().
  const std::vector<std::string>& members() const { return members_; }
  const std::vector<std::string>& owners() const { return owners_; }
  // The shards placed on this member as of the last plan().
  std::uint32_t placed_here() const;
  // Member records unchanged for `for_at_least`: left behind by members that crashed.
  std::vector<std::pair<std::string, std::string>> stale_records(Duration for_at_least) const {
    return membership_.stale(for_at_least);
  }

 private:
  bool vacant(std::uint32_t shard) const;

  const ShardPlannerSettings settings_;
  const Clock& clock_;
  Membership membership_;
  std::vector<std::string> members_;                     // live, sorted
  std::vector<std::string> owners_;                      // per shard
  std::vector<std::string> holders_;                     // per shard, as seen
  std::vector<std::optional<SteadyTime>> vacant_since_;  // per shard: without a live holder since
  std::vector<std::optional<Directive>> given_;          // per shard: the last directive handed out
};

}  // namespace leasehold::election
