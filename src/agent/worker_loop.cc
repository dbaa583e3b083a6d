#include "agent/worker_loop.h"

#include <exception>

namespace leasehold::agent {

WorkerLoop::WorkerLoop(std::string name, int threads, OnFatal on_fatal)
    : name_(std::move(name)), threads_(threads), on_fatal_(std::move(on_fatal)), io_(threads) {}

WorkerLoop::~WorkerLoop() { stop(); }

void WorkerLoop::start() {
  guard_.emplace(boost::asio::make_work_guard(io_));
  for (int i = 0; i < threads_; ++i) workers_.emplace_back([this] { run(); });
}

void WorkerLoop::stop() {
  guard_.reset();
  io_.stop();
  for (auto& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
  workers_.clear();
}

void WorkerLoop::run() noexcept {
  // Each thread's one boundary; the ending runs inside the handler, where the error's text lives.
  try {
    io_.run();
  } catch (const std::exception& e) {
    on_fatal_(name_, e.what());
  } catch (...) {
    on_fatal_(name_, "unknown exception");
  }
}

}  // namespace leasehold::agent
