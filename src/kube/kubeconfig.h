// KubeConfig: where the API server is and how to authenticate, from a
// kubeconfig file (development) or the in-cluster ServiceAccount (production).
// Loading is pure apart from reading the named files; thread-safe.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>

namespace leasehold::kube {

struct KubeConfig {
  std::string server;           // e.g. https://10.0.0.1:443
  std::string ca_pem;           // empty: the system's trust store
  std::string client_cert_pem;  // client certificate authentication, both or neither
  std::string client_key_pem;
  std::string token;       // a fixed bearer token
  std::string token_file;  // a bearer token re-read while running (projected tokens rotate)
  bool insecure_skip_tls_verify = false;
  std::string namespace_name;  // the context's namespace, or the pod's
  std::string source;          // for logs: where this came from (never a credential)
};

// A configuration error; what() names the offending field.
class KubeConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// The context asked for by name is not in the kubeconfig (the setting at fault is the context,
// not the file).
class KubeContextError : public KubeConfigError {
 public:
  using KubeConfigError::KubeConfigError;
};

// Reads a kubeconfig; `context` empty means current-context. Relative file
// paths are resolved against the kubeconfig's directory.
KubeConfig load_kubeconfig(const std::string& path, const std::string& context = {});

using EnvLookup = std::function<std::string(const std::string&)>;

// KUBERNETES_SERVICE_HOST/PORT and the ServiceAccount files in `account_dir`.
KubeConfig load_in_cluster(const EnvLookup& env,
                           const std::string& account_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// Reads a whole file; throws KubeConfigError naming `field` when it cannot.
std::string read_file_for(const std::string& path, const std::string& field);

}  // namespace leasehold::kube
