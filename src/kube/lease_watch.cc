#include "kube/lease_watch.h"

#include <cpprest/containerstream.h>

#include <cstdint>
#include <random>
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

WatchEvent parse_watch_line(const std::string& line) {
  WatchEvent event;
  json parsed = json::parse(line, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("type") || !parsed["type"].is_string()) {
    event.detail = "not a watch event";
    return event;
  }
  const std::string type = parsed["type"].get<std::string>();
  const json object = parsed.value("object", json());
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
  if (object.contains("metadata") && object["metadata"].is_object() && object["metadata"].contains("resourceVersion") &&
      object["metadata"]["resourceVersion"].is_string()) {
    event.resource_version = object["metadata"]["resourceVersion"].get<std::string>();
  }
  if (type == "BOOKMARK") {
    event.type = WatchEvent::Type::kBookmark;
    return event;
  }
  event.record = lease_from_json(object);
  if (!event.record) {
    event.detail = "watch event object is not a Lease";
    return event;
  }
  event.object = object;
  if (type == "ADDED")
    event.type = WatchEvent::Type::kAdded;
  else if (type == "MODIFIED")
    event.type = WatchEvent::Type::kModified;
  else if (type == "DELETED")
    event.type = WatchEvent::Type::kDeleted;
  else
    event.detail = "unknown watch event type";
  return event;
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

LeaseWatch::LeaseWatch(ApiClient& api, const election::Clock& clock, std::string collection_path, std::string name,
                       WatchSink& sink)
    : api_(api), clock_(clock), collection_path_(std::move(collection_path)), name_(std::move(name)), sink_(sink) {}

LeaseWatch::~LeaseWatch() { stop(); }

void LeaseWatch::start() {
  thread_ = std::thread([this] {
    // The thread's one boundary: anything unexpected goes to the sink, which ends the process.
    try {
      run();
    } catch (const std::exception& e) {
      sink_.on_watch_fatal(e.what());
    } catch (...) {
      sink_.on_watch_fatal("unknown exception");
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
  // ends at once (cpprestsdk's inactivity timeout bounds it otherwise). The
  // thread holds `this` and the sink, so it is waited for, never left behind.
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
    sink_.on_watch_state(false, end.reason);
    if (stopping_) break;
    // Against a deadline, so that waking early does not add up.
    const election::Duration wait = backoff.next(end.clean, end.retry_after);
    if (wait > election::Duration::zero()) wait_until(clock_.steady_now() + wait);
  }
}

LeaseWatch::WatchEnd LeaseWatch::watch_once() {
  std::string path = collection_path_ + "?watch=true&allowWatchBookmarks=true&timeoutSeconds=" +
                     std::to_string(240 + std::random_device{}() % 60) +
                     "&fieldSelector=" + query_escape("metadata.name=" + name_);
  if (!resource_version_.empty()) path += "&resourceVersion=" + query_escape(resource_version_);
  const auto sent = clock_.steady_now();
  web::http::http_response response;
  try {
    auto task = api_.stream_client().request(api_.make_request(web::http::methods::GET, path), cancel_.get_token());
    response = task.get();
  } catch (const std::exception& e) {
    api_.observe("watch", "network", clock_.steady_now() - sent);
    return {false, std::string("watch request failed: ") + e.what(), {}};
  }
  api_.observe("watch", std::to_string(response.status_code()), clock_.steady_now() - sent);
  if (response.status_code() != 200) {
    if (response.status_code() == 401) api_.invalidate_token();
    if (response.status_code() == 410) resource_version_.clear();
    return {false, "watch answered HTTP " + std::to_string(response.status_code()),
            parse_retry_after(response.headers())};
  }
  sink_.on_watch_state(true, "");
  auto body = response.body();
  try {
    while (!stopping_) {
      // The body is a stream of bytes: read into a byte buffer of the same type (a char buffer
      // would be reinterpreted through a cast, which is undefined behaviour).
      concurrency::streams::container_buffer<std::vector<std::uint8_t>> line;
      const size_t n = body.read_line(line).get();
      if (n == 0 && body.is_eof()) {
        return {true, "watch stream ended", {}};
      }
      const std::string text(line.collection().begin(), line.collection().end());
      if (text.empty()) continue;
      WatchEvent event = parse_watch_line(text);
      switch (event.type) {
        case WatchEvent::Type::kAdded:
        case WatchEvent::Type::kModified:
          resource_version_ = event.resource_version;
          sink_.on_lease(*event.record, event.object);
          break;
        case WatchEvent::Type::kDeleted:
          resource_version_ = event.resource_version;
          sink_.on_lease_deleted(election::revision_of(event.resource_version));
          break;
        case WatchEvent::Type::kBookmark:
          if (!event.resource_version.empty()) resource_version_ = event.resource_version;
          break;
        case WatchEvent::Type::kGone:
          resource_version_.clear();
          return {true, "watch expired (410): starting afresh", {}};
        case WatchEvent::Type::kError: return {false, "watch error: " + event.detail, {}};
        case WatchEvent::Type::kInvalid: sink_.on_watch_garbage(event.detail); break;
      }
    }
  } catch (const std::exception& e) {
    return {false, std::string("watch stream broke: ") + e.what(), {}};
  }
  return {true, "stopping", {}};
}

}  // namespace leasehold::kube
