#include "kube/http_transport.h"

// cpprestsdk's `U` macro breaks Boost's headers; this file does not use it.
#define _TURN_OFF_PLATFORM_STRING
#include <cpprest/base_uri.h>
#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <limits>
#include <optional>

#include "util/host_port.h"

namespace leasehold::kube {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kMaxIdle = 8;                // more threads than that never send at once
constexpr std::uint64_t kBodyLimit = 8u << 20;     // far above any Lease or Pod the API returns
constexpr std::uint32_t kHeaderLimit = 64u << 10;  // the API server's headers are a few hundred bytes

// Boost 1.74's Beast takes its own string_view.
beast::string_view bsv(std::string_view s) { return {s.data(), s.size()}; }

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

HttpOutcome network(const std::string& what, const beast::error_code& ec) {
  HttpOutcome out;
  out.transport = Transport::kNetwork;
  out.detail = what + ": " + ec.message();
  return out;
}

HttpOutcome timed_out(const std::string& what) {
  HttpOutcome out;
  out.transport = Transport::kTimeout;
  out.detail = "no answer before the deadline (" + what + ")";
  return out;
}

http::request<http::string_body> make_message(const HttpExchange& request, http::verb verb,
                                              const std::string& base_path, const std::string& host_header) {
  http::request<http::string_body> message{verb, base_path + std::string(request.target), 11};
  message.set(http::field::host, host_header);
  message.set(http::field::user_agent, bsv(request.user_agent));
  message.set(http::field::accept, "application/json");
  if (!request.authorization.empty()) message.set(http::field::authorization, bsv(request.authorization));
  if (request.body) {
    message.set(http::field::content_type, bsv(request.content_type));
    message.body() = *request.body;
  }
  message.prepare_payload();
  return message;
}

}  // namespace

struct HttpTransport::Tls {
  ssl::context context{ssl::context::tls_client};
  bool verify = true;
};

// One connection and the I/O context it runs on: only the thread holding it runs that context.
struct HttpTransport::Connection {
  net::io_context io{1};
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  std::optional<beast::tcp_stream> plain;
  beast::flat_buffer buffer;
  bool carried_a_request = false;  // kept alive since: the server may have closed it meanwhile

  beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

  // Runs this connection's I/O until `done` is set by a handler, or the deadline passes (false).
  bool wait(const bool& done, Clock::time_point deadline) {
    io.restart();
    while (!done) {
      if (Clock::now() >= deadline) return false;
      if (io.run_one_until(deadline) == 0 && !done && io.stopped()) return false;
    }
    return true;
  }

  // After a deadline or an error: nothing more is read from it; its pending operations end with
  // it (the I/O context destroys their handlers, which only touch the caller's finished frame
  // through references that are never used again).
  void close() {
    beast::error_code ignored;
    tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
    tcp().socket().close(ignored);
  }
};

HttpTransport::HttpTransport(const KubeConfig& config) {
  web::uri uri;
  try {
    uri = web::uri(utility::conversions::to_string_t(config.server));
  } catch (const std::exception& e) {
    throw KubeConfigError("server: not a URL: " + config.server);
  }
  const std::string scheme = utility::conversions::to_utf8string(uri.scheme());
  if (scheme != "https" && scheme != "http") throw KubeConfigError("server: not an http(s) URL: " + config.server);
  tls_ = scheme == "https";
  host_ = utility::conversions::to_utf8string(uri.host());
  if (host_.size() > 2 && host_.front() == '[' && host_.back() == ']') host_ = host_.substr(1, host_.size() - 2);
  if (host_.empty()) throw KubeConfigError("server: no host in " + config.server);
  const int port = uri.port() > 0 ? uri.port() : (tls_ ? 443 : 80);
  port_ = std::to_string(port);
  host_header_ = uri.port() > 0 ? util::join_host_port(host_, port_) : util::host_for_url(host_);
  base_path_ = utility::conversions::to_utf8string(uri.path());
  while (!base_path_.empty() && base_path_.back() == '/') base_path_.pop_back();

  if (tls_) {
    tls_context_ = std::make_unique<Tls>();
    auto& ctx = tls_context_->context;
    try {
      ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                      ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      if (config.ca_pem.empty()) {
        ctx.set_default_verify_paths();
      } else {
        ctx.add_certificate_authority(net::buffer(config.ca_pem.data(), config.ca_pem.size()));
      }
      if (!config.client_cert_pem.empty()) {
        ctx.use_certificate_chain(net::buffer(config.client_cert_pem.data(), config.client_cert_pem.size()));
        ctx.use_private_key(net::buffer(config.client_key_pem.data(), config.client_key_pem.size()), ssl::context::pem);
      }
    } catch (const boost::system::system_error& e) {
      throw KubeConfigError("certificate-authority-data / client-certificate-data: cannot be loaded (" +
                            std::string(e.what()) + ")");
    }
    tls_context_->verify = !config.insecure_skip_tls_verify;
  }
}

