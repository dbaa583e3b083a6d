// A scratch directory for a test's files (ack files, say), made fresh and removed afterwards.
// Not thread-safe: one test owns each.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace leasehold::testing {

struct ScratchDir {
  ScratchDir() {
    char pattern[] = "/tmp/leasehold-test-XXXXXX";
    path = ::mkdtemp(pattern);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  // Makes (or rewrites) the file `name` in the directory.
  void touch(const std::string& name) const { std::ofstream(path + "/" + name) << "done\n"; }
  std::string path;
};

}  // namespace leasehold::testing
