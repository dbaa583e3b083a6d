// Prober: checks the app's health on its own thread: an HTTP GET (2xx is
// healthy) or a TCP connect to a loopback address, one probe at a time, each
// cut off at its timeout, judged by an AppHealth. Every result is reported to
// a callback on the prober's thread, which must not block (the election
// runner turns it into an event for its loop): the election loop never waits
// for a probe.
//
// Thread-safety: start() and stop() from one thread; the callback runs on the
// prober's thread.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "election/clock.h"
#include "health/app_health.h"
#include "health/probe_settings.h"

namespace leasehold::health {

struct ProbeReport {
  ProbeOutcome outcome;
  std::string detail;  // e.g. "HTTP 500", "connection refused"
  HealthSnapshot snapshot;
  bool changed;  // the health changed with this probe
};

// One probe, blocking, but never past `deadline` or once `stop_fd` (an
// eventfd) becomes readable.
ProbeOutcome run_probe(const ProbeTarget& target, election::SteadyTime deadline, int stop_fd, std::string* detail);

class Prober {
 public:
  using Callback = std::function<void(const ProbeReport&)>;
  Prober(ProbeSettings settings, const election::Clock& clock, Callback callback);
  ~Prober();
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  void start();
  // Cuts off a probe in flight and joins the thread.
  void stop();

 private:
  void run();

  const ProbeTarget target_;
  const election::Clock& clock_;
  Callback callback_;
  AppHealth health_;
  int stop_fd_ = -1;
  std::thread thread_;
};

}  // namespace leasehold::health
