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
#include <utility>

#include "status/connection_deadline.h"
#include "util/host_port.h"

namespace leasehold::status {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct HttpServer::Shared {
  Shared(asio::io_context& io_context, HttpHandler h, HttpLimits l, const election::Clock& c)
      : io(io_context), acceptor(io_context), backoff(io_context), handler(std::move(h)), limits(l), clock(c) {}
  void refuse(Refusal why, std::string_view election = {}) const {
    if (refused) refused(why, election);
  }
  asio::io_context& io;
  tcp::acceptor acceptor;
  asio::steady_timer backoff;  // after a failed accept
  HttpHandler handler;
  HttpLimits limits;
  const election::Clock& clock;  // the connections' deadlines
  std::function<void(Refusal, std::string_view)> refused;
  std::atomic<std::size_t> connections{0};
  std::atomic<std::size_t> held{0};
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

// One unit counted in a shared gauge (the open connections, the held requests) until released:
// taken over from the code that added it, given back at most once, at the latest with its owner.
class CountedUnit {
 public:
  CountedUnit() = default;
  explicit CountedUnit(std::atomic<std::size_t>& gauge) : gauge_(&gauge) {}
  CountedUnit(const CountedUnit&) = delete;
  CountedUnit& operator=(const CountedUnit&) = delete;
  CountedUnit& operator=(CountedUnit&& other) noexcept {
    release();
    gauge_ = std::exchange(other.gauge_, nullptr);
    return *this;
  }
  ~CountedUnit() { release(); }
  bool counted() const { return gauge_ != nullptr; }
  void release() {
    if (gauge_ != nullptr) --*std::exchange(gauge_, nullptr);
  }

 private:
  std::atomic<std::size_t>* gauge_ = nullptr;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<HttpServer::Shared> shared)
      : socket_(std::move(socket)),
        from_loopback_(peer_is_loopback(socket_)),
        direct_writes_(make_non_blocking(socket_)),
        timer_(socket_.get_executor()),
        shared_(std::move(shared)),
        deadline_(shared_->clock),
        slot_(shared_->connections) {}

  void start() { read(); }

  // The HttpExchange of the request being served. Holds the session alive.
  class Exchange final : public HttpExchange {
   public:
    explicit Exchange(std::shared_ptr<Session> session) : session_(std::move(session)) {}
    void reply(HttpAnswer answer) override {
      if (t_dispatching == session_.get()) {
        if (!session_->sync_answer_) session_->sync_answer_.emplace(std::move(answer));
        return;
      }
      auto s = session_;
      asio::post(s->socket_.get_executor(),
                 [s, answer = std::move(answer)] { s->respond(answer, Framing::kContentLength); });
    }
    void start_stream(int status, const std::string& content_type) override {
      auto s = session_;
      asio::post(s->socket_.get_executor(), [s, status, content_type] {
        // The content type is used before respond() returns: a string of the lambda's will do.
        s->respond(HttpAnswer(status, {}, content_type), Framing::kUntilClose);
      });
    }
    void send(std::string chunk) override {
      auto s = session_;
      asio::post(s->socket_.get_executor(), [s, chunk = std::move(chunk)]() mutable { s->queue(std::move(chunk)); });
    }
    void end_stream() override {
      auto s = session_;
      asio::post(s->socket_.get_executor(), [s] { s->finish_stream(); });
    }
    bool closed() const override { return session_->phase_.load(std::memory_order_acquire) == Phase::kClosed; }
    bool hold(std::string_view election) override {
      return t_dispatching == session_.get() ? session_->hold(election) : session_->held_.counted();
    }
    void on_close(std::function<void()> gone) override {
      if (t_dispatching == session_.get()) return session_->set_gone(std::move(gone));
      auto s = session_;
      asio::post(s->socket_.get_executor(), [s, gone = std::move(gone)]() mutable { s->set_gone(std::move(gone)); });
    }

   private:
    std::shared_ptr<Session> session_;
  };

 private:
  // Where the connection is in its life. Every change is made on the session's strand; only
  // kClosed is looked at from other threads (HttpExchange::closed).
  enum class Phase {
    kAccepted,           // connected: the first request is read at once, on the read timeout
    kAwaitingRequest,    // kept alive: waiting for the next request's first byte, on the idle timeout
    kReadingRequest,     // a request is arriving, on the read timeout
    kHandling,           // with the handler, not yet answered (a held request waits here)
    kAnswering,          // a whole answer is being written
    kAwaitingPeerWatch,  // answered and kept alive: the next read waits for watch_peer's wait to end
    kStreaming,          // a stream's head and chunks are being written
    kEndingStream,       // the stream has ended: the connection closes once the outbox is written
    kClosed,             // shut down or timed out: nothing more is read or written
  };
  // How a response's body is delimited.
  enum class Framing {
    kContentLength,  // a whole answer: the connection may serve another request after it
    kUntilClose,     // a stream: chunks follow until the connection closes
  };
  // What the request being served asked of its response.
  struct RequestFraming {
    unsigned version = 11;
    bool keep_alive = false;
    bool head = false;  // HEAD: the head of the answer only
  };

