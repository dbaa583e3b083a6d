// Logger: JSON lines on stderr ({"ts","level","msg",...fields}), filtered by
// level. Never given credentials. Thread-safe (one line per call, whole).
//
// Two ways to write a line: log() takes any JSON fields and allocates; line() takes text fields
// only and allocates nothing, so that what must be said while memory is exhausted (why a claim
// ended, why the process exits) is said: the line is formatted in a buffer on the stack and
// written with one write(2). Neither throws out of line(); log() may (it allocates).
#pragma once

#include <cstddef>
#include <cstdio>
#include <initializer_list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace leasehold::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

Level parse_level(const std::string& name);  // unknown names mean info

// A text field of line().
struct Field {
  std::string_view key;
  std::string_view value;
};

class Logger {
 public:
  // The longest line line() writes; longer values are cut (the line stays valid JSON).
  static constexpr std::size_t kMaxLine = 2048;

  explicit Logger(Level min_level = Level::kInfo, std::FILE* out = stderr) : min_(min_level), out_(out) {}
  void log(Level level, const std::string& message, const nlohmann::json& fields = nlohmann::json::object());
  void debug(const std::string& m, const nlohmann::json& f = nlohmann::json::object()) { log(Level::kDebug, m, f); }
  void info(const std::string& m, const nlohmann::json& f = nlohmann::json::object()) { log(Level::kInfo, m, f); }
  void warn(const std::string& m, const nlohmann::json& f = nlohmann::json::object()) { log(Level::kWarn, m, f); }
  void error(const std::string& m, const nlohmann::json& f = nlohmann::json::object()) { log(Level::kError, m, f); }
  // The same line as log() with text fields, allocating nothing. Safe on any thread at any
  // time, also on the way out of the process: it waits for no other thread (a line being
  // written by log() at that moment is not interleaved with, as each is one write).
  void line(Level level, std::string_view message, std::initializer_list<Field> fields) noexcept;
  // The descriptor the lines go to (for a last line written from a signal handler).
  int fd() const noexcept { return ::fileno(out_); }

 private:
  const Level min_;
  std::FILE* out_;
  std::mutex mutex_;
};

}  // namespace leasehold::log
