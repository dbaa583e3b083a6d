// SideEffects: what happens outside the pod's files and listeners when this
// agent starts or stops leading one election: the user's hook commands and
// the opt-in leader pod label. The work runs on the sidecar's shared
// blocking-work io_context, one step at a time on this election's strand, so
// that a slow hook or API call never holds up the election and a sidecar with
// many elections still runs a fixed number of threads; outcomes are logged
// and counted.
//
// Thread-safety: set_leading() and stop() from one thread at a time (the
// election thread, then the main thread at shutdown); the steps run on the
// threads that run the io_context, one at a time. The io_context must outlive
// this object but need not be running for stop() or the destructor to return.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "agent/election_publisher.h"
#include "config/config.h"
#include "kube/api_client.h"
#include "log/logger.h"
#include "status/metrics.h"
#include "util/handler_gate.h"

namespace leasehold::agent {

struct SideEffectSettings {
  std::string election;
  std::string identity;
  std::string namespace_name;
  std::string pod_name;
  std::string on_start_leading;
  std::string on_stop_leading;
  std::string leader_label;
  election::Duration hook_timeout;
};

class SideEffects final : public LeadershipListener {
 public:
  // io: where the hooks and label updates run. on_fatal: called from a step on an error it cannot
  // handle; must not return (if it does, this object does nothing more).
  SideEffects(SideEffectSettings settings, boost::asio::io_context& io, kube::ApiClient& api,
              status::ElectionMetrics& metrics, log::Logger& logger, std::function<void(std::string_view)> on_fatal);
  // Waits for a step in progress (a hook is bounded by its timeout); hooks still queued do not run.
  ~SideEffects() override;
  SideEffects(const SideEffects&) = delete;
  SideEffects& operator=(const SideEffects&) = delete;
  bool enabled() const;
  // Leadership as the app sees it changed. The hooks run in the order of these calls.
  void set_leading(bool leading, std::uint64_t fencing_token) override;
  // Shutdown: asks for the label to come off and waits, at most until `deadline`, for that and
  // the hooks already queued to finish (the stop hook of a term that ended among them:
  // set_leading(false) queued it; stop() runs no hook of its own). The work goes on after a
  // missed deadline, until the destructor.
  void stop(election::SteadyTime deadline);

 private:
  struct Change {
    bool leading;
    std::uint64_t token;
  };

  // With mutex_ held.
  void queue_step();
  void want_label(bool present);
  bool label_due() const;
  bool settled() const;

  void step();
  void step_or_fail();
  void run_hook(const char* which, const std::string& command, std::uint64_t token);
  bool apply_label(bool present);

  const SideEffectSettings settings_;
  kube::ApiClient& api_;
  status::ElectionMetrics& metrics_;
  log::Logger& log_;
  const std::function<void(std::string_view)> on_fatal_;

  std::mutex mutex_;
  std::condition_variable cv_;  // a step ended: stop() rechecks
  std::deque<Change> hooks_;
  std::optional<bool> label_wanted_;
  bool label_is_on_ = false;
  // Until its retry is due, a failed label update waits, unless the wish changes meanwhile.
  bool backing_off_ = false;
  std::uint64_t backoff_round_ = 0;
  bool step_queued_ = false;
  bool stepping_ = false;
  bool failed_ = false;

  // Steps only (the strand runs one at a time).
  std::chrono::milliseconds backoff_{500};

  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::steady_timer retry_timer_;  // steps only
  // What the handlers queued on the strand and the timer hold instead of this object.
  const std::shared_ptr<util::HandlerGate> gate_ = util::HandlerGate::make();
};

}  // namespace leasehold::agent
