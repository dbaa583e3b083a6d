#include "util/host_port.h"

#include <arpa/inet.h>

namespace leasehold::util {
namespace {

bool is_ipv4(const std::string& host) {
  in_addr address{};
  return inet_pton(AF_INET, host.c_str(), &address) == 1;
}

bool is_ipv6(const std::string& host) {
  in6_addr address{};
  return inet_pton(AF_INET6, host.c_str(), &address) == 1;
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

std::optional<HostPort> fail(std::string* error, std::string_view text, const std::string& why) {
  if (error) *error = "'" + std::string(text) + "' " + why;
  return std::nullopt;
}

}  // namespace

std::optional<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  std::uint32_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

std::optional<HostPort> parse_host_port(std::string_view text, std::string* error) {
  HostPort out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return fail(error, text, "has no ']' to close the IPv6 address");
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      return fail(error, text, "has no port after the IPv6 address (HOST:PORT, e.g. [::1]:4040)");
    }
    out.host = std::string(text.substr(1, close - 1));
    // As in URLs (RFC 3986), brackets hold an IPv6 address: a name or IPv4 address in them is
    // refused rather than unwrapped, so that no reader takes "[localhost]" differently.
    if (!is_ipv6(out.host)) return fail(error, text, "has brackets, which are for IPv6 addresses only");
    out.kind = HostPort::Kind::kIPv6;
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return fail(error, text, "is not host:port (e.g. 127.0.0.1:4040 or :9090)");
    }
    out.host = std::string(text.substr(0, colon));
    if (out.host.find(':') != std::string::npos) {
      return fail(error, text, "has an IPv6 address without brackets (write e.g. [::1]:4040)");
    }
    for (const char c : out.host) {
      if (!is_name_char(c)) return fail(error, text, "has a host that is no name or IP address");
    }
    out.kind = out.host.empty()    ? HostPort::Kind::kNone
               : is_ipv4(out.host) ? HostPort::Kind::kIPv4
                                   : HostPort::Kind::kName;
    port_text = text.substr(colon + 1);
  }
  const auto port = parse_port(port_text);
  if (!port) return fail(error, text, "has no port from 0 to 65535 after the last ':'");
  out.port = *port;
  return out;
}

std::optional<HostPort> parse_listen_address(std::string_view text, std::string* error) {
  auto address = parse_host_port(text, error);
  if (address && address->kind == HostPort::Kind::kName && address->host != "localhost") {
    return fail(error, text, "has a host that is neither an IP address nor localhost");
  }
  return address;
}

std::string host_for_url(std::string_view host) {
  if (host.find(':') != std::string_view::npos) return "[" + std::string(host) + "]";
  return std::string(host);
}

std::string join_host_port(std::string_view host, std::string_view port) {
  return host_for_url(host) + ":" + std::string(port);
}

}  // namespace leasehold::util
