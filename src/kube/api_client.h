// ApiClient: HTTPS requests to the Kubernetes API server, bearer-token refresh
// (the token file is re-read about every minute and right after a 401), and a
// hook that counts every request by verb and outcome. Requests made with send()
// have a hard deadline each, pass a client-side rate limit and go over
// HttpTransport's kept-alive connections on the calling thread; the watch
// streams through stream() outside both (one long request at a time,
// paced by LeaseWatch's reconnect backoff), so the limit never delays it.
// Credentials never reach logs or errors.
//
// Thread-safe: the election thread and the watch thread share one ApiClient.
#pragma once

#include <cpprest/http_msg.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "election/clock.h"
#include "kube/http_transport.h"
#include "kube/kubeconfig.h"
#include "kube/rate_limiter.h"

namespace leasehold::kube {

struct ApiResponse {
  Transport transport = Transport::kNone;
  int status = 0;
  std::string body;
  std::optional<election::Duration> retry_after;
  std::string detail;
};

// The delay of a Retry-After header given in seconds (the form the API server
// sends); nullopt when absent or not a plausible number of seconds.
std::optional<election::Duration> parse_retry_after(std::string_view value);

class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  // outcome: the HTTP status code as text, or timeout/network/rate_limited.
  virtual void on_request(const std::string& verb, const std::string& outcome, election::Duration latency) = 0;
};

struct ApiClientOptions {
  double qps = 5;
  int burst = 10;
  std::string user_agent = "leasehold";
  std::chrono::seconds token_refresh{60};
};

class ApiClient {
 public:
  // clock: every time the client reads (the token's age, the rate limit, latencies, what is left
  // before a deadline) comes from it; the waits themselves are real ones, for that long.
  ApiClient(KubeConfig config, ApiClientOptions options, RequestObserver* observer, const election::Clock& clock);

  // The clock the deadlines given to send() are on.
  const election::Clock& clock() const { return clock_; }

  // Sends one request and returns by `deadline` whatever happens.
  // `verb` is the Kubernetes verb for metrics (get, create, update, watch).
  // may_wait_for_rate_limit false: sent only if the rate limit has a slot free now (requests
  // that must never hold up the elections' own, such as Events), else refused as rate_limited.
  ApiResponse send(const std::string& verb, const web::http::method& method, const std::string& path,
                   const std::string* json_body, election::SteadyTime deadline,
                   const std::string& content_type = "application/json", bool may_wait_for_rate_limit = true);

  // A streaming GET (the watch) with auth and User-Agent, outside the rate limit and without an
  // overall deadline: see HttpTransport::stream.
  StreamEnd stream(const std::string& path, election::Duration head_budget, election::Duration idle,
                   const std::function<bool(std::string_view)>& on_body, StreamCancel& cancel);
  void observe(const std::string& verb, const std::string& outcome, election::Duration latency);
  // After a 401 on any path: the next request re-reads the token file.
  void invalidate_token();

  const KubeConfig& config() const { return config_; }

 private:
  std::string bearer_token();

  const KubeConfig config_;
  const ApiClientOptions options_;
  RequestObserver* observer_;
  const election::Clock& clock_;
  RateLimiter limiter_;
  HttpTransport transport_;

  std::mutex token_mutex_;
  std::string token_;
  election::SteadyTime token_read_at_{};
  bool token_stale_ = true;
};

}  // namespace leasehold::kube
