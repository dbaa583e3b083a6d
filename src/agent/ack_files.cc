#include "agent/ack_files.h"

#include <filesystem>
#include <system_error>

namespace leasehold::agent {

AckFiles::AckFiles(std::vector<std::string> paths, OnStuck on_stuck)
    : paths_(std::move(paths)), stuck_(paths_.size(), false), on_stuck_(std::move(on_stuck)) {}

void AckFiles::clear() {
  for (std::size_t i = 0; i < paths_.size(); ++i) {
    std::error_code error;
    std::filesystem::remove(paths_[i], error);
    stuck_[i] = error && error != std::errc::no_such_file_or_directory;
    if (stuck_[i] && on_stuck_) on_stuck_(paths_[i], error.message());
  }
}

bool AckFiles::present() const {
  for (std::size_t i = 0; i < paths_.size(); ++i) {
    if (stuck_[i]) continue;
    std::error_code ignored;
    if (std::filesystem::exists(paths_[i], ignored)) return true;
  }
  return false;
}

}  // namespace leasehold::agent
