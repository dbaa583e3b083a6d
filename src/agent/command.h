// Runs a shell command with a time limit, capturing the start of its output.
// Blocking: call it from a worker thread. Thread-safe (no shared state).
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace leasehold::agent {

struct CommandResult {
  int exit_code = -1;  // -1 when killed or not started
  bool timed_out = false;
  std::string output;  // stdout and stderr, at most 1 KiB
  std::string error;   // why it could not start
};

CommandResult run_command(const std::string& shell_command,
                          const std::vector<std::pair<std::string, std::string>>& extra_env,
                          std::chrono::milliseconds timeout);

}  // namespace leasehold::agent
