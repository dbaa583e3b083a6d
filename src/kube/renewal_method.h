// RenewalMethod: how a leader's renewal is written, and when to give up the JSON patch for good.
// A renewal is a JSON patch whose `test` operations guard the term (the API server applies it to
// the current object, so another writer's annotations do not make it fail). Where patching is not
// allowed (403, 405, 415: a Role without `patch`, a server without JSON patch) renewals are
// compare-and-swap updates from then on. A failed test (422) is settled by a compare-and-swap
// update on the revision held: it fails (409) if the term changed, and succeeds only if it did
// not, in which case the patch, not the Lease, was at fault, and patching ends too.
//
// The one place this policy lives: LeaseClient renews through it over HTTP, and the tests' fake
// Lease store through it in memory.
//
// Thread-safety: renew() from one thread at a time; patching() from any thread.
#pragma once

#include <atomic>

#include "election/lease_store.h"

namespace leasehold::kube {

class RenewalMethod {
 public:
  // What the API server made of a patch.
  enum class PatchAnswer {
    kAnswered,    // any answer the renewal takes as its result (success or error)
    kNotAllowed,  // 403, 405, 415
    kTestFailed,  // 422: a `test` operation failed
  };
  struct PatchOutcome {
    PatchAnswer answer = PatchAnswer::kAnswered;
    election::StoreResult result;  // kAnswered only
  };

  bool patching() const { return patching_; }

  // patch(): sends the guarded patch, returns a PatchOutcome; update(): the compare-and-swap
  // update, returns a StoreResult.
  template <class Patch, class Update>
  election::StoreResult renew(Patch&& patch, Update&& update) {
    if (!patching_) return update();
    PatchOutcome outcome = patch();
    switch (outcome.answer) {
      case PatchAnswer::kAnswered: return std::move(outcome.result);
      case PatchAnswer::kNotAllowed: patching_ = false; return update();
      case PatchAnswer::kTestFailed: break;
    }
    election::StoreResult settled = update();
    if (settled.ok()) patching_ = false;
    return settled;
  }

 private:
  std::atomic<bool> patching_{true};
};

}  // namespace leasehold::kube
