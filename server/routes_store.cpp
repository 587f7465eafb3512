// GET /v1/runs, /v1/stats and /v1/runs/{id} of a stored run: the run store
// read over HTTP (docs/store.md), on the waiting pool since a read waits for
// the database.

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>

#include "engine/src/utf8.hpp"
#include "server/server_impl.hpp"
#include "tutti/json.hpp"

namespace tutti {

using http::api_error;
using http::error_response;
using http::exchange;
using http::exchange_ptr;
using http::json_response;

namespace {

/// A query string's parameters, percent-decoded; nothing when it is not
/// one (a bad escape, a repeated or unknown name, too many).
std::optional<std::map<std::string, std::string>>
query_params(const std::string& target, const std::vector<std::string>& known,
             std::string& problem) {
  std::map<std::string, std::string> params;
  auto q = target.find('?');
  if (q == std::string::npos)
    return params;
  auto decode = [&](std::string_view text, std::string& out) {
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '+') {
        out += ' ';
      } else if (text[i] == '%') {
        unsigned value = 0;
        if (i + 2 >= text.size())
          return false;
        auto [end, ec] = std::from_chars(text.data() + i + 1,
                                         text.data() + i + 3, value, 16);
        if (ec != std::errc{} || end != text.data() + i + 3)
          return false;
        out += static_cast<char>(value);
        i += 2;
      } else {
        out += text[i];
      }
    }
    return true;
  };
  std::string_view rest{target};
  rest.remove_prefix(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{}
                                         : rest.substr(amp + 1);
    if (pair.empty())
      continue;
    auto eq = pair.find('=');
    std::string name;
    std::string value;
    if (!decode(pair.substr(0, eq), name) ||
        (eq != std::string_view::npos && !decode(pair.substr(eq + 1), value))) {
      problem = "the query string has a bad %-escape";
      return std::nullopt;
    }
    bool is_known = false;
    for (auto& k : known)
      is_known = is_known || k == name;
    if (!is_known) {
      std::string list;
      for (auto& k : known)
        list += (list.empty() ? "" : ", ") + k;
      problem = "unknown query parameter '" +
                utf8::printable(name.substr(0, 40)) + "'; expected: " + list;
      return std::nullopt;
    }
    if (!params.emplace(name, value).second) {
      problem = "query parameter '" + name + "' is given twice";
      return std::nullopt;
    }
  }
  return params;
}

/// A non-negative integer parameter; false when it is not one.
bool read_count(const std::map<std::string, std::string>& params,
                const std::string& name, int64_t& value) {
  auto i = params.find(name);
  if (i == params.end())
    return true;
  auto& text = i->second;
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc{} && end == text.data() + text.size() && value >= 0;
}

std::string get(const std::map<std::string, std::string>& params,
                const std::string& name, const std::string& otherwise = {}) {
  auto i = params.find(name);
  return i == params.end() ? otherwise : i->second;
}

http::response bad_query(const std::string& problem) {
  return error_response(
      api_error{400, problem, "invalid_request_error", "", "invalid_query"});
}

} // namespace

namespace http {

response healthz_response(const store_health& store) {
  std::string body = R"({"status":")";
  body += store.state == "degraded" ? "degraded" : "ok";
  body += R"(","store":{"state":")" + store.state + R"(","queued":)" +
          std::to_string(store.queued) + R"(,"dropped":)" +
          std::to_string(store.dropped) + "}}";
  return json_response(200, std::move(body));
}

} // namespace http

bool server::impl::session_ok(exchange& ex) {
  auto* session = ex.head().header("X-Tutti-Session");
  if (session == nullptr)
    return true;
  bool ok = is_session_id(*session);
  if (!ok)
    ex.respond(error_response(api_error{
        400,
        "X-Tutti-Session must be 1 to " + std::to_string(max_session_bytes) +
            " printable ASCII characters without spaces",
        "invalid_request_error", "X-Tutti-Session", "invalid_value"}));
  return ok;
}

