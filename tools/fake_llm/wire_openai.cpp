// OpenAI chat completions: POST /v1/chat/completions, whole and streamed.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>

#include "tools/fake_llm/wire_format.hpp"
#include "tools/fake_llm/wire_support.hpp"

namespace tutti::fake {

namespace {

enum class delta_kind { role, content, refusal, finish };

void write_header_fields(json_writer& w, const response_ids& ids,
                         const char* object) {
  w.Key("id");
  write_string(w, ids.id);
  w.Key("object");
  w.String(object);
  w.Key("created");
  w.Int64(ids.created);
  w.Key("model");
  write_string(w, ids.model);
  w.Key("system_fingerprint");
  w.String("fp_tutti_fake");
}

void write_usage(json_writer& w, int prompt, int completion) {
  w.Key("usage");
  w.StartObject();
  w.Key("prompt_tokens");
  w.Int(prompt);
  w.Key("completion_tokens");
  w.Int(completion);
  w.Key("total_tokens");
  w.Int(prompt + completion);
  w.EndObject();
}

// Opens a stream chunk: its header fields, then its `choices` array.
void start_chunk(json_writer& w, const response_ids& ids) {
  w.StartObject();
  write_header_fields(w, ids, "chat.completion.chunk");
  w.Key("choices");
  w.StartArray();
}

/// The id of a reply's `index`th tool call.
std::string tool_call_id(const response_ids& ids, size_t index) {
  return "call_" + ids.id.substr(ids.id.size() > 8 ? ids.id.size() - 8 : 0) +
         "_" + std::to_string(index);
}

/// One piece of a streamed tool call: its id and name in the first piece.
std::string tool_call_event(const response_ids& ids, size_t index,
                            std::string_view id, std::string_view name,
                            std::string_view arguments, bool usage_null) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  start_chunk(w, ids);
  w.StartObject();
  w.Key("index");
  w.Int(0);
  w.Key("delta");
  w.StartObject();
  w.Key("tool_calls");
  w.StartArray();
  w.StartObject();
  w.Key("index");
  w.Uint64(index);
  if (!id.empty()) {
    w.Key("id");
    write_string(w, id);
    w.Key("type");
    w.String("function");
  }
  w.Key("function");
  w.StartObject();
  if (!name.empty()) {
    w.Key("name");
    write_string(w, name);
  }
  w.Key("arguments");
  write_string(w, arguments);
  w.EndObject();
  w.EndObject();
  w.EndArray();
  w.EndObject();
  w.Key("logprobs");
  w.Null();
  w.Key("finish_reason");
  w.Null();
  w.EndObject();
  w.EndArray();
  if (usage_null) {
    w.Key("usage");
    w.Null();
  }
  w.EndObject();
  return data_event(buf.GetString());
}

/// The tokens of choice `i` > 0 of a reply asked for several: the
/// scripted reply's, then " [i]".
std::vector<std::string> other_choice_tokens(const reply_plan& plan, int i) {
  auto tokens = plan.tokens;
  tokens.push_back(" [" + std::to_string(i) + "]");
  return tokens;
}

/// The made-up log probability of the reply's token `at`: exact in
/// binary, so both forms of a reply print it alike.
double token_logprob(size_t at) {
  return -0.0625 * static_cast<double>(at % 16 + 1);
}

void write_token_bytes(json_writer& w, std::string_view token) {
  w.StartArray();
  for (unsigned char c : token)
    w.Int(c);
  w.EndArray();
}

/// One entry of `logprobs.content`: the token at `at`, its log probability,
/// its bytes and `top` alternatives (the token itself first).
void write_logprob_entry(json_writer& w, std::string_view token, size_t at,
                         int top) {
  w.StartObject();
  w.Key("token");
  write_string(w, token);
  w.Key("logprob");
  w.Double(token_logprob(at));
  w.Key("bytes");
  write_token_bytes(w, token);
  w.Key("top_logprobs");
  w.StartArray();
  for (int k = 0; k < top; ++k) {
    auto alternative = k == 0 ? std::string{token} : "alt" + std::to_string(k);
    w.StartObject();
    w.Key("token");
    write_string(w, alternative);
    w.Key("logprob");
    w.Double(token_logprob(at) - k);
    w.Key("bytes");
    write_token_bytes(w, alternative);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

/// A choice's `logprobs` for `tokens` from the one at `first`:
/// `{"content": [...], "refusal": null}`; null unless the request asked.
void write_choice_logprobs(json_writer& w, const chat_request& chat,
                           const std::vector<std::string>& tokens,
                           size_t first) {
  if (!chat.logprobs) {
    w.Null();
    return;
  }
  w.StartObject();
  w.Key("content");
  w.StartArray();
  for (size_t i = 0; i < tokens.size(); ++i)
    write_logprob_entry(w, tokens[i], first + i, chat.top_logprobs);
  w.EndArray();
  w.Key("refusal");
  w.Null();
  w.EndObject();
}

// One `data: {...}\n\n` event carrying a choice chunk; a content token's
// carries its log probability when the request asked (`token_at`).
std::string choice_event(const response_ids& ids, delta_kind kind,
                         std::string_view text, bool usage_null,
                         const chat_request* logprobs_for = nullptr,
                         size_t token_at = 0, int index = 0) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  start_chunk(w, ids);
  w.StartObject();
  w.Key("index");
  w.Int(index);
  w.Key("delta");
  w.StartObject();
  if (kind == delta_kind::role) {
    w.Key("role");
    w.String("assistant");
    w.Key("content");
    w.String("");
  } else if (kind == delta_kind::content) {
    w.Key("content");
    write_string(w, text);
  } else if (kind == delta_kind::refusal) {
    w.Key("refusal");
    write_string(w, text);
  }
  w.EndObject();
  w.Key("logprobs");
  if (logprobs_for != nullptr && kind == delta_kind::content)
    write_choice_logprobs(w, *logprobs_for, {std::string{text}}, token_at);
  else
    w.Null();
  w.Key("finish_reason");
  if (kind == delta_kind::finish) {
    write_string(w, text);
  } else {
    w.Null();
  }
  w.EndObject();
  w.EndArray();
  if (usage_null) {
    w.Key("usage");
    w.Null();
  }
  w.EndObject();
  return data_event(buf.GetString());
}

std::string usage_event(const response_ids& ids, int prompt, int completion) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  start_chunk(w, ids);
  w.EndArray();
  write_usage(w, prompt, completion);
  w.EndObject();
  return data_event(buf.GetString());
}

class openai_wire final : public wire_format {
public:
  std::string name() const override { return "openai"; }