  static bool peer_is_loopback(const tcp::socket& socket) {
    beast::error_code error;
    const auto peer = socket.remote_endpoint(error).address();
    return !error &&
           (peer.is_loopback() || (peer.is_v6() && peer.to_v6().is_v4_mapped() && peer.to_v6().to_v4().is_loopback()));
  }
  // Answers are first tried with a direct write_some, which must not block (asio's own operations
  // are unaffected: they set the descriptor non-blocking anyway).
  static bool make_non_blocking(tcp::socket& socket) {
    beast::error_code error;
    socket.non_blocking(true, error);
    return !error;
  }

  Phase phase() const { return phase_.load(std::memory_order_relaxed); }
  void enter(Phase next) { phase_.store(next, std::memory_order_release); }

  void read() {
    if (phase() == Phase::kClosed) return close();
    const bool first = phase() == Phase::kAccepted;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(shared_->limits.header_limit));
    parser_->body_limit(shared_->limits.body_limit);
    beast::error_code ec;
    if (first || buffer_.size() > 0 || socket_.available(ec) > 0) {
      enter(Phase::kReadingRequest);
      expire_after(shared_->limits.read_timeout);
      return read_request();
    }
    // An idle keep-alive connection may wait longer than a request may take to arrive; its first
    // byte starts the read timeout (so a client trickling its next request gets no more).
    enter(Phase::kAwaitingRequest);
    expire_after(shared_->limits.idle_timeout);
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code error) {
      if (error || self->phase() == Phase::kClosed) return self->close();
      self->enter(Phase::kReadingRequest);
      self->expire_after(self->shared_->limits.read_timeout);
      self->read_request();
    });
  }

  void read_request() {
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream) return close();
    if (ec) {
      if (ec == http::error::header_limit || ec == http::error::body_limit || ec == http::error::bad_method ||
          ec == http::error::bad_target || ec == http::error::bad_version || ec == http::error::bad_field) {
        request_ = RequestFraming{};  // HTTP/1.1, then close: what follows cannot be trusted
        return respond(HttpAnswer{ec == http::error::header_limit ? 431
                                  : ec == http::error::body_limit ? 413
                                                                  : 400,
                                  "{\"error\":\"bad request\"}\n"},
                       Framing::kContentLength);
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
    request_ = RequestFraming{message.version(), message.keep_alive(), message.method() == http::verb::head};
    enter(Phase::kHandling);
    // While a handler holds the request (long poll), the connection waits without a deadline of
    // its own: the handler bounds the wait.
    expire_never();
    auto exchange = std::make_shared<Exchange>(shared_from_this());
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
      return respond(answer, Framing::kContentLength);
    }
    // Held (long poll, stream, or an answer yet to come): notice at once when the client leaves.
    watch_peer();
  }

  bool hold(std::string_view election) {
    if (held_.counted()) return true;
    if (shared_->held.fetch_add(1) >= shared_->limits.max_held) {
      --shared_->held;
      request_.keep_alive = false;  // the refused client should not keep the connection either
      shared_->refuse(Refusal::kHeld, election);
      return false;
    }
    held_ = CountedUnit(shared_->held);
    return true;
  }
  void set_gone(std::function<void()> gone) {
    if (phase() == Phase::kClosed) return gone();
    gone_ = std::move(gone);
  }
  // Tells the holder of the exchange (once) that it can let go.
  void notify_gone() {
    if (auto gone = std::move(gone_)) {
      gone_ = nullptr;
      gone();
    }
  }

  // While a request is held the connection is otherwise not read: wait for it to become readable,
  // which is either the client leaving (EOF, reset) or a pipelined request. A weak reference: the
  // wait must not keep the session alive once nobody holds the exchange.
  void watch_peer() {
    // Peeking below needs a non-blocking socket.
    if (peer_watch_pending_ || phase() == Phase::kClosed || !direct_writes_) return;
    peer_watch_pending_ = true;
    socket_.async_wait(tcp::socket::wait_read, [weak = weak_from_this()](beast::error_code ec) {
      if (const auto self = weak.lock()) self->on_peer_readable(ec);
    });
  }
  void on_peer_readable(beast::error_code ec) {
    peer_watch_pending_ = false;
    if (phase() == Phase::kClosed) return;
    const bool answered = phase() == Phase::kAwaitingPeerWatch;
    if (!ec) {
      char byte = 0;
      beast::error_code peek_error;
      socket_.receive(asio::buffer(&byte, 1), tcp::socket::message_peek, peek_error);
      if (peek_error == asio::error::would_block || peek_error == asio::error::try_again) {
        if (!answered) return watch_peer();
      } else if (peek_error) {
        return abandon();  // EOF or reset: the client is gone
      }
      // Else a pipelined request: it waits in the socket until this one is answered.
    } else if (ec != asio::error::operation_aborted) {
      return abandon();
    }
    if (answered) read();
  }

  // The client left while its request was held: free its slot and descriptor now, and tell the
  // holder, rather than when the long poll's wait ends or the next stream event fails.
  void abandon() {
    enter(Phase::kClosed);
    expire_never();
    held_.release();
    slot_.release();
    beast::error_code ignored;
    socket_.close(ignored);
    notify_gone();
  }

  // Every response goes out through here, once per request (the request being read, when it is
  // refused, or handled); any other is dropped. The head is serialised into the session's own
  // buffer, reused from one request to the next.
  void respond(const HttpAnswer& answer, Framing framing) {
    if (phase() != Phase::kReadingRequest && phase() != Phase::kHandling) return;
    const bool whole = framing == Framing::kContentLength;
    const bool keep_alive = whole && request_.keep_alive;
    out_.clear();
    out_.append(request_.version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
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
    if (!whole) {
      // A stream stays held (its holder keeps sending) until the connection closes.
      out_.append("Connection: close\r\n\r\n");
      enter(Phase::kStreaming);
      return queue(out_);
    }
    held_.release();
    gone_ = nullptr;  // answered: the holder has let go
    if (request_.version == 10 && keep_alive) out_.append("Connection: keep-alive\r\n");
    if (request_.version != 10 && !keep_alive) out_.append("Connection: close\r\n");
    out_.append("Content-Length: ");
    append_number(out_, answer.body.size());
    out_.append("\r\n\r\n");
    if (!request_.head) out_.append(answer.body);
    enter(Phase::kAnswering);
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
    if (!keep_alive || phase() == Phase::kClosed) return close();
    if (peer_watch_pending_) {
      // The wait for the client's leaving is still pending: end it first (two reads at once are
      // not allowed); its handler starts the next read.
      enter(Phase::kAwaitingPeerWatch);
      beast::error_code ignored;
      socket_.cancel(ignored);
      return;
    }
    read();
  }

  void queue(std::string chunk) {
    if (phase() != Phase::kStreaming && phase() != Phase::kEndingStream) return;
    queued_bytes_ += chunk.size();
    if (queued_bytes_ > shared_->limits.max_streamed_bytes_queued) return close();
    // The chunk at the front of the outbox is the one being written.
    const bool writing = !outbox_.empty();
    outbox_.push_back(std::move(chunk));
    if (!writing) write_next();
  }

  void write_next() {
    if (outbox_.empty()) {
      if (phase() == Phase::kEndingStream) close();
      return;
    }
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
    if (phase() == Phase::kStreaming) enter(Phase::kEndingStream);
    if (outbox_.empty()) close();
  }

  // Half-closes so the client still reads what was sent; the socket closes with the session,
  // which the holder of a held exchange is told to let go.
  void close() {
    enter(Phase::kClosed);
    expire_never();
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    notify_gone();
  }

  // The connection's deadline, on the server's Clock (ConnectionDeadline decides when the one
  // timer must be armed, and for how long).
  void expire_after(election::Duration timeout) {
    if (const auto wait = deadline_.expire_after(timeout)) arm_timer(*wait);
  }
  void expire_never() { deadline_.expire_never(); }
  void arm_timer(election::Duration wait) {
    const auto generation = ++timer_generation_;
    timer_.expires_after(wait);  // cancels a pending wait, whose handler finds itself outdated
    // A weak reference: a pending timer must not keep a finished connection (and its slot) alive.
    timer_.async_wait([weak = weak_from_this(), generation](beast::error_code ec) {
      const auto self = weak.lock();
      if (!self || generation != self->timer_generation_) return;
      if (ec == asio::error::operation_aborted) return self->deadline_.timer_cancelled();
      const ConnectionDeadline::Fired fired = self->deadline_.timer_fired();
      if (fired.rearm) return self->arm_timer(*fired.rearm);
      if (!fired.expired) return;
      // Time is up: closing cancels the pending read or write, whose handler ends the session.
      self->enter(Phase::kClosed);
      beast::error_code ignored;
      self->socket_.close(ignored);
    });
  }

  tcp::socket socket_;
  const bool from_loopback_;  // the peer is 127.0.0.0/8 or ::1
  const bool direct_writes_;  // the socket is non-blocking, so write_some may be tried first
  asio::steady_timer timer_;
  std::uint64_t timer_generation_ = 0;
  beast::flat_buffer buffer_{8192};
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<HttpServer::Shared> shared_;
  ConnectionDeadline deadline_;
  std::atomic<Phase> phase_{Phase::kAccepted};
  RequestFraming request_;                 // of the request being served
  bool peer_watch_pending_ = false;        // watch_peer's wait: an operation outstanding, in any phase
  CountedUnit slot_;                       // in Shared::connections, from accept() until the client is gone
  CountedUnit held_;                       // in Shared::held while the handler holds the request
  std::function<void()> gone_;             // the holder's on_close
  std::deque<std::string> outbox_;         // a stream's chunks; the front one is being written
  std::string out_;                        // the answer being written
  std::optional<HttpAnswer> sync_answer_;  // given by the handler before it returned
  std::size_t queued_bytes_ = 0;
};

}  // namespace

