// LeaseWatch: follows the Leases of a sidecar's elections (all in one namespace) with ONE
// Kubernetes watch, so that releases, expiries and foreign writes are seen within milliseconds
// at the cost of one connection and one API-server watcher per sidecar, not per election. One
// Lease is watched by name (fieldSelector=metadata.name), which a Role restricted by
// resourceNames allows; several are watched as the whole collection (no Role can restrict a
// collection watch by name) and WatchRouter hands each event to the sink of its Lease's name.
// Resumes from the last resourceVersion seen (bookmarks included), starts afresh on 410 Gone,
// and reconnects with capped exponential backoff (longer when the server's answer carried
// Retry-After).
//
// Thread-safety: LeaseWatch owns one thread; every sink is called on that thread and must not
// block (a slow sink holds back the events of every election). start/stop from one controlling
// thread. stop() (and the destructor) return only when the thread has ended: no sink is called
// afterwards. WatchRouter, parse_watch_line and ReconnectBackoff do no I/O and hold no lock: one
// thread at a time (parse_watch_line: any thread).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "election/clock.h"
#include "election/lease_record.h"
#include "kube/api_client.h"

namespace leasehold::kube {

class WatchSink {
 public:
  virtual ~WatchSink() = default;
  // object: the event's, handed over (a sink that keeps it moves it, no copy).
  virtual void on_lease(const election::LeaseRecord& record, nlohmann::json object) = 0;
  virtual void on_lease_deleted(std::optional<std::uint64_t> revision) = 0;
  // healthy: the stream is open and events flow. reason: why not, for logs.
  virtual void on_watch_state(bool healthy, const std::string& reason) = 0;
  // An event that could not be understood (counted; never changes leadership).
  virtual void on_watch_garbage(const std::string& what) = 0;
  // The watch thread hit an error it cannot handle and ends.
  virtual void on_watch_fatal(std::string_view what) noexcept = 0;
  // The same events with the Lease's name, which a sink that follows a prefix (several Leases)
  // needs; the router calls these, and by default they are the ones above.
  virtual void on_named_lease(const std::string& /*name*/, const election::LeaseRecord& record, nlohmann::json object) {
    on_lease(record, std::move(object));
  }
  virtual void on_named_lease_deleted(const std::string& /*name*/, std::optional<std::uint64_t> revision) {
    on_lease_deleted(revision);
  }
};

// One decoded watch line. Exposed for tests and fuzzing.
struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kGone, kError, kInvalid };
  Type type = Type::kInvalid;
  // metadata.name of the event's object; empty when it has none (bookmarks, errors, garbage).
  std::string name;
  // ADDED/MODIFIED/DELETED of a Lease whose name was wanted: the Lease and its object.
  std::optional<election::LeaseRecord> record;
  nlohmann::json object;
  std::string resource_version;
  std::string detail;
};
// Decodes one line of a watch stream. `wanted` (when set) says which names matter: the line's
// JSON is parsed whole (the name is inside the object), but an object of any other name is
// neither checked nor decoded as a Lease: its event keeps type, name and resourceVersion, with no
// record and no object. Without `wanted` every object is decoded.
WatchEvent parse_watch_line(const std::string& line, const std::function<bool(std::string_view)>& wanted = {});

// One Lease a watch follows, and where its events go. With `prefix`, every Lease whose name
// begins with `name` (the member records of a sharded election, named after members not known in
// advance); an exact name wins over a prefix.
struct FollowedLease {
  std::string name;
  WatchSink* sink = nullptr;
  bool prefix = false;
};

// Where the events of one watch stream go, and the resourceVersion it resumes from. No I/O and no
// thread of its own: LeaseWatch feeds it the decoded lines of its stream, tests feed it by hand.
//  - ADDED/MODIFIED/DELETED of a followed name reach that name's sink only; any other name's are
//    skipped (never garbage) but still move the resume version, which is the collection's.
//  - BOOKMARK moves the resume version and calls no sink.
//  - A line that cannot be understood goes to on_watch_garbage of the sink of its object's name
//    when that name is followed, nowhere when another name's, and to the FIRST sink only when it
//    names none (a broken line is one fault of the shared stream: counted once, not once per
//    election).
//  - ERROR (410 Gone: the version is forgotten) ends the stream; the stream's state
//    (watch_state) and a fatal error (fatal) concern every sink, in the order followed.
class WatchRouter {
 public:
  // Throws std::invalid_argument on no Lease, a null sink or a name given twice.
  explicit WatchRouter(std::vector<FollowedLease> followed);

  // What the stream does after an event: read on, or end (clean: reconnect at once).
  struct Verdict {
    bool end = false;
    bool clean = false;
    std::string reason;
  };
  Verdict route(WatchEvent event);
  void watch_state(bool healthy, const std::string& reason);
  void fatal(std::string_view what) noexcept;

  bool follows(std::string_view name) const;
  const std::vector<FollowedLease>& followed() const { return followed_; }
  // Where the next request starts; empty: from the current state (after 410 Gone, or at first).
  const std::string& resource_version() const { return resource_version_; }
  void forget_resource_version() { resource_version_.clear(); }

 private:
  WatchSink* sink_of(std::string_view name) const;

  std::vector<FollowedLease> followed_;
  // Every event of the collection is looked up here, and a sidecar may follow hundreds of Leases.
  std::map<std::string, WatchSink*, std::less<>> sinks_;
  std::vector<std::pair<std::string, WatchSink*>> prefixes_;
  std::string resource_version_;
};

// How long the watch waits before it reconnects: exponential from 100 ms,
// doubling up to 10 s, back to the start after a stream that ended cleanly
// (the server's timeout, 410 Gone). A server's Retry-After is honoured up to
// the longest backoff; jitter of up to half the backoff spreads the reconnects
// of many agents after an API server restart. Pure: `random` supplies the jitter.
class ReconnectBackoff {
 public:
  explicit ReconnectBackoff(std::function<std::uint32_t()> random);
  // After a watch request ended: the wait before the next one (zero after a clean end).
  election::Duration next(bool clean, std::optional<election::Duration> retry_after);

  static constexpr std::chrono::milliseconds kInitial{100};
  static constexpr std::chrono::milliseconds kMax{10000};

 private:
  std::function<std::uint32_t()> random_;
  std::chrono::milliseconds backoff_ = kInitial;
};

class LeaseWatch {
 public:
  // `collection_path`: the namespace's Leases (lease_collection_path). Throws as WatchRouter does.
  LeaseWatch(ApiClient& api, const election::Clock& clock, std::string collection_path,
             std::vector<FollowedLease> followed);
  ~LeaseWatch();
  void start();
  // Ends the watch: cancels the request in flight and waits for the thread.
  void stop();

 private:
  void run();
  // Waits until `until` on the clock or stop(), whichever comes first.
  void wait_until(election::SteadyTime until);
  // How one watch request ended: clean when the stream ended normally (server
  // timeout, 410); reason for logs; the server's Retry-After when it refused.
  struct WatchEnd {
    bool clean = false;
    std::string reason;
    std::optional<election::Duration> retry_after;
  };
  WatchEnd watch_once();

  static constexpr std::size_t kMaxLineBytes = 16u << 20;

  ApiClient& api_;
  const election::Clock& clock_;
  const std::string collection_path_;
  WatchRouter router_;  // the watch thread's
  std::atomic<bool> stopping_{false};
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  std::thread thread_;
  StreamCancel cancel_;
};

}  // namespace leasehold::kube
