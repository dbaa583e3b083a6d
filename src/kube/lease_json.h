// Conversions between coordination.k8s.io/v1 Lease JSON and LeaseRecord.
// Fields leasehold does not manage (labels, annotations, ownerReferences,
// spec.strategy, spec.preferredHolder, ...) are carried over from the object
// last read, so writing a Lease never drops another tool's data.
// Pure functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "election/lease_record.h"

namespace leasehold::kube {

// Where a resigning leader names its successor (spec.preferredHolder belongs to
// the API server's coordinated leader election and is only read).
inline constexpr const char* kPreferredHolderAnnotation = "leasehold.io/preferred-holder";
// "<leaseTransitions>/<identity>" of the term a leasehold holder released itself.
inline constexpr const char* kReleasedAnnotation = "leasehold.io/released";
// Set by an operator (any value) to make the current leader resign.
inline constexpr const char* kResignAnnotation = "leasehold.io/resign";

// nullopt when the JSON is not a Lease object at all (not an object, another
// kind, no metadata). Every value the API server can store is read: counts are
// clamped to what an int32 holds, unreadable times left out; a spec field of
// the wrong type marks the record `unreadable` rather than dropping it.
std::optional<election::LeaseRecord> lease_from_json(const nlohmann::json& object);

// The object to PUT or POST: `base` (the last object read, or null) with the
// record's spec fields and resourceVersion written over it.
nlohmann::json lease_to_json(const election::LeaseRecord& record, const std::string& namespace_name,
                             const std::string& name, const nlohmann::json& base);

}  // namespace leasehold::kube
