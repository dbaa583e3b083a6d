#include "status/metrics.h"

#include <malloc.h>
#include <prometheus/text_serializer.h>

namespace leasehold::status {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

const prometheus::Histogram::BucketBoundaries kLatencyBuckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                              0.25,  0.5,    1,     2.5,  5,     10};

double seconds(election::Duration d) { return std::chrono::duration<double>(d).count(); }

template <typename Builder>
auto& family(Builder builder, prometheus::Registry& registry, const char* name, const char* help) {
  return builder.Name(name).Help(help).Register(registry);
}

}  // namespace

Metrics::Metrics(const std::string& version)
    : registry_(std::make_shared<prometheus::Registry>()),
      api_requests_(family(BuildCounter(), *registry_, "leasehold_api_requests_total",
                           "Kubernetes API requests by verb and HTTP code (or timeout, network, rate_limited).")),
      api_latency_(family(BuildHistogram(), *registry_, "leasehold_api_request_duration_seconds",
                          "Kubernetes API request latency by verb (watch: until headers).")),
      store_errors_(family(BuildCounter(), *registry_, "leasehold_lease_errors_total",
                           "Lease operations that did not succeed, by election, operation and error.")),
      is_leader_(family(BuildGauge(), *registry_, "leasehold_is_leader",
                        "1 while this agent leads the election now, else 0.")),
      validity_left_(family(BuildGauge(), *registry_, "leasehold_leadership_valid_seconds",
                            "Seconds the current claim stays valid without another renew (0 if not leader).")),
      fencing_token_(family(BuildGauge(), *registry_, "leasehold_fencing_token",
                            "Fencing token of the current term (0 if not leader).")),
      transitions_(family(BuildCounter(), *registry_, "leasehold_leadership_transitions_total",
                          "Leadership changes of this agent, by direction (started, stopped).")),
      renewals_(family(BuildCounter(), *registry_, "leasehold_renewals_total", "Lease renewals by outcome.")),
      renew_latency_(family(BuildHistogram(), *registry_, "leasehold_renew_duration_seconds",
                            "Renew round trip from send to answer.")),
      last_renew_(family(BuildGauge(), *registry_, "leasehold_last_renew_timestamp_seconds",
                         "Unix time of this agent's last successful renew.")),
      watch_connected_(
          family(BuildGauge(), *registry_, "leasehold_watch_connected", "1 while the watch on the Lease is open.")),
      watch_garbage_(family(BuildCounter(), *registry_, "leasehold_watch_invalid_events_total",
                            "Watch events that could not be understood (ignored).")),
      status_file_errors_(family(BuildCounter(), *registry_, "leasehold_status_file_errors_total",
                                 "Failed writes of the status files.")),
      side_effects_(family(BuildCounter(), *registry_, "leasehold_hook_runs_total",
                           "Leadership hooks and pod-label updates, by hook (start, stop, label) and outcome.")),
      app_healthy_(family(BuildGauge(), *registry_, "leasehold_app_healthy",
                          "With health checking on: 1 while the app is healthy (per the thresholds), else 0.")),
      app_probes_(family(BuildCounter(), *registry_, "leasehold_app_health_checks_total",
                         "App health checks by outcome (success, failure, refused, timeout).")),
      http_refused_(family(BuildCounter(), *registry_, "leasehold_http_refused_total",
                           "Connections and requests the listeners turned away, by listener, reason "
                           "(connections, held, accept_error) and election (whose long poll or stream was "
                           "refused: held only; empty for the others, refused before any request was read).")),
      shards_owned_(family(BuildGauge(), *registry_, "leasehold_shards_owned",
                           "Shards of a sharded election this member owns now (claims, as /v1/shards says).")),
      shard_members_(family(BuildGauge(), *registry_, "leasehold_shard_members",
                            "Live members of a sharded election as this member sees them.")),
      shard_rebalance_(family(BuildHistogram(), *registry_, "leasehold_shard_rebalance_seconds",
                              "From a change of the shards placed on this member to its owning exactly them.")),
      shards_placed_(family(BuildGauge(), *registry_, "leasehold_shards_placed",
                            "Shards of a sharded election placed on this member (its rightful share).")),
      shard_moves_(family(BuildCounter(), *registry_, "leasehold_shard_moves_total",
                          "Shards this member handed over to their rightful owner.")),
      client_go_master_(family(BuildGauge(), *registry_, "leader_election_master_status",
                               "client-go's name for leasehold_is_leader: 1 while this agent leads the election "
                               "named by `name`, else 0.")),
      client_go_slowpath_(family(BuildCounter(), *registry_, "leader_election_slowpath_total",
                                 "client-go's slow path: renewals that met a conflict and read the Lease again "
                                 "(leasehold_lease_errors_total{operation=\"renew\",error=\"conflict\"}).")),
      events_(family(BuildCounter(), *registry_, "leasehold_events_total",
                     "Kubernetes Events about the elections, by outcome (created, aggregated into a series, "
                     "failed, dropped_rate_limited, dropped_queue_full).")) {
  family(BuildGauge(), *registry_, "leasehold_build_info", "Always 1; the version label tells which build runs.")
      .Add({{"version", version}})
      .Set(1);
  for (const char* outcome : {"created", "aggregated", "failed", "dropped_rate_limited", "dropped_queue_full"}) {
    events_.Add({{"outcome", outcome}});
  }
  // Held requests are refused per election (below, as each is added), and only by the status
  // listener: the ops listener answers at once and holds none.
  for (const char* listener : {"status", "ops"}) {
    for (const Refusal why : {Refusal::kConnections, Refusal::kAcceptError}) {
      http_refused_.Add({{"listener", listener}, {"reason", to_string(why)}, {"election", ""}});
    }
  }
}

