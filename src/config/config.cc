#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "util/dns_name.h"
#include "util/duration.h"
#include "util/host_port.h"
#include "util/utf8.h"

namespace leasehold::config {
namespace {

using util::SettingError;

enum class Kind { kString, kDuration, kNumber, kInteger, kBool };

struct Option {
  const char* name;  // flag name without dashes; env is LEASEHOLD_<NAME upper, '-' -> '_'>
  Kind kind;
  const char* placeholder;
  const char* help;
  // Stores `value` into config; returns an error (without the name) or empty.
  std::function<std::string(Config&, const std::string&)> set;
  std::function<std::string(const Config&)> show_default;
};

std::string set_duration(election::Duration& target, const std::string& value) {
  bool too_large = false;
  auto d = util::parse_duration(value, &too_large);
  if (!d && too_large) return "'" + value + "' is too large (at most about 31 years)";
  if (!d) return "'" + value + "' is not a duration (e.g. 15s, 500ms, 1m30s)";
  target = *d;
  return {};
}

std::string set_threshold(int& target, const std::string& value) {
  try {
    size_t used = 0;
    const int n = std::stoi(value, &used);
    if (used != value.size() || n < 1 || n > 1000) return "'" + value + "' must be an integer in [1, 1000]";
    target = n;
    return {};
  } catch (const std::exception&) {
    return "'" + value + "' is not an integer";
  }
}

std::string set_shards(std::uint32_t& target, const std::string& value) {
  try {
    size_t used = 0;
    const long n = std::stol(value, &used);
    if (used != value.size() || n < 0 || n > static_cast<long>(kMaxShards)) {
      return "'" + value + "' must be an integer in [0, " + std::to_string(kMaxShards) + "]";
    }
    target = static_cast<std::uint32_t>(n);
    return {};
  } catch (const std::exception&) {
    return "'" + value + "' is not an integer";
  }
}

std::string set_bool(bool& target, const std::string& value) {
  if (value == "true" || value == "1" || value.empty()) {
    target = true;
  } else if (value == "false" || value == "0") {
    target = false;
  } else {
    return "'" + value + "' is not true or false";
  }
  return {};
}

#define STRING_OPTION(name, field, placeholder, help) \
  Option {                                            \
    name, Kind::kString, placeholder, help,           \
        [](Config& c, const std::string& v) {         \
          c.field = v;                                \
          return std::string();                       \
        },                                            \
        [](const Config& c) { return c.field; }       \
  }
#define BOOL_OPTION(name, field, help)                                                                        \
  Option {                                                                                                    \
    name, Kind::kBool, "[=bool]", help, [](Config& c, const std::string& v) { return set_bool(c.field, v); }, \
        [](const Config& c) { return std::string(c.field ? "true" : "false"); }                               \
  }
#define DURATION_OPTION(name, field, help)                                                                             \
  Option {                                                                                                             \
    name, Kind::kDuration, "duration", help, [](Config& c, const std::string& v) { return set_duration(c.field, v); }, \
        [](const Config& c) { return util::format_duration(c.field); }                                                 \
  }

const std::vector<Option>& options() {
  static const std::vector<Option> all = {
      STRING_OPTION("election", election, "name",
                    "Name of the election: the Lease's name (DNS-1123 subdomain). Required."),
      STRING_OPTION("namespace", namespace_name, "name",
                    "Namespace of the Lease. Default: $POD_NAMESPACE, else the pod's service-account namespace, "
                    "else the kubeconfig context's."),
      STRING_OPTION("identity", identity, "string",
                    "Holder identity. Default: $POD_NAME (else the hostname) + \"_\" + a random suffix per process "
                    "start, so a restart never resumes an old term."),
      STRING_OPTION("kubeconfig", kubeconfig, "path",
                    "Kubeconfig file (development). Default: $KUBECONFIG; when empty, the in-cluster service "
                    "account."),
      STRING_OPTION("context", kube_context, "name", "Kubeconfig context to use. Default: current-context."),
      DURATION_OPTION("lease-duration", timings.lease_duration,
                      "How long a follower waits, after the Lease last changed, before taking over (whole seconds)."),
      DURATION_OPTION("renew-deadline", timings.renew_deadline,
                      "The leader steps down when it has not renewed for this long."),
      DURATION_OPTION("retry-period", timings.retry_period,
                      "Interval between renewals, and between polls when the "
                      "watch is down."),
      DURATION_OPTION("safety-margin", timings.safety_margin,
                      "The leader stops claiming this long before a follower could take over (clock-rate drift, "
                      "app reaction)."),
      DURATION_OPTION("request-timeout", timings.request_timeout,
                      "Upper bound of one API request (a leader's are also bounded by its remaining validity)."),
      DURATION_OPTION("release-timeout", release_timeout,
                      "On SIGTERM/SIGINT: how long to keep trying to release the Lease before exiting."),
      DURATION_OPTION("handoff-timeout", handoff_timeout,
                      "On SIGTERM/SIGINT or resign, while leading: stop claiming at once, then wait up to this long "
                      "for the app to acknowledge (POST /v1/ack or an `ack` file in the status dir) before "
                      "releasing. 0: release at once."),
      STRING_OPTION("on-start-leading", on_start_leading, "command",
                    "Shell command run (sh -c) on becoming leader; $LEASEHOLD_ELECTION, $LEASEHOLD_IDENTITY, "
                    "$LEASEHOLD_FENCING_TOKEN and $LEASEHOLD_EVENT (started-leading, stopped-leading) are set, "
                    "beside the agent's own environment. Never blocks the election."),
      STRING_OPTION("on-stop-leading", on_stop_leading, "command",
                    "Shell command run (sh -c) on stopping leading, same environment."),
      DURATION_OPTION("hook-timeout", hook_timeout, "A hook still running after this long is killed."),
      STRING_OPTION("leader-label", leader_label, "key",
                    "Pod label set to \"true\" on this pod while it leads, removed on step-down (needs pods get/patch "
                    "and $POD_NAME). Empty: off."),
      BOOL_OPTION("trust-unmarked-release", trust_unmarked_release,
                  "Take a Lease whose holder was emptied without leasehold's release marker (a client-go elector's "
                  "ReleaseOnCancel, a hand edit) at once, instead of after one lease duration. Only safe when every "
                  "other candidate stops claiming before it releases."),
      BOOL_OPTION(
          "events", events,
          "Record Kubernetes Events (events.k8s.io/v1) when this pod starts or stops leading (with the reason), "
          "is asked to resign, or its app's health changes; never delays an election (needs create and patch "
          "on events; without them, nothing is recorded). false: off."),
      STRING_OPTION("app-health-url", app_health.http_url, "url",
                    "Check the app's health with an HTTP GET of this URL on localhost (e.g. "
                    "http://localhost:8080/healthz; 2xx is healthy, redirects are not followed). Empty: off."),
      STRING_OPTION("app-health-tcp", app_health.tcp_address, "[host:]port",
                    "Check the app's health by a TCP connect to this port on localhost (instead of "
                    "--app-health-url). Empty: off."),
      DURATION_OPTION("app-health-period", app_health.period, "How often to check the app's health."),
      DURATION_OPTION("app-health-timeout", app_health.timeout,
                      "A check without an answer after this long fails (it is cut off)."),
      Option{"app-health-failure-threshold", Kind::kInteger, "int",
             "Failed checks in a row that make the app unhealthy: a leader then resigns (like POST /v1/resign), a "
             "follower stops trying to take the Lease.",
             [](Config& c, const std::string& v) { return set_threshold(c.app_health.failure_threshold, v); },
             [](const Config& c) { return std::to_string(c.app_health.failure_threshold); }},
      Option{"app-health-success-threshold", Kind::kInteger, "int",
             "Successful checks in a row that make the app healthy again.",
             [](Config& c, const std::string& v) { return set_threshold(c.app_health.success_threshold, v); },
             [](const Config& c) { return std::to_string(c.app_health.success_threshold); }},
      BOOL_OPTION("app-health-require-before-claim", app_health.require_before_claim,
                  "Do not try to take the Lease until the app has passed its health check once since start."),
      Option{"shards", Kind::kInteger, "int",
             "Split the election into this many shards, each its own Lease (<election>-shard-<i>) owned by exactly "
             "one live replica, spread evenly over the replicas (GET /v1/shards, the `shards` file). 0: one "
             "leader.",
             [](Config& c, const std::string& v) { return set_shards(c.shards, v); },
             [](const Config& c) { return std::to_string(c.shards); }},
      STRING_OPTION("status-address", status_address, "host:port",
                    "Listener for the app: /v1/leader, /v1/status, /. Keep it on localhost."),
      STRING_OPTION("status-dir", status_dir, "path",
                    "Directory for status.json and the one-line state file (e.g. an emptyDir shared with the app). "
                    "Empty: no files."),
      STRING_OPTION("ops-address", ops_address, "host:port", "Listener for /metrics, /healthz and /readyz."),
      Option{"api-qps", Kind::kNumber, "number",
             "Client-side limit on API requests per second, per election (the sidecar's limit is this times its number "
             "of elections).",
             [](Config& c, const std::string& v) -> std::string {
               try {
                 size_t used = 0;
                 double d = std::stod(v, &used);
                 if (used != v.size() || !(d > 0) || d > 1000) return "'" + v + "' must be a number in (0, 1000]";
                 c.api_qps = d;
                 return {};
               } catch (const std::exception&) {
                 return "'" + v + "' is not a number";
               }
             },
             [](const Config& c) {
               std::ostringstream out;
               out << c.api_qps;
               return out.str();
             }},
      Option{"api-burst", Kind::kInteger, "int", "Client-side burst of API requests, per election.",
             [](Config& c, const std::string& v) -> std::string {
               try {
                 size_t used = 0;
                 int n = std::stoi(v, &used);
                 if (used != v.size() || n < 1 || n > 1000) return "'" + v + "' must be an integer in [1, 1000]";
                 c.api_burst = n;
                 return {};
               } catch (const std::exception&) {
                 return "'" + v + "' is not an integer";
               }
             },
             [](const Config& c) { return std::to_string(c.api_burst); }},
      Option{"log-level", Kind::kString, "level", "Least severe level logged: debug, info, warn or error.",
             [](Config& c, const std::string& v) -> std::string {
               if (v != "debug" && v != "info" && v != "warn" && v != "error") {
                 return "'" + v + "' is not one of debug, info, warn, error";
               }
               c.log_level = v;
               return {};
             },
             [](const Config& c) { return c.log_level; }},
      STRING_OPTION("config", config_file, "path",
                    "YAML file of settings, keyed by flag name (e.g. lease-duration: 15s). Flags and environment "
                    "override it."),
      Option{"version", Kind::kBool, "", "Print the version and exit.",
             [](Config& c, const std::string& v) { return set_bool(c.version, v); },
             [](const Config&) { return std::string(); }},
      Option{"help", Kind::kBool, "", "Print this help and exit.",
             [](Config& c, const std::string& v) { return set_bool(c.help, v); },
             [](const Config&) { return std::string(); }},
  };
  return all;
}

std::string env_name(const std::string& flag) {
  std::string out = "LEASEHOLD_";
  for (char c : flag) out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

const Option* find_option(const std::string& name) {
  for (const auto& o : options()) {
    if (name == o.name) return &o;
  }
  return nullptr;
}

// Keys an item of `elections:` may set.
const std::vector<std::string> kPerElectionKeys = {"lease-duration",
                                                   "renew-deadline",
                                                   "retry-period",
                                                   "safety-margin",
                                                   "request-timeout",
                                                   "on-start-leading",
                                                   "on-stop-leading",
                                                   "leader-label",
                                                   "app-health-url",
                                                   "app-health-tcp",
                                                   "app-health-period",
                                                   "app-health-timeout",
                                                   "app-health-failure-threshold",
                                                   "app-health-success-threshold",
                                                   "app-health-require-before-claim",
                                                   "trust-unmarked-release",
                                                   "shards"};

std::string parse_elections(const YAML::Node& list, Config& config) {
  if (!list.IsSequence()) return "elections must be a list";
  size_t index = 0;
  for (const auto& item : list) {
    const std::string where = "elections[" + std::to_string(index++) + "]";
    if (!item.IsMap() || !item["name"] || !item["name"].IsScalar()) return where + ".name is required";
    ElectionOverrides election{item["name"].as<std::string>(), {}};
    std::set<std::string> seen;
    for (const auto& field : item) {
      if (!field.first.IsScalar()) return where + ": keys must be strings";
      const std::string key = field.first.as<std::string>();
      if (!seen.insert(key).second) return where + ": '" + key + "' is set twice";
      if (key == "name") continue;
      if (std::find(kPerElectionKeys.begin(), kPerElectionKeys.end(), key) == kPerElectionKeys.end()) {
        return where + ": unknown setting '" + key + "'";
      }
      if (!field.second.IsScalar()) return where + "." + key + " must be a scalar";
      // Checked now so that the error names the place; applied by elections_of().
      const std::string value = field.second.as<std::string>();
      Config probe;
      if (auto err = find_option(key)->set(probe, value); !err.empty()) return where + "." + key + ": " + err;
      election.settings.emplace_back(key, value);
    }
    config.more_elections.push_back(std::move(election));
  }
  return {};
}

}  // namespace

std::vector<ElectionSettings> elections_of(const Config& config) {
  auto settings_of = [](const std::string& name, const Config& c) {
    return ElectionSettings{name,           c.timings, c.on_start_leading,       c.on_stop_leading,
                            c.leader_label, c.shards,  c.trust_unmarked_release, c.app_health};
  };
  std::vector<ElectionSettings> all{settings_of(config.election, config)};
  for (const auto& election : config.more_elections) {
    Config derived = config;
    // The leader label is the one setting not inherited: it names one label of the pod, which two
    // elections would set and clear over each other (a Service selecting it would follow whichever
    // changed last).
    derived.leader_label.clear();
    // Nor is the number of shards: it makes an election a different kind of thing.
    derived.shards = 0;
    // An election's own check replaces the inherited one, whichever kind each is.
    for (const auto& [key, value] : election.settings) {
      if (key == "app-health-url" || key == "app-health-tcp") {
        derived.app_health.http_url.clear();
        derived.app_health.tcp_address.clear();
      }
    }
    for (const auto& [key, value] : election.settings) find_option(key)->set(derived, value);
    all.push_back(settings_of(election.name, derived));
  }
  return all;
}

std::vector<std::string> option_names() {
  std::vector<std::string> names;
  for (const auto& o : options()) names.push_back(o.name);
  return names;
}

namespace {

// Variables Kubernetes sets for a Service named leasehold... in the pod's namespace (service
// links): <NAME>_SERVICE_HOST, <NAME>_SERVICE_PORT[_<port>], <NAME>_PORT[_<n>_<PROTO>[_...]].
bool is_service_link(const std::string& name) {
  return name.find("_SERVICE_HOST") != std::string::npos || name.find("_SERVICE_PORT") != std::string::npos ||
         (name.size() >= 5 && name.compare(name.size() - 5, 5, "_PORT") == 0) ||
         name.find("_PORT_") != std::string::npos;
}

std::optional<SettingError> check_environment(const std::vector<std::string>& env_names) {
  static const std::string kPrefix = "LEASEHOLD_";
  for (const auto& name : env_names) {
    if (name.rfind(kPrefix, 0) != 0 || is_service_link(name)) continue;
    bool known = false;
    // --help and --version are things to do, not settings: only flags.
    for (const auto& o : options()) {
      const std::string flag = o.name;
      known = known || (env_name(o.name) == name && flag != "help" && flag != "version");
    }
    if (known) continue;
    std::string flag = name.substr(kPrefix.size());
    for (char& c : flag) c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return SettingError{name, "unknown setting (there is no --" + flag + "; see --help)"};
  }
  return std::nullopt;
}

}  // namespace

ParseResult parse_config(const std::vector<std::string>& args, const EnvLookup& env,
                         const std::vector<std::string>& env_names) {
  // Flags are collected first, applied last: they win over env and file.
  std::vector<std::pair<const Option*, std::string>> flags;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "-h") arg = "--help";
    if (arg.rfind("--", 0) != 0) return {std::nullopt, SettingError{arg, "unexpected argument (flags start with --)"}};
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const Option* option = find_option(name);
    if (!option) return {std::nullopt, SettingError{"--" + name, "unknown flag (see --help)"}};
    if (!value) {
      if (option->kind == Kind::kBool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return {std::nullopt, SettingError{"--" + name, "missing value"}};
      }
    }
    flags.emplace_back(option, *value);
  }

