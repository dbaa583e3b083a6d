#include "log/logger.h"

#include <chrono>

#include "util/rfc3339.h"

namespace leasehold::log {

Level parse_level(const std::string& name) {
  if (name == "debug") return Level::kDebug;
  if (name == "warn") return Level::kWarn;
  if (name == "error") return Level::kError;
  return Level::kInfo;
}

void Logger::log(Level level, const std::string& message, const nlohmann::json& fields) {
  if (level < min_) return;
  static const char* const names[] = {"debug", "info", "warn", "error"};
  nlohmann::json line = {{"ts", util::format_rfc3339_millis(std::chrono::system_clock::now())},
                         {"level", names[static_cast<int>(level)]},
                         {"msg", message}};
  if (fields.is_object()) {
    for (const auto& [key, value] : fields.items()) line[key] = value;
  }
  const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard lock(mutex_);
  std::fwrite(text.data(), 1, text.size(), out_);
  std::fflush(out_);
}

}  // namespace leasehold::log
