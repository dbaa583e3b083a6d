// ElectionPublisher: tells the app, on every channel, what the Elector
// decided: the status board (read by /v1/leader, /v1/status, the event stream
// and the metrics), the state files, and the side effects (hooks, the leader
// pod label). It is the Elector's observer, so a claim that ends is published
// from inside the Elector's demotion, before the Elector makes any further
// request to the API server; publish() after each loop turn carries the rest
// (renewals, the observed leader).
//
// Thread-safety: attach(), publish() and the observer callbacks run on the
// election thread; stop_claiming_now() and write_files() may be called from
// any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "election/clock.h"
#include "election/elector.h"
#include "kube/events.h"
#include "log/logger.h"
#include "status/file_publisher.h"
#include "status/metrics.h"
#include "status/status_board.h"

namespace leasehold::agent {

// Whoever acts on leadership outside the pod's answers (hooks, the pod label).
class LeadershipListener {
 public:
  virtual ~LeadershipListener() = default;
  // Leadership as the app sees it changed; `fencing_token` is the term's,
  // also when it ended.
  virtual void set_leading(bool leading, std::uint64_t fencing_token) = 0;
};

class ElectionPublisher final : public election::ElectionObserver {
 public:
  ElectionPublisher(std::string election, const election::Clock& clock, status::StatusBoard& board,
                    std::vector<std::string> file_dirs, status::ElectionMetrics& metrics, LeadershipListener& listener,
                    log::Logger& logger);

  // The Elector whose state is published; set before it first calls back.
  void attach(const election::Elector& elector) { elector_ = &elector; }

  // Publishes the attached Elector's state on every channel.
  void publish();
  // Shutdown or resign: nothing reads as leader any more, on any channel, from
  // now on (the Elector may still hold the Lease while the app acknowledges).
  void stop_claiming_now();
  // The same on the way out after an internal error (perhaps out of memory): every channel is
  // tried on its own, so that one failing does not keep the next from saying "not leader"; the
  // flag the answers read and the `state` file's line need no allocation, and no lock another
  // thread could hold for good.
  void abandon() noexcept;
  // Writes the state files from the board's view as of now.
  void write_files();
  // Called after each write_files() on the same thread (a shard's group rewrites its `shards`
  // file). Set once, before use.
  void also_write(std::function<void()> extra) { also_write_ = std::move(extra); }
  // Where leadership changes are told as Kubernetes Events (record() must only queue: it is
  // called from inside a demotion). Set once, before use; unset: none.
  void report_events_to(std::function<void(kube::EventReport)> record) { record_event_ = std::move(record); }

  void on_started_leading(const election::ElectionState& state) override;
  void on_stopped_leading(std::string_view reason) override;
  void on_leader_observed(const std::string& identity) override;
  void on_renew(bool success, election::Duration latency) override;
  void on_store_error(std::string_view operation, const election::StoreResult& result) override;

 private:
  const std::string election_;
  const election::Clock& clock_;
  status::StatusBoard& board_;
  status::ElectionMetrics& metrics_;
  LeadershipListener& listener_;
  log::Logger& log_;
  const election::Elector* elector_ = nullptr;

  void write_files_locked();

  // Written under files_mutex_, and each write takes its view inside it, so a
  // later write never carries an older view than an earlier one.
  std::mutex files_mutex_;
  std::vector<status::FilePublisher> files_;
  std::function<void()> also_write_;
  std::function<void(kube::EventReport)> record_event_;

  // Election thread only.
  bool claimed_ = false;  // what the app was last told
  std::uint64_t claimed_token_ = 0;
  election::SteadyTime last_written_claim_{};
};

}  // namespace leasehold::agent
