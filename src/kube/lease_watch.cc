#include "kube/lease_watch.h"

#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

#include "kube/lease_json.h"

namespace leasehold::kube {
namespace {

using nlohmann::json;

std::string query_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_') {
      out += static_cast<char>(c);
    } else {
      char buffer[4];
      std::snprintf(buffer, sizeof buffer, "%%%02X", c);
      out += buffer;
    }
  }
  return out;
}

}  // namespace

WatchEvent parse_watch_line(const std::string& line, const std::function<bool(std::string_view)>& wanted) {
  WatchEvent event;
  // The whole line is parsed (the name sits inside the object); what other names are spared is the
  // Lease decoding (times, fields) and a copy of the object.
  json parsed = json::parse(line, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("type") || !parsed["type"].is_string()) {
    event.detail = "not a watch event";
    return event;
  }
  const std::string type = parsed["type"].get<std::string>();
  const auto found = parsed.find("object");
  json object = found != parsed.end() ? std::move(*found) : json();
  if (type == "ERROR") {
    const int code = object.is_object() && object.contains("code") && object["code"].is_number_integer()
                         ? object["code"].get<int>()
                         : 0;
    event.type = code == 410 ? WatchEvent::Type::kGone : WatchEvent::Type::kError;
    event.detail = object.is_object() && object.contains("message") && object["message"].is_string()
                       ? object["message"].get<std::string>()
                       : "watch error";
    return event;
  }
  if (!object.is_object()) {
    event.detail = "watch event without an object";
    return event;
  }
  if (const auto metadata = object.find("metadata"); metadata != object.end() && metadata->is_object()) {
    if (const auto version = metadata->find("resourceVersion"); version != metadata->end() && version->is_string()) {
      event.resource_version = version->get<std::string>();
    }
    if (const auto name = metadata->find("name"); name != metadata->end() && name->is_string()) {
      event.name = name->get<std::string>();
    }
  }
  if (type == "BOOKMARK") {
    event.type = WatchEvent::Type::kBookmark;
    return event;
  }
  WatchEvent::Type lease_type = WatchEvent::Type::kInvalid;
  if (type == "ADDED")
    lease_type = WatchEvent::Type::kAdded;
  else if (type == "MODIFIED")
    lease_type = WatchEvent::Type::kModified;
  else if (type == "DELETED")
    lease_type = WatchEvent::Type::kDeleted;
  // A nameless object is nobody's to skip: it is decoded, and flagged by whoever reads it.
  if (wanted && !event.name.empty() && !wanted(event.name)) {
    event.type = lease_type;
    if (lease_type == WatchEvent::Type::kInvalid) event.detail = "unknown watch event type";
    return event;
  }
  event.record = lease_from_json(object);
  if (!event.record) {
    event.detail = "watch event object is not a Lease";
    return event;
  }
  event.object = std::move(object);
  event.type = lease_type;
  if (lease_type == WatchEvent::Type::kInvalid) event.detail = "unknown watch event type";
  return event;
}

WatchRouter::WatchRouter(std::vector<FollowedLease> followed) : followed_(std::move(followed)) {
  if (followed_.empty()) throw std::invalid_argument("a lease watch needs a Lease to follow");
  for (const auto& f : followed_) {
    if (!f.sink) throw std::invalid_argument("lease " + f.name + " has no watch sink");
    if (f.prefix) {
      prefixes_.emplace_back(f.name, f.sink);
      continue;
    }
    if (!sinks_.emplace(f.name, f.sink).second) throw std::invalid_argument("lease " + f.name + " is followed twice");
  }
}

bool WatchRouter::follows(std::string_view name) const { return sink_of(name) != nullptr; }

WatchSink* WatchRouter::sink_of(std::string_view name) const {
  const auto found = sinks_.find(name);
  if (found != sinks_.end()) return found->second;
  for (const auto& [prefix, sink] : prefixes_) {
    if (name.substr(0, prefix.size()) == prefix) return sink;
  }
  return nullptr;
}

