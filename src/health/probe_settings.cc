#include "health/probe_settings.h"

#include <arpa/inet.h>

#include "util/host_port.h"

namespace leasehold::health {
namespace {

// A loopback host:port: the host localhost, 127.x.y.z or [::1], the port not 0.
bool loopback_host_port(const std::string& text, ProbeTarget* target) {
  const auto parsed = util::parse_host_port(text);
  if (!parsed || parsed->port == 0) return false;
  target->port = parsed->port;
  switch (parsed->kind) {
    case util::HostPort::Kind::kName:
      if (parsed->host != "localhost") return false;
      target->address = "127.0.0.1";
      return true;
    case util::HostPort::Kind::kIPv4: {
      in_addr v4{};
      inet_pton(AF_INET, parsed->host.c_str(), &v4);
      if ((ntohl(v4.s_addr) >> 24) != 127) return false;
      target->address = parsed->host;
      return true;
    }
    case util::HostPort::Kind::kIPv6: {
      in6_addr v6{};
      inet_pton(AF_INET6, parsed->host.c_str(), &v6);
      if (!IN6_IS_ADDR_LOOPBACK(&v6)) return false;
      target->address = parsed->host;
      target->ipv6 = true;
      return true;
    }
    case util::HostPort::Kind::kNone: return false;
  }
  return false;
}

bool printable(const std::string& s) {
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

}  // namespace

std::optional<ProbeTarget> parse_http_url(const std::string& url, std::string* error) {
  static const std::string kScheme = "http://";
  ProbeTarget target;
  target.kind = ProbeTarget::Kind::kHttp;
  const auto fail = [&](const std::string& why) -> std::optional<ProbeTarget> {
    *error = "'" + url + "' " + why;
    return std::nullopt;
  };
  if (url.rfind(kScheme, 0) != 0) return fail("is not an http:// URL");
  if (!printable(url)) return fail("contains spaces or control characters");
  const std::string rest = url.substr(kScheme.size());
  const auto slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  if (authority.find('@') != std::string::npos) return fail("must not carry credentials");
  if (!loopback_host_port(authority, &target)) {
    return fail("must name localhost, 127.x.y.z or [::1] and a port, e.g. http://localhost:8080/healthz");
  }
  target.host_header = authority;
  target.path = slash == std::string::npos ? "/" : rest.substr(slash);
  if (const auto hash = target.path.find('#'); hash != std::string::npos) target.path.resize(hash);
  if (target.path.empty()) target.path = "/";
  return target;
}

std::optional<ProbeTarget> parse_tcp_address(const std::string& address, std::string* error) {
  ProbeTarget target;
  target.kind = ProbeTarget::Kind::kTcp;
  // A bare port means localhost, as a pod's containers share one network namespace.
  if (const auto port = util::parse_port(address); port && *port != 0) {
    target.address = "127.0.0.1";
    target.port = *port;
    return target;
  }
  if (!loopback_host_port(address, &target)) {
    *error = "'" + address + "' must be PORT or HOST:PORT with HOST localhost, 127.x.y.z or [::1]";
    return std::nullopt;
  }
  return target;
}

ProbeTarget target_of(const ProbeSettings& s) {
  std::string ignored;
  auto target = s.http_url.empty() ? parse_tcp_address(s.tcp_address, &ignored) : parse_http_url(s.http_url, &ignored);
  return target.value_or(ProbeTarget{});
}

std::optional<util::SettingError> validate(const ProbeSettings& s) {
  if (!s.http_url.empty() && !s.tcp_address.empty()) {
    return util::SettingError{"app-health-tcp", "set either app-health-url or app-health-tcp, not both"};
  }
  std::string error;
  if (!s.http_url.empty() && !parse_http_url(s.http_url, &error)) return util::SettingError{"app-health-url", error};
  if (!s.tcp_address.empty() && !parse_tcp_address(s.tcp_address, &error))
    return util::SettingError{"app-health-tcp", error};
  using std::chrono::hours;
  using std::chrono::milliseconds;
  if (s.period < milliseconds(100) || s.period > hours(1))
    return util::SettingError{"app-health-period", "must be from 100ms to 1h"};
  if (s.timeout < milliseconds(10) || s.timeout > hours(1))
    return util::SettingError{"app-health-timeout", "must be from 10ms to 1h"};
  if (s.failure_threshold < 1 || s.failure_threshold > 1000) {
    return util::SettingError{"app-health-failure-threshold", "must be from 1 to 1000"};
  }
  if (s.success_threshold < 1 || s.success_threshold > 1000) {
    return util::SettingError{"app-health-success-threshold", "must be from 1 to 1000"};
  }
  if (s.require_before_claim && !s.enabled()) {
    return util::SettingError{"app-health-require-before-claim", "needs app-health-url or app-health-tcp"};
  }
  return std::nullopt;
}

}  // namespace leasehold::health
