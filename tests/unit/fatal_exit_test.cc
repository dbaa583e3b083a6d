// The internal-error path (agent/fatal_exit.h) ends the process with status 70 and never by a
// signal, after the claims and one log line, also when no memory is left, when two threads fail
// at once, when the ending itself fails, and when a library reports its error by SIGTRAP before
// std::terminate. Each case runs in a child process (fork) and is judged by how the child
// ended and what it wrote.
#include "agent/fatal_exit.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <latch>
#include <new>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "failing_alloc.h"
#include "log/logger.h"

namespace leasehold::testing {
namespace {

using agent::FatalExit;

struct Ended {
  bool exited = false;
  int status = -1;  // the exit status, or the signal's number when !exited
  std::vector<std::string> lines;
};

// Runs `body` in a child whose FatalExit is installed, with a log and an abandon step that both
// write to one pipe ("abandoned" is the abandon step's line). A child that returns from body
// exits 99.
Ended run_child(const std::function<void(FatalExit&, log::Logger&)>& body,
                const std::function<void()>& abandon_extra = {},
                std::chrono::seconds end_within = FatalExit::kEndWithin) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::FILE* out = ::fdopen(fds[1], "w");
    log::Logger logger(log::Level::kInfo, out);
    FatalExit fatal(
        logger,
        [&] {
          logger.line(log::Level::kInfo, "abandoned", {});
          if (abandon_extra) abandon_extra();
        },
        end_within);
    fatal.install();
    body(fatal, logger);
    ::_exit(99);
  }
  ::close(fds[1]);
  std::string text;
  char chunk[4096];
  for (ssize_t n; (n = ::read(fds[0], chunk, sizeof chunk)) != 0;) {
    if (n < 0) {
      REQUIRE(errno == EINTR);
      continue;
    }
    text.append(chunk, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int raw = 0;
  REQUIRE(::waitpid(pid, &raw, 0) == pid);
  Ended ended;
  ended.exited = WIFEXITED(raw);
  ended.status = ended.exited ? WEXITSTATUS(raw) : WTERMSIG(raw);
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) ended.lines.push_back(line);
  return ended;
}

// The messages of the lines, in order; a line that is not JSON shows as such.
std::vector<std::string> messages(const Ended& ended) {
  std::vector<std::string> out;
  for (const auto& line : ended.lines) {
    const auto json = nlohmann::json::parse(line, nullptr, false);
    out.push_back(json.is_object() && json.contains("msg") ? json["msg"].get<std::string>() : "not JSON: " + line);
  }
  return out;
}

nlohmann::json last_line(const Ended& ended) {
  REQUIRE_FALSE(ended.lines.empty());
  return nlohmann::json::parse(ended.lines.back(), nullptr, false);
}

// Lets a std::bad_alloc out of a noexcept function: std::terminate, with the exception current.
void allocate_in_noexcept() noexcept { std::vector<char> v(64); }

}  // namespace

// Fault case 22 once saw the agent log "internal error: exiting" and then die by SIGTRAP (133):
// cpprestsdk reports a task's exception that nobody observed by raise(SIGTRAP), then
// std::terminate; the signal's default action ended the process first, with the state file as
// it was. Now the signal only notes the report, and std::terminate ends as every error does.
TEST_CASE("a library's SIGTRAP before its std::terminate ends through the internal-error path, not the signal") {
  const Ended ended = run_child([](FatalExit&, log::Logger&) {
    ::raise(SIGTRAP);
    std::terminate();
  });
  CHECK(ended.exited);
  CHECK(ended.status == FatalExit::kExitStatus);
  CHECK(messages(ended) == std::vector<std::string>{"abandoned", "internal error: exiting"});
  const auto line = last_line(ended);
  CHECK(line["thread"] == "terminate");
  CHECK(line["error"].get<std::string>().find("SIGTRAP") != std::string::npos);
}

// The report raised while another thread is inside the ending (after the claims ended, before
// the line): the signal must not cut that ending short.
std::atomic<bool> reporter_go{false};
std::atomic<bool> reporter_raised{false};