WatchRouter::Verdict WatchRouter::route(WatchEvent event) {
  switch (event.type) {
    case WatchEvent::Type::kAdded:
    case WatchEvent::Type::kModified:
    case WatchEvent::Type::kDeleted: {
      // The collection's version, whichever Lease moved it: resuming from an older one would
      // replay other Leases' events, and let the version expire (410) sooner.
      if (!event.resource_version.empty()) resource_version_ = event.resource_version;
      if (event.name.empty()) {
        followed_.front().sink->on_watch_garbage("watch event for a Lease without a name");
        break;
      }
      WatchSink* const sink = sink_of(event.name);
      if (!sink) break;  // another Lease of the namespace
      if (!event.record) {
        sink->on_watch_garbage("watch event object is not a Lease");
      } else if (event.type == WatchEvent::Type::kDeleted) {
        sink->on_named_lease_deleted(event.name, election::revision_of(event.resource_version));
      } else {
        sink->on_named_lease(event.name, *event.record, std::move(event.object));
      }
      break;
    }
    case WatchEvent::Type::kBookmark:
      if (!event.resource_version.empty()) resource_version_ = event.resource_version;
      break;
    case WatchEvent::Type::kGone:
      resource_version_.clear();
      return {true, true, "watch expired (410): starting afresh"};
    case WatchEvent::Type::kError: return {true, false, "watch error: " + event.detail};
    case WatchEvent::Type::kInvalid:
      if (event.name.empty()) {
        followed_.front().sink->on_watch_garbage(event.detail);
      } else if (WatchSink* const sink = sink_of(event.name)) {
        sink->on_watch_garbage(event.detail);
      }
      break;
  }
  return {};
}

void WatchRouter::watch_state(bool healthy, const std::string& reason) {
  for (const auto& f : followed_) f.sink->on_watch_state(healthy, reason);
}

void WatchRouter::fatal(std::string_view what) noexcept {
  for (const auto& f : followed_) f.sink->on_watch_fatal(what);
}

ReconnectBackoff::ReconnectBackoff(std::function<std::uint32_t()> random) : random_(std::move(random)) {}

election::Duration ReconnectBackoff::next(bool clean, std::optional<election::Duration> retry_after) {
  if (clean) {
    backoff_ = kInitial;
    return election::Duration::zero();
  }
  // Meanwhile the elector polls, itself honouring Retry-After.
  if (retry_after) {
    const auto asked = std::chrono::duration_cast<std::chrono::milliseconds>(*retry_after);
    backoff_ = std::max(backoff_, std::min(asked, kMax));
  }
  const auto jittered = backoff_ + std::chrono::milliseconds(random_() % (backoff_.count() / 2 + 1));
  backoff_ = std::min(backoff_ * 2, kMax);
  return jittered;
}

LeaseWatch::LeaseWatch(ApiClient& api, const election::Clock& clock, std::string collection_path,
                       std::vector<FollowedLease> followed)
    : api_(api), clock_(clock), collection_path_(std::move(collection_path)), router_(std::move(followed)) {}

LeaseWatch::~LeaseWatch() { stop(); }

void LeaseWatch::start() {
  thread_ = std::thread([this] {
    // The thread's one boundary: anything unexpected goes to every sink, as the watch is gone for all.
    try {
      run();
    } catch (const std::exception& e) {
      router_.fatal(e.what());
    } catch (...) {
      router_.fatal("unknown exception");
    }
  });
}

