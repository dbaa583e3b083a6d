// LeaseClient against a scripted API server: HTTP answers as store results, updates that keep
// the fields of the Lease last read, the renewal's JSON patch and RenewalMethod's fallbacks to
// updates (the one place that policy is tested), and the watch's echoes.
#include "kube/lease_client.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "api_test_support.h"
#include "fakes.h"
#include "kube/lease_json.h"
#include "scripted_server.h"
#include "util/rfc3339.h"

namespace leasehold::testing {
namespace {

using namespace std::chrono_literals;
using election::LeaseRecord;
using election::SteadyTime;
using election::StoreError;
using kube::ApiClient;
using kube::ApiResponse;
using kube::LeaseClient;
using nlohmann::json;

const char* const kLeasePath = "/apis/coordination.k8s.io/v1/namespaces/ns/leases/job";

// A Lease as the API server returns it.
std::string lease_body(const std::string& holder, int transitions, const std::string& resource_version,
                       const std::string& renew = "2026-11-26T19:00:10.500000Z") {
  return json{{"apiVersion", "coordination.k8s.io/v1"},
              {"kind", "Lease"},
              {"metadata",
               {{"name", "job"},
                {"namespace", "ns"},
                {"resourceVersion", resource_version},
                {"annotations", {{"other-tool/note", "kept"}}}}},
              {"spec",
               {{"holderIdentity", holder},
                {"leaseDurationSeconds", 15},
                {"acquireTime", "2026-11-26T19:00:00.000001Z"},
                {"renewTime", renew},
                {"leaseTransitions", transitions}}}}
      .dump();
}

// The record of lease_body(), and the renewal of it that an elector would ask for.
LeaseRecord held(const std::string& resource_version = "100") {
  LeaseRecord r;
  r.holder_identity = "me";
  r.lease_duration_seconds = 15;
  r.acquire_time = util::parse_rfc3339("2026-11-26T19:00:00.000001Z");
  r.renew_time = util::parse_rfc3339("2026-11-26T19:00:10.500000Z");
  r.lease_transitions = 2;
  r.resource_version = resource_version;
  return r;
}
LeaseRecord renewal_of(LeaseRecord r) {
  r.renew_time = *r.renew_time + 2s;
  return r;
}

// An ApiClient and a LeaseClient for Lease ns/job on a scripted server.
struct LeaseFixture {
  ScriptedServer server;
  CountingObserver observer;
  ApiClient api{config_for(server), unlimited(), &observer, system_clock};
  LeaseClient client{api, "ns", "job"};

