#include "status/routes.h"

#include <cctype>
#include <charconv>
#include <map>
#include <optional>

#include "status/status_json.h"
#include "util/duration.h"
#include "util/json_text.h"
#include "util/utf8.h"

namespace leasehold::status {
namespace {

HttpAnswer error_answer(int status, const std::string& message, HttpAnswer::Headers headers = {}) {
  return HttpAnswer{status, json_text(nlohmann::json{{"error", message}}) + "\n", "application/json",
                    std::move(headers)};
}
HttpAnswer not_found() { return error_answer(404, "not found"); }
HttpAnswer method_not_allowed(const char* allow) { return error_answer(405, "method not allowed", {{"Allow", allow}}); }
bool is_read(const HttpRequest& r) { return r.method == "GET" || r.method == "HEAD"; }

std::string percent_decode(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += text[i] == '+' ? ' ' : text[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parse_query(const std::string& query) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start <= query.size() && !query.empty()) {
    const size_t end = std::min(query.find('&', start), query.size());
    const std::string pair = query.substr(start, end - start);
    const size_t eq = pair.find('=');
    if (!pair.empty()) out[pair.substr(0, eq)] = eq == std::string::npos ? "" : percent_decode(pair.substr(eq + 1));
    start = end + 1;
  }
  return out;
}

HttpAnswer status_answer(StatusBodyCache& cache, const StatusView& view) { return HttpAnswer{200, cache.render(view)}; }

HttpAnswer leader_answer(StatusBodyCache& cache, const StatusView& view) {
  HttpAnswer answer = status_answer(cache, view);
  if (view.is_leader) {
    answer.headers.emplace_back("Leasehold-Fencing-Token", std::to_string(view.fencing_token.value_or(0)));
  } else {
    answer.status = 503;
  }
  return answer;
}

// A long poll's parameters. One rule for both: a value given is checked, whether or not the
// other is there (wait needs a unit, after is a revision as the body gives it); a bad one is a 400.
struct PollAsked {
  std::optional<std::uint64_t> after;
  std::optional<election::Duration> wait;
  std::optional<HttpAnswer> error;
};
PollAsked parse_poll(const std::string& query_text) {
  const auto query = parse_query(query_text);
  PollAsked asked;
  if (query.count("after")) {
    const std::string& text = query.at("after");
    std::uint64_t revision = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), revision);
    if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
      asked.error = error_answer(400, "bad after revision (a revision from /v1/status, e.g. after=7)");
      return asked;
    }
    asked.after = revision;
  }
  if (query.count("wait")) {
    asked.wait = util::parse_duration(query.at("wait"));
    if (!asked.wait || *asked.wait < election::Duration::zero()) {
      asked.error = error_answer(400, "bad wait duration (with a unit, e.g. wait=30s)");
    }
  }
  return asked;
}

std::string sse_event(const StatusView& view) {
  return "id: " + std::to_string(view.revision) + "\nevent: status\ndata: " + json_text(status_json(view)) + "\n\n";
}

// One election as the router serves it: its endpoint and the cache of its status body (shared
// with the long polls that render it later).
struct ServedElection {
  ElectionEndpoint endpoint;
  std::shared_ptr<StatusBodyCache> cache;
};

