// ShardGroup: one sharded election of the sidecar. Each shard is an election of its own (its
// Lease <election>-shard-<i>, an ElectionRunner on the election loop, its fencing token); the
// group adds what makes them a sharded election:
//  - this member's record, a Lease <election>-member-<hash> holding its identity, written at
//    start, renewed every lease-duration/3 and deleted on shutdown (so the others rebalance at
//    once); records of crashed members are deleted by any member after 4 lease durations
//    without change;
//  - the ShardPlanner, fed the member records and the shards' holders from the agent's one watch,
//    whose directives it hands to the shard runners (claim or not; hand over to whom);
//  - the `shards` file, rewritten whenever a shard's files are, on the shard's own thread, so that
//    a claim that ends leaves the file before any further request.
//
// Thread-safety: the planner and the record belong to the group's strand of the election loop;
// the WatchSink calls come from the watch thread and are carried over to it; start(),
// begin_shutdown() and the destructor from the controlling thread. The shard runners are the
// group's; the agent drives their start and shutdown like every runner's.
#pragma once

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/election_runner.h"
#include "election/shard_planner.h"
#include "kube/lease_client.h"
#include "status/routes.h"

namespace leasehold::agent {

class ShardGroup final : public kube::WatchSink {
 public:
  ShardGroup(const RunnerContext& context, const config::ElectionSettings& settings, bool is_default,
             kube::ApiClient& api, status::Metrics& metrics, boost::asio::io_context& io, log::Logger& logger);
  ~ShardGroup() override;

  // Writes the member record and starts placing; the runners are started by the agent.
  void start();
  // Stops placing and deletes the member record (bounded by the release timeout), before the
  // shards are released: the others then place them without waiting for the record to expire.
  void begin_shutdown();

  const std::string& name() const { return settings_.name; }
  const std::vector<std::unique_ptr<ElectionRunner>>& runners() const { return runners_; }
  // The Leases the watch follows for the group: every shard's (to its runner) and the member
  // records' prefix (to the group).
  std::vector<kube::FollowedLease> followed();
  status::ShardsEndpoint endpoint();
  // Waiting clients of /v1/shards get their final answer, streams end (shutdown; io thread).
  void close_clients() { shards_hub_->close_all(); }

  void on_lease(const election::LeaseRecord& record, nlohmann::json object) override;
  void on_lease_deleted(std::optional<std::uint64_t> revision) override;
  void on_named_lease(const std::string& name, const election::LeaseRecord& record, nlohmann::json object) override;
  void on_named_lease_deleted(const std::string& name, std::optional<std::uint64_t> revision) override;
  void on_watch_state(bool healthy, const std::string& reason) override;
  void on_watch_garbage(const std::string& what) override;
  void on_watch_fatal(std::string_view what) noexcept override;

 private:
  // On the strand.
  void plan();
  void arm_plan_timer();
  void keep_record();
  // On the strand: the first write of the member record, once.
  void begin_record();
  void collect_stale_records();
  void write_shards_file();
  // Any thread: records the time to rebalance once this member owns exactly its share.
  void check_rebalanced();

  const RunnerContext context_;
  const config::ElectionSettings settings_;
  const std::string member_record_;
  const std::string watch_thread_ = "watch of " + settings_.name;
  kube::ApiClient& api_;
  log::Logger& log_;
  election::SystemClock clock_;
  election::ShardPlanner planner_;  // strand only
  status::Metrics& all_metrics_;
  status::ShardMetrics* metrics_ = nullptr;  // set once the shards are made
  kube::LeaseClient record_client_;
  std::optional<std::string> record_version_;  // strand only: our record as last written
  std::vector<std::unique_ptr<ShardLink>> links_;
  // What /v1/shards and the `shards` file show; made once the runners are (their boards are its
  // shards), kept until they are gone.
  std::unique_ptr<status::ShardsBoard> shards_board_;
  std::shared_ptr<status::ShardsHub> shards_hub_;
  // The time to rebalance: from a change of the shards placed here to this member owning exactly
  // them (read on the runners' threads as their claims change, so kept until they are gone).
  std::mutex rebalance_mutex_;
  std::vector<bool> placed_here_;                        // per shard, as of the last plan
  std::optional<election::SteadyTime> rebalance_since_;  // a change not yet reached
  std::vector<std::unique_ptr<ElectionRunner>> runners_;
  std::vector<std::string> last_holders_;  // the watch thread's: a holder posted only when it changes

  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::steady_timer plan_timer_;
  boost::asio::steady_timer record_timer_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;
  // The member record is first written once the watch is up (or after a while without it): a
  // member that joins before it sees the shards' terms would not recognise the releases that
  // hand it its shards, and would wait a lease duration for each.
  bool record_begun_ = false;  // strand only
  boost::asio::steady_timer first_record_timer_;

  std::mutex file_mutex_;
  std::string shards_file_;  // empty: no status dir
};

}  // namespace leasehold::agent