  std::vector<std::string> methods() {
    std::vector<std::string> seen;
    for (const auto& r : server.requests()) seen.push_back(r.method);
    return seen;
  }
};

}  // namespace

TEST_CASE_FIXTURE(LeaseFixture, "LeaseClient: HTTP answers become store results") {
  struct Case {
    int status;
    std::string body;
    StoreError get_error;
    StoreError create_error;
  };
  for (const Case& c : std::vector<Case>{
           {200, lease_body("me", 2, "100"), StoreError::kNone, StoreError::kNone},
           {200, "not json", StoreError::kInvalidResponse, StoreError::kInvalidResponse},
           {200, R"({"kind":"Pod","metadata":{}})", StoreError::kInvalidResponse, StoreError::kInvalidResponse},
           {404, R"({"kind":"Status","message":"not found"})", StoreError::kNotFound, StoreError::kNotFound},
           {409, "{}", StoreError::kConflict, StoreError::kAlreadyExists},
           {401, "{}", StoreError::kUnauthorized, StoreError::kUnauthorized},
           {403, "{}", StoreError::kForbidden, StoreError::kForbidden},
           {429, "{}", StoreError::kTooManyRequests, StoreError::kTooManyRequests},
           {500, "{}", StoreError::kServerError, StoreError::kServerError},
           {503, "", StoreError::kServerError, StoreError::kServerError},
           {400, "{}", StoreError::kInvalidResponse, StoreError::kInvalidResponse},
           // A redirect fails the request (a renewal too: the leader stops claiming at its
           // deadline); followed, it would take the next answer and carry the token.
           {307, "", StoreError::kInvalidResponse, StoreError::kInvalidResponse},
       }) {
    CAPTURE(c.status);
    CAPTURE(c.body);
    const std::vector<std::pair<std::string, std::string>> elsewhere{{"Location", server.url() + "/elsewhere"}};
    server.then({c.status, c.body, elsewhere});
    server.then({c.status == 200 ? 201 : c.status, c.body, elsewhere});
    CHECK(client.get(in(30s)).error == c.get_error);
    CHECK(client.create(held(""), in(30s)).error == c.create_error);
  }
  const auto requests = server.requests();
  REQUIRE(requests.size() == 24);
  CHECK(requests[0].method == "GET");
  CHECK(requests[0].target == kLeasePath);
  CHECK(requests[1].method == "POST");
  CHECK(requests[1].target == "/apis/coordination.k8s.io/v1/namespaces/ns/leases");
}

TEST_CASE_FIXTURE(LeaseFixture, "LeaseClient: a Status message reaches the detail; Retry-After the result") {
  server.then(
      {429, R"({"kind":"Status","message":"too many requests, please try again later"})", {{"Retry-After", "9"}}});
  const auto result = client.get(in(30s));
  CHECK(result.error == StoreError::kTooManyRequests);
  CHECK(result.retry_after == std::optional<election::Duration>(9s));
  CHECK(result.detail == "HTTP 429: too many requests, please try again later");
}

TEST_CASE_FIXTURE(LeaseFixture, "LeaseClient: an update keeps the fields of the Lease last read") {
  server.then({200, lease_body("me", 2, "100")});
  REQUIRE(client.get(in(30s)).ok());
  server.then({200, lease_body("me", 2, "101")});
  const auto result = client.update(renewal_of(held("100")), in(30s));
  REQUIRE(result.ok());
  CHECK(result.record->resource_version == "101");
  const json sent = json::parse(server.requests().back().body);
  CHECK(server.requests().back().method == "PUT");
  CHECK(sent["metadata"]["resourceVersion"] == "100");
  CHECK(sent["metadata"]["annotations"]["other-tool/note"] == "kept");
  CHECK(sent["spec"]["renewTime"] == "2026-11-26T19:00:12.500000Z");
}

TEST_CASE_FIXTURE(LeaseFixture, "LeaseClient: a renewal is a JSON patch that tests the term and replaces the renewal") {
  server.then({200, lease_body("me", 2, "101", "2026-11-26T19:00:12.500000Z")});
  const auto result = client.renew(held(), renewal_of(held()), in(30s));
  REQUIRE(result.ok());
  CHECK(result.record->resource_version == "101");
  const auto request = server.requests().at(0);
  CHECK(request.method == "PATCH");
  CHECK(request.target == kLeasePath);
  CHECK(request.header("content-type") == "application/json-patch+json");
  CHECK(json::parse(request.body) == json::parse(R"([
    {"op": "test", "path": "/spec/holderIdentity", "value": "me"},
    {"op": "test", "path": "/spec/leaseTransitions", "value": 2},
    {"op": "test", "path": "/spec/acquireTime", "value": "2026-11-26T19:00:00.000001Z"},
    {"op": "test", "path": "/spec/renewTime", "value": "2026-11-26T19:00:10.500000Z"},
    {"op": "replace", "path": "/spec/renewTime", "value": "2026-11-26T19:00:12.500000Z"},
    {"op": "replace", "path": "/spec/leaseDurationSeconds", "value": 15}])"));
}

TEST_CASE_FIXTURE(LeaseFixture, "LeaseClient: the watch's echo of an answer it read is not news; a newer event is") {
  server.then({200, lease_body("me", 2, "101", "2026-11-26T19:00:12.500000Z")});
  const auto renewed = client.renew(held(), renewal_of(held()), in(30s));
  REQUIRE(renewed.ok());
  const auto event = [](const std::string& resource_version) {
    const json object = json::parse(lease_body("me", 2, resource_version));
    return std::make_pair(object, *kube::lease_from_json(object));
  };
  const auto [echo, echo_record] = event("101");
  CHECK_FALSE(client.remember(echo, echo_record));  // the renewal's own event
  const auto [older, older_record] = event("99");
  CHECK_FALSE(client.remember(older, older_record));
  const auto [newer, newer_record] = event("102");
  CHECK(client.remember(newer, newer_record));
  CHECK_FALSE(client.remember(newer, newer_record));  // the same event twice
  // A revision that is not a number cannot be ordered: always news.
  const auto [opaque, opaque_record] = event("a7");
  CHECK(client.remember(opaque, opaque_record));
}

TEST_CASE_FIXTURE(LeaseFixture,
                  "LeaseClient: a patch not allowed (403, 405, 415) turns renewals into updates for good") {
  for (const int refusal : {403, 405, 415}) {
    CAPTURE(refusal);
    ScriptedServer own;
    ApiClient api_of_own(config_for(own), unlimited(), nullptr, system_clock);
    LeaseClient lease(api_of_own, "ns", "job");
    own.then({refusal, R"({"kind":"Status","message":"patch is not allowed"})"});
    own.then({200, lease_body("me", 2, "101")});
    own.then({200, lease_body("me", 2, "102")});
    CHECK(lease.renew(held("100"), renewal_of(held("100")), in(30s)).ok());
    CHECK(lease.renew(held("101"), renewal_of(held("101")), in(30s)).ok());
    const auto requests = own.requests();
    REQUIRE(requests.size() == 3);
    CHECK(requests[0].method == "PATCH");
    CHECK(requests[1].method == "PUT");
    CHECK(json::parse(requests[1].body)["metadata"]["resourceVersion"] == "100");
    CHECK(requests[2].method == "PUT");
    CHECK(json::parse(requests[2].body)["metadata"]["resourceVersion"] == "101");
  }
}

TEST_CASE_FIXTURE(LeaseFixture,
                  "LeaseClient: a failed patch test (422) on a changed Lease is a conflict; patching stays") {
  server.then({422, R"({"kind":"Status","message":"the server rejected our request due to an error in our request"})"});
  server.then({409, R"({"kind":"Status","message":"the object has been modified"})"});
  server.then({200, lease_body("me", 2, "103")});
  CHECK(client.renew(held("100"), renewal_of(held("100")), in(30s)).error == StoreError::kConflict);
  CHECK(client.renew(held("102"), renewal_of(held("102")), in(30s)).ok());
  CHECK(methods() == std::vector<std::string>{"PATCH", "PUT", "PATCH"});
  // The compare-and-swap is on the revision the renewal was based on.
  CHECK(json::parse(server.requests()[1].body)["metadata"]["resourceVersion"] == "100");
}

TEST_CASE_FIXTURE(LeaseFixture, "LeaseClient: a failed patch test (422) on an unchanged Lease turns patching off") {
  server.then({422, "{}"});
  server.then({200, lease_body("me", 2, "101")});
  server.then({200, lease_body("me", 2, "102")});
  const auto result = client.renew(held("100"), renewal_of(held("100")), in(30s));
  REQUIRE(result.ok());
  CHECK(result.record->resource_version == "101");
  CHECK(client.renew(held("101"), renewal_of(held("101")), in(30s)).ok());
  CHECK(methods() == std::vector<std::string>{"PATCH", "PUT", "PUT"});
}

TEST_CASE_FIXTURE(LeaseFixture, "LeaseClient: a 422 whose update fails otherwise keeps patching on") {
  server.then({422, "{}"});
  server.then({503, "{}"});
  server.then({200, lease_body("me", 2, "101")});
  CHECK(client.renew(held("100"), renewal_of(held("100")), in(30s)).error == StoreError::kServerError);
  CHECK(client.renew(held("100"), renewal_of(held("100")), in(30s)).ok());
  CHECK(methods() == std::vector<std::string>{"PATCH", "PUT", "PATCH"});
}

TEST_CASE_FIXTURE(LeaseFixture, "LeaseClient: other patch answers are the renewal's result; patching stays on") {
  server.then({409, "{}"});
  server.then({404, "{}"});
  server.then({500, "{}"});
  server.then({200, lease_body("me", 2, "101")});
  CHECK(client.renew(held(), renewal_of(held()), in(30s)).error == StoreError::kConflict);
  CHECK(client.renew(held(), renewal_of(held()), in(30s)).error == StoreError::kNotFound);
  CHECK(client.renew(held(), renewal_of(held()), in(30s)).error == StoreError::kServerError);
  CHECK(client.renew(held(), renewal_of(held()), in(30s)).ok());
  CHECK(methods() == std::vector<std::string>{"PATCH", "PATCH", "PATCH", "PATCH"});
}

TEST_CASE_FIXTURE(LeaseFixture, "LeaseClient: a renewal of a record without times is an update") {
  LeaseRecord no_times = held("100");
  no_times.acquire_time.reset();
  server.then({200, lease_body("me", 2, "101")});
  CHECK(client.renew(no_times, renewal_of(held("100")), in(30s)).ok());
  CHECK(methods() == std::vector<std::string>{"PUT"});
}

}  // namespace leasehold::testing
