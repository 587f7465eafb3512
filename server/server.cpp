#include "tutti/server.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <string_view>
#include <thread>

#include "server/client_api.hpp"
#include "server/guard.hpp"
#include "server/server_impl.hpp"

namespace tutti {

namespace http {

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

response json_response(int status, std::string body) {
  response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

response error_response(const api_error& error,
                        const std::string& ensemble_json) {
  auto r = json_response(error.status, to_json(error, ensemble_json));
  if (error.status == 401)
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

std::vector<header_pair> event_stream_headers() {
  return {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}};
}

} // namespace http

namespace {

using namespace std::chrono_literals;
using http::api_error;
using http::error_response;
using http::exchange;
using http::exchange_ptr;
using http::json_response;
using http::route_match;

bool is_run_id(std::string_view id) {
  if (id.empty() || id.size() > 64)
    return false;
  for (char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_'))
      return false;
  return true;
}

/// The route for a method and path; nothing with `known_path` false for a
/// path no route has (404), true for a method the path does not take (405).
std::optional<route_match>
match_route(std::string_view method, std::string_view path, bool& known_path) {
  using id = route_match::route_id;
  struct fixed {
    std::string_view method;
    std::string_view path;
    id route;
  };
  static const fixed routes[] = {
      {"GET", "/", id::root},
      {"GET", "/healthz", id::healthz},
      {"GET", "/metrics", id::metrics},
      {"GET", "/v1/providers", id::providers},
      {"GET", "/v1/ensembles", id::ensembles},
      {"GET", "/v1/pipelines", id::pipelines},
      {"GET", "/v1/models", id::models},
      {"POST", "/v1/chat/completions", id::chat},
      {"POST", "/v1/completions", id::completions},
      {"POST", "/v1/responses", id::responses},
      {"POST", "/v1/messages", id::messages},
      {"POST", "/v1/embeddings", id::embeddings},
      {"POST", "/admin/reload", id::reload},
      {"POST", "/v1/runs", id::create_run},
      {"GET", "/v1/runs", id::list_runs},
      {"GET", "/v1/stats", id::stats},
      {"GET", "/v1/live", id::live},
      {"POST", "/v1/batches", id::create_batch},
      {"GET", "/v1/batches", id::list_batches},
  };
  known_path = false;
  for (auto& r : routes) {
    if (r.path != path)
      continue;
    known_path = true;
    if (r.method == method)
      return route_match{r.route, std::string{r.path}, {}};
  }
  constexpr std::string_view models = "/v1/models/";
  if (path.size() > models.size() && path.substr(0, models.size()) == models) {
    known_path = true;
    if (method != "GET")
      return std::nullopt;
    // "ensemble/NAME" may come with its slash escaped.
    std::string id;
    auto rest = path.substr(models.size());
    for (size_t i = 0; i < rest.size(); ++i) {
      if (rest[i] == '%' && i + 2 < rest.size() && rest[i + 1] == '2' &&
          (rest[i + 2] == 'F' || rest[i + 2] == 'f')) {
        id += '/';
        i += 2;
      } else {
        id += rest[i];
      }
    }
    return route_match{id::model, "/v1/models/{id}", std::move(id)};
  }
  constexpr std::string_view ui = "/ui/";
  if (path.size() > ui.size() && path.substr(0, ui.size()) == ui) {
    known_path = true;
    if (method != "GET")
      return std::nullopt;
    return route_match{id::dashboard_asset, "/ui/{file}",
                       std::string{path.substr(ui.size())}};
  }
  constexpr std::string_view batches = "/v1/batches/";
  if (path.size() > batches.size() &&
      path.substr(0, batches.size()) == batches) {
    auto rest = path.substr(batches.size());
    constexpr std::string_view results = "/results";
    bool is_results = rest.size() > results.size() &&
                      rest.substr(rest.size() - results.size()) == results;
    auto batch =
        is_results ? rest.substr(0, rest.size() - results.size()) : rest;
    if (!is_run_id(batch))
      return std::nullopt;
    known_path = true;
    if (is_results)
      return method == "GET"
                 ? std::optional<route_match>{route_match{
                       id::batch_results, "/v1/batches/{id}/results",
                       std::string{batch}}}
                 : std::nullopt;
    if (method == "GET")
      return route_match{id::get_batch, "/v1/batches/{id}", std::string{batch}};
    if (method == "DELETE")
      return route_match{id::delete_batch, "/v1/batches/{id}",
                         std::string{batch}};
    return std::nullopt;
  }
  constexpr std::string_view runs = "/v1/runs/";
  if (path.substr(0, runs.size()) != runs)
    return std::nullopt;
  auto rest = path.substr(runs.size());
  constexpr std::string_view events = "/events";
  bool is_events = rest.size() > events.size() &&
                   rest.substr(rest.size() - events.size()) == events;
  auto run = is_events ? rest.substr(0, rest.size() - events.size()) : rest;
  if (!is_run_id(run))
    return std::nullopt;
  known_path = true;
  if (is_events)
    return method == "GET"
               ? std::optional<route_match>{route_match{
                     id::run_events, "/v1/runs/{id}/events", std::string{run}}}
               : std::nullopt;
  if (method == "GET")
    return route_match{id::get_run, "/v1/runs/{id}", std::string{run}};
  if (method == "DELETE")
    return route_match{id::delete_run, "/v1/runs/{id}", std::string{run}};
  return std::nullopt;
}

} // namespace

// --- the server ------------------------------------------------------------

server::impl::impl(tutti::engine& e, server_options opts)
    : engine(e), options(std::move(opts)),
      runs(options.keep_runs_for, options.keep_runs_max,
           std::max<size_t>(1, options.max_running_runs)) {
  // nop
}

server::impl::~impl() {
  std::unique_lock<std::mutex> lock{in_flight_mutex};
  in_flight_changed.wait_for(lock, 5s, [&] { return questions == 0; });
}

bool server::impl::authorized(const http::request_head& head) const {
  if (tokenless())
    return true;
  auto presented = http::presented_token(head.header("Authorization"),
                                         head.header("x-api-key"));
  return !presented.empty() && http::tokens_match(presented, options.token);
}

// --- http::service ---

bool server::impl::cors_allowed(std::string_view origin) const {
  for (auto& allowed : options.cors_origins)
    if (allowed == "*" || allowed == origin)
      return true;
  return false;
}

namespace {

/// What a browser's preflight asks to send, echoed when it is a plain list
/// of header names; else the headers tutti's clients send.
std::string allowed_headers(const std::string* requested) {
  if (requested != nullptr && !requested->empty() &&
      requested->size() <= 2048 &&
      std::all_of(requested->begin(), requested->end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' ||
               c == '_' || c == ',' || c == ' ';
      }))
    return *requested;
  return "Authorization, Content-Type, Cache-Control, X-Tutti-Session, "
         "x-api-key, anthropic-version";
}

} // namespace

std::optional<http::response> server::impl::check(exchange& ex) {
  auto& head = ex.head();
  auto* origin = head.header("Origin");
  if (origin == nullptr || !cors_allowed(*origin)) {
    auto early = check_request(ex);
    if (early && early->status >= 400 && ex.shape_error)
      ex.shape_error(*early);
    return early;
  }
  // A page of an allowed origin: every answer says so, and it may read the
  // headers that carry what the body does.
  ex.extra_headers.emplace_back("Access-Control-Allow-Origin", *origin);
  ex.extra_headers.emplace_back("Vary", "Origin");
  ex.extra_headers.emplace_back(
      "Access-Control-Expose-Headers",
      "x-tutti-run-id, x-tutti-status, x-tutti-members-ok, "
      "x-tutti-members-failed, retry-after, retry-after-ms, x-should-retry");
  std::optional<http::response> early;
  bool known_path = false;
  if (head.method == "OPTIONS" &&
      (match_route("GET", head.path, known_path) || known_path)) {
    ex.route = "preflight";
    http::response r;
    r.status = 204;
    r.headers.emplace_back("Access-Control-Allow-Methods",
                           "GET, POST, DELETE, OPTIONS");
    r.headers.emplace_back(
        "Access-Control-Allow-Headers",
        allowed_headers(head.header("Access-Control-Request-Headers")));
    r.headers.emplace_back("Access-Control-Max-Age", "600");
    early = std::move(r);
  } else {
    early = check_request(ex);
  }
  // An early answer goes out before the exchange adds its headers.
  if (early && early->status >= 400 && ex.shape_error)
    ex.shape_error(*early);
  if (early)
    early->headers.insert(early->headers.end(), ex.extra_headers.begin(),
                          ex.extra_headers.end());
  return early;
}

std::optional<http::response> server::impl::check_request(exchange& ex) {
  auto& head = ex.head();
  bool known_path = false;
  auto route = match_route(head.method, head.path, known_path);
  if (!route) {
    if (known_path) {
      ex.route = "unmatched";
      return error_response(api_error{405, "Method not allowed on this route",
                                      "invalid_request_error", "",
                                      "method_not_allowed"});
    }
    ex.route = "unmatched";
    return error_response(
        api_error{404, "No such route; see docs/http.md for the routes",
                  "invalid_request_error", "", "not_found"});
  }
  ex.route = route->name;
  if (route->id == route_match::route_id::messages)
    ex.shape_error = [](http::response& r) {
      r.body = http::anthropic_error_body(r.status, r.body);
    };
  if (route->id == route_match::route_id::healthz)
    return http::healthz_response(engine.store_status());
  // An API key from `tutti keys` is looked up in the store by `handle`,
  // off this thread; the server's own token is the admin key.
  if (auto presented = std::string{http::presented_token(
          head.header("Authorization"), head.header("x-api-key"))};
      !presented.empty() && looks_like_key_secret(presented) &&
      (tokenless() || !http::tokens_match(presented, options.token)))
    ex.key_secret = presented;
  if (tokenless()) {
    // Only a browser page could send a foreign Host or Origin to a
    // loopback endpoint: a cross-site request, or DNS rebinding.
    auto* host = head.header("Host");
    if (host == nullptr || !http::is_loopback_authority(*host))
      return error_response(api_error{
          403,
          "Host must be a loopback address (localhost, 127.0.0.1, [::1]) "
          "when tutti serve runs without a token",
          "invalid_request_error", "", "forbidden_host"});
    if (auto* origin = head.header("Origin");
        origin != nullptr && !http::is_loopback_origin(*origin) &&
        !cors_allowed(*origin))
      return error_response(
          api_error{403,
                    "Cross-origin requests are refused when tutti serve "
                    "runs without a token",
                    "invalid_request_error", "", "forbidden_origin"});
  } else if (ex.key_secret.empty() && !authorized(head) &&
             !http::is_dashboard_file(*route, head)) {
    return error_response(
        api_error{401,
                  "Missing or wrong token: send 'Authorization: Bearer "
                  "<token>' (or 'x-api-key: <token>') with the token tutti "
                  "serve was started with, or an API key from tutti keys",
                  "invalid_request_error", "", "invalid_api_key"});
  }
  if (tokenless() && head.method == "POST") {
    auto* type = head.header("Content-Type");
    if (type == nullptr || !http::is_json_content_type(*type))
      return error_response(
          api_error{415, "Content-Type must be application/json",
                    "invalid_request_error", "", "unsupported_media_type"});
  }
  return std::nullopt;
}

void server::impl::handle(const exchange_ptr& ex) {
  bool known_path = false;
  auto route = match_route(ex->head().method, ex->head().path, known_path);
  if (!route)
    return; // `check` answered it
  if (!ex->key_secret.empty()) {
    resolve_key(*route, ex);
    return;
  }
  try {
    dispatch(*route, ex);
  } catch (const std::exception& e) {
    ex->respond(error_response(
        api_error{500, std::string{"internal error: "} + e.what(),
                  "server_error", "", "internal_error"}));
  }
}

void server::impl::finished(const http::exchange_summary& s) {
  metrics.observe(std::string{http::method_label(s.method)}, s.route, s.status,
                  s.seconds);
  if (!access)
    return;
  http::access_entry e;
  e.unix_ms = unix_now_ms();
  e.remote = s.remote_addr;
  e.method = s.method.empty() ? "-" : s.method;
  e.path = s.path;
  e.route = s.route;
  e.target = s.target;
  e.status = s.status;
  e.ms = s.seconds * 1000;
  e.bytes_in = s.bytes_in;
  e.bytes_out = s.bytes_out;
  e.stream = s.stream;
  access->write(e);
}

void server::impl::dispatch(const route_match& route, const exchange_ptr& ex) {
  using id = route_match::route_id;
  switch (route.id) {
  case id::healthz:
    ex->respond(json_response(200, R"({"status":"ok"})"));
    return;
  case id::metrics:
    get_metrics(ex);
    return;
  case id::providers:
    get_providers(ex);
    return;
  case id::ensembles:
    get_ensembles(ex);
    return;
  case id::pipelines:
    get_pipelines(ex);
    return;
  case id::models:
    get_models(ex);
    return;
  case id::model:
    get_model(route.path_id, ex);
    return;
  case id::root:
    get_root(ex);
    return;
  case id::dashboard_asset:
    get_dashboard_asset(route.path_id, ex);
    return;
  case id::chat:
    chat(ex, http::chat_completions_api());
    return;
  case id::completions:
    chat(ex, http::completions_api());
    return;
  case id::responses:
    chat(ex, http::responses_api());
    return;
  case id::messages:
    chat(ex, http::messages_api());
    return;
  case id::reload:
    reload_config(ex);
    return;
  case id::embeddings:
    embeddings(ex);
    return;
  case id::create_run:
    create_run(ex);
    return;
  case id::get_run:
    get_run(route.path_id, ex);
    return;
  case id::delete_run:
    delete_run(route.path_id, ex);
    return;
  case id::run_events:
    run_events(route.path_id, ex);
    return;
  case id::list_runs:
    list_runs(ex);
    return;
  case id::stats:
    get_stats(ex);
    return;
  case id::live:
    live_events(ex);
    return;
  case id::create_batch:
    create_batch(ex);
    return;
  case id::list_batches:
    list_batches(ex);
    return;
  case id::get_batch:
    get_batch(route.path_id, ex);
    return;
  case id::delete_batch:
    delete_batch(route.path_id, ex);
    return;
  case id::batch_results:
    batch_results(route.path_id, ex);
    return;
  }
}

// --- lifecycle ---

void server::impl::bind() {
  if (tokenless() && !http::is_loopback_host(options.host))
    throw server_error(
        "refusing to listen on " + options.host +
        ": it is not a loopback address, so anyone who can reach it could "
        "spend your API budget; give a token (--token or TUTTI_TOKEN) or "
        "listen on 127.0.0.1");
  for (auto& origin : options.cors_origins) {
    if (origin == "*") {
      if (tokenless())
        throw server_error(
            "--cors-origin '*' lets any web page use this server: it needs a "
            "token (--token or TUTTI_TOKEN)");
      continue;
    }
    auto scheme_end = origin.find("://");
    auto scheme = origin.substr(0, scheme_end);
    auto rest = scheme_end == std::string::npos ? std::string{}
                                                : origin.substr(scheme_end + 3);
    if ((scheme != "http" && scheme != "https") || rest.empty() ||
        origin.size() > 256 ||
        rest.find_first_of("/?#@ \t") != std::string::npos)
      throw server_error("--cors-origin '" + origin.substr(0, 64) +
                         "' is not an origin: give scheme://host[:port], "
                         "e.g. https://app.example.com");
  }
  if (options.port < 0 || options.port > 65535)
    throw server_error("port " + std::to_string(options.port) +
                       " is out of range (0 to 65535)");
  if (!options.access_log.empty())
    access = std::make_unique<http::access_log>(options.access_log);
  http::listener_options lo;
  lo.host = options.host;
  lo.port = options.port;
  lo.threads = std::max<size_t>(1, options.io_threads);
  lo.max_connections = std::max<size_t>(1, options.max_connections);
  lo.max_body_bytes = options.max_body_bytes;
  lo.header_timeout = options.header_timeout;
  lo.body_timeout = options.read_timeout;
  lo.write_timeout = options.write_timeout;
  lo.keep_alive_timeout = options.keep_alive_timeout;
  listener = std::make_unique<http::listener>(lo, *this);
}

void server::impl::run() {
  {
    std::lock_guard<std::mutex> guard{phase_mutex};
    if (stopping || state != phase::idle)
      return;
    state = phase::running;
  }
  listener->run();
  // Notified under the lock, so a `stop` on another thread that then
  // destroys the server never races this notify.
  std::lock_guard<std::mutex> guard{phase_mutex};
  state = phase::done;
  phase_changed.notify_all();
}

void server::impl::cancel_everything() {
  std::vector<uint64_t> handles;
  {
    std::lock_guard<std::mutex> guard{in_flight_mutex};
    handles.assign(in_flight.begin(), in_flight.end());
  }
  for (auto& record : runs.all())
    if (!record->finished() && record->request_cancel())
      if (auto handle = record->handle())
        handles.push_back(*handle);
  for (auto handle : handles)
    engine.cancel(handle);
  batches.cancel_all();
}

void server::impl::stop() {
  stopping = true;
  cancel_everything();
  listener->stop();
  std::unique_lock<std::mutex> lock{phase_mutex};
  if (state == phase::idle) {
    state = phase::done;
    return;
  }
  phase_changed.wait(lock, [&] { return state != phase::running; });
}

server::server(tutti::engine& engine, server_options options)
    : impl_(std::make_unique<impl>(engine, std::move(options))) {
  impl_->bind();
}

server::~server() {
  stop();
  if (impl_->background.joinable())
    impl_->background.join();
}

std::string server::reload() {
  return impl_->reload_now();
}

std::string server::impl::reload_now() {
  if (!options.reload_source)
    throw config_error({}, "this server was given its config in code; there "
                           "is no file to reload");
  std::lock_guard<std::mutex> guard{reload_mutex};
  engine.reload(options.reload_source());
  auto& cfg = engine.loaded_config();
  return "serving " + std::to_string(cfg.providers.size()) + " providers, " +
         std::to_string(cfg.ensembles.size()) + " ensembles, " +
         std::to_string(cfg.models.size()) + " routed models and " +
         std::to_string(cfg.pipelines.size()) + " pipelines from " + cfg.file;
}

int server::port() const {
  return impl_->listener->port();
}

std::string server::url() const {
  auto& host = impl_->options.host;
  bool v6 = host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" +
         std::to_string(port());
}

void server::run() {
  impl_->run();
}

void server::start() {
  if (!impl_->background.joinable())
    impl_->background = std::thread{[this] { impl_->run(); }};
}

void server::stop() {
  if (impl_->background.joinable() &&
      impl_->background.get_id() == std::this_thread::get_id()) {
    impl_->stopping = true;
    impl_->listener->stop();
    return;
  }
  impl_->stop();
  if (impl_->background.joinable())
    impl_->background.join();
}

} // namespace tutti
