#include "kube/kubeconfig.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace leasehold::kube {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  TempDir() {
    path =
        fs::temp_directory_path() / ("leasehold-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream(path / name) << content;
    return (path / name).string();
  }
  fs::path path;
  static inline int counter = 0;
};

const char* kKubeconfig = R"(apiVersion: v1
kind: Config
current-context: dev
contexts:
- name: dev
  context: {cluster: local, user: agent, namespace: team-a}
- name: other
  context: {cluster: local, user: certuser}
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority: ca.crt
users:
- name: agent
  user: {token: secret-token}
- name: certuser
  user:
    client-certificate-data: Y2VydA==
    client-key-data: a2V5
)";

}  // namespace

TEST_CASE("a kubeconfig's current context gives server, CA file (relative), token, namespace") {
  TempDir dir;
  dir.write("ca.crt", "CA PEM");
  const auto config = load_kubeconfig(dir.write("config", kKubeconfig));
  CHECK(config.server == "https://127.0.0.1:6443");
  CHECK(config.ca_pem == "CA PEM");
  CHECK(config.token == "secret-token");
  CHECK(config.namespace_name == "team-a");
  CHECK(config.source.find("secret") == std::string::npos);
}

TEST_CASE("a named context with inline client certificate data") {
  TempDir dir;
  dir.write("ca.crt", "CA PEM");
  const auto config = load_kubeconfig(dir.write("config", kKubeconfig), "other");
  CHECK(config.client_cert_pem == "cert");
  CHECK(config.client_key_pem == "key");
  CHECK(config.token.empty());
}

TEST_CASE("kubeconfig errors name what is wrong") {
  TempDir dir;
  dir.write("ca.crt", "CA PEM");
  auto message = [&](const std::string& content, const std::string& context = {}) {
    try {
      load_kubeconfig(dir.write("bad", content), context);
    } catch (const KubeConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message("- a list").find("not a kubeconfig") != std::string::npos);
  CHECK(message("current-context: x\n").find("contexts has no entry named 'x'") != std::string::npos);
  CHECK(message(kKubeconfig, "missing").find("'missing'") != std::string::npos);
  CHECK(message("{{{{").find("not valid YAML") != std::string::npos);
  std::string exec = kKubeconfig;
  exec.replace(exec.find("{token: secret-token}"), 21, "{exec: {command: x}}");
  CHECK(message(exec).find("exec/auth-provider") != std::string::npos);
  CHECK_THROWS_AS(load_kubeconfig((dir.path / "absent").string()), KubeConfigError);
  // Found by the kubeconfig fuzzer: a scheme with no host was cut down to "https:".
  for (const std::string server : {"https://", "https:///", "ftp://x"}) {
    std::string no_host = kKubeconfig;
    const auto at = no_host.find("https://");
    no_host.replace(at, no_host.find_first_of(",} \n\"", at) - at, server);
    CAPTURE(server);
    CHECK(message(no_host).find("server") != std::string::npos);
  }
}

TEST_CASE("in-cluster configuration reads the service account files") {
  TempDir dir;
  dir.write("token", "tok\n");
  dir.write("ca.crt", "CA");
  dir.write("namespace", "prod");
  auto env = [](const std::string& name) -> std::string {
    if (name == "KUBERNETES_SERVICE_HOST") return "fd00::1";
    if (name == "KUBERNETES_SERVICE_PORT") return "443";
    return "";
  };
  const auto config = load_in_cluster(env, dir.path.string());
  CHECK(config.server == "https://[fd00::1]:443");
  CHECK(config.token_file == (dir.path / "token").string());
  CHECK(config.namespace_name == "prod");
  CHECK(config.ca_pem == "CA");
  CHECK_THROWS_AS(load_in_cluster([](const std::string&) { return std::string(); }, dir.path.string()),
                  KubeConfigError);
}

}  // namespace leasehold::kube