const char* to_string(Refusal refusal) {
  switch (refusal) {
    case Refusal::kConnections: return "connections";
    case Refusal::kHeld: return "held";
    case Refusal::kAcceptError: return "accept_error";
  }
  return "unknown";
}

HttpHandler answer_at_once(HttpSyncHandler handler) {
  return [handler = std::move(handler)](const HttpRequest& request, std::shared_ptr<HttpExchange> exchange) {
    exchange->reply(handler(request));
  };
}

tcp::endpoint parse_listen_address(const std::string& address) {
  std::string error;
  const auto parsed = util::parse_listen_address(address, &error);
  if (!parsed) throw std::invalid_argument(error);
  const auto port = parsed->port;
  switch (parsed->kind) {
    case util::HostPort::Kind::kNone: return tcp::endpoint(tcp::v4(), port);
    case util::HostPort::Kind::kName: return tcp::endpoint(asio::ip::address_v4::loopback(), port);  // localhost
    case util::HostPort::Kind::kIPv4:
    case util::HostPort::Kind::kIPv6: break;
  }
  return tcp::endpoint(asio::ip::make_address(parsed->host), port);
}

HttpServer::HttpServer(asio::io_context& io, const std::string& address, HttpHandler handler, HttpLimits limits,
                       const election::Clock& clock)
    : shared_(std::make_shared<Shared>(io, std::move(handler), limits, clock)) {
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
  shared_->backoff.cancel();
}