void server::impl::resolve_key(const http::route_match& route,
                               const exchange_ptr& ex) {
  auto hash = key_hash(ex->key_secret);
  ex->key_secret.clear();
  auto refused = [](const std::string& why) {
    return error_response(
        api_error{401, why, "invalid_request_error", "", "invalid_api_key"});
  };
  bool queued = waiting.submit([this, route, ex, hash, refused] {
    std::optional<api_key> key;
    std::optional<http::response> problem;
    {
      std::lock_guard<std::mutex> guard{store_mutex};
      try {
        if (auto* store = reader())
          key = store->key_by_hash(hash);
        else
          problem = refused("This server keeps no API keys (store: none); "
                            "use the token it was started with");
      } catch (const std::exception& e) {
        store_reader.reset();
        problem = error_response(api_error{
            503, std::string{"API keys cannot be checked: "} + e.what(),
            "server_error", "", "store_unavailable"});
      }
    }
    if (!problem && !key)
      problem = refused("Unknown or revoked API key");
    ex->post([this, route, ex, key, problem] {
      if (problem) {
        ex->respond(*problem);
        return;
      }
      ex->key_name = key->name;
      ex->key_targets = key->targets;
      ex->key_rpm = key->rpm;
      ex->key_tpm = key->tpm;
      ex->key_budget = key->budget;
      try {
        dispatch(route, ex);
      } catch (const std::exception& e) {
        ex->respond(error_response(
            api_error{500, std::string{"internal error: "} + e.what(),
                      "server_error", "", "internal_error"}));
      }
    });
  });
  if (!queued)
    ex->respond(error_response(api_error{503, "Too busy; try again shortly",
                                         "server_error", "", "busy"}));
}

bool server::impl::may_ask(exchange& ex, const std::string& target) {
  if (ex.key_targets.empty())
    return true;
  for (auto& t : ex.key_targets)
    if (t == target)
      return true;
  ex.respond(error_response(api_error{
      403, "API key '" + ex.key_name + "' may not ask '" + target + "'",
      "invalid_request_error", "model", "target_not_allowed"}));
  return false;
}

