// SideEffects (the hooks in order with their environment, timeouts and failures counted, the leader pod label put on,
// retried and taken off at stop) against a scripted API server, on an
// io_context that the test runs as the agent does; what its steps do when the
// object goes first; and the fixed number of threads of many elections.
#include "agent/side_effects.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "agent/command.h"
#include "fakes.h"
#include "health/prober.h"
#include "io_threads.h"
#include "kube/kubeconfig.h"
#include "loopback_listener.h"
#include "scripted_server.h"
#include "status/metrics.h"
#include "status/status_board.h"

namespace leasehold::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

fs::path temp_path(const std::string& stem) {
  return fs::temp_directory_path() / (stem + "-" + std::to_string(std::random_device{}()));
}

}  // namespace

// --- SideEffects -------------------------------------------------------------

namespace {

struct SideEffectsFixture {
  SideEffectsFixture()
      : election_metrics(metrics.add_election("job", board, status::ElectionHooks{true, true, true})) {}
  ~SideEffectsFixture() {
    std::fclose(log_file);
    fs::remove(record);
  }

  agent::SideEffectSettings settings() const {
    agent::SideEffectSettings s;
    s.election = "job";
    s.identity = "pod-0_x";
    s.namespace_name = "ns";
    s.pod_name = "pod-0";
    s.hook_timeout = 60s;
    return s;
  }
  // A hook that appends its event, token, election and identity to `path`.
  static std::string recording_hook(const fs::path& path) {
    return "echo \"$LEASEHOLD_EVENT $LEASEHOLD_FENCING_TOKEN $LEASEHOLD_ELECTION $LEASEHOLD_IDENTITY\" >> '" +
           path.string() + "'";
  }
  std::string recording_hook() const { return recording_hook(record); }
  kube::KubeConfig api_config() const {
    kube::KubeConfig config;
    config.server = server.url();
    return config;
  }
  bool counted(const std::string& hook, const std::string& outcome, int times) {
    return metrics.render().find("leasehold_hook_runs_total{election=\"job\",hook=\"" + hook + "\",outcome=\"" +
                                 outcome + "\"} " + std::to_string(times)) != std::string::npos;
  }