void Metrics::event(const std::string& outcome) { events_.Add({{"outcome", outcome}}).Increment(); }

void Metrics::http_refused(const std::string& listener, Refusal why, std::string_view election) {
  http_refused_.Add({{"listener", listener}, {"reason", to_string(why)}, {"election", std::string(election)}})
      .Increment();
}

void Metrics::held_refusals_at_zero(const std::string& election) {
  http_refused_.Add({{"listener", "status"}, {"reason", to_string(Refusal::kHeld)}, {"election", election}});
}

ElectionMetrics& Metrics::add_election(const std::string& election, const StatusBoard& board, ElectionHooks hooks) {
  held_refusals_at_zero(election);
  std::lock_guard lock(mutex_);
  return elections_.emplace_back(ElectionMetrics(*this, election, board, hooks));
}

void Metrics::api_request(const std::string& verb, const std::string& outcome, election::Duration latency) {
  api_requests_.Add({{"verb", verb}, {"code", outcome}}).Increment();
  api_latency_.Add({{"verb", verb}}, kLatencyBuckets).Observe(seconds(latency));
}

ShardMetrics& Metrics::add_sharded(const std::string& election, std::vector<const StatusBoard*> shards) {
  held_refusals_at_zero(election);  // its /v1/shards long polls and stream
  std::lock_guard lock(mutex_);
  return sharded_.emplace_back(ShardMetrics(*this, election, std::move(shards)));
}

ShardMetrics::ShardMetrics(Metrics& m, const std::string& election, std::vector<const StatusBoard*> shards)
    : shards_(std::move(shards)) {
  const prometheus::Labels labels{{"election", election}};
  owned_ = &m.shards_owned_.Add(labels);
  members_ = &m.shard_members_.Add(labels);
  placed_ = &m.shards_placed_.Add(labels);
  moved_out_ = &m.shard_moves_.Add(labels);
  // A graceful move takes milliseconds, a crashed member's shards a lease duration or more.
  rebalance_ = &m.shard_rebalance_.Add(
      labels, prometheus::Histogram::BucketBoundaries{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120});
}

void ShardMetrics::placement(std::size_t members, std::size_t placed_here) {
  members_->Set(static_cast<double>(members));
  placed_->Set(static_cast<double>(placed_here));
}

void ShardMetrics::moved_out() { moved_out_->Increment(); }

void ShardMetrics::rebalanced(election::Duration took) {
  rebalance_->Observe(std::chrono::duration<double>(took).count());
}

void ShardMetrics::refresh() {
  std::size_t owned = 0;
  for (const StatusBoard* board : shards_) owned += board->view().is_leader ? 1 : 0;
  owned_->Set(static_cast<double>(owned));
}

std::string Metrics::render() {
  {
    std::lock_guard lock(mutex_);
    for (auto& e : elections_) e.refresh();
    for (auto& s : sharded_) s.refresh();
  }
  std::string text = prometheus::TextSerializer().Serialize(registry_->Collect());
  // The collected families (over half a KiB a series, freed by now) would otherwise stay in the
  // listener thread's malloc arena between scrapes: with 100 elections, 1 MiB of resident memory
  // held for the next scrape.
  ::malloc_trim(0);
  return text;
}

