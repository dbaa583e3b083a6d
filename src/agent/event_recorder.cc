#include "agent/event_recorder.h"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>

#include "util/json_text.h"

namespace leasehold::agent {

EventRecorder::EventRecorder(kube::EventSubject subject, election::Duration request_timeout,
                             boost::asio::io_context& io, kube::ApiClient& api, status::Metrics& metrics,
                             log::Logger& logger)
    : subject_(std::move(subject)),
      request_timeout_(request_timeout),
      api_(api),
      metrics_(metrics),
      log_(logger),
      book_(kube::EventBookSettings{}, clock_),
      // Unique across restarts of the sidecar: the names of this process's Events start from now.
      unique_(static_cast<std::uint64_t>(clock_.wall_now().time_since_epoch().count())),
      strand_(boost::asio::make_strand(io)),
      flush_timer_(strand_) {}

EventRecorder::~EventRecorder() {
  // A step in progress uses this object; once the gate is closed nothing else does.
  gate_->close();
}

void EventRecorder::record(kube::EventReport report) {
  std::lock_guard lock(mutex_);
  if (queue_.size() >= kMaxQueued) {
    metrics_.event("dropped_queue_full");
    return;
  }
  queue_.push_back(std::move(report));
  queue_step();
}

void EventRecorder::queue_step() {
  if (step_queued_) return;
  step_queued_ = true;
  boost::asio::post(strand_, [this, gate = gate_] {
    if (const auto pass = gate->enter()) step();
  });
}

void EventRecorder::drain(election::SteadyTime deadline) {
  std::unique_lock lock(mutex_);
  // On the SystemClock, like the deadline.
  idle_.wait_for(lock, std::max(election::Duration::zero(), deadline - clock_.steady_now()),
                 [&] { return queue_.empty() && !stepping_; });
}

void EventRecorder::step() {
  kube::EventReport report;
  {
    std::lock_guard lock(mutex_);
    step_queued_ = false;
    if (queue_.empty()) return;
    report = std::move(queue_.front());
    queue_.pop_front();
    if (!queue_.empty()) queue_step();
    stepping_ = true;
  }
  struct Done {
    EventRecorder& self;
    ~Done() {
      std::lock_guard lock(self.mutex_);
      self.stepping_ = false;
      self.idle_.notify_all();
    }
  } done{*this};
  using Kind = kube::EventBook::Decision::Kind;
  const auto decision = book_.report(subject_, report, unique_++);
  switch (decision.kind) {
    case Kind::kDropped: metrics_.event("dropped_rate_limited"); break;
    case Kind::kAggregated: metrics_.event("aggregated"); break;
    case Kind::kPatchSeries: {
      const bool ok =
          send("patch", web::http::methods::PATCH, kube::events_path(subject_.namespace_name) + "/" + decision.name,
               kube::event_series_patch(decision.count, decision.last), "application/merge-patch+json");
      book_.patched(decision.name, ok);
      metrics_.event(ok ? "aggregated" : "failed");
      break;
    }
    case Kind::kCreate: {
      const bool ok = send("create", web::http::methods::POST, kube::events_path(subject_.namespace_name),
                           kube::event_object(subject_, report, decision.name, clock_.wall_now()), "application/json");
      book_.created(report, decision.name, ok);
      metrics_.event(ok ? "created" : "failed");
      break;
    }
  }
  arm_flush();
}

void EventRecorder::arm_flush() {
  const auto at = book_.next_patch_at();
  if (!at) return;
  flush_timer_.expires_after(std::max(election::Duration::zero(), *at - clock_.steady_now()));
  flush_timer_.async_wait(
      boost::asio::bind_executor(strand_, [this, gate = gate_](const boost::system::error_code& ec) {
        if (ec) return;
        if (const auto pass = gate->enter()) flush();
      }));
}

void EventRecorder::flush() {
  for (const auto& d : book_.due_patches()) {
    const bool ok = send("patch", web::http::methods::PATCH, kube::events_path(subject_.namespace_name) + "/" + d.name,
                         kube::event_series_patch(d.count, d.last), "application/merge-patch+json");
    book_.patched(d.name, ok);
    if (!ok) metrics_.event("failed");
  }
  arm_flush();
}

bool EventRecorder::send(const std::string& verb, const web::http::method& method, const std::string& path,
                         const nlohmann::json& body, const std::string& content_type) {
  const std::string text = json_text(body);
  const auto response = api_.send(verb, method, path, &text, clock_.steady_now() + request_timeout_, content_type,
                                  /*may_wait_for_rate_limit=*/false);
  const bool ok = response.transport == kube::Transport::kNone && response.status >= 200 && response.status < 300;
  if (!ok && logged_refusals_.insert(response.status).second) {
    log_.warn(response.status == 403 ? "cannot record events: forbidden (the Role needs create and patch on "
                                       "events.k8s.io events; --events=false turns them off)"
                                     : "an event could not be recorded",
              {{"status", response.status}, {"detail", response.detail}});
  }
  return ok;
}

}  // namespace leasehold::agent
