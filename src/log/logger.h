// Logger: JSON lines on stderr ({"ts","level","msg",...fields}), filtered by
// level. Never given credentials. Thread-safe (one line per call, whole).
#pragma once

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace leasehold::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

Level parse_level(const std::string& name);  // unknown names mean info

class Logger {
 public:
  explicit Logger(Level min_level = Level::kInfo, std::FILE* out = stderr) : min_(min_level), out_(out) {}
  void log(Level level, const std::string& message, const nlohmann::json& fields = nlohmann::json::object());
  void debug(const std::string& m, const nlohmann::json& f = nlohmann::json::object()) { log(Level::kDebug, m, f); }
  void info(const std::string& m, const nlohmann::json& f = nlohmann::json::object()) { log(Level::kInfo, m, f); }
  void warn(const std::string& m, const nlohmann::json& f = nlohmann::json::object()) { log(Level::kWarn, m, f); }
  void error(const std::string& m, const nlohmann::json& f = nlohmann::json::object()) { log(Level::kError, m, f); }

 private:
  const Level min_;
  std::FILE* out_;
  std::mutex mutex_;
};

}  // namespace leasehold::log
