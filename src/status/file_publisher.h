// FilePublisher: writes status.json and the one-line `state` file into the
// status directory, each atomically (a temporary file renamed into place) so a
// reader never sees half a file. Not thread-safe: the election thread and the
// main thread (a demotion on shutdown) both publish, so its owner serialises
// the calls.
#pragma once

#include <string>

#include "status/status_board.h"

namespace leasehold::status {

class FilePublisher {
 public:
  explicit FilePublisher(std::string directory);
  // Returns an error message, or empty on success.
  std::string publish(const StatusView& view);

 private:
  const std::string directory_;
};

// Writes `content` to `path` through `path`.tmp + rename. Returns an error
// message, or empty on success.
std::string write_file_atomically(const std::string& path, const std::string& content);

}  // namespace leasehold::status
