// Fuzzes the Lease JSON conversions and RFC 3339 parsing: whatever the API server (or something
// impersonating it) sends, lease_from_json/parse_rfc3339 must return a value or nullopt, never
// crash; a Lease that was accepted must survive lease_to_json -> lease_from_json unchanged (times
// truncated to microseconds, as MicroTime stores them).
#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "fuzz_util.h"
#include "kube/lease_json.h"
#include "util/rfc3339.h"

using leasehold::election::WallTime;
using nlohmann::json;
namespace kube = leasehold::kube;
namespace util = leasehold::util;

namespace {

std::optional<WallTime> to_micros(const std::optional<WallTime>& t) {
  if (!t) return t;
  return std::chrono::time_point_cast<WallTime::duration>(std::chrono::time_point_cast<std::chrono::microseconds>(*t));
}

void check_timestamp(const std::string& text) {
  const auto t = util::parse_rfc3339(text);
  if (!t) return;
  const std::string micro = util::format_micro_time(*t);
  const auto again = util::parse_rfc3339(micro);
  FUZZ_CHECK(again.has_value(), "format_micro_time output does not parse");
  FUZZ_CHECK(*again == *to_micros(t), "parse(format_micro_time(t)) != t truncated to microseconds");
  FUZZ_CHECK(util::parse_rfc3339(util::format_rfc3339_millis(*t)).has_value(), "format_rfc3339_millis does not parse");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  check_timestamp(text);

  const json object = json::parse(text, nullptr, false);
  if (object.is_discarded()) return 0;
  const auto record = kube::lease_from_json(object);
  if (!record) return 0;
  if (record->acquire_time) check_timestamp(object["spec"]["acquireTime"].get<std::string>());
  if (record->renew_time) check_timestamp(object["spec"]["renewTime"].get<std::string>());

  const json written = kube::lease_to_json(*record, "fuzz-ns", "fuzz-lease", object);
  const std::string body = written.dump();  // what LeaseClient PUTs: must serialize
  const json reread = json::parse(body, nullptr, false);
  FUZZ_CHECK(!reread.is_discarded(), "lease_to_json output is not JSON");
  const auto back = kube::lease_from_json(reread);
  FUZZ_CHECK(back.has_value(), "lease_to_json output is not a Lease");
  FUZZ_CHECK(back->holder_identity == record->holder_identity, "holderIdentity changed");
  FUZZ_CHECK(back->lease_duration_seconds == record->lease_duration_seconds, "leaseDurationSeconds changed");
  FUZZ_CHECK(back->lease_transitions == record->lease_transitions, "leaseTransitions changed");
  FUZZ_CHECK(back->resource_version == record->resource_version, "resourceVersion changed");
  FUZZ_CHECK(back->acquire_time == to_micros(record->acquire_time), "acquireTime changed");
  FUZZ_CHECK(back->renew_time == to_micros(record->renew_time), "renewTime changed");
  // Writing over a base with no Lease fields at all still gives a Lease.
  FUZZ_CHECK(kube::lease_from_json(kube::lease_to_json(*record, "n", "l", json())).has_value(),
             "lease_to_json without a base is not a Lease");
  return 0;
}
