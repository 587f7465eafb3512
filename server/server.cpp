#include "tutti/server.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <variant>
#include <vector>

#include "engine/src/json_writers.hpp"
#include "server/access_log.hpp"
#include "server/connection.hpp"
#include "server/guard.hpp"
#include "server/http_metrics.hpp"
#include "server/openai.hpp"
#include "server/run_registry.hpp"
#include "tutti/json.hpp"
#include "tutti/metrics.hpp"

namespace tutti {

namespace {

using namespace std::chrono_literals;
using http::api_error;
using http::exchange;
using http::exchange_ptr;

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string failure_summary(const ensemble_answer& answer) {
  std::string text = "the ensemble '" + answer.ensemble + "' has no answer";
  if (!answer.note.empty())
    text += ": " + answer.note;
  std::string reasons;
  for (auto& m : answer.members) {
    if (m.ok)
      continue;
    reasons += (reasons.empty() ? "" : "; ") + m.member + " " +
               std::string{to_string(m.error.kind)};
    if (m.error.http_status != 0)
      reasons += " " + std::to_string(m.error.http_status);
    if (!m.error.message.empty())
      reasons += ": " + m.error.message;
  }
  return reasons.empty() ? text : text + " (" + reasons + ")";
}

/// The 502 of an ensemble that has no answer; sent with the answer itself.
api_error ensemble_failed(const ensemble_answer& answer) {
  return api_error{502, failure_summary(answer), "upstream_error", "",
                   "ensemble_failed"};
}

api_error shutting_down() {
  return api_error{503, "tutti serve is shutting down", "server_error", "",
                   "shutting_down"};
}

std::string sse_data(const std::string& json) {
  return "data: " + json + "\n\n";
}

http::response json_response(int status, std::string body) {
  http::response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

http::response error_response(const api_error& error,
                              const std::string& ensemble_json = {}) {
  auto r = json_response(error.status, http::to_json(error, ensemble_json));
  if (error.status == 401)
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

std::vector<http::header_pair> event_stream_headers() {
  return {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}};
}

/// A JSON string, for the few events written by hand.
std::string quote_json(const std::string& text) {
  return json_detail::json_text(
      [&](auto& w) { json_detail::write_string(w, text); });
}

/// Whether a delta is a token of the answer: a provider asked alone
/// answers with its own reply, so its member tokens are the answer's (and
/// the `first` strategy's whole-reply answer delta that follows them is a
/// repeat); an ensemble's answer tokens are marked.
bool is_answer_delta(const http::chat_call& call, const member_delta& d) {
  return call.to.of == target::kind::provider ? !d.answer : d.answer;
}

/// Work that waits for the engine's actors (`provider_states`,
/// `metrics`) runs here, not on an io thread: a few threads, a bounded
/// queue, whatever the number of connections.
class waiting_pool {
public:
  explicit waiting_pool(size_t threads, size_t max_queue)
      : max_queue_(max_queue) {
    for (size_t i = 0; i < threads; ++i)
      threads_.emplace_back([this] { work(); });
  }

  ~waiting_pool() {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      stopping_ = true;
    }
    ready_.notify_all();
    for (auto& t : threads_)
      t.join();
  }

  /// False when the queue is full.
  bool submit(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      if (jobs_.size() >= max_queue_ || stopping_)
        return false;
      jobs_.push_back(std::move(job));
    }
    ready_.notify_one();
    return true;
  }

private:
  void work() {
    std::unique_lock<std::mutex> lock{mutex_};
    for (;;) {
      ready_.wait(lock, [&] { return !jobs_.empty() || stopping_; });
      if (jobs_.empty())
        return;
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
  }

  const size_t max_queue_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  bool stopping_ = false;
};

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
    chat,
    create_run,
    get_run,
    delete_run,
    run_events
  };
  route_id id;
  std::string name;
  std::string run_id; ///< for the /v1/runs/{id} routes
};

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
      {"GET", "/healthz", id::healthz},
      {"GET", "/metrics", id::metrics},
      {"GET", "/v1/providers", id::providers},
      {"GET", "/v1/ensembles", id::ensembles},
      {"GET", "/v1/pipelines", id::pipelines},
      {"GET", "/v1/models", id::models},
      {"POST", "/v1/chat/completions", id::chat},
      {"POST", "/v1/runs", id::create_run},
  };
  known_path = false;
  for (auto& r : routes) {
    if (r.path != path)
      continue;
    known_path = true;
    if (r.method == method)
      return route_match{r.route, std::string{r.path}, {}};
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

struct server::impl : http::service {
  tutti::engine& engine;
  server_options options;
  http::http_metrics metrics;
  std::unique_ptr<http::access_log> access; ///< --access-log, if given
  http::run_registry runs;
  std::unique_ptr<http::listener> listener;
  waiting_pool waiting{2, 256};

  std::atomic<bool> stopping{false};
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

  impl(tutti::engine& e, server_options opts)
      : engine(e), options(std::move(opts)),
        runs(options.keep_runs_for, options.keep_runs_max,
             std::max<size_t>(1, options.max_running_runs)) {
    // nop
  }

  /// The engine outlives the endpoint: the questions it was asked (and
  /// cancelled at stop) end before their callbacks' endpoint goes.
  ~impl() {
    std::unique_lock<std::mutex> lock{in_flight_mutex};
    in_flight_changed.wait_for(lock, 5s, [&] { return questions == 0; });
  }

  // --- helpers ---

  /// A chat completion's question is about to be asked.
  void begin_question() {
    std::lock_guard<std::mutex> guard{in_flight_mutex};
    ++questions;
  }

  /// Its answer came (on an engine thread; maybe before `track`).
  template <class State>
  void end_question(State& st) {
    {
      std::lock_guard<std::mutex> guard{in_flight_mutex};
      --questions;
      in_flight.erase(st.handle);
      st.answered = true;
    }
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

  bool authorized(const http::request_head& head) const {
    if (tokenless())
      return true;
    auto* header = head.header("Authorization");
    return header != nullptr &&
           http::tokens_match(http::bearer_token(*header), options.token);
  }

  /// The call a request body asks for, or nothing when the body is not a
  /// valid one (its error is then sent).
  template <class Call>
  static std::optional<Call> valid_call(std::variant<Call, api_error> parsed,
                                        exchange& ex) {
    if (auto* error = std::get_if<api_error>(&parsed)) {
      ex.respond(error_response(*error));
      return std::nullopt;
    }
    return std::get<Call>(std::move(parsed));
  }

  // --- http::service ---

  std::optional<http::response> check(exchange& ex) override {
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
    if (route->id == route_match::route_id::healthz)
      return json_response(200, R"({"status":"ok"})");
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
          origin != nullptr && !http::is_loopback_origin(*origin))
        return error_response(
            api_error{403,
                      "Cross-origin requests are refused when tutti serve "
                      "runs without a token",
                      "invalid_request_error", "", "forbidden_origin"});
    } else if (!authorized(head)) {
      return error_response(api_error{
          401,
          "Missing or wrong bearer token: send 'Authorization: Bearer "
          "<token>' with the token tutti serve was started with",
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

  void handle(const exchange_ptr& ex) override {
    bool known_path = false;
    auto route = match_route(ex->head().method, ex->head().path, known_path);
    if (!route)
      return; // `check` answered it
    try {
      dispatch(*route, ex);
    } catch (const std::exception& e) {
      ex->respond(error_response(
          api_error{500, std::string{"internal error: "} + e.what(),
                    "server_error", "", "internal_error"}));
    }
  }

  void finished(const http::exchange_summary& s) override {
    metrics.observe(std::string{http::method_label(s.method)}, s.route,
                    s.status, s.seconds);
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

  void dispatch(const route_match& route, const exchange_ptr& ex) {
    using id = route_match::route_id;
    switch (route.id) {
    case id::healthz:
      ex->respond(json_response(200, R"({"status":"ok"})"));
      return;
    case id::metrics:
      answer_waiting(ex, [this] {
        http::response r;
        r.content_type = "text/plain; version=0.0.4";
        r.body = to_prometheus(engine.metrics()) + metrics.to_prometheus();
        return r;
      });
      return;
    case id::providers:
      answer_waiting(ex, [this] {
        return json_response(200, http::providers_json(engine.provider_states(),
                                                       engine.loaded_config()));
      });
      return;
    case id::ensembles:
      ex->respond(
          json_response(200, http::ensembles_json(engine.loaded_config())));
      return;
    case id::pipelines:
      ex->respond(
          json_response(200, http::pipelines_json(engine.loaded_config())));
      return;
    case id::models:
      ex->respond(json_response(
          200, http::models_json(engine.loaded_config(), unix_now())));
      return;
    case id::chat:
      chat(ex);
      return;
    case id::create_run:
      create_run(ex);
      return;
    case id::get_run:
      if (auto record = find_run(route.run_id, *ex))
        ex->respond(json_response(200, record->json()));
      return;
    case id::delete_run:
      delete_run(route.run_id, ex);
      return;
    case id::run_events:
      run_events(route.run_id, ex);
      return;
    }
  }

  /// Answers with what `make` returns, made on the waiting pool.
  void answer_waiting(const exchange_ptr& ex,
                      std::function<http::response()> make) {
    bool queued = waiting.submit([ex, make = std::move(make)] {
      auto r = std::make_shared<http::response>(make());
      ex->post([ex, r] { ex->respond(std::move(*r)); });
    });
    if (!queued)
      ex->respond(error_response(api_error{503, "Too busy; try again shortly",
                                           "server_error", "", "busy"}));
  }

  // --- POST /v1/chat/completions ---

  /// One chat completion while it runs; lives on its exchange's strand.
  struct chat_state {
    exchange_ptr ex;
    uint64_t handle = 0;   ///< guarded by in_flight_mutex until tracked
    bool answered = false; ///< guarded by in_flight_mutex
    http::completion_ids ids;
    http::chat_call call;
    bool streaming = false; ///< the 200 and the role chunk are out
    bool counted = false;   ///< in the metrics' open streams
    std::string sent_text;  ///< answer text streamed so far
  };

  /// Counts a chat stream out of the open streams, once.
  void stream_over(chat_state& st) {
    if (st.counted)
      metrics.stream_closed();
    st.counted = false;
  }

  void chat(const exchange_ptr& ex) {
    auto parsed = valid_call(
        http::parse_chat_request(ex->body(), engine.loaded_config()), *ex);
    if (!parsed)
      return;
    auto st = std::make_shared<chat_state>();
    st->ex = ex;
    st->call = std::move(*parsed);
    st->ids = http::completion_ids{"chatcmpl-" + http::random_hex(24),
                                   unix_now(), st->call.model};
    ex->target = st->call.model;
    ask_options ask;
    ask.stream = st->call.stream;
    ask.params = st->call.params;
    if (st->call.stream) {
      ask.on_delta = [this, st](const member_delta& d) {
        if (!is_answer_delta(st->call, d) &&
            !(st->call.stream_members && !d.answer))
          return;
        st->ex->post([this, st, d] { chat_delta(*st, d); });
      };
      if (st->call.stream_members)
        ask.on_member_done = [this, st](const member_outcome& o) {
          st->ex->post([this, st, o] { chat_member_done(*st, o); });
        };
    }
    uint64_t handle = 0;
    begin_question();
    try {
      handle = engine.start_ask(
          st->call.to, st->call.messages, std::move(ask),
          [this, st](ensemble_answer a) {
            auto answer = std::make_shared<ensemble_answer>(std::move(a));
            st->ex->post([this, st, answer] { chat_answer(*st, *answer); });
            end_question(*st);
          });
    } catch (const config_error& e) {
      end_question(*st);
      ex->respond(error_response(api_error{500, e.message(), "server_error",
                                           "model", "config_error"}));
      return;
    }
    track(*st, handle);
    // A client that leaves cancels its question (and the upstream calls).
    ex->on_gone([this, st] {
      engine.cancel(st->handle);
      stream_over(*st);
    });
  }

  /// Starts the event stream: held until there is something to send, so
  /// that an ensemble failing before its first token is an HTTP error
  /// (which OpenAI's SDKs raise), not a stream that says nothing.
  bool open_chat_stream(chat_state& st) {
    if (st.streaming)
      return true;
    st.streaming = true;
    st.ex->start_stream(200, "text/event-stream", event_stream_headers());
    metrics.stream_opened();
    st.counted = true;
    return st.ex->write(
        sse_data(http::role_chunk(st.ids, st.call.include_usage)));
  }

  void chat_delta(chat_state& st, const member_delta& d) {
    if (!open_chat_stream(st))
      return;
    if (is_answer_delta(st.call, d)) {
      st.sent_text += d.text;
      st.ex->write(
          sse_data(http::content_chunk(st.ids, d.text, st.call.include_usage)));
    } else {
      st.ex->write(
          sse_data(http::member_delta_chunk(st.ids, d, st.call.include_usage)));
    }
  }

  void chat_member_done(chat_state& st, const member_outcome& o) {
    if (!open_chat_stream(st))
      return;
    st.ex->write(
        sse_data(http::member_done_chunk(st.ids, o, st.call.include_usage)));
  }

  void chat_answer(chat_state& st, const ensemble_answer& answer) {
    auto& ex = *st.ex;
    // A refusal is the model's answer, passed on as OpenAI sends it.
    auto refusal = http::refusal_of(answer);
    bool failed = answer.status == answer_status::failed && !refusal;
    if (!st.streaming) { // nothing is sent yet
      if (failed) {
        ex.respond(stopping ? error_response(shutting_down())
                            : error_response(ensemble_failed(answer),
                                             to_json(answer)));
        return;
      }
      if (!st.call.stream) {
        ex.respond(
            json_response(200, http::chat_completion_json(st.ids, answer)));
        return;
      }
    }
    if (!open_chat_stream(st))
      return;
    bool usage = st.call.include_usage;
    if (failed) {
      // Mid-stream, the error goes as an event; OpenAI's SDKs raise it.
      ex.write(
          sse_data(http::to_json(ensemble_failed(answer), to_json(answer))));
      end_chat_stream(st);
      return;
    }
    // Strategies that do not stream their answer send it whole here; a
    // streamed one sends whatever its tokens did not cover.
    if (refusal)
      ex.write(sse_data(http::refusal_chunk(st.ids, *refusal, usage)));
    else if (answer.text.rfind(st.sent_text, 0) == 0 &&
             answer.text.size() > st.sent_text.size())
      ex.write(sse_data(http::content_chunk(
          st.ids, answer.text.substr(st.sent_text.size()), usage)));
    ex.write(sse_data(http::finish_chunk(st.ids, answer, usage)));
    if (usage)
      ex.write(sse_data(http::usage_chunk(st.ids, answer.usage)));
    ex.write("data: [DONE]\n\n");
    end_chat_stream(st);
  }

  void end_chat_stream(chat_state& st) {
    stream_over(st);
    st.ex->end_stream();
  }

  // --- /v1/runs ---

  void create_run(const exchange_ptr& ex) {
    auto parsed = valid_call(
        http::parse_run_request(ex->body(), engine.loaded_config()), *ex);
    if (!parsed)
      return;
    auto call = std::move(*parsed);
    ex->target = call.name;
    runs.prune();
    auto kind = call.of == http::run_call::kind::pipeline
                    ? http::run_record::kind::pipeline
                : call.of == http::run_call::kind::provider
                    ? http::run_record::kind::provider
                    : http::run_record::kind::ensemble;
    auto record = runs.add(kind, call.name, unix_now());
    if (!record) {
      auto r = error_response(api_error{
          429,
          "Too many runs are running (--max-runs " +
              std::to_string(std::max<size_t>(1, options.max_running_runs)) +
              "); retry when one has finished",
          "rate_limit_error", "", "too_many_runs"});
      r.headers.emplace_back("Retry-After", "1");
      ex->respond(std::move(r));
      return;
    }
    record->push("run.started", record->json());
    uint64_t handle = 0;
    try {
      if (kind == http::run_record::kind::pipeline) {
        run_options options;
        options.stream = true;
        options.on_step_started = [record](const std::string& step) {
          record->push("step.started", "{\"step\":" + quote_json(step) + "}");
        };
        options.on_delta = [record](const std::string& step,
                                    const member_delta& d) {
          record->push("member.delta", delta_json(d, &step));
        };
        options.on_member_done = [record](const std::string& step,
                                          const member_outcome& o) {
          record->push("member.done", member_done_json(o, &step));
        };
        options.on_step_done = [record](const step_outcome& step) {
          record->push("step.done", http::step_json(step));
        };
        handle =
            engine.start_run(call.name, call.inputs, std::move(options),
                             [record](pipeline_result r) {
                               record->finish(std::string{to_string(r.status)},
                                              to_json(r), unix_now());
                             });
      } else {
        ask_options options;
        options.stream = call.stream;
        options.params = call.params;
        options.system = call.system;
        options.on_delta = [record](const member_delta& d) {
          record->push("member.delta", delta_json(d, nullptr));
        };
        options.on_member_done = [record](const member_outcome& o) {
          record->push("member.done", member_done_json(o, nullptr));
        };
        auto to = kind == http::run_record::kind::provider
                      ? target::provider(call.name)
                      : target::ensemble(call.name);
        handle = engine.start_ask(
            to, call.messages, std::move(options), [record](ensemble_answer a) {
              record->finish(std::string{to_string(a.status)}, to_json(a),
                             unix_now());
            });
      }
    } catch (const config_error& e) {
      runs.remove(record->id());
      ex->respond(error_response(
          api_error{500, e.message(), "server_error", "", "config_error"}));
      return;
    } catch (...) {
      // A run that never started must not hold a --max-runs place.
      runs.remove(record->id());
      throw;
    }
    record->set_handle(handle);
    auto r = json_response(202, record->json());
    r.headers.emplace_back("Location", "/v1/runs/" + record->id());
    ex->respond(std::move(r));
  }

  static std::string delta_json(const member_delta& d,
                                const std::string* step) {
    std::string json = "{";
    if (step != nullptr)
      json += "\"step\":" + quote_json(*step) + ",";
    json += "\"member\":" + quote_json(d.member) +
            ",\"text\":" + quote_json(d.text) +
            ",\"answer\":" + (d.answer ? "true" : "false") + "}";
    return json;
  }

  /// A member's outcome as answer.md shows it; in a pipeline run, with the
  /// step it belongs to first.
  static std::string member_done_json(const member_outcome& o,
                                      const std::string* step) {
    auto json = to_json(o);
    if (step == nullptr)
      return json;
    return "{\"step\":" + quote_json(*step) + "," + json.substr(1);
  }

  std::shared_ptr<http::run_record> find_run(const std::string& id,
                                             exchange& ex) {
    runs.prune();
    auto record = runs.find(id);
    if (!record)
      ex.respond(error_response(api_error{
          404,
          "No run '" + id + "' (finished runs are forgotten after a while)",
          "invalid_request_error", "id", "run_not_found"}));
    return record;
  }

  void delete_run(const std::string& id, const exchange_ptr& ex) {
    auto record = find_run(id, *ex);
    if (!record)
      return;
    if (!record->request_cancel()) {
      ex->respond(json_response(200, record->json()));
      return;
    }
    if (auto handle = record->handle())
      engine.cancel(*handle);
    // Cancelled members report within a fraction of a second: answer with
    // the final state when it comes in time, else as it stands after 5 s.
    auto subscription = std::make_shared<uint64_t>(0);
    auto answer = [ex, record, subscription] {
      record->unsubscribe(*subscription);
      ex->respond(json_response(200, record->json()));
    };
    *subscription = record->subscribe([ex, record, answer] {
      if (record->finished())
        ex->post(answer);
    });
    ex->on_gone([record, subscription] { record->unsubscribe(*subscription); });
    ex->after(5s, answer);
    if (record->finished())
      answer();
  }

  /// An event stream's reader of one run.
  struct subscription {
    exchange_ptr ex;
    std::shared_ptr<http::run_record> record;
    uint64_t cursor = 0;
    uint64_t id = 0;
    bool ended = false;
  };

  void run_events(const std::string& id, const exchange_ptr& ex) {
    auto record = find_run(id, *ex);
    if (!record)
      return;
    uint64_t cursor = 0;
    if (auto* last = ex->head().header("Last-Event-ID")) {
      auto parsed = http::parse_event_id(*last);
      if (!parsed) {
        ex->respond(error_response(api_error{
            400, "Last-Event-ID must be an event id (digits) this run sent",
            "invalid_request_error", "Last-Event-ID", "invalid_value"}));
        return;
      }
      cursor = *parsed;
    }
    auto sub = std::make_shared<subscription>();
    sub->ex = ex;
    sub->record = record;
    sub->cursor = std::min(cursor, record->event_count());
    ex->start_stream(200, "text/event-stream", event_stream_headers());
    metrics.stream_opened();
    sub->id = record->subscribe(
        [this, sub] { sub->ex->post([this, sub] { send_run_events(*sub); }); });
    ex->on_gone([this, sub] {
      sub->record->unsubscribe(sub->id);
      if (!sub->ended)
        metrics.stream_closed();
      sub->ended = true;
    });
    send_run_events(*sub);
  }

  /// Writes the events the reader has not seen; ends the stream after the
  /// run's last.
  void send_run_events(subscription& sub) {
    if (sub.ended)
      return;
    std::vector<http::run_event> events;
    bool ended = sub.record->events_after(sub.cursor, events);
    for (auto& e : events) {
      if (!sub.ex->write("id: " + std::to_string(e.id) + "\nevent: " + e.name +
                         "\ndata: " + e.data + "\n\n"))
        return;
      sub.cursor = e.id;
    }
    if (ended) {
      sub.ended = true;
      sub.record->unsubscribe(sub.id);
      metrics.stream_closed();
      sub.ex->end_stream();
    }
  }

  // --- lifecycle ---

  void bind() {
    if (tokenless() && !http::is_loopback_host(options.host))
      throw server_error(
          "refusing to listen on " + options.host +
          ": it is not a loopback address, so anyone who can reach it could "
          "spend your API budget; give a token (--token or TUTTI_TOKEN) or "
          "listen on 127.0.0.1");
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

  void run() {
    {
      std::lock_guard<std::mutex> guard{phase_mutex};
      if (stopping || state != phase::idle)
        return;
      state = phase::running;
    }
    listener->run();
    {
      std::lock_guard<std::mutex> guard{phase_mutex};
      state = phase::done;
    }
    phase_changed.notify_all();
  }

  void cancel_everything() {
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
  }

  void stop() {
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
};

server::server(tutti::engine& engine, server_options options)
    : impl_(std::make_unique<impl>(engine, std::move(options))) {
  impl_->bind();
}

server::~server() {
  stop();
  if (impl_->background.joinable())
    impl_->background.join();
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