TEST_CASE("a SIGTRAP raised on another thread while one is ending does not end the process by the signal") {
  const Ended ended = run_child(
      [](FatalExit& fatal, log::Logger&) {
        std::thread reporter([] {
          while (!reporter_go.load()) std::this_thread::yield();
          ::raise(SIGTRAP);
          reporter_raised = true;
          std::terminate();
        });
        reporter.detach();
        fatal.end("election e", "std::bad_alloc");
      },
      [] {
        // Inside the ending: the reporter raises its signal now, and this thread goes on only
        // once the signal was taken (without the handler, the process dies here).
        reporter_go = true;
        while (!reporter_raised.load()) std::this_thread::yield();
      });
  CHECK(ended.exited);
  CHECK(ended.status == FatalExit::kExitStatus);
  CHECK(messages(ended) == std::vector<std::string>{"abandoned", "internal error: exiting"});
}

TEST_CASE("out of memory on two threads at once: the claims end once, one line says why, exit 70") {
  const Ended ended = run_child([](FatalExit&, log::Logger&) {
    std::latch start(3);
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
      threads.emplace_back([&] {
        start.arrive_and_wait();
        allocate_in_noexcept();
      });
    }
    // From here no operator new succeeds, on any thread; the log and the ending need none.
    AllocationsFail none_left(AllocationsFail::Scope::kEveryThread);
    start.arrive_and_wait();
    for (auto& t : threads) t.join();  // never returns: the process ends first
  });
  CHECK(ended.exited);
  CHECK(ended.status == FatalExit::kExitStatus);
  CHECK(messages(ended) == std::vector<std::string>{"abandoned", "internal error: exiting"});
  const auto line = last_line(ended);
  CHECK(line["thread"] == "terminate");
  CHECK(line["error"] == "std::bad_alloc");
  CHECK(line["level"] == "error");
  CHECK(line["ts"].get<std::string>().size() == 24);  // 2006-01-02T15:04:05.000Z
}

TEST_CASE("a failure inside the ending itself still exits 70") {
  const Ended ended = run_child([](FatalExit& fatal, log::Logger&) { fatal.end("watch of e", "std::bad_alloc"); },
                                [] { std::terminate(); });
  CHECK(ended.exited);
  CHECK(ended.status == FatalExit::kExitStatus);
  CHECK(messages(ended) == std::vector<std::string>{"abandoned", "internal error while exiting"});
}

TEST_CASE("an ending that hangs (a lock, a log pipe nobody reads) is ended by its bound, with status 70") {
  const Ended ended = run_child([](FatalExit& fatal, log::Logger&) { fatal.end("listeners", "boom"); },
                                [] {
                                  for (;;) ::pause();
                                },
                                std::chrono::seconds(1));
  CHECK(ended.exited);
  CHECK(ended.status == FatalExit::kExitStatus);
  REQUIRE(ended.lines.size() == 2);
  CHECK(messages(ended)[0] == "abandoned");
  CHECK(last_line(ended)["error"] == "ending the claims or logging took too long");
}

TEST_CASE("Logger::line allocates nothing and writes one valid JSON line, however long its fields") {
  std::FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  log::Logger logger(log::Level::kInfo, out);
  const std::string long_value(3 * log::Logger::kMaxLine, 'x');
  {
    AllocationsFail none_left;
    logger.line(log::Level::kWarn, "quoted \"msg\"\n", {{"a\\b", "tab\there"}, {"ctl", std::string_view("\x01", 1)}});
    logger.line(log::Level::kInfo, "cut", {{"long", long_value}, {"after", "gone"}});
    logger.line(log::Level::kInfo, "cut in a key", {{long_value, "v"}});
    logger.line(log::Level::kDebug, "below the level", {});
    CHECK(none_left.refused() == 0);
  }
  std::rewind(out);
  std::vector<nlohmann::json> lines;
  char buffer[log::Logger::kMaxLine + 1];
  while (std::fgets(buffer, sizeof buffer, out) != nullptr) {
    const std::string text(buffer);
    REQUIRE(text.back() == '\n');
    CHECK(text.size() <= log::Logger::kMaxLine);
    lines.push_back(nlohmann::json::parse(text, nullptr, false));
    CHECK_FALSE(lines.back().is_discarded());
  }
  std::fclose(out);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0]["level"] == "warn");
  CHECK(lines[0]["msg"] == "quoted \"msg\"\n");
  CHECK(lines[0]["a\\b"] == "tab\there");
  CHECK(lines[0]["ctl"] == "\x01");
  CHECK(lines[1]["msg"] == "cut");
  CHECK(lines[1]["long"].get<std::string>().size() > log::Logger::kMaxLine / 2);
  CHECK_FALSE(lines[1].contains("after"));
  CHECK(lines[2]["msg"] == "cut in a key");
  CHECK(lines[2].size() == 4);  // ts, level, msg and the key cut short
}

}  // namespace leasehold::testing
