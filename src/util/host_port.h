// The one reading (and writing) of "host:port" text: the listeners' addresses, the app-health
// target and URL authority, the API server's address. Every place that takes a host and a port
// from text goes through parse_host_port, so that one address means the same thing to every
// setting. Pure functions; thread-safe.
//
// The rules, as Go's net.SplitHostPort and URLs have them:
//   - the text is HOST:PORT, nothing before or after (no spaces, no scheme, no path);
//   - PORT is 1 to 5 decimal digits, 0 to 65535 (whether 0 is usable is the caller's call);
//   - HOST may be empty (":9090", a listener on every interface), a name or IPv4 address
//     without ':', or an IPv6 address in brackets ("[::1]:80");
//   - brackets are for IPv6 literals only: "[localhost]:80" and "[127.0.0.1]:80" are refused,
//     as is "::1:80" (which colon ends the host cannot be told).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace leasehold::util {

struct HostPort {
  enum class Kind {
    kNone,  // no host: ":PORT"
    kName,  // letters, digits, '-', '_', '.' that are not an IPv4 address (e.g. localhost)
    kIPv4,  // dotted quad
    kIPv6,  // written in brackets
  };
  Kind kind = Kind::kNone;
  std::string host;  // as written, without the brackets of an IPv6 address
  std::uint16_t port = 0;
};

// A port alone: 1 to 5 decimal digits, at most 65535.
std::optional<std::uint16_t> parse_port(std::string_view text);

// HOST:PORT as above; on failure, `error` (if given) says what is wrong, quoting the text.
std::optional<HostPort> parse_host_port(std::string_view text, std::string* error = nullptr);

// A listener's address: HOST:PORT whose host is empty (every interface), localhost or an IP
// address; a name would need DNS at start and might not be ours.
std::optional<HostPort> parse_listen_address(std::string_view text, std::string* error = nullptr);

// The host as a URL or a Host header writes it: an IPv6 address (a host with ':') in brackets.
std::string host_for_url(std::string_view host);
// host_for_url(host) + ":" + port.
std::string join_host_port(std::string_view host, std::string_view port);

}  // namespace leasehold::util
