// The client side of the API server: RateLimiter over given times, Retry-After
// parsing, and ApiClient and LeaseClient against a scripted server on a
// loopback port (HTTP answers, timeouts, token refresh, the renewal patch and
// its fallbacks to updates).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <random>

#include "fakes.h"
#include "kube/api_client.h"
#include "kube/lease_client.h"
#include "kube/lease_json.h"
#include "kube/rate_limiter.h"
#include "scripted_server.h"
#include "util/rfc3339.h"

namespace leasehold::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using election::LeaseRecord;
using election::SteadyTime;
using election::StoreError;
using kube::ApiClient;
using kube::ApiResponse;
using kube::LeaseClient;
using kube::RateLimiter;
using nlohmann::json;

const char* const kLeasePath = "/apis/coordination.k8s.io/v1/namespaces/ns/leases/job";

struct CountingObserver final : kube::RequestObserver {
  void on_request(const std::string& verb, const std::string& outcome, election::Duration) override {
    std::lock_guard lock(mutex);
    seen.push_back(verb + " " + outcome);
  }
  std::vector<std::string> outcomes() {
    std::lock_guard lock(mutex);
    return seen;
  }
  std::mutex mutex;
  std::vector<std::string> seen;
};

kube::KubeConfig config_for(const ScriptedServer& server) {
  kube::KubeConfig config;
  config.server = server.url();
  config.token = "fixed-token";
  return config;
}

kube::ApiClientOptions unlimited() {
  kube::ApiClientOptions options;
  options.qps = 0;  // no client-side limit: the tests are about the answers
  return options;
}

SteadyTime in(election::Duration d) { return std::chrono::steady_clock::now() + d; }

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

}  // namespace

// --- RateLimiter -----------------------------------------------------------

TEST_CASE("rate limiter: a burst goes at once, then one request per 1/qps") {
  RateLimiter limiter(2, 3);
  const SteadyTime t0{std::chrono::hours(1)};
  const SteadyTime far = t0 + 1h;
  for (int i = 0; i < 3; ++i) CHECK(limiter.reserve(t0, far) == t0);
  CHECK(limiter.reserve(t0, far) == t0 + 500ms);
  CHECK(limiter.reserve(t0, far) == t0 + 1000ms);  // queued behind the one before
  // Tokens come back with time, no more than the burst.
  RateLimiter refilled(2, 3);
  for (int i = 0; i < 3; ++i) REQUIRE(refilled.reserve(t0, far));
  CHECK(refilled.reserve(t0 + 10s, far) == t0 + 10s);
  CHECK(refilled.reserve(t0 + 10s, far) == t0 + 10s);
  CHECK(refilled.reserve(t0 + 10s, far) == t0 + 10s);
  CHECK(refilled.reserve(t0 + 10s, far) == t0 + 10s + 500ms);
}

TEST_CASE("rate limiter: no slot before the deadline reserves nothing") {
  RateLimiter limiter(1, 1);
  const SteadyTime t0{std::chrono::hours(1)};
  REQUIRE(limiter.reserve(t0, t0) == t0);
  CHECK_FALSE(limiter.reserve(t0, t0 + 999ms).has_value());
  CHECK_FALSE(limiter.reserve(t0, t0 + 999ms).has_value());
  // The refused requests took nothing: the next slot is still one second on.
  CHECK(limiter.reserve(t0, t0 + 1s) == t0 + 1s);
}

TEST_CASE("rate limiter: an earlier time from another thread neither refills nor goes back in time") {
  RateLimiter limiter(1, 1);
  const SteadyTime t0{std::chrono::hours(1)};
  REQUIRE(limiter.reserve(t0 + 5s, t0 + 1h) == t0 + 5s);
  CHECK(limiter.reserve(t0, t0 + 1h) == t0 + 6s);
}

TEST_CASE("rate limiter: qps 0 means no limit") {
  RateLimiter limiter(0, 1);
  const SteadyTime t0{std::chrono::hours(1)};
  for (int i = 0; i < 100; ++i) CHECK(limiter.reserve(t0, t0) == t0);
}

// --- Retry-After -------------------------------------------------------------

TEST_CASE("Retry-After: whole seconds are read; dates, fractions, junk and absurd values are not") {
  const auto parse = [](const char* value) { return kube::parse_retry_after(std::string_view(value)); };
  CHECK(parse("7") == std::optional<election::Duration>(7s));
  CHECK(parse("0") == std::optional<election::Duration>(0s));
  CHECK(parse("86399") == std::optional<election::Duration>(86399s));
  CHECK_FALSE(parse("86400"));
  CHECK_FALSE(parse("-1"));
  CHECK_FALSE(parse(""));
  CHECK_FALSE(parse("soon"));
  CHECK_FALSE(parse("Wed, 21 Oct 2026 07:28:00 GMT"));
  CHECK_FALSE(parse("1.5"));
  CHECK_FALSE(parse("5abc"));
  CHECK_FALSE(parse("99999999999999999999999"));
}

