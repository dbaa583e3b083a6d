// LeaseStore: the three operations the election needs on its one Lease.
//
// Expected failures (conflicts, timeouts, throttling, auth) are values, never
// exceptions. Every call carries a deadline on the monotonic clock; an
// implementation must return by then (answering kTimeout) whatever the network
// does. Called from the election thread only; implementations need not be
// reentrant but must tolerate being called again after a timeout.
#pragma once

#include <optional>
#include <string>

#include "election/clock.h"
#include "election/lease_record.h"

namespace leasehold::election {

enum class StoreError {
  kNone,
  kNotFound,         // 404: the Lease does not exist
  kConflict,         // 409 on update: resourceVersion was stale
  kAlreadyExists,    // 409 on create
  kTimeout,          // the deadline passed before an answer
  kUnauthorized,     // 401
  kForbidden,        // 403
  kTooManyRequests,  // 429 (retry_after may be set)
  kServerError,      // 5xx
  kNetwork,          // connection refused/reset, TLS failure
  kInvalidResponse,  // an answer that could not be understood
  kRateLimited,      // our own client-side limiter had no token before the deadline
};

const char* to_string(StoreError error);

struct StoreResult {
  StoreError error = StoreError::kNone;
  std::optional<LeaseRecord> record;  // set when error == kNone
  std::optional<Duration> retry_after;
  std::string detail;  // human-readable, never contains credentials

  bool ok() const { return error == StoreError::kNone; }
};

class LeaseStore {
 public:
  virtual ~LeaseStore() = default;
  virtual StoreResult get(SteadyTime deadline) = 0;
  virtual StoreResult create(const LeaseRecord& record, SteadyTime deadline) = 0;
  // Compare-and-swap on record.resource_version.
  virtual StoreResult update(const LeaseRecord& record, SteadyTime deadline) = 0;
  // A renewal: writes record's renewTime and leaseDurationSeconds only if the
  // Lease's holder, leaseTransitions, acquireTime and renewTime still equal
  // `expected`'s, whatever else changed (another controller's annotations);
  // kConflict when they do not. The default is update(): a compare-and-swap on
  // the whole object, which any write by anyone makes fail.
  virtual StoreResult renew(const LeaseRecord& /*expected*/, const LeaseRecord& record, SteadyTime deadline) {
    return update(record, deadline);
  }
};

}  // namespace leasehold::election