  Config config;
  // The config file's own location: flag, else env.
  std::string file;
  for (const auto& [option, value] : flags) {
    if (std::string(option->name) == "config") file = value;
  }
  if (file.empty()) file = env(env_name("config"));
  if (!file.empty()) {
    YAML::Node root;
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec)) {
      return {std::nullopt, SettingError{"--config", file + " is a directory"}};
    }
    try {
      root = YAML::LoadFile(file);
    } catch (const YAML::BadFile&) {
      return {std::nullopt, SettingError{"--config", "cannot read " + file}};
    } catch (const std::ios_base::failure& e) {
      return {std::nullopt, SettingError{"--config", "cannot read " + file + ": " + e.what()}};
    } catch (const YAML::Exception& e) {
      return {std::nullopt, SettingError{"--config", file + " is not valid YAML: " + e.what()}};
    }
    if (root && !root.IsNull()) {
      if (!root.IsMap()) {
        return {std::nullopt, SettingError{"--config", file + " must be a mapping of flag names to values"}};
      }
      std::set<std::string> seen;
      for (const auto& item : root) {
        if (!item.first.IsScalar()) return {std::nullopt, SettingError{"--config", file + ": keys must be strings"}};
        const std::string key = item.first.as<std::string>();
        // YAML parsers differ on a repeated key (first, last, error): which one counts is not guessed.
        if (!seen.insert(key).second) {
          return {std::nullopt, SettingError{"--config", file + ": '" + key + "' is set twice"}};
        }
        if (key == "elections") {
          if (auto err = parse_elections(item.second, config); !err.empty()) {
            return {std::nullopt, SettingError{"--config", file + ": " + err}};
          }
          continue;
        }
        const Option* option = find_option(key);
        if (!option || key == "config" || key == "help" || key == "version") {
          return {std::nullopt, SettingError{"--config", file + ": unknown setting '" + key + "'"}};
        }
        if (!item.second.IsScalar()) {
          return {std::nullopt, SettingError{"--config", file + ": " + key + " must be a scalar"}};
        }
        if (auto err = option->set(config, item.second.as<std::string>()); !err.empty()) {
          return {std::nullopt, SettingError{"--config", file + ": " + key + ": " + err}};
        }
      }
    }
  }
  if (auto err = check_environment(env_names)) return {std::nullopt, std::move(err)};
  for (const auto& option : options()) {
    const std::string value = env(env_name(option.name));
    if (value.empty() || std::string(option.name) == "help" || std::string(option.name) == "version") continue;
    if (auto err = option.set(config, value); !err.empty()) {
      return {std::nullopt, SettingError{env_name(option.name), err}};
    }
  }
  for (const auto& [option, value] : flags) {
    if (auto err = option->set(config, value); !err.empty()) {
      return {std::nullopt, SettingError{std::string("--") + option->name, err}};
    }
  }
  config.config_file = file;
  return {config, std::nullopt};
}