void LeaseWatch::stop() {
  {
    std::lock_guard lock(stop_mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  // Cancelling closes the connection: a request or a stream read in flight
  // ends at once (the stream's idle timeout bounds it otherwise). The
  // thread holds `this` and the sinks, so it is waited for, never left behind.
  cancel_.cancel();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void LeaseWatch::wait_until(election::SteadyTime until) {
  std::unique_lock lock(stop_mutex_);
  for (auto now = clock_.steady_now(); now < until && !stopping_; now = clock_.steady_now()) {
    stop_cv_.wait_for(lock, until - now);
  }
}

void LeaseWatch::run() {
  std::mt19937 rng(std::random_device{}());
  ReconnectBackoff backoff([&rng] { return static_cast<std::uint32_t>(rng()); });
  while (!stopping_) {
    const WatchEnd end = watch_once();
    router_.watch_state(false, end.reason);
    if (stopping_) break;
    // Against a deadline, so that waking early does not add up.
    const election::Duration wait = backoff.next(end.clean, end.retry_after);
    if (wait > election::Duration::zero()) wait_until(clock_.steady_now() + wait);
  }
}

LeaseWatch::WatchEnd LeaseWatch::watch_once() {
  const auto& followed = router_.followed();
  std::string path = collection_path_ + "?watch=true&allowWatchBookmarks=true&timeoutSeconds=" +
                     std::to_string(240 + std::random_device{}() % 60);
  // One Lease by name, which a Role restricted by resourceNames allows; several as the collection,
  // which no Role can restrict by name: one connection instead of one per election.
  if (followed.size() == 1 && !followed.front().prefix)
    path += "&fieldSelector=" + query_escape("metadata.name=" + followed.front().name);
  if (!router_.resource_version().empty()) path += "&resourceVersion=" + query_escape(router_.resource_version());
  const auto sent = clock_.steady_now();
  const std::function<bool(std::string_view)> wanted = [this](std::string_view name) { return router_.follows(name); };
  std::string pending;  // the bytes of a line not yet ended
  bool opened = false;
  std::optional<WatchRouter::Verdict> ended;
  const auto on_body = [&](std::string_view piece) {
    if (!opened) {
      // Counted when it opens, as the stream then lasts minutes.
      opened = true;
      api_.observe("watch", "200", clock_.steady_now() - sent);
      router_.watch_state(true, "");
    }
    if (piece.empty()) return !stopping_;
    pending.append(piece);
    std::size_t from = 0;
    for (std::size_t eol; (eol = pending.find('\n', from)) != std::string::npos; from = eol + 1) {
      if (eol == from) continue;
      WatchRouter::Verdict verdict = router_.route(parse_watch_line(pending.substr(from, eol - from), wanted));
      if (verdict.end) {
        ended = std::move(verdict);
        return false;
      }
    }
    pending.erase(0, from);
    // No event is this long: a stream that never ends its line is not one to follow.
    if (pending.size() > kMaxLineBytes) {
      ended = WatchRouter::Verdict{
          true, false, "watch stream broke: a line longer than " + std::to_string(kMaxLineBytes) + " bytes"};
      return false;
    }
    return !stopping_;
  };
  // The head must come within the time a request may take; then the stream is bounded by the
  // server's timeoutSeconds, and this idle limit only catches a connection that went silent.
  StreamEnd end = api_.stream(path, std::chrono::seconds(30), std::chrono::seconds(120), on_body, cancel_);
  if (end.head.transport != Transport::kNone) {
    api_.observe("watch", end.head.transport == Transport::kTimeout ? "timeout" : "network",
                 clock_.steady_now() - sent);
    return {false, "watch request failed: " + end.head.detail, {}};
  }
  const int status = end.head.status;
  if (status != 200) {
    api_.observe("watch", std::to_string(status), clock_.steady_now() - sent);
    if (status == 401) api_.invalidate_token();
    if (status == 410) router_.forget_resource_version();
    std::string reason = "watch answered HTTP " + std::to_string(status);
    // The likeliest cause: a Role from before several elections shared one watch.
    if (status == 403 && followed.size() > 1) {
      reason += " (watching several Leases needs the watch verb on leases without resourceNames)";
    }
    return {false, std::move(reason), parse_retry_after(end.head.retry_after)};
  }
  if (ended) return {ended->clean, std::move(ended->reason), {}};
  if (stopping_) return {true, "stopping", {}};
  if (end.clean) return {true, "watch stream ended", {}};
  return {false, "watch stream broke: " + end.reason, {}};
}

}  // namespace leasehold::kube
