// The HTTP contract: the status listener's routes (/, /v1/status, /v1/leader,
// /v1/events, /v1/ack, /v1/resign, and the same under /v1/elections/<name>/)
// and the ops listener's (/metrics, /healthz, /readyz). Answers are computed
// from the StatusBoards at request time and never wait on an election thread.
// Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "election/clock.h"
#include "status/http_server.h"
#include "status/metrics.h"
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

// The first election is the default one, served on the short paths too.
HttpHandler make_status_router(std::vector<ElectionEndpoint> elections);

struct HealthPolicy {
  // /healthz fails when an election loop has not come round for this long.
  election::Duration max_loop_silence;
};
HttpSyncHandler make_ops_handler(std::vector<const StatusBoard*> boards, Metrics& metrics, const election::Clock& clock,
                                 HealthPolicy policy);

// Longest a long poll may wait (?wait=...).
inline constexpr std::chrono::seconds kMaxLongPoll{120};

}  // namespace leasehold::status
