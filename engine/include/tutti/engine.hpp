#pragma once

/// The engine facade: what a host program (and the `tutti` command) uses to
/// ask an ensemble. No CAF include: the actors stay behind this interface.

#include <chrono>
#include <cstddef>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tutti/config.hpp"
#include "tutti/messages.hpp"
#include "tutti/metrics.hpp"
#include "tutti/registry.hpp"
#include "tutti/store.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace tutti {

/// Whom a question goes to: an ensemble (a plain name converts to one), or
/// one provider alone, answered as a one-member ensemble whose answer is
/// that provider's reply.
struct target {
  enum class kind : uint8_t { ensemble, provider };
  kind of = kind::ensemble;
  std::string name;

  target(std::string ensemble_name) : name(std::move(ensemble_name)) {}
  target(const char* ensemble_name) : name(ensemble_name) {}

  static target ensemble(std::string name) { return target{std::move(name)}; }
  static target provider(std::string name) {
    target t{std::move(name)};
    t.of = kind::provider;
    return t;
  }
};

/// A combine strategy and its settings, chosen for one question instead of
/// the ensemble's own.
struct combine_choice {
  std::string name;
  combine_options settings;
};

/// What the store records of a question or run beside its answer
/// (docs/store.md).
struct record_options {
  /// The run's id in the store; "": a fresh one (`new_run_id()`).
  std::string run_id;
  /// "ask" (the default for a question), "run" (for a pipeline), "batch",
  /// "http", "embedding" (the default for `start_embed`).
  std::string kind;
  /// The name of the API key that asked; "" none.
  std::string key;
  /// The conversation it belongs to; "" none.
  std::string session;
  /// false: nothing of it is stored.
  bool keep = true;
};

/// Options and callbacks for one question. The callbacks run on an engine
/// thread, one at a time and in order; keep them short and do not block.
/// A question its target cannot answer as asked: tools or a JSON response
/// format for a strategy that writes its own answer, or for a member whose
/// codec cannot send them. The asker's to change, not the config's (an
/// HTTP client gets a 400).
class unsupported_request : public std::invalid_argument {
public:
  /// `param`: the request field at fault ("tools", "frequency_penalty").
  unsupported_request(std::string param, const std::string& message)
      : std::invalid_argument(message), param_(std::move(param)) {}
  const std::string& param() const { return param_; }

private:
  std::string param_;
};

struct ask_options {
  /// Ask the upstreams for token streams and report each piece of text.
  bool stream = false;
  /// Per-call sampling parameters; each one set here overrides the
  /// providers' defaults from the config.
  chat_params params;
  /// An optional system prompt, sent before the question.
  std::string system;
  /// Earlier turns of the conversation (`run_store::session_history`),
  /// sent between the system prompt and the messages; not stored again
  /// with this run, whose prompt is only its own messages.
  std::vector<chat_message> history;
  /// Batch questions queue behind interactive ones in every limit group
  /// that is short of budget.
  tutti::priority priority = priority::interactive;
  /// Combine this question's ensemble with another strategy (or other
  /// settings); checked as the config's are (`validate_combine_choice`), a
  /// `config_error` when it will not do. Not for a provider target.
  std::optional<combine_choice> combine;
  /// An ensemble defined for this question alone (`parse_inline_ensemble`),
  /// asked instead of one of the config's; the target (an ensemble target)
  /// names it in the answer and the records.
  std::optional<ensemble_config> ensemble;
  tutti::record_options record;
  /// The budget of the key in `record.key` (`tutti keys create --budget`).
  spend_limit key_budget;
  /// Neither read nor fill the response cache (`--no-cache`).
  bool no_cache = false;
  std::function<void(const member_delta&)> on_delta;
  /// Called as soon as one member has its outcome.
  std::function<void(const member_outcome&)> on_member_done;
  /// Called when a member's call (or a strategy's call: a judge, a debate
  /// turn) is queued for a permit, sent, or waits to retry; unset, the
  /// providers send no such report.
  std::function<void(const member_progress&)> on_member_progress;
};

/// Options for one embeddings request (`engine::start_embed`).
struct embed_options {
  /// The vectors' length; 0: the model's own. Only for a provider whose
  /// codec can choose it (`codec::takes_embedding_dimensions`).
  int64_t dimensions = 0;
  /// As in `ask_options`.
  tutti::priority priority = priority::interactive;
  /// Stored as a run of kind "embedding" unless `record.kind` says
  /// otherwise, in no session (`record.session` is ignored); its texts are
  /// kept only as `store.texts` allows, its vectors never.
  tutti::record_options record;
  spend_limit key_budget;
};

