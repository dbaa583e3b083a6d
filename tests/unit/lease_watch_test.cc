// The watch's reconnect backoff, step by step: no sleeping, the jitter supplied.
#include "kube/lease_watch.h"

#include <doctest/doctest.h>

#include <deque>

namespace leasehold::kube {
namespace {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

constexpr bool kFailed = false;
constexpr bool kClean = true;

// Jitter taken from a script; 0 when it runs out.
struct ScriptedRandom {
  std::deque<std::uint32_t> values;
  std::uint32_t operator()() {
    if (values.empty()) return 0;
    const std::uint32_t v = values.front();
    values.pop_front();
    return v;
  }
};

}  // namespace

TEST_CASE("reconnects back off exponentially from 100 ms up to 10 s") {
  ReconnectBackoff backoff(ScriptedRandom{});
  std::vector<election::Duration> waits;
  for (int i = 0; i < 10; ++i) waits.push_back(backoff.next(kFailed, std::nullopt));
  CHECK(waits == std::vector<election::Duration>{100ms, 200ms, 400ms, 800ms, 1600ms, 3200ms, 6400ms, 10s, 10s, 10s});
}

TEST_CASE("a stream that ended cleanly reconnects at once and starts the backoff afresh") {
  ReconnectBackoff backoff(ScriptedRandom{});
  backoff.next(kFailed, std::nullopt);
  backoff.next(kFailed, std::nullopt);
  CHECK(backoff.next(kClean, std::nullopt) == election::Duration::zero());
  CHECK(backoff.next(kFailed, std::nullopt) == 100ms);
}

TEST_CASE("Retry-After lengthens the backoff, up to the longest one") {
  ReconnectBackoff backoff(ScriptedRandom{});
  CHECK(backoff.next(kFailed, 3s) == 3s);
  CHECK(backoff.next(kFailed, std::nullopt) == 6s);  // doubles from there
  ReconnectBackoff capped(ScriptedRandom{});
  CHECK(capped.next(kFailed, 1h) == 10s);
  // A shorter Retry-After never shortens it.
  ReconnectBackoff longer(ScriptedRandom{});
  for (int i = 0; i < 4; ++i) longer.next(kFailed, std::nullopt);
  CHECK(longer.next(kFailed, 1s) == 1600ms);
}

TEST_CASE("jitter adds up to half the backoff") {
  // random() % (backoff / 2 + 1) milliseconds.
  ReconnectBackoff backoff(ScriptedRandom{{50, 51, 400}});
  CHECK(backoff.next(kFailed, std::nullopt) == ms(150));  // 100 + 50
  CHECK(backoff.next(kFailed, std::nullopt) == ms(251));  // 200 + 51
  CHECK(backoff.next(kFailed, std::nullopt) == ms(599));  // 400 + 400 % 201: never past 1.5 x
}

}  // namespace leasehold::kube
