// Fuzzes the HTTP contract's router and handlers without sockets: the status router (/,
// /v1/status, /v1/leader, /v1/events, /v1/ack, /v1/resign, /v1/elections[/<name>/...], long polls
// with ?wait=&after=) over two elections, and the ops handler (/metrics, /healthz, /readyz), with
// random methods, targets and bodies, against StatusBoards whose state also comes from the input,
// interleaved with board changes and runs of the listeners' io_context.
//
// The input is a small text script, one command per line:
//   state KEY=VALUE...      publish a state on board 1 (or board 2 with `board=2`) and notify its hub
//   stop                    mark board 1 as not claiming (shutdown/resign)
//   poll                    run the io_context's ready handlers (hubs, timers that expired)
//   close                   StatusHub::close_all() on both hubs (what shutdown does)
//   ops METHOD TARGET       ask the ops handler
//   METHOD TARGET [BODY]    ask the status router (TARGET split at '?' as the server does)
// State keys: leading observed exists loopback (0/1), valid_ms (claim left, may be negative),
// token, transitions, duration, leader, identity (only identities that config::validate accepts,
// as main() checks them; a leader name must be valid UTF-8, as one read from a Lease is).
//
// Invariants: no handler throws (the server would answer 500, and in a hub callback the exception
// would escape the listeners' thread); every exchange is answered at most once; /v1/leader answers
// 200 exactly when the board says leader, with the fencing-token header; after close_all and a
// poll every request has been answered or its stream ended.
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "fuzz_util.h"
#include "status/metrics.h"
#include "status/routes.h"
#include "status/status_board.h"
#include "status/status_hub.h"

namespace status = leasehold::status;
namespace election = leasehold::election;
namespace config = leasehold::config;
using namespace std::chrono_literals;

namespace {

// Records what a handler does with its request.
class RecordingExchange final : public status::HttpExchange {
 public:
  void reply(status::HttpAnswer answer) override {
    FUZZ_CHECK(!streaming, "reply() after start_stream()");
    ++replies;
    last = std::move(answer);
  }
  void start_stream(int code, const std::string&) override {
    FUZZ_CHECK(replies == 0 && !streaming, "start_stream() on an answered exchange");
    FUZZ_CHECK(code >= 100 && code <= 599, "an invalid stream status");
    streaming = true;
  }
  void send(std::string chunk) override {
    FUZZ_CHECK(streaming, "send() without start_stream()");
    FUZZ_CHECK(!ended, "send() after end_stream()");
    sent += chunk.size();
  }
  void end_stream() override {
    FUZZ_CHECK(streaming, "end_stream() without start_stream()");
    ended = true;
  }
  bool closed() const override { return ended; }

  int replies = 0;
  bool streaming = false;
  bool ended = false;
  std::size_t sent = 0;
  status::HttpAnswer last;
};

struct Request {
  std::string method, path, query, body;
  bool ops = false;
  std::shared_ptr<RecordingExchange> exchange = std::make_shared<RecordingExchange>();
  status::StatusView view_before;  // the board as the request arrived
  bool long_poll = false;
};

bool utf8_ok(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

std::string accepted_identity(const std::string& candidate) {
  config::Config c;
  c.election = "fuzz";
  c.identity = candidate;
  return !config::validate(c) ? candidate : std::string("pod-a_1234abcd");
}

std::vector<std::string> words_of(const std::string& line, std::size_t max_words) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < line.size() && out.size() < max_words) {
    while (i < line.size() && line[i] == ' ') ++i;
    if (i >= line.size()) break;
    std::size_t end = out.size() + 1 == max_words ? line.size() : line.find(' ', i);
    if (end == std::string::npos) end = line.size();
    out.push_back(line.substr(i, end - i));
    i = end;
  }
  return out;
}

