// Elector: the leader-election state machine for one Lease. Pure logic: it
// reads time from a Clock and talks to the Lease only through a LeaseStore, so
// tests drive it step by step with a fake clock and an in-memory store.
//
// The rule it keeps (see docs/contract.md): a leader claims leadership only
// until (send time of its last successful write) + lease-duration -
// safety-margin on the monotonic clock; a follower takes over only when the
// record has not changed for max(the record's leaseDurationSeconds, our own
// lease-duration) on its monotonic clock, and always by compare-and-swap on the
// resourceVersion it observed. A restarted agent never resumes an old term.
//
// Thread-safety: none. One thread (the election loop) owns an Elector and
// makes every call; other threads see its state through a published snapshot.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "election/clock.h"
#include "election/lease_record.h"
#include "election/lease_store.h"
#include "election/timings.h"

namespace leasehold::election {

// What publishers need to know, as of the last call into the Elector.
struct ElectionState {
  bool leading = false;             // this process holds a term; see valid_until
  SteadyTime valid_until{};         // leading only: the claim ends here whatever happens
  std::uint64_t fencing_token = 0;  // leading only: revision of the write that began the term
  std::string leader;               // holder identity as last observed, "" for none
  bool lease_exists = false;
  bool observed = false;                // the Lease (or its absence) has been observed at least once
  std::optional<WallTime> acquired_at;  // the holder's acquireTime, from the Lease
  std::optional<WallTime> renewed_at;   // the holder's renewTime, from the Lease
  std::optional<WallTime> observed_at;  // local wall time of the last observed change
  int lease_duration_seconds = 0;
  int lease_transitions = 0;
  std::uint64_t terms_led = 0;  // terms this process has begun
  // Leading, and the Lease carries an operator's request to resign.
  bool resign_requested = false;
};

// Hooks for metrics and logs. Called on the election thread; must not block.
class ElectionObserver {
 public:
  virtual ~ElectionObserver() = default;
  virtual void on_started_leading(const ElectionState&) {}
  virtual void on_stopped_leading(std::string_view /*reason*/) {}
  virtual void on_leader_observed(const std::string& /*identity*/) {}
  // A renew round trip: success or not, and its latency from send to answer.
  virtual void on_renew(bool /*success*/, Duration /*latency*/) {}
  // Any store call that did not succeed, including expected conflicts.
  virtual void on_store_error(std::string_view /*operation*/, const StoreResult&) {}
};

class Elector {
 public:
  Elector(std::string identity, ElectionTimings timings, const Clock& clock, LeaseStore& store,
          ElectionObserver* observer = nullptr);

  // Does whatever is due now (renew, poll, acquire, demote). Returns the time
  // by which it must be called again at the latest.
  SteadyTime step();

  // A fresh view of the Lease from outside (the watch). Older views than the
  // one already held are ignored.
  void observe(const LeaseRecord& record);
  // The Lease is gone; deletion_revision orders it against other views.
  void observe_absent(std::optional<std::uint64_t> deletion_revision);

  // While the watch is healthy the follower does not poll.
  void set_watch_healthy(bool healthy) { watch_healthy_ = healthy; }
  // While false a follower does not try to take or create the Lease (its app
  // is unhealthy); it still observes and polls. A leader is not affected.
  void set_eligible(bool eligible) { eligible_ = eligible; }

  // Off (the default): a Lease whose holder was emptied is taken at once only
  // when the release carries the marker of the term this agent saw just
  // before; any other release (an operator's patch, a controller, a client-go
  // elector's ReleaseOnCancel) is waited out for one lease duration, since its
  // holder may still be claiming. On: every release is taken at once, for
  // deployments whose other candidates stop claiming before they release.
  void trust_unmarked_releases(bool trust) { trust_unmarked_releases_ = trust; }

  // Stops claiming at once and for good (shutdown, resign).
  void stop_claiming(std::string_view reason);

  // After stop_claiming: hands the Lease back (empty holder,
  // leaseDurationSeconds 1) if the record still names us, retrying conflicts
  // until the deadline. Returns true when released or nothing to release.
  bool release(SteadyTime deadline) { return release_to(deadline, ""); }

