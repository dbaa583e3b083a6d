// LoopbackListener: a listening TCP socket on a free 127.0.0.1 port, for tests
// that need a peer which accepts connections (or only lets the kernel queue
// them), and serve_one() to answer one request by hand.
//
// Thread-safety: serve_one() from one thread at a time; the socket closes with
// the object.
#pragma once

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace leasehold::testing {

struct LoopbackListener {
  LoopbackListener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(fd, 8) == 0);
    socklen_t length = sizeof address;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    port = ntohs(address.sin_port);
  }
  ~LoopbackListener() { ::close(fd); }
  LoopbackListener(const LoopbackListener&) = delete;
  LoopbackListener& operator=(const LoopbackListener&) = delete;

  // Accepts one connection, reads the request head, answers `reply` (nothing when empty) and
  // closes. Returns the request head.
  std::string serve_one(const std::string& reply) const {
    std::string request;
    const int connection = accept_request(&request);
    if (!reply.empty()) ::send(connection, reply.data(), reply.size(), MSG_NOSIGNAL);
    ::close(connection);
    return request;
  }

  // Accepts one connection and reads its request head into *head; returns the open connection.
  int accept_request(std::string* head) const {
    const int connection = ::accept(fd, nullptr, nullptr);
    char buffer[512];
    while (head->find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::recv(connection, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      head->append(buffer, static_cast<size_t>(n));
    }
    return connection;
  }

  int fd = -1;
  unsigned short port = 0;
};

}  // namespace leasehold::testing
