#include <doctest/doctest.h>

#include "fakes.h"
#include "status/routes.h"
#include "status/status_hub.h"
#include "status/status_json.h"

namespace leasehold::status {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;

election::ElectionState leading_state(FakeClock& clock, std::chrono::seconds valid_for) {
  election::ElectionState s;
  s.leading = true;
  s.valid_until = clock.steady_now() + valid_for;
  s.fencing_token = 4242;
  s.leader = "me";
  s.observed = true;
  s.lease_exists = true;
  s.terms_led = 1;
  return s;
}

// A claim that runs out `left` from now unless renewed.
election::ElectionState claim_ending_in(FakeClock& clock, election::Duration left) {
  election::ElectionState s = leading_state(clock, std::chrono::seconds(0));
  s.valid_until = clock.steady_now() + left;
  return s;
}

HttpRequest get(const std::string& path) { return HttpRequest{"GET", path, "", "", true}; }

}  // namespace

TEST_CASE("a claim expires by itself when nobody renews it") {
  FakeClock clock;
  StatusBoard board({"job", "ns", "me"}, clock);
  board.publish(leading_state(clock, 13s));
  StatusView v = board.view();
  CHECK(v.is_leader);
  CHECK(v.valid_for_ms == 13000);
  CHECK(v.fencing_token == 4242u);
  const auto revision = v.revision;
  clock.advance(13s);
  v = board.view();
  CHECK_FALSE(v.is_leader);
  CHECK_FALSE(v.fencing_token.has_value());
  CHECK(v.revision != revision);  // expiry is a change readers can wait for
}

TEST_CASE("set_claiming(false) turns the answer to not-leader at once") {
  FakeClock clock;
  StatusBoard board({"job", "ns", "me"}, clock);
  board.publish(leading_state(clock, 13s));
  board.set_claiming(false);
  CHECK_FALSE(board.view().is_leader);
}

TEST_CASE("the revision changes on state changes, not on renewals") {
  FakeClock clock;
  StatusBoard board({"job", "ns", "me"}, clock);
  auto s = leading_state(clock, 13s);
  CHECK(board.publish(s));
  const auto revision = board.view().revision;
  clock.advance(2s);
  s.valid_until = clock.steady_now() + 13s;
  CHECK_FALSE(board.publish(s));
  CHECK(board.view().revision == revision);
  s.leading = false;
  CHECK(board.publish(s));
  CHECK(board.view().revision > revision);
}

TEST_CASE("the wall-clock validUntil follows the monotonic deadline") {
  FakeClock clock;
  StatusBoard board({"job", "ns", "me"}, clock);
  board.publish(leading_state(clock, 10s));
  const StatusView v = board.view();
  CHECK(*v.valid_until == clock.wall_now() + 10s);
  const std::string line = state_line(v);
  CHECK(line.starts_with("leader "));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>((clock.wall_now() + 10s).time_since_epoch());
  CHECK(line.find(" " + std::to_string(ms.count()) + " 4242 ") != std::string::npos);
  clock.advance(11s);
  CHECK(state_line(board.view()) == "follower 0 0 -\n");
}

TEST_CASE("status JSON carries the documented fields") {
  FakeClock clock;
  StatusBoard board({"job", "ns", "me"}, clock);
  board.publish(leading_state(clock, 13s));
  const auto j = status_json(board.view());
  for (const char* key :
       {"election", "namespace", "identity", "isLeader", "leader", "fencingToken", "acquiredAt", "renewedAt",
        "validUntil", "validForMs", "leaseDurationSeconds", "leaseTransitions", "observedAt", "revision"}) {
    CAPTURE(key);
    CHECK(j.contains(key));
  }
  CHECK(j["isLeader"] == true);
  CHECK(j["fencingToken"] == 4242);
  CHECK(legacy_leader_json(board.view()) == nlohmann::json{{"name", "me"}});
}

