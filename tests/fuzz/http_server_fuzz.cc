// Fuzzes the HTTP/1.1 listener over real loopback TCP. One HttpServer on 127.0.0.1:0 with a
// trivial handler runs for the whole process on its own io_context thread; every input is written
// raw to a fresh connection, the write half is shut down (so the server sees the end of the
// request stream at once instead of waiting for its read timeout) and the answer is read until the
// server closes. The server must not crash, must close within a bounded time, and whatever it
// sends must be HTTP responses. The limits are small so that the 431/413 paths are reachable.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "fuzz_util.h"
#include "status/http_server.h"

namespace status = leasehold::status;
using leasehold::fuzz::fuzz_fail;

namespace {

struct Server {
  Server() {
    std::signal(SIGPIPE, SIG_IGN);
    status::HttpLimits limits;
    limits.max_connections = 64;
    limits.header_limit = 2048;
    limits.body_limit = 4096;
    limits.read_timeout = std::chrono::seconds(2);
    limits.idle_timeout = std::chrono::seconds(2);
    server = std::make_unique<status::HttpServer>(
        io, "127.0.0.1:0",
        [this](const status::HttpRequest& r, std::shared_ptr<status::HttpExchange> x) { handle(r, std::move(x)); },
        limits, clock);
    server->start();
    port = server->port();
    thread = std::thread([this] {
      auto guard = boost::asio::make_work_guard(io);
      io.run();
    });
    thread.detach();  // runs until the process exits
  }
  // A trivial handler that also uses the asynchronous paths of HttpExchange: /throw throws,
  // /later answers from a timer, /twice answers twice (the second must be ignored), /stream sends
  // a short event stream, /big answers 200 KiB; anything else answers at once.
  void handle(const status::HttpRequest& r, std::shared_ptr<status::HttpExchange> x) {
    if (r.path == "/throw") throw std::runtime_error("handler failed");
    const std::string summary = r.method + " " + r.path + " q=" + r.query + " body=" + std::to_string(r.body.size());
    if (r.path == "/later") {
      auto timer = std::make_shared<boost::asio::steady_timer>(io, std::chrono::milliseconds(1));
      timer->async_wait([timer, x, summary](boost::system::error_code) {
        x->reply(status::HttpAnswer{200, summary, "text/plain"});
      });
      return;
    }
    if (r.path == "/twice") {
      x->reply(status::HttpAnswer{200, summary, "text/plain"});
      x->reply(status::HttpAnswer{500, "second answer", "text/plain"});
      return;
    }
    if (r.path == "/stream") {
      x->start_stream(200, "text/event-stream");
      x->send("data: " + summary + "\n\n");
      x->send(std::string(r.body.size() * 16, 'x'));
      x->end_stream();
      x->send("after the end\n");
      return;
    }
    if (r.path == "/big") return x->reply(status::HttpAnswer{200, std::string(200 * 1024, 'b'), "text/plain"});
    x->reply(status::HttpAnswer{r.path == "/v1/leader" ? 200 : 404, summary, "text/plain", {{"X-Test", "1"}}});
  }

  leasehold::election::SystemClock clock;
  boost::asio::io_context io;
  std::unique_ptr<status::HttpServer> server;
  unsigned short port = 0;
  std::thread thread;
};

Server& server() {
  static Server* s = new Server();  // never destroyed: the io thread outlives every input
  return *s;
}

using Clock = std::chrono::steady_clock;

// Waits for `events` on fd until `deadline`, through signals (libFuzzer's timeout alarm
// interrupts system calls); returns the revents. Running out of time is a finding: `what`.
short wait_for(int fd, short events, Clock::time_point deadline, const char* what) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) fuzz_fail(what);
    pollfd p{fd, events, 0};
    const int ready = poll(&p, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    FUZZ_CHECK(ready >= 0, "poll()");
    if (ready > 0) return p.revents;
  }
}

bool transient(int error) { return error == EINTR || error == EAGAIN || error == EWOULDBLOCK; }

// Sends `request` on a new connection; returns what the server sent before closing. The socket
// is non-blocking throughout: a blocking connect() was interrupted by libFuzzer's alarm (EINTR),
// and a blocking call cannot be bounded by the deadline.
std::string exchange(unsigned short port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  FUZZ_CHECK(fd >= 0, "socket()");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // The client half-closes first, so every input leaves a client socket in TIME_WAIT for a
  // minute; tens of thousands of inputs a run would use up the ephemeral ports of one source
  // address (connect fails with EADDRNOTAVAIL). Each input takes the next of 253 loopback
  // source addresses, and the port is chosen at connect time, per destination.
  static unsigned inputs = 0;
  sockaddr_in source{};
  source.sin_family = AF_INET;
  source.sin_addr.s_addr = htonl((127u << 24) | (2u + inputs++ % 253u));
  const int no_port = 1;
  FUZZ_CHECK(setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &no_port, sizeof no_port) == 0,
             "IP_BIND_ADDRESS_NO_PORT");
  FUZZ_CHECK(bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof source) == 0, "bind a loopback source address");
  const auto deadline = Clock::now() + std::chrono::seconds(6);
  int connect_error = 0;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    connect_error = errno;
    if (connect_error == EINPROGRESS) {
      wait_for(fd, POLLOUT, deadline, "connect did not complete within 6 s");
      socklen_t length = sizeof connect_error;
      FUZZ_CHECK(getsockopt(fd, SOL_SOCKET, SO_ERROR, &connect_error, &length) == 0, "SO_ERROR");
    }
  }
  if (connect_error != 0) {
    fuzz_fail(std::string("connect to the server from ") + inet_ntoa(source.sin_addr) + ": " +
              std::strerror(connect_error));
  }
  // A runaway answer is a finding, but pipelined /big requests legitimately add 200 KiB each.
  std::size_t answer_limit = 1u << 20;
  for (auto at = request.find("/big"); at != std::string::npos; at = request.find("/big", at + 1))
    answer_limit += 256u * 1024u;
  std::string answer;
  std::size_t sent = 0;
  bool write_open = true;
  char buffer[16384];
  for (;;) {
    if (write_open && sent == request.size()) {
      shutdown(fd, SHUT_WR);
      write_open = false;
    }
    const short revents = wait_for(fd, static_cast<short>(POLLIN | (write_open ? POLLOUT : 0)), deadline,
                                   "the server neither answered nor closed within 6 s (read timeout is 2 s)");
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
      if (n > 0) {
        answer.append(buffer, static_cast<std::size_t>(n));
        FUZZ_CHECK(answer.size() < answer_limit, "an answer longer than the requests can ask for");
        continue;
      }
      if (n < 0 && transient(errno)) continue;
      break;  // closed (0) or reset (<0)
    }
    if (write_open && (revents & POLLOUT)) {
      const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
      } else if (!(n < 0 && transient(errno))) {
        write_open = false;  // the server closed its side; read what it said
      }
    }
  }
  close(fd);
  return answer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Server& s = server();
  const std::string request(reinterpret_cast<const char*>(data), size);
  const std::string answer = exchange(s.port, request);
  if (!answer.empty()) {
    FUZZ_CHECK(answer.rfind("HTTP/", 0) == 0, "the server sent something that is not an HTTP response");
    FUZZ_CHECK(answer.find("\r\n\r\n") != std::string::npos, "a response without the end of its header");
  }
  return 0;
}
