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
  // Opaque to Kubernetes clients in general; numeric (etcd's revision) on every
  // etcd-backed API server, which is what the fencing token relies on.
  std::string resource_version;

  bool operator==(const LeaseRecord&) const = default;
};

// Parses a resourceVersion as the etcd revision it carries; nullopt when it is
// not a plain decimal number.
std::optional<std::uint64_t> revision_of(const std::string& resource_version);

}  // namespace leasehold::election