TEST_CASE("the cached status body is the full rendering, byte for byte, as time passes and state changes") {
  FakeClock clock;
  // Strings that look like the spliced key must not fool the cache.
  StatusBoard board({"job\",\"validForMs\":0", "ns", "me \"validForMs\":0,"}, clock);
  StatusBodyCache cache;
  auto s = leading_state(clock, 13s);
  s.leader = "\"validForMs\":0\xff";  // and invalid UTF-8, from the Lease
  board.publish(s);
  for (int step = 0; step < 4; ++step) {
    CAPTURE(step);
    const StatusView v = board.view();
    CHECK(cache.render(v) == status_body(v));
    clock.advance(1234ms);
  }
  s.valid_until = clock.steady_now() + 13s;  // a renewal: the times change, not the revision
  board.publish(s);
  CHECK(cache.render(board.view()) == status_body(board.view()));
  clock.advance(20s);  // the claim ran out: not leader, no token
  const StatusView expired = board.view();
  CHECK_FALSE(expired.is_leader);
  CHECK(cache.render(expired) == status_body(expired));
  CHECK(cache.render(expired).find("\"validForMs\":0,") != std::string::npos);
}

// Records what a handler answered; a stream's chunks are appended to `streamed`.
struct RecordingExchange final : HttpExchange {
  void reply(HttpAnswer a) override { answers.push_back(std::move(a)); }
  void start_stream(int status, const std::string& type) override {
    stream_status = status;
    stream_type = type;
  }
  void send(std::string chunk) override { streamed += chunk; }
  void end_stream() override { ended = true; }
  bool closed() const override { return ended; }
  bool hold(std::string_view election) override {
    asked_for = election;
    return may_hold;
  }
  void on_close(std::function<void()> f) override { gone = std::move(f); }
  bool may_hold = true;
  std::string asked_for;  // the election hold() named, for the refusal's count
  std::function<void()> gone;
  std::vector<HttpAnswer> answers;
  int stream_status = 0;
  std::string stream_type, streamed;
  bool ended = false;
};

struct Router {
  explicit Router(FakeClock& clock)
      : board({"job", "ns", "me"}, clock),
        other({"other", "ns", "me"}, clock),
        hub(std::make_shared<StatusHub>(io, board, "job")),
        other_hub(std::make_shared<StatusHub>(io, other, "other")) {
    handle = make_status_router({ElectionEndpoint{"job", &board, hub,
                                                  [this] {
                                                    return HttpAnswer{acks++ ? 409 : 202, "ack"};
                                                  },
                                                  [this](const std::string& to) {
                                                    resigned_to = to;
                                                    return HttpAnswer{202, "resign"};
                                                  }},
                                 ElectionEndpoint{"other", &other, other_hub,
                                                  [] {
                                                    return HttpAnswer{409, ""};
                                                  },
                                                  [](const std::string&) {
                                                    return HttpAnswer{409, ""};
                                                  }}});
  }
  HttpAnswer call(const std::string& method, const std::string& target, bool loopback = true) {
    auto exchange = std::make_shared<RecordingExchange>();
    const auto q = target.find('?');
    handle(HttpRequest{method, target.substr(0, q), q == std::string::npos ? "" : target.substr(q + 1), "", loopback},
           exchange);
    REQUIRE(exchange->answers.size() == 1);
    return exchange->answers.front();
  }
  boost::asio::io_context io;
  StatusBoard board, other;
  std::shared_ptr<StatusHub> hub, other_hub;
  HttpHandler handle;
  int acks = 0;
  std::string resigned_to = "unset";
};

TEST_CASE("the status routes: 200/503, fencing header, 404, 405") {
  FakeClock clock;
  Router r(clock);
  CHECK(r.call("GET", "/v1/leader").status == 503);
  r.board.publish(leading_state(clock, 13s));
  const HttpAnswer leader = r.call("GET", "/v1/leader");
  CHECK(leader.status == 200);
  REQUIRE(leader.headers.size() == 1);
  CHECK(leader.headers[0] == std::pair<std::string, std::string>{"Leasehold-Fencing-Token", "4242"});
  CHECK(r.call("GET", "/v1/status").status == 200);
  CHECK(r.call("HEAD", "/v1/status").status == 200);
  CHECK(nlohmann::json::parse(r.call("GET", "/").body)["name"] == "me");
  CHECK(r.call("GET", "/nope").status == 404);
  CHECK(r.call("GET", "/v1/nope").status == 404);
  CHECK(r.call("POST", "/v1/leader").status == 405);
  CHECK(r.call("GET", "/v1/resign").status == 405);
  clock.advance(13s);
  CHECK(r.call("GET", "/v1/leader").status == 503);
}

