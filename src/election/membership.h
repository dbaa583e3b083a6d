// Membership: which members of a sharded election are alive, judged from their member records
// (one Lease a member, renewed at a low rate) the way a follower judges a leader: a record is
// alive from the moment this member sees a new version of it until its duration has passed on
// the monotonic clock without a newer one. The wall-clock times inside the records are never
// compared with this member's clock.
//
// Membership only steers: it says where each shard should go (with election/placement.h). That
// no shard has two owners rests on each shard's own Lease, whose claims follow the election's
// rules whatever two members believe about the membership; a member that sees the membership
// wrongly, or late, moves shards at the wrong time, never into two hands at once.
//
// Pure: no I/O; time from the Clock. Thread-safety: none; the election loop owns it.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "election/clock.h"

namespace leasehold::election {

// What a member record says.
struct MemberRecord {
  std::string identity;      // the member's identity (its holderIdentity); empty: it left
  int duration_seconds = 0;  // how long the record stays alive without renewal
  std::string resource_version;
};

class Membership {
 public:
  explicit Membership(const Clock& clock) : clock_(clock) {}

  // A record as the watch or a list shows it (by the record's object name). The same version
  // seen again changes nothing; a new version restarts its time.
  void observe(const std::string& name, const MemberRecord& record);
  // The record is gone (deleted): its member is no longer counted at once. A member that left
  // on purpose deletes its record or empties its identity, so the others rebalance without
  // waiting out its duration.
  void forget(const std::string& name);

  // The identities alive now, sorted, each once.
  std::vector<std::string> live() const;
  // (name, resourceVersion) of the records whose version has not changed for `for_at_least`.
  std::vector<std::pair<std::string, std::string>> stale(Duration for_at_least) const;
  // When the next record runs out, if any: the loop looks again then.
  std::optional<SteadyTime> next_expiry() const;

 private:
  struct Seen {
    MemberRecord record;
    SteadyTime observed_at;
  };
  SteadyTime expires_at(const Seen& seen) const;

  const Clock& clock_;
  std::map<std::string, Seen> records_;
};

}  // namespace leasehold::election
