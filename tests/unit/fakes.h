// Test doubles for the election: a clock moved by hand and an in-memory Lease
// store that behaves like the API server (a global revision, compare-and-swap,
// 404/409) and can be told to fail, answer late, or lose answers.
// Not thread-safe: the tests drive everything from one thread.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <optional>

#include "election/clock.h"
#include "election/lease_store.h"
#include "kube/renewal_method.h"

namespace leasehold::testing {

using election::Duration;
using election::LeaseRecord;
using election::SteadyTime;
using election::StoreError;
using election::StoreResult;
using election::WallTime;

// The real clocks, for tests of components that run on real time (sockets, processes).
inline const election::SystemClock system_clock;

class FakeClock final : public election::Clock {
 public:
  SteadyTime steady_now() const override { return steady_; }
  WallTime wall_now() const override { return wall_; }
  void advance(Duration d) {
    steady_ += d;
    wall_ += d;
  }
  // Steps the wall clock only, as NTP or an operator would.
  void step_wall(Duration d) { wall_ += d; }

 private:
  SteadyTime steady_{std::chrono::hours(1000)};
  WallTime wall_{std::chrono::sys_days{std::chrono::year{2026} / 11 / 26}};
};

// The shared state of one Lease, as the API server holds it.
struct FakeApiServer {
  std::optional<LeaseRecord> lease;
  std::uint64_t revision = 100;
  int writes = 0;

  LeaseRecord& commit(LeaseRecord record) {
    record.resource_version = std::to_string(++revision);
    ++writes;
    lease = record;
    return *lease;
  }
  void remove() {
    ++revision;
    lease.reset();
  }
};

// One agent's connection to the FakeApiServer.
class FakeLeaseStore final : public election::LeaseStore {
 public:
  FakeLeaseStore(FakeApiServer& server, FakeClock& clock) : server_(server), clock_(clock) {}

  // The next calls fail with these errors (nothing is written).
  std::deque<StoreError> fail_next;
  std::optional<Duration> retry_after;
  // Every call takes this long; a write lands at once, its answer arrives after
  // the latency (a slow but successful request), or not at all past the deadline.
  Duration latency{0};
  // Like a network partition: every call hangs until its deadline.
  bool partitioned = false;
  // Another writer changes the Lease just before each of the next N updates
  // (and guarded renewals).
  int interfering_writes = 0;
  // renew() as leasehold's LeaseClient does it: through kube::RenewalMethod, with a JSON patch
  // whose tests guard the term, written when the term's fields equal expected's whatever the
  // resourceVersion; a failed test is answered 422, as the API server does. When the method
  // gives the patch up, guarded_renew turns off. Off: renew() is the default, a
  // compare-and-swap update.
  bool guarded_renew = false;
  // The server reads the patch's test values differently from how they were
  // written: every test fails, even on an unchanged Lease.
  bool patch_tests_fail = false;
  int patch_tests_failed = 0;   // 422 answers so far
  int renewed_by_patch = 0;     // renewals written by the patch
  int patching_turned_off = 0;  // 422s on an unchanged Lease, settled by an update
  int calls = 0;

  StoreResult get(SteadyTime deadline) override {
    return run(deadline, [&]() -> StoreResult {
      if (!server_.lease) return {StoreError::kNotFound, std::nullopt, {}, "404"};
      return {StoreError::kNone, server_.lease, {}, {}};
    });
  }
  StoreResult create(const LeaseRecord& record, SteadyTime deadline) override {
    return run(deadline, [&]() -> StoreResult {
      if (server_.lease) return {StoreError::kAlreadyExists, std::nullopt, {}, "409"};
      return {StoreError::kNone, server_.commit(record), {}, {}};
    });
  }
  StoreResult update(const LeaseRecord& record, SteadyTime deadline) override {
    return run(deadline, [&]() -> StoreResult {
      if (!server_.lease) return {StoreError::kNotFound, std::nullopt, {}, "404"};
      interfere();
      if (server_.lease->resource_version != record.resource_version) {
        return {StoreError::kConflict, std::nullopt, {}, "409"};
      }
      return {StoreError::kNone, server_.commit(record), {}, {}};
    });
  }
  StoreResult renew(const LeaseRecord& expected, const LeaseRecord& record, SteadyTime deadline) override {
    if (!guarded_renew) return update(record, deadline);
    if (!method_) method_ = std::make_unique<kube::RenewalMethod>();
    using kube::RenewalMethod;
    const auto patch = [&]() -> RenewalMethod::PatchOutcome {
      bool test_failed = false;
      StoreResult patched = run(deadline, [&]() -> StoreResult {
        if (!server_.lease) return {StoreError::kNotFound, std::nullopt, {}, "404"};
        interfere();
        const LeaseRecord& now = *server_.lease;
        if (patch_tests_fail || now.holder_identity != expected.holder_identity ||
            now.lease_transitions != expected.lease_transitions || now.acquire_time != expected.acquire_time ||
            now.renew_time != expected.renew_time) {
          test_failed = true;
          return {StoreError::kInvalidResponse, std::nullopt, {}, "422: a test failed"};
        }
        LeaseRecord renewed = now;
        renewed.renew_time = record.renew_time;
        renewed.lease_duration_seconds = record.lease_duration_seconds;
        ++renewed_by_patch;
        return {StoreError::kNone, server_.commit(renewed), {}, {}};
      });
      if (test_failed) {
        ++patch_tests_failed;
        return {RenewalMethod::PatchAnswer::kTestFailed, {}};
      }
      return {RenewalMethod::PatchAnswer::kAnswered, std::move(patched)};
    };
    StoreResult result = method_->renew(patch, [&] { return update(record, deadline); });
    if (!method_->patching()) {
      guarded_renew = false;
      method_.reset();
      ++patching_turned_off;
    }
    return result;
  }

 private:
  StoreResult run(SteadyTime deadline, const std::function<StoreResult()>& call) {
    ++calls;
    if (partitioned) {
      if (clock_.steady_now() < deadline) clock_.advance(deadline - clock_.steady_now());
      return {StoreError::kTimeout, std::nullopt, {}, "deadline"};
    }
    if (!fail_next.empty()) {
      StoreError error = fail_next.front();
      fail_next.pop_front();
      return {error, std::nullopt, retry_after, "injected"};
    }
    StoreResult result = call();
    if (latency > Duration::zero()) {
      if (clock_.steady_now() + latency > deadline) {
        clock_.advance(std::max(Duration::zero(), deadline - clock_.steady_now()));
        return {StoreError::kTimeout, std::nullopt, {}, "deadline"};
      }
      clock_.advance(latency);
    }
    return result;
  }

  // Another writer's change (an annotation, say): same fields, a new resourceVersion.
  void interfere() {
    if (interfering_writes <= 0 || !server_.lease) return;
    --interfering_writes;
    LeaseRecord same = *server_.lease;
    server_.commit(same);
  }

  FakeApiServer& server_;
  FakeClock& clock_;
  std::unique_ptr<kube::RenewalMethod> method_;
};

// The release a holder writes of its own term (as Elector::release does).
inline LeaseRecord released_by_holder(const LeaseRecord& term) {
  LeaseRecord r = term;
  r.holder_identity.clear();
  r.lease_duration_seconds = 1;
  r.release_marker = election::release_marker(term.holder_identity, term.lease_transitions);
  return r;
}

}  // namespace leasehold::testing
