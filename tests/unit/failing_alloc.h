// An allocator that fails on demand: this test binary replaces the global operator new (every
// form), which otherwise takes memory from malloc as usual. While an AllocationsFail lives,
// every operator new on its thread (or, with kEveryThread, on every thread) throws
// std::bad_alloc, as it does in a process whose address space is full. malloc itself keeps
// working, as the C++ runtime's own emergency pool does for the exceptions thrown then.
//
// Thread-safety: each AllocationsFail belongs to the thread that made it; kEveryThread ones
// must not overlap.
#pragma once

#include <cstddef>

namespace leasehold::testing {

class AllocationsFail {
 public:
  enum class Scope { kThisThread, kEveryThread };
  explicit AllocationsFail(Scope scope = Scope::kThisThread);
  ~AllocationsFail();
  AllocationsFail(const AllocationsFail&) = delete;
  AllocationsFail& operator=(const AllocationsFail&) = delete;

  // How many allocations were refused while this one lived (on its thread, for kThisThread).
  std::size_t refused() const;

 private:
  const Scope scope_;
  const std::size_t refused_before_;
};

}  // namespace leasehold::testing
