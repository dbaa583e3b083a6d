// Teardown: no thread of the agent outlives the object it works for, and no
// work it queued on a shared loop outlives it either. Each test destroys a
// component while its threads are busy (a watch blocked in its stream read,
// an election loop, watch and prober running, an agent whose start failed);
// the sanitizer builds flag any thread or handler left behind that touches
// freed memory.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "agent/agent.h"
#include "agent/election_runner.h"
#include "agent/worker_loop.h"
#include "fakes.h"
#include "io_threads.h"
#include "kube/api_client.h"
#include "kube/lease_watch.h"
#include "log/logger.h"
#include "loopback_listener.h"
#include "status/metrics.h"

namespace leasehold {
namespace {

using testing::system_clock;

using namespace std::chrono_literals;

using Listener = testing::LoopbackListener;

// An API server that answers one watch with its headers and then holds the
// stream open without sending an event, until the client closes it.
class HeldWatchServer {
 public:
  HeldWatchServer() {
    thread_ = std::thread([this] {
      const int connection = ::accept(listener_.fd, nullptr, nullptr);
      if (connection < 0) return;
      std::string request;
      char buffer[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(connection, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        request.append(buffer, static_cast<std::size_t>(n));
      }
      const std::string head =
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
      ::send(connection, head.data(), head.size(), MSG_NOSIGNAL);
      // Until the client goes away.
      while (::recv(connection, buffer, sizeof buffer, 0) > 0) {
      }
      ::close(connection);
    });
  }
  ~HeldWatchServer() {
    ::shutdown(listener_.fd, SHUT_RDWR);  // ends a pending accept
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(listener_.port); }

 private:
  Listener listener_;
  std::thread thread_;
};

// Records the watch's calls, and whether any came after the watch was destroyed.
class RecordingSink final : public kube::WatchSink {
 public:
  void on_lease(const election::LeaseRecord&, nlohmann::json) override { note(); }
  void on_lease_deleted(std::optional<std::uint64_t>) override { note(); }
  void on_watch_state(bool healthy, const std::string&) override {
    std::lock_guard lock(mutex_);
    late_ = late_ || watch_gone;
    (healthy ? streaming_ : ended_) = true;
    cv_.notify_all();
  }
  void on_watch_garbage(const std::string&) override { note(); }
  void on_watch_fatal(std::string_view) noexcept override { note(); }

  void wait_streaming() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return streaming_; });
  }
  // Waits for the watch's report that its stream ended; whether it came late.
  bool ended_late() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return ended_; });
    return late_;
  }

  std::atomic<bool> watch_gone{false};

 private:
  void note() {
    std::lock_guard lock(mutex_);
    late_ = late_ || watch_gone;
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  bool streaming_ = false;
  bool ended_ = false;
  bool late_ = false;
};

kube::KubeConfig kube_config_for(const std::string& server) {
  kube::KubeConfig config;
  config.server = server;
  config.namespace_name = "ns";
  config.source = "test";
  return config;
}

// A logger that writes nowhere.
struct QuietLogger {
  QuietLogger() : out(std::fopen("/dev/null", "w")), logger(log::Level::kError, out) {}
  ~QuietLogger() { std::fclose(out); }
  std::FILE* out;
  log::Logger logger;
};

}  // namespace

TEST_CASE("a watch destroyed while blocked in its stream read ends its thread first; the sink hears nothing after") {
  HeldWatchServer server;
  kube::ApiClient api(kube_config_for(server.url()), {}, nullptr, system_clock);
  RecordingSink sink;
  auto watch =
      std::make_unique<kube::LeaseWatch>(api, system_clock, "/apis/coordination.k8s.io/v1/namespaces/ns/leases",
                                         std::vector<kube::FollowedLease>{{"job", &sink}});
  watch->start();
  sink.wait_streaming();  // the thread is now waiting for the next line of an open stream

  watch.reset();
  sink.watch_gone = true;
  // The watch's last word (its stream ended) came before its destructor returned.
  CHECK_FALSE(sink.ended_late());
}

TEST_CASE("an election runner started and never shut down ends its machine when destroyed; the loop lives on") {
  // An API server that refuses connections: the elector polls.
  std::string url;
  {
    Listener closed;
    url = "http://127.0.0.1:" + std::to_string(closed.port);
  }
  QuietLogger quiet;
  status::Metrics metrics("0.0.0-test");
  agent::ApiRequestMetrics api_metrics(metrics);
  kube::ApiClient api(kube_config_for(url), {}, &api_metrics, system_clock);
  boost::asio::io_context io;
  std::atomic<int> fatal_errors{0};
  agent::WorkerLoop elections("elections", 2, [&](std::string_view, std::string_view) { ++fatal_errors; });
  elections.start();
  boost::asio::io_context blocking_io;
  testing::IoThreads blocking_threads(blocking_io);
  agent::RunnerContext context{"ns",
                               "pod-a",
                               "pod-a",
                               "",
                               1s,
                               0s,
                               1s,
                               &elections.io(),
                               [&](std::string_view, std::string_view) { ++fatal_errors; }};
  context.blocking_io = &blocking_io;
  config::ElectionSettings settings;
  settings.name = "job";
  settings.on_start_leading = "true";                                 // hooks on
  settings.app_health.tcp_address = std::to_string(Listener().port);  // a prober too: refused
  settings.app_health.period = 1h;
  auto runner = std::make_unique<agent::ElectionRunner>(context, settings, true, api, metrics, io, quiet.logger);
  runner->start();
  runner.reset();  // returns only once the machine has ended and its hooks and probes are done
  // Nothing of the runner is left on the blocking-work loop: no step queued, no timer waiting.
  CHECK(blocking_threads.drain());
  // The election loop goes on serving other elections: a handler posted now runs.
  std::promise<void> ran;
  boost::asio::post(elections.io(), [&] { ran.set_value(); });
  CHECK(ran.get_future().wait_for(30s) == std::future_status::ready);
  elections.stop();
  CHECK(fatal_errors == 0);
}

TEST_CASE("an agent whose listener cannot bind fails to start and is destroyed with its threads joined") {
  Listener taken;
  QuietLogger quiet;
  config::Config cfg;
  cfg.election = "job";
  cfg.namespace_name = "ns";
  cfg.identity = "pod-a";
  cfg.status_address = "127.0.0.1:0";
  cfg.ops_address = "127.0.0.1:" + std::to_string(taken.port);
  cfg.on_start_leading = "true";
  cfg.more_elections.push_back(config::ElectionOverrides{"other", {}});
  auto agent = std::make_unique<agent::Agent>(cfg, kube_config_for("http://127.0.0.1:1"), quiet.logger);
  CHECK_THROWS_AS(agent->start(), std::runtime_error);
  agent.reset();
}

}  // namespace leasehold