  std::vector<std::string> paths() const override {
    return {"/v1/chat/completions", "/chat/completions"};
  }

  std::vector<std::string> embedding_paths() const override {
    return {"/v1/embeddings", "/embeddings"};
  }

  // {"model", "input": string or [string], "dimensions", "encoding_format"}
  chat_request parse_embedding_request(const request_view& req) const override {
    chat_request out;
    out.embedding = true;
    rapidjson::Document doc;
    if (!parse_object(doc, req.body,
                      "We could not parse the JSON body of your request. The "
                      "request body must be a JSON object.",
                      out) ||
        !read_model(doc, "you must provide a model parameter", "model", out)) {
      return out;
    }
    auto input = doc.FindMember("input");
    if (!read_embedding_inputs(
            input == doc.MemberEnd() ? nullptr : &input->value, out)) {
      return out;
    }
    auto dimensions = doc.FindMember("dimensions");
    if (dimensions != doc.MemberEnd()) {
      if (!dimensions->value.IsInt() || dimensions->value.GetInt() < 1 ||
          dimensions->value.GetInt() > 65536) {
        out.error = "'dimensions' must be an integer >= 1.";
        out.error_param = "dimensions";
        return out;
      }
      out.dimensions = dimensions->value.GetInt();
    }
    auto format = doc.FindMember("encoding_format");
    if (format != doc.MemberEnd() &&
        !(format->value.IsString() &&
          std::string_view(format->value.GetString()) == "float")) {
      out.error = "tutti-fake-llm answers embeddings as floats only.";
      out.error_param = "encoding_format";
    }
    return out;
  }

