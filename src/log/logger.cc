#include "log/logger.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "util/rfc3339.h"

namespace leasehold::log {
namespace {

const char* const kLevelNames[] = {"debug", "info", "warn", "error"};

// A line in a fixed buffer; never allocates. Past the buffer's end the rest is cut, and the line
// still ends as valid JSON: every piece goes in whole or not at all, and room is held back for
// the end of a key and of the line.
class LineBuffer {
 public:
  LineBuffer(char* data, std::size_t capacity) : data_(data), limit_(capacity - kEnd.size()) {}
  void raw(std::string_view text) {
    if (full_ || size_ + text.size() > limit_) {
      full_ = true;
      return;
    }
    for (const char c : text) data_[size_++] = c;
  }
  // A JSON string's contents: quotes, backslashes and control characters escaped. Other bytes
  // go as they are (the fields are the agent's own text: names, reasons, exception messages).
  void escaped(std::string_view text) {
    static const char hex[] = "0123456789abcdef";
    for (const char c : text) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        const char pair[] = {'\\', c};
        raw(std::string_view(pair, 2));
      } else if (c == '\n') {
        raw("\\n");
      } else if (u < 0x20) {
        const char code[] = {'\\', 'u', '0', '0', hex[u >> 4], hex[u & 15]};
        raw(std::string_view(code, sizeof code));
      } else {
        raw(std::string_view(&c, 1));
      }
    }
  }
  // Closes the string before and opens a key, or a value.
  void key() { in_key_ = separator("\",\"") || in_key_; }
  void value() { in_key_ = !separator("\":\"") && in_key_; }
  // The end of the line, in the room held back: a key cut short still gets its (empty) value.
  void finish() {
    const std::string_view end = in_key_ ? kEnd : kEnd.substr(3);
    for (const char c : end) data_[size_++] = c;
  }
  const char* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  static constexpr std::string_view kEnd = "\":\"\"}\n";
  bool separator(std::string_view text) {
    raw(text);
    return !full_;
  }
  char* const data_;
  const std::size_t limit_;
  std::size_t size_ = 0;
  bool full_ = false;
  bool in_key_ = false;
};

}  // namespace

Level parse_level(const std::string& name) {
  if (name == "debug") return Level::kDebug;
  if (name == "warn") return Level::kWarn;
  if (name == "error") return Level::kError;
  return Level::kInfo;
}

void Logger::log(Level level, const std::string& message, const nlohmann::json& fields) {
  if (level < min_) return;
  nlohmann::json line = {{"ts", util::format_rfc3339_millis(std::chrono::system_clock::now())},
                         {"level", kLevelNames[static_cast<int>(level)]},
                         {"msg", message}};
  if (fields.is_object()) {
    for (const auto& [key, value] : fields.items()) line[key] = value;
  }
  const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard lock(mutex_);
  std::fwrite(text.data(), 1, text.size(), out_);
  std::fflush(out_);
}

void Logger::line(Level level, std::string_view message, std::initializer_list<Field> fields) noexcept {
  if (level < min_) return;
  char text[kMaxLine];
  LineBuffer out(text, sizeof text);
  char ts[util::kRfc3339MillisSize];
  out.raw("{\"ts\":\"");
  out.raw(std::string_view(ts, util::format_rfc3339_millis_to(std::chrono::system_clock::now(), ts, sizeof ts)));
  out.raw("\",\"level\":\"");
  out.raw(kLevelNames[static_cast<int>(level)]);
  out.raw("\",\"msg\":\"");
  out.escaped(message);
  for (const Field& field : fields) {
    out.key();
    out.escaped(field.key);
    out.value();
    out.escaped(field.value);
  }
  out.finish();
  // A writer inside log() holds the lock only for its one write, and always lets go; the lock
  // is taken when free so that the two never interleave, and not waited for, as this may be the
  // last thing a failing process does.
  const bool locked = mutex_.try_lock();
  const int fd = ::fileno(out_);
  std::size_t done = 0;
  while (fd >= 0 && done < out.size()) {
    const ssize_t n = ::write(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  if (locked) mutex_.unlock();
}

}  // namespace leasehold::log