  FakeClock clock;
  ScriptedServer server;
  status::Metrics metrics{"test"};
  status::StatusBoard board{{"job", "ns", "pod-0_x"}, clock};
  status::ElectionMetrics& election_metrics;
  std::FILE* log_file = std::tmpfile();
  log::Logger logger{log::Level::kInfo, log_file};
  kube::ApiClient api{api_config(), kube::ApiClientOptions{}, nullptr, system_clock};
  std::atomic<int> fatal{0};
  std::function<void(std::string_view)> on_fatal = [this](std::string_view) { ++fatal; };
  fs::path record = temp_path("leasehold-hooks");
  // The sidecar's blocking-work loop; each test runs it on IoThreads of its own.
  boost::asio::io_context io;
};

SteadyTime soon() { return std::chrono::steady_clock::now() + 60s; }

// A FIFO in the temp dir: a hook and the test meet there, each open() waiting for the other end.
struct Fifo {
  Fifo() { REQUIRE(::mkfifo(path.c_str(), 0600) == 0); }
  ~Fifo() { fs::remove(path); }
  // Reads one line, on a thread of its own so that a hook that never comes fails the test rather
  // than hanging it.
  std::string read_line() const {
    auto promise = std::make_shared<std::promise<std::string>>();
    auto line = promise->get_future();
    std::thread([promise, p = path] {
      std::ifstream in(p);
      std::string text;
      std::getline(in, text);
      promise->set_value(text);
    }).detach();
    REQUIRE(line.wait_for(60s) == std::future_status::ready);
    return line.get();
  }
  void write_line(const std::string& text) const {
    auto promise = std::make_shared<std::promise<void>>();
    auto done = promise->get_future();
    std::thread([promise, p = path, text] {
      std::ofstream(p) << text << "\n";
      promise->set_value();
    }).detach();
    REQUIRE(done.wait_for(60s) == std::future_status::ready);
  }
  fs::path path = temp_path("leasehold-fifo");
};

std::string read_or_empty(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE_FIXTURE(SideEffectsFixture, "SideEffects: nothing configured, nothing runs") {
  IoThreads threads(io);
  agent::SideEffects effects(settings(), io, api, election_metrics, logger, on_fatal);
  CHECK_FALSE(effects.enabled());
  effects.set_leading(true, 1);
  effects.stop(soon());
  CHECK(server.requests().empty());
}

TEST_CASE_FIXTURE(SideEffectsFixture, "SideEffects: the hooks run in order, with the event and fencing token") {
  IoThreads threads(io);
  auto s = settings();
  s.on_start_leading = recording_hook();
  s.on_stop_leading = recording_hook();
  {
    agent::SideEffects effects(s, io, api, election_metrics, logger, on_fatal);
    effects.set_leading(true, 7);
    effects.set_leading(false, 7);
    effects.set_leading(true, 9);
    effects.stop(soon());
  }
  CHECK(kube::read_file_for(record.string(), "hook record") ==
        "started-leading 7 job pod-0_x\n"
        "stopped-leading 7 job pod-0_x\n"
        "started-leading 9 job pod-0_x\n");
  CHECK(counted("start", "success", 2));
  CHECK(counted("stop", "success", 1));
  CHECK(fatal == 0);
  CHECK(server.requests().empty());
}

TEST_CASE_FIXTURE(SideEffectsFixture, "SideEffects: a failing hook and a hook past its timeout are counted as such") {
  IoThreads threads(io);
  auto s = settings();
  s.on_start_leading = "exit 4";
  s.on_stop_leading = "sleep 1000";
  s.hook_timeout = 300ms;
  {
    agent::SideEffects effects(s, io, api, election_metrics, logger, on_fatal);
    effects.set_leading(true, 1);
    effects.set_leading(false, 1);
    effects.stop(soon());
  }
  CHECK(counted("start", "failure", 1));
  CHECK(counted("stop", "timeout", 1));
  CHECK(fatal == 0);
}

TEST_CASE_FIXTURE(SideEffectsFixture,
                  "SideEffects: the leader label is put on, retried after a failure, and taken off at stop") {
  IoThreads threads(io);
  auto s = settings();
  s.leader_label = "leasehold.io/leader";
  server.then({500, "{}"});
  server.then({200, "{}"});
  server.then({200, "{}"});
  agent::SideEffects effects(s, io, api, election_metrics, logger, on_fatal);
  effects.set_leading(true, 1);
  REQUIRE(server.wait_for_requests(2));
  effects.stop(soon());
  const auto requests = server.requests();
  REQUIRE(requests.size() == 3);
  for (const auto& r : requests) {
    CHECK(r.method == "PATCH");
    CHECK(r.target == "/api/v1/namespaces/ns/pods/pod-0");
    CHECK(r.header("content-type") == "application/merge-patch+json");
  }
  const nlohmann::json on = {{"metadata", {{"labels", {{"leasehold.io/leader", "true"}}}}}};
  const nlohmann::json off = {{"metadata", {{"labels", {{"leasehold.io/leader", nullptr}}}}}};
  CHECK(nlohmann::json::parse(requests[0].body) == on);
  CHECK(nlohmann::json::parse(requests[1].body) == on);
  CHECK(nlohmann::json::parse(requests[2].body) == off);
  CHECK(counted("label", "failure", 1));
  CHECK(counted("label", "success", 2));
  CHECK(fatal == 0);
}

TEST_CASE_FIXTURE(SideEffectsFixture, "SideEffects: elections sharing two threads each keep the order of their hooks") {
  IoThreads threads(io);
  constexpr int kElections = 4;
  constexpr int kTerms = 5;
  std::vector<fs::path> records;
  std::vector<std::unique_ptr<agent::SideEffects>> elections;
  for (int i = 0; i < kElections; ++i) {
    records.push_back(temp_path("leasehold-hooks-" + std::to_string(i)));
    auto s = settings();
    s.on_start_leading = recording_hook(records.back());
    s.on_stop_leading = recording_hook(records.back());
    elections.push_back(std::make_unique<agent::SideEffects>(s, io, api, election_metrics, logger, on_fatal));
  }
  // Interleaved, as elections change leaders independently.
  for (int term = 1; term <= kTerms; ++term) {
    for (auto& e : elections) e->set_leading(true, static_cast<std::uint64_t>(term));
    for (auto& e : elections) e->set_leading(false, static_cast<std::uint64_t>(term));
  }
  std::string expected;
  for (int term = 1; term <= kTerms; ++term) {
    expected += "started-leading " + std::to_string(term) + " job pod-0_x\n";
    expected += "stopped-leading " + std::to_string(term) + " job pod-0_x\n";
  }
  for (int i = 0; i < kElections; ++i) {
    CAPTURE(i);
    elections[i]->stop(soon());
    CHECK(read_or_empty(records[i]) == expected);
    fs::remove(records[i]);
  }
  CHECK(counted("start", "success", kElections * kTerms));
  CHECK(fatal == 0);
}

TEST_CASE_FIXTURE(SideEffectsFixture,
                  "SideEffects: stop() returns at its deadline; once destroyed, its queued hooks never run") {
  auto s = settings();
  s.on_start_leading = recording_hook();
  s.on_stop_leading = recording_hook();
  {
    // Nobody runs the loop yet: the hooks stay queued.
    agent::SideEffects effects(s, io, api, election_metrics, logger, on_fatal);
    effects.set_leading(true, 1);
    effects.set_leading(false, 1);
    effects.stop(std::chrono::steady_clock::now());
  }
  IoThreads threads(io);
  // What the SideEffects left queued runs now, and must find it gone.
  REQUIRE(threads.drain());
  CHECK_FALSE(fs::exists(record));
  CHECK_FALSE(counted("start", "success", 1));
  CHECK(fatal == 0);
}

TEST_CASE_FIXTURE(SideEffectsFixture,
                  "SideEffects: the destructor waits for the hook in flight, and nothing runs after") {
  IoThreads threads(io);
  const Fifo started, release;
  auto s = settings();
  s.on_start_leading = "echo started > '" + started.path.string() + "'; read line < '" + release.path.string() +
                       "'; echo done >> '" + record.string() + "'";
  s.on_stop_leading = "echo stopped >> '" + record.string() + "'";
  auto effects = std::make_unique<agent::SideEffects>(s, io, api, election_metrics, logger, on_fatal);
  effects->set_leading(true, 1);
  effects->set_leading(false, 1);
  REQUIRE(started.read_line() == "started");  // the start hook is running, held by `release`
  auto destroyed = std::async(std::launch::async, [&] { effects.reset(); });
  release.write_line("go");
  REQUIRE(destroyed.wait_for(60s) == std::future_status::ready);
  // The start hook ended before the destructor returned; the stop hook ran before that or never.
  const std::string at_destruction = read_or_empty(record);
  CHECK((at_destruction == "done\n" || at_destruction == "done\nstopped\n"));
  REQUIRE(threads.drain());
  CHECK(read_or_empty(record) == at_destruction);
  CHECK(fatal == 0);
}

TEST_CASE_FIXTURE(SideEffectsFixture, "SideEffects and Probers of many elections start no thread of their own") {
  // What the agent's threads are meant for: a fixed number, whatever the number of elections.
  IoThreads threads(io);
  auto thread_count = [] { return std::distance(fs::directory_iterator("/proc/self/task"), fs::directory_iterator()); };
  const auto before = thread_count();
  constexpr int kElections = 16;
  std::mutex mutex;
  std::condition_variable cv;
  int probes = 0;
  int closed_port = 0;  // refused at once: each prober probes once, then waits its period
  {
    LoopbackListener gone;
    closed_port = gone.port;
  }
  health::ProbeSettings probe_settings;
  probe_settings.tcp_address = std::to_string(closed_port);
  probe_settings.period = 1h;
  probe_settings.timeout = 60s;
  auto s = settings();
  s.on_start_leading = "true";
  std::vector<std::unique_ptr<agent::SideEffects>> effects;
  std::vector<std::unique_ptr<health::Prober>> probers;
  for (int i = 0; i < kElections; ++i) {
    effects.push_back(std::make_unique<agent::SideEffects>(s, io, api, election_metrics, logger, on_fatal));
    effects.back()->set_leading(true, 1);
    probers.push_back(
        std::make_unique<health::Prober>(probe_settings, system_clock, io, [&](const health::ProbeReport&) {
          std::lock_guard lock(mutex);
          ++probes;
          cv.notify_all();
        }));
    probers.back()->start();
  }
  for (auto& e : effects) e->stop(soon());
  {
    std::unique_lock lock(mutex);
    REQUIRE(cv.wait_for(lock, 60s, [&] { return probes == kElections; }));
  }
  CHECK(counted("start", "success", kElections));
  CHECK(thread_count() <= before);
  probers.clear();
  effects.clear();
  CHECK(fatal == 0);
}

}  // namespace leasehold::testing
