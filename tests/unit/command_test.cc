// run_command: exit codes, output, environment, and the time limit that kills the command's
// whole process group.
#include "agent/command.h"

#include <doctest/doctest.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <future>
#include <memory>
#include <thread>

namespace leasehold::testing {

namespace {

using namespace std::chrono_literals;
using agent::CommandResult;

// Runs `command` on a thread of its own; fails the test rather than hanging when it does
// not return within `bound` (which only keeps a broken run_command from hanging the suite).
agent::CommandResult bounded_run(const std::string& command, std::chrono::milliseconds timeout,
                                 const std::vector<std::pair<std::string, std::string>>& env = {}) {
  auto promise = std::make_shared<std::promise<agent::CommandResult>>();
  auto result = promise->get_future();
  std::thread([promise, command, env, timeout] {
    promise->set_value(agent::run_command(command, env, timeout));
  }).detach();
  REQUIRE(result.wait_for(std::chrono::seconds(60)) == std::future_status::ready);
  return result.get();
}

// A pipe whose write end the next commands inherit (no close-on-exec): its read
// end sees EOF only once every process holding the write end has exited.
struct InheritedPipe {
  InheritedPipe() { REQUIRE(::pipe(fds) == 0); }
  ~InheritedPipe() {
    ::close(fds[0]);
    close_write_end();
  }
  void close_write_end() {
    if (fds[1] >= 0) ::close(fds[1]);
    fds[1] = -1;
  }
  // True when every writer is gone (bounded only against hanging).
  bool all_writers_exited() {
    for (;;) {
      pollfd p{fds[0], POLLIN, 0};
      if (::poll(&p, 1, 60000) <= 0) return false;
      char buffer[64];
      if (::read(fds[0], buffer, sizeof buffer) == 0) return true;
    }
  }
  int fds[2] = {-1, -1};
};

}  // namespace

TEST_CASE("run_command: exit code and the output of both streams") {
  const CommandResult result = bounded_run("echo out; echo err >&2; exit 3", 60s);
  CHECK(result.exit_code == 3);
  CHECK_FALSE(result.timed_out);
  CHECK(result.output == "out\nerr\n");
  CHECK(result.error.empty());
}

TEST_CASE("run_command: the extra environment is added and overrides; stdin is empty") {
  REQUIRE(::setenv("LEASEHOLD_TEST_OUTER", "outer", 1) == 0);
  REQUIRE(::setenv("LEASEHOLD_TEST_OVERRIDDEN", "old", 1) == 0);
  const CommandResult result =
      bounded_run(R"(echo "$LEASEHOLD_TEST_OUTER $LEASEHOLD_TEST_OVERRIDDEN $LEASEHOLD_TEST_NEW"; cat)", 60s,
                  {{"LEASEHOLD_TEST_OVERRIDDEN", "new"}, {"LEASEHOLD_TEST_NEW", "added"}});
  CHECK(result.exit_code == 0);
  CHECK(result.output == "outer new added\n");
  ::unsetenv("LEASEHOLD_TEST_OUTER");
  ::unsetenv("LEASEHOLD_TEST_OVERRIDDEN");
}

TEST_CASE("run_command: at most 1 KiB of output is kept, and a talkative command is read to its end") {
  const CommandResult result = bounded_run("head -c 100000 /dev/zero | tr '\\0' a", 60s);
  CHECK(result.exit_code == 0);
  CHECK(result.output == std::string(1024, 'a'));
}

TEST_CASE("run_command: the timeout kills the command and everything it started") {
  // A background child holding the pipe outlives the shell unless the group is killed; the
  // second command has closed its output, so only the time limit can end it.
  for (const char* command : {"sleep 1000 & wait", "exec >/dev/null 2>&1; sleep 1000 & wait"}) {
    CAPTURE(command);
    InheritedPipe pipe;
    const CommandResult result = bounded_run(command, 300ms);
    pipe.close_write_end();
    CHECK(result.timed_out);
    CHECK(result.exit_code == -1);
    CHECK(pipe.all_writers_exited());
  }
}

TEST_CASE("run_command: a zero timeout kills the command before it can set up its group") {
  for (int i = 0; i < 20; ++i) {
    InheritedPipe pipe;
    const CommandResult result = bounded_run("sleep 1000", 0ms);
    pipe.close_write_end();
    CHECK(result.timed_out);
    CHECK(pipe.all_writers_exited());
  }
}

}  // namespace leasehold::testing