void HttpServer::on_refused(std::function<void(Refusal, std::string_view)> observer) {
  shared_->refused = std::move(observer);
}
std::size_t HttpServer::held() const { return shared_->held.load(); }

unsigned short HttpServer::port() const { return shared_->acceptor.local_endpoint().port(); }

void HttpServer::start() { accept(); }

void HttpServer::accept() {
  auto shared = shared_;
  shared->acceptor.async_accept(asio::make_strand(shared->io),
                                [this, shared](beast::error_code ec, tcp::socket socket) {
                                  if (ec == asio::error::operation_aborted || !shared->acceptor.is_open()) return;
                                  if (ec) {
                                    // Out of descriptors (EMFILE, ENFILE) or memory: the pending connection stays in
                                    // the backlog, so accepting again at once would fail again at once, round and
                                    // round.
                                    shared->refuse(Refusal::kAcceptError);
                                    shared->backoff.expires_after(shared->limits.accept_backoff);
                                    shared->backoff.async_wait([this, shared](beast::error_code error) {
                                      if (!error && shared->acceptor.is_open()) accept();
                                    });
                                    return;
                                  }
                                  if (shared->connections.load() >= shared->limits.max_connections) {
                                    shared->refuse(Refusal::kConnections);
                                    beast::error_code ignored;
                                    socket.close(ignored);  // over the cap: refuse rather than queue
                                  } else {
                                    ++shared->connections;
                                    beast::error_code ignored;
                                    socket.set_option(tcp::no_delay(true), ignored);
                                    std::make_shared<Session>(std::move(socket), shared)->start();
                                  }
                                  accept();
                                });
}

}  // namespace leasehold::status