HttpTransport::~HttpTransport() = default;

std::unique_ptr<HttpTransport::Connection> HttpTransport::take() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  return fresh();
}

std::unique_ptr<HttpTransport::Connection> HttpTransport::fresh() const {
  auto c = std::make_unique<Connection>();
  if (tls_) {
    c->tls.emplace(c->io, tls_context_->context);
  } else {
    c->plain.emplace(c->io);
  }
  return c;
}

void HttpTransport::give_back(std::unique_ptr<Connection> connection) {
  connection->carried_a_request = true;
  std::lock_guard lock(mutex_);
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(connection));
}

HttpOutcome HttpTransport::open(Connection& connection, Clock::time_point deadline) {
  Connection* c = &connection;
  if (c->tcp().socket().is_open()) return {};
  beast::error_code ec;
  bool done = false;
  const auto on_done = [&](const beast::error_code& e, auto&&...) {
    ec = e;
    done = true;
  };
  tcp::resolver::results_type endpoints;
  if (is_ip_literal(host_)) {
    endpoints = tcp::resolver::results_type::create(
        tcp::endpoint(net::ip::make_address(host_), static_cast<unsigned short>(std::stoi(port_))), host_, port_);
  } else {
    // Blocking, without the deadline: asio's asynchronous resolver would start a thread of its
    // own. In a pod the server is an address (KUBERNETES_SERVICE_HOST); a name comes from a
    // developer's kubeconfig. Safety does not rest on this deadline: claims count from the send.
    tcp::resolver resolver(c->io);
    endpoints = resolver.resolve(host_, port_, ec);
    if (ec) return network("resolving " + host_, ec);
  }
  c->tcp().async_connect(endpoints, on_done);
  if (!c->wait(done, deadline)) return timed_out("connect");
  if (ec) return network("connect", ec);
  c->tcp().socket().set_option(tcp::no_delay(true), ec);
  if (c->tls) {
    auto& s = *c->tls;
    if (!is_ip_literal(host_)) SSL_set_tlsext_host_name(s.native_handle(), host_.c_str());
    if (tls_context_->verify) {
      s.set_verify_mode(ssl::verify_peer);
      s.set_verify_callback(ssl::host_name_verification(host_));
    } else {
      s.set_verify_mode(ssl::verify_none);
    }
    done = false;
    s.async_handshake(ssl::stream_base::client, on_done);
    if (!c->wait(done, deadline)) {
      c->close();
      return timed_out("TLS handshake");
    }
    if (ec) return network("TLS handshake", ec);
  }
  return {};
}

HttpOutcome HttpTransport::exchange(const HttpExchange& request, std::chrono::steady_clock::duration budget) {
  const auto deadline = Clock::now() + budget;
  const http::verb verb = http::string_to_verb(bsv(request.method));
  if (verb == http::verb::unknown) {
    HttpOutcome out;
    out.transport = Transport::kNetwork;
    out.detail = "unknown method";
    return out;
  }
  http::request<http::string_body> message = make_message(request, verb, base_path_, host_header_);

  // A kept-alive connection the server closed while it sat idle fails before any answer: the
  // request is sent once more, on a new connection (the server has not seen it).
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<Connection> c = take();
    const bool reused = c->carried_a_request;
    beast::error_code ec;
    bool done = false;
    const auto on_done = [&](const beast::error_code& e, auto&&...) {
      ec = e;
      done = true;
    };

    if (HttpOutcome failed = open(*c, deadline); failed.transport != Transport::kNone) return failed;

    done = false;
    if (c->tls) {
      http::async_write(*c->tls, message, on_done);
    } else {
      http::async_write(*c->plain, message, on_done);
    }
    if (!c->wait(done, deadline)) {
      c->close();
      return timed_out("sending");
    }
    if (ec) {
      c->close();
      if (reused && attempt == 0) continue;
      return network("sending", ec);
    }

    http::response_parser<http::string_body> parser;
    parser.body_limit(kBodyLimit);
    parser.header_limit(kHeaderLimit);
    done = false;
    if (c->tls) {
      http::async_read(*c->tls, c->buffer, parser, on_done);
    } else {
      http::async_read(*c->plain, c->buffer, parser, on_done);
    }
    if (!c->wait(done, deadline)) {
      c->close();
      return timed_out("waiting for the answer");
    }
    if (ec) {
      c->close();
      if (reused && attempt == 0 && !parser.got_some()) continue;
      return network("reading the answer", ec);
    }

    auto& response = parser.get();
    HttpOutcome out;
    out.status = response.result_int();
    if (auto it = response.find(http::field::retry_after); it != response.end())
      out.retry_after.assign(it->value().data(), it->value().size());
    const bool keep = response.keep_alive() && c->buffer.size() == 0;
    out.body = std::move(response.body());
    if (keep) {
      give_back(std::move(c));
    } else {
      c->close();
    }
    return out;
  }
}

