// AppHealth: the app's health as the kubelet would judge it from a series of
// probes: healthy after success-threshold successes in a row, unhealthy after
// failure-threshold failures in a row, "unknown" until either happened once.
// It also paces the probes (one every period, never two at a time) and cuts
// off a probe that outlives its timeout. Pure logic on a Clock: the Prober
// does the I/O, tests drive it step by step with a fake clock.
//
// Thread-safety: none; the Prober's steps own it (one at a time).
#pragma once

#include <optional>
#include <string_view>

#include "election/clock.h"
#include "health/probe_settings.h"

namespace leasehold::health {

enum class Health { kUnknown, kHealthy, kUnhealthy };
const char* to_string(Health health);

// One probe's result. kFailure: the app answered, but not 2xx; kRefused: no
// connection (refused, reset, closed before an answer); kTimeout: no answer
// within the timeout.
enum class ProbeOutcome { kSuccess, kFailure, kRefused, kTimeout };
const char* to_string(ProbeOutcome outcome);

struct HealthSnapshot {
  Health health = Health::kUnknown;
  bool ever_healthy = false;
  // Whether the election may try to take the Lease: healthy, or not judged yet
  // unless the app must have been healthy once first.
  bool eligible = true;
  int consecutive_failures = 0;
  int consecutive_successes = 0;
  std::optional<ProbeOutcome> last_outcome;
  election::SteadyTime since{};  // when `health` last changed (start: construction)
  election::WallTime since_wall{};
  bool operator==(const HealthSnapshot&) const = default;
};

class AppHealth {
 public:
  AppHealth(ProbeSettings settings, const election::Clock& clock);

  // When the next probe should start: the first at once, then one period after
  // the previous one started, but never while one is in flight.
  election::SteadyTime next_probe_at() const;
  bool probe_in_flight() const { return in_flight_; }
  // Returns false (and starts nothing) while another probe is in flight.
  bool start_probe();
  // Until when the probe in flight may take; after that it counts as a timeout.
  election::SteadyTime probe_deadline() const { return probe_started_ + settings_.timeout; }
  // Ends the probe in flight with its outcome; an answer past its deadline is
  // a timeout whatever it said. Returns true when the health changed.
  bool finish_probe(ProbeOutcome outcome);

  HealthSnapshot snapshot() const;

 private:
  bool record(ProbeOutcome outcome);

  const ProbeSettings settings_;
  const election::Clock& clock_;
  HealthSnapshot state_;
  bool in_flight_ = false;
  bool started_once_ = false;
  election::SteadyTime probe_started_{};
};

}  // namespace leasehold::health
