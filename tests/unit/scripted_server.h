// ScriptedServer: a small HTTP/1.1 server on an ephemeral loopback port that
// stands in for the API server in tests of the code that talks to it. It gives
// the scripted answers in the order requests arrive (500 "unscripted" once the
// script runs out), records every request, and can leave a request unanswered,
// as a hung API server does, until the server is destroyed. Connections are
// kept alive, as cpprestsdk's client expects.
//
// Thread-safe: the test thread scripts and reads; one thread of its own serves.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace leasehold::testing {

struct Answer {
  Answer(int status_code, std::string body_text, std::vector<std::pair<std::string, std::string>> extra_headers = {})
      : status(status_code), body(std::move(body_text)), headers(std::move(extra_headers)) {}
  // An answer never given.
  static Answer hung() {
    Answer answer(0, {});
    answer.hang = true;
    return answer;
  }

  // Given, then the connection closed without a word (as a server ends an idle kept-alive one).
  Answer then_close() && {
    close_after = true;
    return std::move(*this);
  }

  int status;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool hang = false;
  bool close_after = false;
};

struct RecordedRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;

  std::string header(const std::string& lower_case_name) const {
    const auto it = headers.find(lower_case_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class ScriptedServer {
 public:
  ScriptedServer();
  ~ScriptedServer();
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  // http://127.0.0.1:<port>
  std::string url() const;
  // Appends an answer to the script.
  void then(Answer answer);
  std::vector<RecordedRequest> requests() const;
  // Waits until `count` requests have arrived; false if they did not within `bound`
  // (which only keeps a broken test from hanging).
  bool wait_for_requests(size_t count, std::chrono::seconds bound = std::chrono::seconds(30)) const;
  // Connections accepted so far.
  size_t connections_accepted() const;

 private:
  struct Connection {
    int fd;
    std::string buffer;
    bool hung = false;
    bool closing = false;
  };
  void serve();
  // Answers every complete request in the connection's buffer.
  void answer_buffered(Connection& connection);

  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};
  int port_ = 0;
  mutable std::mutex mutex_;
  size_t accepted_ = 0;
  mutable std::condition_variable arrived_;
  std::deque<Answer> script_;
  std::vector<RecordedRequest> requests_;
  std::thread thread_;
};

}  // namespace leasehold::testing
