// ProbeSettings: how one election checks its app's health (kubelet-like:
// an HTTP GET or a TCP connect on localhost, period, timeout, thresholds),
// the parsing of the probe target and the validation of the whole. A plain
// value type; pure functions, thread-safe.
#pragma once

#include <optional>
#include <string>

#include "election/clock.h"
#include "util/setting_error.h"

namespace leasehold::health {

struct ProbeSettings {
  std::string http_url;     // http://localhost:PORT/PATH; empty: no HTTP probe
  std::string tcp_address;  // HOST:PORT on localhost; empty: no TCP probe
  election::Duration period = std::chrono::seconds(10);
  election::Duration timeout = std::chrono::seconds(1);
  int failure_threshold = 3;
  int success_threshold = 1;
  // Do not claim leadership until the app has been healthy once after start.
  bool require_before_claim = false;

  bool enabled() const { return !http_url.empty() || !tcp_address.empty(); }
};

// Where a probe goes, parsed from the settings.
struct ProbeTarget {
  enum class Kind { kHttp, kTcp } kind = Kind::kTcp;
  std::string address;  // numeric loopback address: 127.x.y.z or ::1
  bool ipv6 = false;
  int port = 0;
  std::string host_header;  // HTTP: as written in the URL
  std::string path = "/";   // HTTP: path and query
};

// Only the loopback interface: the app shares the pod's network namespace, and
// a probe must never reach another host. "localhost" means 127.0.0.1.
std::optional<ProbeTarget> parse_http_url(const std::string& url, std::string* error);
std::optional<ProbeTarget> parse_tcp_address(const std::string& address, std::string* error);

// The target of enabled settings (validated first).
ProbeTarget target_of(const ProbeSettings& settings);

// The first problem, named by its setting's bare key (app-health-...), or nullopt when the
// settings are usable.
std::optional<util::SettingError> validate(const ProbeSettings& settings);

}  // namespace leasehold::health
