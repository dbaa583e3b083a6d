// The HTTP contract: the status listener's routes (/, /v1/status, /v1/leader,
// /v1/events, /v1/ack, /v1/resign, and the same under /v1/elections/<name>/)
// and the ops listener's (/metrics, /healthz, /readyz). Answers are computed
// from the StatusBoards at request time and never wait on an election thread.
// Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "election/clock.h"
#include "status/http_server.h"
#include "status/metrics.h"
#include "status/shards_board.h"
#include "status/status_board.h"
#include "status/status_hub.h"

namespace leasehold::status {

// What the router needs of one election.
struct ElectionEndpoint {
  std::string name;
  const StatusBoard* board = nullptr;
  std::shared_ptr<StatusHub> hub;
  std::function<HttpAnswer()> ack;                          // POST .../ack
  std::function<HttpAnswer(const std::string& to)> resign;  // POST .../resign[?to=identity]
};

// What the router needs of one sharded election: each shard is also an ElectionEndpoint of its
// own (named after its Lease); this is the view over all of them.
struct ShardsEndpoint {
  std::string name;
  bool is_default = false;             // served on the short paths (/v1/shards)
  const ShardsBoard* board = nullptr;  // GET .../shards, its long polls and its stream
  std::shared_ptr<ShardsHub> hub;
  std::vector<std::function<HttpAnswer()>> acks;  // POST .../shards/<i>/ack: the shard's own ack
};

// GET .../shards answers the board's view (long polls with ?wait=&after= as /v1/status does);
// GET .../shards/events streams it (Server-Sent Events, event "shards", as /v1/events does).
// GET .../shards/<i> answers 200 while this member owns shard i (503 otherwise); POST
// .../shards/<i>/ack acknowledges a handoff of shard i, as POST /v1/elections/<shard>/ack does.

// The first election is the default one, served on the short paths too, unless the default
// election is sharded: then the short paths are /v1/shards and /v1/shards/<i>, and the others
// answer 404 naming them.
HttpHandler make_status_router(std::vector<ElectionEndpoint> elections, std::vector<ShardsEndpoint> sharded = {});

struct HealthPolicy {
  // /healthz fails when an election loop has not come round for this long.
  election::Duration max_loop_silence;
};
HttpSyncHandler make_ops_handler(std::vector<const StatusBoard*> boards, Metrics& metrics, const election::Clock& clock,
                                 HealthPolicy policy);

// Longest a long poll may wait (?wait=...).
inline constexpr std::chrono::seconds kMaxLongPoll{120};

}  // namespace leasehold::status
