// The HTTP server over real loopback sockets (port 0): keep-alive, limits.
#include "status/http_server.h"

#include <doctest/doctest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <thread>

namespace leasehold::status {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct Running {
  explicit Running(HttpLimits limits = {})
      : server(io, "127.0.0.1:0", answer_at_once([](const HttpRequest& r) {
                 return HttpAnswer{r.path == "/ok" ? 200 : 404, r.method + " " + r.path + " " + r.query};
               }),
               limits) {
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

TEST_CASE("listen addresses are parsed strictly") {
  CHECK(parse_listen_address(":9090").port() == 9090);
  CHECK(parse_listen_address("127.0.0.1:4040").address().to_string() == "127.0.0.1");
  CHECK(parse_listen_address("[::1]:4040").address().is_v6());
  CHECK_THROWS_AS(parse_listen_address("4040"), std::invalid_argument);
  CHECK_THROWS_AS(parse_listen_address("host:99999"), std::invalid_argument);
  CHECK_THROWS_AS(parse_listen_address("example.com:80"), std::invalid_argument);
}

}  // namespace leasehold::status