  std::string embedding_body(const response_ids& ids,
                             const std::vector<std::vector<float>>& vectors,
                             const chat_request& req) const override {
    rapidjson::StringBuffer buf;
    json_writer w(buf);
    w.StartObject();
    w.Key("object");
    w.String("list");
    w.Key("data");
    w.StartArray();
    for (size_t i = 0; i < vectors.size(); ++i) {
      w.StartObject();
      w.Key("object");
      w.String("embedding");
      w.Key("index");
      w.Uint64(i);
      w.Key("embedding");
      write_vector(w, vectors[i]);
      w.EndObject();
    }
    w.EndArray();
    w.Key("model");
    write_string(w, ids.model);
    w.Key("usage");
    w.StartObject();
    w.Key("prompt_tokens");
    w.Int(req.prompt_tokens);
    w.Key("total_tokens");
    w.Int(req.prompt_tokens);
    w.EndObject();
    w.EndObject();
    return buf.GetString();
  }

  chat_request parse_request(const request_view& req) const override {
    chat_request out;
    rapidjson::Document doc;
    if (!parse_object(doc, req.body,
                      "We could not parse the JSON body of your request. The "
                      "request body must be a JSON object.",
                      out) ||
        !read_model(doc, "you must provide a model parameter", "model", out)) {
      return out;
    }
    auto messages = doc.FindMember("messages");
    if (messages == doc.MemberEnd()) {
      out.error = "Missing required parameter: 'messages'.";
      out.error_param = "messages";
      out.error_code = "missing_required_parameter";
      return out;
    }
    if (!messages->value.IsArray() || messages->value.Empty()) {
      out.error = "'messages' must be a non-empty array of messages.";
      out.error_param = "messages";
      return out;
    }
    for (const auto& message : messages->value.GetArray()) {
      if (!message.IsObject() || !message.HasMember("role") ||
          !message["role"].IsString()) {
        out.error = "Each message must be an object with a string 'role'.";
        out.error_param = "messages";
        return out;
      }
      add_message(member_text(message, "content"),
                  std::string_view(message["role"].GetString()) == "user", out);
    }
    if (!read_stream(doc, out)) {
      return out;
    }
    auto options = doc.FindMember("stream_options");
    if (options != doc.MemberEnd() && options->value.IsObject()) {
      auto usage = options->value.FindMember("include_usage");
      out.include_usage = usage != options->value.MemberEnd() &&
                          usage->value.IsBool() && usage->value.GetBool();
    }
    for (const char* key : {"max_completion_tokens", "max_tokens"}) {
      if (!read_max_tokens(doc, key, std::string("'") + key + "'", out)) {
        return out;
      }
      if (out.max_tokens) {
        break;
      }
    }
    if (auto seed = doc.FindMember("seed");
        seed != doc.MemberEnd() && seed->value.IsInt64()) {
      out.seed = seed->value.GetInt64();
    }
    if (auto logprobs = doc.FindMember("logprobs");
        logprobs != doc.MemberEnd() && logprobs->value.IsBool()) {
      out.logprobs = logprobs->value.GetBool();
    }
    if (auto n = doc.FindMember("n"); n != doc.MemberEnd()) {
      if (!n->value.IsInt() || n->value.GetInt() < 1 ||
          n->value.GetInt() > 128) {
        out.error = "'n' must be an integer from 1 to 128.";
        out.error_param = "n";
        return out;
      }
      out.n = n->value.GetInt();
    }
    if (auto top = doc.FindMember("top_logprobs"); top != doc.MemberEnd()) {
      if (!top->value.IsInt() || top->value.GetInt() < 0 ||
          top->value.GetInt() > 20) {
        out.error = "'top_logprobs' must be an integer from 0 to 20.";
        out.error_param = "top_logprobs";
        return out;
      }
      out.top_logprobs = top->value.GetInt();
    }
    return out;
  }

  // `api-key` is Azure OpenAI's.
  std::vector<std::string> key_headers() const override {
    return {"Authorization", "api-key"};
  }