TEST_CASE("named elections have their own paths; the short paths serve the first") {
  FakeClock clock;
  Router r(clock);
  r.other.publish(leading_state(clock, 13s));
  CHECK(r.call("GET", "/v1/leader").status == 503);
  CHECK(r.call("GET", "/v1/elections/other/leader").status == 200);
  CHECK(r.call("GET", "/v1/elections/job/leader").status == 503);
  CHECK(r.call("GET", "/v1/elections/missing/leader").status == 404);
  CHECK(r.call("GET", "/v1/elections/other").status == 404);
  const auto list = nlohmann::json::parse(r.call("GET", "/v1/elections").body)["elections"];
  REQUIRE(list.size() == 2);
  CHECK(list[1]["election"] == "other");
  CHECK(list[1]["isLeader"] == true);
}

TEST_CASE("ack and resign are POST only, from localhost only, and reach the election") {
  FakeClock clock;
  Router r(clock);
  CHECK(r.call("POST", "/v1/ack").status == 202);
  CHECK(r.call("POST", "/v1/ack").status == 409);
  CHECK(r.call("POST", "/v1/resign?to=pod-2").status == 202);
  CHECK(r.resigned_to == "pod-2");
  CHECK(r.call("POST", "/v1/resign", false).status == 403);
  CHECK(r.call("POST", "/v1/elections/other/resign").status == 409);
}

// A sharded default election "jobs" of 3 shards, each also an election of its own.
struct ShardedRouter {
  explicit ShardedRouter(FakeClock& clock)
      : s0({"jobs-shard-0", "ns", "me"}, clock),
        s1({"jobs-shard-1", "ns", "me"}, clock),
        s2({"jobs-shard-2", "ns", "me"}, clock),
        board("jobs", {&s0, &s1, &s2}, clock),
        hub(std::make_shared<ShardsHub>(io, board, "jobs")) {
    std::vector<ElectionEndpoint> elections;
    board.set_placement({"me", "you"}, 2);
    // As the agent wires them: a shard's change reaches its own hub and the shards' hub.
    board.set_listener([hub = hub] { hub->notify(); });
    for (StatusBoard* b : {&s0, &s1, &s2}) {
      auto shard_hub = std::make_shared<StatusHub>(io, *b, b->view().who.election);
      b->set_listener([shard_hub, this] {
        shard_hub->notify();
        board.changed();
      });
      elections.push_back(ElectionEndpoint{b->view().who.election, b, shard_hub,
                                           [] {
                                             return HttpAnswer{409, "no handoff"};
                                           },
                                           [](const std::string&) {
                                             return HttpAnswer{409, ""};
                                           }});
    }
    ShardsEndpoint sharded{"jobs", true, &board, hub, {}};
    sharded.acks = {[this] {
                      return HttpAnswer{202, "ack 0"};
                    },
                    [] {
                      return HttpAnswer{409, "no"};
                    },
                    [] {
                      return HttpAnswer{409, "no"};
                    }};
    handle = make_status_router(std::move(elections), {sharded});
  }
  HttpAnswer call(const std::string& method, const std::string& target, bool loopback = true) {
    auto exchange = std::make_shared<RecordingExchange>();
    const auto q = target.find('?');
    handle(HttpRequest{method, target.substr(0, q), q == std::string::npos ? "" : target.substr(q + 1), "", loopback},
           exchange);
    REQUIRE(exchange->answers.size() == 1);
    return exchange->answers.front();
  }
  // Starts a request that may be held (a long poll, a stream).
  std::shared_ptr<RecordingExchange> start(const std::string& path, const std::string& query = "") {
    auto exchange = std::make_shared<RecordingExchange>();
    handle(HttpRequest{"GET", path, query, "", true}, exchange);
    return exchange;
  }
  std::uint64_t revision() { return nlohmann::json::parse(call("GET", "/v1/shards").body)["revision"]; }
  boost::asio::io_context io;
  StatusBoard s0, s1, s2;
  ShardsBoard board;
  std::shared_ptr<ShardsHub> hub;
  HttpHandler handle;
};

