#include "kube/lease_client.h"

#include "kube/lease_json.h"
#include "util/json_text.h"
#include "util/rfc3339.h"

namespace leasehold::kube {

using election::StoreError;
using election::StoreResult;
using nlohmann::json;

LeaseClient::LeaseClient(ApiClient& api, std::string namespace_name, std::string name)
    : api_(api), namespace_(std::move(namespace_name)), name_(std::move(name)) {}

std::string lease_collection_path(const std::string& namespace_name) {
  return "/apis/coordination.k8s.io/v1/namespaces/" + namespace_name + "/leases";
}

std::string LeaseClient::collection_path() const { return lease_collection_path(namespace_); }
std::string LeaseClient::object_path() const { return collection_path() + "/" + name_; }

StoreResult LeaseClient::get(election::SteadyTime deadline) {
  return interpret(api_.send("get", web::http::methods::GET, object_path(), nullptr, deadline), false);
}

StoreResult LeaseClient::create(const election::LeaseRecord& record, election::SteadyTime deadline) {
  const std::string body = json_text(lease_to_json(record, namespace_, name_, json()));
  return interpret(api_.send("create", web::http::methods::POST, collection_path(), &body, deadline), true);
}

StoreResult LeaseClient::update(const election::LeaseRecord& record, election::SteadyTime deadline) {
  const std::string body = json_text(lease_to_json(record, namespace_, name_, base_object()));
  return interpret(api_.send("update", web::http::methods::PUT, object_path(), &body, deadline), false);
}

StoreResult LeaseClient::renew(const election::LeaseRecord& expected, const election::LeaseRecord& record,
                               election::SteadyTime deadline) {
  const auto update_instead = [&] { return update(record, deadline); };
  // A record without times (written by hand) has nothing to test: updated.
  if (!expected.acquire_time || !expected.renew_time || !record.renew_time) return update_instead();
  const auto patch = [&] {
    const auto test = [](const char* field, json value) {
      return json{{"op", "test"}, {"path", std::string("/spec/") + field}, {"value", std::move(value)}};
    };
    const json operations = json::array({
        test("holderIdentity", expected.holder_identity),
        test("leaseTransitions", expected.lease_transitions),
        test("acquireTime", util::format_micro_time(*expected.acquire_time)),
        test("renewTime", util::format_micro_time(*expected.renew_time)),
        json{{"op", "replace"}, {"path", "/spec/renewTime"}, {"value", util::format_micro_time(*record.renew_time)}},
        json{{"op", "replace"}, {"path", "/spec/leaseDurationSeconds"}, {"value", record.lease_duration_seconds}},
    });
    const std::string body = json_text(operations);
    const ApiResponse response =
        api_.send("patch", web::http::methods::PATCH, object_path(), &body, deadline, "application/json-patch+json");
    using Answer = RenewalMethod::PatchAnswer;
    if (response.transport == Transport::kNone) {
      if (response.status == 403 || response.status == 405 || response.status == 415) {
        return RenewalMethod::PatchOutcome{Answer::kNotAllowed, {}};
      }
      if (response.status == 422) return RenewalMethod::PatchOutcome{Answer::kTestFailed, {}};
    }
    return RenewalMethod::PatchOutcome{Answer::kAnswered, interpret(response, false)};
  };
  return renewal_method_.renew(patch, update_instead);
}

StoreResult LeaseClient::remove(const std::string& resource_version, election::SteadyTime deadline) {
  const std::string body = json_text(json{
      {"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"preconditions", json{{"resourceVersion", resource_version}}}});
  const ApiResponse response = api_.send("delete", web::http::methods::DEL, object_path(), &body, deadline);
  if (response.transport == Transport::kNone &&
      (response.status == 200 || response.status == 202 || response.status == 404)) {
    return StoreResult{};
  }
  StoreResult result = interpret(response, false);
  if (response.status == 200) result.error = StoreError::kNone;
  return result;
}

json LeaseClient::base_object() {
  std::lock_guard lock(mutex_);
  return last_object_;
}

bool LeaseClient::remember(json object, const election::LeaseRecord& record) {
  const auto revision = election::revision_of(record.resource_version);
  std::lock_guard lock(mutex_);
  if (last_revision_ && revision && *revision <= *last_revision_) return false;
  last_object_ = std::move(object);
  last_revision_ = revision;
  return true;
}

StoreResult LeaseClient::interpret(const ApiResponse& response, bool is_create) {
  StoreResult result;
  result.retry_after = response.retry_after;
  if (response.transport != Transport::kNone) {
    switch (response.transport) {
      case Transport::kTimeout: result.error = StoreError::kTimeout; break;
      case Transport::kRateLimited: result.error = StoreError::kRateLimited; break;
      default: result.error = StoreError::kNetwork;
    }
    result.detail = response.detail;
    return result;
  }
  const int status = response.status;
  result.detail = "HTTP " + std::to_string(status);
  if (status == 200 || status == 201) {
    json object = json::parse(response.body, nullptr, false);
    auto record = object.is_discarded() ? std::nullopt : lease_from_json(object);
    if (!record) {
      result.error = StoreError::kInvalidResponse;
      result.detail = "the API server's answer is not a Lease";
      return result;
    }
    remember(std::move(object), *record);
    result.record = std::move(record);
    return result;
  }
  // Kubernetes puts the reason in a Status object; keep its message for logs.
  json status_object = json::parse(response.body, nullptr, false);
  if (status_object.is_object() && status_object.contains("message") && status_object["message"].is_string()) {
    result.detail += ": " + status_object["message"].get<std::string>();
  }
  switch (status) {
    case 404: result.error = StoreError::kNotFound; break;
    case 409: result.error = is_create ? StoreError::kAlreadyExists : StoreError::kConflict; break;
    case 401: result.error = StoreError::kUnauthorized; break;
    case 403: result.error = StoreError::kForbidden; break;
    case 429: result.error = StoreError::kTooManyRequests; break;
    default: result.error = status >= 500 ? StoreError::kServerError : StoreError::kInvalidResponse;
  }
  return result;
}

}  // namespace leasehold::kube
