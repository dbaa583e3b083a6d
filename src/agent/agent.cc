#include "agent/agent.h"

#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <future>
#include <string_view>

#include "kube/lease_client.h"
#include "status/routes.h"

namespace leasehold::agent {

namespace {

// The client-side limit is per election, so that each election keeps its renewals however many
// the sidecar runs.
kube::ApiClientOptions api_options(const config::Config& c) {
  std::size_t elections = 0;
  for (const auto& e : config::elections_of(c)) elections += e.shards > 0 ? e.shards + 1 : 1;
  return kube::ApiClientOptions{c.api_qps * static_cast<double>(elections), c.api_burst * static_cast<int>(elections),
                                std::string("leasehold/") + LEASEHOLD_VERSION};
}

}  // namespace

Agent::Agent(config::Config config, kube::KubeConfig kube_config, log::Logger& logger)
    : config_(std::move(config)),
      log_(logger),
      metrics_(LEASEHOLD_VERSION),
      api_(std::move(kube_config), api_options(config_), &api_metrics_, clock_),
      elections_("elections", kElectionThreads,
                 [this](std::string_view where, std::string_view what) { fatal(where, what); }),
      blocking_work_("blocking work", kBlockingThreads,
                     [this](std::string_view where, std::string_view what) { fatal(where, what); }) {
  RunnerContext context{config_.namespace_name,
                        config_.identity,
                        config_.pod_name,
                        config_.status_dir,
                        config_.release_timeout,
                        config_.handoff_timeout,
                        config_.hook_timeout,
                        &elections_.io(),
                        [this](std::string_view where, std::string_view what) { fatal(where, what); }};
  context.blocking_io = &blocking_work_.io();
  if (config_.events) {
    events_ =
        std::make_unique<EventRecorder>(kube::EventSubject{config_.namespace_name, config_.pod_name, config_.identity},
                                        config_.timings.request_timeout, blocking_work_.io(), api_, metrics_, log_);
    context.events = events_.get();
  }
  bool is_default = true;
  // One watch for every election (they share the namespace): one connection, one thread.
  std::vector<kube::FollowedLease> followed;
  for (const auto& settings : config::elections_of(config_)) {
    if (settings.shards > 0) {
      groups_.push_back(std::make_unique<ShardGroup>(context, settings, is_default, api_, metrics_, io_, log_));
      for (auto& runner : groups_.back()->runners()) runners_.push_back(runner.get());
      for (auto& f : groups_.back()->followed()) followed.push_back(std::move(f));
    } else {
      own_runners_.push_back(
          std::make_unique<ElectionRunner>(context, settings, is_default, api_, metrics_, io_, log_));
      runners_.push_back(own_runners_.back().get());
      followed.push_back({settings.name, own_runners_.back().get()});
    }
    is_default = false;
  }
  watch_ = std::make_unique<kube::LeaseWatch>(api_, clock_, kube::lease_collection_path(config_.namespace_name),
                                              std::move(followed));
}

Agent::~Agent() {
  // The runners go below: an error from now on ends the process as it would without an Agent.
  fatal_exit_.uninstall();
  // The listeners call into the runners: they end first. Then the watch, which calls them too.
  // Runners still running stop as on shutdown, on the election loop, before it ends; their hooks
  // and probes end before the blocking work's loop does.
  io_.stop();
  if (io_thread_.joinable()) io_thread_.join();
  status_server_.reset();
  ops_server_.reset();
  if (watch_) watch_->stop();
  runners_.clear();
  own_runners_.clear();
  groups_.clear();
  elections_.stop();
  blocking_work_.stop();
}

void Agent::start() {
  fatal_exit_.install();
  std::vector<status::ElectionEndpoint> endpoints;
  std::vector<const status::StatusBoard*> boards;
  election::Duration max_silence = election::Duration::zero();
  for (auto& runner : runners_) {
    endpoints.push_back(runner->endpoint());
    boards.push_back(&runner->board());
    const auto& t = runner->settings().timings;
    max_silence = std::max(max_silence, 3 * t.request_timeout + 2 * t.retry_period);
  }
  std::vector<status::ShardsEndpoint> sharded;
  for (auto& group : groups_) {
    sharded.push_back(group->endpoint());
    sharded.back().is_default = group->name() == config_.election;
  }
  // A listener that cannot bind names its setting: the operator fixes a flag, not a port number.
  const auto listener = [this](const char* setting, const std::string& address, status::HttpHandler handler) {
    try {
      return std::make_unique<status::HttpServer>(io_, address, std::move(handler), status::HttpLimits{}, clock_);
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string(setting) + ": " + e.what());
    }
  };
  status_server_ = listener("--status-address", config_.status_address,
                            status::make_status_router(std::move(endpoints), std::move(sharded)));
  ops_server_ = listener("--ops-address", config_.ops_address,
                         status::answer_at_once(status::make_ops_handler(std::move(boards), metrics_, clock_,
                                                                         status::HealthPolicy{max_silence})));
  status_server_->on_refused(
      [this](status::Refusal why, std::string_view election) { metrics_.http_refused("status", why, election); });
  ops_server_->on_refused(
      [this](status::Refusal why, std::string_view election) { metrics_.http_refused("ops", why, election); });
  status_server_->start();
  ops_server_->start();
  io_thread_ = std::thread([this] {
    // The listeners' thread's one boundary.
    try {
      auto guard = boost::asio::make_work_guard(io_);
      io_.run();
    } catch (const std::exception& e) {
      fatal("listeners", e.what());
    } catch (...) {
      fatal("listeners", "unknown exception");
    }
  });
  nlohmann::json names = nlohmann::json::array();
  for (auto& runner : runners_) names.push_back(runner->name());
  log_.info("leasehold started",
            {{"version", LEASEHOLD_VERSION},
             {"elections", names},
             {"namespace", config_.namespace_name},
             {"identity", config_.identity},
             {"apiServer", api_.config().server},
             {"credentials", api_.config().source},
             {"statusAddress", config_.status_address},
             {"statusPort", status_server_->port()},
             {"opsPort", ops_server_->port()},
             {"statusDir", config_.status_dir},
             {"leaseDurationSeconds",
              std::chrono::duration_cast<std::chrono::seconds>(config_.timings.lease_duration).count()}});
  elections_.start();
  blocking_work_.start();
  for (auto& runner : runners_) runner->start();
  for (auto& group : groups_) group->start();
  watch_->start();
}

