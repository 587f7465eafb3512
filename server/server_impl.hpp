#pragma once

/// `tutti::server`'s state, shared by the files that answer its routes:
/// server.cpp (the service the listener calls: the route table, the checks
/// on a request's head, metrics and the access log; starting and stopping),
/// routes_admin.cpp (state and listings), routes_chat.cpp
/// (`POST /v1/chat/completions`), routes_embeddings.cpp
/// (`POST /v1/embeddings`) and routes_runs.cpp (`/v1/runs`). Private to the
/// endpoint.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "server/access_log.hpp"
#include "server/batch_jobs.hpp"
#include "server/connection.hpp"
#include "server/http_metrics.hpp"
#include "server/key_limits.hpp"
#include "server/live_feed.hpp"
#include "server/openai.hpp"
#include "server/run_registry.hpp"
#include "server/waiting_pool.hpp"
#include "tutti/server.hpp"
#include "tutti/store.hpp"

namespace tutti {

namespace http {

class client_api;

/// Seconds since the epoch, for `created` fields and run times.
int64_t unix_now();

/// A JSON response with `status`.
response json_response(int status, std::string body);

/// An error in OpenAI's format (a 401 says how to authenticate); with a
/// failed ensemble's answer when given.
response error_response(const api_error& error,
                        const std::string& ensemble_json = {});

/// GET /healthz: 200 while the server runs; "degraded" when the store
/// cannot keep up (answers still flow).
response healthz_response(const store_health& store);

/// The headers of every event stream: no caching, no proxy buffering.
std::vector<header_pair> event_stream_headers();

/// One route: its method and pattern, its name in the metrics, whether it
/// needs the token, and what answers it.
struct route_match {
  enum class route_id {
    healthz,
    metrics,
    providers,
    ensembles,
    pipelines,
    models,
    model,           ///< /v1/models/{id}
    root,            ///< GET /: what this server is, or the dashboard's page
    dashboard_asset, ///< GET /ui/{file}: a file of the dashboard
    chat,
    completions, ///< POST /v1/completions (legacy text completions)
    responses,   ///< POST /v1/responses
    messages,    ///< POST /v1/messages (Anthropic's)
    reload,      ///< POST /admin/reload
    embeddings,
    create_run,
    get_run,
    delete_run,
    run_events,
    list_runs,
    stats,
    live, ///< GET /v1/live: everything in flight, as events
    create_batch,
    list_batches,
    get_batch,
    delete_batch,
    batch_results
  };
  route_id id;
  std::string name;
  /// The {id} of /v1/runs/{id} (a run id) and /v1/models/{id} (a model);
  /// the {file} of /ui/{file}.
  std::string path_id;
};

/// Whether a request asks for a web page: its `Accept` names text/html,
/// as a browser's navigation does (API clients send */* or JSON).
bool wants_html(const request_head& head);

/// Whether a request is for one of the dashboard's files (GET / from a
/// browser, GET /ui/{file}). They hold no data, so they need no token; what
/// the page then asks the API for does (docs/dashboard.md).
bool is_dashboard_file(const route_match& route, const request_head& head);

} // namespace http

/// The error a provider asked alone answers with: the vendor's own status
/// where it gave one a client understands, else the status that says what
/// happened (a timeout 504, a broken reply 502, an open breaker 503), with
/// the kind as the code and the provider named.
http::api_error provider_failed(const member_outcome& m);

/// The same for the answer of a provider asked alone (its one member).
http::api_error provider_failed(const ensemble_answer& answer);

/// `provider_failed` as a response: a 429 carries the upstream's wait as
/// `Retry-After` and `retry-after-ms`, a spent budget says not to retry;
/// `ensemble_json`, when given, is added as for `error_response`.
http::response provider_failed_response(const member_outcome& m,
                                        const std::string& ensemble_json = {});

struct server::impl : http::service {
  tutti::engine& engine;
  server_options options;
  http::http_metrics metrics;
  std::unique_ptr<http::access_log> access; ///< --access-log, if given
  http::run_registry runs;
  std::unique_ptr<http::listener> listener;
  /// Batches of POST /v1/batches, four running at once; their files under
  /// the temporary directory, removed with the server. Declared before
  /// `waiting`, whose tasks use it: it goes after them.
  http::batch_jobs batches{std::filesystem::temp_directory_path() /
                               ("tutti-batches-" + http::random_hex(12)),
                           4, 100};
  http::waiting_pool waiting{2, 256};

  std::atomic<bool> stopping{false};
  std::mutex reload_mutex; ///< one reload at a time
  enum class phase { idle, running, done };
  std::mutex phase_mutex;
  std::condition_variable phase_changed;
  phase state = phase::idle;
  std::thread background;

  /// Questions of chat completions in flight (cancelled at stop), and how
  /// many have not had their answer yet.
  std::mutex in_flight_mutex;
  std::condition_variable in_flight_changed;
  std::set<uint64_t> in_flight;
  size_t questions = 0;

