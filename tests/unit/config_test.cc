#include "config/config.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "election/shard_planner.h"

namespace leasehold::config {
namespace {

using namespace std::chrono_literals;

// What the user is shown ("setting: message"), or empty when nothing is wrong.
std::string text_of(const std::optional<util::SettingError>& error) { return error ? util::to_string(*error) : ""; }
// The setting named, or empty when nothing is wrong.
std::string setting_of(const std::optional<util::SettingError>& error) { return error ? error->setting : ""; }

// A file name unique to this process and call, removed by the caller.
std::string temp_path() {
  static int counter = 0;
  return "/tmp/leasehold-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".yaml";
}

EnvLookup env_of(std::map<std::string, std::string> values) {
  return [values](const std::string& name) {
    auto it = values.find(name);
    return it == values.end() ? std::string() : it->second;
  };
}

}  // namespace

TEST_CASE("precedence: flag over environment over file over default") {
  const std::string file = temp_path();
  std::ofstream(file) << "election: from-file\nlease-duration: 20s\nrenew-deadline: 12s\nretry-period: 3s\n";
  auto env = env_of({{"LEASEHOLD_LEASE_DURATION", "30s"}, {"LEASEHOLD_RETRY_PERIOD", "4s"}});
  auto result = parse_config({"--config", file, "--retry-period=1s"}, env);
  std::remove(file.c_str());
  REQUIRE(result.config.has_value());
  const Config& c = *result.config;
  CHECK(c.election == "from-file");        // file
  CHECK(c.timings.lease_duration == 30s);  // env over file
  CHECK(c.timings.renew_deadline == 12s);  // file over default
  CHECK(c.timings.retry_period == 1s);     // flag over env
  CHECK(c.timings.safety_margin == 2s);    // default
  CHECK(c.status_address == "127.0.0.1:4040");
}

TEST_CASE("the config file can be named by environment") {
  const std::string file = temp_path();
  std::ofstream(file) << "election: e\n";
  auto result = parse_config({}, env_of({{"LEASEHOLD_CONFIG", file}}));
  std::remove(file.c_str());
  REQUIRE(result.config.has_value());
  CHECK(result.config->election == "e");
}

TEST_CASE("bad settings are refused with the setting's name") {
  auto none = env_of({});
  CHECK(setting_of(parse_config({"--lease-duration", "fifteen"}, none).error) == "--lease-duration");
  // A duration written well but too large is called that, not "not a duration".
  CHECK(text_of(parse_config({"--lease-duration", "600000h"}, none).error) ==
        "--lease-duration: '600000h' is too large (at most about 31 years)");
  CHECK(text_of(parse_config({"--nope"}, none).error).starts_with("--nope: unknown flag"));
  CHECK(text_of(parse_config({"--election"}, none).error).starts_with("--election: missing value"));
  CHECK(text_of(parse_config({"positional"}, none).error) == "positional: unexpected argument (flags start with --)");
  CHECK(setting_of(parse_config({}, env_of({{"LEASEHOLD_API_QPS", "-1"}})).error) == "LEASEHOLD_API_QPS");
  CHECK(setting_of(parse_config({"--log-level", "loud"}, none).error) == "--log-level");
  const std::string file = temp_path();
  std::ofstream(file) << "electoin: typo\n";
  CHECK(text_of(parse_config({"--config", file}, none).error).find("unknown setting 'electoin'") != std::string::npos);
  std::remove(file.c_str());
  CHECK(text_of(parse_config({"--config", "/nonexistent/leasehold.yaml"}, none).error)
            .starts_with("--config: cannot read"));
}

TEST_CASE("validation after defaults names the field") {
  Config c;
  c.identity = "me";
  CHECK(text_of(validate(c)).starts_with("--election: required"));
  c.election = "Bad_Name";
  CHECK(setting_of(validate(c)) == "--election");
  c.election = "jobs.example";
  CHECK(!validate(c));
  c.namespace_name = "Team A";
  CHECK(setting_of(validate(c)) == "--namespace");
  c.namespace_name = "team-a";
  c.timings.renew_deadline = 20s;
  CHECK(setting_of(validate(c)) == "--lease-duration");
  c.timings = {};
  c.identity = "has space";
  CHECK(setting_of(validate(c)) == "--identity");
}

TEST_CASE("a directory where a file is meant, or a file where a directory is, is refused by name") {
  const auto parsed = parse_config({"--election", "jobs", "--config", "/tmp"}, env_of({}));
  CHECK_FALSE(parsed.config);
  CHECK(text_of(parsed.error) == "--config: /tmp is a directory");
  CHECK(setting_of(parse_config({"--election", "jobs"}, env_of({{"LEASEHOLD_CONFIG", "/tmp"}})).error) == "--config");
  Config c;
  c.identity = "me";
  c.election = "jobs";
  c.kubeconfig = "/tmp";
  CHECK(text_of(validate(c)) == "--kubeconfig: /tmp is a directory");
  c.kubeconfig.clear();
  const std::string file = temp_path();
  std::ofstream(file) << "x";
  c.status_dir = file;
  CHECK(text_of(validate(c)).starts_with("--status-dir: " + file + " exists and is not a directory"));
  c.status_dir = file + "-not-yet";  // made at start
  CHECK(!validate(c));
  std::remove(file.c_str());
}

TEST_CASE("listener addresses, label keys and --context are checked before the network") {
  Config c;
  c.election = "e";
  c.identity = "me";
  REQUIRE(!validate(c));
  c.status_address = "nohost";
  CHECK(setting_of(validate(c)) == "--status-address");
  c.status_address = "127.0.0.1:99999";
  CHECK(setting_of(validate(c)) == "--status-address");
  c.status_address = "example.com:80";
  CHECK(setting_of(validate(c)) == "--status-address");
  c.status_address = "[localhost]:4040";
  CHECK(setting_of(validate(c)) == "--status-address");
  c.status_address = "::1:4040";
  CHECK(setting_of(validate(c)) == "--status-address");
  c.status_address = "[::1]:4040";
  CHECK(!validate(c));
  c.ops_address = "nohost";
  CHECK(setting_of(validate(c)) == "--ops-address");
  c.ops_address = "localhost:0";
  CHECK(!validate(c));
  c.pod_name = "web-0";
  c.leader_label = "bad label!";
  CHECK(setting_of(validate(c)) == "--leader-label");
  c.leader_label = "example.com/leader";
  CHECK(!validate(c));
  c.kube_context = "dev";
  CHECK(setting_of(validate(c)) == "--context");
  c.kubeconfig = "/some/kubeconfig";
  CHECK(!validate(c));
}

TEST_CASE("the first problem is the one reported: --election before anything else") {
  Config c;  // nothing set, as with no arguments at all
  c.status_address = "nohost";
  c.timings.retry_period = 0s;
  CHECK(text_of(validate(c)).starts_with("--election: required"));
  c.election = "e";
  c.identity = "me";
  CHECK(setting_of(validate(c)) == "--retry-period");
}

TEST_CASE("a mistyped LEASEHOLD_ variable is refused as an unknown YAML key is") {
  auto env = env_of({{"LEASEHOLD_ELECTOIN", "x"}});
  const auto result = parse_config({}, env, {"PATH", "LEASEHOLD_ELECTOIN"});
  CHECK_FALSE(result.config.has_value());
  CHECK(text_of(result.error).starts_with("LEASEHOLD_ELECTOIN: unknown setting"));
  // Known names pass, and so do Kubernetes' service links for a Service called leasehold.
  CHECK(parse_config({}, env_of({}),
                     {"LEASEHOLD_ELECTION", "LEASEHOLD_SERVICE_HOST", "LEASEHOLD_SERVICE_PORT", "LEASEHOLD_PORT",
                      "LEASEHOLD_PORT_4040_TCP_ADDR", "LEASEHOLD_SERVICE_PORT_STATUS"})
            .config.has_value());
}

TEST_CASE("LEASEHOLD_HELP and LEASEHOLD_VERSION are no settings: refused like any unknown name") {
  for (const char* name : {"LEASEHOLD_HELP", "LEASEHOLD_VERSION"}) {
    const auto result = parse_config({"--election", "jobs"}, env_of({{name, "true"}}), {name});
    CHECK_FALSE(result.config.has_value());
    CHECK(text_of(result.error).starts_with(std::string(name) + ": unknown setting"));
  }
}

TEST_CASE("a key set twice in the config file is refused, not guessed") {
  const std::string file = temp_path();
  std::ofstream(file) << "election: a\nlease-duration: 15s\nlease-duration: 20s\n";
  CHECK(text_of(parse_config({"--config", file}, env_of({})).error) ==
        "--config: " + file + ": 'lease-duration' is set twice");
  std::ofstream(file) << "election: a\nelections:\n- name: b\n  shards: 2\n  shards: 3\n";
  CHECK(text_of(parse_config({"--config", file}, env_of({})).error) ==
        "--config: " + file + ": elections[0]: 'shards' is set twice");
  std::remove(file.c_str());
}

TEST_CASE("identity defaults to the pod name plus a per-start suffix; namespace to the pod's") {
  Config c;
  apply_defaults(c, env_of({{"POD_NAME", "web-0"}, {"POD_NAMESPACE", "shop"}}), "host", "1a2b3c4d");
  CHECK(c.identity == "web-0_1a2b3c4d");
  CHECK(c.namespace_name == "shop");
  Config d;
  apply_defaults(d, env_of({}), "host", "ff");
  CHECK(d.identity == "host_ff");
}

TEST_CASE("help lists every option with its environment variable") {
  const std::string help = help_text();
  for (const auto& name : option_names()) {
    CAPTURE(name);
    CHECK(help.find("--" + name) != std::string::npos);
  }
  CHECK(help.find("$LEASEHOLD_LEASE_DURATION") != std::string::npos);
  CHECK(help.find("(default 15s)") != std::string::npos);
}

TEST_CASE("help lists exactly the keys an item of elections: may set") {
  const std::string help = help_text();
  const auto from = help.find("each a `name:` and any of\n");
  const auto to = help.find("\n(the rest is inherited");
  REQUIRE(from != std::string::npos);
  REQUIRE(to != std::string::npos);
  std::istringstream listed(help.substr(from, to - from).substr(std::string("each a `name:` and any of\n").size()));
  std::vector<std::string> keys;
  for (std::string word; listed >> word;) keys.push_back(word.back() == ',' ? word.substr(0, word.size() - 1) : word);
  CHECK(keys.size() >= 16);
  const std::string file = temp_path();
  for (const auto& key : keys) {
    CAPTURE(key);
    std::ofstream(file) << "election: a\nelections:\n- name: b\n  " << key << ": \"?\"\n";
    const auto parsed = parse_config({"--config", file}, env_of({}));
    // Accepted as a key: any error is about its value, not an unknown setting.
    CHECK(text_of(parsed.error).find("unknown setting") == std::string::npos);
  }
  std::ofstream(file) << "election: a\nelections:\n- name: b\n  ops-address: \":1\"\n";
  CHECK(text_of(parse_config({"--config", file}, env_of({})).error).find("unknown setting 'ops-address'") !=
        std::string::npos);
  std::remove(file.c_str());
}

TEST_CASE("several elections from the config file inherit and override settings") {
  const std::string file = temp_path();
  std::ofstream(file)
      << "election: jobs-a\nlease-duration: 20s\nrenew-deadline: 12s\non-start-leading: echo a\n"
         "elections:\n- name: jobs-b\n  lease-duration: 30s\n- name: jobs-c\n  leader-label: x/leader\n";
  auto result = parse_config({"--config", file}, env_of({}));
  std::remove(file.c_str());
  REQUIRE(result.config.has_value());
  Config c = *result.config;
  c.identity = "me";
  const auto all = elections_of(c);
  REQUIRE(all.size() == 3);
  CHECK(all[0].name == "jobs-a");
  CHECK(all[1].name == "jobs-b");
  CHECK(all[1].timings.lease_duration == 30s);
  CHECK(all[1].timings.renew_deadline == 12s);
  CHECK(all[1].on_start_leading == "echo a");
  CHECK(all[2].timings.lease_duration == 20s);
  CHECK(all[2].leader_label == "x/leader");
  // The one setting not inherited: a further election has a leader label only of its own.
  c.leader_label = "x/leads-a";
  CHECK(elections_of(c)[1].leader_label.empty());
  c.leader_label.clear();
  CHECK(text_of(validate(c)).starts_with("elections[jobs-c].leader-label: needs $POD_NAME"));
  c.pod_name = "web-0";
  CHECK(!validate(c));
}

TEST_CASE("two elections may not name one leader label") {
  const auto check = [](const std::string& yaml) {
    const std::string file = temp_path();
    std::ofstream(file) << yaml;
    auto result = parse_config({"--config", file}, env_of({}));
    std::remove(file.c_str());
    REQUIRE(result.config.has_value());
    Config c = *result.config;
    c.identity = "me";
    c.pod_name = "web-0";
    return text_of(validate(c));
  };
  // Each would clear what the other set, and a Service selecting the label would follow either.
  CHECK(check("election: a\nleader-label: x/leader\nelections:\n- name: b\n  leader-label: x/leader\n")
            .starts_with("elections[b].leader-label: 'x/leader' is election a's already"));
  CHECK(check("election: a\nelections:\n- name: b\n  leader-label: x/l\n- name: c\n  leader-label: x/l\n")
            .starts_with("elections[c].leader-label: 'x/l' is election b's already"));
  // Not inherited, so a top-level label alone is the default election's only.
  CHECK(check("election: a\nleader-label: x/leader\nelections:\n- name: b\n").empty());
  CHECK(check("election: a\nleader-label: x/leader\nelections:\n- name: b\n  leader-label: x/b\n").empty());
}

TEST_CASE("shards: a number from 0 to 1024, per election, never inherited, not with a label or health checks") {
  const auto check = [](const std::string& yaml, std::vector<std::string> flags = {}) {
    const std::string file = temp_path();
    std::ofstream(file) << yaml;
    flags.insert(flags.begin(), {"--config", file});
    auto result = parse_config(flags, env_of({}));
    std::remove(file.c_str());
    if (!result.config) return text_of(result.error);
    Config c = *result.config;
    c.identity = "me";
    c.pod_name = "web-0";
    return text_of(validate(c));
  };
  CHECK(check("election: jobs\nshards: 12\n").empty());
  CHECK(check("election: jobs\n", {"--shards", "1024"}).empty());
  CHECK(
      check("election: jobs\n", {"--shards", "1025"}).starts_with("--shards: '1025' must be an integer in [0, 1024]"));
  CHECK(check("election: jobs\n", {"--shards", "-1"}).starts_with("--shards:"));
  CHECK(check("election: jobs\n", {"--shards", "2x"}).starts_with("--shards:"));
  CHECK(check("election: a\nelections:\n- name: b\n  shards: 2000\n").find("elections[0].shards: '2000'") !=
        std::string::npos);
  CHECK(check("election: jobs\nshards: 4\nleader-label: x/leader\n")
            .starts_with("--shards: a sharded election has no one leader to label"));
  CHECK(check("election: jobs\nshards: 4\napp-health-tcp: '8080'\n").starts_with("--shards: health checking"));
  CHECK(check("election: jobs\nshards: 4\nelections:\n- name: jobs-shard-1\n")
            .starts_with("elections: 'jobs-shard-1' would be a Lease of sharded election jobs"));
  const std::string long_name =
      std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." + std::string(40, 'd');
  CHECK(check("election: " + long_name + "\nshards: 4\n").starts_with("--shards: the election's name is too long"));

  const std::string file = temp_path();
  std::ofstream(file) << "election: a\nshards: 8\nelections:\n- name: b\n- name: c\n  shards: 3\n";
  auto result = parse_config({"--config", file}, env_of({}));
  std::remove(file.c_str());
  REQUIRE(result.config.has_value());
  const auto all = elections_of(*result.config);
  CHECK(all[0].shards == 8);
  CHECK(all[1].shards == 0);  // not inherited: a sharded election is another kind of election
  CHECK(all[2].shards == 3);
}

TEST_CASE("shard and member Lease names") {
  CHECK(election::shard_lease_name("jobs", 7, 12) == "jobs-shard-07");
  CHECK(election::shard_lease_name("jobs", 7, 8) == "jobs-shard-7");
  CHECK(election::shard_lease_name("jobs", 1023, 1024) == "jobs-shard-1023");
  CHECK(election::shard_lease_name("jobs", 5, 1024) == "jobs-shard-0005");
  const std::string m = election::member_lease_name("jobs", "pod-a_x1y2");
  CHECK(m.starts_with("jobs-member-"));
  CHECK(m.size() == std::string("jobs-member-").size() + 16);
  CHECK(m == election::member_lease_name("jobs", "pod-a_x1y2"));
  CHECK(m != election::member_lease_name("jobs", "pod-b_x1y2"));
}

TEST_CASE("bad election lists are refused with their place named") {
  auto refuse = [](const std::string& yaml) {
    const std::string file = temp_path();
    std::ofstream(file) << yaml;
    auto result = parse_config({"--config", file}, env_of({}));
    std::remove(file.c_str());
    if (!result.config) return text_of(result.error);
    Config c = *result.config;
    c.identity = "me";
    return text_of(validate(c));
  };
  CHECK(refuse("election: a\nelections: nope\n").find("elections must be a list") != std::string::npos);
  CHECK(refuse("election: a\nelections:\n- lease-duration: 5s\n").find("elections[0].name") != std::string::npos);
  CHECK(refuse("election: a\nelections:\n- name: b\n  colour: red\n").find("elections[0]: unknown setting") !=
        std::string::npos);
  CHECK(refuse("election: a\nelections:\n- name: b\n  lease-duration: x\n").find("elections[0].lease-duration") !=
        std::string::npos);
  CHECK(refuse("election: a\nelections:\n- name: a\n").find("listed twice") != std::string::npos);
  CHECK(refuse("election: a\nelections:\n- name: b\n  renew-deadline: 20s\n").find("elections[b]") !=
        std::string::npos);
}

TEST_CASE("identities must be valid UTF-8; YAML keys must be strings") {
  Config c;
  c.election = "e";
  c.identity = "pod-\xff";
  CHECK(setting_of(validate(c)) == "--identity");
  c.identity = "pod-\xc3\xa9";  // é
  CHECK(!validate(c));
  const std::string file = temp_path();
  std::ofstream(file) << "[a, b]: 1\n";
  CHECK(text_of(parse_config({"--config", file}, env_of({})).error).find("keys must be strings") != std::string::npos);
  std::ofstream(file) << "election: a\nelections:\n- name: b\n  {k: v}: 1\n";
  CHECK(text_of(parse_config({"--config", file}, env_of({})).error).find("keys must be strings") != std::string::npos);
  std::remove(file.c_str());
}

TEST_CASE("health flags, environment and per-election YAML; errors name the setting") {
  auto none = [](const std::string&) { return std::string(); };
  auto parsed = parse_config(
      {"--election", "jobs", "--identity", "me", "--app-health-url", "http://localhost:8080/healthz",
       "--app-health-period", "2s", "--app-health-failure-threshold", "2", "--app-health-require-before-claim"},
      none);
  REQUIRE(parsed.config.has_value());
  CHECK(!validate(*parsed.config));
  const auto e = elections_of(*parsed.config).at(0);
  CHECK(e.app_health.enabled());
  CHECK(e.app_health.period == 2s);
  CHECK(e.app_health.failure_threshold == 2);
  CHECK(e.app_health.require_before_claim);

  auto env = [](const std::string& name) {
    return name == "LEASEHOLD_APP_HEALTH_TCP" ? std::string("localhost:99999") : std::string();
  };
  auto bad = parse_config({"--election", "jobs", "--identity", "me"}, env);
  REQUIRE(bad.config.has_value());
  CHECK(setting_of(validate(*bad.config)) == "--app-health-tcp");
  CHECK(setting_of(parse_config({"--app-health-success-threshold", "x"}, none).error) ==
        "--app-health-success-threshold");

  const std::string file = "/tmp/leasehold-health-test-" + std::to_string(::getpid()) + ".yaml";
  std::ofstream(file) << "election: a\nidentity: me\napp-health-tcp: \"8080\"\n"
                         "elections:\n- name: b\n  app-health-tcp: \"\"\n"
                         "- name: d\n  app-health-url: http://localhost:81/ok\n"
                         "- name: c\n  app-health-timeout: 0s\n";
  auto yaml = parse_config({"--config", file}, none);
  std::remove(file.c_str());
  REQUIRE(yaml.config.has_value());
  const auto all = elections_of(*yaml.config);
  CHECK(all.at(0).app_health.enabled());
  CHECK_FALSE(all.at(1).app_health.enabled());                       // turned off for one election
  CHECK(all.at(2).app_health.http_url == "http://localhost:81/ok");  // its own check replaces the TCP one
  CHECK(all.at(2).app_health.tcp_address.empty());
  CHECK(setting_of(validate(*yaml.config)) == "elections[c].app-health-timeout");
}

}  // namespace leasehold::config