  std::string response_id(uint64_t n) const override {
    return "chatcmpl-fake" + std::to_string(n);
  }

  error_shape default_error(int status) const override {
    switch (status) {
    case 400:
      return {"The request was invalid.", "invalid_request_error", "", "", -1};
    case 401:
      return {"Incorrect API key provided.", "invalid_request_error",
              "invalid_api_key", "", -1};
    case 403:
      return {"You are not allowed to access this model.", "permission_error",
              "", "", -1};
    case 404:
      return {"The model does not exist or you do not have access to it.",
              "invalid_request_error", "model_not_found", "", -1};
    case 408:
    case 504:
      return {"Request timed out.", "server_error", "timeout", "", -1};
    case 429:
      return {"Rate limit reached for requests. Please try again later.",
              "rate_limit_exceeded", "rate_limit_exceeded", "", -1};
    case 500:
      return {"The server had an error while processing your request. Sorry "
              "about that!",
              "server_error", "", "", -1};
    case 502:
      return {"Bad gateway.", "server_error", "", "", -1};
    case 503:
      return {"The engine is currently overloaded, please try again later.",
              "server_error", "", "", -1};
    default:
      if (status >= 500) {
        return {"The server had an error while processing your request.",
                "server_error", "", "", -1};
      }
      return {"The request was rejected.", "invalid_request_error", "", "", -1};
    }
  }

  std::string error_json(int /*status*/, const error_shape& e,
                         std::string_view /*request_id*/) const override {
    rapidjson::StringBuffer buf;
    json_writer w(buf);
    w.StartObject();
    w.Key("error");
    w.StartObject();
    w.Key("message");
    write_string(w, e.message);
    w.Key("type");
    write_string(w, e.type);
    w.Key("param");
    write_string_or_null(w, e.param);
    w.Key("code");
    write_string_or_null(w, e.code);
    w.EndObject();
    w.EndObject();
    return buf.GetString();
  }

  std::string unknown_model_message(const std::string& model) const override {
    return "The model `" + model +
           "` does not exist or you do not have access to it.";
  }

  error_shape limit_error(const limit_refusal& r) const override {
    auto shape = default_error(429);
    shape.type = r.budget_name;
    shape.message = "Rate limit reached for " + r.model + " on " +
                    r.budget_name + " per " + go_duration(r.window_ms) +
                    ": Limit " + std::to_string(r.budget) + ", Used " +
                    std::to_string(r.used) + ", Requested " +
                    std::to_string(r.requested) + ". Please try again in " +
                    go_duration(r.retry_ms) + ".";
    return shape;
  }

  // `x-ratelimit-*`, resets as durations.
  std::vector<header>
  limit_headers(const std::vector<budget_report>& budgets) const override {
    std::vector<header> out;
    for (const auto& b : budgets) {
      out.emplace_back("x-ratelimit-limit-" + b.name, std::to_string(b.limit));
      out.emplace_back("x-ratelimit-remaining-" + b.name,
                       std::to_string(b.remaining));
      out.emplace_back("x-ratelimit-reset-" + b.name, go_duration(b.reset_ms));
    }
    return out;
  }

