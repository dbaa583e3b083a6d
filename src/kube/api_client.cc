#include "kube/api_client.h"

#include <charconv>
#include <fstream>
#include <sstream>
#include <thread>

namespace leasehold::kube {

std::optional<election::Duration> parse_retry_after(std::string_view value) {
  if (value.empty()) return std::nullopt;
  // Only the whole value as digits: "1.5" or "5abc" are not a number of seconds.
  long seconds = -1;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (error != std::errc() || end != value.data() + value.size() || seconds < 0 || seconds >= 86400) {
    return std::nullopt;
  }
  return std::chrono::seconds(seconds);
}

ApiClient::ApiClient(KubeConfig config, ApiClientOptions options, RequestObserver* observer,
                     const election::Clock& clock)
    : config_(std::move(config)),
      options_(std::move(options)),
      observer_(observer),
      clock_(clock),
      limiter_(options_.qps, options_.burst),
      transport_(config_) {}

std::string ApiClient::bearer_token() {
  std::lock_guard lock(token_mutex_);
  if (config_.token_file.empty()) return config_.token;
  const auto now = clock_.steady_now();
  if (token_stale_ || now - token_read_at_ >= options_.token_refresh) {
    std::ifstream in(config_.token_file);
    if (in) {
      std::stringstream content;
      content << in.rdbuf();
      std::string token = content.str();
      while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
      if (!token.empty()) token_ = token;
    }
    // On a read failure the last token stays in use until the next attempt.
    token_read_at_ = now;
    token_stale_ = false;
  }
  return token_;
}

void ApiClient::invalidate_token() {
  std::lock_guard lock(token_mutex_);
  token_stale_ = true;
}

StreamEnd ApiClient::stream(const std::string& path, election::Duration head_budget, election::Duration idle,
                            const std::function<bool(std::string_view)>& on_body, StreamCancel& cancel) {
  const std::string token = bearer_token();
  const std::string authorization = token.empty() ? std::string() : "Bearer " + token;
  return transport_.stream(HttpExchange{"GET", path, authorization, options_.user_agent, nullptr, {}}, head_budget,
                           idle, on_body, cancel);
}

void ApiClient::observe(const std::string& verb, const std::string& outcome, election::Duration latency) {
  if (observer_) observer_->on_request(verb, outcome, latency);
}

ApiResponse ApiClient::send(const std::string& verb, const web::http::method& method, const std::string& path,
                            const std::string* json_body, election::SteadyTime deadline,
                            const std::string& content_type, bool may_wait_for_rate_limit) {
  const auto start = clock_.steady_now();
  const auto go_at = limiter_.reserve(start, may_wait_for_rate_limit ? deadline : start);
  if (!go_at) {
    observe(verb, "rate_limited", election::Duration::zero());
    return {Transport::kRateLimited, 0, {}, std::nullopt, "client-side rate limit: no slot before the deadline"};
  }
  std::this_thread::sleep_for(*go_at - start);

  for (int attempt = 0;; ++attempt) {
    const auto sent = clock_.steady_now();
    if (sent >= deadline) {
      observe(verb, "timeout", election::Duration::zero());
      return {Transport::kTimeout, 0, {}, std::nullopt, "no answer before the deadline"};
    }
    const std::string token = bearer_token();
    const std::string authorization = token.empty() ? std::string() : "Bearer " + token;
    HttpExchange exchange{method, path, authorization, options_.user_agent, json_body, content_type};
    HttpOutcome outcome = transport_.exchange(exchange, deadline - sent);
    ApiResponse response{outcome.transport, outcome.status, std::move(outcome.body),
                         parse_retry_after(outcome.retry_after), std::move(outcome.detail)};
    const auto latency = clock_.steady_now() - sent;
    if (response.transport != Transport::kNone) {
      observe(verb, response.transport == Transport::kTimeout ? "timeout" : "network", latency);
      return response;
    }
    observe(verb, std::to_string(response.status), latency);
    if (response.status == 401 && !config_.token_file.empty()) {
      invalidate_token();
      // A rotated token: one retry with the fresh file, if time remains.
      if (attempt == 0 && clock_.steady_now() < deadline) continue;
    }
    return response;
  }
}

}  // namespace leasehold::kube
