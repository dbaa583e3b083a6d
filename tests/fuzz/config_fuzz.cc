// Fuzzes the agent's configuration as main() reads it: `--config FILE` with the fuzz input as the
// YAML file, no environment. parse_config must return a Config or an error naming the setting
// (bad configuration exits 2 with a message); it must not throw, crash or hang. A Config that
// parses then goes through apply_defaults and validate, as in main().
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "fuzz_util.h"
#include "util/dns_name.h"
#include "util/duration.h"

namespace config = leasehold::config;
namespace fuzz = leasehold::fuzz;
namespace util = leasehold::util;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = fuzz::scratch_dir() + "/config.yaml";
  fuzz::write_file(path, std::string(reinterpret_cast<const char*>(data), size));
  const auto no_env = [](const std::string&) { return std::string(); };
  const config::ParseResult parsed = config::parse_config({"--config", path}, no_env);
  if (!parsed.config) {
    FUZZ_CHECK(parsed.error && !parsed.error->message.empty(), "parse_config failed without an error message");
    FUZZ_CHECK(parsed.error->setting.rfind("--config", 0) == 0, "a config file error that does not name --config");
    return 0;
  }
  FUZZ_CHECK(!parsed.error, "a Config and an error at once");
  config::Config cfg = *parsed.config;
  FUZZ_CHECK(cfg.config_file == path, "config_file not recorded");
  config::apply_defaults(cfg, no_env, "fuzz-host", "abcd1234");
  const std::optional<util::SettingError> problem = config::validate(cfg);
  if (!problem) {
    // A valid configuration: what the agent builds on it must hold.
    FUZZ_CHECK(util::is_dns1123_subdomain(cfg.election), "validate accepted a bad election name");
    FUZZ_CHECK(cfg.timings.lease_duration > cfg.timings.renew_deadline, "validate accepted lease <= renew");
    FUZZ_CHECK(cfg.api_qps > 0 && cfg.api_burst >= 1, "validate accepted a bad rate limit");
    // The identity goes into the Lease (JSON) and every status answer: it must serialize.
    bool identity_serializes = true;
    try {
      (void)nlohmann::json(cfg.identity).dump();
    } catch (const nlohmann::json::exception&) {
      identity_serializes = false;
    }
    FUZZ_CHECK(identity_serializes, "validate accepted an identity that is not valid UTF-8 (Lease writes throw)");
    (void)config::elections_of(cfg);
  } else {
    FUZZ_CHECK(problem->setting.rfind("--", 0) == 0 || problem->setting.rfind("elections", 0) == 0,
               "a validation error that does not name the setting");
  }
  // Every duration setting prints back as it was read (help text, logs).
  for (const auto d : {cfg.timings.lease_duration, cfg.timings.renew_deadline, cfg.timings.retry_period,
                       cfg.timings.safety_margin, cfg.timings.request_timeout, cfg.release_timeout}) {
    const auto back = util::parse_duration(util::format_duration(d));
    FUZZ_CHECK(back && *back == d, "format_duration does not parse back to the same duration");
  }
  return 0;
}
