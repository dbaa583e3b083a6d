#include "status/shards_board.h"

#include <algorithm>

#include "status/status_json.h"

namespace leasehold::status {

ShardsBoard::ShardsBoard(std::string election, std::vector<const StatusBoard*> shards, const election::Clock& clock)
    : election_(std::move(election)), shards_(std::move(shards)), clock_(clock) {}

void ShardsBoard::set_placement(std::vector<std::string> members, std::uint32_t placed_here) {
  {
    std::lock_guard lock(mutex_);
    if (members == members_ && placed_here == placed_here_) return;
    members_ = std::move(members);
    placed_here_ = placed_here;
    ++placement_revision_;
  }
  changed();
}

void ShardsBoard::changed() const {
  if (listener_) listener_();
}

ShardsView ShardsBoard::view() const {
  ShardsView out;
  nlohmann::json owned = nlohmann::json::array();
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    const StatusView view = shards_[i]->view();
    out.revision += view.revision;
    if (!view.is_leader) continue;
    nlohmann::json item{{"shard", i},
                        {"lease", view.who.election},
                        {"fencingToken", std::to_string(view.fencing_token.value_or(0))},
                        {"validForMs", view.valid_for_ms}};
    const nlohmann::json status = status_json(view);
    if (status.contains("validUntil")) item["validUntil"] = status["validUntil"];
    owned.push_back(std::move(item));
  }
  std::lock_guard lock(mutex_);
  out.revision += placement_revision_;
  out.body = nlohmann::json{{"election", election_}, {"shards", shards_.size()},   {"owned", std::move(owned)},
                            {"members", members_},   {"placedHere", placed_here_}, {"revision", out.revision}};
  return out;
}

std::string ShardsBoard::lines() const {
  std::string text;
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    const StatusView view = shards_[i]->view();
    if (!view.is_leader) continue;
    // The state file's leader line, with the shard in its first word's place.
    const std::string line = state_line(view);
    if (line.rfind("leader ", 0) != 0) continue;
    text += std::to_string(i) + line.substr(line.find(' '));
  }
  return text;
}

std::optional<election::SteadyTime> ShardsBoard::claim_deadline() const {
  // Claims already run out change nothing more by themselves: the next that will is the one.
  const election::SteadyTime now = clock_.steady_now();
  std::optional<election::SteadyTime> earliest;
  for (const StatusBoard* shard : shards_) {
    const auto deadline = shard->claim_deadline();
    if (deadline && *deadline > now && (!earliest || *deadline < *earliest)) earliest = deadline;
  }
  return earliest;
}

}  // namespace leasehold::status
