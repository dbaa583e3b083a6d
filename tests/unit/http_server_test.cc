// The HTTP server over real loopback sockets (port 0): keep-alive, limits.
#include "status/http_server.h"

#include <doctest/doctest.h>
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <mutex>
#include <thread>

#include "fakes.h"

namespace leasehold::status {
namespace {

using testing::system_clock;

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct Running {
  explicit Running(HttpLimits limits = {})
      : server(io, "127.0.0.1:0", answer_at_once([](const HttpRequest& r) {
                 return HttpAnswer{r.path == "/ok" ? 200 : 404, r.method + " " + r.path + " " + r.query};
               }),
               limits, system_clock) {
    server.start();
    thread = std::thread([this] { io.run(); });
  }
  ~Running() {
    io.stop();
    thread.join();
  }
  asio::io_context io;
  HttpServer server;
  std::thread thread;
};

// Sends raw bytes and reads until the server closes the connection.
std::string exchange(unsigned short port, const std::string& request) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  asio::write(socket, asio::buffer(request));
  std::string out;
  boost::system::error_code ec;
  char chunk[4096];
  while (!ec) {
    const size_t n = socket.read_some(asio::buffer(chunk), ec);
    out.append(chunk, n);
  }
  return out;
}

}  // namespace

TEST_CASE("answers several requests on one keep-alive connection") {
  Running running;
  const std::string out = exchange(running.server.port(),
                                   "GET /ok?a=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                                   "GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(out.find("HTTP/1.1 200 OK") != std::string::npos);
  CHECK(out.find("GET /ok a=1") != std::string::npos);
  CHECK(out.find("HTTP/1.1 404 Not Found") != std::string::npos);
}

TEST_CASE("oversized headers are refused with 431") {
  Running running;
  const std::string out =
      exchange(running.server.port(), "GET /ok HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
  CHECK(out.find("HTTP/1.1 431") != std::string::npos);
}

TEST_CASE("connections over the cap are closed, and the server keeps answering") {
  HttpLimits limits;
  limits.max_connections = 2;
  Running running(limits);
  asio::io_context io;
  std::vector<tcp::socket> idle;
  for (int i = 0; i < 2; ++i) {
    idle.emplace_back(io);
    idle.back().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), running.server.port()));
  }
  // Give the server's accept loop a request to prove the idle ones are held open.
  CHECK(exchange(running.server.port(), "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").empty());
  idle.clear();
  // Once the idle ones go, a new client is served again (bounded retries: the close is asynchronous).
  std::string out;
  for (int attempt = 0; attempt < 200 && out.find("200 OK") == std::string::npos; ++attempt) {
    out = exchange(running.server.port(), "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    if (out.empty()) std::this_thread::yield();
  }
  CHECK(out.find("HTTP/1.1 200 OK") != std::string::npos);
}