// Serves one election's resource (status, leader, events, ack, resign).
void serve(const ServedElection& served, const std::string& resource, const HttpRequest& request,
           const std::shared_ptr<HttpExchange>& exchange) {
  const ElectionEndpoint& e = served.endpoint;
  if (resource == "status" || resource == "leader") {
    if (!is_read(request)) return exchange->reply(method_not_allowed("GET, HEAD"));
    const auto answer_of = resource == "status" ? status_answer : leader_answer;
    const auto asked = parse_poll(request.query);
    if (asked.error) return exchange->reply(*asked.error);
    if (!asked.wait) return exchange->reply(answer_of(*served.cache, e.board->view()));
    const election::Duration bounded = std::min<election::Duration>(*asked.wait, kMaxLongPoll);
    return e.hub->wait(asked.after.value_or(e.board->view().revision), bounded, exchange,
                       [cache = served.cache, answer_of](const StatusView& view) { return answer_of(*cache, view); });
  }
  if (resource == "events") {
    if (request.method != "GET") return exchange->reply(method_not_allowed("GET"));
    // The same rule as the long polls': a stream has no use for them, but a bad one is a 400.
    if (const auto asked = parse_poll(request.query); asked.error) return exchange->reply(*asked.error);
    return e.hub->stream(exchange, sse_event);
  }
  if (resource == "ack" || resource == "resign") {
    if (request.method != "POST") return exchange->reply(method_not_allowed("POST"));
    if (!request.from_loopback) return exchange->reply(error_answer(403, "only from localhost"));
    if (resource == "ack") return exchange->reply(e.ack());
    const auto query = parse_query(request.query);
    const std::string to = query.count("to") ? query.at("to") : "";
    if (to.size() > 253 || !util::is_valid_utf8(to)) return exchange->reply(error_answer(400, "bad successor"));
    return exchange->reply(e.resign(to));
  }
  exchange->reply(not_found());
}

// GET .../shards and .../shards/<i>; `rest` is what follows "shards".
void serve_shards(const ShardsEndpoint& sharded, const std::string& rest, const HttpRequest& request,
                  const std::shared_ptr<HttpExchange>& exchange) {
  if (!rest.empty() && rest.front() != '/') return exchange->reply(not_found());
  std::string text = rest.empty() ? "" : rest.substr(1);
  const bool ack = text.size() > 4 && text.compare(text.size() - 4, 4, "/ack") == 0;
  if (ack) text.resize(text.size() - 4);
  if (ack && request.method != "POST") return exchange->reply(method_not_allowed("POST"));
  if (!ack && !is_read(request)) return exchange->reply(method_not_allowed("GET, HEAD"));
  if (rest.empty()) {
    const auto asked = parse_poll(request.query);
    if (asked.error) return exchange->reply(*asked.error);
    const auto answer = [](const ShardsView& view) { return HttpAnswer{200, json_text(view.body) + "\n"}; };
    if (!asked.wait) return exchange->reply(answer(sharded.board->view()));
    return sharded.hub->wait(asked.after.value_or(sharded.board->view().revision),
                             std::min<election::Duration>(*asked.wait, kMaxLongPoll), exchange, answer);
  }
  if (text == "events") {
    if (request.method != "GET") return exchange->reply(method_not_allowed("GET"));
    if (const auto asked = parse_poll(request.query); asked.error) return exchange->reply(*asked.error);
    return sharded.hub->stream(exchange, [](const ShardsView& view) {
      return "id: " + std::to_string(view.revision) + "\nevent: shards\ndata: " + json_text(view.body) + "\n\n";
    });
  }
  std::uint32_t shard = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), shard);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() ||
      shard >= sharded.board->shards().size()) {
    return exchange->reply(
        error_answer(404, "no such shard (0 to " + std::to_string(sharded.board->shards().size() - 1) + ")"));
  }
  if (ack) {
    if (!request.from_loopback) return exchange->reply(error_answer(403, "only from localhost"));
    if (shard >= sharded.acks.size()) return exchange->reply(not_found());
    return exchange->reply(sharded.acks[shard]());
  }
  const StatusView view = sharded.board->shards()[shard]->view();
  nlohmann::json body{
      {"shard", shard}, {"lease", view.who.election}, {"isOwner", view.is_leader}, {"owner", view.leader}};
  HttpAnswer::Headers headers;
  if (view.is_leader) {
    body["fencingToken"] = std::to_string(view.fencing_token.value_or(0));
    body["validForMs"] = view.valid_for_ms;
    headers.emplace_back("Leasehold-Fencing-Token", std::to_string(view.fencing_token.value_or(0)));
  }
  exchange->reply(HttpAnswer{view.is_leader ? 200 : 503, json_text(body) + "\n", "application/json", headers});
}

}  // namespace

