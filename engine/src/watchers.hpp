#pragma once

// The engine's two watcher actors: one per `start_ask` and one per
// `start_run`, the bridge between the actors and a caller's callbacks.
// Private to the engine (engine/src/engine.cpp spawns them).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <caf/stateful_actor.hpp>

#include "actors/protocol.hpp"
#include "actors/timer_service.hpp"
#include "tutti/engine.hpp"

namespace tutti {

/// How long `ask` waits past the deadline before it stops listening; the
/// aggregator answers well before that unless the engine is broken.
constexpr int64_t ask_backstop_us = 10'000'000;

/// What a `run_watch` actor knows of its run.
struct run_watch_state {
  caf::actor pipe;
  std::string pipeline;
  std::vector<std::string> step_ids;
  run_options options;
  std::function<void(pipeline_result)> on_done;
  std::function<void()> forget; ///< takes the run off the engine's table
  tutti::timers timers;
  steady_us started = 0;
  bool backstop_passed = false;
  bool done = false;

  static inline const char* name = "run_watch";
};

/// One short-lived actor per `start_run`: it starts the pipeline actor,
/// passes the run's events to the caller's callbacks in order, and hands
/// the result to `on_done` exactly once. Every step ends by its own
/// deadline; the backstop (`backstop_us` after the start) only guards
/// against a broken engine: it cancels the run, waits `ask_backstop_us`
/// for the steps to report, then answers with every step failed. So does a
/// pipeline actor that stops without an answer.
caf::behavior run_watch(caf::stateful_actor<run_watch_state>* self,
                        run_watch_state init, int64_t backstop_us);

/// What an `ask_watch` actor knows of its question.
struct ask_watch_state {
  caf::actor agg;
  std::string ensemble;
  ask_options options;
  std::function<void(ensemble_answer)> on_done;
  std::function<void()> forget; ///< takes the question off the engine's table
  tutti::timers timers;
  steady_us started = 0;
  bool backstop_passed = false;
  bool done = false;

  static inline const char* name = "ask_watch";
};

/// One short-lived actor per `start_ask`, the question's counterpart of
/// `run_watch`: it asks the aggregator, passes member events to the
/// caller's callbacks in order and the answer to `on_done` exactly once.
/// The aggregator answers by its deadline; the backstop cancels it if it
/// does not, and answers "failed" if even that brings nothing.
caf::behavior ask_watch(caf::stateful_actor<ask_watch_state>* self,
                        ask_watch_state init, ensemble_question question,
                        int64_t backstop_us);

/// What an `embed_watch` actor knows of one embeddings request.
struct embed_watch_state {
  caf::actor provider;
  std::string provider_name;
  std::string model;
  /// The request's calls, each at most the codec's batch of inputs; their
  /// ids are the request ids the provider knows them by.
  std::vector<chat_request> calls;
  /// Each call's outcome once it came; `answered` counts them.
  std::vector<std::optional<member_outcome>> outcomes;
  size_t answered = 0;
  /// Gets the combined outcome and every call's (without their vectors,
  /// which are the combined outcome's), exactly once.
  std::function<void(member_outcome, std::vector<member_outcome>)> on_done;
  std::function<void()> forget; ///< takes the request off the engine's table
  tutti::timers timers;
  steady_us started = 0;
  bool backstop_passed = false;
  bool done = false;

  static inline const char* name = "embed_watch";
};

/// One short-lived actor per `start_embed`: it sends the request's calls to
/// the provider (which gives each its permit, retries and deadline), and
/// once all have answered hands `on_done` one outcome: every vector in
/// input order with usage, cost and attempts summed; or, when a call
/// failed, the first failure, the others' usage added. A failure cancels
/// the calls still running. `(cancel_atom)` cancels them all; the backstop
/// does as `ask_watch`'s does.
caf::behavior embed_watch(caf::stateful_actor<embed_watch_state>* self,
                          embed_watch_state init, int64_t backstop_us);

} // namespace tutti
