#include "status/file_publisher.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "fakes.h"
#include "nlohmann/json.hpp"

namespace leasehold::status {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("files are replaced atomically and leave no temporary behind") {
  const fs::path dir = fs::temp_directory_path() / ("leasehold-files-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "x").string();
  CHECK(write_file_atomically(path, "one\n").empty());
  // A reader holding the old file keeps reading the old content: rename swaps inodes.
  std::ifstream old_reader(path);
  CHECK(write_file_atomically(path, "two\n").empty());
  std::string old_content;
  std::getline(old_reader, old_content);
  CHECK(old_content == "one");
  CHECK(slurp(path) == "two\n");
  CHECK_FALSE(fs::exists(path + ".tmp"));
  CHECK_FALSE(write_file_atomically((dir / "missing" / "x").string(), "z").empty());
  fs::remove_all(dir);
}

TEST_CASE("the publisher writes state and status.json") {
  const fs::path dir = fs::temp_directory_path() / ("leasehold-pub-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  testing::FakeClock clock;
  StatusBoard board({"job", "ns", "me"}, clock);
  FilePublisher publisher(dir.string());
  CHECK(publisher.publish(board.view()).empty());
  CHECK(slurp(dir / "state") == "follower 0 0 -\n");
  CHECK(nlohmann::json::parse(slurp(dir / "status.json"))["isLeader"] == false);
  fs::remove_all(dir);
}

}  // namespace leasehold::status