ElectionMetrics::ElectionMetrics(Metrics& m, const std::string& election, const StatusBoard& board, ElectionHooks hooks)
    : metrics_(m), election_(election), board_(board) {
  const prometheus::Labels labels{{"election", election}};
  is_leader_ = &m.is_leader_.Add(labels);
  client_go_master_ = &m.client_go_master_.Add({{"name", election}});
  client_go_slowpath_ = &m.client_go_slowpath_.Add({{"name", election}});
  validity_left_ = &m.validity_left_.Add(labels);
  fencing_token_ = &m.fencing_token_.Add(labels);
  started_ = &m.transitions_.Add({{"election", election}, {"direction", "started"}});
  stopped_ = &m.transitions_.Add({{"election", election}, {"direction", "stopped"}});
  renew_success_ = &m.renewals_.Add({{"election", election}, {"outcome", "success"}});
  renew_failure_ = &m.renewals_.Add({{"election", election}, {"outcome", "failure"}});
  renew_latency_ = &m.renew_latency_.Add(labels, kLatencyBuckets);
  last_renew_ = &m.last_renew_.Add(labels);
  watch_connected_ = &m.watch_connected_.Add(labels);
  watch_garbage_ = &m.watch_garbage_.Add(labels);
  status_file_errors_ = &m.status_file_errors_.Add(labels);
  // At 0 until their first event, so that increase() and rate() see it: the renewal's errors
  // (what a leader's alerts watch) and the runs of the hooks this election has. The other
  // operations' errors appear with their first one. The 42 series at 0 this leaves out cost
  // each sidecar about 18 KiB and each scrape 3.5 KB of text per election (docs/benchmarks.md).
  using leasehold::election::StoreError;
  for (const StoreError error :
       {StoreError::kNotFound, StoreError::kConflict, StoreError::kTimeout, StoreError::kUnauthorized,
        StoreError::kForbidden, StoreError::kTooManyRequests, StoreError::kServerError, StoreError::kNetwork,
        StoreError::kInvalidResponse, StoreError::kRateLimited}) {
    m.store_errors_.Add(
        {{"election", election}, {"operation", "renew"}, {"error", leasehold::election::to_string(error)}});
  }
  const auto hook_at_zero = [&](const char* hook, std::initializer_list<const char*> outcomes) {
    for (const char* outcome : outcomes)
      m.side_effects_.Add({{"election", election}, {"hook", hook}, {"outcome", outcome}});
  };
  if (hooks.start) hook_at_zero("start", {"success", "failure", "timeout"});
  if (hooks.stop) hook_at_zero("stop", {"success", "failure", "timeout"});
  if (hooks.label) hook_at_zero("label", {"success", "failure"});
}

void ElectionMetrics::refresh() {
  const StatusView view = board_.view();
  is_leader_->Set(view.is_leader ? 1 : 0);
  client_go_master_->Set(view.is_leader ? 1 : 0);
  validity_left_->Set(view.is_leader ? view.valid_for_ms / 1000.0 : 0);
  fencing_token_->Set(view.fencing_token ? static_cast<double>(*view.fencing_token) : 0);
}

void ElectionMetrics::leadership_started() { started_->Increment(); }
void ElectionMetrics::leadership_stopped() { stopped_->Increment(); }

void ElectionMetrics::renew(bool success, election::Duration latency, election::WallTime when) {
  renew_latency_->Observe(seconds(latency));
  if (success) {
    renew_success_->Increment();
    last_renew_->Set(std::chrono::duration<double>(when.time_since_epoch()).count());
  } else {
    renew_failure_->Increment();
  }
}

void ElectionMetrics::store_error(const std::string& operation, election::StoreError error) {
  if (operation == "renew" && error == election::StoreError::kConflict) client_go_slowpath_->Increment();
  metrics_.store_errors_.Add({{"election", election_}, {"operation", operation}, {"error", election::to_string(error)}})
      .Increment();
}

void ElectionMetrics::watch_state(bool connected) { watch_connected_->Set(connected ? 1 : 0); }
void ElectionMetrics::watch_garbage() { watch_garbage_->Increment(); }
void ElectionMetrics::status_file_error() { status_file_errors_->Increment(); }

void ElectionMetrics::side_effect(const std::string& hook, const std::string& outcome) {
  metrics_.side_effects_.Add({{"election", election_}, {"hook", hook}, {"outcome", outcome}}).Increment();
}

void ElectionMetrics::app_healthy(bool healthy) {
  {
    std::lock_guard lock(metrics_.mutex_);
    if (!app_healthy_) app_healthy_ = &metrics_.app_healthy_.Add({{"election", election_}});
  }
  app_healthy_->Set(healthy ? 1 : 0);
}

void ElectionMetrics::app_probe(const std::string& outcome) {
  metrics_.app_probes_.Add({{"election", election_}, {"outcome", outcome}}).Increment();
}

}  // namespace leasehold::status