TEST_CASE("ApiClient: Retry-After is found whatever the case of its name") {
  ScriptedServer server;
  server.then({503, "{}", {{"retry-after", "3"}}});
  ApiClient api(config_for(server), unlimited(), nullptr, system_clock);
  CHECK(api.send("get", web::http::methods::GET, "/x", nullptr, in(30s)).retry_after ==
        std::optional<election::Duration>(3s));
}

// --- ApiClient ---------------------------------------------------------------

TEST_CASE("ApiClient: a request carries the token, agent and body; the answer and Retry-After come back") {
  ScriptedServer server;
  server.then({429, R"({"kind":"Status","message":"slow down"})", {{"Retry-After", "4"}}});
  CountingObserver observer;
  ApiClient api(config_for(server), unlimited(), &observer, system_clock);
  const std::string body = R"({"a":1})";
  const ApiResponse response = api.send("update", web::http::methods::PUT, "/x", &body, in(30s));
  CHECK(response.transport == kube::Transport::kNone);
  CHECK(response.status == 429);
  CHECK(response.retry_after == std::optional<election::Duration>(4s));
  CHECK(response.body.find("slow down") != std::string::npos);
  const auto requests = server.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].method == "PUT");
  CHECK(requests[0].target == "/x");
  CHECK(requests[0].header("authorization") == "Bearer fixed-token");
  CHECK(requests[0].header("user-agent") == "leasehold");
  CHECK(requests[0].header("content-type") == "application/json");
  CHECK(requests[0].body == body);
  CHECK(observer.outcomes() == std::vector<std::string>{"update 429"});
}

TEST_CASE("ApiClient: requests one after another share one kept-alive connection") {
  ScriptedServer server;
  ApiClient api(config_for(server), unlimited(), nullptr, system_clock);
  for (int i = 0; i < 3; ++i) {
    server.then({200, "{}"});
    REQUIRE(api.send("get", web::http::methods::GET, "/a", nullptr, in(30s)).status == 200);
  }
  CHECK(server.requests().size() == 3);
  CHECK(server.connections_accepted() == 1);
  CHECK(server.requests()[0].header("host") == server.url().substr(std::string("http://").size()));
}

TEST_CASE("ApiClient: a kept-alive connection the server closed meanwhile is replaced, the request sent once") {
  ScriptedServer server;
  CountingObserver observer;
  ApiClient api(config_for(server), unlimited(), &observer, system_clock);
  server.then(Answer(200, R"({"first":1})").then_close());
  REQUIRE(api.send("get", web::http::methods::GET, "/a", nullptr, in(30s)).status == 200);
  server.then({200, R"({"second":2})"});
  const std::string body = R"({"a":1})";
  const ApiResponse second = api.send("update", web::http::methods::PUT, "/b", &body, in(30s));
  CHECK(second.transport == kube::Transport::kNone);
  CHECK(second.status == 200);
  CHECK(second.body == R"({"second":2})");
  const auto requests = server.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[1].target == "/b");
  CHECK(requests[1].body == body);
  CHECK(server.connections_accepted() == 2);
  CHECK(observer.outcomes() == std::vector<std::string>{"get 200", "update 200"});
}

TEST_CASE("ApiClient: a redirect is the answer, never followed") {
  ScriptedServer server;
  server.then({302, "", {{"Location", server.url() + "/elsewhere"}}});
  server.then({200, "{}"});
  CountingObserver observer;
  ApiClient api(config_for(server), unlimited(), &observer, system_clock);
  const ApiResponse response = api.send("get", web::http::methods::GET, "/x", nullptr, in(30s));
  CHECK(response.transport == kube::Transport::kNone);
  CHECK(response.status == 302);
  const auto requests = server.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].target == "/x");
  CHECK(observer.outcomes() == std::vector<std::string>{"get 302"});
}

TEST_CASE("ApiClient: a hung API server costs a timeout at the deadline, and the next request works") {
  ScriptedServer server;
  server.then(Answer::hung());
  server.then({200, "{}"});
  CountingObserver observer;
  ApiClient api(config_for(server), unlimited(), &observer, system_clock);
  // The bound of the future only keeps a broken client from hanging the test.
  auto timed_out = std::async(std::launch::async,
                              [&] { return api.send("get", web::http::methods::GET, "/hung", nullptr, in(300ms)); });
  REQUIRE(timed_out.wait_for(60s) == std::future_status::ready);
  const ApiResponse response = timed_out.get();
  CHECK(response.transport == kube::Transport::kTimeout);
  CHECK(response.status == 0);
  CHECK(observer.outcomes() == std::vector<std::string>{"get timeout"});
  const ApiResponse next = api.send("get", web::http::methods::GET, "/next", nullptr, in(30s));
  CHECK(next.transport == kube::Transport::kNone);
  CHECK(next.status == 200);
}

