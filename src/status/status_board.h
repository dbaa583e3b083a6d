// StatusBoard: the one place publishers (HTTP, files, metrics) read the
// election's state from. The election thread publishes after every change;
// readers get a view computed against the clock AT READ TIME, so a claim
// whose validity has passed reads as "not leader" even if the election thread
// is stuck, frozen or gone: answers expire by themselves.
//
// Thread-safe: publish/set_claiming from any thread, view() from many.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "election/clock.h"
#include "election/elector.h"

namespace leasehold::status {

struct StatusIdentity {
  std::string election;
  std::string namespace_name;
  std::string identity;
  bool operator==(const StatusIdentity&) const = default;
};

// The app's health as the election's health check judges it (see src/health/).
struct AppHealthStatus {
  std::string state;  // "unknown", "healthy" or "unhealthy"; empty: health checking is off
  std::optional<election::WallTime> since;
  bool eligible = true;  // false: this agent does not try to take the Lease
  bool operator==(const AppHealthStatus&) const = default;
};

// What a reader sees now.
struct StatusView {
  StatusIdentity who;
  bool is_leader = false;  // leading AND the claim has not expired AND not stopping
  std::string leader;
  std::optional<std::uint64_t> fencing_token;  // when is_leader
  std::optional<election::WallTime> acquired_at, renewed_at, observed_at;
  std::optional<election::WallTime> valid_until;  // when is_leader, on the wall clock
  std::int64_t valid_for_ms = 0;
  int lease_duration_seconds = 0;
  int lease_transitions = 0;
  bool observed = false;
  bool stepping_down = false;  // a handoff is in progress: holding the Lease, no longer claiming
  AppHealthStatus app_health;
  std::uint64_t revision = 0;  // changes whenever any of the above but the times change
  bool operator==(const StatusView&) const = default;
};

class StatusBoard {
 public:
  StatusBoard(StatusIdentity who, const election::Clock& clock);

  // Returns true when the revision changed.
  bool publish(const election::ElectionState& state);
  // Shutdown or resign: while not claiming, nothing reads as leader even if
  // the election still holds the Lease (a handoff waiting for the app).
  void set_claiming(bool claiming);
  // Health checking on: what the last health change found.
  void set_app_health(const AppHealthStatus& health);
  // While leading and claiming: when the claim runs out by itself.
  std::optional<election::SteadyTime> claim_deadline() const;
  // The clock the views and the claim deadline are read on.
  const election::Clock& clock() const { return clock_; }
  // Called (outside the lock, on the publishing thread) whenever the revision
  // changes through publish() or set_claiming(). Set once, before use.
  void set_listener(std::function<void()> listener) { listener_ = std::move(listener); }

  StatusView view() const;

  // The election loop's heartbeat, for /healthz.
  void heartbeat();
  election::SteadyTime last_heartbeat() const;

 private:
  StatusView view_locked(election::SteadyTime now, election::WallTime wall) const;

  const StatusIdentity who_;
  const election::Clock& clock_;
  std::function<void()> listener_;
  mutable std::mutex mutex_;
  election::ElectionState state_;
  bool stopping_ = false;
  AppHealthStatus app_health_;
  std::uint64_t base_revision_ = 1;
  election::SteadyTime heartbeat_{};
};

}  // namespace leasehold::status
