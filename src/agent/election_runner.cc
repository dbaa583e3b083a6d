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
      elector_(context_.identity, settings_.timings, clock_, lease_client_, this),
      watch_(api, lease_client_.collection_path(), settings_.name, *this),
      hub_(std::make_shared<status::StatusHub>(io, board_)),
      side_effects_(SideEffectSettings{settings_.name, context_.identity, context_.namespace_name, context_.pod_name,
                                       settings_.on_start_leading, settings_.on_stop_leading, settings_.leader_label,
                                       context_.hook_timeout},
                    api, metrics_, logger) {
  for (const auto& dir : file_dirs(context_, settings_.name, is_default)) {
    std::error_code ignored;
    std::filesystem::create_directories(dir, ignored);
    files_.emplace_back(dir);
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
  write_files(board_.view());
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
  board_.set_claiming(false);
  write_files(board_.view());
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
    publish(elector_.state());
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
    if (!handoff_ && elector_.state().leading) begin_handoff(HandoffReason::kResign, resign->to);
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
      publish(elector_.state());
      released_ = elector_.release(clock_.steady_now() + context_.release_timeout);
      publish(elector_.state());
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
  if (h.health == health::Health::kUnhealthy && leading && !handoff_ && !shutting_down_) {
    begin_handoff(HandoffReason::kResign, "");
  }
}

void ElectionRunner::begin_handoff(HandoffReason reason, const std::string& successor) {
  board_.set_claiming(false);
  write_files(board_.view());
  for (const auto& file : ack_files_) std::filesystem::remove(file);
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
  for (const auto& file : ack_files_) std::filesystem::remove(file);
  const SteadyTime release_deadline = clock_.steady_now() + context_.release_timeout;
  if (done.reason == HandoffReason::kShutdown) {
    elector_.stop_claiming("shutting down");
    publish(elector_.state());
    released_ = elector_.release(release_deadline);
    publish(elector_.state());
    return false;
  }
  elector_.resign(release_deadline, done.successor);
  publish(elector_.state());
  if (!shutting_down_) board_.set_claiming(true);
  return true;
}

bool ElectionRunner::ack_file_present() const {
  for (const auto& file : ack_files_) {
    std::error_code ignored;
    if (std::filesystem::exists(file, ignored)) return true;
  }
  return false;
}

void ElectionRunner::publish(const election::ElectionState& state) {
  const bool changed = board_.publish(state);
  const status::StatusView view = board_.view();
  if (view.is_leader != claimed_) {
    claimed_ = view.is_leader;
    side_effects_.set_leading(claimed_, view.fencing_token.value_or(0));
  }
  // Files follow every change and every renew of our own, so that a leader's deadline keeps
  // moving; a follower does not rewrite them for each of the leader's renewals.
  const bool own_renew = state.leading && state.valid_until != last_written_claim_;
  if (changed || own_renew) {
    last_written_claim_ = state.valid_until;
    write_files(view);
  }
}

void ElectionRunner::write_files(const status::StatusView& view) {
  std::lock_guard lock(files_mutex_);
  for (auto& files : files_) {
    const std::string error = files.publish(view);
    if (!error.empty()) {
      metrics_.status_file_error();
      log_.warn("cannot write status files", {{"election", settings_.name}, {"error", error}});
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

void ElectionRunner::on_started_leading(const election::ElectionState& state) {
  metrics_.leadership_started();
  log_.info("started leading", {{"election", settings_.name},
                                {"identity", context_.identity},
                                {"fencingToken", state.fencing_token},
                                {"leaseTransitions", state.lease_transitions}});
}

void ElectionRunner::on_stopped_leading(std::string_view reason) {
  metrics_.leadership_stopped();
  log_.info("stopped leading", {{"election", settings_.name}, {"reason", std::string(reason)}});
}

void ElectionRunner::on_leader_observed(const std::string& identity) {
  log_.info("leader changed", {{"election", settings_.name}, {"leader", identity}});
}

void ElectionRunner::on_renew(bool success, election::Duration latency) {
  metrics_.renew(success, latency, clock_.wall_now());
}

void ElectionRunner::on_store_error(std::string_view operation, const election::StoreResult& result) {
  metrics_.store_error(std::string(operation), result.error);
  const bool expected = result.error == election::StoreError::kConflict ||
                        result.error == election::StoreError::kAlreadyExists ||
                        result.error == election::StoreError::kNotFound;
  log_.log(expected ? log::Level::kDebug : log::Level::kWarn, "lease request failed",
           {{"election", settings_.name},
            {"operation", std::string(operation)},
            {"error", election::to_string(result.error)},
            {"detail", result.detail}});
}

}  // namespace leasehold::agent
