#include "status/http_server.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <deque>
#include <optional>

namespace leasehold::status {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct HttpServer::Shared {
  Shared(asio::io_context& io_context, HttpHandler h, HttpLimits l)
      : io(io_context), acceptor(io_context), handler(std::move(h)), limits(l) {}
  asio::io_context& io;
  tcp::acceptor acceptor;
  HttpHandler handler;
  HttpLimits limits;
  std::atomic<std::size_t> connections{0};
};

namespace {

class Session;
// The session whose handler is running on this thread: a reply made from inside the handler is
// written directly, with no post through the strand and no lambda allocated for it.
thread_local Session* t_dispatching = nullptr;

// Appends the decimal digits of n.
void append_number(std::string& out, std::size_t n) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
  out.append(digits, end);
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<HttpServer::Shared> shared)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), shared_(std::move(shared)) {
    beast::error_code peer_error;
    const auto peer = socket_.remote_endpoint(peer_error).address();
    from_loopback_ =
        !peer_error &&
        (peer.is_loopback() || (peer.is_v6() && peer.to_v6().is_v4_mapped() && peer.to_v6().to_v4().is_loopback()));
    // Answers are first tried with a direct write_some, which must not block (asio's own
    // operations are unaffected: they set the descriptor non-blocking anyway).
    beast::error_code error;
    socket_.non_blocking(true, error);
    direct_writes_ = !error;
  }
  ~Session() { --shared_->connections; }

  void start() { read(); }

  // The HttpExchange of the request being served. Holds the session alive.
  class Exchange final : public HttpExchange {
   public:
    Exchange(std::shared_ptr<Session> session, bool keep_alive, unsigned version, bool head)
        : session_(std::move(session)), keep_alive_(keep_alive), version_(version), head_(head) {}
    void reply(HttpAnswer answer) override {
      if (t_dispatching == session_.get()) {
        if (!session_->sync_answer_) session_->sync_answer_.emplace(std::move(answer));
        return;
      }
      auto s = session_;
      asio::post(s->socket_.get_executor(), [s, answer = std::move(answer), ka = keep_alive_, v = version_,
                                             h = head_]() mutable { s->write(answer, ka, v, h); });
    }
    void start_stream(int status, const std::string& content_type) override {
      auto s = session_;
      asio::post(s->socket_.get_executor(),
                 [s, status, content_type, v = version_] { s->start_stream(status, content_type, v); });
    }
    void send(std::string chunk) override {
      auto s = session_;
      asio::post(s->socket_.get_executor(), [s, chunk = std::move(chunk)]() mutable { s->queue(std::move(chunk)); });
    }
    void end_stream() override {
      auto s = session_;
      asio::post(s->socket_.get_executor(), [s] { s->finish_stream(); });
    }
    bool closed() const override { return session_->closed_.load(); }

   private:
    std::shared_ptr<Session> session_;
    bool keep_alive_;
    unsigned version_;
    bool head_;
  };

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(shared_->limits.header_limit));
    parser_->body_limit(shared_->limits.body_limit);
    // An idle keep-alive connection may wait longer than a request may take to arrive.
    expire_after(first_request_ ? shared_->limits.read_timeout : shared_->limits.idle_timeout);
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    first_request_ = false;
    if (ec == http::error::end_of_stream) return close();
    if (ec) {
      if (ec == http::error::header_limit || ec == http::error::body_limit || ec == http::error::bad_method ||
          ec == http::error::bad_target || ec == http::error::bad_version || ec == http::error::bad_field) {
        return write(HttpAnswer{ec == http::error::header_limit ? 431
                                : ec == http::error::body_limit ? 413
                                                                : 400,
                                "{\"error\":\"bad request\"}\n"},
                     false, 11, false);
      }
      return close();
    }
    const auto& message = parser_->get();
    HttpRequest request;
    request.method = std::string(message.method_string());
    const std::string_view target(message.target().data(), message.target().size());
    const auto q = target.find('?');
    request.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) request.query = std::string(target.substr(q + 1));
    request.body = message.body();
    request.from_loopback = from_loopback_;
    const bool head = message.method() == http::verb::head;
    // While a handler holds the request (long poll), the connection waits without a deadline of
    // its own: the handler bounds the wait.
    expire_never();
    const bool keep_alive = message.keep_alive();
    const unsigned version = message.version();
    auto exchange = std::make_shared<Exchange>(shared_from_this(), keep_alive, version, head);
    t_dispatching = this;
    try {
      shared_->handler(request, exchange);
    } catch (const std::exception&) {
      if (!sync_answer_) sync_answer_.emplace(500, "{\"error\":\"internal error\"}\n");
    }
    t_dispatching = nullptr;
    if (sync_answer_) {
      HttpAnswer answer = std::move(*sync_answer_);
      sync_answer_.reset();
      write(answer, keep_alive, version, head);
    }
  }

  // Serialises the answer into the session's own buffer (reused from one request to the next).
  void write(const HttpAnswer& answer, bool keep_alive, unsigned version, bool head) {
    if (answered_ || closed_) return;
    answered_ = true;
    out_.clear();
    out_.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
    append_number(out_, static_cast<std::size_t>(answer.status));
    out_.push_back(' ');
    const auto reason = http::obsolete_reason(static_cast<http::status>(answer.status));
    out_.append(reason.data(), reason.size());
    out_.append("\r\nServer: leasehold\r\nContent-Type: ");
    out_.append(answer.content_type);
    out_.append("\r\nCache-Control: no-store\r\n");
    for (const auto& [name, value] : answer.headers) {
      if (name.find_first_of("\r\n:") != std::string::npos || value.find_first_of("\r\n") != std::string::npos)
        continue;
      out_.append(name).append(": ").append(value).append("\r\n");
    }
    if (version == 10 && keep_alive) out_.append("Connection: keep-alive\r\n");
    if (version != 10 && !keep_alive) out_.append("Connection: close\r\n");
    out_.append("Content-Length: ");
    append_number(out_, answer.body.size());
    out_.append("\r\n\r\n");
    if (!head) out_.append(answer.body);
    // Most answers fit in the socket's send buffer: written at once, the next read starts without
    // a round through the io_context's queue (and its extra epoll_wait).
    beast::error_code ec;
    const std::size_t sent = direct_writes_ ? socket_.write_some(asio::buffer(out_), ec) : 0;
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) return close();
    if (sent == out_.size()) return written(keep_alive);
    expire_after(shared_->limits.read_timeout);
    asio::async_write(socket_, asio::buffer(out_) + sent,
                      [self = shared_from_this(), keep_alive](beast::error_code error, std::size_t) {
                        if (error) return self->close();
                        self->written(keep_alive);
                      });
  }

  void written(bool keep_alive) {
    if (!keep_alive) return close();
    answered_ = false;
    read();
  }

  void start_stream(int status, const std::string& content_type, unsigned version) {
    if (answered_ || closed_) return;
    answered_ = true;
    streaming_ = true;
    std::string head = "HTTP/1." + std::to_string(version % 10) + " " + std::to_string(status) + " " +
                       std::string(http::obsolete_reason(static_cast<http::status>(status))) +
                       "\r\nServer: leasehold\r\nContent-Type: " + content_type +
                       "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n";
    queue(std::move(head));
  }

  void queue(std::string chunk) {
    if (closed_ || !streaming_) return;
    queued_bytes_ += chunk.size();
    if (queued_bytes_ > shared_->limits.max_streamed_bytes_queued) return close();
    outbox_.push_back(std::move(chunk));
    if (!writing_) write_next();
  }

  void write_next() {
    if (outbox_.empty()) {
      writing_ = false;
      if (ending_) close();
      return;
    }
    writing_ = true;
    expire_after(shared_->limits.read_timeout);
    asio::async_write(socket_, asio::buffer(outbox_.front()),
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        self->queued_bytes_ -= self->outbox_.front().size();
                        self->outbox_.pop_front();
                        if (ec) return self->close();
                        self->expire_never();
                        self->write_next();
                      });
  }

  void finish_stream() {
    ending_ = true;
    if (!writing_) close();
  }

  // Half-closes so the client still reads what was sent; the socket closes with the session.
  void close() {
    closed_ = true;
    expire_never();
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
  }

  // The connection's deadline. A request moves it without touching the timer (re-arming a timer
  // costs a timerfd_settime system call per request): the timer fires at the deadline it was set
  // for, and re-arms itself for the new one if the deadline moved meanwhile.
  void expire_after(std::chrono::steady_clock::duration timeout) {
    deadline_ = std::chrono::steady_clock::now() + timeout;
    if (!timer_armed_) arm_timer();
  }
  void expire_never() { deadline_ = std::chrono::steady_clock::time_point::max(); }
  void arm_timer() {
    timer_armed_ = true;
    timer_.expires_at(deadline_);
    // A weak reference: a pending timer must not keep a finished connection (and its slot) alive.
    timer_.async_wait([weak = weak_from_this()](beast::error_code ec) {
      const auto self = weak.lock();
      if (!self) return;
      self->timer_armed_ = false;
      if (ec == asio::error::operation_aborted || self->deadline_ == std::chrono::steady_clock::time_point::max()) {
        return;
      }
      if (std::chrono::steady_clock::now() < self->deadline_) return self->arm_timer();
      // Time is up: closing cancels the pending read or write, whose handler ends the session.
      self->closed_ = true;
      beast::error_code ignored;
      self->socket_.close(ignored);
    });
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  bool timer_armed_ = false;
  bool from_loopback_ = false;
  bool direct_writes_ = false;  // the socket is non-blocking, so write_some may be tried first
  beast::flat_buffer buffer_{8192};
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<HttpServer::Shared> shared_;
  bool first_request_ = true;
  bool answered_ = false;
  bool streaming_ = false;
  bool writing_ = false;
  bool ending_ = false;
  std::atomic<bool> closed_{false};
  std::deque<std::string> outbox_;
  std::string out_;                        // the answer being written
  std::optional<HttpAnswer> sync_answer_;  // given by the handler before it returned
  std::size_t queued_bytes_ = 0;
};

}  // namespace