  impl(tutti::engine& e, server_options opts);

  /// The engine outlives the endpoint: the questions it was asked (and
  /// cancelled at stop) end before their callbacks' endpoint goes.
  ~impl();

  // --- helpers ---

  /// A chat completion's question is about to be asked.
  void begin_question() {
    std::lock_guard<std::mutex> guard{in_flight_mutex};
    ++questions;
  }

  /// Its answer came (on an engine thread; maybe before `track`).
  template <class State>
  void end_question(State& st) {
    // Notified under the lock: once `~impl` sees no question left, nothing
    // here touches the condition variable it is about to destroy.
    std::lock_guard<std::mutex> guard{in_flight_mutex};
    --questions;
    in_flight.erase(st.handle);
    st.answered = true;
    in_flight_changed.notify_all();
  }

  /// Its handle, for `stop` to cancel, unless its answer came already.
  template <class State>
  void track(State& st, uint64_t handle) {
    std::lock_guard<std::mutex> guard{in_flight_mutex};
    st.handle = handle;
    if (!st.answered)
      in_flight.insert(handle);
  }

  bool tokenless() const { return options.token.empty(); }

  bool authorized(const http::request_head& head) const;

  /// The call a request body asks for, or nothing when the body is not a
  /// valid one (its error is then sent).
  template <class Call>
  static std::optional<Call>
  valid_call(std::variant<Call, http::api_error> parsed, http::exchange& ex) {
    if (auto* error = std::get_if<http::api_error>(&parsed)) {
      ex.respond(http::error_response(*error));
      return std::nullopt;
    }
    return std::get<Call>(std::move(parsed));
  }

  // --- http::service (server.cpp) ---

  std::optional<http::response> check(http::exchange& ex) override;
  /// `check` without CORS: the route, then who may ask.
  std::optional<http::response> check_request(http::exchange& ex);
  /// Whether `origin` is one of `options.cors_origins` (or they hold "*").
  bool cors_allowed(std::string_view origin) const;
  void handle(const http::exchange_ptr& ex) override;
  void finished(const http::exchange_summary& s) override;
  void dispatch(const http::route_match& route, const http::exchange_ptr& ex);
  /// Looks the request's API key up in the store (on the waiting pool),
  /// then dispatches it, or answers 401.
  void resolve_key(const http::route_match& route,
                   const http::exchange_ptr& ex);
  /// Whether the request's key may ask `target`; else a 403 is sent.
  static bool may_ask(http::exchange& ex, const std::string& target);
  /// Whether the request's key has room in its per-minute budgets (and
  /// counts it) and its spend budget has money left; else a 429 with
  /// Retry-After is sent.
  bool admit_key(http::exchange& ex);
  /// Shared with the engine callbacks of runs, which may outlive the
  /// endpoint.
  std::shared_ptr<http::key_limits> key_budgets =
      std::make_shared<http::key_limits>();

  // --- GET /metrics, /v1/providers, /v1/ensembles, /v1/pipelines,
  // /v1/models (routes_admin.cpp) ---

  void get_metrics(const http::exchange_ptr& ex);
  void get_providers(const http::exchange_ptr& ex);
  void get_ensembles(const http::exchange_ptr& ex);
  void get_pipelines(const http::exchange_ptr& ex);
  void get_models(const http::exchange_ptr& ex);
  /// `GET /v1/models/{id}`: one model (a provider or ensemble/NAME), or 404.
  void get_model(const std::string& id, const http::exchange_ptr& ex);
  /// `GET /`: the server's name, version, auth, store and routes.
  void get_root(const http::exchange_ptr& ex);
  /// GET /ui/{file} (routes_dashboard.cpp).
  void get_dashboard_asset(const std::string& file,
                           const http::exchange_ptr& ex);
  /// `POST /admin/reload` (the admin token only): `server::reload` on the
  /// waiting pool.
  void reload_config(const http::exchange_ptr& ex);
  /// `server::reload`.
  std::string reload_now();
  /// Answers with what `make` returns, made on the waiting pool.
  void answer_waiting(const http::exchange_ptr& ex,
                      std::function<http::response()> make);

  // --- one question in a client API: POST /v1/chat/completions,
  // /v1/responses, /v1/messages (routes_chat.cpp) ---

  /// One chat completion while it runs; lives on its exchange's strand.
  struct chat_state;

  void chat(const http::exchange_ptr& ex, const http::client_api& api);
  /// Asks the question of `st` (its history loaded, when it has a session).
  void start_chat(const std::shared_ptr<chat_state>& st, ask_options ask);
  /// Reads and checks the ensemble `call` defines (tutti.ensemble) into
  /// `own`; false when it was refused (the response is sent).
  bool own_ensemble(http::exchange& ex, const http::chat_call& call,
                    std::optional<ensemble_config>& own);
  /// Counts a chat stream out of the open streams, once.
  void stream_over(chat_state& st);
  /// Starts the event stream: held until there is something to send, so
  /// that an ensemble failing before its first token is an HTTP error
  /// (which OpenAI's SDKs raise), not a stream that says nothing.
  bool open_chat_stream(chat_state& st);
  void chat_delta(chat_state& st, const member_delta& d);
  void chat_member_done(chat_state& st, const member_outcome& o);
  void chat_answer(chat_state& st, const ensemble_answer& answer);
  void end_chat_stream(chat_state& st);

