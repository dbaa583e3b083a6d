#include "agent/fatal_exit.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <exception>
#include <thread>

namespace leasehold::agent {
namespace {

// The FatalExit that std::terminate and the signal handlers end through; null: none installed.
std::atomic<FatalExit*> installed{nullptr};
// The thread ending the process; a process ends once, whichever FatalExit it goes through.
std::atomic<std::thread::id> ending_thread{};
static_assert(std::atomic<std::thread::id>::is_always_lock_free);
// A library raised SIGTRAP (and calls std::terminate next): what the terminate line says.
std::atomic<bool> trap_raised{false};
static_assert(std::atomic<bool>::is_always_lock_free);
// The log's descriptor and what the bound's handler writes there: nothing to format in a handler.
std::atomic<int> log_fd{STDERR_FILENO};
constexpr std::string_view kTooLong =
    "{\"level\":\"error\",\"msg\":\"internal error: exiting\",\"thread\":\"fatal exit\",\"error\":\"ending the "
    "claims or logging took too long\"}\n";
// Set while this thread is inside the terminate handler: a std::terminate from within it (the
// rethrow that reads the error's text found no memory for itself) must not start it again.
thread_local bool in_terminate_handler = false;

std::terminate_handler previous_terminate = nullptr;
struct sigaction previous_trap {};
struct sigaction previous_alarm {};

void on_trap(int signal_number, siginfo_t* info, void*) {
  // raise() or kill(): a library's report. cpprestsdk's task with an exception nobody observed
  // raises SIGTRAP, whose default action would end the process by the signal, with the claims
  // standing; std::terminate follows it, and ends through end().
  if (info != nullptr && (info->si_code == SI_TKILL || info->si_code == SI_USER)) {
    trap_raised.store(true);
    return;
  }
  // A trap of the CPU (a breakpoint with no debugger attached): as without this handler.
  ::signal(signal_number, SIG_DFL);
  ::raise(signal_number);
}

void on_alarm(int) {
  const int fd = log_fd.load();
  if (::write(fd, kTooLong.data(), kTooLong.size()) < 0) {
    // Nothing more to say it with.
  }
  ::_exit(FatalExit::kExitStatus);
}

}  // namespace

void FatalExit::uninstall() noexcept {
  if (!installed_) return;
  installed_ = false;
  FatalExit* self = this;
  if (!installed.compare_exchange_strong(self, nullptr)) return;
  std::set_terminate(previous_terminate);
  ::sigaction(SIGTRAP, &previous_trap, nullptr);
  ::sigaction(SIGALRM, &previous_alarm, nullptr);
}

void FatalExit::install() {
  log_fd.store(log_.fd());
  struct sigaction trap {};
  trap.sa_sigaction = &on_trap;
  trap.sa_flags = SA_SIGINFO;
  sigemptyset(&trap.sa_mask);
  ::sigaction(SIGTRAP, &trap, &previous_trap);
  struct sigaction alarm {};
  alarm.sa_handler = &on_alarm;
  sigemptyset(&alarm.sa_mask);
  ::sigaction(SIGALRM, &alarm, &previous_alarm);
  installed.store(this);
  installed_ = true;
  previous_terminate = std::set_terminate(&FatalExit::on_terminate);
}

void FatalExit::end(std::string_view where, std::string_view what) noexcept {
  std::thread::id none{};
  if (!ending_thread.compare_exchange_strong(none, std::this_thread::get_id())) {
    if (none == std::this_thread::get_id()) {
      // A step below failed on this thread (it reached std::terminate): the claims were being
      // ended, and cannot be ended better than that.
      log_.line(log::Level::kError, "internal error while exiting", {{"thread", where}, {"error", what}});
      std::_Exit(kExitStatus);
    }
    // Another thread is ending the process, and will: its own steps are bounded.
    for (;;) ::pause();
  }
  // Whatever a step below does, the process ends within the bound. Armed only now: the waiting
  // threads above must not set it again.
  ::alarm(static_cast<unsigned>(end_within_));
  try {
    abandon_();
  } catch (...) {
    // Every channel was tried on its own; the claims' deadlines end the rest.
  }
  log_.line(log::Level::kError, "internal error: exiting", {{"thread", where}, {"error", what}});
  // Logs are written as they come (log() flushes, line() writes): nothing is left to flush, and
  // no destructor is to run while other threads still work.
  std::_Exit(kExitStatus);
}

void FatalExit::on_terminate() noexcept {
  FatalExit* const self = installed.load();
  if (self == nullptr) std::abort();  // none installed: as without this handler
  if (in_terminate_handler) self->end("terminate", "std::terminate again while reading what escaped");
  in_terminate_handler = true;
  // The claims end inside the handler that holds the error, where its text lives.
  try {
    if (const std::exception_ptr escaped = std::current_exception()) std::rethrow_exception(escaped);
  } catch (const std::exception& e) {
    self->end("terminate", e.what());
  } catch (...) {
    self->end("terminate", "unknown exception");
  }
  self->end("terminate", trap_raised.load() ? "a library reported an exception nobody observed (SIGTRAP)"
                                            : "std::terminate called with no exception");
}

}  // namespace leasehold::agent
