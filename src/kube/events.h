// Kubernetes Events (events.k8s.io/v1) about this pod's elections: the objects as the API server
// takes them, and EventBook, which decides what each report costs the API server: a new Event,
// one more occurrence of a series (patched at most every kSeriesPatchInterval), or nothing (over
// the rate limit). Pure: no I/O, the clock is given; thread-compatible (one owner at a time).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <tuple>

#include "election/clock.h"

namespace leasehold::kube {

// Who reports, about what.
struct EventSubject {
  std::string namespace_name;
  std::string pod_name;  // empty: the Event is about the Lease
  std::string identity;  // reportingInstance
};

// One thing that happened to one election.
struct EventReport {
  std::string lease;   // the election's Lease (`related`, or `regarding` without a pod)
  std::string type;    // Normal or Warning
  std::string reason;  // why, UpperCamelCase (e.g. RenewDeadlinePassed)
  std::string action;  // what, UpperCamelCase (e.g. StoppedLeading)
  std::string note;    // for people; cut to the API's 1 kB
};

inline constexpr const char* kReportingController = "leasehold.io/leasehold";

// The Event object to create (name: `name`).
nlohmann::json event_object(const EventSubject& subject, const EventReport& report, const std::string& name,
                            election::WallTime now);
// The merge patch that records `count` occurrences of an Event's series, the last at `last`.
nlohmann::json event_series_patch(std::uint64_t count, election::WallTime last);
// A new Event's name: the regarding object's name (cut to fit) and a unique suffix.
std::string event_name(const EventSubject& subject, const EventReport& report, std::uint64_t unique);
std::string events_path(const std::string& namespace_name);
// The reason of a StoppedLeading Event, from the elector's words for why it stopped.
std::string stop_reason(const std::string& why);

struct EventBookSettings {
  // A report like one already sent within this window (same election, type, reason and action)
  // is an occurrence of its series.
  election::Duration series_window = std::chrono::minutes(10);
  // A series is patched at most this often (its count catches up at the next patch).
  election::Duration series_patch_interval = std::chrono::seconds(30);
  // New Events: a burst, then one per refill interval (per sidecar).
  int burst = 10;
  election::Duration refill = std::chrono::seconds(6);
};

class EventBook {
 public:
  struct Decision {
    enum class Kind { kCreate, kPatchSeries, kAggregated, kDropped } kind = Kind::kDropped;
    std::string name;           // the Event to create or patch
    std::uint64_t count = 1;    // kPatchSeries: the series' count
    election::WallTime last{};  // kPatchSeries: its last occurrence
  };

  EventBook(EventBookSettings settings, const election::Clock& clock);

  // What to do about a report; `unique` names a new Event.
  Decision report(const EventSubject& subject, const EventReport& report, std::uint64_t unique);
  // The result of a create: only an Event that exists starts a series.
  void created(const EventReport& report, const std::string& name, bool ok);
  // Series whose count moved since their last patch and whose patch is due now.
  std::vector<Decision> due_patches();
  // When due_patches() next has something to do.
  std::optional<election::SteadyTime> next_patch_at() const;
  void patched(const std::string& name, bool ok);

 private:
  using Key = std::tuple<std::string, std::string, std::string, std::string>;
  struct Series {
    std::string name;
    std::uint64_t count = 1;
    std::uint64_t patched_count = 1;
    election::SteadyTime last_at{};
    election::WallTime last_wall{};
    election::SteadyTime patched_at{};
  };
  // Notes differ by details (a fencing token): the series keeps its first one's.
  static Key key_of(const EventReport& r) { return {r.lease, r.type, r.reason, r.action}; }
  bool take_token(election::SteadyTime now);

  const EventBookSettings settings_;
  const election::Clock& clock_;
  std::map<Key, Series> series_;
  double tokens_;
  election::SteadyTime refilled_at_;
};

}  // namespace leasehold::kube
