#include "election/elector.h"

#include <algorithm>
#include <charconv>
#include <limits>

namespace leasehold::election {
namespace {

using std::chrono::seconds;

bool is_newer(const std::optional<std::uint64_t>& candidate, const std::optional<std::uint64_t>& known) {
  // Without numeric revisions on both sides we cannot order views: take the new one.
  if (!candidate || !known) return true;
  return *candidate > *known;
}

}  // namespace

std::optional<std::uint64_t> revision_of(const std::string& resource_version) {
  std::uint64_t value = 0;
  const char* begin = resource_version.data();
  const char* end = begin + resource_version.size();
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (resource_version.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

std::string release_marker(const std::string& identity, int lease_transitions) {
  return std::to_string(lease_transitions) + "/" + identity;
}

const char* to_string(StoreError error) {
  switch (error) {
    case StoreError::kNone: return "ok";
    case StoreError::kNotFound: return "not_found";
    case StoreError::kConflict: return "conflict";
    case StoreError::kAlreadyExists: return "already_exists";
    case StoreError::kTimeout: return "timeout";
    case StoreError::kUnauthorized: return "unauthorized";
    case StoreError::kForbidden: return "forbidden";
    case StoreError::kTooManyRequests: return "too_many_requests";
    case StoreError::kServerError: return "server_error";
    case StoreError::kNetwork: return "network";
    case StoreError::kInvalidResponse: return "invalid_response";
    case StoreError::kRateLimited: return "rate_limited";
  }
  return "unknown";
}

Elector::Elector(std::string identity, ElectionTimings timings, const Clock& clock, LeaseStore& store,
                 ElectionObserver* observer)
    : identity_(std::move(identity)), timings_(timings), clock_(clock), store_(store), observer_(observer) {}

SteadyTime Elector::step() {
  SteadyTime now = clock_.steady_now();
  if (stopped_) return now + timings_.retry_period;
  if (leading_ && !demote_if_overdue(now) && now >= std::max(next_renew_, retry_after_until_)) {
    renew(now);
    // A renew that failed at its deadline must not leave the claim standing
    // until the next step.
    if (leading_) demote_if_overdue(clock_.steady_now());
  }
  if (!leading_ && !stopped_) follower_step(clock_.steady_now());
  return next_wake(clock_.steady_now());
}

SteadyTime Elector::next_wake(SteadyTime now) const {
  // Wake at least every retry period: it costs no I/O and keeps the loop's
  // heartbeat (healthz) fresh.
  SteadyTime wake = now + timings_.retry_period;
  auto earlier = [&](SteadyTime t) { wake = std::min(wake, std::max(t, now)); };
  if (leading_) {
    earlier(std::max(next_renew_, retry_after_until_));
    earlier(valid_until_);
    earlier(last_renew_send_ + timings_.renew_deadline);
    return wake;
  }
  if (stopped_) return wake;
  if (!observed_ || !watch_healthy_) earlier(std::max(next_poll_, retry_after_until_));
  if (observed_ && eligible_) {
    const bool released = released_for_taking() && !standing_back_for_successor();
    SteadyTime due = cached_ ? (released ? now : observed_change_at_ + effective_lease_duration()) : create_not_before_;
    earlier(std::max({due, next_attempt_, named_successor() ? SteadyTime{} : stand_back_until_, retry_after_until_}));
  }
  return wake;
}

void Elector::renew(SteadyTime now) {
  const SteadyTime send = now;
  const SteadyTime deadline =
      std::min({valid_until_, last_renew_send_ + timings_.renew_deadline, send + timings_.request_timeout});
  // Leading implies a cached Lease: the term began with a write that returned it.
  StoreResult result = store_.renew(*cached_, claim_record(false), deadline);
  // Someone else wrote the Lease (the store's renew could not tell a harmless
  // annotation from a take-over): re-read, and renew again while it still
  // names us, until this renew's deadline, so that even a fast writer cannot
  // starve the renewals (the client's rate limit bounds the pace).
  while (result.error == StoreError::kConflict) {
    record_failure("renew", result);
    StoreResult fresh = store_.get(deadline);
    absorb(fresh, "get");
    if (!leading_) return;
    if (!fresh.ok() || clock_.steady_now() >= deadline) {
      if (observer_) observer_->on_renew(false, clock_.steady_now() - send);
      next_renew_ = std::max(send + timings_.retry_period, clock_.steady_now());
      return;
    }
    result = store_.renew(*cached_, claim_record(false), deadline);
  }
  SteadyTime answered = clock_.steady_now();
  if (observer_) observer_->on_renew(result.ok(), answered - send);
  if (result.ok()) {
    accept_renew(send, *result.record);
    return;
  }
  record_failure("renew", result);
  if (result.error == StoreError::kNotFound) {
    observe_absent(std::nullopt);
    return;
  }
  // A Retry-After is recorded in retry_after_until_; the demotion deadlines in step() still apply.
  next_renew_ = answered + timings_.retry_period;
}

void Elector::follower_step(SteadyTime now) {
  if (adopt_unanswered_claim(now)) return;
  if (now < retry_after_until_) return;
  if (!observed_ || (!watch_healthy_ && now >= next_poll_)) poll(now);
  now = clock_.steady_now();
  if (adopt_unanswered_claim(now)) return;
  if (!eligible_ || !observed_ || now < next_attempt_ || now < retry_after_until_) return;
  const bool due = cached_ ? may_acquire(now) : now >= create_not_before_ && now >= stand_back_until_;
  if (due) try_claim(now);
}

void Elector::poll(SteadyTime now) {
  StoreResult result = store_.get(now + timings_.request_timeout);
  next_poll_ = clock_.steady_now() + timings_.retry_period;
  absorb(result, "get");
}

void Elector::absorb(const StoreResult& result, std::string_view operation) {
  if (result.ok()) {
    observe(*result.record);
  } else if (result.error == StoreError::kNotFound) {
    observe_absent(std::nullopt);
  } else {
    record_failure(operation, result);
  }
}

bool Elector::standing_back_for_successor() const {
  return cached_ && !cached_->preferred_holder.empty() && cached_->preferred_holder != identity_;
}

bool Elector::released_for_taking() const {
  return cached_ && cached_->holder_identity.empty() && !cached_->unreadable &&
         (release_verified_ || trust_unmarked_releases_);
}

bool Elector::is_own_release(const LeaseRecord& next) const {
  if (!next.holder_identity.empty() || next.unreadable || next.release_marker.empty() || !cached_) return false;
  const LeaseRecord& before = *cached_;
  if (before.lease_transitions != next.lease_transitions) return false;
  // Seen held just before: the marker must name that holder and its term.
  if (!before.holder_identity.empty()) {
    return next.release_marker == release_marker(before.holder_identity, before.lease_transitions);
  }
  // Seen released just before (another writer touched the record since, e.g.
  // an annotation): still the same release.
  return release_verified_ && before.release_marker == next.release_marker;
}

bool Elector::is_our_term(const LeaseRecord& record) const {
  return terms_led_ > 0 && !record.unreadable && record.holder_identity == identity_ &&
         record.acquire_time == term_acquire_time_ && record.lease_transitions == term_transitions_;
}

bool Elector::named_successor() const {
  return cached_ && released_for_taking() && cached_->preferred_holder == identity_;
}

bool Elector::may_acquire(SteadyTime now) const {
  // Named as the successor, the latest word: it overrides this agent's standing back from a
  // resign of its own, which would otherwise leave the election without a leader for a lease
  // duration (the others stand back for it).
  if (!cached_ || (now < stand_back_until_ && !named_successor())) return false;
  if (released_for_taking()) {
    // Released by its holder: at once, unless handed to someone else, who
    // gets one lease duration to take it before anyone may.
    return !standing_back_for_successor() || now >= observed_change_at_ + effective_lease_duration();
  }
  // Anything else, including a holder emptied by someone other than the
  // holder (who may still be claiming) and our own identity in the record
  // (a previous process with the same --identity, whose term we must not
  // resume), waits for the record to stand still for a full lease duration.
  return now >= observed_change_at_ + effective_lease_duration();
}

Duration Elector::effective_lease_duration() const {
  Duration stored = cached_ ? seconds(cached_->lease_duration_seconds) : Duration::zero();
  // The longer of the two: honours a holder that asked for more, and a record
  // edited to a shorter duration cannot make us take over early.
  return std::max(stored, timings_.lease_duration);
}

LeaseRecord Elector::claim_record(bool new_term) const {
  LeaseRecord record = cached_.value_or(LeaseRecord{});
  const WallTime now = clock_.wall_now();
  record.holder_identity = identity_;
  record.lease_duration_seconds =
      static_cast<int>(std::chrono::duration_cast<seconds>(timings_.lease_duration).count());
  record.renew_time = now;
  if (new_term) {
    record.preferred_holder.clear();
    record.release_marker.clear();
    record.resign_requested = false;
    record.unreadable = false;
    record.acquire_time = now;
    // The API server stores an int32; wrap rather than overflow (the count is
    // informational: the fencing token is the revision).
    const int before = cached_ ? cached_->lease_transitions : -1;
    record.lease_transitions = before == std::numeric_limits<int>::max() ? 0 : before + 1;
  }
  return record;
}

void Elector::try_claim(SteadyTime now) {
  // Absent: create (no resourceVersion); present: compare-and-swap on the version we observed.
  const bool create = !cached_;
  const SteadyTime deadline = now + timings_.request_timeout;
  const LeaseRecord claim = claim_record(true);
  const StoreResult result = create ? store_.create(claim, deadline) : store_.update(claim, deadline);
  if (result.ok()) {
    start_term(now, *result.record);
    return;
  }
  record_failure(create ? "create" : "update", result);
  switch (result.error) {
    // Answers that say nothing was written, or a request that never left.
    case StoreError::kConflict:
    case StoreError::kAlreadyExists:
    case StoreError::kNotFound:
    case StoreError::kUnauthorized:
    case StoreError::kForbidden:
    case StoreError::kTooManyRequests:
    case StoreError::kRateLimited: break;
    default: unanswered_claim_ = UnansweredClaim{*claim.acquire_time, claim.lease_transitions, now};
  }
  const SteadyTime answered = clock_.steady_now();
  next_attempt_ = answered + timings_.retry_period;
  if (result.error == StoreError::kAlreadyExists || result.error == StoreError::kConflict) {
    // Our view was stale: the fresh record decides, and restarts the expiry wait if it changed.
    next_attempt_ = answered;
    absorb(store_.get(answered + timings_.request_timeout), "get");
  } else if (result.error == StoreError::kNotFound) {
    observe_absent(std::nullopt);
  }
}

bool Elector::is_unanswered_claim(const LeaseRecord& record) const {
  using std::chrono::microseconds;
  using std::chrono::time_point_cast;
  // The API server keeps acquireTime to the microsecond.
  return unanswered_claim_ && !record.unreadable && record.holder_identity == identity_ && record.acquire_time &&
         time_point_cast<microseconds>(*record.acquire_time) ==
             time_point_cast<microseconds>(unanswered_claim_->acquire_time) &&
         record.lease_transitions == unanswered_claim_->lease_transitions;
}

bool Elector::adopt_unanswered_claim(SteadyTime now) {
  if (leading_ || stopped_ || !eligible_ || !cached_ || !is_unanswered_claim(*cached_)) return false;
  // Past the renew deadline counted from the send, the term would end as it begins: the record
  // stays as it is (released at shutdown, or taken with a new term once it has stood still).
  if (now >= unanswered_claim_->sent + timings_.renew_deadline) return false;
  start_term(unanswered_claim_->sent, *cached_);
  return leading_;
}

void Elector::start_term(SteadyTime send_time, const LeaseRecord& record) {
  observe(record);
  if (record.unreadable || record.holder_identity != identity_) return;  // not a term we can stand on
  unanswered_claim_.reset();
  term_acquire_time_ = record.acquire_time;
  term_transitions_ = record.lease_transitions;
  leading_ = true;
  ++terms_led_;
  fencing_token_ = revision_of(record.resource_version).value_or(0);
  accept_renew(send_time, record);
  if (observer_) observer_->on_started_leading(state());
}

void Elector::accept_renew(SteadyTime send_time, const LeaseRecord& record) {
  observe(record);
  if (!leading_) return;  // observe() saw a newer foreign record
  last_renew_send_ = send_time;
  valid_until_ = send_time + timings_.lease_duration - timings_.safety_margin;
  next_renew_ = std::max(send_time + timings_.retry_period, clock_.steady_now());
}

bool Elector::demote_if_overdue(SteadyTime now) {
  if (now >= valid_until_) {
    demote("lease validity ran out");
  } else if (now >= last_renew_send_ + timings_.renew_deadline) {
    demote("renew deadline passed");
  }
  return !leading_;
}

void Elector::demote(std::string_view reason) {
  if (!leading_) return;
  leading_ = false;
  fencing_token_ = 0;
  valid_until_ = {};
  if (observer_) observer_->on_stopped_leading(reason);
}

void Elector::observe(const LeaseRecord& record) {
  const auto revision = revision_of(record.resource_version);
  if (observed_ && newest_revision_ && !is_newer(revision, newest_revision_)) return;
  if (observed_ && cached_ && *cached_ == record) return;
  const bool holder_changed = !cached_ || cached_->holder_identity != record.holder_identity;
  const bool own_release = observed_ && is_own_release(record);
  observed_ = true;
  cached_ = record;
  release_verified_ = own_release;
  if (revision) newest_revision_ = revision;
  observed_change_at_ = clock_.steady_now();
  observed_change_wall_ = clock_.wall_now();
  // Published (through the observer) before anything else happens, also
  // before the rest of a step's requests.
  if (leading_ && !is_our_term(record)) {
    demote(record.unreadable                     ? "the lease can no longer be read"
           : record.holder_identity != identity_ ? "another holder took the lease"
                                                 : "another process with this identity began a new term");
  }
  if (holder_changed && observer_) observer_->on_leader_observed(record.holder_identity);
}

void Elector::observe_absent(std::optional<std::uint64_t> deletion_revision) {
  if (observed_ && !cached_) return;
  if (observed_ && deletion_revision && newest_revision_ && *deletion_revision <= *newest_revision_) return;
  const SteadyTime now = clock_.steady_now();
  if (!observed_) {
    // We know nothing of the Lease's history: a deleted Lease may still be
    // held by a leader cut off from the API server, so wait out one term.
    create_not_before_ = now + timings_.lease_duration;
  } else if (leading_) {
    // We held it and have stopped claiming: nobody else can lead before our
    // old term ends, so we may re-create it at once (a new term, a new token).
    demote("the lease was deleted");
    create_not_before_ = now;
  } else if (released_for_taking()) {
    create_not_before_ = now;
  } else {
    create_not_before_ = observed_change_at_ + effective_lease_duration();
  }
  const bool had_holder = cached_ && !cached_->holder_identity.empty();
  observed_ = true;
  cached_.reset();
  if (deletion_revision) newest_revision_ = deletion_revision;
  observed_change_at_ = now;
  observed_change_wall_ = clock_.wall_now();
  if (had_holder && observer_) observer_->on_leader_observed("");
}

void Elector::stop_claiming(std::string_view reason) {
  demote(reason);
  stopped_ = true;
}

bool Elector::resign(SteadyTime deadline, const std::string& successor, bool stand_back) {
  if (!leading_) return false;
  demote(successor.empty() ? "resigned" : "resigned in favour of " + successor);
  if (stand_back) stand_back_until_ = clock_.steady_now() + timings_.lease_duration;
  release_to(deadline, successor);
  return true;
}

bool Elector::release_to(SteadyTime deadline, const std::string& successor) {
  // Bounded attempts as well as time: transient errors (the API server
  // restarting) are retried, but never in a tight loop.
  for (int attempt = 0; attempt < 20 && clock_.steady_now() < deadline; ++attempt) {
    // Never another process's term, even under our identity.
    if (!cached_ || !(is_our_term(*cached_) || is_unanswered_claim(*cached_))) return true;
    LeaseRecord record = *cached_;
    const WallTime now = clock_.wall_now();
    record.preferred_holder = successor;
    // Proof for followers that the holder itself ended the term, after it
    // stopped claiming; an operator's resign request is answered by it.
    record.release_marker = release_marker(identity_, record.lease_transitions);
    record.resign_requested = false;
    record.holder_identity.clear();
    record.lease_duration_seconds = 1;
    record.acquire_time = now;
    record.renew_time = now;
    StoreResult result = store_.update(record, deadline);
    if (result.ok()) {
      observe(*result.record);
      return true;
    }
    record_failure("update", result);
    if (result.error == StoreError::kForbidden || result.error == StoreError::kInvalidResponse) return false;
    if (result.error != StoreError::kConflict && result.error != StoreError::kNotFound) continue;
    absorb(store_.get(deadline), "get");
  }
  return false;
}

void Elector::record_failure(std::string_view operation, const StoreResult& result) {
  if (result.error == StoreError::kTooManyRequests && result.retry_after) {
    // An overloaded server asked us to wait: polls, claims and renewals do, but never
    // longer than one lease duration, after which a record left unchanged
    // could be claimed anyway. A leader stops claiming at its renew deadline
    // (shorter) whatever it waits for.
    const SteadyTime until = clock_.steady_now() + std::min(*result.retry_after, timings_.lease_duration);
    retry_after_until_ = std::max(retry_after_until_, until);
  }
  if (observer_ && !result.ok()) observer_->on_store_error(operation, result);
}

ElectionState Elector::state() const {
  ElectionState s;
  s.leading = leading_;
  s.valid_until = valid_until_;
  s.fencing_token = fencing_token_;
  s.observed = observed_;
  s.terms_led = terms_led_;
  if (cached_) {
    s.lease_exists = true;
    s.leader = cached_->holder_identity;
    s.acquired_at = cached_->acquire_time;
    s.renewed_at = cached_->renew_time;
    s.lease_duration_seconds = cached_->lease_duration_seconds;
    s.lease_transitions = cached_->lease_transitions;
    s.resign_requested = leading_ && cached_->resign_requested;
  }
  if (observed_) s.observed_at = observed_change_wall_;
  return s;
}

}  // namespace leasehold::election
