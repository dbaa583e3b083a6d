// LeaseWatch: follows one Lease with a Kubernetes watch
// (fieldSelector=metadata.name) so that releases, expiries and foreign writes
// are seen within milliseconds. Resumes from the last resourceVersion seen,
// starts afresh on 410 Gone, and reconnects with capped exponential backoff
// (longer when the server's answer carried Retry-After).
//
// Thread-safety: owns one thread; the sink is called on that thread and must
// not block. start/stop from one controlling thread. stop() (and the
// destructor) return only when the thread has ended: the sink is never
// called afterwards.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "election/clock.h"
#include "election/lease_record.h"
#include "kube/api_client.h"

namespace leasehold::kube {

class WatchSink {
 public:
  virtual ~WatchSink() = default;
  virtual void on_lease(const election::LeaseRecord& record, const nlohmann::json& object) = 0;
  virtual void on_lease_deleted(std::optional<std::uint64_t> revision) = 0;
  // healthy: the stream is open and events flow. reason: why not, for logs.
  virtual void on_watch_state(bool healthy, const std::string& reason) = 0;
  // An event that could not be understood (counted; never changes leadership).
  virtual void on_watch_garbage(const std::string& what) = 0;
  // The watch thread hit an error it cannot handle and ends.
  virtual void on_watch_fatal(std::string_view what) noexcept = 0;
};

// One decoded watch line. Exposed for tests and fuzzing.
struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kGone, kError, kInvalid };
  Type type = Type::kInvalid;
  std::optional<election::LeaseRecord> record;
  nlohmann::json object;
  std::string resource_version;
  std::string detail;
};
WatchEvent parse_watch_line(const std::string& line);

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
  LeaseWatch(ApiClient& api, const election::Clock& clock, std::string collection_path, std::string name,
             WatchSink& sink);
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

  ApiClient& api_;
  const election::Clock& clock_;
  const std::string collection_path_;
  const std::string name_;
  WatchSink& sink_;
  std::atomic<bool> stopping_{false};
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  std::string resource_version_;
  std::thread thread_;
  pplx::cancellation_token_source cancel_;
};

}  // namespace leasehold::kube
