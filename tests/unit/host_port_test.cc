// The one host:port parser: what it takes, what it refuses, and the listeners' narrower rule.
#include "util/host_port.h"

#include <doctest/doctest.h>

namespace leasehold::util {

namespace {

// The parse, or why it failed (doctest prints either).
std::string refusal(std::string_view text) {
  std::string error;
  const auto parsed = parse_host_port(text, &error);
  return parsed ? "accepted" : error;
}

}  // namespace

TEST_CASE("ports are 0 to 65535, digits only") {
  CHECK(parse_port("0") == 0);
  CHECK(parse_port("80") == 80);
  CHECK(parse_port("65535") == 65535);
  CHECK_FALSE(parse_port("65536").has_value());
  CHECK_FALSE(parse_port("99999").has_value());
  CHECK_FALSE(parse_port("100000").has_value());
  CHECK_FALSE(parse_port("").has_value());
  CHECK_FALSE(parse_port("-1").has_value());
  CHECK_FALSE(parse_port("+80").has_value());
  CHECK_FALSE(parse_port(" 80").has_value());
  CHECK_FALSE(parse_port("80 ").has_value());
  CHECK_FALSE(parse_port("8o").has_value());
}

TEST_CASE("host:port is split and the host is told apart") {
  auto v4 = parse_host_port("127.0.0.1:4040");
  REQUIRE(v4);
  CHECK(v4->kind == HostPort::Kind::kIPv4);
  CHECK(v4->host == "127.0.0.1");
  CHECK(v4->port == 4040);

  auto none = parse_host_port(":9090");
  REQUIRE(none);
  CHECK(none->kind == HostPort::Kind::kNone);
  CHECK(none->host.empty());
  CHECK(none->port == 9090);

  auto name = parse_host_port("localhost:0");
  REQUIRE(name);
  CHECK(name->kind == HostPort::Kind::kName);
  CHECK(name->host == "localhost");
  CHECK(name->port == 0);

  auto v6 = parse_host_port("[::1]:80");
  REQUIRE(v6);
  CHECK(v6->kind == HostPort::Kind::kIPv6);
  CHECK(v6->host == "::1");
  CHECK(v6->port == 80);

  auto top = parse_host_port("[2001:db8::7]:65535");
  REQUIRE(top);
  CHECK(top->host == "2001:db8::7");
  CHECK(top->port == 65535);

  // Not a dotted quad: a name, which the caller may refuse.
  auto odd = parse_host_port("1.2.3.4.5:80");
  REQUIRE(odd);
  CHECK(odd->kind == HostPort::Kind::kName);
}

TEST_CASE("host:port refuses what another reader could take differently") {
  CHECK(refusal("127.0.0.1:65536").find("no port from 0 to 65535") != std::string::npos);
  CHECK(refusal("127.0.0.1:").find("no port") != std::string::npos);
  CHECK(refusal("127.0.0.1").find("is not host:port") != std::string::npos);
  CHECK(refusal("").find("is not host:port") != std::string::npos);
  CHECK(refusal("4040").find("is not host:port") != std::string::npos);
  // Brackets are for IPv6 addresses only.
  CHECK(refusal("[localhost]:80").find("brackets") != std::string::npos);
  CHECK(refusal("[127.0.0.1]:80").find("brackets") != std::string::npos);
  CHECK(refusal("[]:80").find("brackets") != std::string::npos);
  // Which colon ends an IPv6 address cannot be told without them.
  CHECK(refusal("::1:80").find("without brackets") != std::string::npos);
  CHECK(refusal("[::1:80").find("no ']'") != std::string::npos);
  CHECK(refusal("[::1]80").find("no port after the IPv6 address") != std::string::npos);
  CHECK(refusal("[::1]").find("no port after the IPv6 address") != std::string::npos);
  // Nothing before or after.
  CHECK(refusal("127.0.0.1:80x") != "accepted");
  CHECK(refusal("127.0.0.1:80 ") != "accepted");
  CHECK(refusal(" 127.0.0.1:80") != "accepted");
  CHECK(refusal("[::1]:80/") != "accepted");
  CHECK(refusal("http://localhost:80") != "accepted");
  CHECK(refusal("user@localhost:80") != "accepted");
  // The message quotes the text as given.
  CHECK(refusal("nohost") == "'nohost' is not host:port (e.g. 127.0.0.1:4040 or :9090)");
}

TEST_CASE("a listener's host is an IP address, localhost or none") {
  CHECK(parse_listen_address(":9090"));
  CHECK(parse_listen_address("localhost:4040"));
  CHECK(parse_listen_address("0.0.0.0:0"));
  CHECK(parse_listen_address("[::]:4040"));
  std::string error;
  CHECK_FALSE(parse_listen_address("example.com:80", &error));
  CHECK(error == "'example.com:80' has a host that is neither an IP address nor localhost");
  CHECK_FALSE(parse_listen_address("[localhost]:80", &error));
  CHECK(error.find("brackets") != std::string::npos);
}

TEST_CASE("a host is written back with brackets when it is an IPv6 address") {
  CHECK(host_for_url("10.0.0.1") == "10.0.0.1");
  CHECK(host_for_url("fd00::1") == "[fd00::1]");
  CHECK(join_host_port("kubernetes.default", "443") == "kubernetes.default:443");
  CHECK(join_host_port("fd00::1", "443") == "[fd00::1]:443");
  // What is written reads back as it was.
  const auto again = parse_host_port(join_host_port("fd00::1", "6443"));
  REQUIRE(again);
  CHECK(again->host == "fd00::1");
  CHECK(again->port == 6443);
}

}  // namespace leasehold::util
