// ShardsBoard: the view over all the shards of one sharded election, as /v1/shards, its long
// polls and streams, and the `shards` file read it. It owns nothing of the shards: each is an
// election with its own StatusBoard, read against the clock at read time, so a shard whose claim
// ran out reads as not owned here even if nobody published. What it adds is the placement (the
// members and how many shards are placed here) and one revision over everything it shows.
//
// Thread-safe: set_placement() and changed() from any thread, view() from many.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "election/clock.h"
#include "status/status_board.h"

namespace leasehold::status {

// What a reader of a sharded election sees now.
struct ShardsView {
  // {"election", "shards", "owned": [{"shard", "lease", "fencingToken", "validUntil", "validForMs"}],
  // "members", "placedHere", "revision"}
  nlohmann::json body;
  // Moves whenever a shard's view does (including a claim running out by itself) or the
  // placement changes: the sum of the shards' revisions, which never go back, and the
  // placement's count of changes.
  std::uint64_t revision = 0;
};

class ShardsBoard {
 public:
  // shards: shard i's board at i (kept by the caller for the board's life).
  ShardsBoard(std::string election, std::vector<const StatusBoard*> shards, const election::Clock& clock);

  // The placement changed: members (identities, sorted) and shards placed on this member.
  void set_placement(std::vector<std::string> members, std::uint32_t placed_here);
  // A shard's board changed revision (any thread): tells the listener.
  void changed() const;
  // Called (on the changing thread, outside the lock) whenever the revision moves through
  // set_placement() or changed(). Set once, before use.
  void set_listener(std::function<void()> listener) { listener_ = std::move(listener); }

  ShardsView view() const;
  // The `shards` file: one line per shard owned now, "<shard> <validUntilUnixMs> <fencingToken>
  // <validUntil RFC 3339>", in shard order; empty when none. Readers use a line only while now
  // (ms) < its second field, as with the `state` file.
  std::string lines() const;
  // The earliest moment a shard's claim runs out by itself, on clock().
  std::optional<election::SteadyTime> claim_deadline() const;
  const election::Clock& clock() const { return clock_; }
  const std::string& election() const { return election_; }
  const std::vector<const StatusBoard*>& shards() const { return shards_; }

 private:
  const std::string election_;
  const std::vector<const StatusBoard*> shards_;
  const election::Clock& clock_;
  std::function<void()> listener_;
  mutable std::mutex mutex_;
  std::vector<std::string> members_;
  std::uint32_t placed_here_ = 0;
  std::uint64_t placement_revision_ = 0;
};

}  // namespace leasehold::status
