// ApiClient against a scripted server on a loopback port: the request it sends, kept-alive
// connections, redirects, deadlines, refused connections, the token read again after a 401 and
// on its age; and Retry-After parsing.
#include "kube/api_client.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <random>

#include "api_test_support.h"
#include "fakes.h"
#include "scripted_server.h"

namespace leasehold::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using election::LeaseRecord;
using election::SteadyTime;
using election::StoreError;
using kube::ApiClient;
using kube::ApiResponse;
using nlohmann::json;

}  // namespace

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

}  // namespace leasehold::testing