bool server::impl::skips_cache(exchange& ex) {
  auto* control = ex.head().header("Cache-Control");
  if (control == nullptr)
    return false;
  auto value = *control;
  std::transform(value.begin(), value.end(), value.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return value.find("no-cache") != std::string::npos ||
         value.find("no-store") != std::string::npos;
}

bool server::impl::admit_key(exchange& ex) {
  if (ex.key_name.empty())
    return true;
  if (auto left = engine.key_budget_left(ex.key_name, ex.key_budget);
      left.limited && left.usd <= 0) {
    auto wait_s =
        std::max<int64_t>(1, (left.resets_ms - unix_now_ms() + 999) / 1000);
    auto r = error_response(api_error{
        429,
        "API key '" + ex.key_name + "' has spent its budget: " + left.budget +
            " has nothing left; it resets in " + std::to_string(wait_s) + " s",
        "insufficient_quota", "", "budget_exceeded"});
    r.headers.emplace_back("Retry-After", std::to_string(wait_s));
    // Retrying cannot help before the reset: tell the SDKs not to.
    r.headers.emplace_back("x-should-retry", "false");
    ex.respond(std::move(r));
    return false;
  }
  if (ex.key_rpm <= 0 && ex.key_tpm <= 0)
    return true;
  int64_t retry_after_s = 0;
  if (key_budgets->admit(ex.key_name, ex.key_rpm, ex.key_tpm, http::unix_now(),
                         retry_after_s))
    return true;
  auto r = error_response(api_error{
      429,
      "API key '" + ex.key_name + "' has used its budget for this minute (" +
          (ex.key_rpm > 0 ? std::to_string(ex.key_rpm) + " requests" : "") +
          (ex.key_rpm > 0 && ex.key_tpm > 0 ? ", " : "") +
          (ex.key_tpm > 0 ? std::to_string(ex.key_tpm) + " tokens" : "") +
          "); retry after " + std::to_string(retry_after_s) + " s",
      "rate_limit_error", "", "key_rate_limited"});
  r.headers.emplace_back("Retry-After", std::to_string(retry_after_s));
  ex.respond(std::move(r));
  return false;
}

record_options server::impl::record_of(exchange& ex,
                                       const std::string& run_id) {
  record_options record;
  record.run_id = run_id;
  record.kind = "http";
  record.key = ex.key_name;
  if (auto* session = ex.head().header("X-Tutti-Session"))
    record.session = *session;
  ex.extra_headers.emplace_back("x-tutti-run-id", run_id);
  return record;
}

run_store* server::impl::reader() {
  if (!store_reader) {
    auto settings = engine.loaded_config().store;
    settings.url =
        expand_env(settings.url, engine.loaded_config().store_where, "store");
    if (store_is_off(settings))
      return nullptr;
    store_reader = open_store(settings, true);
  }
  return store_reader.get();
}

void server::impl::read_store(const exchange_ptr& ex,
                              std::function<http::response(run_store&)> read) {
  answer_waiting(ex, [this, read = std::move(read)]() -> http::response {
    std::lock_guard<std::mutex> guard{store_mutex};
    try {
      if (auto* store = reader())
        return read(*store);
      return error_response(
          api_error{404, "This server keeps no runs (store: none)",
                    "invalid_request_error", "", "store_disabled"});
    } catch (const std::exception& e) {
      store_reader.reset(); // reconnect on the next request
      return error_response(api_error{503,
                                      std::string{"The run store cannot "
                                                  "be read: "} +
                                          e.what(),
                                      "server_error", "", "store_unavailable"});
    }
  });
}

void server::impl::list_runs(const exchange_ptr& ex) {
  std::string problem;
  auto params = query_params(ex->head().target,
                             {"since", "until", "kind", "target_kind", "target",
                              "status", "key", "session", "limit", "cursor"},
                             problem);
  if (!params) {
    ex->respond(bad_query(problem));
    return;
  }
  run_filter filter;
  int64_t limit = 50;
  if (!read_count(*params, "since", filter.since_ms) ||
      !read_count(*params, "until", filter.until_ms) ||
      !read_count(*params, "limit", limit) || limit < 1 ||
      limit > static_cast<int64_t>(run_filter::max_page)) {
    ex->respond(bad_query("since and until are Unix times in milliseconds; "
                          "limit is from 1 to 1000"));
    return;
  }
  filter.limit = static_cast<size_t>(limit);
  filter.kind = get(*params, "kind");
  filter.target_kind = get(*params, "target_kind");
  if (!filter.target_kind.empty() && filter.target_kind != "ensemble" &&
      filter.target_kind != "provider" && filter.target_kind != "pipeline") {
    ex->respond(bad_query("target_kind is ensemble, provider or pipeline"));
    return;
  }
  filter.target = get(*params, "target");
  filter.status = get(*params, "status");
  filter.key = get(*params, "key");
  // A key sees its own runs; the admin token (or loopback) sees all.
  if (!ex->key_name.empty()) {
    if (!filter.key.empty() && filter.key != ex->key_name) {
      ex->respond(error_response(
          api_error{403, "API key '" + ex->key_name + "' sees its own runs",
                    "invalid_request_error", "key", "forbidden"}));
      return;
    }
    filter.key = ex->key_name;
  }
  filter.session = get(*params, "session");
  filter.cursor = get(*params, "cursor");
  read_store(ex, [filter](run_store& store) {
    try {
      return json_response(200, to_json(store.list(filter)));
    } catch (const store_error& e) {
      if (!filter.cursor.empty() &&
          std::string_view{e.what()}.find("cursor") != std::string_view::npos)
        return bad_query(e.what());
      throw;
    }
  });
}

void server::impl::get_stats(const exchange_ptr& ex) {
  if (!ex->key_name.empty()) {
    ex->respond(error_response(
        api_error{403, "The stats of every key need the server's token",
                  "invalid_request_error", "", "forbidden"}));
    return;
  }
  std::string problem;
  auto params =
      query_params(ex->head().target, {"by", "per", "since", "until"}, problem);
  if (!params) {
    ex->respond(bad_query(problem));
    return;
  }
  stats_query query;
  query.by = get(*params, "by", "provider");
  query.per = get(*params, "per", "day");
  query.since_ms = http::unix_now() * 1000 - 7 * 86'400'000LL;
  if (!read_count(*params, "since", query.since_ms) ||
      !read_count(*params, "until", query.until_ms)) {
    ex->respond(bad_query("since and until are Unix times in milliseconds"));
    return;
  }
  if (query.by != "provider" && query.by != "model" && query.by != "ensemble" &&
      query.by != "key") {
    ex->respond(bad_query("by is provider, model, ensemble or key"));
    return;
  }
  if (query.per != "day" && query.per != "hour") {
    ex->respond(bad_query("per is day or hour"));
    return;
  }
  read_store(ex, [query](run_store& store) {
    return json_response(200, to_json(query, store.stats(query)));
  });
}

void server::impl::get_stored_run(const std::string& id,
                                  const exchange_ptr& ex) {
  read_store(ex, [this, id, key = ex->key_name](run_store& store) {
    auto run = store.find(id);
    // A run answered a moment ago may still wait in the store writer's
    // batch: a client that looks up the id it was just given finds it.
    if (!run && engine.flush_store(std::chrono::seconds{1}))
      run = store.find(id);
    if (run && (key.empty() || run->key == key))
      return json_response(200, to_json(*run));
    return error_response(api_error{404, "No run '" + id + "'",
                                    "invalid_request_error", "id",
                                    "run_not_found"});
  });
}

} // namespace tutti