  // --- POST /v1/embeddings (routes_embeddings.cpp) ---

  /// One embeddings request while it runs.
  struct embeddings_state;

  void embeddings(const http::exchange_ptr& ex);
  /// Sends the reply to `st`'s request: its vectors, or its failure.
  void embeddings_answer(embeddings_state& st, const member_outcome& outcome);

  // --- /v1/runs (routes_runs.cpp) ---

  /// An event stream's reader of one run.
  struct subscription;

  void create_run(const http::exchange_ptr& ex);
  void get_run(const std::string& id, const http::exchange_ptr& ex);
  void delete_run(const std::string& id, const http::exchange_ptr& ex);
  void run_events(const std::string& id, const http::exchange_ptr& ex);
  /// The run `id`, or nothing when there is none (a 404 is then sent).
  std::shared_ptr<http::run_record> find_run(const std::string& id,
                                             http::exchange& ex);
  /// Writes the events the reader has not seen; ends the stream after the
  /// run's last.
  void send_run_events(subscription& sub);

  // --- GET /v1/runs, /v1/stats, stored runs (routes_store.cpp) ---

  /// What the store records of a request besides its answer: its run id
  /// (also sent as `x-tutti-run-id`) and session (`X-Tutti-Session`).
  record_options record_of(http::exchange& ex, const std::string& run_id);
  /// Fills what every ask and run of a request carries: its record
  /// (`record_of`), its key's spend budget, and whether the client asked
  /// to skip the response cache (`skips_cache`).
  template <class Options>
  void scope_of(http::exchange& ex, const std::string& run_id, Options& o) {
    o.record = record_of(ex, run_id);
    o.key_budget = ex.key_budget;
    o.no_cache = skips_cache(ex);
  }
  /// `Cache-Control: no-cache` or `no-store`: neither read nor fill it.
  static bool skips_cache(http::exchange& ex);
  /// Whether `X-Tutti-Session`, when sent, is a session id; else a 400 is
  /// sent.
  static bool session_ok(http::exchange& ex);
  void list_runs(const http::exchange_ptr& ex);
  void get_stats(const http::exchange_ptr& ex);
  /// `GET /v1/runs/{id}` of a run the registry no longer holds.
  void get_stored_run(const std::string& id, const http::exchange_ptr& ex);
  /// Runs `read` with the store's reader connection on the waiting pool and
  /// answers with what it returns; a store that cannot be read is a 503.
  void read_store(const http::exchange_ptr& ex,
                  std::function<http::response(run_store&)> read);
  /// The reader connection, opened (and migrated) on first use; null with
  /// `store: none`. Throws what `open_store` throws. Under store_mutex.
  run_store* reader();
  std::mutex store_mutex;
  std::unique_ptr<run_store> store_reader; ///< guarded by store_mutex

  // --- /v1/batches (routes_batches.cpp) ---

  /// Whether the request comes with the admin token (or on loopback
  /// without one); else a 403 saying a key may not `what`.
  static bool admin_only(http::exchange& ex, const char* what);
  void create_batch(const http::exchange_ptr& ex);
  void list_batches(const http::exchange_ptr& ex);
  void get_batch(const std::string& id, const http::exchange_ptr& ex);
  void delete_batch(const std::string& id, const http::exchange_ptr& ex);
  void batch_results(const std::string& id, const http::exchange_ptr& ex);
  /// The batch `id`, or nothing (a 403 or 404 is then sent).
  std::shared_ptr<http::batch_job> find_batch(const std::string& id,
                                              http::exchange& ex);

  // --- GET /v1/live (routes_live.cpp) ---

  /// Every question and run in flight; shared with the engine callbacks,
  /// which may outlive the endpoint.
  std::shared_ptr<http::live_feed> live = std::make_shared<http::live_feed>();
  /// A reader of `GET /v1/live`.
  struct live_subscription;
  void live_events(const http::exchange_ptr& ex);
  /// Writes what the reader has not seen yet.
  void send_live(const std::shared_ptr<live_subscription>& sub);
  /// Puts a question in the live feed: its callbacks in `ask` also report
  /// there. `api` names the API that asked; `to`, `ask.ensemble` and
  /// `ask.combine` say what is asked.
  http::live_feed::question_ptr watch_live(http::exchange& ex,
                                           const std::string& api,
                                           const target& to, ask_options& ask);
  /// The same for a pipeline run.
  http::live_feed::question_ptr
  watch_live(http::exchange& ex, const std::string& pipeline, run_options& run);

  // --- lifecycle (server.cpp) ---

  void bind();
  void run();
  void cancel_everything();
  void stop();
};

} // namespace tutti
