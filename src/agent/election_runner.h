// ElectionRunner: one election of the sidecar: its Lease client, watch,
// elector, status board, files, push hub, metrics and side effects, and the
// loop thread that owns the elector and the handoff (election/handoff.h): it
// feeds both what happened and carries out what they decide.
//
// Thread-safety: the public methods may be called from any thread; the elector
// is touched only by the loop thread.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <variant>
#include <vector>

#include "agent/ack_files.h"
#include "agent/election_publisher.h"
#include "agent/side_effects.h"
#include "config/config.h"
#include "election/clock.h"
#include "election/elector.h"
#include "election/handoff.h"
#include "health/prober.h"
#include "kube/api_client.h"
#include "kube/lease_client.h"
#include "kube/lease_watch.h"
#include "log/logger.h"
#include "status/file_publisher.h"
#include "status/metrics.h"
#include "status/routes.h"
#include "status/status_board.h"
#include "status/status_hub.h"

namespace leasehold::agent {

// What all elections of one sidecar share.
struct RunnerContext {
  std::string namespace_name;
  std::string identity;
  std::string pod_name;
  std::string status_dir;  // empty: no files
  election::Duration release_timeout;
  election::Duration handoff_timeout;
  election::Duration hook_timeout;
  // Called from any of the agent's threads on an error it cannot handle (an
  // exception at a thread's boundary): stops claiming everywhere and ends
  // the process with a non-zero status so that it is restarted. Never returns.
  std::function<void(std::string_view where, std::string_view what)> on_fatal;
  // Where the hooks, the label and the probes of every election run (the agent's few threads);
  // outlives the runners.
  boost::asio::io_context* blocking_io = nullptr;
};

class ElectionRunner final : private kube::WatchSink {
 public:
  ElectionRunner(const RunnerContext& context, config::ElectionSettings settings, bool is_default, kube::ApiClient& api,
                 status::Metrics& metrics, boost::asio::io_context& io, log::Logger& logger);
  // Stops a runner that was started and not shut down as shutdown would, and
  // waits for its threads.
  ~ElectionRunner() override;

  void start();
  // Stops claiming at once (answers, files, metrics) and starts the handoff.
  void begin_shutdown();
  // Waits until the loop has released the Lease and ended. Returns whether
  // the Lease was released (or nothing needed releasing).
  bool finish_shutdown();
  // After a fatal error elsewhere in the process: stop claiming on every
  // channel, at once. Any thread.
  void abandon() noexcept { publisher_.abandon(); }

  status::ElectionEndpoint endpoint();
  const status::StatusBoard& board() const { return board_; }
  const std::string& name() const { return settings_.name; }
  const config::ElectionSettings& settings() const { return settings_; }

 private:
  struct LeaseSeen {
    election::LeaseRecord record;
  };
  struct LeaseGone {
    std::optional<std::uint64_t> revision;
  };
  struct WatchHealth {
    bool healthy;
  };
  struct Resign {
    std::string to;
  };
  struct Acknowledge {};
  struct Shutdown {};
  // The app's health changed (health checking on): see handle().
  struct AppHealthChanged {
    health::ProbeReport report;
  };
  using Event = std::variant<LeaseSeen, LeaseGone, WatchHealth, Resign, Acknowledge, Shutdown, AppHealthChanged>;

  void run_loop();
  void loop();
  // Returns false when the loop must end (shutdown done).
  bool handle(Event& event);
  // Starts a resign handoff if this agent leads and no handoff or shutdown is under way.
  void resign(const std::string& successor);
  // Carries out the handoff's decision. Returns false when the loop must end.
  bool carry_out(const election::Handoff::Decision& decision);
  void push(Event event);
  status::HttpAnswer acknowledge_request();
  status::HttpAnswer resign_request(const std::string& to);

  void on_app_health(AppHealthChanged& change);
  void on_probe(const health::ProbeReport& report);

  void on_lease(const election::LeaseRecord& record, const nlohmann::json& object) override;
  void on_lease_deleted(std::optional<std::uint64_t> revision) override;
  void on_watch_state(bool healthy, const std::string& reason) override;
  void on_watch_garbage(const std::string& what) override;
  void on_watch_fatal(std::string_view what) noexcept override;
  [[noreturn]] void end_after_internal_error(std::string_view what) noexcept;

  const RunnerContext context_;
  const config::ElectionSettings settings_;
  // This election's threads as a fatal error's log line names them, made up front: the error may
  // be running out of memory.
  const std::string election_thread_ = "election " + settings_.name;
  const std::string watch_thread_ = "watch of " + settings_.name;
  const std::string hooks_thread_ = "hooks of " + settings_.name;
  log::Logger& log_;
  election::SystemClock clock_;
  kube::LeaseClient lease_client_;
  status::StatusBoard board_;
  status::ElectionMetrics& metrics_;
  SideEffects side_effects_;
  ElectionPublisher publisher_;
  election::Elector elector_;
  kube::LeaseWatch watch_;
  std::shared_ptr<status::StatusHub> hub_;
  AckFiles ack_files_;                      // loop thread
  std::unique_ptr<health::Prober> prober_;  // health checking on

  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<Event> queue_;
  std::thread loop_thread_;

  // Loop-thread state.
  election::Handoff handoff_;
  bool last_watch_healthy_ = false;

  std::atomic<bool> shutting_down_{false};
  std::atomic<bool> handoff_pending_{false};
  std::atomic<bool> released_{false};
};

}  // namespace leasehold::agent