void apply_defaults(Config& config, const EnvLookup& env, const std::string& hostname,
                    const std::string& random_suffix) {
  if (config.pod_name.empty()) config.pod_name = env("POD_NAME");
  if (config.identity.empty()) {
    std::string base = config.pod_name;
    if (base.empty()) base = hostname;
    config.identity = base + "_" + random_suffix;
  }
  if (config.namespace_name.empty()) config.namespace_name = env("POD_NAMESPACE");
  if (config.kubeconfig.empty()) config.kubeconfig = env("KUBECONFIG");
}

std::optional<SettingError> validate(const Config& c) {
  if (c.election.empty()) return SettingError{"--election", "required (the Lease's name)"};
  if (!util::is_dns1123_subdomain(c.election)) {
    return SettingError{"--election",
                        "'" + c.election + "' is not a DNS-1123 subdomain (lowercase letters, digits, '-', '.')"};
  }
  if (!c.namespace_name.empty() && !util::is_dns1123_label(c.namespace_name)) {
    return SettingError{"--namespace", "'" + c.namespace_name + "' is not a DNS-1123 label"};
  }
  if (c.identity.empty() || c.identity.size() > 253) return SettingError{"--identity", "must be 1 to 253 characters"};
  if (!util::is_valid_utf8(c.identity)) return SettingError{"--identity", "must be valid UTF-8"};
  for (char ch : c.identity) {
    if (std::isspace(static_cast<unsigned char>(ch)) || std::iscntrl(static_cast<unsigned char>(ch))) {
      return SettingError{"--identity", "must not contain spaces or control characters"};
    }
  }
  std::vector<std::string> names;
  for (const auto& e : elections_of(c)) {
    const std::string where = e.name == c.election ? "--" : "elections[" + e.name + "].";
    if (!util::is_dns1123_subdomain(e.name)) {
      return SettingError{"elections", "'" + e.name + "' is not a DNS-1123 subdomain"};
    }
    if (std::find(names.begin(), names.end(), e.name) != names.end()) {
      return SettingError{"elections", "'" + e.name + "' is listed twice"};
    }
    names.push_back(e.name);
    if (auto err = election::validate(e.timings)) return SettingError{where + err->setting, err->message};
    if (!e.leader_label.empty() && !util::is_label_key(e.leader_label)) {
      return SettingError{
          where + "leader-label",
          "'" + e.leader_label + "' is not a label key ([prefix/]name: letters, digits, '-', '_', '.', at most 63)"};
    }
    if (!e.leader_label.empty() && c.pod_name.empty()) {
      return SettingError{where + "leader-label", "needs $POD_NAME (set it from the downward API: metadata.name)"};
    }
    if (!e.leader_label.empty()) {
      for (const auto& other : elections_of(c)) {
        if (other.name == e.name) break;
        if (other.leader_label == e.leader_label) {
          return SettingError{where + "leader-label",
                              "'" + e.leader_label + "' is election " + other.name +
                                  "'s already: two elections would set and clear one pod label"};
        }
      }
    }
    if (auto err = health::validate(e.app_health)) return SettingError{where + err->setting, err->message};
    if (e.shards > 0) {
      // The longest Lease name it makes: <name>-member-<16 hex digits>.
      if (e.name.size() + 24 > 253) {
        return SettingError{where + "shards", "the election's name is too long to name its shards"};
      }
      if (!e.leader_label.empty()) {
        return SettingError{where + "shards", "a sharded election has no one leader to label (leader-label is set)"};
      }
      if (e.app_health.enabled()) {
        return SettingError{where + "shards",
                            "health checking of the app (app-health-*) is not yet available for shards"};
      }
    }
  }
  // A sharded election's Leases must not be another election's.
  for (const auto& e : elections_of(c)) {
    if (e.shards == 0) continue;
    for (const auto& other : elections_of(c)) {
      if (other.name.rfind(e.name + "-shard-", 0) == 0 || other.name.rfind(e.name + "-member-", 0) == 0) {
        return SettingError{"elections", "'" + other.name + "' would be a Lease of sharded election " + e.name};
      }
    }
  }
  if (c.hook_timeout <= election::Duration::zero()) return SettingError{"--hook-timeout", "must be positive"};
  if (c.handoff_timeout < election::Duration::zero()) return SettingError{"--handoff-timeout", "must not be negative"};
  if (c.release_timeout <= election::Duration::zero()) return SettingError{"--release-timeout", "must be positive"};
  std::string address_error;
  if (!util::parse_listen_address(c.status_address, &address_error)) {
    return SettingError{"--status-address", address_error};
  }
  if (!util::parse_listen_address(c.ops_address, &address_error)) return SettingError{"--ops-address", address_error};
  if (!c.kube_context.empty() && c.kubeconfig.empty()) {
    return SettingError{"--context", "needs --kubeconfig (the in-cluster ServiceAccount has no contexts)"};
  }
  std::error_code ec;
  if (!c.kubeconfig.empty() && std::filesystem::is_directory(c.kubeconfig, ec)) {
    return SettingError{"--kubeconfig", c.kubeconfig + " is a directory"};
  }
  // An app gating on the state file would never see a leader: refused, not warned about at every
  // write. A directory that does not exist yet is made at start.
  if (!c.status_dir.empty() && std::filesystem::exists(c.status_dir, ec) &&
      !std::filesystem::is_directory(c.status_dir, ec)) {
    return SettingError{"--status-dir", c.status_dir + " exists and is not a directory"};
  }
  return std::nullopt;
}

