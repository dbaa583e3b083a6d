// The app-health state machine step by step on a fake clock; the probe I/O
// against real loopback sockets; the Prober on an io_context run by the test's
// threads (its reports, stop() and destruction at every stage); the health
// settings as flags and YAML.
#include "health/app_health.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "config/config.h"
#include "fakes.h"
#include "health/probe_settings.h"
#include "health/prober.h"
#include "io_threads.h"
#include "loopback_listener.h"

namespace leasehold::testing {
namespace {

using namespace std::chrono_literals;
using health::AppHealth;
using health::Health;
using health::ProbeOutcome;
using health::ProbeSettings;

// The setting named, or empty when nothing is wrong.
std::string setting_of(const std::optional<util::SettingError>& error) { return error ? error->setting : ""; }

ProbeSettings settings(int failures, int successes, bool require = false) {
  ProbeSettings s;
  s.http_url = "http://localhost:8080/healthz";
  s.period = 10s;
  s.timeout = 1s;
  s.failure_threshold = failures;
  s.success_threshold = successes;
  s.require_before_claim = require;
  return s;
}

// One probe that takes `took` and ends with `outcome`; returns whether the health changed.
bool probe(AppHealth& h, FakeClock& clock, ProbeOutcome outcome, Duration took = 10ms) {
  REQUIRE(h.start_probe());
  clock.advance(took);
  return h.finish_probe(outcome);
}

// Waits on the fake clock until the next probe is due.
void wait_due(AppHealth& h, FakeClock& clock) {
  const SteadyTime due = h.next_probe_at();
  if (due > clock.steady_now()) clock.advance(due - clock.steady_now());
}

}  // namespace

TEST_CASE("health is unknown until a threshold is met, then follows the thresholds in a row") {
  FakeClock clock;
  AppHealth h(settings(3, 2), clock);
  CHECK(h.snapshot().health == Health::kUnknown);
  CHECK(h.snapshot().eligible);  // not judged yet: may claim unless required otherwise
  CHECK_FALSE(probe(h, clock, ProbeOutcome::kSuccess));
  CHECK(h.snapshot().health == Health::kUnknown);
  wait_due(h, clock);
  CHECK(probe(h, clock, ProbeOutcome::kSuccess));
  CHECK(h.snapshot().health == Health::kHealthy);
  CHECK(h.snapshot().ever_healthy);
  const SteadyTime healthy_since = h.snapshot().since;
  CHECK(healthy_since == clock.steady_now());

  // Two failures are not enough; a success in between starts the count again.
  wait_due(h, clock);
  CHECK_FALSE(probe(h, clock, ProbeOutcome::kFailure));
  wait_due(h, clock);
  CHECK_FALSE(probe(h, clock, ProbeOutcome::kRefused));
  wait_due(h, clock);
  CHECK_FALSE(probe(h, clock, ProbeOutcome::kSuccess));
  CHECK(h.snapshot().consecutive_failures == 0);
  wait_due(h, clock);
  CHECK_FALSE(probe(h, clock, ProbeOutcome::kFailure));
  wait_due(h, clock);
  CHECK_FALSE(probe(h, clock, ProbeOutcome::kTimeout));
  CHECK(h.snapshot().health == Health::kHealthy);
  CHECK(h.snapshot().since == healthy_since);
  wait_due(h, clock);
  CHECK(probe(h, clock, ProbeOutcome::kFailure));
  CHECK(h.snapshot().health == Health::kUnhealthy);
  CHECK_FALSE(h.snapshot().eligible);
  CHECK(h.snapshot().consecutive_failures == 3);

  // Back: success-threshold successes in a row.
  wait_due(h, clock);
  CHECK_FALSE(probe(h, clock, ProbeOutcome::kSuccess));
  wait_due(h, clock);
  CHECK_FALSE(probe(h, clock, ProbeOutcome::kFailure));
  wait_due(h, clock);
  CHECK_FALSE(probe(h, clock, ProbeOutcome::kSuccess));
  CHECK(h.snapshot().health == Health::kUnhealthy);
  wait_due(h, clock);
  CHECK(probe(h, clock, ProbeOutcome::kSuccess));
  CHECK(h.snapshot().health == Health::kHealthy);
  CHECK(h.snapshot().eligible);
}

TEST_CASE("an app failing from the start becomes unhealthy without ever being healthy") {
  FakeClock clock;
  AppHealth h(settings(2, 1), clock);
  CHECK_FALSE(probe(h, clock, ProbeOutcome::kRefused));
  wait_due(h, clock);
  CHECK(probe(h, clock, ProbeOutcome::kRefused));
  CHECK(h.snapshot().health == Health::kUnhealthy);
  CHECK_FALSE(h.snapshot().ever_healthy);
  CHECK_FALSE(h.snapshot().eligible);
}

TEST_CASE("require-before-claim: not eligible until the app was healthy once") {
  FakeClock clock;
  AppHealth h(settings(3, 1, true), clock);
  CHECK_FALSE(h.snapshot().eligible);
  CHECK_FALSE(probe(h, clock, ProbeOutcome::kFailure));
  CHECK_FALSE(h.snapshot().eligible);
  wait_due(h, clock);
  CHECK(probe(h, clock, ProbeOutcome::kSuccess));
  CHECK(h.snapshot().eligible);
}

TEST_CASE("probes start one period apart, one at a time") {
  FakeClock clock;
  AppHealth h(settings(3, 1), clock);
  const SteadyTime t0 = clock.steady_now();
  CHECK(h.next_probe_at() == t0);  // the first at once
  REQUIRE(h.start_probe());
  CHECK_FALSE(h.start_probe());  // never two in flight
  CHECK(h.probe_in_flight());
  CHECK(h.next_probe_at() == t0 + 1s);  // wake at the deadline of the one in flight
  clock.advance(300ms);
  h.finish_probe(ProbeOutcome::kSuccess);
  CHECK(h.next_probe_at() == t0 + 10s);  // periods count from starts, as the kubelet's do
  clock.advance(20s);                    // overslept: due at once, not twice
  CHECK(h.next_probe_at() == clock.steady_now());
}

TEST_CASE("a probe that outlives its timeout counts as a timeout, whatever it answers later") {
  FakeClock clock;
  AppHealth h(settings(1, 1), clock);
  REQUIRE(h.start_probe());
  clock.advance(1001ms);
  h.finish_probe(ProbeOutcome::kSuccess);  // answered after its deadline
  CHECK(h.snapshot().last_outcome == ProbeOutcome::kTimeout);
  CHECK(h.snapshot().health == Health::kUnhealthy);
  CHECK_FALSE(h.probe_in_flight());
  CHECK_FALSE(h.finish_probe(ProbeOutcome::kSuccess));  // no probe in flight: nothing to finish
  CHECK(h.snapshot().health == Health::kUnhealthy);

  wait_due(h, clock);
  REQUIRE(h.start_probe());
  clock.advance(1500ms);
  h.finish_probe(ProbeOutcome::kSuccess);  // a late 200 is still a timeout
  CHECK(h.snapshot().last_outcome == ProbeOutcome::kTimeout);
  CHECK(h.snapshot().health == Health::kUnhealthy);
}

TEST_CASE("health settings: URLs and addresses on loopback only") {
  std::string error;
  auto url = health::parse_http_url("http://localhost:8080/healthz?full=1", &error);
  REQUIRE(url.has_value());
  CHECK(url->address == "127.0.0.1");
  CHECK(url->port == 8080);
  CHECK(url->path == "/healthz?full=1");
  CHECK(url->host_header == "localhost:8080");
  auto bare = health::parse_http_url("http://127.0.0.2:81", &error);
  REQUIRE(bare.has_value());
  CHECK(bare->path == "/");
  auto v6 = health::parse_http_url("http://[::1]:9000/ok", &error);
  REQUIRE(v6.has_value());
  CHECK(v6->ipv6);
  CHECK_FALSE(health::parse_http_url("https://localhost:8080/", &error));
  CHECK_FALSE(health::parse_http_url("http://10.0.0.1:8080/", &error));
  CHECK_FALSE(health::parse_http_url("http://example.com:8080/", &error));
  CHECK_FALSE(health::parse_http_url("http://localhost/", &error));
  CHECK_FALSE(health::parse_http_url("http://localhost:0/", &error));
  CHECK_FALSE(health::parse_http_url("http://u:p@localhost:80/", &error));
  CHECK_FALSE(health::parse_http_url("http://localhost:80/a b", &error));
  auto port = health::parse_tcp_address("5432", &error);
  REQUIRE(port.has_value());
  CHECK(port->address == "127.0.0.1");
  CHECK(health::parse_tcp_address("localhost:6379", &error).has_value());
  CHECK_FALSE(health::parse_tcp_address("db:5432", &error));
  CHECK_FALSE(health::parse_tcp_address("70000", &error));
  CHECK_FALSE(health::parse_tcp_address("0", &error));
  auto tcp_v6 = health::parse_tcp_address("[::1]:5432", &error);
  REQUIRE(tcp_v6.has_value());
  CHECK(tcp_v6->ipv6);
  CHECK(tcp_v6->address == "::1");
  CHECK_FALSE(health::parse_tcp_address("[localhost]:5432", &error));
  CHECK_FALSE(health::parse_tcp_address("::1:5432", &error));
  CHECK_FALSE(health::parse_tcp_address("[::2]:5432", &error));
  CHECK_FALSE(health::parse_http_url("http://[localhost]:8080/", &error));

  ProbeSettings s = settings(3, 1);
  CHECK_FALSE(health::validate(s).has_value());
  s.tcp_address = "5432";
  CHECK(health::validate(s)->setting == "app-health-tcp");
  s.tcp_address.clear();
  s.timeout = 0s;
  CHECK(health::validate(s)->setting == "app-health-timeout");
  s.timeout = 1s;
  s.failure_threshold = 0;
  CHECK(health::validate(s)->setting == "app-health-failure-threshold");
  ProbeSettings off;
  off.require_before_claim = true;
  CHECK(health::validate(off)->setting == "app-health-require-before-claim");
}

TEST_CASE("health flags, environment and per-election YAML; errors name the setting") {
  auto none = [](const std::string&) { return std::string(); };
  auto parsed = config::parse_config(
      {"--election", "jobs", "--identity", "me", "--app-health-url", "http://localhost:8080/healthz",
       "--app-health-period", "2s", "--app-health-failure-threshold", "2", "--app-health-require-before-claim"},
      none);
  REQUIRE(parsed.config.has_value());
  CHECK(!config::validate(*parsed.config));
  const auto e = config::elections_of(*parsed.config).at(0);
  CHECK(e.app_health.enabled());
  CHECK(e.app_health.period == 2s);
  CHECK(e.app_health.failure_threshold == 2);
  CHECK(e.app_health.require_before_claim);

  auto env = [](const std::string& name) {
    return name == "LEASEHOLD_APP_HEALTH_TCP" ? std::string("localhost:99999") : std::string();
  };
  auto bad = config::parse_config({"--election", "jobs", "--identity", "me"}, env);
  REQUIRE(bad.config.has_value());
  CHECK(setting_of(config::validate(*bad.config)) == "--app-health-tcp");
  CHECK(setting_of(config::parse_config({"--app-health-success-threshold", "x"}, none).error) ==
        "--app-health-success-threshold");

  const std::string file = "/tmp/leasehold-health-test-" + std::to_string(::getpid()) + ".yaml";
  std::ofstream(file) << "election: a\nidentity: me\napp-health-tcp: \"8080\"\n"
                         "elections:\n- name: b\n  app-health-tcp: \"\"\n"
                         "- name: d\n  app-health-url: http://localhost:81/ok\n"
                         "- name: c\n  app-health-timeout: 0s\n";
  auto yaml = config::parse_config({"--config", file}, none);
  std::remove(file.c_str());
  REQUIRE(yaml.config.has_value());
  const auto all = config::elections_of(*yaml.config);
  CHECK(all.at(0).app_health.enabled());
  CHECK_FALSE(all.at(1).app_health.enabled());                       // turned off for one election
  CHECK(all.at(2).app_health.http_url == "http://localhost:81/ok");  // its own check replaces the TCP one
  CHECK(all.at(2).app_health.tcp_address.empty());
  CHECK(setting_of(config::validate(*yaml.config)) == "elections[c].app-health-timeout");
}

namespace {

using Listener = testing::LoopbackListener;

health::ProbeTarget http_target(int port) {
  std::string error;
  return *health::parse_http_url("http://127.0.0.1:" + std::to_string(port) + "/healthz", &error);
}

}  // namespace

TEST_CASE("HTTP probe: 2xx is a success, another status a failure, with the request a server expects") {
  Listener server;
  for (const auto& [reply, expected] : std::vector<std::pair<std::string, ProbeOutcome>>{
           {"HTTP/1.1 204 No Content\r\n\r\n", ProbeOutcome::kSuccess},
           {"HTTP/1.0 500 Oops\r\nContent-Length: 0\r\n\r\n", ProbeOutcome::kFailure},
           {"HTTP/1.1 301 Moved\r\nLocation: /x\r\n\r\n", ProbeOutcome::kFailure},
           {"garbage\r\n\r\n", ProbeOutcome::kFailure}}) {
    CAPTURE(reply);
    std::string detail;
    auto outcome = std::async(std::launch::async, [&] {
      return health::run_probe(http_target(server.port), std::chrono::steady_clock::now() + 10s, -1, &detail);
    });
    const std::string request = server.serve_one(reply);
    CHECK(outcome.get() == expected);
    CHECK(request.starts_with("GET /healthz HTTP/1.1\r\n"));
    CHECK(request.find("\r\nHost: 127.0.0.1:" + std::to_string(server.port) + "\r\n") != std::string::npos);
  }
}

TEST_CASE("HTTP probe: a hung app is cut off at the deadline; a closed port is refused") {
  Listener hung;  // accepts (the kernel's backlog) but never answers
  std::string detail;
  CHECK(health::run_probe(http_target(hung.port), std::chrono::steady_clock::now() + 200ms, -1, &detail) ==
        ProbeOutcome::kTimeout);
  int closed_port = 0;
  {
    Listener gone;
    closed_port = gone.port;
  }
  CHECK(health::run_probe(http_target(closed_port), std::chrono::steady_clock::now() + 5s, -1, &detail) ==
        ProbeOutcome::kRefused);
  std::string error;
  auto tcp = health::parse_tcp_address(std::to_string(hung.port), &error);
  CHECK(health::run_probe(*tcp, std::chrono::steady_clock::now() + 5s, -1, &detail) == ProbeOutcome::kSuccess);
  tcp->port = closed_port;
  CHECK(health::run_probe(*tcp, std::chrono::steady_clock::now() + 5s, -1, &detail) == ProbeOutcome::kRefused);
}

TEST_CASE("HTTP probe: one cut off by the stop signal has no outcome (it says nothing about the app)") {
  Listener hung;
  const int stop_fd = ::eventfd(0, EFD_CLOEXEC);
  REQUIRE(stop_fd >= 0);
  const std::uint64_t one = 1;
  REQUIRE(::write(stop_fd, &one, sizeof one) == static_cast<ssize_t>(sizeof one));
  std::string detail;
  // Without the signal this would end at the deadline as kTimeout.
  CHECK_FALSE(
      health::run_probe(http_target(hung.port), std::chrono::steady_clock::now() + 30s, stop_fd, &detail).has_value());
  CHECK(detail.empty());
  ::close(stop_fd);
}

namespace {

// Collects a prober's reports, and whether any came after `stopped` was set.
struct Reports {
  void add(const health::ProbeReport& report) {
    std::lock_guard lock(mutex);
    late = late || stopped;
    all.push_back(report);
    cv.notify_all();
  }
  bool wait_for(std::size_t count) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, 60s, [&] { return all.size() >= count; });
  }
  std::vector<health::ProbeReport> seen() {
    std::lock_guard lock(mutex);
    return all;
  }
  bool came_late() {
    std::lock_guard lock(mutex);
    return late;
  }
  health::Prober::Callback callback() {
    return [this](const health::ProbeReport& report) { add(report); };
  }