TEST_CASE("shards: /v1/shards lists the shards owned now; /v1/shards/<i> is 200 with the token only while owned") {
  FakeClock clock;
  ShardedRouter r(clock);
  auto body = nlohmann::json::parse(r.call("GET", "/v1/shards").body);
  CHECK(body["election"] == "jobs");
  CHECK(body["shards"] == 3);
  CHECK(body["owned"].empty());
  CHECK(body["members"] == nlohmann::json{"me", "you"});
  CHECK(body["placedHere"] == 2);
  CHECK(r.board.lines().empty());

  r.s1.publish(leading_state(clock, 13s));
  r.s2.publish(leading_state(clock, 5s));
  body = nlohmann::json::parse(r.call("GET", "/v1/shards").body);
  REQUIRE(body["owned"].size() == 2);
  CHECK(body["owned"][0]["shard"] == 1);
  CHECK(body["owned"][0]["lease"] == "jobs-shard-1");
  CHECK(body["owned"][0]["fencingToken"] == "4242");
  CHECK(body["owned"][0]["validForMs"] == 13000);
  CHECK(body["owned"][0].contains("validUntil"));
  const HttpAnswer one = r.call("GET", "/v1/shards/1");
  CHECK(one.status == 200);
  REQUIRE(one.headers.size() == 1);
  CHECK(one.headers[0] == std::pair<std::string, std::string>{"Leasehold-Fencing-Token", "4242"});
  CHECK(r.call("GET", "/v1/shards/0").status == 503);
  CHECK(r.call("GET", "/v1/shards/3").status == 404);
  CHECK(r.call("GET", "/v1/shards/x").status == 404);
  CHECK(r.call("GET", "/v1/shards/-1").status == 404);
  CHECK(r.call("GET", "/v1/shardsx").status == 404);
  CHECK(r.call("POST", "/v1/shards/1").status == 405);

  // The file: one line per shard owned, the state file's leader line with the shard in front.
  const std::string lines = r.board.lines();
  CHECK(std::count(lines.begin(), lines.end(), '\n') == 2);
  CHECK(lines.rfind("1 ", 0) == 0);
  CHECK(lines.find("\n2 ") != std::string::npos);

  // Claims run out by themselves, shard by shard.
  clock.advance(5s);
  CHECK(r.call("GET", "/v1/shards/2").status == 503);
  CHECK(nlohmann::json::parse(r.call("GET", "/v1/shards").body)["owned"].size() == 1);
  const std::string later = r.board.lines();
  CHECK(std::count(later.begin(), later.end(), '\n') == 1);
  r.s1.set_claiming(false);  // a handoff: not owned from now on
  CHECK(r.call("GET", "/v1/shards/1").status == 503);
  CHECK(r.board.lines().empty());
}

TEST_CASE("shards: the short paths of a sharded default election point to /v1/shards; ack per shard") {
  FakeClock clock;
  ShardedRouter r(clock);
  for (const char* path : {"/", "/v1/leader", "/v1/status", "/v1/events"}) {
    const HttpAnswer a = r.call("GET", path);
    CHECK(a.status == 404);
    CHECK(a.body.find("/v1/shards") != std::string::npos);
  }
  CHECK(r.call("GET", "/v1/elections/jobs-shard-1/leader").status == 503);
  CHECK(r.call("GET", "/v1/elections/jobs/shards").status == 200);
  CHECK(r.call("GET", "/v1/elections/jobs/shards/2").status == 503);
  CHECK(r.call("POST", "/v1/shards/0/ack").status == 202);
  CHECK(r.call("POST", "/v1/shards/1/ack").status == 409);
  CHECK(r.call("POST", "/v1/shards/0/ack", false).status == 403);
  CHECK(r.call("GET", "/v1/shards/0/ack").status == 405);
  CHECK(r.call("POST", "/v1/shards/7/ack").status == 404);
}

