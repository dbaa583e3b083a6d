#include "kube/lease_json.h"

#include "kube/micro_time.h"

namespace leasehold::kube {

using nlohmann::json;

std::optional<election::LeaseRecord> lease_from_json(const json& object) {
  if (!object.is_object()) return std::nullopt;
  if (object.contains("kind") && object["kind"] != "Lease") return std::nullopt;
  const auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return std::nullopt;
  election::LeaseRecord record;
  if (auto rv = metadata->find("resourceVersion"); rv != metadata->end()) {
    if (!rv->is_string()) return std::nullopt;
    record.resource_version = rv->get<std::string>();
  }
  if (auto annotations = metadata->find("annotations"); annotations != metadata->end() && annotations->is_object()) {
    if (auto p = annotations->find(kPreferredHolderAnnotation); p != annotations->end() && p->is_string()) {
      record.preferred_holder = p->get<std::string>();
    }
  }
  const auto spec = object.find("spec");
  if (spec == object.end() || spec->is_null()) return record;
  if (!spec->is_object()) return std::nullopt;
  for (const auto& [key, value] : spec->items()) {
    if (value.is_null()) continue;
    if (key == "holderIdentity") {
      if (!value.is_string()) return std::nullopt;
      record.holder_identity = value.get<std::string>();
    } else if (key == "leaseDurationSeconds" || key == "leaseTransitions") {
      if (!value.is_number_integer()) return std::nullopt;
      const auto n = value.get<long long>();
      if (n < 0 || n > 1'000'000'000) return std::nullopt;
      (key == "leaseDurationSeconds" ? record.lease_duration_seconds : record.lease_transitions) = static_cast<int>(n);
    } else if (key == "preferredHolder") {
      // Coordinated leader election's field (set by the API server's controller): honoured when present.
      if (!value.is_string()) return std::nullopt;
      if (record.preferred_holder.empty()) record.preferred_holder = value.get<std::string>();
    } else if (key == "acquireTime" || key == "renewTime") {
      if (!value.is_string()) return std::nullopt;
      // The times are shown, never used for decisions: one that cannot be read
      // (e.g. Go's zero time) is left out rather than spoiling the record.
      (key == "acquireTime" ? record.acquire_time : record.renew_time) = parse_rfc3339(value.get<std::string>());
    }
  }
  return record;
}

json lease_to_json(const election::LeaseRecord& record, const std::string& namespace_name, const std::string& name,
                   const json& base) {
  json object = base.is_object() ? base : json::object();
  object["apiVersion"] = "coordination.k8s.io/v1";
  object["kind"] = "Lease";
  json& metadata = object["metadata"];
  if (!metadata.is_object()) metadata = json::object();
  metadata["name"] = name;
  metadata["namespace"] = namespace_name;
  if (record.resource_version.empty()) {
    metadata.erase("resourceVersion");
  } else {
    metadata["resourceVersion"] = record.resource_version;
  }
  metadata.erase("managedFields");
  if (record.preferred_holder.empty()) {
    if (metadata.contains("annotations") && metadata["annotations"].is_object()) {
      metadata["annotations"].erase(kPreferredHolderAnnotation);
      if (metadata["annotations"].empty()) metadata.erase("annotations");
    }
  } else {
    if (!metadata.contains("annotations") || !metadata["annotations"].is_object()) {
      metadata["annotations"] = json::object();
    }
    metadata["annotations"][kPreferredHolderAnnotation] = record.preferred_holder;
  }
  json& spec = object["spec"];
  if (!spec.is_object()) spec = json::object();
  spec["holderIdentity"] = record.holder_identity;
  spec["leaseDurationSeconds"] = record.lease_duration_seconds;
  spec["leaseTransitions"] = record.lease_transitions;
  if (record.acquire_time) {
    spec["acquireTime"] = format_micro_time(*record.acquire_time);
  } else {
    spec.erase("acquireTime");
  }
  if (record.renew_time) {
    spec["renewTime"] = format_micro_time(*record.renew_time);
  } else {
    spec.erase("renewTime");
  }
  return object;
}

}  // namespace leasehold::kube