  std::mutex mutex;
  std::condition_variable cv;
  std::vector<health::ProbeReport> all;
  std::atomic<bool> stopped{false};
  bool late = false;
};

ProbeSettings probe_settings(int port, Duration period, Duration timeout) {
  ProbeSettings s = settings(2, 1);
  s.http_url = "http://127.0.0.1:" + std::to_string(port) + "/healthz";
  s.period = period;
  s.timeout = timeout;
  return s;
}

// Accepts one probe and reads its request, so that the probe now waits for an answer that never
// comes; the connection stays open until the returned fd is closed. -1 if no probe came (the
// bound only keeps a broken prober from hanging the suite).
int hold_one(const Listener& listener) {
  pollfd p{listener.fd, POLLIN, 0};
  if (::poll(&p, 1, 60000) != 1) return -1;
  std::string request;
  return listener.accept_request(&request);
}

// Runs `f` on a thread of its own; false when it did not return within a bound that only keeps a
// hang from stopping the suite.
template <typename F>
bool returns(F f) {
  auto done = std::make_shared<std::promise<void>>();
  auto future = done->get_future();
  std::thread([done, f] {
    f();
    done->set_value();
  }).detach();
  return future.wait_for(60s) == std::future_status::ready;
}

}  // namespace

TEST_CASE("Prober: each probe's result reaches the callback, judged by the thresholds") {
  Listener app;
  boost::asio::io_context io;
  IoThreads threads(io);
  Reports reports;
  health::Prober prober(probe_settings(app.port, 1ms, 60s), system_clock, io, reports.callback());
  prober.start();
  for (const char* reply : {"HTTP/1.1 200 OK\r\n\r\n", "HTTP/1.1 500 Oops\r\n\r\n", "HTTP/1.1 503 Busy\r\n\r\n"}) {
    CHECK(app.serve_one(reply).starts_with("GET /healthz HTTP/1.1\r\n"));
  }
  REQUIRE(reports.wait_for(3));
  // The next probe waits for an answer nobody gives: stop() cuts it off, it reports nothing.
  prober.stop();
  reports.stopped = true;
  REQUIRE(threads.drain());
  const auto seen = reports.seen();
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].outcome == ProbeOutcome::kSuccess);
  CHECK(seen[0].detail == "HTTP 200");
  CHECK(seen[0].changed);
  CHECK(seen[0].snapshot.health == Health::kHealthy);
  CHECK(seen[1].outcome == ProbeOutcome::kFailure);
  CHECK(seen[1].detail == "HTTP 500");
  CHECK_FALSE(seen[1].changed);
  CHECK(seen[1].snapshot.health == Health::kHealthy);
  CHECK(seen[2].outcome == ProbeOutcome::kFailure);
  CHECK(seen[2].changed);
  CHECK(seen[2].snapshot.health == Health::kUnhealthy);
  CHECK(seen[2].snapshot.consecutive_failures == 2);
  CHECK_FALSE(reports.came_late());
}

