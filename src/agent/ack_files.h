// AckFiles: the files by which the app acknowledges a handoff (`ack` in each
// of an election's status directories). The app owns these paths: whatever is
// there (a directory, a path without permission), failing to remove it must
// neither end a handoff nor count as an acknowledgement, so such a path is
// ignored until a later clear() removes it.
//
// Thread-safety: none. The election loop owns it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "election/election_machine.h"

namespace leasehold::agent {

class AckFiles final : public election::AckSource {
 public:
  // Told about each path that could not be removed.
  using OnStuck = std::function<void(const std::string& path, const std::string& error)>;

  AckFiles(std::vector<std::string> paths, OnStuck on_stuck);

  // Removes every ack file (a handoff begins or ends). Non-throwing.
  void clear() override;
  // Whether an ack file exists at a path that clear() could remove.
  bool present() const override;

 private:
  std::vector<std::string> paths_;
  std::vector<bool> stuck_;
  OnStuck on_stuck_;
};

}  // namespace leasehold::agent
