// The watch: the decoding of its lines, its reconnect backoff, step by step (no sleeping, the jitter supplied); the
// routing of one stream's events to the sinks of the Leases it follows (WatchRouter, fed by hand); and the requests and
// routing of a LeaseWatch against a scripted API server.
#include "kube/lease_watch.h"

#include <doctest/doctest.h>

#include <deque>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "fakes.h"
#include "scripted_server.h"

namespace leasehold::kube {
namespace {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

constexpr bool kFailed = false;
constexpr bool kClean = true;

// Jitter taken from a script; 0 when it runs out.
struct ScriptedRandom {
  std::deque<std::uint32_t> values;
  std::uint32_t operator()() {
    if (values.empty()) return 0;
    const std::uint32_t v = values.front();
    values.pop_front();
    return v;
  }
};

// What a sink heard, in order. Read by the test thread only once the watch that called it (if
// any) has stopped.
struct RecordingSink final : WatchSink {
  void on_lease(const election::LeaseRecord& record, nlohmann::json object) override {
    leases.push_back(record.holder_identity + "@" + record.resource_version);
    objects.push_back(object);
  }
  void on_lease_deleted(std::optional<std::uint64_t> revision) override { deletions.push_back(revision); }
  void on_watch_state(bool healthy, const std::string& reason) override {
    states.push_back(healthy);
    reasons.push_back(reason);
  }
  void on_watch_garbage(const std::string& what) override { garbage.push_back(what); }
  void on_watch_fatal(std::string_view what) noexcept override { fatal.emplace_back(what); }

  bool heard_nothing() const {
    return leases.empty() && deletions.empty() && states.empty() && garbage.empty() && fatal.empty();
  }

  std::vector<std::string> leases;  // holder@resourceVersion
  std::vector<nlohmann::json> objects;
  std::vector<std::optional<std::uint64_t>> deletions;
  std::vector<bool> states;
  std::vector<std::string> reasons;
  std::vector<std::string> garbage;
  std::vector<std::string> fatal;
};

// A watch line about a Lease, as the API server sends it.
std::string lease_line(const std::string& type, const std::string& name, const std::string& version,
                       const std::string& holder = "") {
  return nlohmann::json{{"type", type},
                        {"object",
                         {{"kind", "Lease"},
                          {"apiVersion", "coordination.k8s.io/v1"},
                          {"metadata", {{"name", name}, {"namespace", "ns"}, {"resourceVersion", version}}},
                          {"spec", {{"holderIdentity", holder}, {"leaseDurationSeconds", 15}}}}}}
      .dump();
}

std::string bookmark_line(const std::string& version) {
  return nlohmann::json{{"type", "BOOKMARK"},
                        {"object", {{"kind", "Lease"}, {"metadata", {{"resourceVersion", version}}}}}}
      .dump();
}

std::string error_line(int code) {
  return nlohmann::json{{"type", "ERROR"}, {"object", {{"kind", "Status"}, {"code", code}, {"message", "oops"}}}}
      .dump();
}

// Two followed Leases, "a" and "b", decoding lines as LeaseWatch does.
struct TwoLeases {
  RecordingSink a;
  RecordingSink b;
  WatchRouter router{{{"a", &a}, {"b", &b}}};

