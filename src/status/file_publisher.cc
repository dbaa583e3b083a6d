#include "status/file_publisher.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "status/status_json.h"

namespace leasehold::status {

std::string write_file_atomically(const std::string& path, const std::string& content) {
  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return "open " + temporary + ": " + std::strerror(errno);
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string error = "write " + temporary + ": " + std::strerror(errno);
      ::close(fd);
      return error;
    }
    written += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return "close " + temporary + ": " + std::strerror(errno);
  if (::rename(temporary.c_str(), path.c_str()) != 0) return "rename to " + path + ": " + std::strerror(errno);
  return {};
}

FilePublisher::FilePublisher(std::string directory)
    : directory_(std::move(directory)),
      state_path_(directory_ + "/state"),
      not_leading_temporary_(directory_ + "/state.not-leading.tmp") {}

std::string FilePublisher::publish(const StatusView& view) {
  // The state file goes first: shell readers are the ones with no other check.
  std::string error = write_file_atomically(directory_ + "/state", state_line(view));
  if (!error.empty()) return error;
  return write_file_atomically(directory_ + "/status.json", status_body(view));
}

bool FilePublisher::publish_not_leading() noexcept {
  static constexpr std::string_view kLine = kNotLeadingStateLine;
  const int fd = ::open(not_leading_temporary_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  std::size_t written = 0;
  while (written < kLine.size()) {
    const ssize_t n = ::write(fd, kLine.data() + written, kLine.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    written += static_cast<std::size_t>(n);
  }
  const bool closed = ::close(fd) == 0;
  return written == kLine.size() && closed && ::rename(not_leading_temporary_.c_str(), state_path_.c_str()) == 0;
}

}  // namespace leasehold::status
