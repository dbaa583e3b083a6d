// Agent: the sidecar: one API client, the status and ops listeners, one
// ElectionRunner per election (a ShardGroup of them per sharded election), and
// one LeaseWatch for all their Leases.
//
// Thread-safety: start() and shutdown() are called from the main thread; all
// else runs on the agent's own threads.
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <thread>
#include <vector>

#include "agent/election_runner.h"
#include "agent/event_recorder.h"
#include "agent/fatal_exit.h"
#include "agent/shard_group.h"
#include "agent/worker_loop.h"
#include "config/config.h"
#include "kube/api_client.h"
#include "kube/kubeconfig.h"
#include "kube/lease_watch.h"
#include "log/logger.h"
#include "status/http_server.h"
#include "status/metrics.h"

namespace leasehold::agent {

// Counts the API client's requests in the metrics: kube sits below status and knows only the
// observer interface.
class ApiRequestMetrics final : public kube::RequestObserver {
 public:
  explicit ApiRequestMetrics(status::Metrics& metrics) : metrics_(metrics) {}
  void on_request(const std::string& verb, const std::string& outcome, election::Duration latency) override {
    metrics_.api_request(verb, outcome, latency);
  }

 private:
  status::Metrics& metrics_;
};

class Agent {
 public:
  // Threads of the election loop. The elections' API requests block the thread that makes them
  // (for at most the request's deadline): several threads keep one slow request from holding up
  // the other elections' renewals. A fixed number, whatever the number of elections.
  static constexpr int kElectionThreads = 4;
  // Threads of the blocking work: a hook runs for up to --hook-timeout; two keep one slow hook
  // from holding up every other election's hooks, labels and probes.
  static constexpr int kBlockingThreads = 2;

  Agent(config::Config config, kube::KubeConfig kube_config, log::Logger& logger);
  // Safe in any state, also after start() failed part-way: elections still
  // running stop as on shutdown, and every thread is joined.
  ~Agent();

  // Binds the listeners (throws std::runtime_error naming the address on
  // failure) and starts the threads.
  void start();
  // Stops claiming at once in every election, hands off and releases within
  // the configured bounds, and stops. Returns the exit code after a stop, 0 (an error no thread
  // can handle exits 70 through fatal() instead).
  int shutdown(const std::string& reason);
  // An error no thread can handle: stop claiming everywhere, exit 70 (agent/fatal_exit.h). Any
  // thread. From start() until the Agent is destroyed, std::terminate ends the process this way
  // as well, not by abort().
  [[noreturn]] void fatal(std::string_view where, std::string_view what) noexcept { fatal_exit_.end(where, what); }

 private:
  const config::Config config_;
  log::Logger& log_;
  election::SystemClock clock_;
  status::Metrics metrics_;
  ApiRequestMetrics api_metrics_{metrics_};
  kube::ApiClient api_;
  boost::asio::io_context io_;
  // Every election's machine runs on this one loop, whatever their number; declared before the
  // runners so that it outlives them.
  WorkerLoop elections_;
  // Hooks, the leader label and the app's health probes of every election.
  WorkerLoop blocking_work_;
  // The elections' Kubernetes Events (null with --events=false); outlives the runners.
  std::unique_ptr<EventRecorder> events_;
  std::vector<std::unique_ptr<ElectionRunner>> own_runners_;  // the elections that are not sharded
  std::vector<std::unique_ptr<ShardGroup>> groups_;           // each with a runner per shard
  std::vector<ElectionRunner*> runners_;                      // every runner, in the elections' order
  // After runners_: it calls them, so it is destroyed (stopped) first.
  std::unique_ptr<kube::LeaseWatch> watch_;
  std::unique_ptr<status::HttpServer> status_server_;
  std::unique_ptr<status::HttpServer> ops_server_;
  std::thread io_thread_;
  // Ends every runner's claims; uninstalled first thing in ~Agent, before the runners go.
  FatalExit fatal_exit_{log_, [this] {
                          for (auto& runner : runners_) runner->abandon();
                        }};
};

}  // namespace leasehold::agent
