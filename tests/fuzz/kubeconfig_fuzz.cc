// Fuzzes kubeconfig loading (YAML from a developer's machine or a mounted Secret). The input is
// written to a file in a scratch directory that also holds a CA file and a token file, so that
// relative certificate-authority/tokenFile paths resolve. load_kubeconfig must return a config or
// throw KubeConfigError; any other exception, a crash or a hang is a finding. A config that loads
// must satisfy what the API client relies on.
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "kube/kubeconfig.h"

namespace kube = leasehold::kube;
namespace fuzz = leasehold::fuzz;

namespace {

const std::string& kubeconfig_path() {
  static const std::string path = [] {
    const std::string& dir = fuzz::scratch_dir();
    fuzz::write_file(dir + "/ca.crt", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    fuzz::write_file(dir + "/token", "fuzz-token\n");
    return dir + "/kubeconfig";
  }();
  return path;
}

void check(const std::string& path, const std::string& context) {
  kube::KubeConfig config;
  try {
    config = kube::load_kubeconfig(path, context);
  } catch (const kube::KubeConfigError& e) {
    FUZZ_CHECK(e.what()[0] != '\0', "a KubeConfigError without a message");
    return;
  }
  FUZZ_CHECK(config.server.rfind("https://", 0) == 0 || config.server.rfind("http://", 0) == 0,
             "server is not an http(s) URL");
  FUZZ_CHECK(config.server.empty() || config.server.back() != '/', "server ends with '/'");
  FUZZ_CHECK(config.client_cert_pem.empty() == config.client_key_pem.empty(),
             "a client certificate without a key, or a key without a certificate");
  FUZZ_CHECK(!config.source.empty(), "no source");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = kubeconfig_path();
  fuzz::write_file(path, std::string(reinterpret_cast<const char*>(data), size));
  check(path, "");     // current-context
  check(path, "dev");  // a named context, as --context gives it
  return 0;
}
