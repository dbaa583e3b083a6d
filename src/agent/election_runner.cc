#include "agent/election_runner.h"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <future>

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

election::MachineSettings machine_settings(const RunnerContext& c, const config::ElectionSettings& s,
                                           const election::Clock& clock, bool sharded) {
  election::MachineSettings m;
  m.sharded = sharded;
  m.identity = c.identity;
  m.timings = s.timings;
  m.handoff_timeout = c.handoff_timeout;
  m.release_timeout = c.release_timeout;
  m.trust_unmarked_release = s.trust_unmarked_release;
  if (s.app_health.enabled()) m.initially_eligible = health::AppHealth(s.app_health, clock).snapshot().eligible;
  return m;
}

}  // namespace

ElectionRunner::ElectionRunner(const RunnerContext& context, config::ElectionSettings settings, bool is_default,
                               kube::ApiClient& api, status::Metrics& metrics, boost::asio::io_context& io,
                               log::Logger& logger, const ShardLink* shard)
    : context_(context),
      settings_(std::move(settings)),
      shard_(shard),
      log_(logger),
      lease_client_(api, context_.namespace_name, settings_.name),
      board_(status::StatusIdentity{settings_.name, context_.namespace_name, context_.identity}, clock_),
      metrics_(metrics.add_election(
          settings_.name, board_,
          status::ElectionHooks{!settings_.on_start_leading.empty(), !settings_.on_stop_leading.empty(),
                                !settings_.leader_label.empty()})),
      side_effects_(SideEffectSettings{settings_.name, context_.identity, context_.namespace_name, context_.pod_name,
                                       settings_.on_start_leading, settings_.on_stop_leading, settings_.leader_label,
                                       context_.hook_timeout},
                    *context_.blocking_io, api, metrics_, logger,
                    [this](std::string_view what) { context_.on_fatal(hooks_thread_, what); }),
      publisher_(settings_.name, clock_, board_, file_dirs(context_, settings_.name, is_default), metrics_,
                 side_effects_, logger),
      ack_files_(ack_paths(context_, settings_.name, is_default),
                 [this](const std::string& path, const std::string& error) {
                   log_.warn("cannot remove the ack file; ignoring it",
                             {{"election", settings_.name}, {"path", path}, {"error", error}});
                 }),
      machine_(machine_settings(context_, settings_, clock_, shard != nullptr), clock_, lease_client_, &publisher_,
               *this, ack_files_),
      hub_(std::make_shared<status::StatusHub>(io, board_, settings_.name)),
      strand_(boost::asio::make_strand(*context_.election_io)),
      timer_(*context_.election_io) {
  publisher_.attach(machine_.elector());
  // A shard's moves are many at once when members come and go: they are in the logs and the
  // shard metrics, not told one by one as Events.
  if (context_.events && !shard_) {
    publisher_.report_events_to([events = context_.events](kube::EventReport r) { events->record(std::move(r)); });
  }
  if (shard_ && shard_->files_written) publisher_.also_write(shard_->files_written);
  for (const auto& dir : file_dirs(context_, settings_.name, is_default)) {
    std::error_code ignored;
    std::filesystem::create_directories(dir, ignored);
  }
  board_.set_listener([hub = hub_, shard = shard_] {
    hub->notify();
    if (shard && shard->status_changed) shard->status_changed();
  });
  if (settings_.app_health.enabled()) {
    const health::HealthSnapshot initial = health::AppHealth(settings_.app_health, clock_).snapshot();
    board_.set_app_health(status::AppHealthStatus{to_string(initial.health), initial.since_wall, initial.eligible});
    metrics_.app_healthy(false);
    prober_ = std::make_unique<health::Prober>(settings_.app_health, clock_, *context_.blocking_io,
                                               [this](const health::ProbeReport& report) { on_probe(report); });
  }
}

ElectionRunner::~ElectionRunner() {
  // Started and never stopped (the agent failed to start after this runner
  // did): stop as on shutdown, so that the machine ends and a Lease it may
  // have taken goes back.
  if (started_ && !shutting_down_) {
    begin_shutdown();
    finish_shutdown();
  }
  // A handler of this runner already queued on the strand (a timer that fired just before it was
  // cancelled, a drain) runs before this one: once it has run, none is left to touch this
  // runner. A stopped loop runs none again.
  if (started_ && !context_.election_io->stopped()) {
    std::promise<void> drained;
    boost::asio::post(strand_, [&drained] { drained.set_value(); });
    drained.get_future().wait();
  }
  // The prober calls back into this runner: it ends before it.
  if (prober_) prober_->stop();
}

