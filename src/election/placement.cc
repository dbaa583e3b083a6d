#include "election/placement.h"

#include <algorithm>
#include <tuple>

namespace leasehold::election {
namespace {

constexpr std::uint64_t kFnvOffset = 14695981039346656037ULL;
constexpr std::uint64_t kFnvPrime = 1099511628211ULL;

std::uint64_t fnv1a(std::uint64_t hash, std::string_view bytes) {
  for (const char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= kFnvPrime;
  }
  return hash;
}

// SplitMix64's finaliser: FNV-1a alone leaves the high bits of similar strings close together.
std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

struct Pair {
  std::uint64_t weight;
  std::uint32_t shard;
  std::uint32_t member;  // index into the sorted members
};

}  // namespace

std::uint64_t placement_weight(std::string_view seed, std::uint32_t shard, std::string_view member) {
  const std::string_view nul("\0", 1);
  std::uint64_t hash = fnv1a(kFnvOffset, seed);
  hash = fnv1a(hash, nul);
  hash = fnv1a(hash, std::to_string(shard));
  hash = fnv1a(hash, nul);
  hash = fnv1a(hash, member);
  return mix(hash);
}

std::vector<std::string> place_shards(std::string_view seed, std::uint32_t shards, std::vector<std::string> members) {
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  std::vector<std::string> owners(shards);
  if (members.empty() || shards == 0) return owners;

  const auto count = static_cast<std::uint32_t>(members.size());
  std::vector<Pair> pairs;
  pairs.reserve(static_cast<std::size_t>(shards) * count);
  for (std::uint32_t s = 0; s < shards; ++s) {
    for (std::uint32_t m = 0; m < count; ++m) pairs.push_back(Pair{placement_weight(seed, s, members[m]), s, m});
  }
  // Heaviest first; equal weights (a 64-bit collision) by shard, then by identity, so that the
  // order never depends on how the sort breaks ties.
  std::sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) {
    return std::tie(b.weight, a.shard, a.member) < std::tie(a.weight, b.shard, b.member);
  });

  const std::uint32_t share = shards / count;
  std::uint32_t extra_left = shards % count;
  std::vector<std::uint32_t> load(count, 0);
  std::vector<bool> placed(shards, false);
  std::uint32_t left = shards;
  for (const Pair& p : pairs) {
    if (placed[p.shard]) continue;
    if (load[p.member] >= share) {
      if (load[p.member] > share || extra_left == 0) continue;
      --extra_left;
    }
    placed[p.shard] = true;
    ++load[p.member];
    owners[p.shard] = members[p.member];
    if (--left == 0) break;
  }
  return owners;
}

}  // namespace leasehold::election