  // Steps down and releases, naming `successor` (may be empty) as the
  // preferred holder; this agent then stands back for one lease duration so
  // that another candidate takes over. Stays in the election afterwards.
  // Returns false when not leading. stand_back: false for a shard of a sharded election, whose
  // placement already keeps this member from claiming a shard placed elsewhere, and lets it
  // claim at once a shard placed back on it.
  bool resign(SteadyTime deadline, const std::string& successor, bool stand_back = true);

  ElectionState state() const;

 private:
  void renew(SteadyTime now);
  void follower_step(SteadyTime now);
  void poll(SteadyTime now);
  void try_claim(SteadyTime now);
  void start_term(SteadyTime send_time, const LeaseRecord& record);
  void accept_renew(SteadyTime send_time, const LeaseRecord& record);
  void demote(std::string_view reason);
  bool demote_if_overdue(SteadyTime now);
  void absorb(const StoreResult& result, std::string_view operation);
  bool may_acquire(SteadyTime now) const;
  bool standing_back_for_successor() const;
  // The Lease was released naming this agent as its preferred holder.
  bool named_successor() const;
  // The cached record is a release that may be taken at once.
  bool released_for_taking() const;
  // Whether `next` (holder emptied) is the release, by its own holder, of the
  // term in the record observed just before it.
  bool is_own_release(const LeaseRecord& next) const;
  // Whether `record` still shows the term this process began.
  bool is_our_term(const LeaseRecord& record) const;
  // Whether `record` is, unchanged, the claim whose answer never came.
  bool is_unanswered_claim(const LeaseRecord& record) const;
  // A claim whose answer never came that landed: begins its term when there is still time.
  bool adopt_unanswered_claim(SteadyTime now);
  Duration effective_lease_duration() const;
  LeaseRecord claim_record(bool new_term) const;
  SteadyTime next_wake(SteadyTime now) const;
  // Every failed store call passes here: counted for the observer, and a 429's
  // Retry-After recorded in retry_after_until_.
  void record_failure(std::string_view operation, const StoreResult& result);
  bool release_to(SteadyTime deadline, const std::string& successor);

  const std::string identity_;
  const ElectionTimings timings_;
  const Clock& clock_;
  LeaseStore& store_;
  ElectionObserver* observer_;

  // What we know of the Lease.
  bool observed_ = false;
  std::optional<LeaseRecord> cached_;  // nullopt: absent (once observed_)
  std::optional<std::uint64_t> newest_revision_;
  SteadyTime observed_change_at_{};  // monotonic time of the last observed change
  WallTime observed_change_wall_{};
  SteadyTime create_not_before_{};  // when absent: earliest create
  bool watch_healthy_ = false;
  bool eligible_ = true;
  SteadyTime next_poll_{};
  SteadyTime next_attempt_{};       // follower's backoff after a failed write
  SteadyTime retry_after_until_{};  // no poll, claim or renewal before: a 429's Retry-After, at most one LD
  SteadyTime stand_back_until_{};   // after resigning: leave the Lease to others
  bool release_verified_ = false;   // the cached record is a release its own holder wrote
  bool trust_unmarked_releases_ = false;

  // Our term.
  bool leading_ = false;
  bool stopped_ = false;
  std::uint64_t fencing_token_ = 0;
  std::uint64_t terms_led_ = 0;
  // The term this process began, as the API server stored it: a record with
  // our identity but another acquireTime or leaseTransitions is someone
  // else's term (another process started with the same --identity).
  std::optional<WallTime> term_acquire_time_;
  int term_transitions_ = 0;
  SteadyTime valid_until_{};
  SteadyTime last_renew_send_{};
  SteadyTime next_renew_{};

  // The last claim whose answer never came (a timeout, a broken connection, a 5xx): the API
  // server may have written it. A record that shows it unchanged is this process's write (no
  // other process writes that acquireTime and leaseTransitions under this identity), so it is
  // taken up as a term counted from the claim's send time, as an answered claim would be, or
  // released at shutdown; otherwise it would stand unclaimed for a lease duration, and outlive
  // an agent stopped meanwhile.
  struct UnansweredClaim {
    WallTime acquire_time;
    int lease_transitions = 0;
    SteadyTime sent{};
  };
  std::optional<UnansweredClaim> unanswered_claim_;
};

}  // namespace leasehold::election
