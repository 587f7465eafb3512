// Anthropic Messages: POST /v1/messages, whole and streamed.

#include <cstdint>
#include <ctime>
#include <memory>
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

std::string stop_reason(const std::string& finish_reason) {
  return map_finish(finish_reason, "end_turn", "max_tokens", "refusal");
}

int64_t floor_div(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// A Unix time in milliseconds as RFC 3339 UTC: "2026-11-25T02:30:05Z", with
// ".250" milliseconds when not on a whole second (RFC 3339 time-secfrac).
std::string rfc3339_utc(int64_t unix_ms) {
  const auto seconds = static_cast<time_t>(floor_div(unix_ms, 1000));
  const int64_t ms = unix_ms - static_cast<int64_t>(seconds) * 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = text;
  if (ms > 0) {
    out += "." + std::to_string(1000 + ms).substr(1);
  }
  return out + "Z";
}

void write_usage(json_writer& w, int input, int output) {
  w.Key("usage");
  w.StartObject();
  w.Key("input_tokens");
  w.Int(input);
  w.Key("cache_creation_input_tokens");
  w.Int(0);
  w.Key("cache_read_input_tokens");
  w.Int(0);
  w.Key("output_tokens");
  w.Int(output);
  w.EndObject();
}

// `stop_reason`'s value, and for a refusal `stop_details` with the words.
void write_stop(json_writer& w, const reply_plan& plan) {
  if (!plan.refusal) {
    write_string(w, stop_reason(plan.finish_reason));
    return;
  }
  w.String("refusal");
  w.Key("stop_details");
  w.StartObject();
  w.Key("type");
  w.String("refusal");
  w.Key("category");
  w.Null();
  w.Key("explanation");
  write_string(w, plan.content);
  w.EndObject();
}

// The message object; `whole` false gives message_start's (empty content, no
// stop reason yet).
void write_message(json_writer& w, const response_ids& ids,
                   const reply_plan& plan, int prompt_tokens, bool whole) {
  w.StartObject();
  w.Key("id");
  write_string(w, ids.id);
  w.Key("type");
  w.String("message");
  w.Key("role");
  w.String("assistant");
  w.Key("model");
  write_string(w, ids.model);
  w.Key("content");
  w.StartArray();
  if (whole && !plan.refusal) {
    w.StartObject();
    w.Key("type");
    w.String("text");
    w.Key("text");
    write_string(w, plan.content);
    w.EndObject();
  }
  w.EndArray();
  w.Key("stop_reason");
  if (whole) {
    write_stop(w, plan);
  } else {
    w.Null();
  }
  w.Key("stop_sequence");
  w.Null();
  // message_start reports output_tokens 1, as Anthropic does; message_delta
  // carries the final count.
  write_usage(w, prompt_tokens, whole ? plan.completion_tokens : 1);
  w.EndObject();
}

std::string named_event(std::string_view name, std::string_view data) {
  std::string out = "event: ";
  out.append(name);
  out += "\ndata: ";
  out.append(data);
  out += "\n\n";
  return out;
}

// `event: <type>` / `data: {"type":"<type>", ...fields}`.
template <class Fields>
std::string typed_event(const char* type, Fields&& fields) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  w.StartObject();
  w.Key("type");
  w.String(type);
  fields(w);
  w.EndObject();
  return named_event(type, buf.GetString());
}

class anthropic_wire final : public wire_format {
public:
  std::string name() const override { return "anthropic"; }

  std::vector<std::string> paths() const override {
    return {"/v1/messages", "/messages"};
  }

  chat_request parse_request(const request_view& req) const override {
    chat_request out;
    rapidjson::Document doc;
    if (!parse_object(doc, req.body,
                      "There was an issue with the JSON body of your request: "
                      "it must be a JSON object.",
                      out) ||
        !read_model(doc, "model: Field required", "", out)) {
      return out;
    }
    if (!doc.HasMember("max_tokens") || doc["max_tokens"].IsNull()) {
      out.error = "max_tokens: Field required";
      return out;
    }
    if (!read_max_tokens(doc, "max_tokens", "max_tokens:", out)) {
      return out;
    }
    auto messages = doc.FindMember("messages");
    if (messages == doc.MemberEnd() || !messages->value.IsArray() ||
        messages->value.Empty()) {
      out.error = "messages: at least one message is required";
      return out;
    }
    size_t i = 0;
    for (const auto& message : messages->value.GetArray()) {
      if (!message.IsObject() || !message.HasMember("role") ||
          !message["role"].IsString() || !message.HasMember("content")) {
        out.error = "messages." + std::to_string(i) +
                    ": each message needs a string 'role' and a 'content'";
        return out;
      }
      add_message(member_text(message, "content"),
                  std::string_view(message["role"].GetString()) == "user", out);
      ++i;
    }
    out.prompt_tokens += count_tokens(member_text(doc, "system"));
    read_stream(doc, out);
    return out;
  }

  std::vector<std::string> key_headers() const override {
    return {"x-api-key"};
  }

  std::string version_header() const override { return "anthropic-version"; }

  std::string response_id(uint64_t n) const override {
    return "msg_fake" + std::to_string(n);
  }

  std::string request_id_header() const override { return "request-id"; }

