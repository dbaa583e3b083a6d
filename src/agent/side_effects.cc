#include "agent/side_effects.h"

#include "agent/command.h"
#include "util/json_text.h"

namespace leasehold::agent {

SideEffects::SideEffects(SideEffectSettings settings, kube::ApiClient& api, status::ElectionMetrics& metrics,
                         log::Logger& logger, std::function<void(std::string_view)> on_fatal)
    : settings_(std::move(settings)), api_(api), metrics_(metrics), log_(logger), on_fatal_(std::move(on_fatal)) {
  if (!enabled()) return;
  worker_ = std::thread([this] {
    // The worker's one boundary.
    try {
      run();
    } catch (const std::exception& e) {
      on_fatal_(e.what());
    } catch (...) {
      on_fatal_("unknown exception");
    }
  });
}

SideEffects::~SideEffects() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  // The worker holds `this`: wait for it (a hook still running is bounded by its timeout).
  if (worker_.joinable()) worker_.join();
}

bool SideEffects::enabled() const {
  return !settings_.on_start_leading.empty() || !settings_.on_stop_leading.empty() || !settings_.leader_label.empty();
}

void SideEffects::set_leading(bool leading, std::uint64_t fencing_token) {
  if (!enabled()) return;
  {
    std::lock_guard lock(mutex_);
    hooks_.push_back(Change{leading, fencing_token});
    if (!settings_.leader_label.empty()) label_wanted_ = leading;
    idle_ = false;
  }
  cv_.notify_all();
}

void SideEffects::stop(election::SteadyTime deadline) {
  if (!enabled()) return;
  std::unique_lock lock(mutex_);
  if (!settings_.leader_label.empty()) label_wanted_ = false;
  idle_ = !busy_ && hooks_.empty() && (!label_wanted_ || *label_wanted_ == label_is_on_);
  cv_.notify_all();
  cv_.wait_until(lock, deadline, [&] { return idle_; });
}

void SideEffects::run() {
  auto backoff = std::chrono::milliseconds(500);
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !hooks_.empty() || (label_wanted_ && *label_wanted_ != label_is_on_); });
    if (stopping_) return;
    if (!hooks_.empty()) {
      const Change change = hooks_.front();
      hooks_.pop_front();
      busy_ = true;
      lock.unlock();
      if (change.leading) {
        run_hook("start", settings_.on_start_leading, change.token);
      } else {
        run_hook("stop", settings_.on_stop_leading, change.token);
      }
      lock.lock();
      busy_ = false;
    } else {
      const bool want = *label_wanted_;
      busy_ = true;
      lock.unlock();
      const bool ok = apply_label(want);
      lock.lock();
      busy_ = false;
      if (ok) {
        label_is_on_ = want;
        backoff = std::chrono::milliseconds(500);
      } else {
        // Retry later unless the wish changes meanwhile.
        cv_.wait_for(lock, backoff, [&] { return stopping_ || (label_wanted_ && *label_wanted_ != want); });
        backoff = std::min(backoff * 2, std::chrono::milliseconds(30000));
      }
    }
    if (hooks_.empty() && (!label_wanted_ || *label_wanted_ == label_is_on_)) {
      idle_ = true;
      cv_.notify_all();
    }
  }
}

void SideEffects::run_hook(const char* which, const std::string& command, std::uint64_t token) {
  if (command.empty()) return;
  const CommandResult result =
      run_command(command,
                  {{"LEASEHOLD_ELECTION", settings_.election},
                   {"LEASEHOLD_IDENTITY", settings_.identity},
                   {"LEASEHOLD_FENCING_TOKEN", std::to_string(token)},
                   {"LEASEHOLD_EVENT", std::string(which) == "start" ? "started-leading" : "stopped-leading"}},
                  std::chrono::duration_cast<std::chrono::milliseconds>(settings_.hook_timeout));
  const std::string outcome = result.timed_out ? "timeout" : result.exit_code == 0 ? "success" : "failure";
  metrics_.side_effect(which, outcome);
  log_.log(outcome == "success" ? log::Level::kInfo : log::Level::kWarn, "hook finished",
           {{"election", settings_.election},
            {"hook", which},
            {"outcome", outcome},
            {"exitCode", result.exit_code},
            {"output", result.output},
            {"error", result.error}});
}

bool SideEffects::apply_label(bool present) {
  const std::string path = "/api/v1/namespaces/" + settings_.namespace_name + "/pods/" + settings_.pod_name;
  nlohmann::json patch = {
      {"metadata",
       {{"labels", {{settings_.leader_label, present ? nlohmann::json("true") : nlohmann::json(nullptr)}}}}}};
  const std::string body = json_text(patch);
  const auto response = api_.send("patch", web::http::methods::PATCH, path, &body,
                                  api_.clock().steady_now() + std::chrono::seconds(5), "application/merge-patch+json");
  const bool ok = response.transport == kube::Transport::kNone && response.status == 200;
  metrics_.side_effect("label", ok ? "success" : "failure");
  log_.log(ok ? log::Level::kInfo : log::Level::kWarn, ok ? "pod label updated" : "pod label update failed",
           {{"election", settings_.election},
            {"label", settings_.leader_label},
            {"present", present},
            {"detail", ok ? std::string() : response.detail + " HTTP " + std::to_string(response.status)}});
  return ok;
}

}  // namespace leasehold::agent
