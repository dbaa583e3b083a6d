// SideEffects: what happens outside the pod's files and listeners when this
// agent starts or stops leading one election: the user's hook commands and
// the opt-in leader pod label. Runs on its own worker thread so that a slow
// hook or API call never holds up the election; outcomes are logged and
// counted.
//
// Thread-safety: set_leading() and stop() from one thread at a time (the
// election thread, then the main thread at shutdown); the rest runs on the
// worker, which the destructor joins.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "agent/election_publisher.h"
#include "config/config.h"
#include "kube/api_client.h"
#include "log/logger.h"
#include "status/metrics.h"

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
  // on_fatal: called from the worker on an error it cannot handle; must not return.
  SideEffects(SideEffectSettings settings, kube::ApiClient& api, status::ElectionMetrics& metrics, log::Logger& logger,
              std::function<void(std::string_view)> on_fatal);
  ~SideEffects() override;
  bool enabled() const;
  // Leadership as the app sees it changed.
  void set_leading(bool leading, std::uint64_t fencing_token) override;
  // Shutdown: asks for the label to come off and waits, at most until `deadline`, for the worker
  // to finish that and the hooks already queued (the stop hook of a term that ended among them:
  // set_leading(false) queued it; stop() runs no hook of its own).
  void stop(election::SteadyTime deadline);

 private:
  void run();
  void run_hook(const char* which, const std::string& command, std::uint64_t token);
  bool apply_label(bool present);

  const SideEffectSettings settings_;
  kube::ApiClient& api_;
  status::ElectionMetrics& metrics_;
  log::Logger& log_;
  const std::function<void(std::string_view)> on_fatal_;
  std::mutex mutex_;
  std::condition_variable cv_;
  struct Change {
    bool leading;
    std::uint64_t token;
  };
  std::deque<Change> hooks_;
  std::optional<bool> label_wanted_;
  bool label_is_on_ = false;
  bool stopping_ = false;
  bool idle_ = true;
  bool busy_ = false;
  std::thread worker_;
};

}  // namespace leasehold::agent
