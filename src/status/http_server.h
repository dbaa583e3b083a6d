// HttpServer: a small HTTP/1.1 server (Boost.Beast) for the status and ops
// listeners: keep-alive, TCP_NODELAY, header and body size limits, idle
// timeouts (on an injected Clock), a cap on open connections and a smaller one on held requests
// (long polls, streams), so that no client (slow, idle, waiting or abusive)
// can hold up other readers or the election: the connections left over the
// held cap are always there for the plain questions (/v1/leader).
//
// Thread-safety: a server runs on the io_context it is given; the handler is
// called on that context's thread(s) and must be fast and non-blocking.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "election/clock.h"

namespace leasehold::status {

struct HttpRequest {
  std::string method;
  std::string path;   // without the query
  std::string query;  // after '?', may be empty
  std::string body;
  bool from_loopback = false;  // the peer is 127.0.0.0/8 or ::1
};

struct HttpAnswer {
  using Headers = std::vector<std::pair<std::string, std::string>>;
  HttpAnswer() = default;
  HttpAnswer(int status_code, std::string body_text, std::string_view type = "application/json", Headers extra = {})
      : status(status_code), body(std::move(body_text)), content_type(type), headers(std::move(extra)) {}
  int status = 200;
  std::string body;
  std::string_view content_type = "application/json";  // a string that lives for good (a literal)
  Headers headers;                                     // names and values without CR or LF (ours, never a client's)
};

// One request's way back to its client. A handler may answer at once, later
// (long poll), or open a stream (Server-Sent Events). Thread-safe: every call
// is carried over to the connection's own strand.
class HttpExchange {
 public:
  virtual ~HttpExchange() = default;
  // Answers the request (once); the connection then serves the next request.
  // Called from within the handler, it answers without a hop through the strand.
  virtual void reply(HttpAnswer answer) = 0;
  // Sends the status line and headers of an open-ended body; the connection
  // closes when the stream ends.
  virtual void start_stream(int status, const std::string& content_type) = 0;
  virtual void send(std::string chunk) = 0;
  virtual void end_stream() = 0;
  // The client went away (or the stream ended): stop sending.
  virtual bool closed() const = 0;
  // Asks to keep the request open past the handler (a long poll or a stream). False when the
  // server holds as many as it may: answer at once instead (503). Called from within the handler;
  // `election` (whose status the client waits for) is named in the refusal's count.
  virtual bool hold(std::string_view election) {
    (void)election;
    return true;
  }
  // `gone` runs once, on the server's thread, when the client goes away (EOF or reset noticed
  // while the request is held): the holder can drop the exchange at once.
  virtual void on_close(std::function<void()> gone) { (void)gone; }
};

using HttpHandler = std::function<void(const HttpRequest&, std::shared_ptr<HttpExchange>)>;
using HttpSyncHandler = std::function<HttpAnswer(const HttpRequest&)>;

// Adapts a handler that always answers at once.
HttpHandler answer_at_once(HttpSyncHandler handler);

struct HttpLimits {
  std::size_t max_connections = 512;
  // Held requests (long polls and streams) take at most this many of the connections; the rest
  // stay free for questions answered at once.
  std::size_t max_held = 256;
  std::size_t max_streamed_bytes_queued = 1 << 20;  // a stream client that reads nothing is cut off
  std::size_t header_limit = 8 * 1024;
  std::size_t body_limit = 64 * 1024;
  std::chrono::milliseconds idle_timeout{60'000};  // between requests of a keep-alive connection
  std::chrono::milliseconds read_timeout{10'000};  // a request must arrive whole within this, once begun
  // After a failed accept (out of file descriptors): wait this long before the next one.
  std::chrono::milliseconds accept_backoff{100};
};

// Why a connection or request was turned away; each is counted.
enum class Refusal {
  kConnections,  // over max_connections: closed at once
  kHeld,         // over max_held: answered 503 by the handler
  kAcceptError,  // accept() failed (e.g. EMFILE); the server waits accept_backoff
};
const char* to_string(Refusal refusal);

// A listener's address as util::parse_listen_address reads it, ":port" meaning every IPv4
// interface and localhost 127.0.0.1. Throws std::invalid_argument naming the problem.
boost::asio::ip::tcp::endpoint parse_listen_address(const std::string& address);

class HttpServer {
 public:
  // Binds at once; throws std::runtime_error when the address cannot be used. The connections'
  // read and idle timeouts are kept on `clock`, which must outlive the server.
  HttpServer(boost::asio::io_context& io, const std::string& address, HttpHandler handler, HttpLimits limits,
             const election::Clock& clock);
  ~HttpServer();
  unsigned short port() const;
  // Before start(): called on the server's thread for every refusal.
  // `election`: whose long poll or stream was refused (kHeld); empty for a connection refused
  // before any request was read, when no election is known.
  void on_refused(std::function<void(Refusal, std::string_view election)> observer);
  void start();
  // Connections open now, and of them requests held (tests, metrics).
  std::size_t held() const;

  struct Shared;  // state shared with the connections, which may outlive a call

 private:
  void accept();
  std::shared_ptr<Shared> shared_;
};

}  // namespace leasehold::status
