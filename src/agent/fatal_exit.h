// FatalExit: the one way the agent ends after an error no thread can handle: an exception at a
// thread's boundary, std::terminate (an exception that escaped a library's own thread or a
// noexcept function), or a library's report of an exception nobody looked at (cpprestsdk's
// tasks raise SIGTRAP and then call std::terminate). The claims end first, on every channel;
// then one log line says why; then the process exits with status 70, never by a signal, so
// that it is restarted and nobody mistakes an abort for a stop.
//
// It runs when memory may be exhausted and on several threads at once: it allocates nothing
// (the log line is written from a buffer on the stack), the first thread in ends the process
// while any other that fails meanwhile waits for it, a failure inside the ending itself ends
// the process at once, and a bound (kEndWithin, by SIGALRM) ends it even if a step hangs (on a
// lock, or on a log pipe nobody drains).
//
// Thread-safety: end() from any thread, any number at once; install() and the destructor from
// one controlling thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <string_view>

#include "log/logger.h"

namespace leasehold::agent {

class FatalExit {
 public:
  static constexpr int kExitStatus = 70;
  static constexpr std::chrono::seconds kEndWithin{5};

  // abandon: stops claiming on every channel; called once, before the log line; must not throw
  // or allocate where it matters (ElectionRunner::abandon). end_within: the bound (whole
  // seconds, at least one).
  FatalExit(log::Logger& log, std::function<void()> abandon, std::chrono::seconds end_within = kEndWithin)
      : log_(log),
        abandon_(std::move(abandon)),
        end_within_(std::max<std::chrono::seconds::rep>(end_within.count(), 1)) {}
  ~FatalExit() { uninstall(); }
  FatalExit(const FatalExit&) = delete;
  FatalExit& operator=(const FatalExit&) = delete;

  // Claims end, the reason is logged, the process exits 70. `where` names the thread or the
  // work, `what` the error; both are only read.
  [[noreturn]] void end(std::string_view where, std::string_view what) noexcept;

  // From now until uninstall(), std::terminate and a SIGTRAP raised by a library (the report
  // that precedes its std::terminate) end through end(). One FatalExit at a time.
  void install();
  // Puts back what install() replaced (std::terminate aborts again). Also on destruction.
  void uninstall() noexcept;

 private:
  static void on_terminate() noexcept;

  log::Logger& log_;
  const std::function<void()> abandon_;
  const std::chrono::seconds::rep end_within_;
  bool installed_ = false;
};

}  // namespace leasehold::agent
