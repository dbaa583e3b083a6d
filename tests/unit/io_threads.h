// IoThreads: an io_context run by a few threads of the test, as the agent runs
// its blocking-work loop, for units that queue their work there. The threads
// end when it goes; drain() lets them end once nothing is left to run, which
// shows that a unit left nothing behind (no step queued, no timer waiting).
//
// Thread-safety: drain() and the destructor from the thread that made it.
#pragma once

#include <doctest/doctest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace leasehold::testing {

class IoThreads {
 public:
  explicit IoThreads(boost::asio::io_context& io, int count = 2) : io_(io), guard_(std::in_place, io.get_executor()) {
    for (int i = 0; i < count; ++i) {
      threads_.emplace_back([this] {
        io_.run();
        std::lock_guard lock(mutex_);
        ++ended_;
        cv_.notify_all();
      });
    }
  }
  ~IoThreads() {
    guard_.reset();
    io_.stop();
    for (auto& thread : threads_) thread.join();
  }
  IoThreads(const IoThreads&) = delete;
  IoThreads& operator=(const IoThreads&) = delete;

  // Whether the threads ran out of work (the bound only keeps a leftover timer from hanging the
  // suite: past it, the destructor stops them).
  bool drain() {
    guard_.reset();
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, std::chrono::seconds(60), [&] { return ended_ == threads_.size(); });
  }

 private:
  boost::asio::io_context& io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::size_t ended_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace leasehold::testing
