// What the tests of ApiClient and LeaseClient share: an observer that records every request's
// outcome, and a client configuration for a scripted server.
// Thread-safety: CountingObserver may be called from any thread; the rest are plain values.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "kube/api_client.h"
#include "kube/kubeconfig.h"
#include "scripted_server.h"

namespace leasehold::testing {

struct CountingObserver final : kube::RequestObserver {
  void on_request(const std::string& verb, const std::string& outcome, election::Duration) override {
    std::lock_guard lock(mutex);
    seen.push_back(verb + " " + outcome);
  }
  std::vector<std::string> outcomes() {
    std::lock_guard lock(mutex);
    return seen;
  }
  std::mutex mutex;
  std::vector<std::string> seen;
};

inline kube::KubeConfig config_for(const ScriptedServer& server) {
  kube::KubeConfig config;
  config.server = server.url();
  config.token = "fixed-token";
  return config;
}

inline kube::ApiClientOptions unlimited() {
  kube::ApiClientOptions options;
  options.qps = 0;  // no client-side limit: the tests are about the answers
  return options;
}

inline election::SteadyTime in(election::Duration d) { return std::chrono::steady_clock::now() + d; }

}  // namespace leasehold::testing