TEST_CASE("shards: a long poll on /v1/shards is answered when a shard or the placement changes") {
  FakeClock clock;
  ShardedRouter r(clock);
  const std::uint64_t revision = r.revision();
  // A stale `after` is answered at once; bad parameters are a 400, as on /v1/status.
  CHECK(r.start("/v1/shards", "wait=30s&after=" + std::to_string(revision - 1))->answers.size() == 1);
  CHECK(r.call("GET", "/v1/shards?wait=soon").status == 400);
  CHECK(r.call("GET", "/v1/shards?wait=1s&after=x").status == 400);

  auto poll = r.start("/v1/shards", "wait=30s&after=" + std::to_string(revision));
  auto nested = r.start("/v1/elections/jobs/shards", "wait=30s&after=" + std::to_string(revision));
  r.io.poll();
  CHECK(poll->answers.empty());
  CHECK(nested->answers.empty());
  CHECK(r.hub->waiting() == 2);
  r.s1.publish(leading_state(clock, 13s));
  r.io.restart();
  r.io.poll();
  REQUIRE(poll->answers.size() == 1);
  REQUIRE(nested->answers.size() == 1);
  const auto body = nlohmann::json::parse(poll->answers[0].body);
  CHECK(body["revision"] > revision);
  REQUIRE(body["owned"].size() == 1);
  CHECK(body["owned"][0]["shard"] == 1);

  // A member joins: the placement moves the revision too.
  const std::uint64_t owned = body["revision"];
  auto members = r.start("/v1/shards", "wait=30s&after=" + std::to_string(owned));
  r.io.restart();
  r.io.poll();
  CHECK(members->answers.empty());
  r.board.set_placement({"me", "them", "you"}, 1);
  r.io.restart();
  r.io.poll();
  REQUIRE(members->answers.size() == 1);
  const auto joined = nlohmann::json::parse(members->answers[0].body);
  CHECK(joined["members"].size() == 3);
  CHECK(joined["revision"] > owned);
  // The same placement again is no change.
  const std::uint64_t placed = joined["revision"];
  r.board.set_placement({"me", "them", "you"}, 1);
  CHECK(r.revision() == placed);
}

TEST_CASE("shards: /v1/shards/events streams the shards at once, then every change, including a claim that runs out") {
  FakeClock clock;
  ShardedRouter r(clock);
  r.s2.publish(claim_ending_in(clock, 5ms));
  r.s0.publish(leading_state(clock, 13s));
  auto stream = r.start("/v1/shards/events");
  CHECK(stream->stream_status == 200);
  CHECK(stream->stream_type == "text/event-stream");
  CHECK(stream->streamed.find("event: shards\ndata: {") != std::string::npos);
  CHECK(stream->streamed.find("\"lease\":\"jobs-shard-2\"") != std::string::npos);
  const std::size_t first = stream->streamed.size();
  auto poll = r.start("/v1/elections/jobs/shards", "wait=30s&after=" + std::to_string(r.revision()));

  // Renewals stopped on shard 2: nobody publishes, yet its claim runs out at its deadline (on
  // the boards' clock; the hub's timer only wakes it). Shard 0's later deadline is not the one.
  clock.advance(4ms);
  r.io.run_one();
  CHECK(poll->answers.empty());
  clock.advance(1ms);
  while (poll->answers.empty()) r.io.run_one();
  const auto body = nlohmann::json::parse(poll->answers[0].body);
  REQUIRE(body["owned"].size() == 1);
  CHECK(body["owned"][0]["shard"] == 0);
  const std::string later = stream->streamed.substr(first);
  CHECK(later.find("event: shards") != std::string::npos);
  CHECK(later.find("jobs-shard-2") == std::string::npos);
  CHECK(r.call("POST", "/v1/shards/events").status == 405);
  CHECK(r.call("GET", "/v1/shards/events?after=x").status == 400);
  r.hub->close_all();
  CHECK(stream->ended);
}

