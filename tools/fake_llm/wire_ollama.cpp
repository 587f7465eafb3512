// Ollama's native chat API: POST /api/chat, whole and streamed as
// newline-delimited JSON (one chunk per line, the last one `done: true` with
// the reason and the counts; no other end marker).

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>

#include "tools/fake_llm/fake_llm.hpp"
#include "tools/fake_llm/wire_format.hpp"
#include "tools/fake_llm/wire_support.hpp"

namespace tutti::fake {

namespace {

// Ollama has no content filter: a scripted one ends as a plain stop.
std::string done_reason(const std::string& openai_reason) {
  return map_finish(openai_reason, "stop", "length", "stop");
}

// A Unix time in seconds as Ollama writes `created_at`:
// "2026-11-25T02:30:05.000000Z".
std::string created_at(int64_t unix_s) {
  const auto seconds = static_cast<time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
  return std::string(text) + ".000000Z";
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// A Go duration as time.ParseDuration reads it: an optional sign, then
// numbers (with an optional fraction) each with a unit.
bool is_go_duration(std::string_view text) {
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    text.remove_prefix(1);
  }
  if (text == "0") {
    return true;
  }
  if (text.empty()) {
    return false;
  }
  while (!text.empty()) {
    size_t i = 0;
    size_t digits = 0;
    while (i < text.size() && is_digit(text[i])) {
      ++i, ++digits;
    }
    if (i < text.size() && text[i] == '.') {
      ++i;
      while (i < text.size() && is_digit(text[i])) {
        ++i, ++digits;
      }
    }
    if (digits == 0) {
      return false;
    }
    text.remove_prefix(i);
    bool found = false;
    for (std::string_view unit :
         {"ns", "us", "\xC2\xB5s", "\xCE\xBCs", "ms", "s", "m", "h"}) {
      if (text.substr(0, unit.size()) == unit) {
        text.remove_prefix(unit.size());
        found = true;
        break;
      }
    }
    if (!found) {
      return false;
    }
  }
  return true;
}

// `keep_alive`: a number of seconds or a Go duration string, as Ollama's
// api.Duration takes it; its error words when it is neither.
std::string keep_alive_error(const rapidjson::Value& value) {
  if (value.IsNumber() || value.IsNull()) {
    return {};
  }
  if (value.IsString()) {
    std::string_view text(value.GetString(), value.GetStringLength());
    if (is_go_duration(text)) {
      return {};
    }
    return "time: invalid duration \"" + std::string(text) + "\"";
  }
  return "Unsupported type for keep_alive";
}

// The `options` object: num_predict (a positive one is max_tokens; 0 or
// less means no limit, as in Ollama) and seed.
bool read_options(const rapidjson::Value& options, chat_request& out) {
  if (!options.IsObject()) {
    out.error = "json: cannot unmarshal options: expected an object";
    return false;
  }
  if (auto it = options.FindMember("num_predict"); it != options.MemberEnd()) {
    if (!it->value.IsInt()) {
      out.error = "option \"num_predict\" must be of type integer";
      return false;
    }
    if (it->value.GetInt() > 0) {
      out.max_tokens = it->value.GetInt();
    }
  }
  if (auto it = options.FindMember("seed"); it != options.MemberEnd()) {
    if (!it->value.IsInt64()) {
      out.error = "option \"seed\" must be of type integer";
      return false;
    }
    out.seed = it->value.GetInt64();
  }
  if (auto it = options.FindMember("num_ctx"); it != options.MemberEnd()) {
    if (!it->value.IsInt()) {
      out.error = "option \"num_ctx\" must be of type integer";
      return false;
    }
  }
  return true;
}

chat_request parse_body(std::string_view body) {
  chat_request out;
  // Ollama streams unless the request says otherwise.
  out.stream = true;
  rapidjson::Document doc;
  if (!parse_object(doc, body, "invalid JSON request body", out)) {
    return out;
  }
  if (!read_model(doc, "model is required", "model", out)) {
    return out;
  }
  if (auto stream = doc.FindMember("stream"); stream != doc.MemberEnd()) {
    if (!stream->value.IsBool()) {
      out.error = "json: cannot unmarshal stream: expected a boolean";
      return out;
    }
    out.stream = stream->value.GetBool();
  }
  auto messages = doc.FindMember("messages");
  if (messages != doc.MemberEnd() && !messages->value.IsArray()) {
    out.error = "json: cannot unmarshal messages: expected an array";
    return out;
  }
  if (messages != doc.MemberEnd()) {
    for (const auto& m : messages->value.GetArray()) {
      if (!m.IsObject()) {
        out.error = "json: cannot unmarshal messages: expected objects";
        return out;
      }
      auto role = member_text(m, "role");
      add_message(member_text(m, "content"), role == "user", out);
    }
  }
  if (auto options = doc.FindMember("options"); options != doc.MemberEnd()) {
    if (!read_options(options->value, out)) {
      return out;
    }
  }
  if (auto keep = doc.FindMember("keep_alive"); keep != doc.MemberEnd()) {
    out.error = keep_alive_error(keep->value);
  }
  return out;
}

// One chat chunk; `done` adds the reason, the durations and the counts.
struct chunk {
  std::string_view text;
  bool done = false;
  std::string reason;
};

std::string chunk_json(const response_ids& ids, const chunk& c,
                       int prompt_tokens, int completion_tokens) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  w.StartObject();
  w.Key("model");
  write_string(w, ids.model);
  w.Key("created_at");
  write_string(w, created_at(ids.created));
  w.Key("message");
  w.StartObject();
  w.Key("role");
  w.String("assistant");
  w.Key("content");
  write_string(w, c.text);
  w.EndObject();
  if (c.done) {
    w.Key("done_reason");
    write_string(w, c.reason);
  }
  w.Key("done");
  w.Bool(c.done);
  if (c.done) {
    w.Key("total_duration");
    w.Int64(int64_t{1000000} * (completion_tokens + 1));
    w.Key("load_duration");
    w.Int64(1000000);
    w.Key("prompt_eval_count");
    w.Int(prompt_tokens);
    w.Key("prompt_eval_duration");
    w.Int64(int64_t{100000} * prompt_tokens);
    w.Key("eval_count");
    w.Int(completion_tokens);
    w.Key("eval_duration");
    w.Int64(int64_t{1000000} * completion_tokens);
  }
  w.EndObject();
  return buf.GetString();
}

std::string line(std::string json) {
  json += '\n';
  return json;
}

class ollama_wire final : public wire_format {
public:
  std::string name() const override { return "ollama"; }

