// WorkerLoop: an asio io_context run by a fixed number of threads, named for
// the logs. The sidecar has three, whatever the number of elections: the
// elections' event loop, the blocking work (hooks, the pod label, the app's
// health probes) and the listeners. An exception that escapes a handler is an
// internal error: on_fatal ends the process.
//
// Thread-safety: start() and stop() from one controlling thread; io() from any.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace leasehold::agent {

class WorkerLoop {
 public:
  using OnFatal = std::function<void(std::string_view where, std::string_view what)>;

  WorkerLoop(std::string name, int threads, OnFatal on_fatal);
  // Stops the loop and joins its threads.
  ~WorkerLoop();
  WorkerLoop(const WorkerLoop&) = delete;
  WorkerLoop& operator=(const WorkerLoop&) = delete;

  boost::asio::io_context& io() { return io_; }
  int threads() const { return threads_; }
  void start();
  // Ends the loop: handlers not yet run are dropped. Joins the threads.
  void stop();

 private:
  void run() noexcept;

  const std::string name_;
  const int threads_;
  const OnFatal on_fatal_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::vector<std::thread> workers_;
};

}  // namespace leasehold::agent
