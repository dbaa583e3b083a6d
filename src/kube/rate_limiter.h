// RateLimiter: a token bucket (qps, burst) that answers when a request may be
// sent, or that it cannot be sent before its deadline. Pure over the times it
// is given. Thread-safe.
#pragma once

#include <algorithm>
#include <mutex>
#include <optional>

#include "election/clock.h"

namespace leasehold::kube {

class RateLimiter {
 public:
  RateLimiter(double qps, int burst) : qps_(qps), burst_(burst), tokens_(burst) {}

  // Reserves a token: the time at which the request may go (>= now), or
  // nullopt (nothing reserved) when that would be after `deadline`.
  std::optional<election::SteadyTime> reserve(election::SteadyTime now, election::SteadyTime deadline) {
    if (qps_ <= 0) return now;
    std::lock_guard lock(mutex_);
    if (!started_) {
      last_ = now;
      started_ = true;
    }
    if (now > last_) {
      tokens_ = std::min<double>(burst_, tokens_ + std::chrono::duration<double>(now - last_).count() * qps_);
      last_ = now;
    }
    // tokens_ may go negative: each queued request pushes the next one later.
    const double missing = 1.0 - tokens_;
    election::SteadyTime at = last_;
    if (missing > 0) {
      at += std::chrono::duration_cast<election::Duration>(std::chrono::duration<double>(missing / qps_));
    }
    at = std::max(at, now);
    if (at > deadline) return std::nullopt;
    tokens_ -= 1.0;
    return at;
  }

 private:
  const double qps_;
  const int burst_;
  std::mutex mutex_;
  double tokens_;
  election::SteadyTime last_{};
  bool started_ = false;
};

}  // namespace leasehold::kube
