#include "agent/side_effects.h"

#include <boost/asio/post.hpp>

#include "agent/command.h"
#include "util/json_text.h"

namespace leasehold::agent {

SideEffects::SideEffects(SideEffectSettings settings, boost::asio::io_context& io, kube::ApiClient& api,
                         status::ElectionMetrics& metrics, log::Logger& logger,
                         std::function<void(std::string_view)> on_fatal)
    : settings_(std::move(settings)),
      api_(api),
      metrics_(metrics),
      log_(logger),
      on_fatal_(std::move(on_fatal)),
      strand_(boost::asio::make_strand(io)),
      retry_timer_(strand_) {}

SideEffects::~SideEffects() {
  // A step in progress uses this object. Once the gate is closed nothing else does: the steps
  // still queued and the retry timer's wait (cancelled by its destructor) find it closed.
  gate_->close();
}

bool SideEffects::enabled() const {
  return !settings_.on_start_leading.empty() || !settings_.on_stop_leading.empty() || !settings_.leader_label.empty();
}

void SideEffects::set_leading(bool leading, std::uint64_t fencing_token) {
  if (!enabled()) return;
  std::lock_guard lock(mutex_);
  hooks_.push_back(Change{leading, fencing_token});
  if (!settings_.leader_label.empty()) want_label(leading);
  queue_step();
}

void SideEffects::stop(election::SteadyTime deadline) {
  if (!enabled()) return;
  std::unique_lock lock(mutex_);
  if (!settings_.leader_label.empty()) {
    want_label(false);
    queue_step();
  }
  cv_.wait_until(lock, deadline, [&] { return failed_ || settled(); });
}

void SideEffects::queue_step() {
  // One step queued at a time keeps the strand's queue short; the step queues the next.
  if (step_queued_ || failed_) return;
  step_queued_ = true;
  boost::asio::post(strand_, [this, gate = gate_] {
    if (const auto pass = gate->enter()) step_or_fail();
  });
}

void SideEffects::want_label(bool present) {
  // A new wish is tried at once, whatever the back-off of the previous one said.
  if (label_wanted_ != present) backing_off_ = false;
  label_wanted_ = present;
}

bool SideEffects::label_due() const { return label_wanted_ && *label_wanted_ != label_is_on_ && !backing_off_; }

bool SideEffects::settled() const {
  return !stepping_ && hooks_.empty() && (!label_wanted_ || *label_wanted_ == label_is_on_);
}

void SideEffects::step_or_fail() {
  // The steps' one boundary.
  try {
    step();
    return;
  } catch (const std::exception& e) {
    on_fatal_(e.what());
  } catch (...) {
    on_fatal_("unknown exception");
  }
  std::lock_guard lock(mutex_);
  failed_ = true;
  stepping_ = false;
  cv_.notify_all();
}

// One hook or one label update: the hooks first, in order; the label once they are done.
void SideEffects::step() {
  std::unique_lock lock(mutex_);
  step_queued_ = false;
  if (!hooks_.empty()) {
    const Change change = hooks_.front();
    hooks_.pop_front();
    stepping_ = true;
    lock.unlock();
    if (change.leading) {
      run_hook("start", settings_.on_start_leading, change.token);
    } else {
      run_hook("stop", settings_.on_stop_leading, change.token);
    }
    lock.lock();
  } else if (label_due()) {
    const bool want = *label_wanted_;
    stepping_ = true;
    lock.unlock();
    const bool ok = apply_label(want);
    lock.lock();
    if (ok) {
      label_is_on_ = want;
      backoff_ = std::chrono::milliseconds(500);
    } else {
      backing_off_ = true;
      retry_timer_.expires_after(backoff_);
      // Runs on the strand (the timer's executor). A wait cancelled by a newer one only queues a
      // step that finds nothing new.
      retry_timer_.async_wait([this, gate = gate_, round = ++backoff_round_](const boost::system::error_code&) {
        const auto pass = gate->enter();
        if (!pass) return;
        std::lock_guard relock(mutex_);
        if (round == backoff_round_) backing_off_ = false;
        queue_step();
      });
      backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds(30000));
    }
  }
  stepping_ = false;
  // One step per handler, so that other elections' work gets its turn on the shared threads.
  if (!hooks_.empty() || label_due()) queue_step();
  cv_.notify_all();
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
