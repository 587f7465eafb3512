// OpenAI's chat completions as a client API: the request parsed by
// openai_requests.cpp, the objects and chunks written by
// openai_responses.cpp, framed here as SSE `data:` lines ending in
// `[DONE]`.

#include "server/client_api.hpp"
#include "tutti/json.hpp"

namespace tutti::http {

namespace {

class chat_stream final : public openai_data_stream {
public:
  using openai_data_stream::openai_data_stream;

  std::string open() override { return sse_data(role_chunk(ids_, usage_)); }

  std::string text(const std::string& delta) override {
    return sse_data(content_chunk(ids_, delta, usage_));
  }

  std::string finish(const ensemble_answer& answer,
                     const std::string& rest) override {
    std::string out;
    if (auto refusal = refusal_of(answer))
      out += sse_data(refusal_chunk(ids_, *refusal, usage_));
    else if (!rest.empty())
      out += sse_data(content_chunk(ids_, rest, usage_));
    if (!refusal_of(answer) && !answer.tool_calls.empty())
      out += sse_data(tool_calls_chunk(ids_, answer.tool_calls, usage_));
    // Other choices (`n` > 1) come whole, before the first one finishes.
    for (auto& chunk : more_choice_chunks(ids_, answer, usage_))
      out += sse_data(chunk);
    out += sse_data(finish_chunk(ids_, answer, usage_));
    if (usage_)
      out += sse_data(usage_chunk(ids_, answer.usage));
    return out + "data: [DONE]\n\n";
  }
};

class chat_completions final : public client_api {
public:
  const char* name() const override { return "chat_completions"; }
  const char* id_prefix() const override { return "chatcmpl-"; }

  std::variant<chat_call, api_error> parse(std::string_view body,
                                           const config& cfg) const override {
    return parse_chat_request(body, cfg);
  }

  std::string reply_json(const completion_ids& ids, const chat_call&,
                         const ensemble_answer& answer) const override {
    return chat_completion_json(ids, answer);
  }

  std::unique_ptr<reply_stream> stream(const completion_ids& ids,
                                       const chat_call& call) const override {
    return std::make_unique<chat_stream>(ids, call.include_usage);
  }
};

} // namespace

std::string openai_data_stream::member_delta(const tutti::member_delta& delta) {
  return sse_data(member_delta_chunk(ids_, delta, usage_));
}

std::string openai_data_stream::member_done(const member_outcome& outcome) {
  return sse_data(member_done_chunk(ids_, outcome, usage_));
}

std::string openai_data_stream::fail(const api_error& error,
                                     const ensemble_answer& answer) {
  // OpenAI's SDKs raise an event that carries `error`.
  return sse_data(to_json(error, to_json(answer)));
}

const client_api& chat_completions_api() {
  static const chat_completions api;
  return api;
}

} // namespace tutti::http
