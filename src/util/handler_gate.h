// HandlerGate: lets an object queue handlers on an executor it shares with
// others (the sidecar's blocking-work io_context, which outlives it) and still
// be destroyed at any time. A handler holds the gate, not the object: it
// enters before it touches the object and leaves when it is done. Once close()
// has returned no handler is inside and none gets in again, so the handlers
// still queued, or a timer's cancelled wait, end without touching the object;
// and the object need not wait for the executor to run them, which it may
// never do again.
//
// Thread-safety: every member from any thread; close() never from inside the
// gate (it would wait for itself).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>

namespace leasehold::util {

class HandlerGate {
 public:
  // One handler's stay inside: true when it got in; it leaves when the pass goes.
  class [[nodiscard]] Pass {
   public:
    explicit Pass(HandlerGate* gate) : gate_(gate) {}
    ~Pass() {
      if (gate_) gate_->leave();
    }
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;
    explicit operator bool() const { return gate_ != nullptr; }

   private:
    HandlerGate* const gate_;
  };

  static std::shared_ptr<HandlerGate> make() { return std::make_shared<HandlerGate>(); }

  Pass enter() {
    std::lock_guard lock(mutex_);
    if (closed_) return Pass(nullptr);
    ++inside_;
    return Pass(this);
  }

  // Waits for the handlers inside to leave (a blocking one, such as a hook or a probe, for as
  // long as it takes).
  void close() {
    std::unique_lock lock(mutex_);
    closed_ = true;
    cv_.wait(lock, [&] { return inside_ == 0; });
  }

 private:
  void leave() {
    {
      std::lock_guard lock(mutex_);
      --inside_;
    }
    // The gate outlives this call: the leaving handler still holds it.
    cv_.notify_all();
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  bool closed_ = false;
  int inside_ = 0;
};

}  // namespace leasehold::util
