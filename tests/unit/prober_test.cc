// The probe's I/O against real loopback sockets, and the Prober on an io_context run by the
// test's threads: its reports, stop() and destruction at every stage.
#include "health/prober.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "fakes.h"
#include "health/probe_settings.h"
#include "io_threads.h"
#include "loopback_listener.h"

namespace leasehold::testing {
namespace {

using namespace std::chrono_literals;
using health::Health;
using health::ProbeOutcome;
using health::ProbeSettings;

}  // namespace

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
  ProbeSettings s;
  s.failure_threshold = 2;
  s.success_threshold = 1;
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