TEST_CASE("a long poll answers at once when the revision moved, else on the next change") {
  FakeClock clock;
  Router r(clock);
  const auto revision = r.board.view().revision;
  // A stale `after` is answered at once.
  CHECK(r.call("GET", "/v1/status?wait=30s&after=" + std::to_string(revision - 1)).status == 200);
  auto exchange = std::make_shared<RecordingExchange>();
  r.handle(HttpRequest{"GET", "/v1/leader", "wait=30s&after=" + std::to_string(revision), "", true}, exchange);
  r.io.poll();
  CHECK(exchange->answers.empty());
  r.board.set_listener([hub = r.hub] { hub->notify(); });
  r.board.publish(leading_state(clock, 13s));
  r.io.restart();
  r.io.poll();
  REQUIRE(exchange->answers.size() == 1);
  CHECK(exchange->answers[0].status == 200);
  CHECK(nlohmann::json::parse(exchange->answers[0].body)["revision"] != revision);
  CHECK(r.call("GET", "/v1/status?wait=soon").status == 400);
  CHECK(r.call("GET", "/v1/status?wait=1s&after=x").status == 400);
  // The stream takes neither, but checks them by the same rule.
  CHECK(r.call("GET", "/v1/events?after=abc").status == 400);
  CHECK(r.call("GET", "/v1/events?wait=2").status == 400);
}

TEST_CASE("an event stream sends the status at once and then every change") {
  FakeClock clock;
  Router r(clock);
  r.board.set_listener([hub = r.hub] { hub->notify(); });
  auto exchange = std::make_shared<RecordingExchange>();
  r.handle(HttpRequest{"GET", "/v1/events", "", "", true}, exchange);
  CHECK(exchange->stream_status == 200);
  CHECK(exchange->stream_type == "text/event-stream");
  CHECK(exchange->streamed.find("event: status\ndata: {") != std::string::npos);
  const size_t first = exchange->streamed.size();
  r.board.publish(leading_state(clock, 13s));
  r.io.poll();
  const std::string second = exchange->streamed.substr(first);
  CHECK(second.find("\"isLeader\":true") != std::string::npos);
  r.hub->close_all();
  CHECK(exchange->ended);
}

TEST_CASE("long polls and streams over the server's cap get 503; a client that leaves is dropped at once") {
  FakeClock clock;
  Router r(clock);
  const auto revision = std::to_string(r.board.view().revision);
  auto refused = std::make_shared<RecordingExchange>();
  refused->may_hold = false;
  r.handle(HttpRequest{"GET", "/v1/leader", "wait=30s&after=" + revision, "", true}, refused);
  REQUIRE(refused->answers.size() == 1);
  CHECK(refused->answers[0].status == 503);
  CHECK(refused->asked_for == "job");  // the refusal is counted under the election asked about
  auto refused_stream = std::make_shared<RecordingExchange>();
  refused_stream->may_hold = false;
  r.handle(HttpRequest{"GET", "/v1/elections/other/events", "", "", true}, refused_stream);
  REQUIRE(refused_stream->answers.size() == 1);
  CHECK(refused_stream->answers[0].status == 503);
  CHECK(refused_stream->asked_for == "other");
  CHECK(refused_stream->stream_status == 0);
  CHECK(r.hub->waiting() == 0);

  auto poll = std::make_shared<RecordingExchange>();
  r.handle(HttpRequest{"GET", "/v1/leader", "wait=30s&after=" + revision, "", true}, poll);
  auto stream = std::make_shared<RecordingExchange>();
  r.handle(HttpRequest{"GET", "/v1/events", "", "", true}, stream);
  CHECK(r.hub->waiting() == 2);
  REQUIRE(poll->gone);
  REQUIRE(stream->gone);
  poll->gone();
  stream->gone();
  r.io.poll();
  CHECK(r.hub->waiting() == 0);
  CHECK(poll->answers.empty());  // nobody left to answer
}

