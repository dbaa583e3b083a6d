// Prober: checks the app's health: an HTTP GET (2xx is healthy) or a TCP
// connect to a loopback address, one probe at a time, each cut off at its
// timeout, judged by an AppHealth. The probes and the waits between them run
// on a strand of the sidecar's shared blocking-work io_context, so that many
// elections' probers share a fixed number of threads; a probe blocks the
// thread that runs it, for its timeout at most. Every result is reported to a
// callback on that thread, which must not block (the election runner turns it
// into an event for its loop): the election loop never waits for a probe.
//
// Thread-safety: start() and stop() from one thread; the callback runs on a
// thread of the io_context, never two at a time. An exception from a step (the
// callback's, or running out of memory) leaves through the io_context's run(),
// whose caller handles it (the agent's blocking-work threads: a fatal error).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "election/clock.h"
#include "health/app_health.h"
#include "health/probe_settings.h"
#include "util/handler_gate.h"

namespace leasehold::health {

struct ProbeReport {
  ProbeOutcome outcome;
  std::string detail;  // e.g. "HTTP 500", "connection refused"
  HealthSnapshot snapshot;
  bool changed;  // the health changed with this probe
};

// One probe, blocking, but never past `deadline` or once `stop_fd` (an eventfd) becomes
// readable: then no outcome, as a probe cut off by the sidecar says nothing about the app.
std::optional<ProbeOutcome> run_probe(const ProbeTarget& target, election::SteadyTime deadline, int stop_fd,
                                      std::string* detail);

class Prober {
 public:
  using Callback = std::function<void(const ProbeReport&)>;
  // io: where the probes run; it must outlive the prober.
  Prober(ProbeSettings settings, const election::Clock& clock, boost::asio::io_context& io, Callback callback);
  // Stops as stop() does.
  ~Prober();
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  void start();
  // Cuts off a probe in flight (on whichever thread runs it) and returns once no handler of this
  // prober is running or can run again with any effect: the callback is not called after. Any
  // number of times, but never from the callback.
  void stop();

 private:
  void step();
  void queue_step();

  const ProbeTarget target_;
  const election::Clock& clock_;
  Callback callback_;
  AppHealth health_;  // steps only
  int stop_fd_ = -1;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::steady_timer timer_;  // steps only, and stop() once the gate is closed
  // What the queued steps and the timer's wait hold instead of this object.
  const std::shared_ptr<util::HandlerGate> gate_ = util::HandlerGate::make();
};

}  // namespace leasehold::health
