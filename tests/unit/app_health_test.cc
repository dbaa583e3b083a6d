// The app-health state machine step by step on a fake clock, and the health
// settings (targets on loopback only).
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

}  // namespace leasehold::testing
