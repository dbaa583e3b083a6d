#include "status/status_json.h"

#include "util/json_text.h"
#include "util/rfc3339.h"

namespace leasehold::status {

using nlohmann::json;

namespace {
json time_or_null(const std::optional<election::WallTime>& t) {
  return t ? json(util::format_rfc3339_millis(*t)) : json(nullptr);
}

json app_health_json(const AppHealthStatus& h) {
  if (h.state.empty()) return json(nullptr);
  return json{{"state", h.state}, {"since", time_or_null(h.since)}, {"eligible", h.eligible}};
}
}  // namespace

json status_json(const StatusView& v) {
  return json{
      {"appHealth", app_health_json(v.app_health)},
      {"election", v.who.election},
      {"namespace", v.who.namespace_name},
      {"identity", v.who.identity},
      {"isLeader", v.is_leader},
      {"leader", v.leader},
      {"fencingToken", v.fencing_token ? json(*v.fencing_token) : json(nullptr)},
      {"acquiredAt", time_or_null(v.acquired_at)},
      {"renewedAt", time_or_null(v.renewed_at)},
      {"validUntil", time_or_null(v.valid_until)},
      {"validForMs", v.valid_for_ms},
      {"leaseDurationSeconds", v.lease_duration_seconds},
      {"leaseTransitions", v.lease_transitions},
      {"observedAt", time_or_null(v.observed_at)},
      {"steppingDown", v.stepping_down},
      {"revision", v.revision},
  };
}

std::string status_body(const StatusView& v) { return json_text(status_json(v)) + "\n"; }

json legacy_leader_json(const StatusView& v) { return json{{"name", v.leader}}; }

std::string state_line(const StatusView& v) {
  if (!v.is_leader || !v.valid_until) return std::string(kNotLeadingStateLine);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(v.valid_until->time_since_epoch()).count();
  return "leader " + std::to_string(ms) + " " + std::to_string(v.fencing_token.value_or(0)) + " " +
         util::format_rfc3339_millis(*v.valid_until) + "\n";
}

std::string StatusBodyCache::render(const StatusView& view) {
  StatusView key = view;
  key.valid_for_ms = 0;
  const std::string number = std::to_string(view.valid_for_ms);
  std::lock_guard lock(mutex_);
  if (!rendered_for_ || !(*rendered_for_ == key)) {
    const std::string text = status_body(key);
    // Keys come out sorted, so validForMs is followed only by validUntil (a time or null): the
    // last occurrence of the key is the key itself, never text inside a string value. It is
    // always there (status_json writes every key), as the byte-for-byte unit test checks.
    static const std::string kKey = "\"validForMs\":0";
    const auto at = text.rfind(kKey);
    head_ = text.substr(0, at + kKey.size() - 1);
    tail_ = text.substr(at + kKey.size());
    rendered_for_ = std::move(key);
  }
  std::string body;
  body.reserve(head_.size() + number.size() + tail_.size());
  body.append(head_).append(number).append(tail_);
  return body;
}

}  // namespace leasehold::status