HttpHandler answer_at_once(HttpSyncHandler handler) {
  return [handler = std::move(handler)](const HttpRequest& request, std::shared_ptr<HttpExchange> exchange) {
    exchange->reply(handler(request));
  };
}

tcp::endpoint parse_listen_address(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("expected host:port, got '" + address + "'");
  std::string host = address.substr(0, colon);
  const std::string port_text = address.substr(colon + 1);
  unsigned long port = 0;
  try {
    size_t used = 0;
    port = std::stoul(port_text, &used);
    if (used != port_text.size() || port > 65535) throw std::invalid_argument("port");
  } catch (const std::exception&) {
    throw std::invalid_argument("bad port in '" + address + "'");
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) return tcp::endpoint(tcp::v4(), static_cast<unsigned short>(port));
  if (host == "localhost") host = "127.0.0.1";
  beast::error_code ec;
  const auto ip = asio::ip::make_address(host, ec);
  if (ec) throw std::invalid_argument("host in '" + address + "' must be an IP address");
  return tcp::endpoint(ip, static_cast<unsigned short>(port));
}

HttpServer::HttpServer(asio::io_context& io, const std::string& address, HttpHandler handler, HttpLimits limits)
    : shared_(std::make_shared<Shared>(io, std::move(handler), limits)) {
  const tcp::endpoint endpoint = parse_listen_address(address);
  beast::error_code ec;
  shared_->acceptor.open(endpoint.protocol(), ec);
  if (!ec) shared_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) shared_->acceptor.bind(endpoint, ec);
  if (!ec) shared_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on " + address + ": " + ec.message());
}

HttpServer::~HttpServer() {
  beast::error_code ignored;
  shared_->acceptor.close(ignored);
}

unsigned short HttpServer::port() const { return shared_->acceptor.local_endpoint().port(); }

void HttpServer::start() { accept(); }

void HttpServer::accept() {
  auto shared = shared_;
  shared->acceptor.async_accept(asio::make_strand(shared->io),
                                [this, shared](beast::error_code ec, tcp::socket socket) {
                                  if (ec == asio::error::operation_aborted) return;
                                  if (!ec) {
                                    if (shared->connections.load() >= shared->limits.max_connections) {
                                      beast::error_code ignored;
                                      socket.close(ignored);  // over the cap: refuse rather than queue
                                    } else {
                                      ++shared->connections;
                                      beast::error_code ignored;
                                      socket.set_option(tcp::no_delay(true), ignored);
                                      std::make_shared<Session>(std::move(socket), shared)->start();
                                    }
                                  }
                                  accept();
                                });
}

}  // namespace leasehold::status