TEST_CASE("Prober: stop() cuts off a probe in flight on another thread; nothing of the prober runs after") {
  Listener hung;
  boost::asio::io_context io;
  IoThreads threads(io);
  Reports reports;
  // A timeout no test waits for: only the cut-off can end this probe.
  health::Prober prober(probe_settings(hung.port, 1h, 1h), system_clock, io, reports.callback());
  prober.start();
  const int held = hold_one(hung);
  REQUIRE(held >= 0);  // the probe has sent its request and waits for the answer
  CHECK(returns([&] { prober.stop(); }));
  reports.stopped = true;
  ::close(held);
  // The io_context runs out of work: no step of the prober is queued, no wait of it pending.
  REQUIRE(threads.drain());
  CHECK(reports.seen().empty());
  CHECK_FALSE(reports.came_late());
}

TEST_CASE("Prober: destroyed while probing, stopped while waiting for its next probe, destroyed before it ran") {
  Listener hung;
  int closed_port = 0;
  {
    Listener gone;
    closed_port = gone.port;
  }
  boost::asio::io_context io;
  Reports in_flight, waiting, never_ran;
  {
    IoThreads threads(io);
    auto probing =
        std::make_unique<health::Prober>(probe_settings(hung.port, 1h, 1h), system_clock, io, in_flight.callback());
    auto resting =
        std::make_unique<health::Prober>(probe_settings(closed_port, 1h, 1h), system_clock, io, waiting.callback());
    probing->start();
    resting->start();
    const int held = hold_one(hung);
    REQUIRE(held >= 0);
    REQUIRE(waiting.wait_for(1));  // refused; the next probe is an hour away
    CHECK(waiting.seen()[0].outcome == ProbeOutcome::kRefused);
    CHECK(returns([&] { probing.reset(); }));
    CHECK(returns([&] { resting->stop(); }));  // not destroyed yet: stop() alone ends its wait
    in_flight.stopped = true;
    waiting.stopped = true;
    ::close(held);
    REQUIRE(threads.drain());
    resting.reset();
  }
  // Started and destroyed while nobody ran the loop: its first step, run later, finds it gone.
  io.restart();
  {
    auto prober =
        std::make_unique<health::Prober>(probe_settings(closed_port, 1h, 1h), system_clock, io, never_ran.callback());
    prober->start();
    prober.reset();
  }
  IoThreads threads(io);
  REQUIRE(threads.drain());
  CHECK(in_flight.seen().empty());
  CHECK(waiting.seen().size() == 1);
  CHECK_FALSE(waiting.came_late());
  CHECK(never_ran.seen().empty());
}

}  // namespace leasehold::testing