long long number(const std::string& text, long long lo, long long hi) {
  long long v = 0;
  try {
    v = std::stoll(text);
  } catch (const std::exception&) {
    return lo;
  }
  return std::clamp(v, lo, hi);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 8192) return 0;
  std::istringstream script(std::string(reinterpret_cast<const char*>(data), size));
  std::string line;

  election::SystemClock clock;
  boost::asio::io_context io;
  std::string identity = "pod-a_1234abcd";
  bool loopback = true;
  // The first line may name the identity (it is fixed for a board's life, as for an agent's).
  std::vector<std::string> lines;
  while (lines.size() < 64 && std::getline(script, line)) lines.push_back(line);
  for (const auto& l : lines) {
    if (l.rfind("state ", 0) != 0) continue;
    for (const auto& w : words_of(l, 32)) {
      if (w.rfind("identity=", 0) == 0) identity = accepted_identity(w.substr(9));
    }
    break;
  }
  status::StatusBoard board1(status::StatusIdentity{"fuzz-election", "fuzz-ns", identity}, clock);
  status::StatusBoard board2(status::StatusIdentity{"second", "fuzz-ns", identity}, clock);
  auto hub1 = std::make_shared<status::StatusHub>(io, board1, "fuzz");
  auto hub2 = std::make_shared<status::StatusHub>(io, board2, "fuzz-b");
  status::Metrics metrics("0.0.0-fuzz");
  metrics.add_election("fuzz-election", board1);
  metrics.add_election("second", board2);
  int acks = 0, resigns = 0;
  std::vector<status::ElectionEndpoint> endpoints;
  endpoints.push_back(status::ElectionEndpoint{"fuzz-election", &board1, hub1,
                                               [&] {
                                                 ++acks;
                                                 return status::HttpAnswer{200, "{}\n"};
                                               },
                                               [&](const std::string& to) {
                                                 ++resigns;
                                                 return status::HttpAnswer{
                                                     to.empty() ? 202 : 409,
                                                     nlohmann::json{{"to", to}}.dump(
                                                         -1, ' ', false, nlohmann::json::error_handler_t::replace)};
                                               }});
  endpoints.push_back(status::ElectionEndpoint{"second", &board2, hub2,
                                               [] {
                                                 return status::HttpAnswer{200, "{}\n"};
                                               },
                                               [](const std::string&) {
                                                 return status::HttpAnswer{202, "{}\n"};
                                               }});
  const status::HttpHandler router = status::make_status_router(endpoints);
  const status::HttpSyncHandler ops =
      status::make_ops_handler({&board1, &board2}, metrics, clock, status::HealthPolicy{17s});

  std::vector<Request> requests;
  auto poll = [&] {
    try {
      io.restart();
      // Ready handlers only; a handler that keeps re-arming itself for a time already past would
      // never let this return: count them to report a busy loop rather than a timeout.
      std::size_t handlers = 0;
      while (io.poll_one() > 0) {
        FUZZ_CHECK(++handlers < 100000, "the io_context never goes idle: a timer re-arms itself (busy loop)");
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "io_context handler threw (identity '%s'): %s\n", identity.c_str(), e.what());
      FUZZ_CHECK(false, "a hub callback threw: it would escape the listeners' thread");
    }
  };

  for (const auto& l : lines) {
    if (l.rfind("state ", 0) == 0) {
      election::ElectionState s;
      status::StatusBoard* board = &board1;
      std::shared_ptr<status::StatusHub> hub = hub1;
      long long valid_ms = 5000;
      for (const auto& w : words_of(l.substr(6), 32)) {
        const auto eq = w.find('=');
        if (eq == std::string::npos) continue;
        const std::string key = w.substr(0, eq), value = w.substr(eq + 1);
        if (key == "board" && value == "2") board = &board2, hub = hub2;
        if (key == "leading") s.leading = value == "1";
        if (key == "observed") s.observed = value == "1";
        if (key == "exists") s.lease_exists = value == "1";
        if (key == "loopback") loopback = value == "1";
        if (key == "valid_ms") valid_ms = number(value, -60000, 60000);
        if (key == "token") s.fencing_token = static_cast<std::uint64_t>(number(value, 0, 1LL << 62));
        if (key == "transitions") s.lease_transitions = static_cast<int>(number(value, 0, 1'000'000'000));
        if (key == "duration") s.lease_duration_seconds = static_cast<int>(number(value, 0, 1'000'000'000));
        if (key == "leader") s.leader = value == "self" ? identity : (utf8_ok(value) ? value : std::string());
        if (key == "renewed") s.renewed_at = clock.wall_now() - std::chrono::seconds(number(value, 0, 1LL << 32));
        if (key == "acquired") s.acquired_at = clock.wall_now() - std::chrono::seconds(number(value, 0, 1LL << 32));
      }
      s.valid_until = clock.steady_now() + std::chrono::milliseconds(valid_ms);
      if (s.observed) s.observed_at = clock.wall_now();
      board->publish(s);
      hub->notify();
    } else if (l == "stop") {
      board1.set_claiming(false);
      hub1->notify();
    } else if (l == "poll") {
      poll();
    } else if (l == "close") {
      hub1->close_all();
      hub2->close_all();
    } else {
      const bool is_ops = l.rfind("ops ", 0) == 0;
      const auto w = words_of(is_ops ? l.substr(4) : l, 3);
      if (w.size() < 2) continue;
      Request r;
      r.ops = is_ops;
      r.method = w[0];
      const auto q = w[1].find('?');
      r.path = w[1].substr(0, q);
      if (q != std::string::npos) r.query = w[1].substr(q + 1);
      if (w.size() > 2) r.body = w[2];
      r.long_poll = r.query.find("wait=") != std::string::npos;
      status::HttpRequest request{r.method, r.path, r.query, r.body, loopback};
      r.view_before = board1.view();
      try {
        if (r.ops) {
          r.exchange->reply(ops(request));
        } else {
          router(request, r.exchange);
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "handler threw for %s %s (identity '%s'): %s\n", r.method.c_str(), r.path.c_str(),
                     identity.c_str(), e.what());
        FUZZ_CHECK(false, "a status/ops handler threw: the server would answer 500");
      }
      const auto& x = *r.exchange;
      FUZZ_CHECK(x.replies <= 1, "an exchange answered twice");
      if (x.replies == 1) {
        FUZZ_CHECK(x.last.status >= 100 && x.last.status <= 599, "an invalid HTTP status");
        FUZZ_CHECK(!x.last.content_type.empty(), "no content type");
      }
      const bool read = r.method == "GET" || r.method == "HEAD";
      if (!r.ops && read && r.path == "/v1/leader" && r.query.empty()) {
        const bool leader = r.view_before.is_leader;
        FUZZ_CHECK(x.replies == 1, "/v1/leader was not answered at once");
        // The claim may run out between the two reads: only "200 while not leader" is an error.
        if (x.last.status == 200) FUZZ_CHECK(leader || board1.view().is_leader, "/v1/leader said 200 to a non-leader");
        FUZZ_CHECK(x.last.status == 200 || x.last.status == 503, "/v1/leader answered neither 200 nor 503");
        bool has_token = false;
        for (const auto& [name, value] : x.last.headers) has_token |= name == "Leasehold-Fencing-Token";
        FUZZ_CHECK(has_token == (x.last.status == 200), "the fencing token header is not there exactly on 200");
      }
      if (!r.ops && read && (r.path == "/" || r.path == "/v1/status") && r.query.empty()) {
        FUZZ_CHECK(x.replies == 1 && x.last.status == 200, "/ or /v1/status did not answer 200 at once");
        FUZZ_CHECK(nlohmann::json::accept(x.last.body), "/ or /v1/status did not answer JSON");
      }
      requests.push_back(std::move(r));
    }
  }

  // Shutdown: every waiting client is answered and every stream ends.
  poll();
  hub1->close_all();
  hub2->close_all();
  poll();
  for (const auto& r : requests) {
    const auto& x = *r.exchange;
    FUZZ_CHECK(x.replies == 1 || (x.streaming && x.ended), "a request left unanswered after close_all");
    FUZZ_CHECK(x.replies <= 1, "an exchange answered twice");
  }
  FUZZ_CHECK(hub1->waiting() == 0 && hub2->waiting() == 0, "clients still waiting after close_all");
  hub1.reset();
  hub2.reset();
  return 0;
}