  error_shape default_error(int status) const override {
    switch (status) {
    case 400:
      return {"The request was invalid.", "invalid_request_error", "", "", -1};
    case 401:
      return {"invalid x-api-key", "authentication_error", "", "", -1};
    case 403:
      return {"Your API key does not have permission to use the specified "
              "resource.",
              "permission_error", "", "", -1};
    case 404:
      return {"The requested resource could not be found.", "not_found_error",
              "", "", -1};
    case 413:
      return {"Request exceeds the maximum allowed number of bytes.",
              "request_too_large", "", "", -1};
    case 429:
      return {"This request would exceed the rate limit for your "
              "organization. Please try again later.",
              "rate_limit_error", "", "", -1};
    case 529:
      return {"Overloaded", "overloaded_error", "", "", -1};
    default:
      if (status >= 500) {
        return {"Internal server error", "api_error", "", "", -1};
      }
      return {"The request was rejected.", "invalid_request_error", "", "", -1};
    }
  }

  // `request_id` is left out when empty, as in Anthropic's stream error
  // events.
  std::string error_json(int /*status*/, const error_shape& e,
                         std::string_view request_id) const override {
    rapidjson::StringBuffer buf;
    json_writer w(buf);
    w.StartObject();
    w.Key("type");
    w.String("error");
    w.Key("error");
    w.StartObject();
    w.Key("type");
    write_string(w, e.type);
    w.Key("message");
    write_string(w, e.message);
    w.EndObject();
    if (!request_id.empty()) {
      w.Key("request_id");
      write_string(w, request_id);
    }
    w.EndObject();
    return buf.GetString();
  }

  std::string unknown_model_message(const std::string& model) const override {
    return "model: " + model;
  }

  error_shape limit_error(const limit_refusal& r) const override {
    auto shape = default_error(429);
    shape.message =
        "This request would exceed the rate limit for your organization of " +
        std::to_string(r.budget) + " " + r.budget_name + " per " +
        go_duration(r.window_ms) + ". Please try again in " +
        go_duration(r.retry_ms) + ".";
    return shape;
  }

  // `anthropic-ratelimit-*`, resets as RFC 3339 times.
  std::vector<header>
  limit_headers(const std::vector<budget_report>& budgets) const override {
    std::vector<header> out;
    for (const auto& b : budgets) {
      const auto prefix = "anthropic-ratelimit-" + b.name;
      out.emplace_back(prefix + "-limit", std::to_string(b.limit));
      out.emplace_back(prefix + "-remaining", std::to_string(b.remaining));
      out.emplace_back(prefix + "-reset", rfc3339_utc(b.reset_unix_ms));
    }
    return out;
  }

  std::string whole_body(const response_ids& ids, const reply_plan& plan,
                         const chat_request& chat) const override {
    rapidjson::StringBuffer buf;
    json_writer w(buf);
    write_message(w, ids, plan, chat.prompt_tokens, true);
    return buf.GetString();
  }

  std::string malformed_body(const response_ids& ids) const override {
    return R"({"id":")" + ids.id +
           R"(","type":"message","content":[{this is not json)";
  }

  stream_events stream(const response_ids& ids, const reply_plan& plan,
                       const chat_request& chat) const override {
    stream_events out;
    const int prompt = chat.prompt_tokens;
    const int completion = plan.completion_tokens;
    out.head.push_back(typed_event("message_start", [&](json_writer& w) {
      w.Key("message");
      write_message(w, ids, plan, prompt, false);
    }));
    out.head.push_back(typed_event("content_block_start", [](json_writer& w) {
      w.Key("index");
      w.Int(0);
      w.Key("content_block");
      w.StartObject();
      w.Key("type");
      w.String("text");
      w.Key("text");
      w.String("");
      w.EndObject();
    }));
    out.head.push_back(typed_event("ping", [](json_writer&) {}));
    out.head_usage = {prompt, 1};
    out.finish_usage = {prompt, completion};
    // A refusal has no text: its words go with the stop reason.
    for (const auto& t :
         plan.refusal ? std::vector<std::string>{} : plan.tokens) {
      out.tokens.push_back(
          typed_event("content_block_delta", [&](json_writer& w) {
            w.Key("index");
            w.Int(0);
            w.Key("delta");
            w.StartObject();
            w.Key("type");
            w.String("text_delta");
            w.Key("text");
            write_string(w, t);
            w.EndObject();
          }));
    }
    out.finish.push_back(typed_event("content_block_stop", [](json_writer& w) {
      w.Key("index");
      w.Int(0);
    }));
    out.finish.push_back(typed_event("message_delta", [&](json_writer& w) {
      w.Key("delta");
      w.StartObject();
      w.Key("stop_reason");
      write_stop(w, plan);
      w.Key("stop_sequence");
      w.Null();
      w.EndObject();
      w.Key("usage");
      w.StartObject();
      w.Key("output_tokens");
      w.Int(completion);
      w.EndObject();
    }));
    out.terminator.push_back(typed_event("message_stop", [](json_writer&) {}));
    out.malformed = named_event(
        "content_block_delta",
        R"({"type":"content_block_delta","index":0,this is not json)");
    return out;
  }

  int error_event_status() const override { return 529; }

  std::string error_event(std::string_view error_json) const override {
    return named_event("error", error_json);
  }
};

} // namespace

std::unique_ptr<wire_format> make_anthropic_wire() {
  return std::make_unique<anthropic_wire>();
}

} // namespace tutti::fake
