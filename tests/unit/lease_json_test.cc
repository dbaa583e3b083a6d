#include "kube/lease_json.h"

#include <doctest/doctest.h>

#include "util/rfc3339.h"

namespace leasehold::kube {

using nlohmann::json;

TEST_CASE("a Lease as the API server returns it becomes a record") {
  const json object = json::parse(R"({
    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
    "metadata": {"name": "job", "namespace": "ns", "resourceVersion": "4711", "labels": {"a": "b"}},
    "spec": {"holderIdentity": "pod-1_ab12", "leaseDurationSeconds": 15,
             "acquireTime": "2026-11-26T19:00:00.000001Z", "renewTime": "2026-11-26T19:00:10.500000Z",
             "leaseTransitions": 3, "preferredHolder": "pod-2"}})");
  const auto record = lease_from_json(object);
  REQUIRE(record.has_value());
  CHECK(record->holder_identity == "pod-1_ab12");
  CHECK(record->lease_duration_seconds == 15);
  CHECK(record->lease_transitions == 3);
  CHECK(record->resource_version == "4711");
  CHECK(util::format_micro_time(*record->acquire_time) == "2026-11-26T19:00:00.000001Z");

  SUBCASE("writing it back keeps the fields leasehold does not manage") {
    auto changed = *record;
    changed.holder_identity = "";
    changed.lease_duration_seconds = 1;
    const json out = lease_to_json(changed, "ns", "job", object);
    CHECK(out["metadata"]["labels"]["a"] == "b");
    CHECK(out["spec"]["preferredHolder"] == "pod-2");
    CHECK(out["spec"]["holderIdentity"] == "");
    CHECK(out["spec"]["leaseDurationSeconds"] == 1);
    CHECK(out["metadata"]["resourceVersion"] == "4711");
    CHECK(lease_from_json(out) == changed);
  }
}

TEST_CASE("a Lease without spec is an unheld record; a spec of wrong types is read as unreadable") {
  CHECK(lease_from_json(json::parse(R"({"metadata":{"resourceVersion":"1"}})"))->holder_identity.empty());
  auto unreadable = [](const char* text) {
    const auto record = lease_from_json(json::parse(text));
    REQUIRE(record.has_value());
    return record->unreadable && record->holder_identity.empty();
  };
  CHECK(unreadable(R"({"metadata":{},"spec":{"holderIdentity":5}})"));
  CHECK(unreadable(R"({"metadata":{},"spec":{"holderIdentity":"a","leaseDurationSeconds":"15"}})"));
  CHECK(unreadable(R"({"metadata":{},"spec":[]})"));
  CHECK(unreadable(R"({"metadata":{},"spec":{"holderIdentity":"a","leaseTransitions":1.5}})"));
  // Times are informational: one that cannot be read is left out, the record stays usable.
  CHECK_FALSE(lease_from_json(json::parse(R"({"metadata":{},"spec":{"renewTime":"yesterday"}})"))->renew_time);
  CHECK_FALSE(lease_from_json(json::parse(R"({"metadata":{},"spec":{"renewTime":"0001-01-01T00:00:00Z"}})"))
                  ->renew_time.has_value());
  CHECK_FALSE(lease_from_json(json::parse(R"({"metadata":{},"spec":{"renewTime":7}})"))->renew_time.has_value());
  CHECK_FALSE(lease_from_json(json::parse(R"({"metadata":{},"spec":{"renewTime":7}})"))->unreadable);
  CHECK_FALSE(lease_from_json(json::parse(R"({"kind":"Pod","metadata":{}})")).has_value());
  CHECK_FALSE(lease_from_json(json::parse(R"([1,2])")).has_value());
}

TEST_CASE("every count the API server can store is read, clamped to int32") {
  auto read = [](const char* text) {
    const auto record = lease_from_json(json::parse(text));
    REQUIRE(record.has_value());
    CHECK_FALSE(record->unreadable);
    return *record;
  };
  const auto top = read(R"({"metadata":{},"spec":{"holderIdentity":"a","leaseDurationSeconds":2147483647,
                          "leaseTransitions":2147483647}})");
  CHECK(top.lease_duration_seconds == 2147483647);
  CHECK(top.lease_transitions == 2147483647);
  CHECK(top.holder_identity == "a");
  const auto over = read(R"({"metadata":{},"spec":{"leaseDurationSeconds":99999999999999,
                           "leaseTransitions":18446744073709551615}})");
  CHECK(over.lease_duration_seconds == 2147483647);
  CHECK(over.lease_transitions == 2147483647);
  CHECK(read(R"({"metadata":{},"spec":{"leaseTransitions":-1}})").lease_transitions == 0);
  const std::string long_holder(100000, 'x');
  CHECK(read(("{\"metadata\":{},\"spec\":{\"holderIdentity\":\"" + long_holder + "\"}}").c_str()).holder_identity ==
        long_holder);
}

TEST_CASE("the release marker and the resign request travel as annotations") {
  const auto record = lease_from_json(json::parse(
      R"({"metadata":{"annotations":{"leasehold.io/released":"4/pod-a_x","leasehold.io/resign":"","other":"kept"}},
          "spec":{"leaseTransitions":4}})"));
  REQUIRE(record.has_value());
  CHECK(record->release_marker == "4/pod-a_x");
  CHECK(record->resign_requested);
  // Writing a record without them removes both, and keeps other annotations.
  election::LeaseRecord claimed = *record;
  claimed.release_marker.clear();
  claimed.resign_requested = false;
  claimed.holder_identity = "b";
  const json base = json::parse(
      R"({"metadata":{"annotations":{"leasehold.io/released":"4/pod-a_x","leasehold.io/resign":"","other":"kept"}}})");
  const json out = lease_to_json(claimed, "ns", "job", base);
  CHECK(out["metadata"]["annotations"] == json{{"other", "kept"}});
  // A release writes the marker.
  election::LeaseRecord released = claimed;
  released.holder_identity.clear();
  released.release_marker = election::release_marker("b", 5);
  CHECK(lease_to_json(released, "ns", "job", json())["metadata"]["annotations"]["leasehold.io/released"] == "5/b");
}

TEST_CASE("a create carries no resourceVersion") {
  election::LeaseRecord r;
  r.holder_identity = "me";
  r.lease_duration_seconds = 15;
  const json out = lease_to_json(r, "ns", "job", json());
  CHECK_FALSE(out["metadata"].contains("resourceVersion"));
  CHECK(out["kind"] == "Lease");
  CHECK(out["metadata"]["namespace"] == "ns");
}

TEST_CASE("resourceVersions are read as revisions only when purely numeric") {
  CHECK(election::revision_of("123") == 123u);
  CHECK_FALSE(election::revision_of("").has_value());
  CHECK_FALSE(election::revision_of("12a").has_value());
  CHECK_FALSE(election::revision_of("-1").has_value());
}

}  // namespace leasehold::kube
