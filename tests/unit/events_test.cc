#include "kube/events.h"

#include <doctest/doctest.h>

#include "fakes.h"

namespace leasehold::kube {
namespace {

using namespace std::chrono_literals;
using Kind = EventBook::Decision::Kind;
using testing::FakeClock;

const EventSubject kPod{"ns", "pod-a", "pod-a_x1"};
EventReport stopped(const std::string& why) {
  return EventReport{"jobs", "Warning", stop_reason(why), "StoppedLeading", "stopped leading jobs: " + why};
}

}  // namespace

TEST_CASE("events: an Event regards the pod and relates the Lease; without a pod it regards the Lease") {
  FakeClock clock;
  const auto e = event_object(kPod, stopped("renew deadline passed"), "pod-a.00000000000000ff", clock.wall_now());
  CHECK(e["apiVersion"] == "events.k8s.io/v1");
  CHECK(e["metadata"]["name"] == "pod-a.00000000000000ff");
  CHECK(e["regarding"] ==
        nlohmann::json{{"apiVersion", "v1"}, {"kind", "Pod"}, {"namespace", "ns"}, {"name", "pod-a"}});
  CHECK(e["related"]["kind"] == "Lease");
  CHECK(e["related"]["name"] == "jobs");
  CHECK(e["reason"] == "RenewDeadlinePassed");
  CHECK(e["action"] == "StoppedLeading");
  CHECK(e["type"] == "Warning");
  CHECK(e["reportingController"] == "leasehold.io/leasehold");
  CHECK(e["reportingInstance"] == "pod-a_x1");
  CHECK(e["eventTime"].get<std::string>().size() == std::string("2006-01-02T15:04:05.000000Z").size());

  const EventSubject no_pod{"ns", "", "host_x1"};
  const auto l =
      event_object(no_pod, stopped("resigned"), event_name(no_pod, stopped("resigned"), 7), clock.wall_now());
  CHECK(l["regarding"]["kind"] == "Lease");
  CHECK_FALSE(l.contains("related"));
  CHECK(l["metadata"]["name"] == "jobs.0000000000000007");
}

TEST_CASE("events: what the API server would refuse is cut to fit (note 1 kB, instance 128, name 253)") {
  FakeClock clock;
  EventReport long_note = stopped("x");
  long_note.note = std::string(1023, 'a') + "\xc3\xa9";  // a 2-byte character across the limit
  EventSubject long_id = kPod;
  long_id.identity = std::string(300, 'i');
  long_id.pod_name = std::string(253, 'p');
  const auto e = event_object(long_id, long_note, event_name(long_id, long_note, 1), clock.wall_now());
  CHECK(e["note"].get<std::string>() == std::string(1023, 'a'));
  CHECK(e["reportingInstance"].get<std::string>().size() == 128);
  CHECK(e["metadata"]["name"].get<std::string>().size() <= 253);
}

TEST_CASE("events: the elector's reasons become UpperCamelCase reasons") {
  CHECK(stop_reason("renew deadline passed") == "RenewDeadlinePassed");
  CHECK(stop_reason("another holder took the lease") == "LostToAnotherHolder");
  CHECK(stop_reason("resigned in favour of pod-b") == "Resigned");
  CHECK(stop_reason("shutting down") == "ShuttingDown");
  CHECK(stop_reason("the lease was deleted") == "LeaseDeleted");
  CHECK(stop_reason("something new") == "Stopped");
}

TEST_CASE("events: a flapping election makes one Event and a series patched at most every 30 s") {
  FakeClock clock;
  EventBook book(EventBookSettings{}, clock);
  const EventReport r = stopped("renew deadline passed");
  auto d = book.report(kPod, r, 1);
  REQUIRE(d.kind == Kind::kCreate);
  book.created(r, d.name, true);
  const std::string name = d.name;
  // The same again within the window: one more occurrence, not a new Event.
  clock.advance(5s);
  d = book.report(kPod, r, 2);
  CHECK(d.kind == Kind::kAggregated);
  CHECK(d.count == 2);
  CHECK(book.next_patch_at() == clock.steady_now() + 25s);
  CHECK(book.due_patches().empty());
  clock.advance(25s);
  const auto due = book.due_patches();
  REQUIRE(due.size() == 1);
  CHECK(due[0].name == name);
  CHECK(due[0].count == 2);
  CHECK_FALSE(book.next_patch_at());
  // 30 s after the last patch a report patches at once.
  clock.advance(30s);
  d = book.report(kPod, r, 3);
  CHECK(d.kind == Kind::kPatchSeries);
  CHECK(d.count == 3);
  // Another reason is another Event.
  CHECK(book.report(kPod, stopped("another holder took the lease"), 4).kind == Kind::kCreate);
  // After the window, a new Event.
  clock.advance(11min);
  CHECK(book.report(kPod, r, 5).kind == Kind::kCreate);
}

TEST_CASE("events: new Events are rate-limited (burst 10, then one per 6 s); a failed create starts no series") {
  FakeClock clock;
  EventBook book(EventBookSettings{}, clock);
  int created = 0;
  for (int i = 0; i < 30; ++i) {
    EventReport r = stopped("renew deadline passed");
    r.lease = "e-" + std::to_string(i);  // all different: none aggregates
    if (book.report(kPod, r, i).kind == Kind::kCreate) ++created;
  }
  CHECK(created == 10);
  EventReport later = stopped("resigned");
  CHECK(book.report(kPod, later, 100).kind == Kind::kDropped);
  clock.advance(6s);
  const auto d = book.report(kPod, later, 101);
  CHECK(d.kind == Kind::kCreate);
  book.created(later, d.name, false);
  clock.advance(6s);
  CHECK(book.report(kPod, later, 102).kind == Kind::kCreate);
}

TEST_CASE("events: a series whose Event is gone starts again") {
  FakeClock clock;
  EventBook book(EventBookSettings{}, clock);
  const EventReport r = stopped("renew deadline passed");
  auto d = book.report(kPod, r, 1);
  book.created(r, d.name, true);
  clock.advance(31s);
  d = book.report(kPod, r, 2);
  REQUIRE(d.kind == Kind::kPatchSeries);
  book.patched(d.name, false);  // 404: the Event expired
  CHECK(book.report(kPod, r, 3).kind == Kind::kCreate);
}

}  // namespace leasehold::kube