// A held request (long poll, stream) whose client goes away frees its connection slot at once,
// although the handler still holds the exchange.
TEST_CASE("a client that closes while its request is held frees its slot at once") {
  HttpLimits limits;
  limits.max_connections = 2;
  asio::io_context server_io;  // first: the held exchanges (and their sessions) go before it
  std::mutex mutex;
  std::vector<std::shared_ptr<HttpExchange>> held;
  HttpServer server(
      server_io, "127.0.0.1:0",
      [&](const HttpRequest& r, std::shared_ptr<HttpExchange> exchange) {
        if (r.path != "/hold") return exchange->reply(HttpAnswer{200, "ok"});
        std::lock_guard lock(mutex);
        held.push_back(std::move(exchange));
      },
      limits, system_clock);
  server.start();
  std::thread thread([&] { server_io.run(); });
  const auto held_count = [&] {
    std::lock_guard lock(mutex);
    return held.size();
  };
  const auto all_closed = [&] {
    std::lock_guard lock(mutex);
    for (const auto& e : held) {
      if (!e->closed()) return false;
    }
    return true;
  };
  {
    asio::io_context io;
    std::vector<tcp::socket> clients;
    for (int i = 0; i < 2; ++i) {
      clients.emplace_back(io);
      clients.back().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
      asio::write(clients.back(), asio::buffer(std::string("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")));
    }
    // Bounded wait for the server to hold both requests (not a timing assumption: it only polls).
    for (int i = 0; i < 10000 && held_count() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    REQUIRE(held_count() == 2);
  }  // both clients close here
  for (int i = 0; i < 10000 && !all_closed(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(all_closed());
  // The slots are free although the handler still holds both exchanges.
  CHECK(exchange(server.port(), "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").find("200 OK") !=
        std::string::npos);
  server_io.stop();
  thread.join();
}

// A keep-alive client that starts its next request and trickles it gets the read timeout, not
// the (much longer) idle timeout.
TEST_CASE("a started second request on a keep-alive connection gets the read timeout") {
  HttpLimits limits;
  limits.idle_timeout = std::chrono::hours(1);
  limits.read_timeout = std::chrono::milliseconds(300);
  Running running(limits);
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), running.server.port()));
  // A failing server would keep the connection for the idle hour: each read waits at most 30 s.
  const auto readable = [&] {
    pollfd p{socket.native_handle(), POLLIN, 0};
    return ::poll(&p, 1, 30'000) > 0;
  };
  asio::write(socket, asio::buffer(std::string("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")));
  std::string out;
  char chunk[4096];
  boost::system::error_code ec;
  while (!ec && out.find("GET /ok") == std::string::npos && readable()) {
    out.append(chunk, socket.read_some(asio::buffer(chunk), ec));
  }
  REQUIRE(out.find("200 OK") != std::string::npos);
  asio::write(socket, asio::buffer(std::string("GET /ok HTTP/1.1\r\n")));  // and nothing more
  std::size_t n = 0;
  bool closed_in_time = true;
  while (!ec) {
    if (!readable()) {
      closed_in_time = false;
      break;
    }
    n += socket.read_some(asio::buffer(chunk), ec);
  }
  CHECK(closed_in_time);
  CHECK(n == 0);
  CHECK(ec == asio::error::eof);
}

// The gate stays answerable: held requests (long polls, streams) take at most max_held of the
// connections, a request over that is refused (and counted), and questions answered at once
// still get through.
TEST_CASE("held requests are capped apart from the connections; refusals are counted") {
  HttpLimits limits;
  limits.max_connections = 4;
  limits.max_held = 1;
  asio::io_context server_io;  // first: the held exchanges (and their sessions) go before it
  std::mutex mutex;
  std::vector<std::shared_ptr<HttpExchange>> held;
  std::vector<std::pair<Refusal, std::string>> refusals;
  HttpServer server(
      server_io, "127.0.0.1:0",
      [&](const HttpRequest& r, std::shared_ptr<HttpExchange> exchange) {
        if (r.path != "/hold") return exchange->reply(HttpAnswer{200, "ok"});
        if (!exchange->hold("e")) return exchange->reply(HttpAnswer{503, "busy"});
        std::lock_guard lock(mutex);
        held.push_back(std::move(exchange));
      },
      limits, system_clock);
  server.on_refused([&](Refusal why, std::string_view election) {
    std::lock_guard lock(mutex);
    refusals.emplace_back(why, election);
  });
  server.start();
  std::thread thread([&] { server_io.run(); });
  asio::io_context io;
  tcp::socket waiting(io);
  waiting.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
  asio::write(waiting, asio::buffer(std::string("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")));
  for (int i = 0; i < 10000 && server.held() < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(server.held() == 1);
  const std::string refused = exchange(server.port(), "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(refused.find("HTTP/1.1 503") != std::string::npos);
  CHECK(refused.find("Connection: close") != std::string::npos);  // closed although keep-alive was asked
  CHECK(exchange(server.port(), "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").find("200 OK") !=
        std::string::npos);
  {
    std::lock_guard lock(mutex);
    CHECK(refusals == std::vector<std::pair<Refusal, std::string>>{{Refusal::kHeld, "e"}});
    REQUIRE(held.size() == 1);
    held.front()->reply(HttpAnswer{200, "done"});  // answered: no longer held
  }
  std::string out;
  char chunk[4096];
  boost::system::error_code ec;
  while (!ec && out.find("done") == std::string::npos) out.append(chunk, waiting.read_some(asio::buffer(chunk), ec));
  CHECK(out.find("200 OK") != std::string::npos);
  CHECK(server.held() == 0);
  server_io.stop();
  thread.join();
}

// Out of file descriptors, a pending connection stays in the backlog and every accept fails at
// once: the server must wait before the next one, not spin. Driven step by step (poll_one), so
// what counts is the number of failed accepts per handler run, not time.
TEST_CASE("a failed accept (EMFILE) backs off instead of spinning") {
  asio::io_context io;
  HttpLimits limits;
  limits.accept_backoff = std::chrono::hours(1);
  HttpServer server(io, "127.0.0.1:0", answer_at_once([](const HttpRequest&) {
                      return HttpAnswer{200, "ok"};
                    }),
                    limits, system_clock);
  int accept_errors = 0;
  server.on_refused([&](Refusal why, std::string_view election) {
    accept_errors += why == Refusal::kAcceptError;
    CHECK(election.empty());  // no request was read: no election is known
  });
  asio::io_context client_io;
  tcp::socket client(client_io);
  client.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));  // waits in the backlog
  rlimit saved{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
  const int lowest_free = ::dup(0);
  REQUIRE(lowest_free >= 0);
  ::close(lowest_free);
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(lowest_free);  // no new descriptor can be had
  REQUIRE(setrlimit(RLIMIT_NOFILE, &tight) == 0);
  server.start();
  for (int i = 0; i < 100; ++i) io.poll_one();
  setrlimit(RLIMIT_NOFILE, &saved);
  CHECK(accept_errors == 1);
}

TEST_CASE("listen addresses are parsed strictly") {
  CHECK(parse_listen_address(":9090").port() == 9090);
  CHECK(parse_listen_address("127.0.0.1:4040").address().to_string() == "127.0.0.1");
  CHECK(parse_listen_address("[::1]:4040").address().is_v6());
  CHECK_THROWS_AS(parse_listen_address("4040"), std::invalid_argument);
  CHECK_THROWS_AS(parse_listen_address("host:99999"), std::invalid_argument);
  CHECK_THROWS_AS(parse_listen_address("example.com:80"), std::invalid_argument);
  CHECK(parse_listen_address("localhost:4040").address().to_string() == "127.0.0.1");
  // The same rule as the settings' check (util::parse_listen_address): brackets for IPv6 only.
  CHECK_THROWS_AS(parse_listen_address("[localhost]:4040"), std::invalid_argument);
  CHECK_THROWS_AS(parse_listen_address("::1:4040"), std::invalid_argument);
}

}  // namespace leasehold::status
