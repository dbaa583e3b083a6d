#include "kube/kubeconfig.h"

#include <cpprest/asyncrt_utils.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/host_port.h"

namespace leasehold::kube {
namespace {

namespace fs = std::filesystem;

YAML::Node find_named(const YAML::Node& list, const std::string& list_name, const std::string& name,
                      const std::string& inner) {
  if (list && !list.IsSequence()) throw KubeConfigError("kubeconfig: " + list_name + " must be a list");
  if (list) {
    for (const auto& item : list) {
      if (item.IsMap() && item["name"] && item["name"].as<std::string>() == name) {
        YAML::Node body = item[inner];
        if (!body || !body.IsMap())
          throw KubeConfigError("kubeconfig: " + list_name + "[" + name + "]." + inner + " is missing");
        return body;
      }
    }
  }
  throw KubeConfigError("kubeconfig: " + list_name + " has no entry named '" + name + "'");
}

std::string scalar(const YAML::Node& node, const std::string& key, const std::string& field) {
  const YAML::Node value = node[key];
  if (!value || value.IsNull()) return {};
  if (!value.IsScalar()) throw KubeConfigError("kubeconfig: " + field + " must be a string");
  return value.as<std::string>();
}

std::string decode_base64(const std::string& data, const std::string& field) {
  try {
    auto bytes = utility::conversions::from_base64(utility::conversions::to_string_t(data));
    return std::string(bytes.begin(), bytes.end());
  } catch (const std::exception&) {
    throw KubeConfigError("kubeconfig: " + field + " is not valid base64");
  }
}

// A PEM from either FIELD-data (base64) or FIELD (a path).
std::string pem_from(const YAML::Node& node, const std::string& key, const std::string& prefix, const fs::path& base) {
  const std::string data = scalar(node, key + "-data", prefix + key + "-data");
  if (!data.empty()) return decode_base64(data, prefix + key + "-data");
  const std::string path = scalar(node, key, prefix + key);
  if (path.empty()) return {};
  fs::path p(path);
  if (p.is_relative()) p = base / p;
  return read_file_for(p.string(), prefix + key);
}

}  // namespace

std::string read_file_for(const std::string& path, const std::string& field) {
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  if (!in || std::filesystem::is_directory(path, ec)) throw KubeConfigError(field + ": cannot read file " + path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

KubeConfig load_kubeconfig(const std::string& path, const std::string& context) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw KubeConfigError("kubeconfig: cannot read file " + path);
  } catch (const std::ios_base::failure& e) {
    throw KubeConfigError("kubeconfig: cannot read file " + path + ": " + e.what());
  } catch (const YAML::Exception& e) {
    throw KubeConfigError("kubeconfig: " + path + " is not valid YAML: " + e.what());
  }
  if (!root.IsMap()) throw KubeConfigError("kubeconfig: " + path + " is not a kubeconfig (expected a mapping)");
  const fs::path base = fs::path(path).parent_path();
  try {
    std::string context_name = context.empty() ? scalar(root, "current-context", "current-context") : context;
    if (context_name.empty()) throw KubeConfigError("kubeconfig: current-context is not set");
    if (!context.empty()) {
      try {
        find_named(root["contexts"], "contexts", context_name, "context");
      } catch (const KubeConfigError& e) {
        throw KubeContextError(std::string(e.what()) + " in " + path);
      }
    }
    const YAML::Node ctx = find_named(root["contexts"], "contexts", context_name, "context");
    const std::string cluster_name = scalar(ctx, "cluster", "contexts[" + context_name + "].context.cluster");
    const std::string user_name = scalar(ctx, "user", "contexts[" + context_name + "].context.user");
    const YAML::Node cluster = find_named(root["clusters"], "clusters", cluster_name, "cluster");

    KubeConfig config;
    const std::string cprefix = "clusters[" + cluster_name + "].cluster.";
    config.server = scalar(cluster, "server", cprefix + "server");
    if (config.server.rfind("https://", 0) != 0 && config.server.rfind("http://", 0) != 0) {
      throw KubeConfigError("kubeconfig: " + cprefix + "server must be an http(s) URL");
    }
    while (!config.server.empty() && config.server.back() == '/') config.server.pop_back();
    // "https://" (or "https:///") alone names no host: stripping its slashes would leave "https:".
    if (config.server.find("://") == std::string::npos) {
      throw KubeConfigError("kubeconfig: " + cprefix + "server has no host");
    }
    config.ca_pem = pem_from(cluster, "certificate-authority", cprefix, base);
    const std::string insecure = scalar(cluster, "insecure-skip-tls-verify", cprefix + "insecure-skip-tls-verify");
    config.insecure_skip_tls_verify = insecure == "true";
    config.namespace_name = scalar(ctx, "namespace", "contexts[" + context_name + "].context.namespace");

    if (!user_name.empty()) {
      const YAML::Node user = find_named(root["users"], "users", user_name, "user");
      const std::string uprefix = "users[" + user_name + "].user.";
      if (user["exec"] || user["auth-provider"]) {
        throw KubeConfigError("kubeconfig: " + uprefix +
                              "exec/auth-provider plugins are not supported; use a token, "
                              "a tokenFile or a client certificate");
      }
      config.token = scalar(user, "token", uprefix + "token");
      std::string token_file = scalar(user, "tokenFile", uprefix + "tokenFile");
      if (!token_file.empty() && fs::path(token_file).is_relative()) token_file = (base / token_file).string();
      config.token_file = token_file;
      config.client_cert_pem = pem_from(user, "client-certificate", uprefix, base);
      config.client_key_pem = pem_from(user, "client-key", uprefix, base);
      if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
        throw KubeConfigError("kubeconfig: " + uprefix + "client-certificate and client-key must be given together");
      }
    }
    config.source = "kubeconfig " + path + " (context " + context_name + ")";
    return config;
  } catch (const YAML::Exception& e) {
    throw KubeConfigError("kubeconfig: " + path + ": " + e.what());
  }
}

KubeConfig load_in_cluster(const EnvLookup& env, const std::string& account_dir) {
  const std::string host = env("KUBERNETES_SERVICE_HOST");
  const std::string port = env("KUBERNETES_SERVICE_PORT");
  if (host.empty() || port.empty()) {
    throw KubeConfigError(
        "kubeconfig: not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) and no --kubeconfig given");
  }
  KubeConfig config;
  config.server = "https://" + util::join_host_port(host, port);
  config.token_file = account_dir + "/token";
  read_file_for(config.token_file, "in-cluster token");
  config.ca_pem = read_file_for(account_dir + "/ca.crt", "in-cluster ca.crt");
  std::ifstream ns(account_dir + "/namespace");
  if (ns) std::getline(ns, config.namespace_name);
  config.source = "in-cluster service account";
  return config;
}

}  // namespace leasehold::kube
