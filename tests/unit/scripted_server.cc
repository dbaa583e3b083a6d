#include "scripted_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace leasehold::testing {
namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

// Parses one request from the front of `buffer` and removes it; false while it is incomplete.
bool take_request(std::string& buffer, RecordedRequest& request) {
  const auto head_end = buffer.find("\r\n\r\n");
  if (head_end == std::string::npos) return false;
  const std::string head = buffer.substr(0, head_end);
  size_t line_end = head.find("\r\n");
  const std::string request_line = head.substr(0, line_end);
  const auto space1 = request_line.find(' ');
  const auto space2 = request_line.find(' ', space1 + 1);
  request.method = request_line.substr(0, space1);
  request.target = request_line.substr(space1 + 1, space2 - space1 - 1);
  while (line_end != std::string::npos) {
    const size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    const std::string line = head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
    const auto colon = line.find(':');
    if (colon != std::string::npos) request.headers[lower(line.substr(0, colon))] = trim(line.substr(colon + 1));
  }
  const std::string length = request.header("content-length");
  const size_t body_length = length.empty() ? 0 : std::stoul(length);
  if (buffer.size() < head_end + 4 + body_length) return false;
  request.body = buffer.substr(head_end + 4, body_length);
  buffer.erase(0, head_end + 4 + body_length);
  return true;
}

void send_all(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

}  // namespace

ScriptedServer::ScriptedServer() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listen_fd_, 16) != 0 || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
      ::pipe2(wake_fds_, O_CLOEXEC) != 0) {
    throw std::runtime_error("ScriptedServer: cannot listen on 127.0.0.1");
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { serve(); });
}

ScriptedServer::~ScriptedServer() {
  const char byte = 0;
  [[maybe_unused]] const ssize_t n = ::write(wake_fds_[1], &byte, 1);
  thread_.join();
  ::close(wake_fds_[0]);
  ::close(wake_fds_[1]);
  ::close(listen_fd_);
}

std::string ScriptedServer::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

void ScriptedServer::then(Answer answer) {
  std::lock_guard lock(mutex_);
  script_.push_back(std::move(answer));
}

std::vector<RecordedRequest> ScriptedServer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

bool ScriptedServer::wait_for_requests(size_t count, std::chrono::seconds bound) const {
  std::unique_lock lock(mutex_);
  return arrived_.wait_for(lock, bound, [&] { return requests_.size() >= count; });
}

size_t ScriptedServer::connections_accepted() const {
  std::lock_guard lock(mutex_);
  return accepted_;
}

void ScriptedServer::serve() {
  std::vector<Connection> connections;
  for (;;) {
    std::vector<pollfd> fds{{wake_fds_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    for (const auto& c : connections) fds.push_back({c.fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) continue;
    if (fds[0].revents) break;
    if (fds[1].revents & POLLIN) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        connections.push_back({fd, {}});
        std::lock_guard lock(mutex_);
        ++accepted_;
      }
    }
    // Connections accepted just now are polled next round.
    for (size_t i = 0; i + 2 < fds.size(); ++i) {
      if (!fds[i + 2].revents) continue;
      Connection& c = connections[i];
      char chunk[4096];
      const ssize_t n = ::recv(c.fd, chunk, sizeof(chunk), 0);
      if (n > 0) c.buffer.append(chunk, static_cast<size_t>(n));
      if (n > 0) answer_buffered(c);
      if (n <= 0 || c.closing) {
        ::close(c.fd);
        c.fd = -1;
      }
    }
    std::erase_if(connections, [](const Connection& c) { return c.fd < 0; });
  }
  for (const auto& c : connections) ::close(c.fd);
}

void ScriptedServer::answer_buffered(Connection& connection) {
  RecordedRequest request;
  while (!connection.hung && take_request(connection.buffer, request)) {
    Answer answer(500, "unscripted request");
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(request);
      if (!script_.empty()) {
        answer = std::move(script_.front());
        script_.pop_front();
      }
    }
    arrived_.notify_all();
    if (answer.hang) {
      connection.hung = true;  // held open, never answered
      break;
    }
    std::string response = "HTTP/1.1 " + std::to_string(answer.status) + " Scripted\r\n";
    response += "Content-Length: " + std::to_string(answer.body.size()) + "\r\n";
    if (!answer.body.empty()) response += "Content-Type: application/json\r\n";
    for (const auto& [name, value] : answer.headers) response += name + ": " + value + "\r\n";
    send_all(connection.fd, response + "\r\n" + answer.body);
    request = {};
    if (answer.close_after) {
      connection.closing = true;
      break;
    }
  }
  if (connection.hung) connection.buffer.clear();
}

}  // namespace leasehold::testing
