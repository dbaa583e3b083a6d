// Shard placement: which live member is the rightful owner of each shard of a sharded election.
// Every member computes it alone from what it sees (the election's name, the number of shards,
// the live members' identities), so two members that see the same membership agree on every
// shard without talking to each other. Pure: no clock, no I/O.
//
// The rule is rendezvous (highest-random-weight) hashing with bounded loads:
//  - every (shard, member) pair has a weight, placement_weight(seed, shard, member);
//  - the pairs are taken heaviest first, and a pair places its shard on its member unless the
//    shard is placed already or the member is full;
//  - a member is full at floor(N/M) shards, except that the first N mod M members to reach that
//    many may take one more.
// So every member owns floor(N/M) or ceil(N/M) shards (max - min <= 1), and a shard stays where
// it is as long as its member is alive and not over its share: a membership change moves the
// shards of the member that left (or the new member's share), and a few more only where the
// bound forces it (tests/unit/placement_test.cc measures how many against the least possible).
//
// The weights are part of the protocol between members, also of different versions: FNV-1a 64
// over the bytes of `seed`, NUL, the shard number in decimal, NUL and the member's identity,
// finished with the 64-bit mixer of SplitMix64. A change here is a change of protocol.
//
// Thread-safety: free functions on values; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace leasehold::election {

std::uint64_t placement_weight(std::string_view seed, std::uint32_t shard, std::string_view member);

// The rightful owner of each shard 0..shards-1 (identities from `members`); all empty when there
// is no member. Duplicates in `members` count once, and their order does not matter.
std::vector<std::string> place_shards(std::string_view seed, std::uint32_t shards, std::vector<std::string> members);

}  // namespace leasehold::election
