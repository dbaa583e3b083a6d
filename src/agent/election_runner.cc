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
                    api, metrics_, logger,
                    [this](const std::string& what) { context_.on_fatal("hooks of " + settings_.name, what); }),
      publisher_(settings_.name, clock_, board_, file_dirs(context_, settings_.name, is_default), metrics_,
                 side_effects_, logger),
      elector_(context_.identity, settings_.timings, clock_, lease_client_, &publisher_),
      watch_(api, lease_client_.collection_path(), settings_.name, *this),
      hub_(std::make_shared<status::StatusHub>(io, board_)) {
  publisher_.attach(elector_);
  elector_.trust_unmarked_releases(settings_.trust_unmarked_release);
  for (const auto& dir : file_dirs(context_, settings_.name, is_default)) {
    std::error_code ignored;
    std::filesystem::create_directories(dir, ignored);
    ack_files_.push_back(dir + "/ack");
  }
  board_.set_listener([hub = hub_] { hub->notify(); });
  if (settings_.app_health.enabled()) {
    const health::HealthSnapshot initial = health::AppHealth(settings_.app_health, clock_).snapshot();
    elector_.set_eligible(initial.eligible);
    board_.set_app_health(status::AppHealthStatus{to_string(initial.health), initial.since_wall, initial.eligible});
    metrics_.app_healthy(false);
    prober_ = std::make_unique<health::Prober>(settings_.app_health, clock_,
                                               [this](const health::ProbeReport& report) { on_probe(report); });
  }
}

ElectionRunner::~ElectionRunner() {
  // The prober pushes into the queue: it goes first.
  if (prober_) prober_->stop();
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
  // The loop thread's one boundary: stop claiming, release what can be
  // released, and end the process so that it is restarted.
  std::string what;
  try {
    loop();
    return;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown exception";
  }
  try {
    publisher_.stop_claiming_now();
    elector_.stop_claiming("internal error");
    elector_.release(clock_.steady_now() + context_.release_timeout);
  } catch (...) {
    // Nothing more can be done here; the process ends next.
  }
  context_.on_fatal("election " + settings_.name, what);
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
    if (handoff_ && !advance_handoff()) return;
    next = elector_.step();
    board_.heartbeat();
    publisher_.publish();
    // An operator asked the leader to resign (an annotation on the Lease):
    // exactly as POST /v1/resign, through the handoff.
    if (!handoff_ && elector_.state().resign_requested) {
      log_.info("the lease asks this leader to resign", {{"election", settings_.name}});
      resign("");
      next = clock_.steady_now();
    }
    // The ack file is looked for often while a handoff waits for it.
    if (handoff_) next = std::min(next, clock_.steady_now() + std::chrono::milliseconds(20));
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
    if (handoff_) handoff_->acknowledged = true;
  } else if (auto* app = std::get_if<AppHealthChanged>(&event)) {
    on_app_health(*app);
  } else if (std::holds_alternative<Shutdown>(event)) {
    if (elector_.state().leading) {
      if (!handoff_ || handoff_->reason != HandoffReason::kShutdown) {
        const bool acknowledged = handoff_ && handoff_->acknowledged;
        begin_handoff(HandoffReason::kShutdown, "");
        handoff_->acknowledged = acknowledged;
      }
    } else {
      handoff_.reset();
      handoff_pending_ = false;
      elector_.stop_claiming("shutting down");
      publisher_.publish();
      released_ = elector_.release(clock_.steady_now() + context_.release_timeout);
      publisher_.publish();
      return false;
    }
  }
  return true;
}

// On the prober's thread: counted, and only changes go to the loop.
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
  // One way to resign, whoever asks (POST /v1/resign, the Lease's annotation,
  // the app's health): only a leader not already handing off or stopping.
  if (handoff_ || shutting_down_ || !elector_.state().leading) return;
  begin_handoff(HandoffReason::kResign, successor);
}

void ElectionRunner::begin_handoff(HandoffReason reason, const std::string& successor) {
  publisher_.stop_claiming_now();
  remove_ack_files();
  handoff_ = Handoff{reason, successor, clock_.steady_now() + context_.handoff_timeout};
  handoff_pending_ = true;
  log_.info(
      "stepping down: no longer claiming leadership",
      {{"election", settings_.name},
       {"reason", reason == HandoffReason::kShutdown ? "shutdown" : "resign"},
       {"successor", successor},
       {"waitingForAckMs", std::chrono::duration_cast<std::chrono::milliseconds>(context_.handoff_timeout).count()}});
}

bool ElectionRunner::advance_handoff() {
  const SteadyTime now = clock_.steady_now();
  const bool acknowledged = handoff_->acknowledged || ack_file_present();
  // Losing the Lease meanwhile ends the wait too: there is nothing left to hand over.
  if (!acknowledged && now < handoff_->deadline && elector_.state().leading) return true;
  if (context_.handoff_timeout > election::Duration::zero()) {
    log_.info(acknowledged ? "the app acknowledged the handoff" : "handoff: no acknowledgement in time",
              {{"election", settings_.name}});
  }
  const Handoff done = *handoff_;
  handoff_.reset();
  handoff_pending_ = false;
  remove_ack_files();
  const SteadyTime release_deadline = clock_.steady_now() + context_.release_timeout;
  if (done.reason == HandoffReason::kShutdown) {
    elector_.stop_claiming("shutting down");
    publisher_.publish();
    released_ = elector_.release(release_deadline);
    publisher_.publish();
    return false;
  }
  elector_.resign(release_deadline, done.successor);
  publisher_.publish();
  if (!shutting_down_) board_.set_claiming(true);
  return true;
}

bool ElectionRunner::ack_file_present() const {
  for (size_t i = 0; i < ack_files_.size(); ++i) {
    if (i < ack_stuck_.size() && ack_stuck_[i]) continue;
    std::error_code ignored;
    if (std::filesystem::exists(ack_files_[i], ignored)) return true;
  }
  return false;
}

void ElectionRunner::remove_ack_files() {
  // The app owns these paths: whatever is there (a directory, no permission),
  // failing to remove it must neither end the handoff nor count as an
  // acknowledgement: such a path is ignored until it can be removed.
  // Non-throwing calls only.
  ack_stuck_.assign(ack_files_.size(), false);
  for (size_t i = 0; i < ack_files_.size(); ++i) {
    std::error_code error;
    std::filesystem::remove(ack_files_[i], error);
    if (error && error != std::errc::no_such_file_or_directory) {
      ack_stuck_[i] = true;
      log_.warn("cannot remove the ack file; ignoring it",
                {{"election", settings_.name}, {"path", ack_files_[i]}, {"error", error.message()}});
    }
  }
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

void ElectionRunner::on_watch_fatal(const std::string& what) { context_.on_fatal("watch of " + settings_.name, what); }

}  // namespace leasehold::agent
