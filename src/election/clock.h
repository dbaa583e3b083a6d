// Clock: the two time sources the election needs, behind one small interface so
// tests can drive time step by step.
//
// Every decision uses steady_now() (monotonic: immune to wall-clock steps);
// wall_now() is only written into the Lease and shown to humans.
// Implementations must be safe to call from any thread.
#pragma once

#include <chrono>

namespace leasehold::election {

using SteadyTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;
using Duration = std::chrono::nanoseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SteadyTime steady_now() const = 0;
  virtual WallTime wall_now() const = 0;
};

// The process's real clocks.
class SystemClock final : public Clock {
 public:
  SteadyTime steady_now() const override { return std::chrono::steady_clock::now(); }
  WallTime wall_now() const override { return std::chrono::system_clock::now(); }
};

}  // namespace leasehold::election
