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
  // Writes the `state` line of a replica that does not lead, allocating nothing: the demotion
  // on the way out after an internal error, which may be running out of memory. Through a
  // temporary file of its own, so that it never mixes with a publish() under way on another
  // thread (one the caller could not wait for). Returns whether the file was replaced.
  bool publish_not_leading() noexcept;

 private:
  const std::string directory_;
  // Made up front, for publish_not_leading().
  const std::string state_path_;
  const std::string not_leading_temporary_;
};

// Writes `content` to `path` through `path`.tmp + rename. Returns an error
// message, or empty on success.
std::string write_file_atomically(const std::string& path, const std::string& content);

}  // namespace leasehold::status