  std::string whole_body(const response_ids& ids, const reply_plan& plan,
                         const chat_request& chat) const override {
    rapidjson::StringBuffer buf;
    json_writer w(buf);
    w.StartObject();
    write_header_fields(w, ids, "chat.completion");
    w.Key("choices");
    w.StartArray();
    w.StartObject();
    w.Key("index");
    w.Int(0);
    w.Key("message");
    w.StartObject();
    w.Key("role");
    w.String("assistant");
    w.Key("content");
    if (plan.refusal || (plan.content.empty() && !plan.tool_calls.empty())) {
      w.Null();
    } else {
      write_string(w, plan.content);
    }
    if (!plan.tool_calls.empty()) {
      w.Key("tool_calls");
      w.StartArray();
      for (size_t i = 0; i < plan.tool_calls.size(); ++i) {
        w.StartObject();
        w.Key("id");
        write_string(w, tool_call_id(ids, i));
        w.Key("type");
        w.String("function");
        w.Key("function");
        w.StartObject();
        w.Key("name");
        write_string(w, plan.tool_calls[i].first);
        w.Key("arguments");
        write_string(w, plan.tool_calls[i].second);
        w.EndObject();
        w.EndObject();
      }
      w.EndArray();
    }
    w.Key("refusal");
    if (plan.refusal) {
      write_string(w, plan.content);
    } else {
      w.Null();
    }
    w.EndObject();
    w.Key("logprobs");
    if (plan.refusal)
      w.Null();
    else
      write_choice_logprobs(w, chat, plan.tokens, 0);
    w.Key("finish_reason");
    write_string(w, plan.finish_reason);
    w.EndObject();
    for (int i = 1; i < chat.n; ++i) {
      auto tokens = other_choice_tokens(plan, i);
      std::string text;
      for (auto& t : tokens)
        text += t;
      w.StartObject();
      w.Key("index");
      w.Int(i);
      w.Key("message");
      w.StartObject();
      w.Key("role");
      w.String("assistant");
      w.Key("content");
      write_string(w, text);
      w.Key("refusal");
      w.Null();
      w.EndObject();
      w.Key("logprobs");
      write_choice_logprobs(w, chat, tokens, 0);
      w.Key("finish_reason");
      write_string(w, plan.finish_reason);
      w.EndObject();
    }
    w.EndArray();
    write_usage(w, chat.prompt_tokens, plan.completion_tokens * chat.n);
    w.EndObject();
    return buf.GetString();
  }

  std::string malformed_body(const response_ids& ids) const override {
    return R"({"id":")" + ids.id +
           R"(","object":"chat.completion","choices":[{this is not json)";
  }

  stream_events stream(const response_ids& ids, const reply_plan& plan,
                       const chat_request& chat) const override {
    stream_events out;
    const bool usage = chat.include_usage;
    out.head.push_back(choice_event(ids, delta_kind::role, "", usage));
    auto token_kind = plan.refusal ? delta_kind::refusal : delta_kind::content;
    for (size_t i = 0; i < plan.tokens.size(); ++i) {
      out.tokens.push_back(
          choice_event(ids, token_kind, plan.tokens[i], usage, &chat, i));
    }
    // Each call names itself in its first piece; its arguments follow in
    // pieces of 4 bytes, as OpenAI streams them.
    for (size_t i = 0; i < plan.tool_calls.size(); ++i) {
      auto& [name, arguments] = plan.tool_calls[i];
      out.tokens.push_back(
          tool_call_event(ids, i, tool_call_id(ids, i), name, "", usage));
      for (size_t at = 0; at < arguments.size(); at += 4)
        out.tokens.push_back(
            tool_call_event(ids, i, "", "", arguments.substr(at, 4), usage));
    }
    // Other choices (`n`) follow the first, each token its own chunk.
    for (int i = 1; i < chat.n; ++i) {
      auto tokens = other_choice_tokens(plan, i);
      for (size_t t = 0; t < tokens.size(); ++t)
        out.tokens.push_back(choice_event(ids, delta_kind::content, tokens[t],
                                          usage, &chat, t, i));
      out.tokens.push_back(choice_event(
          ids, delta_kind::finish, plan.finish_reason, usage, nullptr, 0, i));
    }
    out.finish.push_back(
        choice_event(ids, delta_kind::finish, plan.finish_reason, usage));
    if (usage) {
      auto completion = plan.completion_tokens * chat.n;
      out.finish.push_back(usage_event(ids, chat.prompt_tokens, completion));
      out.finish_usage = {chat.prompt_tokens, completion};
    }
    out.terminator.push_back("data: [DONE]\n\n");
    out.malformed = "data: {\"id\":\"" + ids.id + "\",this is not json\n\n";
    return out;
  }

  int error_event_status() const override { return 500; }

  std::string error_event(std::string_view error_json) const override {
    return data_event(error_json);
  }
};

} // namespace

std::unique_ptr<wire_format> make_openai_wire() {
  return std::make_unique<openai_wire>();
}

} // namespace tutti::fake
