#include "agent/shard_group.h"

#include <algorithm>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <future>

#include "status/file_publisher.h"

namespace leasehold::agent {

namespace {

// Member records are renewed this often within their duration: two renewals may fail before
// the others count the member gone.
constexpr int kRecordRenewalsPerDuration = 3;
// A record left unchanged this many durations is a crashed member's: any member deletes it.
constexpr int kStaleRecordDurations = 4;

int whole_seconds(election::Duration d) {
  return static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(d).count());
}

}  // namespace

ShardGroup::ShardGroup(const RunnerContext& context, const config::ElectionSettings& settings, bool is_default,
                       kube::ApiClient& api, status::Metrics& metrics, boost::asio::io_context& io, log::Logger& logger)
    : context_(context),
      settings_(settings),
      member_record_(election::member_lease_name(settings.name, context.identity)),
      api_(api),
      log_(logger),
      planner_(election::ShardPlannerSettings{settings.name, settings.shards, context.identity,
                                              settings.timings.lease_duration},
               clock_),
      all_metrics_(metrics),
      record_client_(api, context.namespace_name, member_record_),
      last_holders_(settings.shards),
      strand_(boost::asio::make_strand(*context.election_io)),
      plan_timer_(*context.election_io),
      record_timer_(*context.election_io),
      first_record_timer_(*context.election_io) {
  if (!context_.status_dir.empty()) {
    shards_file_ =
        is_default ? context_.status_dir + "/shards" : context_.status_dir + "/elections/" + settings_.name + "/shards";
  }
  for (std::uint32_t i = 0; i < settings_.shards; ++i) {
    auto link = std::make_unique<ShardLink>();
    link->holder_seen = [this, i](const std::string& holder) {
      // The watch thread's: only a change of holder is worth a plan (renewals are not).
      if (last_holders_[i] == holder) return;
      last_holders_[i] = holder;
      boost::asio::post(strand_, [this, i, holder] {
        planner_.shard_seen(i, holder);
        plan();
      });
    };
    // After the shard's own files: a claim that ended reaches the `shards` file, and only then is
    // the rebalance checked (it may log), never between the board and the files.
    link->files_written = [this] {
      write_shards_file();
      if (!stopping_) check_rebalanced();
    };
    link->moved_out = [this] { metrics_->moved_out(); };
    config::ElectionSettings shard = settings_;
    shard.name = election::shard_lease_name(settings_.name, i, settings_.shards);
    shard.shards = 0;
    runners_.push_back(
        std::make_unique<ElectionRunner>(context_, std::move(shard), false, api, metrics, io, logger, link.get()));
    links_.push_back(std::move(link));
  }
  std::vector<const status::StatusBoard*> boards;
  for (auto& runner : runners_) boards.push_back(&runner->board());
  metrics_ = &all_metrics_.add_sharded(settings_.name, boards);
  shards_board_ = std::make_unique<status::ShardsBoard>(settings_.name, std::move(boards), clock_);
  shards_hub_ = std::make_shared<status::ShardsHub>(io, *shards_board_, settings_.name);
  shards_board_->set_listener([hub = shards_hub_] { hub->notify(); });
  // Before any runner starts: the links are read on their threads from then on.
  for (auto& link : links_) link->status_changed = [board = shards_board_.get()] { board->changed(); };
}

ShardGroup::~ShardGroup() {
  stopping_ = true;
  if (started_ && !context_.election_io->stopped()) {
    std::promise<void> done;
    boost::asio::post(strand_, [this, &done] {
      plan_timer_.cancel();
      record_timer_.cancel();
      first_record_timer_.cancel();
      done.set_value();
    });
    done.get_future().wait();
    // Handlers queued before the cancel have run or find stopping_ set; one more pass drains them.
    std::promise<void> drained;
    boost::asio::post(strand_, [&drained] { drained.set_value(); });
    drained.get_future().wait();
  }
  runners_.clear();
}

std::vector<kube::FollowedLease> ShardGroup::followed() {
  std::vector<kube::FollowedLease> followed;
  for (auto& runner : runners_) followed.push_back({runner->name(), runner.get(), false});
  followed.push_back({election::member_lease_prefix(settings_.name), this, true});
  return followed;
}

