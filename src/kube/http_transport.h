// HttpTransport: HTTP/1.1 exchanges with the API server over kept-alive connections (TLS, or
// plain HTTP for a loopback test server), each made on the calling thread. A connection owns its
// own small I/O context, and the caller runs it until the answer comes or the deadline passes,
// so a request costs no hand-off between threads (what cpprestsdk's client paid twice per
// renewal, with its continuations on its own pool). A request that misses its deadline closes
// its connection; the next request opens another.
//
// Thread-safe: any number of threads may call exchange() at once; each takes a connection of
// its own from the pool (or opens one) and gives it back only when it can carry another request.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "kube/kubeconfig.h"

namespace leasehold::kube {

// Why no HTTP answer arrived. The API client's own, for any request: LeaseClient maps it to the
// election's StoreError, a pod patch only tells success from failure.
enum class Transport {
  kNone,         // an HTTP answer arrived
  kTimeout,      // none before the deadline
  kNetwork,      // connection refused or reset, TLS failure, an answer that is not HTTP
  kRateLimited,  // the client-side rate limit had no slot before the deadline
};

struct HttpExchange {
  std::string_view method;  // GET, POST, PUT, PATCH
  std::string_view target;  // the path and query, below the server URL's own path
  std::string_view authorization;
  std::string_view user_agent;
  const std::string* body = nullptr;
  std::string_view content_type;
};

struct HttpOutcome {
  Transport transport = Transport::kNone;
  int status = 0;
  std::string body;
  std::string retry_after;  // the Retry-After header as sent, empty when absent
  std::string detail;
};

// Ends a stream in progress, and any begun after, from any thread.
class StreamCancel {
 public:
  void cancel();

 private:
  friend class HttpTransport;
  std::mutex mutex_;
  bool cancelled_ = false;
  std::function<void()> interrupt_;  // set while a stream runs: closes its connection on its thread
};

struct StreamEnd {
  HttpOutcome head;    // the answer's transport and status; for a status other than 200 its body too
  bool clean = false;  // a 200 whose body the server ended (or on_body declined more)
  std::string reason;  // why it ended otherwise
};

class HttpTransport {
 public:
  // Throws KubeConfigError (naming the server) for a URL that is not http(s)://host[:port][/path],
  // and for TLS material that does not load.
  explicit HttpTransport(const KubeConfig& config);
  ~HttpTransport();
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  // One request and its answer, within `budget` of real time from now.
  HttpOutcome exchange(const HttpExchange& request, std::chrono::steady_clock::duration budget);

  // A GET whose answer is read as it arrives (the watch), on a connection of its own that is never
  // kept: the answer's head within `head_budget`; for a 200, an empty piece to `on_body` as soon as
  // the head is in (the stream is open), then each piece of the body as it arrives (false: no
  // more) until the server ends it, `idle` passes without a byte, or `cancel`.
  StreamEnd stream(const HttpExchange& request, std::chrono::steady_clock::duration head_budget,
                   std::chrono::steady_clock::duration idle, const std::function<bool(std::string_view)>& on_body,
                   StreamCancel& cancel);

 private:
  struct Connection;
  struct Tls;

  std::unique_ptr<Connection> take();
  std::unique_ptr<Connection> fresh() const;
  // Connects (and shakes hands) when not yet connected: kNone, or why not.
  HttpOutcome open(Connection& c, std::chrono::steady_clock::time_point deadline);
  void give_back(std::unique_ptr<Connection> connection);

  bool tls_ = true;
  std::string host_;         // as the URL names it, without IPv6 brackets
  std::string port_;         // a number
  std::string host_header_;  // host[:port] as the Host header wants it
  std::string base_path_;    // the URL's path without its trailing '/'
  std::unique_ptr<Tls> tls_context_;

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

}  // namespace leasehold::kube