TEST_CASE("waiting clients are answered when the claim runs out by itself, on the board's clock") {
  // Renewals stopped: nobody publishes again, yet the answer must change at
  // the claim's deadline. The hub's timer fires on the io_context; what it
  // finds is judged on the fake clock, which alone decides the answer.
  FakeClock clock;
  Router r(clock);
  r.board.publish(claim_ending_in(clock, 5ms));
  auto poll = std::make_shared<RecordingExchange>();
  r.handle(HttpRequest{"GET", "/v1/leader", "wait=30s&after=" + std::to_string(r.board.view().revision), "", true},
           poll);
  auto stream = std::make_shared<RecordingExchange>();
  r.handle(HttpRequest{"GET", "/v1/events", "", "", true}, stream);
  CHECK(stream->streamed.find("\"isLeader\":true") != std::string::npos);
  const std::size_t first = stream->streamed.size();

  // The timer fires before the deadline on the board's clock: nothing to tell yet.
  clock.advance(4ms);
  r.io.run_one();
  CHECK(poll->answers.empty());
  CHECK(stream->streamed.substr(first).find("isLeader") == std::string::npos);

  // Past the deadline: the next firing answers the long poll and tells the stream.
  clock.advance(1ms);
  while (poll->answers.empty()) r.io.run_one();
  CHECK(poll->answers[0].status == 503);
  CHECK(nlohmann::json::parse(poll->answers[0].body)["isLeader"] == false);
  CHECK(stream->streamed.substr(first).find("\"isLeader\":false") != std::string::npos);
  r.hub->close_all();
}

TEST_CASE("after= and wait= follow one rule: a value given is checked, a bad one is 400") {
  FakeClock clock;
  Router r(clock);
  CHECK(r.call("GET", "/v1/leader?after=abc").status == 400);
  CHECK(r.call("GET", "/v1/leader?after=").status == 400);
  CHECK(r.call("GET", "/v1/leader?after=-1&wait=1s").status == 400);
  CHECK(r.call("GET", "/v1/status?wait=2").status == 400);
  CHECK(r.call("GET", "/v1/status?after=3").status == 200);  // no wait: answered at once
  CHECK(r.call("GET", "/v1/status?wait=0s").status == 200);
}

TEST_CASE("metrics: the series alerts watch are at 0 from the start, the rest appear with their first event") {
  FakeClock clock;
  StatusBoard plain_board({"plain", "ns", "me"}, clock);
  StatusBoard hooked_board({"hooked", "ns", "me"}, clock);
  Metrics metrics("test");
  ElectionMetrics& plain = metrics.add_election("plain", plain_board);
  metrics.add_election("hooked", hooked_board, ElectionHooks{true, false, true});
  const auto has = [&](const std::string& series) { return metrics.render().find(series) != std::string::npos; };
  CHECK(has("leasehold_lease_errors_total{election=\"plain\",error=\"conflict\",operation=\"renew\"} 0"));
  CHECK(has("leasehold_renewals_total{election=\"plain\",outcome=\"failure\"} 0"));
  CHECK_FALSE(has("operation=\"get\""));
  CHECK_FALSE(has("leasehold_hook_runs_total{election=\"plain\""));
  CHECK(has("leasehold_hook_runs_total{election=\"hooked\",hook=\"start\",outcome=\"timeout\"} 0"));
  CHECK(has("leasehold_hook_runs_total{election=\"hooked\",hook=\"label\",outcome=\"failure\"} 0"));
  CHECK_FALSE(has("leasehold_hook_runs_total{election=\"hooked\",hook=\"stop\""));
  plain.store_error("get", election::StoreError::kNotFound);
  CHECK(has("leasehold_lease_errors_total{election=\"plain\",error=\"not_found\",operation=\"get\"} 1"));
  plain.side_effect("stop", "failure");
  CHECK(has("leasehold_hook_runs_total{election=\"plain\",hook=\"stop\",outcome=\"failure\"} 1"));
}