status::ShardsEndpoint ShardGroup::endpoint() {
  status::ShardsEndpoint e;
  e.name = settings_.name;
  e.board = shards_board_.get();
  e.hub = shards_hub_;
  for (auto& runner : runners_) e.acks.push_back([endpoint = runner->endpoint()] { return endpoint.ack(); });
  return e;
}

void ShardGroup::start() {
  started_ = true;
  write_shards_file();
  boost::asio::post(strand_, [this] {
    plan();
    // Without a watch (a Role without it: the shards are polled) the record is written anyway.
    first_record_timer_.expires_after(settings_.timings.lease_duration / kRecordRenewalsPerDuration);
    first_record_timer_.async_wait(boost::asio::bind_executor(strand_, [this](const boost::system::error_code& ec) {
      if (!ec) begin_record();
    }));
  });
}

void ShardGroup::begin_record() {
  if (record_begun_ || stopping_) return;
  record_begun_ = true;
  first_record_timer_.cancel();
  keep_record();
}

void ShardGroup::begin_shutdown() {
  if (stopping_.exchange(true) || !started_) return;
  std::promise<void> done;
  boost::asio::post(strand_, [this, &done] {
    plan_timer_.cancel();
    record_timer_.cancel();
    first_record_timer_.cancel();
    if (record_version_) {
      const auto result = record_client_.remove(*record_version_, clock_.steady_now() + context_.release_timeout);
      if (!result.ok()) {
        log_.warn("could not delete the member record; the others count this member gone when it expires",
                  {{"election", settings_.name}, {"record", member_record_}, {"detail", result.detail}});
      }
      record_version_.reset();
    }
    done.set_value();
  });
  done.get_future().wait();
}

void ShardGroup::keep_record() {
  if (stopping_) return;
  const auto deadline = clock_.steady_now() + settings_.timings.request_timeout;
  election::LeaseRecord record;
  record.holder_identity = context_.identity;
  record.lease_duration_seconds = whole_seconds(settings_.timings.lease_duration);
  record.renew_time = clock_.wall_now();
  election::StoreResult result;
  if (record_version_) {
    record.resource_version = *record_version_;
    result = record_client_.update(record, deadline);
  } else {
    record.acquire_time = record.renew_time;
    result = record_client_.create(record, deadline);
    if (result.error == election::StoreError::kAlreadyExists) {
      // Ours from before (a fixed --identity restarted): take it over.
      const auto current = record_client_.get(deadline);
      if (current.ok() && current.record) {
        record.resource_version = current.record->resource_version;
        result = record_client_.update(record, deadline);
      }
    }
  }
  const election::Duration period = settings_.timings.lease_duration / kRecordRenewalsPerDuration;
  election::Duration next = period;
  if (result.ok() && result.record) {
    record_version_ = result.record->resource_version;
    // Seen at once, not only when the watch brings it back.
    planner_.member_seen(member_record_,
                         election::MemberRecord{context_.identity, record.lease_duration_seconds, *record_version_});
    plan();
  } else {
    if (result.error == election::StoreError::kConflict || result.error == election::StoreError::kNotFound) {
      record_version_.reset();  // written by someone else, or deleted: write it afresh
    }
    log_.warn("could not write the member record", {{"election", settings_.name},
                                                    {"record", member_record_},
                                                    {"error", election::to_string(result.error)},
                                                    {"detail", result.detail}});
    next = settings_.timings.retry_period;
  }
  collect_stale_records();
  record_timer_.expires_after(next);
  record_timer_.async_wait(boost::asio::bind_executor(strand_, [this](const boost::system::error_code& ec) {
    if (!ec) keep_record();
  }));
}

void ShardGroup::collect_stale_records() {
  for (const auto& [name, version] : planner_.stale_records(kStaleRecordDurations * settings_.timings.lease_duration)) {
    if (name == member_record_) continue;
    kube::LeaseClient stale(api_, context_.namespace_name, name);
    const auto result = stale.remove(version, clock_.steady_now() + settings_.timings.request_timeout);
    if (result.ok()) {
      log_.info("deleted a member record left by a member that is gone",
                {{"election", settings_.name}, {"record", name}});
      planner_.member_gone(name);
    }
  }
}

