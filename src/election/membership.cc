#include "election/membership.h"

#include <algorithm>

namespace leasehold::election {

void Membership::observe(const std::string& name, const MemberRecord& record) {
  const auto it = records_.find(name);
  if (it != records_.end() && it->second.record.resource_version == record.resource_version &&
      !record.resource_version.empty()) {
    return;
  }
  records_[name] = Seen{record, clock_.steady_now()};
}

void Membership::forget(const std::string& name) { records_.erase(name); }

SteadyTime Membership::expires_at(const Seen& seen) const {
  return seen.observed_at + std::chrono::seconds(std::max(seen.record.duration_seconds, 0));
}

std::vector<std::string> Membership::live() const {
  const SteadyTime now = clock_.steady_now();
  std::vector<std::string> members;
  for (const auto& [name, seen] : records_) {
    if (seen.record.identity.empty() || now >= expires_at(seen)) continue;
    members.push_back(seen.record.identity);
  }
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  return members;
}

std::vector<std::pair<std::string, std::string>> Membership::stale(Duration for_at_least) const {
  const SteadyTime now = clock_.steady_now();
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, seen] : records_) {
    if (now - seen.observed_at >= for_at_least) out.emplace_back(name, seen.record.resource_version);
  }
  return out;
}

std::optional<SteadyTime> Membership::next_expiry() const {
  const SteadyTime now = clock_.steady_now();
  std::optional<SteadyTime> next;
  for (const auto& [name, seen] : records_) {
    if (seen.record.identity.empty()) continue;
    const SteadyTime at = expires_at(seen);
    if (at > now && (!next || at < *next)) next = at;
  }
  return next;
}

}  // namespace leasehold::election
