#include "failing_alloc.h"

#include <atomic>
#include <cstdlib>
#include <new>

namespace leasehold::testing {
namespace {

thread_local bool fail_on_this_thread = false;
std::atomic<bool> fail_everywhere{false};
thread_local std::size_t refused_on_this_thread = 0;
std::atomic<std::size_t> refused_everywhere{0};

void* allocate(std::size_t size, std::size_t alignment) {
  if (fail_on_this_thread || fail_everywhere.load(std::memory_order_relaxed)) {
    ++refused_on_this_thread;
    refused_everywhere.fetch_add(1, std::memory_order_relaxed);
    throw std::bad_alloc();
  }
  if (size == 0) size = 1;
  void* p = alignment <= alignof(std::max_align_t)
                ? std::malloc(size)
                : std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void* allocate_or_null(std::size_t size, std::size_t alignment) noexcept {
  try {
    return allocate(size, alignment);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

}  // namespace

AllocationsFail::AllocationsFail(Scope scope)
    : scope_(scope), refused_before_(scope == Scope::kThisThread ? refused_on_this_thread : refused_everywhere.load()) {
  if (scope_ == Scope::kThisThread) {
    fail_on_this_thread = true;
  } else {
    fail_everywhere = true;
  }
}

AllocationsFail::~AllocationsFail() {
  if (scope_ == Scope::kThisThread) {
    fail_on_this_thread = false;
  } else {
    fail_everywhere = false;
  }
}

std::size_t AllocationsFail::refused() const {
  return (scope_ == Scope::kThisThread ? refused_on_this_thread : refused_everywhere.load()) - refused_before_;
}

}  // namespace leasehold::testing

using leasehold::testing::allocate;
using leasehold::testing::allocate_or_null;

void* operator new(std::size_t size) { return allocate(size, 0); }
void* operator new[](std::size_t size) { return allocate(size, 0); }
void* operator new(std::size_t size, std::align_val_t a) { return allocate(size, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t size, std::align_val_t a) { return allocate(size, static_cast<std::size_t>(a)); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return allocate_or_null(size, 0); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return allocate_or_null(size, 0); }
void* operator new(std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate_or_null(size, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate_or_null(size, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
