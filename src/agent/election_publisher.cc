#include "agent/election_publisher.h"

#include <exception>

namespace leasehold::agent {

ElectionPublisher::ElectionPublisher(std::string election, const election::Clock& clock, status::StatusBoard& board,
                                     std::vector<std::string> file_dirs, status::ElectionMetrics& metrics,
                                     LeadershipListener& listener, log::Logger& logger)
    : election_(std::move(election)),
      clock_(clock),
      board_(board),
      metrics_(metrics),
      listener_(listener),
      log_(logger) {
  for (auto& dir : file_dirs) files_.emplace_back(std::move(dir));
}

void ElectionPublisher::publish() {
  if (elector_ == nullptr) return;
  const election::ElectionState state = elector_->state();
  const bool changed = board_.publish(state);
  const status::StatusView view = board_.view();
  if (view.is_leader != claimed_) {
    claimed_ = view.is_leader;
    // The stop hook gets the token of the term that ended.
    if (claimed_) claimed_token_ = view.fencing_token.value_or(0);
    listener_.set_leading(claimed_, claimed_token_);
  }
  // Files follow every change and every renew of our own, so that a leader's deadline keeps
  // moving; a follower does not rewrite them for each of the leader's renewals.
  const bool own_renew = state.leading && state.valid_until != last_written_claim_;
  if (changed || own_renew) {
    last_written_claim_ = state.valid_until;
    write_files();
  }
}

void ElectionPublisher::stop_claiming_now() {
  board_.set_claiming(false);
  write_files();
}

void ElectionPublisher::abandon() noexcept {
  try {
    board_.set_claiming(false);  // the flag first; telling the waiting clients may fail after it
  } catch (...) {
  }
  // The files' lock is not waited for: its holder may be this very thread, stopped part-way by
  // the error. The state line that allocates nothing goes first, through a temporary file of its
  // own; the whole files follow only under the lock (they share their temporary files).
  const bool locked = files_mutex_.try_lock();
  for (auto& files : files_) files.publish_not_leading();
  if (!locked) return;
  try {
    write_files_locked();
  } catch (...) {
  }
  files_mutex_.unlock();
}

void ElectionPublisher::write_files() {
  std::lock_guard lock(files_mutex_);
  write_files_locked();
}

void ElectionPublisher::write_files_locked() {
  const status::StatusView view = board_.view();
  for (auto& files : files_) {
    const std::string error = files.publish(view);
    if (!error.empty()) {
      metrics_.status_file_error();
      log_.warn("cannot write status files", {{"election", election_}, {"error", error}});
    }
  }
  if (also_write_) also_write_();
}

void ElectionPublisher::on_started_leading(const election::ElectionState& state) {
  metrics_.leadership_started();
  log_.info(
      "started leading",
      {{"election", election_}, {"fencingToken", state.fencing_token}, {"leaseTransitions", state.lease_transitions}});
  if (record_event_) {
    record_event_(kube::EventReport{
        election_, "Normal", "Elected", "StartedLeading",
        "started leading " + election_ + " (fencing token " + std::to_string(state.fencing_token) + ")"});
  }
}

void ElectionPublisher::on_stopped_leading(std::string_view reason) {
  // First, before the Elector does anything else: every channel says "not leader". A publish
  // that fails (out of memory) ends the claims as an internal error does, and the error goes on
  // to end the election; why the claim ended is logged either way, by a line that allocates
  // nothing: this is the line an operator looks for.
  std::exception_ptr failed;
  try {
    publish();
  } catch (...) {
    abandon();
    failed = std::current_exception();
  }
  metrics_.leadership_stopped();
  log_.line(log::Level::kInfo, "stopped leading", {{"election", election_}, {"reason", reason}});
  if (failed) std::rethrow_exception(failed);
  if (record_event_) {
    // Queued only: the request goes out later, on another thread.
    const std::string why(reason);
    const std::string code = kube::stop_reason(why);
    const bool expected = code == "Resigned" || code == "ShuttingDown";
    record_event_(kube::EventReport{election_, expected ? "Normal" : "Warning", code, "StoppedLeading",
                                    "stopped leading " + election_ + ": " + why});
  }
}

void ElectionPublisher::on_leader_observed(const std::string& identity) {
  log_.info("leader changed", {{"election", election_}, {"leader", identity}});
}

void ElectionPublisher::on_renew(bool success, election::Duration latency) {
  metrics_.renew(success, latency, clock_.wall_now());
}

void ElectionPublisher::on_store_error(std::string_view operation, const election::StoreResult& result) {
  metrics_.store_error(std::string(operation), result.error);
  const bool expected = result.error == election::StoreError::kConflict ||
                        result.error == election::StoreError::kAlreadyExists ||
                        result.error == election::StoreError::kNotFound;
  log_.log(expected ? log::Level::kDebug : log::Level::kWarn, "lease request failed",
           {{"election", election_},
            {"operation", std::string(operation)},
            {"error", election::to_string(result.error)},
            {"detail", result.detail}});
}

}  // namespace leasehold::agent
