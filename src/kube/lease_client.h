// LeaseClient: the LeaseStore of one named Lease over the Kubernetes API.
// Maps HTTP answers to StoreErrors (404, 409, 401, 403, 429, 5xx, timeouts,
// garbage) and keeps the last full object seen so that writes preserve fields
// leasehold does not manage.
//
// Thread-safe: get/create/update/renew are called on the election loop, remember()
// on the watch thread.
#pragma once

#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "election/lease_store.h"
#include "kube/api_client.h"
#include "kube/renewal_method.h"

namespace leasehold::kube {

// The path of the Leases of a namespace: what a LeaseClient creates in, and what one watch of
// several Leases follows.
std::string lease_collection_path(const std::string& namespace_name);

class LeaseClient final : public election::LeaseStore {
 public:
  LeaseClient(ApiClient& api, std::string namespace_name, std::string name);

  election::StoreResult get(election::SteadyTime deadline) override;
  election::StoreResult create(const election::LeaseRecord& record, election::SteadyTime deadline) override;
  election::StoreResult update(const election::LeaseRecord& record, election::SteadyTime deadline) override;
  // A JSON patch whose `test` operations guard the term (holder, transitions,
  // acquire and renew times) in place of a resourceVersion, or an update, as
  // RenewalMethod decides (kube/renewal_method.h).
  election::StoreResult renew(const election::LeaseRecord& expected, const election::LeaseRecord& record,
                              election::SteadyTime deadline) override;

  // Deletes the Lease if it is still at `resource_version` (a precondition: a write in between
  // wins). kNone when deleted or already gone (404), kConflict when it changed.
  election::StoreResult remove(const std::string& resource_version, election::SteadyTime deadline);

  // A full object seen elsewhere (the watch), already read as `record`, kept as
  // the base of later writes if it is the newest seen. False when this client has
  // already seen that revision or a newer one (in an answer to its own request, or
  // an earlier event): the elector has it, as this client hands every answer it reads
  // to the elector. Numeric revisions only; any other is always new.
  bool remember(nlohmann::json object, const election::LeaseRecord& record);

  std::string collection_path() const;
  std::string object_path() const;

 private:
  election::StoreResult interpret(const ApiResponse& response, bool is_create);
  nlohmann::json base_object();

  ApiClient& api_;
  const std::string namespace_;
  const std::string name_;
  std::mutex mutex_;
  nlohmann::json last_object_;
  std::optional<std::uint64_t> last_revision_;
  RenewalMethod renewal_method_;
};

}  // namespace leasehold::kube