HttpHandler make_status_router(std::vector<ElectionEndpoint> endpoints, std::vector<ShardsEndpoint> sharded) {
  std::vector<ServedElection> elections;
  for (auto& e : endpoints) elections.push_back({std::move(e), std::make_shared<StatusBodyCache>()});
  const ShardsEndpoint* default_sharded = nullptr;
  auto shards = std::make_shared<std::vector<ShardsEndpoint>>(std::move(sharded));
  for (const auto& s : *shards) {
    if (s.is_default) default_sharded = &s;
  }
  return [elections = std::move(elections), shards, default_sharded](const HttpRequest& request,
                                                                     std::shared_ptr<HttpExchange> exchange) {
    const std::string& path = request.path;
    const ElectionEndpoint& fallback = elections.front().endpoint;
    static const std::string kShards = "/v1/shards";
    if (default_sharded && path.rfind(kShards, 0) == 0) {
      return serve_shards(*default_sharded, path.substr(kShards.size()), request, exchange);
    }
    if (default_sharded && path != "/v1/elections" && path.rfind("/v1/elections/", 0) != 0) {
      return exchange->reply(
          error_answer(404, "election " + default_sharded->name + " is sharded: ask /v1/shards or /v1/shards/<shard>"));
    }
    if (path == "/") {
      if (!is_read(request)) return exchange->reply(method_not_allowed("GET, HEAD"));
      return exchange->reply(HttpAnswer{200, json_text(legacy_leader_json(fallback.board->view())) + "\n"});
    }
    if (path == "/v1/elections") {
      if (!is_read(request)) return exchange->reply(method_not_allowed("GET, HEAD"));
      nlohmann::json list = nlohmann::json::array();
      for (const auto& e : elections) list.push_back(status_json(e.endpoint.board->view()));
      return exchange->reply(HttpAnswer{200, json_text(nlohmann::json{{"elections", list}}) + "\n"});
    }
    static const std::string kShort = "/v1/";
    static const std::string kNamed = "/v1/elections/";
    if (path.rfind(kNamed, 0) == 0) {
      const std::string rest = path.substr(kNamed.size());
      const size_t slash = rest.find('/');
      if (slash == std::string::npos) return exchange->reply(not_found());
      const std::string name = rest.substr(0, slash);
      const std::string resource = rest.substr(slash + 1);
      if (resource == "shards" || resource.rfind("shards/", 0) == 0) {
        for (const auto& s : *shards) {
          if (s.name == name) return serve_shards(s, resource.substr(6), request, exchange);
        }
      }
      for (const auto& e : elections) {
        if (e.endpoint.name == name) return serve(e, rest.substr(slash + 1), request, exchange);
      }
      return exchange->reply(not_found());
    }
    if (path.rfind(kShort, 0) == 0 && path.find('/', kShort.size()) == std::string::npos) {
      return serve(elections.front(), path.substr(kShort.size()), request, exchange);
    }
    exchange->reply(not_found());
  };
}

HttpSyncHandler make_ops_handler(std::vector<const StatusBoard*> boards, Metrics& metrics, const election::Clock& clock,
                                 HealthPolicy policy) {
  return [boards = std::move(boards), &metrics, &clock, policy](const HttpRequest& request) -> HttpAnswer {
    const std::string& path = request.path;
    if (path != "/metrics" && path != "/healthz" && path != "/readyz") return not_found();
    if (!is_read(request)) return method_not_allowed("GET, HEAD");
    if (path == "/metrics") return HttpAnswer{200, metrics.render(), "text/plain; version=0.0.4; charset=utf-8"};
    for (const StatusBoard* board : boards) {
      if (path == "/healthz" && clock.steady_now() - board->last_heartbeat() > policy.max_loop_silence) {
        return HttpAnswer{503, "election loop stuck: " + board->view().who.election + "\n", "text/plain"};
      }
      if (path == "/readyz" && !board->view().observed) {
        return HttpAnswer{503, "lease not observed yet: " + board->view().who.election + "\n", "text/plain"};
      }
    }
    return HttpAnswer{200, "ok\n", "text/plain"};
  };
}

}  // namespace leasehold::status
