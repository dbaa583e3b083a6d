// AckFiles: the app's acknowledgement files, cleared when a handoff begins and looked for on
// every turn of it; a path that cannot be removed is reported once and ignored.
#include "agent/ack_files.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "scratch_dir.h"

namespace leasehold::agent {
namespace {

using TempDir = testing::ScratchDir;

}  // namespace

TEST_CASE("ack files: any of the paths acknowledges; clear() removes every one") {
  TempDir dir;
  std::vector<std::string> stuck;
  AckFiles files({dir.path + "/ack", dir.path + "/elections-b-ack"},
                 [&](const std::string& path, const std::string&) { stuck.push_back(path); });
  CHECK_FALSE(files.present());
  dir.touch("elections-b-ack");
  CHECK(files.present());
  dir.touch("ack");
  files.clear();
  CHECK_FALSE(files.present());
  CHECK_FALSE(std::filesystem::exists(dir.path + "/ack"));
  CHECK_FALSE(std::filesystem::exists(dir.path + "/elections-b-ack"));
  CHECK(stuck.empty());
}

TEST_CASE("an ack path that cannot be removed is ignored, neither acknowledging nor failing the handoff") {
  TempDir dir;
  std::vector<std::string> stuck;
  AckFiles files({dir.path + "/ack"}, [&](const std::string& path, const std::string&) { stuck.push_back(path); });
  // A non-empty directory: remove() fails.
  std::filesystem::create_directories(dir.path + "/ack/inside");
  files.clear();
  CHECK(stuck == std::vector<std::string>{dir.path + "/ack"});
  CHECK_FALSE(files.present());
  // Once it can be removed, the path counts again.
  std::filesystem::remove_all(dir.path + "/ack");
  files.clear();
  dir.touch("ack");
  CHECK(files.present());
}

}  // namespace leasehold::agent
