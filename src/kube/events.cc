#include "kube/events.h"

#include <algorithm>
#include <cstdio>

#include "util/rfc3339.h"

namespace leasehold::kube {
namespace {

constexpr std::size_t kMaxNote = 1024;     // the API server refuses longer notes
constexpr std::size_t kMaxInstance = 128;  // and longer reportingInstance
constexpr std::size_t kMaxNameBase = 200;  // a name has room for the base, a dot and the suffix

// Cuts UTF-8 text to at most `max` bytes without splitting a character.
std::string cut(const std::string& text, std::size_t max) {
  if (text.size() <= max) return text;
  std::size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

nlohmann::json reference(const std::string& api_version, const std::string& kind, const std::string& ns,
                         const std::string& name) {
  return {{"apiVersion", api_version}, {"kind", kind}, {"namespace", ns}, {"name", name}};
}

}  // namespace

std::string events_path(const std::string& namespace_name) {
  return "/apis/events.k8s.io/v1/namespaces/" + namespace_name + "/events";
}

std::string event_name(const EventSubject& subject, const EventReport& report, std::uint64_t unique) {
  std::string base = subject.pod_name.empty() ? report.lease : subject.pod_name;
  base = base.substr(0, kMaxNameBase);
  while (!base.empty() && (base.back() == '.' || base.back() == '-')) base.pop_back();
  char suffix[24];
  std::snprintf(suffix, sizeof suffix, ".%016llx", static_cast<unsigned long long>(unique));
  return base + suffix;
}

nlohmann::json event_object(const EventSubject& subject, const EventReport& report, const std::string& name,
                            election::WallTime now) {
  const nlohmann::json lease = reference("coordination.k8s.io/v1", "Lease", subject.namespace_name, report.lease);
  nlohmann::json event{
      {"apiVersion", "events.k8s.io/v1"},
      {"kind", "Event"},
      {"metadata", {{"name", name}, {"namespace", subject.namespace_name}}},
      {"eventTime", util::format_micro_time(now)},
      {"reportingController", kReportingController},
      {"reportingInstance", cut(subject.identity, kMaxInstance)},
      {"type", report.type},
      {"reason", report.reason},
      {"action", report.action},
      {"note", cut(report.note, kMaxNote)},
  };
  if (subject.pod_name.empty()) {
    event["regarding"] = lease;
  } else {
    event["regarding"] = reference("v1", "Pod", subject.namespace_name, subject.pod_name);
    event["related"] = lease;
  }
  return event;
}

nlohmann::json event_series_patch(std::uint64_t count, election::WallTime last) {
  return {{"series", {{"count", count}, {"lastObservedTime", util::format_micro_time(last)}}}};
}

std::string stop_reason(const std::string& why) {
  static const std::pair<const char*, const char*> kReasons[] = {
      {"renew deadline passed", "RenewDeadlinePassed"},
      {"lease validity ran out", "ClaimRanOut"},
      {"another holder took the lease", "LostToAnotherHolder"},
      {"another process with this identity", "IdentityReused"},
      {"the lease can no longer be read", "LeaseUnreadable"},
      {"the lease was deleted", "LeaseDeleted"},
      {"resigned", "Resigned"},
      {"shutting down", "ShuttingDown"},
      {"internal error", "InternalError"},
  };
  for (const auto& [prefix, reason] : kReasons) {
    if (why.rfind(prefix, 0) == 0) return reason;
  }
  return "Stopped";
}

EventBook::EventBook(EventBookSettings settings, const election::Clock& clock)
    : settings_(settings), clock_(clock), tokens_(settings.burst), refilled_at_(clock.steady_now()) {}

bool EventBook::take_token(election::SteadyTime now) {
  const double refills = std::chrono::duration<double>(now - refilled_at_) / settings_.refill;
  tokens_ = std::min<double>(settings_.burst, tokens_ + refills);
  refilled_at_ = now;
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

EventBook::Decision EventBook::report(const EventSubject& subject, const EventReport& report, std::uint64_t unique) {
  const election::SteadyTime now = clock_.steady_now();
  Decision d;
  const auto it = series_.find(key_of(report));
  if (it != series_.end() && now - it->second.last_at < settings_.series_window) {
    Series& s = it->second;
    ++s.count;
    s.last_at = now;
    s.last_wall = clock_.wall_now();
    d.name = s.name;
    d.count = s.count;
    d.last = s.last_wall;
    if (now - s.patched_at >= settings_.series_patch_interval) {
      d.kind = Decision::Kind::kPatchSeries;
      s.patched_at = now;
      s.patched_count = s.count;
    } else {
      d.kind = Decision::Kind::kAggregated;
    }
    return d;
  }
  if (it != series_.end()) series_.erase(it);
  if (!take_token(now)) return d;
  d.kind = Decision::Kind::kCreate;
  d.name = event_name(subject, report, unique);
  return d;
}

void EventBook::created(const EventReport& report, const std::string& name, bool ok) {
  if (!ok) return;
  const election::SteadyTime now = clock_.steady_now();
  Series s;
  s.name = name;
  s.last_at = now;
  s.last_wall = clock_.wall_now();
  s.patched_at = now;
  series_[key_of(report)] = s;
}

std::vector<EventBook::Decision> EventBook::due_patches() {
  const election::SteadyTime now = clock_.steady_now();
  std::vector<Decision> due;
  for (auto it = series_.begin(); it != series_.end();) {
    Series& s = it->second;
    if (s.count == s.patched_count && now - s.last_at >= settings_.series_window) {
      it = series_.erase(it);  // over, and told in full: forgotten
      continue;
    }
    if (s.count != s.patched_count && now - s.patched_at >= settings_.series_patch_interval) {
      s.patched_at = now;
      s.patched_count = s.count;
      due.push_back(Decision{Decision::Kind::kPatchSeries, s.name, s.count, s.last_wall});
    }
    ++it;
  }
  return due;
}

std::optional<election::SteadyTime> EventBook::next_patch_at() const {
  std::optional<election::SteadyTime> next;
  for (const auto& [key, s] : series_) {
    if (s.count == s.patched_count) continue;
    const election::SteadyTime at = s.patched_at + settings_.series_patch_interval;
    if (!next || at < *next) next = at;
  }
  return next;
}

void EventBook::patched(const std::string& name, bool ok) {
  if (ok) return;
  // A series whose Event is gone (deleted, expired) starts again with the next report.
  for (auto it = series_.begin(); it != series_.end(); ++it) {
    if (it->second.name == name) {
      series_.erase(it);
      return;
    }
  }
}

}  // namespace leasehold::kube
