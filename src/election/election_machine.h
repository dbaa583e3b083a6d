// ElectionMachine: everything one election decides, as a state machine driven
// by events. It owns the Elector (the Lease: renew, poll, claim, demote) and
// the Handoff (resign, stop, the app's acknowledgement), feeds both what
// happened and carries out what they decide. Pure logic: time comes from a
// Clock, the Lease from a LeaseStore, and everything it tells the world goes
// through an ElectionOutlet and an AckSource; it has no thread and does no I/O
// of its own, so tests drive every decision path step by step on a fake clock.
//
// The runtime feeds it: apply() for each event, then turn() once the events
// at hand are applied, and again by the wake time turn() returns. A claim
// that ends is published through the outlet (or the Elector's observer)
// before any further request to the API server.
//
// Thread-safety: none. One thread at a time drives a machine (the event loop
// serialises each election's events); the outlet is called on that thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "election/clock.h"
#include "election/elector.h"
#include "election/handoff.h"
#include "election/lease_record.h"
#include "election/lease_store.h"
#include "election/timings.h"

namespace leasehold::election {

// What happened, as the machine takes it in.
namespace event {
// The watch (or anyone else outside the Elector's own requests) saw the Lease.
struct LeaseObserved {
  LeaseRecord record;
};
// The Lease is gone; the deletion's revision orders it against other views.
struct LeaseDeleted {
  std::optional<std::uint64_t> revision;
};
// The watch is streaming (the follower need not poll) or not.
struct WatchState {
  bool healthy = false;
};
// POST /v1/resign[?to=]: step down through the handoff, naming a successor or not.
struct ResignRequested {
  std::string successor;
};
// The app acknowledged a handoff (POST /v1/ack).
struct Acknowledged {};
// SIGTERM/SIGINT: stop claiming, hand off, release, end.
struct ShutdownRequested {};
// The app's health changed (health checking on). healthy is false only when
// the app is unhealthy (not while its health is still unknown): a leader then
// resigns. eligible: whether this replica may take the Lease.
struct AppHealthChanged {
  bool healthy = false;
  bool eligible = false;
};
// A shard of a sharded election was placed (election/shard_planner.h). eligible: whether this
// member may take the shard's Lease (it is the shard's rightful owner, or the shard has been
// without a live holder for the vacancy grace). owner: the rightful owner's identity, empty while
// no member is known; a leader that is not the owner hands the shard to it through the handoff.
struct PlacementChanged {
  bool eligible = false;
  std::string owner;
};
}  // namespace event

using MachineEvent =
    std::variant<event::LeaseObserved, event::LeaseDeleted, event::WatchState, event::ResignRequested,
                 event::Acknowledged, event::ShutdownRequested, event::AppHealthChanged, event::PlacementChanged>;

// Something the machine did that an operator wants to read in the log.
struct MachineNote {
  enum class Kind {
    kResignAsked,   // the Lease carries an operator's resign request
    kSteppingDown,  // a handoff began: no longer claiming (reason, successor)
    kHandoffEnded,  // acknowledged, timed out or the Lease lost (ended), and the handoff's reason
    kShardMoving,   // a shard leader is not the shard's rightful owner: it hands it over (successor)
  };
  Kind kind;
  Handoff::Reason reason = Handoff::Reason::kResign;
  std::string successor;
  std::optional<Handoff::Ended> ended;
};

// What the machine tells the world; every call on the machine's thread.
class ElectionOutlet {
 public:
  virtual ~ElectionOutlet() = default;
  // From now on nothing reads as leader, on any channel, until resume_claiming()
  // (a resign) or for good (a stop). Before any other I/O.
  virtual void stop_claiming_now() = 0;
  // A resign is done: answers may read as leader again when a later term begins.
  virtual void resume_claiming() = 0;
  // The Elector's state after a turn (renewals, the observed leader).
  virtual void publish() = 0;
  // The machine is alive (liveness: /healthz).
  virtual void heartbeat() = 0;
  virtual void note(const MachineNote& note) = 0;
  // An internal error: stop claiming on every channel, each tried on its own.
  virtual void abandon() noexcept = 0;
  // Called once after abandon() and the release attempt, inside the handler
  // where `what` still lives (copying it could fail the same way: out of
  // memory). In the agent it ends the process (exit 70) and does not return.
  virtual void failed(std::string_view what) noexcept = 0;
};

// The files by which the app acknowledges a handoff.
class AckSource {
 public:
  virtual ~AckSource() = default;
  virtual bool present() const = 0;
  virtual void clear() = 0;
};

struct MachineSettings {
  std::string identity;
  ElectionTimings timings;
  Duration handoff_timeout{};  // 0: release at once
  Duration release_timeout{};  // the bound of a release's retries
  bool trust_unmarked_release = false;
  // Health checking on and not yet passed: a follower does not claim.
  bool initially_eligible = true;
  // A shard of a sharded election: a follower does not claim until a PlacementChanged makes it
  // eligible.
  bool sharded = false;
};

class ElectionMachine {
 public:
  // observer: the Elector's (metrics, and the publisher that must see a
  // demotion at once); may be null.
  ElectionMachine(MachineSettings settings, const Clock& clock, LeaseStore& store, ElectionObserver* observer,
                  ElectionOutlet& outlet, AckSource& acks);

  // Takes in one event. Does the I/O the event itself calls for (a release
  // on a stop while not leading); everything else waits for turn().
  void apply(const MachineEvent& event);

  struct Turn {
    SteadyTime wake_at{};  // call turn() again by then at the latest
    bool ended = false;    // the machine is done: nothing more to call
  };
  // Does what is due now: the handoff, the Elector's step, the publishing.
  Turn turn();

  bool ended() const { return ended_; }
  // Ended by a stop: whether the Lease was released (or nothing needed it).
  bool released() const { return released_; }
  // Ended by an internal error.
  bool failed() const { return failed_; }
  // A handoff waits for the app's acknowledgement (POST /v1/ack answers 202).
  bool awaiting_ack() const { return handoff_.active() && !ended_; }
  bool stopping() const { return stopping_; }

  const Elector& elector() const { return elector_; }
  ElectionState state() const { return elector_.state(); }

 private:
  void apply_event(const MachineEvent& event);
  Turn turn_once();
  void resign(const std::string& successor);
  // Carries out the handoff's decision.
  void carry_out(const Handoff::Decision& decision);
  void fail(std::string_view what) noexcept;
  // The Elector may claim only when both the app's health and the shard's placement allow it.
  void update_eligibility();
  // A shard leader that is not the shard's rightful owner hands it to the owner.
  bool should_move_shard() const;

  const MachineSettings settings_;
  const Clock& clock_;
  ElectionOutlet& outlet_;
  AckSource& acks_;
  Elector elector_;
  Handoff handoff_;
  bool healthy_enough_ = true;  // the app's health lets this replica claim
  bool placed_here_ = true;     // the shard's placement lets this member claim
  std::string shard_owner_;     // the shard's rightful owner as last placed; empty: unknown
  bool stopping_ = false;
  bool ended_ = false;
  bool released_ = false;
  bool failed_ = false;
};

}  // namespace leasehold::election
