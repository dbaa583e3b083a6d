// Renders a StatusView as the JSON of GET /v1/status and status.json, and the
// one-line `state` file for shell readers. Pure functions, and StatusBodyCache
// for the hot path; all thread-safe.
#pragma once

#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "status/status_board.h"

namespace leasehold::status {

nlohmann::json status_json(const StatusView& view);
// The text of GET /v1/status and of status.json: status_json as text, and a newline.
std::string status_body(const StatusView& view);
// The contrib leader-elector's answer: {"name":"<leader>"}.
nlohmann::json legacy_leader_json(const StatusView& view);
// "leader <validUntilUnixMs> <fencingToken> <validUntil RFC 3339>\n" or
// "follower 0 0 -\n". Readers check: first word is leader AND now (ms) < field 2.
std::string state_line(const StatusView& view);
// The second of those: the state line of a replica that does not lead.
inline constexpr std::string_view kNotLeadingStateLine = "follower 0 0 -\n";

// The body of GET /v1/status and /v1/leader: status_body(view), byte for
// byte. Between two changes of the view only validForMs moves
// (a renewal every retry period, polls in between), so the last rendering is
// kept and only that number is spliced in: a poll then costs one string, not a
// JSON tree, RFC 3339 formatting and a dump. Thread-safe.
class StatusBodyCache {
 public:
  std::string render(const StatusView& view);

 private:
  std::mutex mutex_;
  std::optional<StatusView> rendered_for_;  // valid_for_ms zeroed
  std::string head_;                        // up to and including "validForMs":
  std::string tail_;                        // from the "," after its value
};

}  // namespace leasehold::status
