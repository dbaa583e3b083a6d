// Config: the agent's settings from flags, LEASEHOLD_* environment variables
// and an optional YAML file (precedence flag > env > file > default), with
// validation that names the offending setting. Pure apart from reading the
// YAML file; thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "election/timings.h"
#include "health/probe_settings.h"
#include "util/setting_error.h"

namespace leasehold::config {

// One election's own settings: the Lease name and what may differ per election.
struct ElectionSettings {
  std::string name;
  election::ElectionTimings timings;
  std::string on_start_leading;         // shell command run on becoming leader
  std::string on_stop_leading;          // shell command run on stopping
  std::string leader_label;             // pod label key set while leading; empty: off
  std::uint32_t shards = 0;             // > 0: a sharded election of this many shards
  bool trust_unmarked_release = false;  // take any release at once (see Elector::trust_unmarked_releases)
  health::ProbeSettings app_health;     // off unless a URL or TCP address is set
};

// One item of the config file's `elections:` list: the Lease name and the settings (flag name,
// value) that override the top-level ones for that election.
struct ElectionOverrides {
  std::string name;
  std::vector<std::pair<std::string, std::string>> settings;
};

struct Config {
  std::string election;
  std::string namespace_name;  // empty: from the pod or the kubeconfig
  std::string identity;        // empty: pod name + "_" + random suffix
  std::string kubeconfig;      // empty: in-cluster
  std::string kube_context;
  election::ElectionTimings timings;
  election::Duration release_timeout = std::chrono::seconds(5);
  election::Duration handoff_timeout = std::chrono::seconds(0);
  election::Duration hook_timeout = std::chrono::seconds(10);
  std::string on_start_leading;
  std::string on_stop_leading;
  std::string leader_label;
  std::uint32_t shards = 0;
  bool trust_unmarked_release = false;
  bool events = true;  // Kubernetes Events about the elections
  health::ProbeSettings app_health;
  // Further elections from the config file's `elections:` list; each inherits
  // the top-level timings, hooks and label unless it sets its own.
  std::vector<ElectionOverrides> more_elections;
  std::string pod_name;  // $POD_NAME: the pod --leader-label patches
  std::string status_address = "127.0.0.1:4040";
  std::string status_dir;
  std::string ops_address = ":9090";
  double api_qps = 5;
  int api_burst = 10;
  std::string log_level = "info";
  std::string config_file;
  bool help = false;
  bool version = false;
};

// The most shards one election may have.
inline constexpr std::uint32_t kMaxShards = 1024;

using EnvLookup = std::function<std::string(const std::string&)>;

struct ParseResult {
  std::optional<Config> config;
  // When there is no config: the setting as given ("--lease-duration", "LEASEHOLD_API_QPS",
  // "--config" for anything in the file, or a stray argument) and what is wrong.
  std::optional<util::SettingError> error;
};

// argv without the program name. `env_names`: the names of the variables in the environment; a
// LEASEHOLD_* name that is no setting is refused as an unknown YAML key is (Kubernetes' service
// links, e.g. LEASEHOLD_SERVICE_HOST or LEASEHOLD_PORT_4040_TCP, are not settings and pass).
ParseResult parse_config(const std::vector<std::string>& args, const EnvLookup& env,
                         const std::vector<std::string>& env_names = {});

// Fills pod name, identity and namespace defaults from the environment; `random_suffix`
// makes every process start a new identity.
void apply_defaults(Config& config, const EnvLookup& env, const std::string& hostname,
                    const std::string& random_suffix);

// Checks what parse_config cannot (after defaults), all of it without the network: returns the
// first problem, named by its setting ("--lease-duration", "elections[jobs].shards"), or nullopt.
// The order is the order a user fixes them in: --election first, then identity and namespace,
// timings, hooks and labels, listeners.
std::optional<util::SettingError> validate(const Config& config);

std::string help_text();

// All elections: the default one (from --election and the top-level
// settings) first, then the config file's.
std::vector<ElectionSettings> elections_of(const Config& config);

// Every option's flag name, in help order (for docs tests).
std::vector<std::string> option_names();

}  // namespace leasehold::config