  std::vector<std::string> paths() const override { return {"/api/chat"}; }

  std::vector<std::string> embedding_paths() const override {
    return {"/api/embed"};
  }

  // {"model", "input": string or [string], "keep_alive", "truncate"}
  chat_request parse_embedding_request(const request_view& req) const override {
    chat_request out;
    out.embedding = true;
    rapidjson::Document doc;
    if (!parse_object(doc, req.body, "invalid request body", out) ||
        !read_model(doc, "model is required", "model", out)) {
      return out;
    }
    auto input = doc.FindMember("input");
    read_embedding_inputs(input == doc.MemberEnd() ? nullptr : &input->value,
                          out);
    return out;
  }

  std::string embedding_body(const response_ids& ids,
                             const std::vector<std::vector<float>>& vectors,
                             const chat_request& req) const override {
    rapidjson::StringBuffer buf;
    json_writer w(buf);
    w.StartObject();
    w.Key("model");
    write_string(w, ids.model);
    w.Key("embeddings");
    w.StartArray();
    for (const auto& vector : vectors) {
      write_vector(w, vector);
    }
    w.EndArray();
    w.Key("total_duration");
    w.Int(1000);
    w.Key("load_duration");
    w.Int(100);
    w.Key("prompt_eval_count");
    w.Int(req.prompt_tokens);
    w.EndObject();
    return buf.GetString();
  }

  chat_request parse_request(const request_view& req) const override {
    return parse_body(req.body);
  }

  // Ollama takes no key; one behind a proxy sends a bearer token.
  std::vector<std::string> key_headers() const override {
    return {"authorization"};
  }

  std::string response_id(uint64_t n) const override {
    return "ollama-fake-" + std::to_string(n);
  }

  error_shape default_error(int status) const override {
    switch (status) {
    case 400:
      return {"invalid request", "", "", "", -1};
    case 401:
    case 403:
      return {"unauthorized", "", "", "", -1};
    case 404:
      return {"model not found, try pulling it first", "", "", "", -1};
    case 429:
      return {"too many requests", "", "", "", -1};
    case 503:
      return {"server busy, please try again.  maximum pending requests "
              "exceeded",
              "", "", "", -1};
    default:
      if (status >= 500) {
        return {"an error was encountered while running the model", "", "", "",
                -1};
      }
      return {"request failed", "", "", "", -1};
    }
  }

  // Ollama's errors are one string: {"error": "..."}.
  std::string error_json(int /*status*/, const error_shape& e,
                         std::string_view /*request_id*/) const override {
    rapidjson::StringBuffer buf;
    json_writer w(buf);
    w.StartObject();
    w.Key("error");
    write_string(w, e.message);
    w.EndObject();
    return buf.GetString();
  }

  std::string unknown_model_message(const std::string& model) const override {
    return "model \"" + model + "\" not found, try pulling it first";
  }

  // Ollama has no refusal: a scripted one is sent as the reply's text.
  bool has_refusals() const override { return false; }

  std::string whole_body(const response_ids& ids, const reply_plan& plan,
                         const chat_request& chat) const override {
    chunk c;
    c.text = plan.content;
    c.done = true;
    c.reason = done_reason(plan.finish_reason);
    return chunk_json(ids, c, chat.prompt_tokens, plan.completion_tokens);
  }

  std::string malformed_body(const response_ids&) const override {
    return R"({"model":"fake","message":{"role":"assistant",this is not json)";
  }

  // No head: each token is a line; the finish is the done line with the
  // counts, which is also the end (no terminator).
  stream_events stream(const response_ids& ids, const reply_plan& plan,
                       const chat_request& chat) const override {
    stream_events out;
    for (const auto& token : plan.tokens) {
      chunk c;
      c.text = token;
      out.tokens.push_back(line(chunk_json(ids, c, 0, 0)));
    }
    chunk done;
    done.done = true;
    done.reason = done_reason(plan.finish_reason);
    out.finish.push_back(line(
        chunk_json(ids, done, chat.prompt_tokens, plan.completion_tokens)));
    out.finish_usage = usage{chat.prompt_tokens, plan.completion_tokens};
    out.malformed = "{\"model\":\"fake\",\"message\":{this is not json\n";
    return out;
  }

  int error_event_status() const override { return 500; }

  std::string error_event(std::string_view error_json) const override {
    return std::string(error_json) + "\n";
  }

  bool sse_framed() const override { return false; }

  std::string stream_content_type() const override {
    return "application/x-ndjson";
  }

  std::string raw_event(std::string_view text) const override {
    return std::string(text) + "\n";
  }
};

} // namespace

std::unique_ptr<wire_format> make_ollama_wire() {
  return std::make_unique<ollama_wire>();
}

} // namespace tutti::fake
