// leasehold: wires configuration, credentials and the Agent, then waits for
// SIGTERM/SIGINT (SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are taken the same way: by default each
// would end a leader without releasing its Lease). Exit codes: 0 after a clean stop, 2 for bad
// configuration (every setting is checked before anything touches the network, and the first
// problem is reported by its setting's name), 1 when the listeners cannot start, 70 after an
// internal error (claims ended first).
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <utility>

// After <utility>: this header relies on it without including it.

#include "agent/agent.h"
#include "config/config.h"
#include "kube/kubeconfig.h"
#include "log/logger.h"
#include "util/setting_error.h"

extern char** environ;

namespace {

std::vector<std::string> environment_names() {
  std::vector<std::string> names;
  for (char** e = environ; *e; ++e) {
    const std::string entry(*e);
    names.push_back(entry.substr(0, entry.find('=')));
  }
  return names;
}

std::string getenv_string(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  return value ? value : "";
}

std::string random_suffix() {
  std::random_device device;
  std::uniform_int_distribution<unsigned> byte(0, 255);
  std::string out;
  static const char* hex = "0123456789abcdef";
  for (int i = 0; i < 4; ++i) {
    unsigned b = byte(device);
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

std::string hostname() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof buffer - 1) != 0) return "leasehold";
  return buffer;
}

int fail_config(const leasehold::util::SettingError& error) {
  std::cerr << "leasehold: " << leasehold::util::to_string(error) << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace leasehold;
  // Signals are taken by sigwait() below, never by a handler on a random thread.
  sigset_t signals;
  sigemptyset(&signals);
  for (const int stop : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&signals, stop);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  const std::vector<std::string> args(argv + 1, argv + argc);
  config::ParseResult parsed = config::parse_config(args, getenv_string, environment_names());
  if (!parsed.config) return fail_config(*parsed.error);
  config::Config cfg = *parsed.config;
  if (cfg.help) {
    std::cout << config::help_text();
    return 0;
  }
  if (cfg.version) {
    std::cout << "leasehold " << LEASEHOLD_VERSION << "\n";
    return 0;
  }
  config::apply_defaults(cfg, getenv_string, hostname(), random_suffix());
  // Everything the settings alone can tell, before the credentials are even read.
  if (const auto error = config::validate(cfg)) return fail_config(*error);

  kube::KubeConfig kube_config;
  try {
    kube_config = cfg.kubeconfig.empty() ? kube::load_in_cluster(getenv_string)
                                         : kube::load_kubeconfig(cfg.kubeconfig, cfg.kube_context);
  } catch (const kube::KubeContextError& e) {
    return fail_config({"--context", e.what()});
  } catch (const kube::KubeConfigError& e) {
    return fail_config({"--kubeconfig", e.what()});
  }
  if (cfg.namespace_name.empty()) cfg.namespace_name = kube_config.namespace_name;
  if (cfg.namespace_name.empty()) {
    return fail_config({"--namespace",
                        "not set, and neither $POD_NAMESPACE, the service account nor the kubeconfig context "
                        "names one"});
  }
  // Again, for the namespace the credentials named.
  if (const auto error = config::validate(cfg)) return fail_config(*error);
  // Footprint: glibc makes one malloc arena per thread; a sidecar needs two.
  mallopt(M_ARENA_MAX, 2);

  log::Logger logger(log::parse_level(cfg.log_level));
  std::unique_ptr<agent::Agent> agent;
  try {
    agent = std::make_unique<agent::Agent>(cfg, kube_config, logger);
    agent->start();
  } catch (const std::exception& e) {
    logger.error("cannot start", {{"error", e.what()}});
    // Whatever start() began ends here, before the process does: elections
    // already running stop as on shutdown, and every thread of the agent
    // (loops, watches, hook workers, listeners) is joined.
    agent.reset();
    return 1;
  }

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  const char* name = signal_number == SIGTERM   ? "SIGTERM"
                     : signal_number == SIGINT  ? "SIGINT"
                     : signal_number == SIGHUP  ? "SIGHUP"
                     : signal_number == SIGQUIT ? "SIGQUIT"
                     : signal_number == SIGUSR1 ? "SIGUSR1"
                                                : "SIGUSR2";
  const int code = agent->shutdown(name);
  std::fflush(nullptr);
  // Every election has released and joined its threads: leave without running
  // the destructors of what is left (logs are flushed; nothing else holds state).
  std::_Exit(code);
}