TEST_CASE("metrics: a refused long poll is counted under its election, a refused connection under none") {
  FakeClock clock;
  StatusBoard board({"job", "ns", "me"}, clock);
  Metrics metrics("test");
  metrics.add_election("job", board);
  metrics.add_sharded("jobs", {});
  const auto has = [&](const std::string& series) { return metrics.render().find(series) != std::string::npos; };
  // From the start, every series of the family has the same labels.
  CHECK(has("leasehold_http_refused_total{election=\"job\",listener=\"status\",reason=\"held\"} 0"));
  CHECK(has("leasehold_http_refused_total{election=\"jobs\",listener=\"status\",reason=\"held\"} 0"));
  CHECK(has("leasehold_http_refused_total{election=\"\",listener=\"ops\",reason=\"connections\"} 0"));
  CHECK(has("leasehold_http_refused_total{election=\"\",listener=\"status\",reason=\"accept_error\"} 0"));
  CHECK_FALSE(has("listener=\"ops\",reason=\"held\""));        // the ops listener holds nothing
  CHECK_FALSE(has("leasehold_http_refused_total{listener="));  // no series without the election label
  metrics.http_refused("status", Refusal::kHeld, "job");
  metrics.http_refused("status", Refusal::kConnections, "");
  CHECK(has("leasehold_http_refused_total{election=\"job\",listener=\"status\",reason=\"held\"} 1"));
  CHECK(has("leasehold_http_refused_total{election=\"\",listener=\"status\",reason=\"connections\"} 1"));
}

TEST_CASE("the ops routes: healthz follows the loop heartbeat, readyz the first observation") {
  FakeClock clock;
  StatusBoard board({"job", "ns", "me"}, clock);
  Metrics metrics("test");
  metrics.add_election("job", board);
  const HttpSyncHandler handle = make_ops_handler({&board}, metrics, clock, HealthPolicy{19s});
  CHECK(handle(get("/healthz")).status == 200);
  CHECK(handle(get("/readyz")).status == 503);
  election::ElectionState observed;
  observed.observed = true;
  board.publish(observed);
  CHECK(handle(get("/readyz")).status == 200);
  clock.advance(20s);
  CHECK(handle(get("/healthz")).status == 503);
  board.heartbeat();
  CHECK(handle(get("/healthz")).status == 200);
  board.publish(leading_state(clock, 13s));
  const std::string text = handle(get("/metrics")).body;
  CHECK(text.find("leasehold_is_leader{election=\"job\"} 1") != std::string::npos);
  CHECK(text.find("leader_election_master_status{name=\"job\"} 1") != std::string::npos);
  CHECK(text.find("leasehold_build_info{version=\"test\"} 1") != std::string::npos);
  clock.advance(14s);
  CHECK(handle(get("/metrics")).body.find("leasehold_is_leader{election=\"job\"} 0") != std::string::npos);
  CHECK(handle(get("/metrics")).body.find("leader_election_master_status{name=\"job\"} 0") != std::string::npos);
}

TEST_CASE("metrics: client-go's slow path counts the renewals that met a conflict and read the Lease again") {
  FakeClock clock;
  StatusBoard board({"job", "ns", "me"}, clock);
  Metrics metrics("test");
  ElectionMetrics& job = metrics.add_election("job", board);
  const auto has = [&](const std::string& series) { return metrics.render().find(series) != std::string::npos; };
  CHECK(has("leader_election_slowpath_total{name=\"job\"} 0"));
  job.store_error("renew", election::StoreError::kTimeout);
  job.store_error("get", election::StoreError::kConflict);
  CHECK(has("leader_election_slowpath_total{name=\"job\"} 0"));
  job.store_error("renew", election::StoreError::kConflict);
  CHECK(has("leader_election_slowpath_total{name=\"job\"} 1"));
}

TEST_CASE("status: appHealth is null while off; a health change is a change readers can wait for") {
  FakeClock clock;
  status::StatusBoard board({"job", "ns", "me"}, clock);
  CHECK(status::status_json(board.view())["appHealth"].is_null());
  int notified = 0;
  board.set_listener([&] { ++notified; });
  const auto revision = board.view().revision;
  board.set_app_health(status::AppHealthStatus{"unhealthy", clock.wall_now(), false});
  CHECK(board.view().revision > revision);
  CHECK(notified == 1);
  const auto j = status::status_json(board.view());
  CHECK(j["appHealth"]["state"] == "unhealthy");
  CHECK(j["appHealth"]["eligible"] == false);
  CHECK(j["appHealth"]["since"].is_string());
  board.set_app_health(status::AppHealthStatus{"unhealthy", clock.wall_now(), false});
  CHECK(notified == 1);  // the same again is no change
  status::StatusBodyCache cache;
  CHECK(cache.render(board.view()) == status::status_body(board.view()));
}

}  // namespace leasehold::status
