// StatusHub (and ShardsHub): the push side of one election's status (or of one sharded
// election's shards): long polls
// (`?wait=30s&after=REV`, answered when the revision moves or the wait ends)
// and Server-Sent Events streams (the latest state on every change; changes
// in quick succession may be sent as one). Waiting clients cost a timer and a
// socket each, are refused (503) over the server's cap on held requests, and
// are dropped as soon as they leave; they never touch the election loop.
//
// A claim that runs out by itself wakes the waiting clients: how long it has
// left is read from the board's clock (the monotonic clock in the agent, a
// fake one in tests), and the hub waits that long on an asio steady_timer of
// its io_context, then answers with the board's view as of then.
//
// A Board offers view() (whose result has a `revision` that moves on every change),
// claim_deadline() and clock(); StatusBoard and ShardsBoard do.
//
// Thread-safety: notify() may be called from any thread; everything else runs
// on the io_context's thread (the listeners' thread).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <list>
#include <memory>
#include <string>

#include "status/http_server.h"
#include "status/shards_board.h"
#include "status/status_board.h"

namespace leasehold::status {

template <class Board>
class Hub : public std::enable_shared_from_this<Hub<Board>> {
 public:
  using View = decltype(std::declval<const Board&>().view());
  using Render = std::function<HttpAnswer(const View&)>;

  // election: the name the listener's refusals of this hub's clients are counted under.
  Hub(boost::asio::io_context& io, const Board& board, std::string election);

  // The board changed (any thread).
  void notify();
  // Answers with render(view) once the revision differs from `after`, or after `wait`.
  void wait(std::uint64_t after, election::Duration wait, std::shared_ptr<HttpExchange> exchange, Render render);
  // Opens an event stream: the current status at once, then every change.
  void stream(std::shared_ptr<HttpExchange> exchange, std::function<std::string(const View&)> event);
  // Ends all streams and answers all waiters (shutdown).
  void close_all();
  std::size_t waiting() const { return waiters_.size() + streams_.size(); }
  // The answer to a client over the cap of held requests.
  static HttpAnswer too_many_waiting();

 private:
  // Shared by the list and the timer's handler: a handler already queued when
  // the waiter is answered elsewhere must find it answered, not freed.
  struct Waiter {
    Waiter(std::uint64_t a, std::shared_ptr<HttpExchange> e, Render r, boost::asio::io_context& io)
        : after(a), exchange(std::move(e)), render(std::move(r)), timer(io) {}
    std::uint64_t after;
    std::shared_ptr<HttpExchange> exchange;
    Render render;
    boost::asio::steady_timer timer;
    bool answered = false;
  };
  void answer(const std::shared_ptr<Waiter>& waiter, const View& view);
  struct Stream {
    std::shared_ptr<HttpExchange> exchange;
    std::function<std::string(const View&)> event;
    std::uint64_t sent_revision;
  };
  void check();
  void arm_expiry();
  void ping();

  boost::asio::io_context& io_;
  const Board& board_;
  const std::string election_;
  std::list<std::shared_ptr<Waiter>> waiters_;
  std::list<Stream> streams_;
  boost::asio::steady_timer expiry_timer_;
  boost::asio::steady_timer ping_timer_;
  bool ping_armed_ = false;
};

using StatusHub = Hub<StatusBoard>;
using ShardsHub = Hub<ShardsBoard>;

}  // namespace leasehold::status
