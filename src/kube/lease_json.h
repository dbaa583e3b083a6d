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

// nullopt when the JSON is not a Lease (wrong kind, wrong field types).
std::optional<election::LeaseRecord> lease_from_json(const nlohmann::json& object);

// The object to PUT or POST: `base` (the last object read, or null) with the
// record's spec fields and resourceVersion written over it.
nlohmann::json lease_to_json(const election::LeaseRecord& record, const std::string& namespace_name,
                             const std::string& name, const nlohmann::json& base);

}  // namespace leasehold::kube
