// EventRecorder: the Kubernetes Events of the sidecar's elections (kube/events.h) — started and
// stopped leading (with the reason), asked to resign, the app's health changed — sent without
// ever delaying an election: record() only queues (at most kMaxQueued reports; more are dropped
// and counted), and the requests run one at a time on the blocking-work io_context, each bounded
// by kRequestTimeout and never waiting for a slot of the API client's rate limit (none free now:
// dropped and counted). kube::EventBook keeps a flapping election from flooding the API server:
// repeats become one Event's series, patched at most every 30 s, and new Events are rate-limited.
// Outcomes are counted in leasehold_events_total{outcome}; a refusal (no RBAC for events) is
// logged once.
//
// Thread-safety: record() from any thread; the rest runs on this object's strand. The
// io_context must outlive this object but need not run for the destructor to return.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "kube/api_client.h"
#include "kube/events.h"
#include "log/logger.h"
#include "status/metrics.h"
#include "util/handler_gate.h"

namespace leasehold::agent {

class EventRecorder {
 public:
  static constexpr std::size_t kMaxQueued = 64;

  // request_timeout: of each request (the sidecar's --request-timeout: a request in flight at
  // exit holds the exit up no longer than the elections' own would).
  EventRecorder(kube::EventSubject subject, election::Duration request_timeout, boost::asio::io_context& io,
                kube::ApiClient& api, status::Metrics& metrics, log::Logger& logger);
  // A request in progress is waited for (at most the request timeout); queued reports are dropped.
  ~EventRecorder();
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  void record(kube::EventReport report);
  // Shutdown: waits until the reports queued so far are sent (or dropped), at most until
  // `deadline`, so that the last StoppedLeading reaches the API server before the process ends.
  void drain(election::SteadyTime deadline);

 private:
  void queue_step();  // with mutex_ held
  void step();
  void arm_flush();
  void flush();
  // One request; true when the API server took it.
  bool send(const std::string& verb, const web::http::method& method, const std::string& path,
            const nlohmann::json& body, const std::string& content_type);

  const kube::EventSubject subject_;
  const election::Duration request_timeout_;
  kube::ApiClient& api_;
  status::Metrics& metrics_;
  log::Logger& log_;
  election::SystemClock clock_;
  kube::EventBook book_;           // strand only
  std::set<int> logged_refusals_;  // strand only: each kind of refusal is logged once
  std::atomic<std::uint64_t> unique_;

  std::mutex mutex_;
  std::condition_variable idle_;  // a step ended: drain() rechecks
  std::deque<kube::EventReport> queue_;
  bool step_queued_ = false;
  bool stepping_ = false;

  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::steady_timer flush_timer_;  // strand only
  const std::shared_ptr<util::HandlerGate> gate_ = util::HandlerGate::make();
};

}  // namespace leasehold::agent
