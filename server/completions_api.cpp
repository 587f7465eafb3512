// OpenAI's legacy text completions as a client API (POST /v1/completions):
// a prompt in, `text_completion` objects out, whole or as `data:` chunks
// ending in `[DONE]`. The question route is the chat completions' own
// (routes_chat.cpp); only the shapes differ.

#include "engine/src/json_writers.hpp"
#include "server/client_api.hpp"
#include "server/openai_writers.hpp"
#include "tutti/json.hpp"

namespace tutti::http {

namespace {

using json_detail::json_text;
using json_detail::write_string;
using json_detail::write_string_or_null;

constexpr const char* object_name = "text_completion";

/// One choice: `{text, index, logprobs, finish_reason}`.
void write_choice(openai_writer& w, size_t index, const std::string& text,
                  const std::string& logprobs,
                  const std::string& finish_reason) {
  w.StartObject();
  w.Key("text");
  write_string(w, text);
  w.Key("index");
  w.Uint64(index);
  w.Key("logprobs");
  write_logprobs(w, logprobs);
  w.Key("finish_reason");
  write_string_or_null(w, finish_reason);
  w.EndObject();
}

/// A refusal is the choice's text (the legacy object has no refusal).
std::string text_of(const ensemble_answer& answer) {
  auto refusal = refusal_of(answer);
  return refusal ? *refusal : answer.text;
}

std::string text_of(const reply_choice& choice) {
  return choice.refusal.empty() ? choice.text : choice.refusal;
}

std::string whole_json(const completion_ids& ids,
                       const ensemble_answer& answer) {
  return json_text([&](openai_writer& w) {
    w.StartObject();
    write_completion_head(w, ids, object_name);
    w.Key("choices");
    w.StartArray();
    // The legacy object has no tool calls: a reply that only calls tools
    // has no text.
    write_choice(w, 0, text_of(answer), answer.logprobs,
                 finish_reason_of(answer));
    for (size_t i = 0; i < answer.more_choices.size(); ++i) {
      auto& choice = answer.more_choices[i];
      write_choice(w, i + 1, text_of(choice), choice.logprobs,
                   finish_reason_of(choice));
    }
    w.EndArray();
    w.Key("usage");
    write_openai_usage(w, answer.usage);
    w.Key("ensemble");
    write_raw_object(w, to_json(answer));
    w.EndObject();
  });
}

/// A chunk of one choice; `ensemble_json` only on the first choice's last.
std::string chunk_json(const completion_ids& ids, size_t index,
                       const std::string& text, const std::string& logprobs,
                       const std::string& finish_reason, bool include_usage,
                       const std::string& ensemble_json = {}) {
  return json_text([&](openai_writer& w) {
    w.StartObject();
    write_completion_head(w, ids, object_name);
    w.Key("choices");
    w.StartArray();
    write_choice(w, index, text, logprobs, finish_reason);
    w.EndArray();
    if (include_usage) {
      w.Key("usage");
      w.Null();
    }
    if (!ensemble_json.empty()) {
      w.Key("ensemble");
      write_raw_object(w, ensemble_json);
    }
    w.EndObject();
  });
}

class text_stream final : public openai_data_stream {
public:
  using openai_data_stream::openai_data_stream;

  std::string open() override { return {}; }

  std::string text(const std::string& delta) override {
    return sse_data(chunk_json(ids_, 0, delta, "", "", usage_));
  }

  std::string finish(const ensemble_answer& answer,
                     const std::string& rest) override {
    std::string out;
    auto refusal = refusal_of(answer);
    if (refusal)
      out += sse_data(chunk_json(ids_, 0, *refusal, "", "", usage_));
    else if (!rest.empty())
      out += sse_data(chunk_json(ids_, 0, rest, "", "", usage_));
    // Other choices (`n` > 1) come whole, before the first one finishes.
    for (size_t i = 0; i < answer.more_choices.size(); ++i) {
      auto& choice = answer.more_choices[i];
      out += sse_data(chunk_json(ids_, i + 1, text_of(choice), choice.logprobs,
                                 finish_reason_of(choice), usage_));
    }
    out +=
        sse_data(chunk_json(ids_, 0, "", answer.logprobs,
                            finish_reason_of(answer), usage_, to_json(answer)));
    if (usage_)
      out += sse_data(usage_chunk(ids_, answer.usage, object_name));
    return out + "data: [DONE]\n\n";
  }
};

class text_completions final : public client_api {
public:
  const char* name() const override { return "completions"; }
  const char* id_prefix() const override { return "cmpl-"; }

  std::variant<chat_call, api_error> parse(std::string_view body,
                                           const config& cfg) const override {
    return parse_text_completion_request(body, cfg);
  }

  std::string reply_json(const completion_ids& ids, const chat_call&,
                         const ensemble_answer& answer) const override {
    return whole_json(ids, answer);
  }

  std::unique_ptr<reply_stream> stream(const completion_ids& ids,
                                       const chat_call& call) const override {
    return std::make_unique<text_stream>(ids, call.include_usage);
  }
};

} // namespace

const client_api& completions_api() {
  static const text_completions api;
  return api;
}

} // namespace tutti::http