void ElectionRunner::start() {
  // Written before anything else so that a reader never finds a stale file
  // from a previous run of this pod.
  publisher_.write_files();
  started_ = true;
  boost::asio::post(strand_, [this] { run_turn(); });
  if (prober_) prober_->start();
}

status::ElectionEndpoint ElectionRunner::endpoint() {
  return status::ElectionEndpoint{settings_.name, &board_, hub_, [this] { return acknowledge_request(); },
                                  [this](const std::string& to) { return resign_request(to); }};
}

void ElectionRunner::push(election::MachineEvent event) {
  std::lock_guard lock(queue_mutex_);
  if (ended_) return;
  queue_.push_back(std::move(event));
  if (drain_posted_) return;
  drain_posted_ = true;
  boost::asio::post(strand_, [this] { drain(); });
}

void ElectionRunner::drain() {
  std::deque<election::MachineEvent> events;
  {
    std::lock_guard lock(queue_mutex_);
    events.swap(queue_);
    drain_posted_ = false;
  }
  for (const auto& event : events) {
    machine_.apply(event);
    if (machine_.ended()) break;
  }
  if (machine_.ended()) return finish();
  run_turn();
}

void ElectionRunner::run_turn() {
  const election::ElectionMachine::Turn turn = machine_.turn();
  awaiting_ack_ = machine_.awaiting_ack();
  if (turn.ended) return finish();
  arm_timer(turn.wake_at);
}

void ElectionRunner::arm_timer(SteadyTime at) {
  // A wait already set for no later is kept: the turn it brings runs early, which does no harm
  // (the machine does only what is due, and says when to come back). A follower's next turn moves
  // later with every renewal it sees; re-arming for each would cost a cancellation, a handler
  // and a reactor interrupt per watch event, and a wait once per lease duration costs nothing.
  if (armed_at_ && *armed_at_ <= at) return;
  armed_at_ = at;
  // Re-arming cancels the wait before; a handler that had fired already is left to run.
  timer_.expires_at(at);
  timer_.async_wait(boost::asio::bind_executor(strand_, [this](const boost::system::error_code& error) {
    if (error || machine_.ended()) return;
    armed_at_.reset();
    run_turn();
  }));
}

void ElectionRunner::finish() {
  timer_.cancel();
  armed_at_.reset();
  awaiting_ack_ = false;
  std::lock_guard lock(queue_mutex_);
  ended_ = true;
  queue_.clear();
  ended_cv_.notify_all();
}

void ElectionRunner::begin_shutdown() {
  shutting_down_ = true;
  // Stop claiming first, on every channel, before anything that can wait: the strand may be
  // busy with a request of this election for up to its deadline.
  publisher_.stop_claiming_now();
  push(election::event::ShutdownRequested{});
}

bool ElectionRunner::finish_shutdown() {
  {
    std::unique_lock lock(queue_mutex_);
    ended_cv_.wait(lock, [&] { return ended_; });
  }
  if (prober_) prober_->stop();
  hub_->notify();
  side_effects_.stop(clock_.steady_now() + context_.hook_timeout);
  return machine_.released();
}

status::HttpAnswer ElectionRunner::acknowledge_request() {
  if (!awaiting_ack_) return status::HttpAnswer{409, "{\"error\":\"no handoff in progress\"}\n"};
  push(election::event::Acknowledged{});
  return status::HttpAnswer{202, "{\"acknowledged\":true}\n"};
}

status::HttpAnswer ElectionRunner::resign_request(const std::string& to) {
  if (!board_.view().is_leader) return status::HttpAnswer{409, "{\"error\":\"not the leader\"}\n"};
  push(election::event::ResignRequested{to});
  return status::HttpAnswer{202, json_text(nlohmann::json{{"resigning", true}, {"to", to}}) + "\n"};
}

