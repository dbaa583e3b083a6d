// The moment a claim ends, every channel says so before the Elector makes its
// next request to the API server: the status board (/v1/leader, /v1/status,
// the event stream), the metrics, the state file and the side effects. Each
// demotion path is driven on a fake clock and store; the store checks the
// channels at every request.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "agent/election_publisher.h"
#include "election/elector.h"
#include "failing_alloc.h"
#include "fakes.h"
#include "status/metrics.h"
#include "status/status_board.h"

namespace leasehold::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// A LeaseStore that runs `before_request` ahead of every call it passes on.
class CheckingStore final : public election::LeaseStore {
 public:
  CheckingStore(election::LeaseStore& inner, std::function<void()> before_request)
      : inner_(inner), before_(std::move(before_request)) {}
  StoreResult get(SteadyTime deadline) override {
    before_();
    return inner_.get(deadline);
  }
  StoreResult create(const LeaseRecord& record, SteadyTime deadline) override {
    before_();
    return inner_.create(record, deadline);
  }
  StoreResult update(const LeaseRecord& record, SteadyTime deadline) override {
    before_();
    return inner_.update(record, deadline);
  }
  StoreResult renew(const LeaseRecord& expected, const LeaseRecord& record, SteadyTime deadline) override {
    before_();
    return inner_.renew(expected, record, deadline);
  }

 private:
  election::LeaseStore& inner_;
  std::function<void()> before_;
};

struct RecordingListener final : agent::LeadershipListener {
  void set_leading(bool is_leading, std::uint64_t token) override {
    leading = is_leading;
    tokens.push_back(token);
  }
  bool leading = false;
  std::vector<std::uint64_t> tokens;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// One agent wired as the runner wires it: Elector -> ElectionPublisher -> board, files, metrics, listener.
struct Wired {
  explicit Wired(const std::string& dir_name)
      : dir(fs::temp_directory_path() / (dir_name + "-" + std::to_string(::getpid()))),
        board(status::StatusIdentity{"e", "ns", "a"}, clock),
        election_metrics(metrics.add_election("e", board)),
        log_file(std::tmpfile()),
        logger(log::Level::kInfo, log_file),
        publisher("e", clock, board, {prepare(dir)}, election_metrics, listener, logger),
        fake_store(server, clock),
        store(fake_store, [this] { check_channels(); }),
        elector("a", election::ElectionTimings{}, clock, store, &publisher) {
    publisher.attach(elector);
    publisher.write_files();
    old_term = server.commit(held(("old")));
    LeaseRecord released = old_term;
    released.holder_identity.clear();
    released.release_marker = election::release_marker("old", old_term.lease_transitions);
    server.commit(released);
    elector.observe(old_term);  // as a watching agent saw it before the release
  }
  ~Wired() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
    std::fclose(log_file);
  }
  // Every line logged so far (log() and line() both write through to the file).
  std::string log_text() const {
    std::string text;
    char chunk[4096];
    for (off_t at = 0;;) {
      const ssize_t n = ::pread(::fileno(log_file), chunk, sizeof chunk, at);
      if (n <= 0) return text;
      text.append(chunk, static_cast<std::size_t>(n));
      at += n;
    }
  }
  static std::string prepare(const fs::path& d) {
    fs::create_directories(d);
    return d.string();
  }
  static LeaseRecord held(const std::string& who) {
    LeaseRecord r;
    r.holder_identity = who;
    r.lease_duration_seconds = 15;
    return r;
  }

  // Runs before every request to the API server: once the Elector has no
  // claim, no channel may say there is one.
  void check_channels() {
    if (!ever_led || elector.state().leading) return;
    ++requests_after_claim_ended;
    CHECK_FALSE(board.view().is_leader);
    CHECK(slurp(dir / "state").rfind("follower ", 0) == 0);
    CHECK(metrics.render().find("leasehold_is_leader{election=\"e\"} 0") != std::string::npos);
    CHECK_FALSE(listener.leading);
  }

  void lead() {
    elector.step();
    publisher.publish();
    REQUIRE(board.view().is_leader);
    REQUIRE(slurp(dir / "state").rfind("leader ", 0) == 0);
    REQUIRE(listener.leading);
    ever_led = true;
  }

  // Steps the loop as the runner does, a few turns.
  void turns(int n, Duration apart = 1s) {
    for (int i = 0; i < n; ++i) {
      elector.step();
      publisher.publish();
      clock.advance(apart);
    }
  }

  FakeClock clock;
  FakeApiServer server;
  fs::path dir;
  status::Metrics metrics{"test"};
  status::StatusBoard board;
  status::ElectionMetrics& election_metrics;
  RecordingListener listener;
  std::FILE* log_file;
  log::Logger logger;
  agent::ElectionPublisher publisher;
  FakeLeaseStore fake_store;
  CheckingStore store;
  election::Elector elector;
  LeaseRecord old_term;
  bool ever_led = false;
  int requests_after_claim_ended = 0;
};

}  // namespace