TEST_CASE("ApiClient: a deadline already past is a timeout, and nothing is sent") {
  ScriptedServer server;
  CountingObserver observer;
  kube::ApiClientOptions limited;
  limited.qps = 1;
  limited.burst = 1;
  ApiClient api(config_for(server), limited, &observer, system_clock);
  server.then({200, "{}"});
  REQUIRE(api.send("get", web::http::methods::GET, "/a", nullptr, in(30s)).status == 200);
  // The one token is spent: the next slot is a second away, past this deadline.
  const ApiResponse limited_out = api.send("get", web::http::methods::GET, "/b", nullptr, in(100ms));
  CHECK(limited_out.transport == kube::Transport::kRateLimited);
  CHECK(server.requests().size() == 1);
  CHECK(observer.outcomes().back() == "get rate_limited");
}

TEST_CASE("ApiClient: a refused connection is a network error") {
  std::string url;
  {
    ScriptedServer gone;
    url = gone.url();
  }
  kube::KubeConfig config;
  config.server = url;
  CountingObserver observer;
  ApiClient api(config, unlimited(), &observer, system_clock);
  const ApiResponse response = api.send("get", web::http::methods::GET, "/x", nullptr, in(30s));
  CHECK(response.transport == kube::Transport::kNetwork);
  CHECK(observer.outcomes() == std::vector<std::string>{"get network"});
}

TEST_CASE("ApiClient: after a 401 the token file is read again and the request retried once") {
  struct TokenFile {
    ~TokenFile() { fs::remove(path); }
    fs::path path = fs::temp_directory_path() / ("leasehold-token-" + std::to_string(std::random_device{}()));
  } file;
  const fs::path& token = file.path;
  std::ofstream(token) << "old-token\n";
  ScriptedServer server;
  kube::KubeConfig config;
  config.server = server.url();
  config.token_file = token.string();
  CountingObserver observer;
  ApiClient api(config, unlimited(), &observer, system_clock);
  server.then({200, "{}"});
  REQUIRE(api.send("get", web::http::methods::GET, "/a", nullptr, in(30s)).status == 200);
  std::ofstream(token) << "new-token\n";  // rotated; the client reads it again only after a minute or a 401
  server.then({401, "{}"});
  server.then({200, "{}"});
  server.then({401, "{}"});
  server.then({401, "{}"});
  CHECK(api.send("get", web::http::methods::GET, "/b", nullptr, in(30s)).status == 200);
  // A second 401 in a row is the answer: one retry per request.
  CHECK(api.send("get", web::http::methods::GET, "/c", nullptr, in(30s)).status == 401);
  const auto requests = server.requests();
  REQUIRE(requests.size() == 5);
  CHECK(requests[0].header("authorization") == "Bearer old-token");
  CHECK(requests[1].header("authorization") == "Bearer old-token");
  CHECK(requests[2].header("authorization") == "Bearer new-token");
  CHECK(requests[3].target == "/c");
  CHECK(requests[4].target == "/c");
}

TEST_CASE("ApiClient: the token file is read again once its age on the client's clock reaches token_refresh") {
  struct TokenFile {
    ~TokenFile() { fs::remove(path); }
    fs::path path = fs::temp_directory_path() / ("leasehold-token-" + std::to_string(std::random_device{}()));
  } file;
  std::ofstream(file.path) << "first\n";
  ScriptedServer server;
  kube::KubeConfig config;
  config.server = server.url();
  config.token_file = file.path.string();
  kube::ApiClientOptions options = unlimited();
  options.token_refresh = 60s;
  FakeClock clock;
  ApiClient api(config, options, nullptr, clock);
  const auto get = [&] {
    server.then({200, "{}"});
    return api.send("get", web::http::methods::GET, "/a", nullptr, clock.steady_now() + 30s).status;
  };
  REQUIRE(get() == 200);
  std::ofstream(file.path) << "second\n";  // the kubelet rotated the projected token
  clock.advance(59s);
  REQUIRE(get() == 200);
  clock.advance(1s);
  REQUIRE(get() == 200);
  const auto requests = server.requests();
  REQUIRE(requests.size() == 3);
  CHECK(requests[0].header("authorization") == "Bearer first");
  CHECK(requests[1].header("authorization") == "Bearer first");
  CHECK(requests[2].header("authorization") == "Bearer second");
}

TEST_CASE("ApiClient: the client-side rate limit counts on the client's clock") {
  ScriptedServer server;
  kube::ApiClientOptions limited;
  limited.qps = 1;
  limited.burst = 1;
  FakeClock clock;
  ApiClient api(config_for(server), limited, nullptr, clock);
  const auto get = [&](election::Duration within) {
    return api.send("get", web::http::methods::GET, "/a", nullptr, clock.steady_now() + within).transport;
  };
  server.then({200, "{}"});
  REQUIRE(get(10s) == kube::Transport::kNone);
  // The bucket is empty and the clock has not moved: the next slot is a second away.
  CHECK(get(500ms) == kube::Transport::kRateLimited);
  clock.advance(1s);
  server.then({200, "{}"});
  CHECK(get(500ms) == kube::Transport::kNone);
  CHECK(server.requests().size() == 2);
}

// --- LeaseClient -------------------------------------------------------------

namespace {

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