std::string help_text() {
  std::ostringstream out;
  out << "leasehold: elects one leader among a workload's pods by holding a Kubernetes Lease,\n"
         "and tells the app in the same pod whether it leads (HTTP on localhost, a file, metrics).\n\n"
         "Usage: leasehold --election NAME [flags]\n\n"
         "Every flag can also be set as an environment variable LEASEHOLD_<FLAG> (upper case, '-' as '_')\n"
         "or as a key of the --config YAML file. Precedence: flag > environment > file > default.\n"
         "The file may also hold `elections:`, a list of further elections, each a `name:` and any of\n";
  // The keys an item may set, from the one table parse_elections() checks them against.
  std::size_t column = 0;
  for (std::size_t i = 0; i < kPerElectionKeys.size(); ++i) {
    const std::string item = kPerElectionKeys[i] + (i + 1 < kPerElectionKeys.size() ? "," : "");
    if (column > 0 && column + 1 + item.size() > 96) {
      out << "\n";
      column = 0;
    }
    out << (column > 0 ? " " : "") << item;
    column += (column > 0 ? 1 : 0) + item.size();
  }
  out << "\n(the rest is inherited from the top level; leader-label and shards never are, and no two\n"
         "elections may name the same one).\n"
         "An unknown flag, file key or LEASEHOLD_* variable is refused; bad settings exit 2.\n\n"
         "Flags:\n";
  Config defaults;
  for (const auto& o : options()) {
    std::string head = std::string("  --") + o.name;
    if (*o.placeholder) head += std::string(" ") + o.placeholder;
    const bool command_only = std::string(o.name) == "help" || std::string(o.name) == "version";
    if (!command_only) head += ", $" + env_name(o.name);
    out << head << "\n      " << o.help;
    const std::string d = o.show_default(defaults);
    if (!d.empty()) out << " (default " << d << ")";
    out << "\n";
  }
  return out.str();
}

}  // namespace leasehold::config