TEST_CASE("every way a claim ends is published before the next request to the API server") {
  Wired w("leasehold-publish");
  w.lead();

  SUBCASE("another holder, shown by the watch") {
    LeaseRecord taken = *w.server.lease;
    taken.holder_identity = "intruder";
    w.server.commit(taken);
    w.elector.observe(*w.server.lease);
    w.turns(3);
  }
  SUBCASE("another holder, found by a renewal's re-read") {
    LeaseRecord taken = *w.server.lease;
    taken.holder_identity = "intruder";
    w.server.commit(taken);
    w.turns(3);
  }
  SUBCASE("the holder emptied by someone else, shown by the watch") {
    LeaseRecord emptied = *w.server.lease;
    emptied.holder_identity.clear();
    w.server.commit(emptied);
    w.elector.observe(*w.server.lease);
    w.turns(3);
  }
  SUBCASE("a new term under our identity") {
    LeaseRecord other = *w.server.lease;
    other.acquire_time = w.clock.wall_now() + 1s;
    other.lease_transitions += 1;
    w.server.commit(other);
    w.turns(3);
  }
  SUBCASE("an unreadable Lease") {
    LeaseRecord garbled = *w.server.lease;
    garbled.unreadable = true;
    w.server.commit(garbled);
    w.elector.observe(*w.server.lease);
    w.turns(3);
  }
  SUBCASE("deleted, shown by the watch (then re-created at once by its last holder)") {
    w.server.remove();
    w.elector.observe_absent(w.server.revision);
    w.turns(3);
  }
  SUBCASE("deleted, found by a renewal (404)") {
    w.server.remove();
    w.turns(3);
  }
  SUBCASE("the renew deadline passed") {
    w.fake_store.fail_next.assign(40, StoreError::kServerError);
    w.turns(16);
  }
  SUBCASE("stopped (shutdown), then released") {
    w.elector.stop_claiming("shutting down");
    CHECK(w.elector.release(w.clock.steady_now() + 5s));
  }
  SUBCASE("resigned, then released") { CHECK(w.elector.resign(w.clock.steady_now() + 5s, "")); }

  // The claim ended (the side effects were told), and the checks ran: there
  // was at least one request after it ended.
  CHECK(w.listener.tokens.size() >= 2);
  CHECK(w.requests_after_claim_ended > 0);
}

TEST_CASE("the stop hook gets the token of the term that ended") {
  Wired w("leasehold-publish-token");
  w.lead();
  const std::uint64_t token = w.elector.state().fencing_token;
  REQUIRE(token > 0);
  w.elector.stop_claiming("shutting down");
  REQUIRE(w.listener.tokens.size() == 2);
  CHECK(w.listener.tokens[0] == token);
  CHECK(w.listener.tokens[1] == token);
}

TEST_CASE("a write after stop_claiming_now never brings back a leader line") {
  Wired w("leasehold-publish-order");
  w.lead();
  w.publisher.stop_claiming_now();
  CHECK(slurp(w.dir / "state").rfind("follower ", 0) == 0);
  // A publish of the loop's next turn (the Elector still holds the Lease
  // during a handoff) keeps the files at "follower".
  w.clock.advance(2s);
  w.elector.step();
  w.publisher.publish();
  CHECK(w.elector.state().leading);
  CHECK(slurp(w.dir / "state").rfind("follower ", 0) == 0);
  CHECK_FALSE(w.board.view().is_leader);
}

// Fault case 22 once saw an agent out of memory stop claiming with no "stopped leading" in its
// log: the demotion's publish failed to allocate, and the exception skipped the line (and left
// the board and the state file as they were, for the machine's error path to fix later).
TEST_CASE("a claim that ends while no memory is left still ends on every channel, and says why") {
  Wired w("leasehold-publish-oom");
  w.lead();
  // No renewal since: the renew deadline passes while the claim's validity has not run out, so
  // the board would still say "leader" if the demotion were not published.
  w.clock.advance(election::ElectionTimings{}.renew_deadline + 100ms);
  REQUIRE(w.board.view().is_leader);
  bool failed = false;
  {
    AllocationsFail none_left;
    try {
      w.elector.step();  // the demotion comes first, before any request
    } catch (const std::bad_alloc&) {
      failed = true;  // the machine's to handle (ElectionMachine::fail ends the election)
    }
    CHECK(none_left.refused() > 0);
  }
  CHECK(failed);
  CHECK_FALSE(w.elector.state().leading);
  CHECK_FALSE(w.board.view().is_leader);
  CHECK(slurp(w.dir / "state") == "follower 0 0 -\n");
  const std::string log = w.log_text();
  CHECK(log.find("\"msg\":\"stopped leading\",\"election\":\"e\",\"reason\":\"renew deadline passed\"") !=
        std::string::npos);
}

}  // namespace leasehold::testing
