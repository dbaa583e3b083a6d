// SettingError: the one way a problem with a setting is reported, from the flag parser to the
// checks of each part's settings: the setting's name and what is wrong with it, kept apart so
// that a layer that places the setting (a flag, an environment variable, an item of the config
// file's `elections:`) names it without reading it back out of another layer's text. A plain
// value type; thread-safe.
#pragma once

#include <string>

namespace leasehold::util {

struct SettingError {
  // As the user wrote it ("--lease-duration", "LEASEHOLD_API_QPS", "elections[jobs].shards"), or
  // a bare key ("app-health-url") from a part that does not know where it was set.
  std::string setting;
  std::string message;  // what is wrong, without the setting's name in front
};

// "setting: message", as the user is shown it.
inline std::string to_string(const SettingError& error) { return error.setting + ": " + error.message; }

}  // namespace leasehold::util
