#include "kube/api_client.h"

#include <boost/asio/ssl.hpp>
#include <charconv>
#include <condition_variable>
#include <fstream>
#include <sstream>
#include <thread>

namespace leasehold::kube {
namespace {

using web::http::http_response;

// The outcome of one request, filled in by cpprestsdk's continuation and read
// by the caller, who may have given up waiting by then.
struct Pending {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  ApiResponse response;
};

}  // namespace

std::optional<election::Duration> parse_retry_after(const web::http::http_headers& headers) {
  auto it = headers.find("Retry-After");
  if (it == headers.end()) return std::nullopt;
  // Only the whole value as digits: "1.5" or "5abc" are not a number of seconds.
  const std::string& value = it->second;
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
      limiter_(options_.qps, options_.burst) {
  client_ = make_client(std::chrono::seconds(60));
  // The watch stream is bounded by the server's timeoutSeconds; this only
  // catches a connection that went silent.
  stream_client_ = make_client(std::chrono::seconds(120));
}

std::unique_ptr<web::http::client::http_client> ApiClient::make_client(std::chrono::seconds timeout) {
  web::http::client::http_client_config cfg;
  cfg.set_timeout(timeout);
  // Redirects are answers, never followed. The API server does not redirect, and following one
  // would carry the bearer token elsewhere. And cpprestsdk builds its redirect follower from the
  // request's headers after it has handed the request to its I/O thread, which adds headers to
  // the same map: a data race on every request (ThreadSanitizer saw it in the unit tests).
  cfg.set_max_redirects(0);
  cfg.set_validate_certificates(!config_.insecure_skip_tls_verify);
  const std::string ca = config_.ca_pem;
  const std::string cert = config_.client_cert_pem;
  const std::string key = config_.client_key_pem;
  cfg.set_ssl_context_callback([ca, cert, key](boost::asio::ssl::context& ctx) {
    if (!ca.empty()) ctx.add_certificate_authority(boost::asio::buffer(ca.data(), ca.size()));
    if (!cert.empty()) {
      ctx.use_certificate_chain(boost::asio::buffer(cert.data(), cert.size()));
      ctx.use_private_key(boost::asio::buffer(key.data(), key.size()), boost::asio::ssl::context::pem);
    }
  });
  return std::make_unique<web::http::client::http_client>(utility::conversions::to_string_t(config_.server), cfg);
}

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

web::http::http_request ApiClient::make_request(const web::http::method& method, const std::string& path) {
  web::http::http_request request(method);
  request.set_request_uri(utility::conversions::to_string_t(path));
  request.headers().add("User-Agent", options_.user_agent);
  request.headers().add("Accept", "application/json");
  const std::string token = bearer_token();
  if (!token.empty()) request.headers().add("Authorization", "Bearer " + token);
  return request;
}

void ApiClient::observe(const std::string& verb, const std::string& outcome, election::Duration latency) {
  if (observer_) observer_->on_request(verb, outcome, latency);
}

ApiResponse ApiClient::send(const std::string& verb, const web::http::method& method, const std::string& path,
                            const std::string* json_body, election::SteadyTime deadline,
                            const std::string& content_type) {
  const auto start = clock_.steady_now();
  const auto go_at = limiter_.reserve(start, deadline);
  if (!go_at) {
    observe(verb, "rate_limited", election::Duration::zero());
    return {Transport::kRateLimited, 0, {}, std::nullopt, "client-side rate limit: no slot before the deadline"};
  }
  std::this_thread::sleep_for(*go_at - start);

  for (int attempt = 0;; ++attempt) {
    const auto sent = clock_.steady_now();
    web::http::http_request request = make_request(method, path);
    if (json_body) {
      // As bytes: the string overload reaches cpprestsdk's char-to-byte stream cast (undefined
      // behaviour that UBSan reports); the type is set after, as set_body picks its own.
      request.set_body(std::vector<unsigned char>(json_body->begin(), json_body->end()));
      request.headers().set_content_type(content_type);
    }
    auto pending = std::make_shared<Pending>();
    pplx::cancellation_token_source cancel;
    client_->request(request, cancel.get_token())
        .then([pending](http_response response) {
          {
            std::lock_guard lock(pending->mutex);
            pending->response.status = response.status_code();
            pending->response.retry_after = parse_retry_after(response.headers());
          }
          return response.extract_string(true);
        })
        .then([pending](pplx::task<std::string> body) {
          std::lock_guard lock(pending->mutex);
          try {
            pending->response.body = body.get();
          } catch (const pplx::task_canceled&) {
            pending->response.transport = Transport::kTimeout;
            pending->response.detail = "request cancelled at its deadline";
          } catch (const std::exception& e) {
            pending->response.transport = Transport::kNetwork;
            pending->response.detail = e.what();
          }
          pending->done = true;
          pending->done_cv.notify_all();
        });

    ApiResponse response;
    {
      std::unique_lock lock(pending->mutex);
      if (!pending->done_cv.wait_for(lock, deadline - sent, [&] { return pending->done; })) {
        lock.unlock();
        cancel.cancel();
        observe(verb, "timeout", clock_.steady_now() - sent);
        return {Transport::kTimeout, 0, {}, std::nullopt, "no answer before the deadline"};
      }
      response = pending->response;
    }
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
