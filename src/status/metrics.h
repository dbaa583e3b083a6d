// Metrics: leasehold's Prometheus metrics (prefix leasehold_, labels of
// bounded cardinality: election, verb, code, outcome, direction, hook,
// listener, reason) and their text rendering for /metrics; docs/monitoring.md
// has the table of them all, which docs_test.sh holds to a real agent's. Gauges that depend
// on time are refreshed from each election's StatusBoard at scrape time, so
// they expire by themselves like the answers do. The counters alerts watch are
// exported at 0 from the start, so that increase() and rate() see their first
// event: every one without an error label, the renewal's errors, and the runs
// of the hooks an election has; an error of another operation appears with
// its first occurrence (each series at 0 is memory in every sidecar and text
// in every scrape, per election).
//
// Thread-safe (prometheus-cpp metrics are; add_election before serving).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "election/lease_store.h"
#include "status/http_server.h"
#include "status/status_board.h"

namespace leasehold::status {

class Metrics;

// Which side effects an election has: their counters are exported at 0 from the start.
struct ElectionHooks {
  bool start = false;  // a command on becoming leader
  bool stop = false;   // a command on stopping leading
  bool label = false;  // the leader pod label
};

// The metrics of one election.
class ElectionMetrics {
 public:
  void leadership_started();
  void leadership_stopped();
  void renew(bool success, election::Duration latency, election::WallTime when);
  void store_error(const std::string& operation, election::StoreError error);
  void watch_state(bool connected);
  void watch_garbage();
  void status_file_error();
  // hook: start|stop|label; outcome: success|failure|timeout
  void side_effect(const std::string& hook, const std::string& outcome);
  // Health checking (only when on): the app's health, and one probe's outcome
  // (success|failure|refused|timeout).
  void app_healthy(bool healthy);
  void app_probe(const std::string& outcome);

 private:
  friend class Metrics;
  ElectionMetrics(Metrics& metrics, const std::string& election, const StatusBoard& board, ElectionHooks hooks);
  void refresh();

  Metrics& metrics_;
  const std::string election_;
  const StatusBoard& board_;
  prometheus::Gauge* is_leader_;
  prometheus::Gauge* client_go_master_;
  prometheus::Counter* client_go_slowpath_;
  prometheus::Gauge* validity_left_;
  prometheus::Gauge* fencing_token_;
  prometheus::Counter* started_;
  prometheus::Counter* stopped_;
  prometheus::Counter* renew_success_;
  prometheus::Counter* renew_failure_;
  prometheus::Histogram* renew_latency_;
  prometheus::Gauge* last_renew_;
  prometheus::Gauge* watch_connected_;
  prometheus::Counter* watch_garbage_;
  prometheus::Counter* status_file_errors_;
  prometheus::Gauge* app_healthy_ = nullptr;  // created when health checking reports first
};

// The metrics of one sharded election, over those of its shards (each an election of its own).
class ShardMetrics {
 public:
  // The live members this member sees, and the shards placed on it.
  void placement(std::size_t members, std::size_t placed_here);
  // This member handed a shard to its rightful owner.
  void moved_out();
  // This member came to own exactly the shards placed on it, `took` after its share changed.
  void rebalanced(election::Duration took);

 private:
  friend class Metrics;
  ShardMetrics(Metrics& metrics, const std::string& election, std::vector<const StatusBoard*> shards);
  void refresh();

  std::vector<const StatusBoard*> shards_;
  prometheus::Gauge* owned_;
  prometheus::Gauge* members_;
  prometheus::Gauge* placed_;
  prometheus::Counter* moved_out_;
  prometheus::Histogram* rebalance_;
};

class Metrics {
 public:
  explicit Metrics(const std::string& version);

  // A sharded election: `shards` are its shards' boards (in shard order).
  ShardMetrics& add_sharded(const std::string& election, std::vector<const StatusBoard*> shards);
  ElectionMetrics& add_election(const std::string& election, const StatusBoard& board, ElectionHooks hooks = {});
  // One request to the API server; outcome: the HTTP status code as text, or
  // timeout/network/rate_limited.
  void api_request(const std::string& verb, const std::string& outcome, election::Duration latency);
  // listener: status|ops. election: whose long poll or stream was refused (reason held), empty
  // for a connection refused before any request was read (connections, accept_error).
  void http_refused(const std::string& listener, Refusal why, std::string_view election);
  // A Kubernetes Event: created, aggregated, failed, dropped_rate_limited, dropped_queue_full.
  void event(const std::string& outcome);
  // Renders everything, after refreshing the time-dependent gauges.
  std::string render();

 private:
  friend class ElectionMetrics;
  friend class ShardMetrics;
  void held_refusals_at_zero(const std::string& election);
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& api_requests_;
  prometheus::Family<prometheus::Histogram>& api_latency_;
  prometheus::Family<prometheus::Counter>& store_errors_;
  prometheus::Family<prometheus::Gauge>& is_leader_;
  prometheus::Family<prometheus::Gauge>& validity_left_;
  prometheus::Family<prometheus::Gauge>& fencing_token_;
  prometheus::Family<prometheus::Counter>& transitions_;
  prometheus::Family<prometheus::Counter>& renewals_;
  prometheus::Family<prometheus::Histogram>& renew_latency_;
  prometheus::Family<prometheus::Gauge>& last_renew_;
  prometheus::Family<prometheus::Gauge>& watch_connected_;
  prometheus::Family<prometheus::Counter>& watch_garbage_;
  prometheus::Family<prometheus::Counter>& status_file_errors_;
  prometheus::Family<prometheus::Counter>& side_effects_;
  prometheus::Family<prometheus::Gauge>& app_healthy_;
  prometheus::Family<prometheus::Counter>& app_probes_;
  prometheus::Family<prometheus::Counter>& http_refused_;
  std::mutex mutex_;
  std::list<ElectionMetrics> elections_;
  std::list<ShardMetrics> sharded_;
  prometheus::Family<prometheus::Gauge>& shards_owned_;
  prometheus::Family<prometheus::Gauge>& shard_members_;
  prometheus::Family<prometheus::Histogram>& shard_rebalance_;
  prometheus::Family<prometheus::Gauge>& shards_placed_;
  prometheus::Family<prometheus::Counter>& shard_moves_;
  // client-go's leader election metrics, with its names and its label (`name`), so that
  // dashboards and alerts written for client-go's electors work unchanged.
  prometheus::Family<prometheus::Gauge>& client_go_master_;
  prometheus::Family<prometheus::Counter>& client_go_slowpath_;
  prometheus::Family<prometheus::Counter>& events_;
};

}  // namespace leasehold::status
