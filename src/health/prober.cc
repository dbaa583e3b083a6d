#include "health/prober.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>

namespace leasehold::health {
namespace {

using election::SteadyTime;

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

enum class Wait { kReady, kTimeout, kStopped };

// Waits for `events` on fd until the deadline (steady clock: the probe's I/O
// is real time whatever clock judges it) or a stop.
Wait wait_for(int fd, short events, SteadyTime deadline, int stop_fd) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Wait::kTimeout;
    pollfd fds[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
    const int n = ::poll(fds, stop_fd >= 0 ? 2 : 1, static_cast<int>(std::min<long long>(left.count() + 1, 60000)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Wait::kTimeout;
    if (stop_fd >= 0 && (fds[1].revents & POLLIN)) return Wait::kStopped;
    if (fds[0].revents != 0) return Wait::kReady;
  }
}

ProbeOutcome refused(std::string* detail, int error) {
  *detail = std::strerror(error);
  return ProbeOutcome::kRefused;
}

// Cut off at the deadline (a timeout) or by stop(): a probe the sidecar ended judges nothing.
std::optional<ProbeOutcome> cut_off(std::string* detail, Wait why) {
  if (why == Wait::kStopped) return std::nullopt;
  *detail = "no answer within the timeout";
  return ProbeOutcome::kTimeout;
}

// Parses "HTTP/1.x NNN" at the start of the answer; -1 until complete, 0 if garbage.
int status_code(const std::string& head) {
  const auto eol = head.find("\r\n");
  if (eol == std::string::npos) return head.size() > 8192 ? 0 : -1;
  if (head.rfind("HTTP/1.", 0) != 0 || eol < 12 || head[8] != ' ') return 0;
  int code = 0;
  for (int i = 9; i < 12; ++i) {
    if (head[i] < '0' || head[i] > '9') return 0;
    code = code * 10 + (head[i] - '0');
  }
  return code;
}

}  // namespace

std::optional<ProbeOutcome> run_probe(const ProbeTarget& target, SteadyTime deadline, int stop_fd,
                                      std::string* detail) {
  Socket socket(::socket(target.ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (socket.fd() < 0) return refused(detail, errno);
  sockaddr_storage address{};
  socklen_t length = 0;
  if (target.ipv6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&address);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(target.port));
    inet_pton(AF_INET6, target.address.c_str(), &a->sin6_addr);
    length = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&address);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(target.port));
    inet_pton(AF_INET, target.address.c_str(), &a->sin_addr);
    length = sizeof(*a);
  }
  if (::connect(socket.fd(), reinterpret_cast<sockaddr*>(&address), length) != 0) {
    if (errno != EINPROGRESS) return refused(detail, errno);
    if (const Wait w = wait_for(socket.fd(), POLLOUT, deadline, stop_fd); w != Wait::kReady) return cut_off(detail, w);
    int error = 0;
    socklen_t size = sizeof(error);
    ::getsockopt(socket.fd(), SOL_SOCKET, SO_ERROR, &error, &size);
    if (error != 0) return refused(detail, error);
  }
  if (target.kind == ProbeTarget::Kind::kTcp) {
    *detail = "connected";
    return ProbeOutcome::kSuccess;
  }
  const std::string request = "GET " + target.path + " HTTP/1.1\r\nHost: " + target.host_header +
                              "\r\nUser-Agent: leasehold-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n";
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(socket.fd(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return refused(detail, errno);
    if (const Wait w = wait_for(socket.fd(), POLLOUT, deadline, stop_fd); w != Wait::kReady) return cut_off(detail, w);
  }
  // Only the status line matters; the body is not read.
  std::string head;
  char buffer[1024];
  for (;;) {
    const int code = status_code(head);
    if (code > 0) {
      *detail = "HTTP " + std::to_string(code);
      return code >= 200 && code < 300 ? ProbeOutcome::kSuccess : ProbeOutcome::kFailure;
    }
    if (code == 0) {
      *detail = "not an HTTP answer";
      return ProbeOutcome::kFailure;
    }
    const ssize_t n = ::recv(socket.fd(), buffer, sizeof(buffer), 0);
    if (n > 0) {
      head.append(buffer, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      *detail = "connection closed before an answer";
      return ProbeOutcome::kRefused;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return refused(detail, errno);
    if (const Wait w = wait_for(socket.fd(), POLLIN, deadline, stop_fd); w != Wait::kReady) return cut_off(detail, w);
  }
}

Prober::Prober(ProbeSettings settings, const election::Clock& clock, boost::asio::io_context& io, Callback callback)
    : target_(target_of(settings)),
      clock_(clock),
      callback_(std::move(callback)),
      health_(settings, clock),
      strand_(boost::asio::make_strand(io)),
      timer_(strand_) {
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

Prober::~Prober() {
  stop();
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

void Prober::start() { queue_step(); }

void Prober::stop() {
  // First the cut-off, so that the gate need not wait a whole timeout for a probe in flight.
  if (stop_fd_ >= 0) {
    const uint64_t one = 1;
    [[maybe_unused]] const auto ignored = ::write(stop_fd_, &one, sizeof(one));
  }
  gate_->close();
  // No step uses the timer any more. Cancelled, its wait ends now rather than a period later,
  // so that the io_context holds nothing of this prober for long.
  timer_.cancel();
}

void Prober::queue_step() {
  boost::asio::post(strand_, [this, gate = gate_] {
    if (const auto pass = gate->enter()) step();
  });
}

void Prober::step() {
  // Due first: "at once" is the clock's reading of that moment, which the next reading must not
  // find still ahead.
  const SteadyTime due = health_.next_probe_at();
  const SteadyTime now = clock_.steady_now();
  if (now < due) {
    // The clock decides when; the timer runs on real time, so it waits for what is left.
    timer_.expires_after(due - now);
    timer_.async_wait([this, gate = gate_](const boost::system::error_code&) {
      if (const auto pass = gate->enter()) step();
    });
    return;
  }
  health_.start_probe();
  std::string detail;
  // The probe's own I/O ends at its deadline (real time, as above): one probe at a time, never
  // longer than the timeout. The stop signal ends it sooner.
  const SteadyTime deadline = std::chrono::steady_clock::now() + (health_.probe_deadline() - clock_.steady_now());
  std::optional<ProbeOutcome> outcome = run_probe(target_, deadline, stop_fd_, &detail);
  if (!outcome) return;  // stopped
  const bool changed = health_.finish_probe(*outcome);
  const HealthSnapshot snapshot = health_.snapshot();
  if (snapshot.last_outcome) outcome = *snapshot.last_outcome;
  callback_(ProbeReport{*outcome, detail, snapshot, changed});
  // Queued rather than looped: other elections' work gets its turn on the shared threads.
  queue_step();
}

}  // namespace leasehold::health
