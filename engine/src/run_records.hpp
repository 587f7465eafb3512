#pragma once

/// What the store keeps of an answer: a finished question or pipeline run
/// flattened into a `stored_run` (its steps and every model call), built
/// on the engine thread that delivers the answer and handed to the store
/// writer.

#include <map>
#include <string>
#include <vector>

#include "tutti/messages.hpp"
#include "tutti/store.hpp"

namespace tutti {

/// Who asked what: the parts of a run its answer does not say.
struct run_context {
  std::string id;
  std::string kind;        ///< ask, run, batch, http
  std::string target_kind; ///< ensemble, provider, pipeline
  std::string target;
  std::string key;
  std::string session;
  int64_t started_ms = 0;
  bool cancelled = false;
  bool texts = true;
  std::string prompt; ///< JSON
};

/// The messages of a question as JSON: [{"role": ..., "content": ...}].
std::string messages_json(const std::vector<chat_message>& messages);

/// A pipeline's inputs as a JSON object.
std::string inputs_json(const std::map<std::string, std::string>& inputs);

/// The run to store; `context` is taken (moved from by a caller that is
/// done with it) rather than copied.
stored_run stored_run_of(run_context context, const ensemble_answer& answer);

stored_run stored_run_of(run_context context, const pipeline_result& result);

} // namespace tutti