void StreamCancel::cancel() {
  std::lock_guard lock(mutex_);
  cancelled_ = true;
  if (interrupt_) interrupt_();
}

StreamEnd HttpTransport::stream(const HttpExchange& request, Clock::duration head_budget, Clock::duration idle,
                                const std::function<bool(std::string_view)>& on_body, StreamCancel& cancel) {
  StreamEnd end;
  const http::verb verb = http::string_to_verb(bsv(request.method));
  std::unique_ptr<Connection> c = fresh();
  {
    std::lock_guard lock(cancel.mutex_);
    if (cancel.cancelled_) {
      end.head.transport = Transport::kNetwork;
      end.head.detail = "cancelled";
      return end;
    }
    // Run on the stream's own thread, which alone touches the connection.
    cancel.interrupt_ = [conn = c.get()] { net::post(conn->io, [conn] { conn->close(); }); };
  }
  struct Detach {
    StreamCancel& cancel;
    ~Detach() {
      std::lock_guard lock(cancel.mutex_);
      cancel.interrupt_ = nullptr;
    }
  } detach{cancel};

  const auto head_deadline = Clock::now() + head_budget;
  if (HttpOutcome failed = open(*c, head_deadline); failed.transport != Transport::kNone) {
    end.head = std::move(failed);
    return end;
  }
  const http::request<http::string_body> message = make_message(request, verb, base_path_, host_header_);
  beast::error_code ec;
  bool done = false;
  const auto on_done = [&](const beast::error_code& e, auto&&...) {
    ec = e;
    done = true;
  };
  const auto fail = [&](Transport t, const std::string& what) {
    c->close();
    end.head.transport = t;
    end.head.detail =
        t == Transport::kTimeout ? "no answer before the deadline (" + what + ")" : what + ": " + ec.message();
    return end;
  };
  if (c->tls) {
    http::async_write(*c->tls, message, on_done);
  } else {
    http::async_write(*c->plain, message, on_done);
  }
  if (!c->wait(done, head_deadline)) return fail(Transport::kTimeout, "sending");
  if (ec) return fail(Transport::kNetwork, "sending");

  http::response_parser<http::buffer_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // a watch runs for minutes
  done = false;
  if (c->tls) {
    http::async_read_header(*c->tls, c->buffer, parser, on_done);
  } else {
    http::async_read_header(*c->plain, c->buffer, parser, on_done);
  }
  if (!c->wait(done, head_deadline)) return fail(Transport::kTimeout, "waiting for the answer");
  if (ec) return fail(Transport::kNetwork, "reading the answer");
  end.head.status = parser.get().result_int();
  if (auto it = parser.get().find(http::field::retry_after); it != parser.get().end()) {
    end.head.retry_after.assign(it->value().data(), it->value().size());
  }

  if (end.head.status == 200 && !on_body({})) {
    c->close();
    end.clean = true;
    return end;
  }
  char piece[16384];
  std::string refused_body;  // a status other than 200: the reason, kept short
  while (!parser.is_done()) {
    parser.get().body().data = piece;
    parser.get().body().size = sizeof(piece);
    done = false;
    if (c->tls) {
      http::async_read_some(*c->tls, c->buffer, parser, on_done);
    } else {
      http::async_read_some(*c->plain, c->buffer, parser, on_done);
    }
    if (!c->wait(done, Clock::now() + (end.head.status == 200 ? idle : head_budget))) {
      c->close();
      end.reason = "no byte for the idle timeout";
      return end;
    }
    if (ec == http::error::need_buffer) ec = {};
    const std::size_t got = sizeof(piece) - parser.get().body().size;
    if (ec) {
      c->close();
      end.reason = ec.message();
      return end;
    }
    if (got == 0) continue;
    if (end.head.status != 200) {
      refused_body.append(piece, std::min(got, std::size_t{4096} - std::min(refused_body.size(), std::size_t{4096})));
      continue;
    }
    if (!on_body(std::string_view(piece, got))) {
      c->close();
      end.clean = true;
      return end;
    }
  }
  c->close();
  end.head.body = std::move(refused_body);
  end.clean = end.head.status == 200;
  return end;
}

}  // namespace leasehold::kube
