#include "election/shard_planner.h"

#include <algorithm>

#include "election/placement.h"

namespace leasehold::election {

std::string shard_lease_name(std::string_view election, std::uint32_t shard, std::uint32_t shards) {
  const std::size_t width = std::to_string(shards > 0 ? shards - 1 : 0).size();
  std::string number = std::to_string(shard);
  if (number.size() < width) number.insert(0, width - number.size(), '0');
  return std::string(election) + "-shard-" + number;
}

std::string member_lease_prefix(std::string_view election) { return std::string(election) + "-member-"; }

std::string member_lease_name(std::string_view election, std::string_view identity) {
  // The placement's weight of the identity alone: one hash function in the protocol.
  const std::uint64_t hash = placement_weight("member", 0, identity);
  static const char kHex[] = "0123456789abcdef";
  std::string hex(16, '0');
  for (int i = 0; i < 16; ++i) hex[15 - i] = kHex[(hash >> (4 * i)) & 0xf];
  return member_lease_prefix(election) + hex;
}

ShardPlanner::ShardPlanner(ShardPlannerSettings settings, const Clock& clock)
    : settings_(std::move(settings)),
      clock_(clock),
      membership_(clock),
      owners_(settings_.shards),
      holders_(settings_.shards),
      vacant_since_(settings_.shards),
      given_(settings_.shards) {}

void ShardPlanner::member_seen(const std::string& record_name, const MemberRecord& record) {
  membership_.observe(record_name, record);
}

void ShardPlanner::member_gone(const std::string& record_name) { membership_.forget(record_name); }

void ShardPlanner::shard_seen(std::uint32_t shard, const std::string& holder) {
  if (shard < holders_.size()) holders_[shard] = holder;
}

bool ShardPlanner::vacant(std::uint32_t shard) const {
  const std::string& holder = holders_[shard];
  return holder.empty() || !std::binary_search(members_.begin(), members_.end(), holder);
}

std::vector<ShardPlanner::Directive> ShardPlanner::plan() {
  const SteadyTime now = clock_.steady_now();
  std::vector<std::string> live = membership_.live();
  if (live != members_ || given_.empty() || !given_.front()) {
    owners_ = place_shards(settings_.seed, settings_.shards, live);
    members_ = std::move(live);
  }
  std::vector<Directive> changed;
  for (std::uint32_t s = 0; s < settings_.shards; ++s) {
    if (!vacant(s)) {
      vacant_since_[s].reset();
    } else if (!vacant_since_[s]) {
      vacant_since_[s] = now;
    }
    const bool grace_over = vacant_since_[s] && now >= *vacant_since_[s] + settings_.vacancy_grace;
    Directive d{s, owners_[s] == settings_.identity || grace_over, owners_[s]};
    if (given_[s] && given_[s]->eligible == d.eligible && given_[s]->owner == d.owner) continue;
    given_[s] = d;
    changed.push_back(std::move(d));
  }
  return changed;
}

std::optional<SteadyTime> ShardPlanner::wake_at() const {
  std::optional<SteadyTime> next = membership_.next_expiry();
  const SteadyTime now = clock_.steady_now();
  for (std::uint32_t s = 0; s < settings_.shards; ++s) {
    if (!vacant_since_[s]) continue;
    const SteadyTime at = *vacant_since_[s] + settings_.vacancy_grace;
    if (at > now && (!next || at < *next)) next = at;
  }
  return next;
}

std::uint32_t ShardPlanner::placed_here() const {
  return static_cast<std::uint32_t>(std::count(owners_.begin(), owners_.end(), settings_.identity));
}

}  // namespace leasehold::election