// On a blocking-work thread (a step of the prober): counted, shown, and only changes go to the machine. A follower
// whose app is unhealthy stays out of the election; a leader whose app turns unhealthy resigns.
void ElectionRunner::on_probe(const health::ProbeReport& report) {
  metrics_.app_probe(health::to_string(report.outcome));
  if (!report.changed) return;
  const health::HealthSnapshot& h = report.snapshot;
  const bool healthy = h.health == health::Health::kHealthy;
  board_.set_app_health(status::AppHealthStatus{to_string(h.health), h.since_wall, h.eligible});
  metrics_.app_healthy(healthy);
  log_.log(healthy ? log::Level::kInfo : log::Level::kWarn, healthy ? "the app is healthy" : "the app is unhealthy",
           {{"election", settings_.name},
            {"lastCheck", health::to_string(report.outcome)},
            {"detail", report.detail},
            {"consecutiveFailures", h.consecutive_failures},
            {"consecutiveSuccesses", h.consecutive_successes},
            {"leading", board_.view().is_leader},
            {"mayTakeLease", h.eligible}});
  if (context_.events && !shard_) {
    context_.events->record(kube::EventReport{
        settings_.name, healthy ? "Normal" : "Warning", healthy ? "AppHealthy" : "AppUnhealthy", "AppHealthChanged",
        std::string(healthy ? "the app is healthy" : "the app is unhealthy") + " (" +
            health::to_string(report.outcome) + (report.detail.empty() ? "" : ": " + report.detail) + "); " +
            (h.eligible ? "may take " : "stays out of ") + settings_.name});
  }
  push(election::event::AppHealthChanged{h.health != health::Health::kUnhealthy, h.eligible});
}

void ElectionRunner::stop_claiming_now() {
  // Set before the answers change, so that an app that sees "not leader" and acknowledges at once
  // finds the handoff waiting.
  awaiting_ack_ = machine_.awaiting_ack();
  publisher_.stop_claiming_now();
}

// A stop begun on the main thread while the strand finished a resign: the stop's "not leader"
// stands (the machine learns of the stop only when it takes the event).
void ElectionRunner::resume_claiming() {
  if (!shutting_down_) board_.set_claiming(true);
}

void ElectionRunner::publish() { publisher_.publish(); }

void ElectionRunner::heartbeat() { board_.heartbeat(); }

void ElectionRunner::note(const election::MachineNote& note) {
  using Kind = election::MachineNote::Kind;
  switch (note.kind) {
    case Kind::kResignAsked:
      log_.info("the lease asks this leader to resign", {{"election", settings_.name}});
      if (context_.events && !shard_) {
        context_.events->record(kube::EventReport{settings_.name, "Normal", "ResignAnnotation", "ResignRequested",
                                                  "the Lease " + settings_.name + " asks this leader to resign"});
      }
      break;
    case Kind::kSteppingDown:
      log_.info("stepping down: no longer claiming leadership",
                {{"election", settings_.name},
                 {"reason", to_string(note.reason)},
                 {"successor", note.successor},
                 {"waitingForAckMs",
                  std::chrono::duration_cast<std::chrono::milliseconds>(context_.handoff_timeout).count()}});
      break;
    case Kind::kHandoffEnded:
      if (context_.handoff_timeout > election::Duration::zero() && note.ended) {
        log_.info(*note.ended == election::Handoff::Ended::kAcknowledged ? "the app acknowledged the handoff"
                                                                         : "handoff: no acknowledgement in time",
                  {{"election", settings_.name}, {"ended", to_string(*note.ended)}});
      }
      break;
    case Kind::kShardMoving:
      if (shard_ && shard_->moved_out) shard_->moved_out();
      log_.info("shard moves to its rightful owner", {{"election", settings_.name}, {"to", note.successor}});
      break;
  }
}

void ElectionRunner::failed(std::string_view what) noexcept { context_.on_fatal(election_thread_, what); }

void ElectionRunner::on_lease(const election::LeaseRecord& record, nlohmann::json object) {
  if (shard_) shard_->holder_seen(record.holder_identity);
  // The echo of this election's own write (every renewal comes back through the watch), or
  // older: the elector has read it already, so it is not worth waking the loop for.
  if (!lease_client_.remember(std::move(object), record)) return;
  push(election::event::LeaseObserved{record});
}

void ElectionRunner::on_lease_deleted(std::optional<std::uint64_t> revision) {
  if (shard_) shard_->holder_seen("");
  push(election::event::LeaseDeleted{revision});
}

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
  push(election::event::WatchState{healthy});
}

void ElectionRunner::on_watch_garbage(const std::string& what) {
  metrics_.watch_garbage();
  log_.warn("ignored a watch event", {{"election", settings_.name}, {"reason", what}});
}

void ElectionRunner::on_watch_fatal(std::string_view what) noexcept { context_.on_fatal(watch_thread_, what); }

}  // namespace leasehold::agent
