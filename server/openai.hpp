#pragma once

/// The HTTP endpoint's request and response mapping as pure functions: JSON
/// bodies in, engine calls out; engine values in, OpenAI-shaped JSON out. No
/// sockets and no clock, so every rule here is unit-tested from strings
/// (tests/unit/server_openai_test.cpp). openai_requests.cpp reads the
/// bodies, openai_responses.cpp writes the JSON.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tutti/config.hpp"
#include "tutti/engine.hpp"
#include "tutti/messages.hpp"

namespace tutti::http {

/// An error in OpenAI's format (`{"error": {message, type, param, code}}`)
/// and the HTTP status it is sent with.
struct api_error {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param; ///< the field at fault, e.g. "messages[2].role"; empty:
                     ///< null
  std::string code;  ///< a stable code, e.g. "model_not_found"; empty: null
};

/// `{"error": {...}}`; `ensemble_json`, when not empty, is added as the
/// top-level `ensemble` member (a failed ensemble's answer).
std::string to_json(const api_error& error,
                    const std::string& ensemble_json = {});

api_error bad_request(std::string param, std::string message,
                      std::string code = "invalid_value");

/// One validated `POST /v1/chat/completions`.
struct chat_call {
  std::string model; ///< as the client wrote it, echoed in replies
  tutti::target to = tutti::target::ensemble("");
  std::vector<chat_message> messages;
  chat_params params;
  bool stream = false;
  bool include_usage = false; ///< stream_options.include_usage
  /// tutti.members: streamed replies also carry each member's tokens and
  /// outcome in chunks with no choices (opt-in: naive clients index
  /// choices[0]).
  bool stream_members = false;
  /// tutti.combine (and tutti.settings): an ensemble combined another way
  /// for this request; checked against the strategy's declared settings
  /// when the request is served.
  std::optional<combine_choice> combine;
  /// tutti.session: the conversation this request continues.
  std::string session;
  /// Responses: `instructions` (the first, system, turn), echoed in its
  /// response objects.
  std::optional<std::string> instructions;
  /// tutti.ensemble: an ensemble this request defines, as compact JSON
  /// (read as the YAML's ensembles are when the request is served); the
  /// model names it. Empty: none.
  std::string inline_ensemble;
  /// A routed model (`models:`): the ensemble that serves this question
  /// (its deployments one after another), and the route's name as the
  /// config writes it ("gpt-4o", "openai/*").
  std::optional<ensemble_config> routed;
  std::string route;
};

/// Parses and validates a chat completions body against `cfg` (for the
/// model). A 400 names the field at fault; an unknown model is a 404.
std::variant<chat_call, api_error> parse_chat_request(std::string_view body,
                                                      const config& cfg);

/// A legacy text completion (`POST /v1/completions`): its prompt becomes
/// one user turn; the chat completions' sampling fields apply.
std::variant<chat_call, api_error>
parse_text_completion_request(std::string_view body, const config& cfg);

/// One validated `POST /v1/runs`.
struct run_call {
  enum class kind { ensemble, provider, pipeline };
  kind of = kind::ensemble;
  std::string name;
  std::vector<chat_message> messages; ///< ensemble and provider runs
  chat_params params;
  std::string system;
  bool stream = true; ///< ask the upstreams for tokens (events carry them)
  std::map<std::string, std::string> inputs; ///< pipeline runs
};

std::variant<run_call, api_error> parse_run_request(std::string_view body,
                                                    const config& cfg);

/// The parts every chat completion object and chunk share.
struct completion_ids {
  std::string id; ///< "chatcmpl-..."
  int64_t created = 0;
  std::string model;
};

/// OpenAI's finish_reason for the answer: the reply that became the answer
/// says it ("stop", "length", "content_filter"); otherwise "stop".
std::string finish_reason_of(const ensemble_answer& answer);

/// Another choice's (`n` > 1) finish_reason: its own, else "stop".
std::string finish_reason_of(const reply_choice& choice);

/// The model's refusal an answer passes on as OpenAI does (`content: null`,
/// `refusal`, finish_reason "stop"): when there is no answer because every
/// member refused (a provider target has one), the first one's words.
std::optional<std::string> refusal_of(const ensemble_answer& answer);

/// A whole `chat.completion` object whose message is the answer (or the
/// refusal, see `refusal_of`), with the answer itself under `ensemble`.
std::string chat_completion_json(const completion_ids& ids,
                                 const ensemble_answer& answer);

/// The `chat.completion.chunk` events of a streamed reply. With
/// `include_usage` every chunk carries `"usage": null`, as OpenAI's do.
std::string role_chunk(const completion_ids& ids, bool include_usage);
std::string content_chunk(const completion_ids& ids, const std::string& text,
                          bool include_usage);
/// A chunk whose delta is `refusal` words, as OpenAI streams a refusal.
std::string refusal_chunk(const completion_ids& ids, const std::string& words,
                          bool include_usage);
/// A chunk whose delta holds the answer's tool calls, whole (a stream may
/// split their arguments; one piece is as valid).
std::string tool_calls_chunk(const completion_ids& ids,
                             const std::vector<tool_call>& calls,
                             bool include_usage);
/// One chunk for each of the answer's other choices (`n` > 1), whole:
/// text or refusal, tool calls, log probabilities and finish_reason.
std::vector<std::string> more_choice_chunks(const completion_ids& ids,
                                            const ensemble_answer& answer,
                                            bool include_usage);
/// The last chunk with a choice: its finish_reason, plus the answer under
/// `ensemble`.
std::string finish_chunk(const completion_ids& ids,
                         const ensemble_answer& answer, bool include_usage);
/// The usage chunk (no choices) sent before [DONE] when asked for.
std::string usage_chunk(const completion_ids& ids, const tutti::usage& used,
                        const char* object = "chat.completion.chunk");
/// A member's tokens or outcome (tutti.members): no choices, a `tutti`
/// member instead.
std::string member_delta_chunk(const completion_ids& ids,
                               const member_delta& delta, bool include_usage);
std::string member_done_chunk(const completion_ids& ids,
                              const member_outcome& outcome,
                              bool include_usage);

/// `GET /v1/providers`: what each provider is and how its limits stand;
/// never its key, headers or base URL.
std::string providers_json(const std::vector<provider_status>& states,
                           const config& cfg);
/// `plugins`: the registry whose strategies the ensembles use.
std::string ensembles_json(const config& cfg,
                           const registry& plugins = registry::builtin());
std::string pipelines_json(const config& cfg);
/// `GET /v1/models` (OpenAI's list): each provider, each ensemble as
/// "ensemble/NAME", and each routed name (`models:`) but the wildcards.
std::string models_json(const config& cfg, int64_t created);
/// `GET /v1/models/{id}`: one model object.
std::string model_json(const std::string& id, int64_t created);
/// `GET /`: what this server is: name, version, auth ("none" or "bearer"),
/// whether it keeps a store, the models and the routes.
std::string server_json(const config& cfg, const std::string& version,
                        const std::string& auth);

/// A pipeline step's outcome for a `step.done` event.
std::string step_json(const step_outcome& step);

} // namespace tutti::http
