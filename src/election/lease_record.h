// LeaseRecord: the fields of a coordination.k8s.io/v1 Lease that the election
// reads and writes, as client-go's leaderelection uses them. A plain value type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "election/clock.h"

namespace leasehold::election {

struct LeaseRecord {
  std::string holder_identity;  // empty: released or never held
  int lease_duration_seconds = 0;
  std::optional<WallTime> acquire_time;
  std::optional<WallTime> renew_time;
  int lease_transitions = 0;
  // Whom a resigning leader handed over to: others stand back for a while.
  std::string preferred_holder;
  // Written by a leasehold holder in the same update that empties the holder,
  // after it stopped claiming: release_marker(identity, leaseTransitions) of
  // the term it ended. Only such a release may be taken at once.
  std::string release_marker;
  // Someone (an operator) asked the holder to resign; the holder's release
  // clears it, and so does the next acquisition.
  bool resign_requested = false;
  // The API server stored something leasehold cannot interpret: treated as a
  // foreign change (the leader stops claiming, followers wait a full term).
  bool unreadable = false;
  // Opaque to Kubernetes clients in general; numeric (etcd's revision) on every
  // etcd-backed API server, which is what the fencing token relies on.
  std::string resource_version;

  bool operator==(const LeaseRecord&) const = default;
};

// The marker a holder writes when it releases its own term.
std::string release_marker(const std::string& identity, int lease_transitions);

// Parses a resourceVersion as the etcd revision it carries; nullopt when it is
// not a plain decimal number.
std::optional<std::uint64_t> revision_of(const std::string& resource_version);

}  // namespace leasehold::election
