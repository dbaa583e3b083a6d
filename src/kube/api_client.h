// ApiClient: HTTPS requests to the Kubernetes API server, bearer-token refresh
// (the token file is re-read about every minute and right after a 401), and a
// hook that counts every request by verb and outcome. Requests made with send()
// have a hard deadline each and pass a client-side rate limit; the watch
// streams through stream_client() outside both (one long request at a time,
// paced by LeaseWatch's reconnect backoff), so the limit never delays it.
// Credentials never reach logs or errors.
//
// Thread-safe: the election thread and the watch thread share one ApiClient.
#pragma once

#include <cpprest/http_client.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "election/clock.h"
#include "kube/kubeconfig.h"
#include "kube/rate_limiter.h"

namespace leasehold::kube {

// Why no HTTP answer arrived. The API client's own, for any request: LeaseClient maps it to the
// election's StoreError, a pod patch only tells success from failure.
enum class Transport {
  kNone,         // an HTTP answer arrived
  kTimeout,      // none before the deadline
  kNetwork,      // connection refused or reset, TLS failure
  kRateLimited,  // the client-side rate limit had no slot before the deadline
};

struct ApiResponse {
  Transport transport = Transport::kNone;
  int status = 0;
  std::string body;
  std::optional<election::Duration> retry_after;
  std::string detail;
};

// The delay of a Retry-After header given in seconds (the form the API server
// sends); nullopt when absent or not a plausible number of seconds.
std::optional<election::Duration> parse_retry_after(const web::http::http_headers& headers);

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
  ApiResponse send(const std::string& verb, const web::http::method& method, const std::string& path,
                   const std::string* json_body, election::SteadyTime deadline,
                   const std::string& content_type = "application/json");

  // For streaming (watch): a request carrying auth and User-Agent, and the
  // client to send it with (no overall timeout, only an inactivity timeout; no
  // rate limit).
  web::http::http_request make_request(const web::http::method& method, const std::string& path);
  web::http::client::http_client& stream_client() { return *stream_client_; }
  void observe(const std::string& verb, const std::string& outcome, election::Duration latency);
  // After a 401 on any path: the next request re-reads the token file.
  void invalidate_token();

  const KubeConfig& config() const { return config_; }

 private:
  std::string bearer_token();
  std::unique_ptr<web::http::client::http_client> make_client(std::chrono::seconds timeout);

  const KubeConfig config_;
  const ApiClientOptions options_;
  RequestObserver* observer_;
  const election::Clock& clock_;
  RateLimiter limiter_;
  std::unique_ptr<web::http::client::http_client> client_;
  std::unique_ptr<web::http::client::http_client> stream_client_;

  std::mutex token_mutex_;
  std::string token_;
  election::SteadyTime token_read_at_{};
  bool token_stale_ = true;
};

}  // namespace leasehold::kube