int Agent::shutdown(const std::string& reason) {
  const election::SteadyTime began = clock_.steady_now();
  log_.info("stopping: no longer claiming leadership", {{"reason", reason}});
  // Whether each election's Lease named this agent as its holder when the stop began: only
  // those have anything to release (a follower has not, and must not say it released one).
  std::vector<bool> held;
  for (auto& runner : runners_) {
    const status::StatusView view = runner->board().view();
    held.push_back(!view.leader.empty() && view.leader == view.who.identity);
  }
  for (auto& runner : runners_) runner->begin_shutdown();
  // Claims have ended on every channel: now the member records go, so that the other members
  // place this one's shards without waiting for its record to expire.
  for (auto& group : groups_) group->begin_shutdown();
  for (std::size_t i = 0; i < runners_.size(); ++i) {
    const bool released = runners_[i]->finish_shutdown();
    if (!held[i] && released) {
      log_.info("not holding the lease: nothing to release", {{"election", runners_[i]->name()}});
      continue;
    }
    log_.info(released ? "released the lease" : "could not release the lease; followers take over when it expires",
              {{"election", runners_[i]->name()}});
  }
  // Only now: every election watched its Lease until its loop ended, as it released it.
  watch_->stop();
  // Waiting clients get their final answer, streams end.
  std::promise<void> closed;
  boost::asio::post(io_, [&] {
    for (auto& runner : runners_) runner->endpoint().hub->close_all();
    for (auto& group : groups_) group->close_clients();
    closed.set_value();
  });
  closed.get_future().wait_for(std::chrono::seconds(1));
  // The last StoppedLeading Events go out before the threads stop, within the time the release
  // had: the exit is never later for them.
  if (events_) events_->drain(began + config_.release_timeout);
  elections_.stop();
  blocking_work_.stop();
  io_.stop();
  if (io_thread_.joinable()) io_thread_.join();
  return 0;
}

}  // namespace leasehold::agent
