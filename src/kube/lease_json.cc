#include "kube/lease_json.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "util/rfc3339.h"

namespace leasehold::kube {

using nlohmann::json;

namespace {

// A JSON integer of any size or sign as the API server's int32 count, clamped
// into 0..INT32_MAX (a double orders any JSON integer correctly at that scale).
int clamp_count(const json& integer) {
  return static_cast<int>(
      std::clamp(integer.get<double>(), 0.0, static_cast<double>(std::numeric_limits<std::int32_t>::max())));
}

void set_annotation(json& metadata, const char* key, const std::string& value) {
  if (value.empty()) {
    if (metadata.contains("annotations") && metadata["annotations"].is_object()) {
      metadata["annotations"].erase(key);
      if (metadata["annotations"].empty()) metadata.erase("annotations");
    }
    return;
  }
  if (!metadata.contains("annotations") || !metadata["annotations"].is_object()) {
    metadata["annotations"] = json::object();
  }
  metadata["annotations"][key] = value;
}

}  // namespace

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
    if (auto p = annotations->find(kReleasedAnnotation); p != annotations->end() && p->is_string()) {
      record.release_marker = p->get<std::string>();
    }
    record.resign_requested = annotations->contains(kResignAnnotation);
  }
  const auto spec = object.find("spec");
  if (spec == object.end() || spec->is_null()) return record;
  if (!spec->is_object()) {
    record.unreadable = true;
    return record;
  }
  for (const auto& [key, value] : spec->items()) {
    if (value.is_null()) continue;
    if (key == "holderIdentity") {
      if (!value.is_string()) {
        record.unreadable = true;
        continue;
      }
      record.holder_identity = value.get<std::string>();
    } else if (key == "leaseDurationSeconds" || key == "leaseTransitions") {
      if (!value.is_number_integer()) {
        record.unreadable = true;
        continue;
      }
      (key == "leaseDurationSeconds" ? record.lease_duration_seconds : record.lease_transitions) = clamp_count(value);
    } else if (key == "preferredHolder") {
      // Coordinated leader election's field (set by the API server's controller): honoured when present.
      if (!value.is_string()) {
        record.unreadable = true;
        continue;
      }
      if (record.preferred_holder.empty()) record.preferred_holder = value.get<std::string>();
    } else if (key == "acquireTime" || key == "renewTime") {
      // The times are shown, and guard a renewal's patch, but no expiry is
      // judged from them: one that cannot be read (e.g. Go's zero time) is
      // left out, and the renewal then falls back to a compare-and-swap.
      if (!value.is_string()) continue;
      (key == "acquireTime" ? record.acquire_time : record.renew_time) = util::parse_rfc3339(value.get<std::string>());
    }
  }
  // A holder we cannot read means someone may be claiming: not a release.
  if (record.unreadable) record.holder_identity.clear();
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
  set_annotation(metadata, kPreferredHolderAnnotation, record.preferred_holder);
  set_annotation(metadata, kReleasedAnnotation, record.release_marker);
  if (!record.resign_requested) set_annotation(metadata, kResignAnnotation, "");
  json& spec = object["spec"];
  if (!spec.is_object()) spec = json::object();
  spec["holderIdentity"] = record.holder_identity;
  spec["leaseDurationSeconds"] = record.lease_duration_seconds;
  spec["leaseTransitions"] = record.lease_transitions;
  if (record.acquire_time) {
    spec["acquireTime"] = util::format_micro_time(*record.acquire_time);
  } else {
    spec.erase("acquireTime");
  }
  if (record.renew_time) {
    spec["renewTime"] = util::format_micro_time(*record.renew_time);
  } else {
    spec.erase("renewTime");
  }
  return object;
}

}  // namespace leasehold::kube
