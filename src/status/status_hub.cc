#include "status/status_hub.h"

#include <boost/asio/post.hpp>

namespace leasehold::status {

namespace asio = boost::asio;

template <class Board>
Hub<Board>::Hub(asio::io_context& io, const Board& board, std::string election)
    : io_(io), board_(board), election_(std::move(election)), expiry_timer_(io), ping_timer_(io) {}

template <class Board>
void Hub<Board>::notify() {
  asio::post(io_, [self = this->shared_from_this()] { self->check(); });
}

template <class Board>
HttpAnswer Hub<Board>::too_many_waiting() {
  return HttpAnswer{503,
                    "{\"error\":\"too many waiting clients; ask without wait or retry\"}\n",
                    "application/json",
                    {{"Retry-After", "1"}}};
}

template <class Board>
void Hub<Board>::wait(std::uint64_t after, election::Duration wait, std::shared_ptr<HttpExchange> exchange,
                      Render render) {
  const View view = board_.view();
  if (view.revision != after || wait <= election::Duration::zero()) {
    exchange->reply(render(view));
    return;
  }
  if (!exchange->hold(election_)) return exchange->reply(too_many_waiting());
  auto waiter = std::make_shared<Waiter>(after, exchange, std::move(render), io_);
  waiters_.push_back(waiter);
  // A client that leaves frees its place at once, not when the wait ends.
  exchange->on_close([weak_self = this->weak_from_this(), weak_waiter = std::weak_ptr<Waiter>(waiter)] {
    const auto self = weak_self.lock();
    if (!self) return;
    asio::post(self->io_, [self, weak_waiter] {
      const auto gone = weak_waiter.lock();
      if (!gone || gone->answered) return;
      gone->answered = true;
      gone->timer.cancel();
      self->waiters_.remove(gone);
    });
  });
  waiter->timer.expires_after(wait);
  waiter->timer.async_wait([self = this->shared_from_this(), waiter](boost::system::error_code) {
    if (waiter->answered) return;
    self->answer(waiter, self->board_.view());
    self->waiters_.remove(waiter);
  });
  arm_expiry();
}

template <class Board>
void Hub<Board>::answer(const std::shared_ptr<Waiter>& waiter, const View& view) {
  waiter->answered = true;
  waiter->timer.cancel();
  waiter->exchange->reply(waiter->render(view));
}

template <class Board>
void Hub<Board>::stream(std::shared_ptr<HttpExchange> exchange, std::function<std::string(const View&)> event) {
  if (!exchange->hold(election_)) return exchange->reply(too_many_waiting());
  const View view = board_.view();
  exchange->start_stream(200, "text/event-stream");
  exchange->send(event(view));
  // Compared, never dereferenced: the list's own reference keeps the exchange alive.
  exchange->on_close([weak_self = this->weak_from_this(), gone = exchange.get()] {
    const auto self = weak_self.lock();
    if (!self) return;
    asio::post(self->io_, [self, gone] {
      self->streams_.remove_if([gone](const Stream& s) { return s.exchange.get() == gone; });
    });
  });
  streams_.push_back(Stream{std::move(exchange), std::move(event), view.revision});
  arm_expiry();
  if (!ping_armed_) ping();
}

template <class Board>
void Hub<Board>::check() {
  const View view = board_.view();
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if ((*it)->after != view.revision) {
      answer(*it, view);
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = streams_.begin(); it != streams_.end();) {
    if (it->exchange->closed()) {
      it = streams_.erase(it);
      continue;
    }
    if (it->sent_revision != view.revision) {
      it->exchange->send(it->event(view));
      it->sent_revision = view.revision;
    }
    ++it;
  }
  arm_expiry();
}

template <class Board>
void Hub<Board>::arm_expiry() {
  // A claim that runs out by itself changes the revision with nobody
  // publishing: wake up at that moment to tell the waiting clients.
  const auto deadline = board_.claim_deadline();
  if (!deadline || (waiters_.empty() && streams_.empty())) return;
  // On the board's clock, the one its deadlines are on. A claim at or past its
  // deadline reads as lapsed and will not change again by itself: re-arming
  // for a past time would spin.
  const election::Duration left = *deadline - board_.clock().steady_now();
  if (left <= election::Duration::zero()) return;
  expiry_timer_.expires_after(left + std::chrono::milliseconds(1));
  expiry_timer_.async_wait([self = this->shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->check();
  });
}

template <class Board>
void Hub<Board>::ping() {
  // Comments keep proxies from closing idle streams and find clients that left.
  ping_armed_ = !streams_.empty();
  if (!ping_armed_) return;
  for (auto it = streams_.begin(); it != streams_.end();) {
    if (it->exchange->closed()) {
      it = streams_.erase(it);
    } else {
      it->exchange->send(": ping\n\n");
      ++it;
    }
  }
  ping_timer_.expires_after(std::chrono::seconds(15));
  ping_timer_.async_wait([self = this->shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->ping();
  });
}

template <class Board>
void Hub<Board>::close_all() {
  const View view = board_.view();
  for (auto& w : waiters_) answer(w, view);
  waiters_.clear();
  for (auto& s : streams_) {
    if (s.sent_revision != view.revision) s.exchange->send(s.event(view));
    s.exchange->end_stream();
  }
  streams_.clear();
  expiry_timer_.cancel();
  ping_timer_.cancel();
}

template class Hub<StatusBoard>;
template class Hub<ShardsBoard>;

}  // namespace leasehold::status
