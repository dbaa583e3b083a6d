// Fuzzes the watch stream decoder: every line the API server (or a proxy in between) sends goes
// through parse_watch_line. It must classify anything as some event type without crashing, and
// an ADDED/MODIFIED/DELETED event must carry a Lease record and its object. Each line also goes,
// decoded as LeaseWatch decodes it, through a WatchRouter following Leases "a" and "b": a sink
// hears only about its own Lease, and garbage is counted at most once. The input is also split
// into lines, as LeaseWatch reads the stream.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "election/lease_record.h"
#include "fuzz_util.h"
#include "kube/lease_watch.h"

namespace kube = leasehold::kube;
using Type = kube::WatchEvent::Type;

namespace {

// Checks that what it hears is about its own Lease; counts garbage.
struct CheckingSink final : kube::WatchSink {
  explicit CheckingSink(std::string lease) : name(std::move(lease)) {}
  void on_lease(const leasehold::election::LeaseRecord&, nlohmann::json object) override {
    const auto& metadata = object.at("metadata");
    FUZZ_CHECK(metadata.at("name") == name, "a sink heard about another Lease");
  }
  void on_lease_deleted(std::optional<std::uint64_t>) override {}
  void on_watch_state(bool, const std::string&) override { FUZZ_CHECK(false, "an event changed the watch state"); }
  void on_watch_garbage(const std::string& what) override {
    FUZZ_CHECK(!what.empty(), "garbage without a detail");
    ++garbage;
  }
  void on_watch_fatal(std::string_view) noexcept override { FUZZ_CHECK(false, "an event was fatal"); }
  std::string name;
  int garbage = 0;
};

void check_routing(const std::string& line) {
  CheckingSink a("a");
  CheckingSink b("b");
  kube::WatchRouter router({{"a", &a}, {"b", &b}});
  const kube::WatchEvent event =
      kube::parse_watch_line(line, [&router](std::string_view name) { return router.follows(name); });
  if (event.record) FUZZ_CHECK(event.name.empty() || router.follows(event.name), "another Lease was decoded");
  const kube::WatchRouter::Verdict verdict = router.route(event);
  FUZZ_CHECK(a.garbage + b.garbage <= 1, "garbage counted more than once");
  FUZZ_CHECK(verdict.end == (event.type == Type::kGone || event.type == Type::kError), "a stream ended by an event");
  if (event.type == Type::kGone) FUZZ_CHECK(router.resource_version().empty(), "410 kept the version");
}

void check_line(const std::string& line) {
  const kube::WatchEvent event = kube::parse_watch_line(line);
  switch (event.type) {
    case Type::kAdded:
    case Type::kModified:
    case Type::kDeleted:
      FUZZ_CHECK(event.record.has_value(), "a Lease event without a record");
      FUZZ_CHECK(event.object.is_object(), "a Lease event without an object");
      FUZZ_CHECK(event.record->resource_version == event.resource_version,
                 "the event's resourceVersion differs from its record's");
      break;
    case Type::kBookmark: FUZZ_CHECK(!event.record.has_value(), "a bookmark with a record"); break;
    case Type::kGone:
    case Type::kError:
    case Type::kInvalid: FUZZ_CHECK(!event.detail.empty(), "an error or invalid event without a detail"); break;
  }
  // What the watch does with the resourceVersion (fencing and ordering).
  const auto revision = leasehold::election::revision_of(event.resource_version);
  if (revision) FUZZ_CHECK(!event.resource_version.empty(), "a revision from an empty resourceVersion");
  if (event.type != Type::kInvalid && event.type != Type::kError && event.type != Type::kGone) {
    (void)event.object.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  }
  check_routing(line);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  check_line(text);
  std::size_t start = 0;
  int lines = 0;
  while (start < text.size() && lines < 64) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start && end - start != text.size()) check_line(text.substr(start, end - start));
    start = end + 1;
    ++lines;
  }
  return 0;
}