  WatchRouter::Verdict feed(const std::string& line) {
    return router.route(parse_watch_line(line, [this](std::string_view name) { return router.follows(name); }));
  }
};

}  // namespace

TEST_CASE("reconnects back off exponentially from 100 ms up to 10 s") {
  ReconnectBackoff backoff(ScriptedRandom{});
  std::vector<election::Duration> waits;
  for (int i = 0; i < 10; ++i) waits.push_back(backoff.next(kFailed, std::nullopt));
  CHECK(waits == std::vector<election::Duration>{100ms, 200ms, 400ms, 800ms, 1600ms, 3200ms, 6400ms, 10s, 10s, 10s});
}

TEST_CASE("a stream that ended cleanly reconnects at once and starts the backoff afresh") {
  ReconnectBackoff backoff(ScriptedRandom{});
  backoff.next(kFailed, std::nullopt);
  backoff.next(kFailed, std::nullopt);
  CHECK(backoff.next(kClean, std::nullopt) == election::Duration::zero());
  CHECK(backoff.next(kFailed, std::nullopt) == 100ms);
}

TEST_CASE("Retry-After lengthens the backoff, up to the longest one") {
  ReconnectBackoff backoff(ScriptedRandom{});
  CHECK(backoff.next(kFailed, 3s) == 3s);
  CHECK(backoff.next(kFailed, std::nullopt) == 6s);  // doubles from there
  ReconnectBackoff capped(ScriptedRandom{});
  CHECK(capped.next(kFailed, 1h) == 10s);
  // A shorter Retry-After never shortens it.
  ReconnectBackoff longer(ScriptedRandom{});
  for (int i = 0; i < 4; ++i) longer.next(kFailed, std::nullopt);
  CHECK(longer.next(kFailed, 1s) == 1600ms);
}

TEST_CASE("jitter adds up to half the backoff") {
  // random() % (backoff / 2 + 1) milliseconds.
  ReconnectBackoff backoff(ScriptedRandom{{50, 51, 400}});
  CHECK(backoff.next(kFailed, std::nullopt) == ms(150));  // 100 + 50
  CHECK(backoff.next(kFailed, std::nullopt) == ms(251));  // 200 + 51
  CHECK(backoff.next(kFailed, std::nullopt) == ms(599));  // 400 + 400 % 201: never past 1.5 x
}

// --- WatchRouter -------------------------------------------------------------

TEST_CASE("events of a followed Lease reach its sink only; other Leases of the namespace are skipped") {
  TwoLeases t;
  CHECK_FALSE(t.feed(lease_line("ADDED", "a", "5", "pod-1")).end);
  CHECK_FALSE(t.feed(lease_line("MODIFIED", "b", "6", "pod-2")).end);
  CHECK_FALSE(t.feed(lease_line("MODIFIED", "someone-elses", "7", "pod-3")).end);
  CHECK_FALSE(t.feed(lease_line("DELETED", "someone-elses", "8")).end);
  CHECK(t.a.leases == std::vector<std::string>{"pod-1@5"});
  CHECK(t.b.leases == std::vector<std::string>{"pod-2@6"});
  REQUIRE(t.a.objects.size() == 1);
  CHECK(t.a.objects[0]["metadata"]["name"] == "a");  // the object, for the Lease client's next write
  // Neither data nor garbage: just not ours. The version moved all the same: it is the collection's.
  CHECK(t.a.garbage.empty());
  CHECK(t.b.garbage.empty());
  CHECK(t.a.deletions.empty());
  CHECK(t.b.deletions.empty());
  CHECK(t.router.resource_version() == "8");
}

TEST_CASE("a deletion goes to the sink of the deleted Lease only, with its revision") {
  TwoLeases t;
  t.feed(lease_line("DELETED", "b", "12"));
  CHECK(t.b.deletions == std::vector<std::optional<std::uint64_t>>{12});
  CHECK(t.a.heard_nothing());
  CHECK(t.b.leases.empty());
  CHECK(t.router.resource_version() == "12");
}

TEST_CASE("a bookmark moves the resume version and calls no sink") {
  TwoLeases t;
  t.feed(lease_line("ADDED", "a", "5", "pod-1"));
  const WatchRouter::Verdict verdict = t.feed(bookmark_line("40"));
  CHECK_FALSE(verdict.end);
  CHECK(t.router.resource_version() == "40");
  CHECK(t.a.leases == std::vector<std::string>{"pod-1@5"});
  CHECK(t.a.garbage.empty());
  CHECK(t.b.heard_nothing());
  // A bookmark without a version keeps the one held.
  t.feed(R"({"type":"BOOKMARK","object":{"kind":"Lease","metadata":{}}})");
  CHECK(t.router.resource_version() == "40");
  CHECK(t.b.heard_nothing());
}

TEST_CASE("410 Gone ends the stream cleanly and forgets the version; another ERROR ends it as failed") {
  TwoLeases t;
  t.feed(lease_line("ADDED", "a", "5", "pod-1"));
  const WatchRouter::Verdict gone = t.feed(error_line(410));
  CHECK(gone.end);
  CHECK(gone.clean);  // reconnect at once, from the current state
  CHECK(t.router.resource_version().empty());
  t.feed(lease_line("ADDED", "a", "9", "pod-1"));
  const WatchRouter::Verdict error = t.feed(error_line(500));
  CHECK(error.end);
  CHECK_FALSE(error.clean);  // backs off
  CHECK(error.reason == "watch error: oops");
  CHECK(t.router.resource_version() == "9");
  // Ending it is LeaseWatch's, which tells every sink.
  t.router.watch_state(false, gone.reason);
  CHECK(t.a.states == std::vector<bool>{false});
  CHECK(t.b.states == std::vector<bool>{false});
  CHECK(t.b.reasons == std::vector<std::string>{"watch expired (410): starting afresh"});
  CHECK(t.a.garbage.empty());
  CHECK(t.b.garbage.empty());
}

TEST_CASE("garbage is counted once: by the Lease it names, else by the first sink; another Lease's not at all") {
  TwoLeases t;
  // Not a Lease, but named after a followed one: that election's.
  t.feed(R"({"type":"MODIFIED","object":{"kind":"Pod","metadata":{"name":"b","resourceVersion":"3"}}})");
  t.feed(R"({"type":"SURPRISE","object":{"kind":"Lease","metadata":{"name":"b"}}})");
  CHECK(t.b.garbage == std::vector<std::string>{"watch event object is not a Lease", "unknown watch event type"});
  // Naming no Lease: a fault of the shared stream, counted once.
  t.feed("not json");
  t.feed(R"({"type":"MODIFIED","object":{"kind":"Lease","metadata":{"resourceVersion":"4"},"spec":{}}})");
  CHECK(t.a.garbage == std::vector<std::string>{"not a watch event", "watch event for a Lease without a name"});
  CHECK(t.b.garbage.size() == 2);
  // Another Lease's oddities are none of ours.
  t.feed(R"({"type":"SURPRISE","object":{"kind":"Lease","metadata":{"name":"c"}}})");
  t.feed(R"({"type":"MODIFIED","object":{"kind":"Lease","metadata":{"name":"c"},"spec":{"holderIdentity":7}}})");
  CHECK(t.a.garbage.size() == 2);
  CHECK(t.b.garbage.size() == 2);
  CHECK(t.a.leases.empty());
  CHECK(t.b.leases.empty());
}

TEST_CASE("with one Lease followed, other names are skipped all the same") {
  RecordingSink only;
  WatchRouter router{{{"job", &only}}};
  router.route(parse_watch_line(lease_line("MODIFIED", "other", "3", "x")));
  router.route(parse_watch_line(lease_line("MODIFIED", "job", "4", "y")));
  CHECK(only.leases == std::vector<std::string>{"y@4"});
  CHECK(only.garbage.empty());
}

TEST_CASE("the stream's state and a fatal error reach every sink") {
  TwoLeases t;
  t.router.watch_state(true, "");
  t.router.fatal("boom");
  CHECK(t.a.states == std::vector<bool>{true});
  CHECK(t.b.states == std::vector<bool>{true});
  CHECK(t.a.fatal == std::vector<std::string>{"boom"});
  CHECK(t.b.fatal == std::vector<std::string>{"boom"});
}

TEST_CASE("a router needs a Lease, a sink for each, and each name once") {
  RecordingSink sink;
  using Followed = std::vector<FollowedLease>;
  CHECK_THROWS_AS(WatchRouter(Followed{}), std::invalid_argument);
  CHECK_THROWS_AS(WatchRouter(Followed{{"a", nullptr}}), std::invalid_argument);
  CHECK_THROWS_AS(WatchRouter(Followed{{"a", &sink}, {"a", &sink}}), std::invalid_argument);
  CHECK_NOTHROW(WatchRouter(Followed{{"a", &sink}, {"b", &sink}}));
}

TEST_CASE("parse_watch_line decodes only the wanted names' Leases") {
  const auto wanted = [](std::string_view name) { return name == "a"; };
  const WatchEvent other = parse_watch_line(lease_line("MODIFIED", "b", "7", "x"), wanted);
  CHECK(other.type == WatchEvent::Type::kModified);
  CHECK(other.name == "b");
  CHECK(other.resource_version == "7");
  CHECK_FALSE(other.record.has_value());
  CHECK(other.object.is_null());
  const WatchEvent mine = parse_watch_line(lease_line("MODIFIED", "a", "8", "x"), wanted);
  REQUIRE(mine.record.has_value());
  CHECK(mine.record->holder_identity == "x");
  CHECK(mine.object["metadata"]["name"] == "a");
  // Without a filter, every object is decoded.
  CHECK(parse_watch_line(lease_line("MODIFIED", "b", "7", "x")).record.has_value());
}

// --- LeaseWatch against a scripted API server ----------------------------------

namespace {

using testing::Answer;
using testing::ScriptedServer;

KubeConfig config_for(const ScriptedServer& server) {
  KubeConfig config;
  config.server = server.url();
  config.token = "fixed-token";
  return config;
}

ApiClientOptions unlimited() {
  ApiClientOptions options;
  options.qps = 0;
  return options;
}

const std::string kLeases = "/apis/coordination.k8s.io/v1/namespaces/ns/leases";

std::string stream(const std::vector<std::string>& lines) {
  std::string body;
  for (const auto& line : lines) body += line + "\n";
  return body;
}

bool has(const std::string& target, const std::string& part) { return target.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("one Lease is watched by name (a Role restricted by resourceNames allows it)") {
  ScriptedServer server;
  server.then(Answer::hung());
  ApiClient api(config_for(server), unlimited(), nullptr, testing::system_clock);
  RecordingSink sink;
  {
    LeaseWatch watch(api, testing::system_clock, kLeases, {{"job", &sink}});
    watch.start();
    REQUIRE(server.wait_for_requests(1));
  }
  const auto requests = server.requests();
  CHECK(requests[0].method == "GET");
  CHECK(has(requests[0].target, kLeases + "?watch=true&"));
  CHECK(has(requests[0].target, "&allowWatchBookmarks=true"));
  CHECK(has(requests[0].target, "&fieldSelector=metadata.name%3Djob"));
  CHECK_FALSE(has(requests[0].target, "resourceVersion="));
}

TEST_CASE("several Leases share one watch of the collection: each event to its sink, one resume version") {
  ScriptedServer server;
  // A first stream: both elections' Leases, another Lease, a bookmark; it ends (the server's timeout).
  server.then(
      {200, stream({lease_line("ADDED", "a", "5", "pod-1"), lease_line("ADDED", "other", "6", "pod-9"),
                    lease_line("MODIFIED", "b", "7", "pod-2"), lease_line("DELETED", "a", "8"), bookmark_line("9")})});
  // Resumed from the bookmark: the version expired.
  server.then({200, stream({error_line(410)})});
  // Afresh: held open until the watch stops.
  server.then(Answer::hung());
  ApiClient api(config_for(server), unlimited(), nullptr, testing::system_clock);
  RecordingSink a;
  RecordingSink b;
  {
    LeaseWatch watch(api, testing::system_clock, kLeases, {{"a", &a}, {"b", &b}});
    watch.start();
    REQUIRE(server.wait_for_requests(3));
  }
  const auto requests = server.requests();
  REQUIRE(requests.size() == 3);  // one connection at a time, for both
  CHECK_FALSE(has(requests[0].target, "fieldSelector"));
  CHECK(has(requests[0].target, "&allowWatchBookmarks=true"));
  CHECK_FALSE(has(requests[0].target, "resourceVersion="));
  CHECK(has(requests[1].target, "&resourceVersion=9"));      // the bookmark's
  CHECK_FALSE(has(requests[2].target, "resourceVersion="));  // after 410 Gone
  CHECK(a.leases == std::vector<std::string>{"pod-1@5"});
  CHECK(a.deletions == std::vector<std::optional<std::uint64_t>>{8});
  CHECK(b.leases == std::vector<std::string>{"pod-2@7"});
  CHECK(b.deletions.empty());
  CHECK(a.garbage.empty());
  CHECK(b.garbage.empty());
  // Both heard every change of the one stream: open, ended, open, expired, and stopped.
  CHECK(a.states == std::vector<bool>{true, false, true, false, false});
  CHECK(b.states == a.states);
  REQUIRE(b.reasons.size() == 5);
  CHECK(b.reasons[1] == "watch stream ended");
  CHECK(b.reasons[3] == "watch expired (410): starting afresh");
  CHECK(a.fatal.empty());
}

TEST_CASE("watch lines decode to events; garbage is flagged, never trusted") {
  auto added = parse_watch_line(
      R"({"type":"ADDED","object":{"kind":"Lease","metadata":{"resourceVersion":"9"},"spec":{"holderIdentity":"a"}}})");
  CHECK(added.type == WatchEvent::Type::kAdded);
  CHECK(added.record->holder_identity == "a");
  CHECK(added.resource_version == "9");
  CHECK(parse_watch_line(R"({"type":"DELETED","object":{"metadata":{"resourceVersion":"10"}}})").type ==
        WatchEvent::Type::kDeleted);
  CHECK(parse_watch_line(R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"11"}}})").resource_version ==
        "11");
  CHECK(parse_watch_line(R"({"type":"ERROR","object":{"code":410,"message":"too old"}})").type ==
        WatchEvent::Type::kGone);
  CHECK(parse_watch_line("not json").type == WatchEvent::Type::kInvalid);
  // A Lease the API server holds but we cannot read is passed on as such (the
  // leader then stops claiming), not dropped.
  const WatchEvent garbled =
      parse_watch_line(R"({"type":"MODIFIED","object":{"metadata":{},"spec":{"holderIdentity":7}}})");
  CHECK(garbled.type == WatchEvent::Type::kModified);
  REQUIRE(garbled.record.has_value());
  CHECK(garbled.record->unreadable);
  CHECK(parse_watch_line(R"({"type":"MODIFIED","object":{"kind":"Pod","metadata":{}}})").type ==
        WatchEvent::Type::kInvalid);
  CHECK(parse_watch_line(R"({"type":"SURPRISE","object":{"metadata":{}}})").type == WatchEvent::Type::kInvalid);
}

}  // namespace leasehold::kube