void ShardGroup::plan() {
  if (stopping_) return;
  const std::vector<std::string> members_before = planner_.members();
  const auto directives = planner_.plan();
  for (const auto& d : directives) runners_[d.shard]->place(d.eligible, d.owner);
  if (planner_.members() != members_before || !directives.empty()) {
    metrics_->placement(planner_.members().size(), planner_.placed_here());
    shards_board_->set_placement(planner_.members(), planner_.placed_here());
    std::vector<bool> placed;
    for (const auto& owner : planner_.owners()) placed.push_back(owner == context_.identity);
    std::lock_guard lock(rebalance_mutex_);
    if (placed != placed_here_) {
      placed_here_ = std::move(placed);
      if (!rebalance_since_) rebalance_since_ = clock_.steady_now();
    }
  }
  check_rebalanced();
  if (planner_.members() != members_before) {
    log_.info("shard members changed", {{"election", settings_.name},
                                        {"members", planner_.members()},
                                        {"placedHere", planner_.placed_here()},
                                        {"shards", settings_.shards}});
  }
  arm_plan_timer();
}

void ShardGroup::check_rebalanced() {
  std::lock_guard lock(rebalance_mutex_);
  if (!rebalance_since_) return;
  for (std::size_t i = 0; i < runners_.size() && i < placed_here_.size(); ++i) {
    if (runners_[i]->board().view().is_leader != placed_here_[i]) return;
  }
  const election::Duration took = clock_.steady_now() - *rebalance_since_;
  rebalance_since_.reset();
  metrics_->rebalanced(took);
  log_.info("owns exactly the shards placed here",
            {{"election", settings_.name},
             {"shards", static_cast<std::uint32_t>(std::count(placed_here_.begin(), placed_here_.end(), true))},
             {"tookMs", std::chrono::duration_cast<std::chrono::milliseconds>(took).count()}});
}

void ShardGroup::arm_plan_timer() {
  const auto at = planner_.wake_at();
  if (!at) return;
  plan_timer_.expires_at(*at);
  plan_timer_.async_wait(boost::asio::bind_executor(strand_, [this](const boost::system::error_code& ec) {
    if (!ec) plan();
  }));
}

void ShardGroup::write_shards_file() {
  if (shards_file_.empty()) return;
  std::lock_guard lock(file_mutex_);
  const std::string error = status::write_file_atomically(shards_file_, shards_board_->lines());
  if (!error.empty()) log_.warn("cannot write the shards file", {{"election", settings_.name}, {"error", error}});
}

// Only the member records' prefix reaches the group (each shard's Lease goes to its runner).
void ShardGroup::on_lease(const election::LeaseRecord&, nlohmann::json) {}
void ShardGroup::on_lease_deleted(std::optional<std::uint64_t>) {}

void ShardGroup::on_named_lease(const std::string& name, const election::LeaseRecord& record, nlohmann::json) {
  election::MemberRecord member{record.holder_identity, record.lease_duration_seconds, record.resource_version};
  boost::asio::post(strand_, [this, name, member = std::move(member)] {
    planner_.member_seen(name, member);
    plan();
  });
}

void ShardGroup::on_named_lease_deleted(const std::string& name, std::optional<std::uint64_t>) {
  boost::asio::post(strand_, [this, name] {
    planner_.member_gone(name);
    plan();
  });
}

void ShardGroup::on_watch_state(bool healthy, const std::string&) {
  if (healthy) boost::asio::post(strand_, [this] { begin_record(); });
}

void ShardGroup::on_watch_garbage(const std::string& what) {
  log_.warn("ignored a watch event", {{"election", settings_.name}, {"reason", what}});
}

void ShardGroup::on_watch_fatal(std::string_view what) noexcept { context_.on_fatal(watch_thread_, what); }

}  // namespace leasehold::agent
