// JSON to text for anything that may carry bytes from outside (API answers,
// query strings, file contents): invalid UTF-8 is replaced, never thrown on.
// Pure; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace leasehold {

inline std::string json_text(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace leasehold
