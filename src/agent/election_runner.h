// ElectionRunner: one election of the sidecar: its Lease client, elector and
// handoff (an election::ElectionMachine), status board, files, push hub,
// metrics and side effects. It has no thread of its own: the machine runs on
// a strand of the sidecar's one election loop (WorkerLoop), which takes the
// events the watch, the listeners and the health prober hand it, and turns
// the machine again by the time it asks for on a timer. It is the WatchSink of
// its Lease in the agent's one LeaseWatch, which must stop before the runner
// is destroyed.
//
// Thread-safety: the public methods may be called from any thread (the
// WatchSink ones from one watch thread at a time). The machine is touched
// only by handlers on this runner's strand, one at a time.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <variant>
#include <vector>

#include "agent/ack_files.h"
#include "agent/election_publisher.h"
#include "agent/event_recorder.h"
#include "agent/side_effects.h"
#include "config/config.h"
#include "election/clock.h"
#include "election/election_machine.h"
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
  // The sidecar's election loop: every election's machine runs on a strand of it.
  boost::asio::io_context* election_io = nullptr;
  // Called from any of the agent's threads on an error it cannot handle (an
  // exception at a thread's boundary): stops claiming everywhere and ends
  // the process with a non-zero status so that it is restarted. Never returns.
  std::function<void(std::string_view where, std::string_view what)> on_fatal;
  // Where the hooks, the label and the probes of every election run (the agent's few threads);
  // outlives the runners.
  boost::asio::io_context* blocking_io = nullptr;
  // The Kubernetes Events of every election (null: off); outlives the runners.
  EventRecorder* events = nullptr;
};

// A shard of a sharded election (agent/shard_group.h): its runner claims only where the group
// places it, and tells the group every holder it sees.
struct ShardLink {
  // Called on the watch thread with the shard Lease's holder ("" when released or deleted).
  std::function<void(const std::string& holder)> holder_seen;
  // Called on the runner's strand (or the thread that stops its claims) after each write of its
  // files: a claim that ends reaches the group's `shards` file before any further request.
  std::function<void()> files_written;
  // Called on the runner's strand when it hands the shard to its rightful owner.
  std::function<void()> moved_out;
  // Called on the publishing thread whenever the shard's status changes revision, between the
  // board and the files of a demotion: it must do no I/O (it wakes the /v1/shards clients).
  std::function<void()> status_changed;
};

class ElectionRunner final : public kube::WatchSink, private election::ElectionOutlet {
 public:
  // shard: set for a shard of a sharded election (kept by the caller for the runner's life).
  ElectionRunner(const RunnerContext& context, config::ElectionSettings settings, bool is_default, kube::ApiClient& api,
                 status::Metrics& metrics, boost::asio::io_context& io, log::Logger& logger,
                 const ShardLink* shard = nullptr);
  // Stops a runner that was started and not shut down as shutdown would, and
  // waits until its machine has ended.
  ~ElectionRunner() override;

  void start();
  // Stops claiming at once (answers, files, metrics) and starts the handoff.
  void begin_shutdown();
  // Waits until the machine has released the Lease and ended. Returns whether
  // the Lease was released (or nothing needed releasing).
  bool finish_shutdown();
  // After a fatal error elsewhere in the process: stop claiming on every
  // channel, at once. Any thread.
  void abandon() noexcept override { publisher_.abandon(); }

  // A shard's placement (shard runners only): whether it may claim, and the rightful owner.
  void place(bool eligible, std::string owner) { push(election::event::PlacementChanged{eligible, std::move(owner)}); }

  status::ElectionEndpoint endpoint();
  const status::StatusBoard& board() const { return board_; }
  const std::string& name() const { return settings_.name; }
  const config::ElectionSettings& settings() const { return settings_; }

 private:
  // Queues an event for the machine (any thread).
  void push(election::MachineEvent event);
  // On the strand: applies the queued events, then turns the machine.
  void drain();
  void run_turn();
  void arm_timer(election::SteadyTime at);
  // On the strand: the machine ended (stopped or failed).
  void finish();
  status::HttpAnswer acknowledge_request();
  status::HttpAnswer resign_request(const std::string& to);
  void on_probe(const health::ProbeReport& report);

  // election::ElectionOutlet (on the strand).
  void stop_claiming_now() override;
  void resume_claiming() override;
  void publish() override;
  void heartbeat() override;
  void note(const election::MachineNote& note) override;
  void failed(std::string_view what) noexcept override;
  // abandon() above is the outlet's too.

  void on_lease(const election::LeaseRecord& record, nlohmann::json object) override;
  void on_lease_deleted(std::optional<std::uint64_t> revision) override;
  void on_watch_state(bool healthy, const std::string& reason) override;
  void on_watch_garbage(const std::string& what) override;
  void on_watch_fatal(std::string_view what) noexcept override;

  const RunnerContext context_;
  const config::ElectionSettings settings_;
  const ShardLink* const shard_;
  // This election's work as a fatal error's log line names it, made up front: the error may
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
  AckFiles ack_files_;  // the machine's, on the strand
  election::ElectionMachine machine_;
  std::shared_ptr<status::StatusHub> hub_;
  std::unique_ptr<health::Prober> prober_;  // health checking on

  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::steady_timer timer_;               // the machine's next turn; strand only
  std::optional<election::SteadyTime> armed_at_;  // when timer_'s pending wait ends; strand only

  std::mutex queue_mutex_;
  std::condition_variable ended_cv_;
  std::deque<election::MachineEvent> queue_;
  bool drain_posted_ = false;  // a drain() is queued on the strand
  bool started_ = false;
  bool ended_ = false;  // the machine ended; under queue_mutex_

  std::atomic<bool> shutting_down_{false};
  std::atomic<bool> awaiting_ack_{false};
  bool last_watch_healthy_ = false;  // the watch's thread
};

}  // namespace leasehold::agent
