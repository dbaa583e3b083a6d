#include "agent/election_runner.h"

#include <filesystem>

#include "util/json_text.h"

namespace leasehold::agent {

using election::SteadyTime;

namespace {

// Files of the default election sit at the top of the status dir (and under
// elections/<name>/ like every election's).
std::vector<std::string> file_dirs(const RunnerContext& c, const std::string& name, bool is_default) {
  if (c.status_dir.empty()) return {};
  std::vector<std::string> dirs;
  if (is_default) dirs.push_back(c.status_dir);
  dirs.push_back(c.status_dir + "/elections/" + name);
  return dirs;
}

std::vector<std::string> ack_paths(const RunnerContext& c, const std::string& name, bool is_default) {
  std::vector<std::string> paths;
  for (const auto& dir : file_dirs(c, name, is_default)) paths.push_back(dir + "/ack");
  return paths;
}

}  // namespace

ElectionRunner::ElectionRunner(const RunnerContext& context, config::ElectionSettings settings, bool is_default,
                               kube::ApiClient& api, status::Metrics& metrics, boost::asio::io_context& io,
                               log::Logger& logger)
    : context_(context),
      settings_(std::move(settings)),
      log_(logger),
      lease_client_(api, context_.namespace_name, settings_.name),
      board_(status::StatusIdentity{settings_.name, context_.namespace_name, context_.identity}, clock_),
      metrics_(metrics.add_election(settings_.name, board_)),
      side_effects_(SideEffectSettings{settings_.name, context_.identity, context_.namespace_name, context_.pod_name,
                                       settings_.on_start_leading, settings_.on_stop_leading, settings_.leader_label,
                                       context_.hook_timeout},
                    *context_.blocking_io, api, metrics_, logger,
                    [this](std::string_view what) { context_.on_fatal(hooks_thread_, what); }),
      publisher_(settings_.name, clock_, board_, file_dirs(context_, settings_.name, is_default), metrics_,
                 side_effects_, logger),
      elector_(context_.identity, settings_.timings, clock_, lease_client_, &publisher_),
      watch_(api, clock_, lease_client_.collection_path(), settings_.name, *this),
      hub_(std::make_shared<status::StatusHub>(io, board_)),
      ack_files_(ack_paths(context_, settings_.name, is_default),
                 [this](const std::string& path, const std::string& error) {
                   log_.warn("cannot remove the ack file; ignoring it",
                             {{"election", settings_.name}, {"path", path}, {"error", error}});
                 }),
      handoff_(clock_, context_.handoff_timeout) {
  publisher_.attach(elector_);
  elector_.trust_unmarked_releases(settings_.trust_unmarked_release);
  for (const auto& dir : file_dirs(context_, settings_.name, is_default)) {
    std::error_code ignored;
    std::filesystem::create_directories(dir, ignored);
  }
  board_.set_listener([hub = hub_] { hub->notify(); });
  if (settings_.app_health.enabled()) {
    const health::HealthSnapshot initial = health::AppHealth(settings_.app_health, clock_).snapshot();
    elector_.set_eligible(initial.eligible);
    board_.set_app_health(status::AppHealthStatus{to_string(initial.health), initial.since_wall, initial.eligible});
    metrics_.app_healthy(false);
    prober_ = std::make_unique<health::Prober>(settings_.app_health, clock_, *context_.blocking_io,
                                               [this](const health::ProbeReport& report) { on_probe(report); });
  }
}

ElectionRunner::~ElectionRunner() {
  // Started and never stopped (the agent failed to start after this runner
  // did): stop as on shutdown, so that the loop ends and a Lease it may have
  // taken goes back.
  if (loop_thread_.joinable() && !shutting_down_) begin_shutdown();
  // The prober and the watch call back into this runner: they end before it.
  if (prober_) prober_->stop();
  watch_.stop();
  if (loop_thread_.joinable()) loop_thread_.join();
}

void ElectionRunner::start() {
  // Written before anything else so that a reader never finds a stale file
  // from a previous run of this pod.
  publisher_.write_files();
  loop_thread_ = std::thread([this] { run_loop(); });
  watch_.start();
  if (prober_) prober_->start();
}

status::ElectionEndpoint ElectionRunner::endpoint() {
  return status::ElectionEndpoint{settings_.name, &board_, hub_, [this] { return acknowledge_request(); },
                                  [this](const std::string& to) { return resign_request(to); }};
}

void ElectionRunner::push(Event event) {
  {
    std::lock_guard lock(queue_mutex_);
    queue_.push_back(std::move(event));
  }
  queue_cv_.notify_one();
}

void ElectionRunner::begin_shutdown() {
  shutting_down_ = true;
  // Stop claiming first, on every channel, before anything that can wait.
  publisher_.stop_claiming_now();
  push(Shutdown{});
}

bool ElectionRunner::finish_shutdown() {
  if (loop_thread_.joinable()) loop_thread_.join();
  watch_.stop();
  if (prober_) prober_->stop();
  hub_->notify();
  side_effects_.stop(clock_.steady_now() + context_.hook_timeout);
  return released_;
}

status::HttpAnswer ElectionRunner::acknowledge_request() {
  if (!handoff_pending_) {
    return status::HttpAnswer{409, "{\"error\":\"no handoff in progress\"}\n"};
  }
  push(Acknowledge{});
  return status::HttpAnswer{202, "{\"acknowledged\":true}\n"};
}

status::HttpAnswer ElectionRunner::resign_request(const std::string& to) {
  if (!board_.view().is_leader) return status::HttpAnswer{409, "{\"error\":\"not the leader\"}\n"};
  push(Resign{to});
  return status::HttpAnswer{202, json_text(nlohmann::json{{"resigning", true}, {"to", to}}) + "\n"};
}

void ElectionRunner::run_loop() {
  // The loop thread's one boundary. The ending runs inside the handler, where the error's text
  // still lives: copying it out could fail the same way (running out of memory).
  try {
    loop();
  } catch (const std::exception& e) {
    end_after_internal_error(e.what());
  } catch (...) {
    end_after_internal_error("unknown exception");
  }
}

void ElectionRunner::end_after_internal_error(std::string_view what) noexcept {
  // Stop claiming, release what can be released, and end the process so that it is restarted.
  publisher_.abandon();
  try {
    elector_.stop_claiming("internal error");
    elector_.release(clock_.steady_now() + context_.release_timeout);
  } catch (...) {
    // Nothing more can be done here; the process ends next.
  }
  context_.on_fatal(election_thread_, what);
  std::abort();  // on_fatal does not return
}

void ElectionRunner::loop() {
  SteadyTime next = clock_.steady_now();
  for (;;) {
    std::deque<Event> events;
    {
      std::unique_lock lock(queue_mutex_);
      queue_cv_.wait_until(lock, next, [&] { return !queue_.empty(); });
      events.swap(queue_);
    }
    for (auto& event : events) {
      if (!handle(event)) return;
    }
    if (handoff_.active()) {
      if (ack_files_.present()) handoff_.acknowledge();
      if (!carry_out(handoff_.advance(elector_.state().leading))) return;
    }
    next = elector_.step();
    board_.heartbeat();
    publisher_.publish();
    // An operator asked the leader to resign (an annotation on the Lease):
    // exactly as POST /v1/resign, through the handoff.
    if (!handoff_.active() && elector_.state().resign_requested) {
      log_.info("the lease asks this leader to resign", {{"election", settings_.name}});
      resign("");
      next = clock_.steady_now();
    }
    // The ack file is looked for often while a handoff waits for it.
    if (handoff_.active()) next = std::min(next, handoff_.wake_at());
  }
}

bool ElectionRunner::handle(Event& event) {
  if (auto* seen = std::get_if<LeaseSeen>(&event)) {
    elector_.observe(seen->record);
  } else if (auto* gone = std::get_if<LeaseGone>(&event)) {
    elector_.observe_absent(gone->revision);
  } else if (auto* health = std::get_if<WatchHealth>(&event)) {
    elector_.set_watch_healthy(health->healthy);
  } else if (auto* resign = std::get_if<Resign>(&event)) {
    this->resign(resign->to);
  } else if (std::holds_alternative<Acknowledge>(event)) {
    handoff_.acknowledge();
  } else if (auto* app = std::get_if<AppHealthChanged>(&event)) {
    on_app_health(*app);
  } else if (std::holds_alternative<Shutdown>(event)) {
    return carry_out(handoff_.shutdown(elector_.state().leading));
  }
  return true;
}

// On a blocking-work thread (a step of the prober): counted, and only changes go to the loop.
void ElectionRunner::on_probe(const health::ProbeReport& report) {
  metrics_.app_probe(health::to_string(report.outcome));
  if (report.changed) push(AppHealthChanged{report});
}

// A follower whose app is unhealthy stays out of the election; a leader whose
// app turns unhealthy resigns as POST /v1/resign does, and the elector stays
// ineligible (after the resign's stand-back) until the app is healthy again.
void ElectionRunner::on_app_health(AppHealthChanged& change) {
  const health::HealthSnapshot& h = change.report.snapshot;
  elector_.set_eligible(h.eligible);
  board_.set_app_health(status::AppHealthStatus{to_string(h.health), h.since_wall, h.eligible});
  metrics_.app_healthy(h.health == health::Health::kHealthy);
  const bool leading = elector_.state().leading;
  log_.log(h.health == health::Health::kHealthy ? log::Level::kInfo : log::Level::kWarn,
           h.health == health::Health::kHealthy ? "the app is healthy" : "the app is unhealthy",
           {{"election", settings_.name},
            {"lastCheck", health::to_string(change.report.outcome)},
            {"detail", change.report.detail},
            {"consecutiveFailures", h.consecutive_failures},
            {"consecutiveSuccesses", h.consecutive_successes},
            {"leading", leading},
            {"mayTakeLease", h.eligible}});
  if (h.health == health::Health::kUnhealthy) resign("");
}

void ElectionRunner::resign(const std::string& successor) {
  // A resign that arrives after the stop began is the stop's to handle.
  if (shutting_down_) return;
  carry_out(handoff_.resign(elector_.state().leading, successor));
}

bool ElectionRunner::carry_out(const election::Handoff::Decision& decision) {
  using Action = election::Handoff::Action;
  switch (decision.action) {
    case Action::kNone:
    case Action::kWait: return true;
    case Action::kStopClaiming:
      // First, before anything that can wait: nothing reads as leader any more.
      publisher_.stop_claiming_now();
      ack_files_.clear();
      handoff_pending_ = true;
      log_.info("stepping down: no longer claiming leadership",
                {{"election", settings_.name},
                 {"reason", to_string(handoff_.reason())},
                 {"successor", decision.successor},
                 {"waitingForAckMs",
                  std::chrono::duration_cast<std::chrono::milliseconds>(context_.handoff_timeout).count()}});
      return true;
    case Action::kRelease:
    case Action::kResign: break;
  }
  if (decision.ended) {
    if (context_.handoff_timeout > election::Duration::zero()) {
      log_.info(*decision.ended == election::Handoff::Ended::kAcknowledged ? "the app acknowledged the handoff"
                                                                           : "handoff: no acknowledgement in time",
                {{"election", settings_.name}, {"ended", to_string(*decision.ended)}});
    }
    handoff_pending_ = false;
    ack_files_.clear();
  }
  const SteadyTime release_deadline = clock_.steady_now() + context_.release_timeout;
  if (decision.action == Action::kRelease) {
    elector_.stop_claiming("shutting down");
    publisher_.publish();
    released_ = elector_.release(release_deadline);
    publisher_.publish();
    return false;
  }
  elector_.resign(release_deadline, decision.successor);
  publisher_.publish();
  if (!shutting_down_) board_.set_claiming(true);
  return true;
}

void ElectionRunner::on_lease(const election::LeaseRecord& record, const nlohmann::json& object) {
  lease_client_.remember(object, record);
  push(LeaseSeen{record});
}

void ElectionRunner::on_lease_deleted(std::optional<std::uint64_t> revision) { push(LeaseGone{revision}); }

void ElectionRunner::on_watch_state(bool healthy, const std::string& reason) {
  metrics_.watch_state(healthy);
  if (healthy != last_watch_healthy_) {
    if (healthy) {
      log_.debug("watching the lease", {{"election", settings_.name}});
    } else {
      log_.debug("watch interrupted; polling until it is back", {{"election", settings_.name}, {"reason", reason}});
    }
  }
  last_watch_healthy_ = healthy;
  push(WatchHealth{healthy});
}

void ElectionRunner::on_watch_garbage(const std::string& what) {
  metrics_.watch_garbage();
  log_.warn("ignored a watch event", {{"election", settings_.name}, {"reason", what}});
}

void ElectionRunner::on_watch_fatal(std::string_view what) noexcept { context_.on_fatal(watch_thread_, what); }

}  // namespace leasehold::agent
