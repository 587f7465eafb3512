#pragma once

/// The pipeline actor: one short-lived actor per pipeline run. It starts a
/// step (an aggregator) as soon as the steps it needs have finished, runs
/// independent steps in parallel, skips the dependents of a failed step and
/// answers with a `pipeline_result` that keeps every step's outcome.
///
/// Its messages, `(run_atom, listener)` and what the listener receives, are
/// listed in `actors/protocol.hpp` with every other actor's.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/aggregator.hpp"
#include "actors/protocol.hpp"
#include "tutti/engine.hpp"
#include "tutti/prompt_template.hpp"

namespace tutti {

/// One step as the pipeline actor sees it: what to ask, and whom.
struct pipeline_step_plan {
  std::string id;
  /// The ensemble to ask; a `call:` step is a one-member plan on its
  /// provider (combine `first`, until all).
  ensemble_plan ensemble;
  prompt_template prompt;
  prompt_template system; ///< empty: no system prompt
  chat_params params;     ///< the step's overrides; members' own win
  /// Ids of the steps whose values its templates use.
  std::vector<std::string> needs;
  /// Its ensemble's name and cache rule ("" for a `call:` step); the run's
  /// key and cache choice are added from `pipeline_plan::scope`.
  request_scope scope;
};

/// Everything a pipeline actor needs for one run.
struct pipeline_plan {
  std::string name;
  std::string run_id; ///< prefixes every request id of the run
  std::map<std::string, std::string> inputs;
  std::vector<pipeline_step_plan> steps; ///< in YAML order
  std::string output;                    ///< a step id
  bool stream = false; ///< ask the upstreams for token streams
  /// Pass each member's outcome to the listener as `(step id, outcome)`;
  /// off, a step's aggregator sends none (no message per member).
  bool member_outcomes = false;
  /// Pass each member's `member_progress` on as `(step id, progress)`.
  bool member_progress = false;
  tutti::priority priority = priority::interactive; ///< of every request
  /// The key that asked, its budget, and whether to skip the cache.
  request_scope scope;
};

/// Where one step stands.
enum class step_phase : uint8_t { waiting, running, done };

struct pipeline_state {
  pipeline_plan plan;
  caf::actor listener;
  caf::response_promise promise;
  std::vector<step_outcome> outcomes; ///< in step order
  std::vector<step_phase> phases;
  std::vector<caf::actor> running; ///< each step's aggregator while it runs
  std::map<std::string, step_values> values; ///< of steps with an answer
  steady_us started_at = 0;
  bool cancelled = false;
  bool answered = false;

  static inline const char* name = "pipeline";
};

/// One short-lived actor per pipeline run. On `(run_atom, listener)` it
/// starts every step whose needs are met, each through a fresh aggregator
/// asked the step's prompt and system prompt rendered from the run's inputs
/// and the finished steps' values (their answer text and their successful
/// members' replies). A step is `ok`, `partial` or `failed` as its
/// ensemble answer is; a failed (or skipped) step's dependents are
/// `skipped`, saying which step they needed and why it has no answer, while
/// independent branches run on. When no step is running and none can start
/// it answers with a `pipeline_result` (steps in plan order, usage and cost
/// summed, the output step's answer text), sends it to the listener too,
/// and quits. The pipeline has no deadline of its own: every step's
/// aggregator ends by its ensemble's deadline. `cancel_atom` cancels the
/// running steps and skips those not yet started.
caf::behavior pipeline(caf::stateful_actor<pipeline_state>* self,
                       pipeline_plan plan);

} // namespace tutti
