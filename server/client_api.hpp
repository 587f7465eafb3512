#pragma once

/// The client APIs one question can be asked in: OpenAI's chat completions
/// (openai_requests.cpp, openai_responses.cpp), OpenAI's Responses
/// (responses_api.cpp) and Anthropic's Messages (messages_api.cpp). Each
/// reads its request body into a `chat_call` and writes the answer, whole or
/// as its own stream of events; the route (routes_chat.cpp) asks, cancels,
/// records and maps failures to statuses the same way for all three. Pure
/// functions and small stateful writers: no sockets, no clock.

#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "server/openai.hpp"

namespace tutti::http {

/// One streamed reply framed as its API frames it (SSE `data:` lines, or
/// named events with sequence numbers); each call returns the bytes to
/// send, possibly none.
class reply_stream {
public:
  virtual ~reply_stream() = default;
  /// The first events, sent with the 200 before any token.
  virtual std::string open() = 0;
  /// A piece of the answer's text.
  virtual std::string text(const std::string& delta) = 0;
  /// A member's tokens and outcome (`tutti.members`), as events a client
  /// of this API ignores unless it looks for them.
  virtual std::string member_delta(const tutti::member_delta& delta) = 0;
  virtual std::string member_done(const member_outcome& outcome) = 0;
  /// The end of an answer: `rest`, the text its tokens did not carry, its
  /// refusal or tool calls, why it finished, its usage, the last event.
  virtual std::string finish(const ensemble_answer& answer,
                             const std::string& rest) = 0;
  /// An ensemble that has no answer after the stream began: the error
  /// event, then the end.
  virtual std::string fail(const api_error& error,
                           const ensemble_answer& answer) = 0;
};

/// What OpenAI's `data:` streams (chat and legacy text completions) share:
/// each chunk a `data:` line, member events as chunks without choices, a
/// failure as an event carrying `error`. Subclasses write the choices.
class openai_data_stream : public reply_stream {
public:
  openai_data_stream(completion_ids ids, bool include_usage)
      : ids_(std::move(ids)), usage_(include_usage) {}

  std::string member_delta(const tutti::member_delta& delta) override;
  std::string member_done(const member_outcome& outcome) override;
  std::string fail(const api_error& error,
                   const ensemble_answer& answer) override;

protected:
  static std::string sse_data(const std::string& json) {
    return "data: " + json + "\n\n";
  }

  completion_ids ids_;
  bool usage_; ///< stream_options.include_usage
};

class client_api {
public:
  virtual ~client_api() = default;
  /// The name in the metrics and the access log.
  virtual const char* name() const = 0;
  /// Reply ids start with it ("chatcmpl-", "resp_", "msg_").
  virtual const char* id_prefix() const = 0;
  virtual std::variant<chat_call, api_error> parse(std::string_view body,
                                                   const config& cfg) const = 0;
  /// The whole reply of an answer that is not a failure.
  virtual std::string reply_json(const completion_ids& ids,
                                 const chat_call& call,
                                 const ensemble_answer& answer) const = 0;
  virtual std::unique_ptr<reply_stream> stream(const completion_ids& ids,
                                               const chat_call& call) const = 0;
};

/// `POST /v1/responses`'s body (responses_requests.cpp).
std::variant<chat_call, api_error>
parse_responses_request(std::string_view body, const config& cfg);

const client_api& chat_completions_api();
/// OpenAI's legacy `POST /v1/completions` (completions_api.cpp).
const client_api& completions_api();
const client_api& responses_api();
const client_api& messages_api();

/// An error response's body in Anthropic's shape (`{"type": "error",
/// "error": {type, message}}`) from the OpenAI-shaped one every route
/// writes; `ensemble` is kept. The Messages route's errors go through it.
std::string anthropic_error_body(int status, std::string_view openai_body);

/// Anthropic's error type for an HTTP status ("invalid_request_error",
/// "authentication_error", "rate_limit_error", "overloaded_error"...).
const char* anthropic_error_type(int status);

} // namespace tutti::http
