#pragma once

/// The engine facade: what a host program (and the `tutti` command) uses to
/// ask an ensemble. No CAF include: the actors stay behind this interface.

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tutti/config.hpp"
#include "tutti/messages.hpp"

namespace tutti {

/// Callbacks for one question. They run on an engine thread, one at a time
/// and in order; keep them short.
struct ask_options {
  /// Ask the upstreams for token streams and report each piece of text.
  bool stream = false;
  /// Per-call sampling parameters; each one set here overrides the
  /// providers' defaults from the config.
  chat_params params;
  /// An optional system prompt, sent before the question.
  std::string system;
  /// Batch questions queue behind interactive ones in every limit group
  /// that is short of budget.
  tutti::priority priority = priority::interactive;
  std::function<void(const member_delta&)> on_delta;
  /// Called as soon as one member has its outcome.
  std::function<void(const member_outcome&)> on_member_done;
};

/// How the engine runs.
struct engine_options {
  /// Threads of the actor scheduler; 0: one per core. Actors never block,
  /// so even one thread serves any number of members in parallel.
  size_t worker_threads = 0;
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
  std::function<void(const std::string& step)> on_step_started;
  /// A member's (or the answer's) tokens, labelled with the step.
  std::function<void(const std::string& step, const member_delta&)> on_delta;
  std::function<void(const step_outcome&)> on_step_done;
};

class engine {
public:
  /// Starts the actor system and the transport thread. Providers are started
  /// on first use, when their `${VAR}`s are resolved.
  explicit engine(config cfg, engine_options options = {});

  /// Cancels what is in flight and stops every thread.
  ~engine();

  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  /// Asks ensemble `name` one question and waits for the answer, which lists
  /// every member's outcome. Throws `config_error` when the ensemble is
  /// unknown or one of its providers cannot start (an unset `${VAR}`).
  /// Callable from any thread but not from inside a callback.
  ensemble_answer ask(const std::string& name, const std::string& prompt,
                      const ask_options& options = {});

  /// Runs pipeline `name` with `inputs` (every declared input must be
  /// given; throws `config_error` when one is missing or unknown, or the
  /// pipeline is). Independent steps run in parallel; a step starts as soon
  /// as the steps it needs have finished; a failed step skips its
  /// dependents, and everything that finished is kept. The callbacks of
  /// `options` run on an engine thread, as `ask`'s do.
  pipeline_result run(const std::string& name,
                      const std::map<std::string, std::string>& inputs,
                      const run_options& options = {});

  /// Starts pipeline `name` like `run` and returns at once with the run's
  /// id. `on_done` gets the result exactly once, on an engine thread (keep
  /// it short: hand the result over, do not block), after the callbacks of
  /// `options`; also when the run is cancelled. Throws `config_error` as
  /// `run` does, before anything starts.
  uint64_t start_run(const std::string& name,
                     const std::map<std::string, std::string>& inputs,
                     run_options options,
                     std::function<void(pipeline_result)> on_done);

  /// Cancels a run from `start_run`: its running steps stop and report
  /// what they have, the rest are skipped, and its `on_done` follows.
  /// Returns false when the run has already finished.
  bool cancel(uint64_t run);

  /// The state of every configured provider, starting those not yet
  /// started; a provider that cannot start says why in `note`.
  std::vector<provider_status> provider_states();

  const tutti::config& loaded_config() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace tutti