/// How the engine runs.
struct engine_options {
  /// Threads of the actor scheduler; 0: CAF's default, one per core but at
  /// least four. Actors never block,
  /// so even one thread serves any number of members in parallel.
  size_t worker_threads = 0;
  /// The codecs and strategies the config's `kind:` and `combine:` name:
  /// a host program's own beside the built-ins (`registry` starts empty;
  /// `register_builtin_plugins` adds the built-ins). Null: the built-ins.
  /// `from_file` and `from_yaml` read the config with it too.
  std::shared_ptr<const registry> plugins;
  /// Where the store writer's changes of state are told (one line each:
  /// degraded and why, writing again); null: standard error.
  std::function<void(const std::string&)> log;
  /// Keep the response cache in memory only, never in the store, even when
  /// the store keeps texts: replies cached by this engine live and die
  /// with it, and none cached before is read. `tutti eval` shares its
  /// targets' identical calls this way (docs/eval.md).
  bool memory_cache = false;
};

/// What `tutti providers` shows of one provider: its limit group's budgets
/// and use, and its circuit breaker.
struct provider_status {
  std::string name;
  std::string kind;
  std::string model;
  std::string limit_group;
  std::string note; ///< why the provider is not running, when it is not
  int64_t in_flight = 0;
  int64_t queued = 0;
  int64_t concurrency = 0;
  int64_t requests_in_window = 0;
  int64_t requests_limit = 0; ///< 0: none
  int64_t tokens_in_window = 0;
  int64_t tokens_limit = 0; ///< 0: none
  int64_t cooldown_left_ms = 0;
  /// What the server's rate-limit headers still allow before their reset;
  /// -1: the server said nothing (or its reset has passed).
  int64_t server_requests_left = -1;
  int64_t server_tokens_left = -1;
  std::string breaker; ///< "closed", "open", "half_open"
  int consecutive_failures = 0;
};

/// Callbacks for one pipeline run, with the same threading rules as
/// `ask_options`.
struct run_options {
  bool stream = false;
  /// A batch run's requests queue behind interactive ones in every limit
  /// group that is short of budget.
  tutti::priority priority = priority::interactive;
  tutti::record_options record;
  /// As in `ask_options`.
  spend_limit key_budget;
  bool no_cache = false;
  std::function<void(const std::string& step)> on_step_started;
  /// A member's (or the answer's) tokens, labelled with the step.
  std::function<void(const std::string& step, const member_delta&)> on_delta;
  /// A member (or a strategy's call) of a step has its outcome.
  std::function<void(const std::string& step, const member_outcome&)>
      on_member_done;
  /// As in `ask_options`, labelled with the step.
  std::function<void(const std::string& step, const member_progress&)>
      on_member_progress;
  std::function<void(const step_outcome&)> on_step_done;
};

/// The engine: providers, limiters and aggregators as actors on their own
/// scheduler threads, plus one transport thread for all HTTP traffic. Every
/// member function is safe to call from any thread, also from inside a
/// callback, except where it says it waits.
class engine {
public:
  /// Starts the actor system and the transport thread. Providers are started
  /// on first use, when their `${VAR}`s are resolved.
  explicit engine(config cfg, engine_options options = {});

  /// An engine for the config file at `path`; throws `config_error`.
  static engine from_file(const std::string& path, engine_options options = {});

  /// An engine for a config given as YAML text; `name` stands for the file in
  /// error messages. Throws `config_error`.
  static engine from_yaml(const std::string& yaml_text,
                          engine_options options = {},
                          const std::string& name = "<yaml>");

  /// Cancels what is in flight (each question and run still gets its answer,
  /// with what its members had), then stops every thread it started.
  ~engine();

  engine(engine&&) noexcept;
  engine& operator=(engine&&) noexcept;
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  /// Asks `to` one question; the future holds the answer, which lists every
  /// member's outcome (a failed member is an outcome, not an exception).
  /// Throws `config_error` at once when the ensemble or provider is unknown
  /// or one of its providers cannot start (an unset `${VAR}`).
  std::future<ensemble_answer> ask(const target& to, const std::string& prompt,
                                   ask_options options = {});

  /// The same with a whole conversation (system, user and assistant turns).
  /// `options.system`, when set, goes before them.
  std::future<ensemble_answer> ask(const target& to,
                                   std::vector<chat_message> messages,
                                   ask_options options = {});

  /// Starts a question and returns at once with its handle for `cancel`.
  /// `on_done` gets the answer exactly once, on an engine thread, after the
  /// callbacks of `options`; also when the question is cancelled or the
  /// engine is destroyed first. Throws `config_error` as `ask` does.
  uint64_t start_ask(const target& to, std::vector<chat_message> messages,
                     ask_options options,
                     std::function<void(ensemble_answer)> on_done);

