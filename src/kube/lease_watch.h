// LeaseWatch: follows one Lease with a Kubernetes watch
// (fieldSelector=metadata.name) so that releases, expiries and foreign writes
// are seen within milliseconds. Resumes from the last resourceVersion seen,
// starts afresh on 410 Gone, and reconnects with capped exponential backoff
// (longer when the server's answer carried Retry-After).
//
// Thread-safety: owns one thread; the sink is called on that thread and must
// not block. start/stop from one controlling thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

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
  virtual void on_watch_fatal(const std::string& what) = 0;
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

class LeaseWatch {
 public:
  LeaseWatch(ApiClient& api, std::string collection_path, std::string name, WatchSink& sink);
  ~LeaseWatch();
  void start();
  void stop();

 private:
  void run();
  // How one watch request ended: clean when the stream ended normally (server
  // timeout, 410); reason for logs; the server's Retry-After when it refused.
  struct WatchEnd {
    bool clean = false;
    std::string reason;
    std::optional<election::Duration> retry_after;
  };
  WatchEnd watch_once();

  ApiClient& api_;
  const std::string collection_path_;
  const std::string name_;
  WatchSink& sink_;
  std::atomic<bool> stopping_{false};
  std::string resource_version_;
  std::thread thread_;
  pplx::cancellation_token_source cancel_;
};

}  // namespace leasehold::kube