  /// Asks provider `provider` alone for the embeddings of `inputs` and
  /// returns at once with a handle for `cancel`. The call takes the
  /// provider's normal path: budget, permits from its limit group, retries
  /// with backoff, its deadline (`timeouts.total`, else 60 s), its circuit
  /// breaker, metrics and the store. Inputs beyond what one call of its
  /// codec carries (`codec::max_embedding_batch`) go in several calls,
  /// answered as one. `on_done` gets the outcome exactly once, on an engine
  /// thread: `reply.embeddings` holds one vector per input in order, usage
  /// and cost summed over the calls; or the first failure. Throws
  /// `config_error` as `start_ask` does for a provider, and
  /// `unsupported_request` when its codec has no embeddings ("model") or
  /// cannot choose `dimensions` ("dimensions"), or the inputs are none or
  /// beyond `max_embedding_inputs` ("input").
  uint64_t start_embed(const std::string& provider,
                       std::vector<std::string> inputs, embed_options options,
                       std::function<void(member_outcome)> on_done);

  /// Runs pipeline `name` with `inputs` (every declared input must be
  /// given; throws `config_error` when one is missing or unknown, or the
  /// pipeline is). Independent steps run in parallel; a step starts as soon
  /// as the steps it needs have finished; a failed step skips its
  /// dependents, and everything that finished is kept. The callbacks of
  /// `options` run on an engine thread, as `ask`'s do.
  std::future<pipeline_result>
  run(const std::string& name, const std::map<std::string, std::string>& inputs,
      run_options options = {});

  /// Starts pipeline `name` like `run` and returns at once with the run's
  /// id. `on_done` gets the result exactly once, on an engine thread (keep
  /// it short: hand the result over, do not block), after the callbacks of
  /// `options`; also when the run is cancelled. Throws `config_error` as
  /// `run` does, before anything starts.
  uint64_t start_run(const std::string& name,
                     const std::map<std::string, std::string>& inputs,
                     run_options options,
                     std::function<void(pipeline_result)> on_done);

  /// Cancels a question from `start_ask`, embeddings from `start_embed` or a
  /// run from `start_run`: running
  /// members stop (their transfers are closed) and report what they have,
  /// pipeline steps not started are skipped, and `on_done` follows with the
  /// answer or result as it stands. Returns false when it has already
  /// finished (or the handle is unknown).
  bool cancel(uint64_t handle);

  /// The state of every configured provider, starting those not yet
  /// started; a provider that cannot start says why in `note`. Waits for
  /// the actors (at most 5 s each): not from inside a callback.
  std::vector<provider_status> provider_states();

  /// Counters since the engine started: calls and failures by provider and
  /// kind, latency histograms, tokens, cost; plus the limiters' queues and
  /// the scheduler's lag right now. Waits as `provider_states` does.
  metrics_snapshot metrics();

  /// The config questions start with now. After `reload` it is the new
  /// one; a reference taken before stays valid (every config loaded is
  /// kept for the engine's life: a few kilobytes each).
  const tutti::config& loaded_config() const;

  /// Serves `next` from now on: checked as the constructor checks (a
  /// `config_error`, and the current config goes on, when it will not do);
  /// questions and runs in flight finish on the config they started with.
  /// A provider whose definition changed, or whose limit group's did, gets
  /// a new actor and limiter on its next question; the others keep theirs,
  /// limits and breaker state included. The store cannot change (a
  /// `config_error` says to restart).
  void reload(tutti::config next);

  /// The store writer's state: "off" when `store: none`.
  store_health store_status() const;

  /// Waits (at most `max`) until every question and run answered before
  /// the call is written to the store (or dropped); true when it came to
  /// that. The destructor does this too, for at most 5 s.
  bool flush_store(std::chrono::milliseconds max);

  /// The earlier turns of conversation `session`, to send as
  /// `ask_options::history` (`store.history` bounds them), once the
  /// session's last answered run is written (waiting at most 2 s). Empty
  /// when the
  /// store is off. Waits for the store: not from inside a callback. Throws
  /// `store_error` when the store cannot be read.
  std::vector<chat_message> session_history(const std::string& session);

  /// What the budget `limit` of API key `key` has left now: the store's
  /// spend this month from before the engine started, plus what its calls
  /// have cost since and may cost while in flight.
  budget_left key_budget_left(const std::string& key, spend_limit limit);
  /// The plugins it uses: `engine_options::plugins`, or the built-ins.
  const registry& plugins() const;

  /// The CAF actor system the engine runs on, for hosts that write their own
  /// actors (include <caf/actor_system.hpp> to use it).
  caf::actor_system& actor_system();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace tutti
