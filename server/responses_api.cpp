// OpenAI's Responses API (POST /v1/responses) as a client API: the request
// read by responses_requests.cpp, a `response` object out, or its stream
// of named events (response.created ... response.completed) with sequence
// numbers. tutti keeps no responses: a conversation is sent whole in
// `input` (or continued with tutti.session), so `previous_response_id` is a
// 400 that says so.

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/src/json_writers.hpp"
#include "server/client_api.hpp"
#include "server/named_events.hpp"
#include "server/request_fields.hpp"
#include "tutti/json.hpp"

namespace tutti::http {

namespace {

using namespace fields;
using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;
using json_detail::json_text;
using json_detail::write_string;

// --- the response ---

/// The part of the response id after "resp_", for its items' ids.
std::string id_tail(const completion_ids& ids) {
  auto at = ids.id.find('_');
  return at == std::string::npos ? ids.id : ids.id.substr(at + 1);
}

std::string message_id(const completion_ids& ids) {
  return "msg_" + id_tail(ids);
}

std::string call_item_id(const completion_ids& ids, size_t i) {
  return "fc_" + id_tail(ids) + "_" + std::to_string(i);
}

void write_usage(json_writer& w, const tutti::usage& used) {
  w.StartObject();
  w.Key("input_tokens");
  w.Int64(used.input_tokens);
  w.Key("input_tokens_details");
  w.StartObject();
  w.Key("cached_tokens");
  w.Int64(used.cached_input_tokens);
  w.EndObject();
  w.Key("output_tokens");
  w.Int64(used.output_tokens);
  w.Key("output_tokens_details");
  w.StartObject();
  w.Key("reasoning_tokens");
  w.Int(0);
  w.EndObject();
  w.Key("total_tokens");
  w.Int64(used.input_tokens + used.output_tokens);
  w.EndObject();
}

void write_optional(json_writer& w, const std::optional<double>& x,
                    double fallback) {
  w.Double(x ? *x : fallback);
}

void write_text_format(json_writer& w, const response_format& format) {
  w.StartObject();
  w.Key("type");
  write_string(w, format.type.empty() ? "text" : format.type);
  if (format.type == "json_schema") {
    w.Key("name");
    write_string(w, format.name);
    w.Key("schema");
    if (format.schema.empty()) {
      w.StartObject();
      w.EndObject();
    } else {
      w.RawValue(format.schema.data(), format.schema.size(),
                 rapidjson::kObjectType);
    }
    w.Key("strict");
    w.Bool(format.strict);
  }
  w.EndObject();
}

void write_tool_choice(json_writer& w, const tool_choice& choice) {
  if (choice.mode == "function") {
    w.StartObject();
    w.Key("type");
    w.String("function");
    w.Key("name");
    write_string(w, choice.name);
    w.EndObject();
  } else {
    write_string(w, choice.mode.empty() ? "auto" : choice.mode);
  }
}

void write_tools(json_writer& w, const std::vector<tool_spec>& tools) {
  w.StartArray();
  for (auto& t : tools) {
    w.StartObject();
    w.Key("type");
    w.String("function");
    w.Key("name");
    write_string(w, t.name);
    w.Key("description");
    json_detail::write_string_or_null(w, t.description);
    w.Key("parameters");
    if (t.parameters.empty())
      w.Null();
    else
      w.RawValue(t.parameters.data(), t.parameters.size(),
                 rapidjson::kObjectType);
    w.Key("strict");
    w.Bool(t.strict);
    w.EndObject();
  }
  w.EndArray();
}

/// A message's one content part: output_text (with its annotations) or a
/// refusal.
void write_part(json_writer& w, const std::string& text, bool refusal) {
  w.StartObject();
  w.Key("type");
  w.String(refusal ? "refusal" : "output_text");
  w.Key(refusal ? "refusal" : "text");
  write_string(w, text);
  if (!refusal) {
    w.Key("annotations");
    w.StartArray();
    w.EndArray();
  }
  w.EndObject();
}

/// A message output item holding `text` (or a refusal's words).
void write_message_item(json_writer& w, const completion_ids& ids,
                        const std::string& text, bool refusal,
                        const char* status) {
  w.StartObject();
  w.Key("id");
  write_string(w, message_id(ids));
  w.Key("type");
  w.String("message");
  w.Key("status");
  w.String(status);
  w.Key("role");
  w.String("assistant");
  w.Key("content");
  w.StartArray();
  if (status != std::string_view{"in_progress"})
    write_part(w, text, refusal);
  w.EndArray();
  w.EndObject();
}

void write_call_item(json_writer& w, const completion_ids& ids, size_t i,
                     const tool_call& call, bool done) {
  w.StartObject();
  w.Key("id");
  write_string(w, call_item_id(ids, i));
  w.Key("type");
  w.String("function_call");
  w.Key("status");
  w.String(done ? "completed" : "in_progress");
  w.Key("call_id");
  write_string(w, call.id);
  w.Key("name");
  write_string(w, call.name);
  w.Key("arguments");
  write_string(w, done ? call.arguments : std::string{});
  w.EndObject();
}

/// How an answer ended, as a response's status: "completed", or
/// "incomplete" with its reason.
std::pair<const char*, const char*> status_of(const ensemble_answer& answer) {
  auto reason = finish_reason_of(answer);
  if (reason == "length")
    return {"incomplete", "max_output_tokens"};
  if (reason == "content_filter")
    return {"incomplete", "content_filter"};
  return {"completed", nullptr};
}

/// The `response` object: in progress (no answer yet), or the answer's.
void write_response(json_writer& w, const completion_ids& ids,
                    const chat_call& call, const ensemble_answer* answer,
                    const api_error* error) {
  auto& p = call.params;
  w.StartObject();
  w.Key("id");
  write_string(w, ids.id);
  w.Key("object");
  w.String("response");
  w.Key("created_at");
  w.Int64(ids.created);
  const char* status = "in_progress";
  const char* incomplete = nullptr;
  if (error != nullptr)
    status = "failed";
  else if (answer != nullptr)
    std::tie(status, incomplete) = status_of(*answer);
  w.Key("status");
  w.String(status);
  w.Key("error");
  if (error != nullptr) {
    w.StartObject();
    w.Key("code");
    write_string(w, error->code.empty() ? "server_error" : error->code);
    w.Key("message");
    write_string(w, error->message);
    w.EndObject();
  } else {
    w.Null();
  }
  w.Key("incomplete_details");
  if (incomplete != nullptr) {
    w.StartObject();
    w.Key("reason");
    w.String(incomplete);
    w.EndObject();
  } else {
    w.Null();
  }
  w.Key("instructions");
  if (call.instructions)
    write_string(w, *call.instructions);
  else
    w.Null();
  w.Key("max_output_tokens");
  if (p.max_tokens)
    w.Int64(*p.max_tokens);
  else
    w.Null();
  w.Key("model");
  write_string(w, ids.model);
  w.Key("output");
  w.StartArray();
  if (answer != nullptr && error == nullptr) {
    auto refusal = refusal_of(*answer);
    if (refusal)
      write_message_item(w, ids, *refusal, true, "completed");
    else if (!answer->text.empty() || answer->tool_calls.empty())
      write_message_item(w, ids, answer->text, false, "completed");
    if (!refusal)
      for (size_t i = 0; i < answer->tool_calls.size(); ++i)
        write_call_item(w, ids, i, answer->tool_calls[i], true);
  }
  w.EndArray();
  w.Key("parallel_tool_calls");
  w.Bool(p.parallel_tool_calls.value_or(true));
  w.Key("previous_response_id");
  w.Null();
  w.Key("reasoning");
  w.StartObject();
  w.Key("effort");
  json_detail::write_string_or_null(w, p.reasoning_effort);
  w.Key("summary");
  w.Null();
  w.EndObject();
  w.Key("store");
  w.Bool(false);
  w.Key("temperature");
  write_optional(w, p.temperature, 1);
  w.Key("text");
  w.StartObject();
  w.Key("format");
  write_text_format(w, p.response_format);
  w.EndObject();
  w.Key("tool_choice");
  write_tool_choice(w, p.tool_choice);
  w.Key("tools");
  write_tools(w, p.tools);
  w.Key("top_p");
  write_optional(w, p.top_p, 1);
  w.Key("truncation");
  w.String("disabled");
  w.Key("usage");
  if (answer != nullptr)
    write_usage(w, answer->usage);
  else
    w.Null();
  w.Key("user");
  w.Null();
  w.Key("metadata");
  w.StartObject();
  w.EndObject();
  if (answer != nullptr) {
    auto ensemble = to_json(*answer);
    w.Key("ensemble");
    w.RawValue(ensemble.data(), ensemble.size(), rapidjson::kObjectType);
  }
  w.EndObject();
}

/// The stream: named events, each with the next sequence number.
class responses_stream final : public reply_stream {
public:
  responses_stream(completion_ids ids, const chat_call& call)
      : ids_(std::move(ids)), call_(call) {}

  std::string open() override {
    auto out = event("response.created", [&](json_writer& w) {
      w.Key("response");
      write_response(w, ids_, call_, nullptr, nullptr);
    });
    return out + event("response.in_progress", [&](json_writer& w) {
             w.Key("response");
             write_response(w, ids_, call_, nullptr, nullptr);
           });
  }

  std::string text(const std::string& delta) override {
    auto out = open_message(false);
    text_ += delta;
    return out + event("response.output_text.delta", [&](json_writer& w) {
             write_place(w);
             w.Key("delta");
             write_string(w, delta);
             w.Key("logprobs");
             w.StartArray();
             w.EndArray();
           });
  }

  std::string member_delta(const tutti::member_delta& delta) override {
    return event("tutti.member.delta",
                 [&](json_writer& w) { write_member_delta(w, delta); });
  }

  std::string member_done(const member_outcome& outcome) override {
    return event("tutti.member.done",
                 [&](json_writer& w) { write_member_done(w, outcome); });
  }

  std::string finish(const ensemble_answer& answer,
                     const std::string& rest) override {
    std::string out;
    auto refusal = refusal_of(answer);
    if (refusal) {
      out += open_message(true);
      out += event("response.refusal.delta", [&](json_writer& w) {
        write_place(w);
        w.Key("delta");
        write_string(w, *refusal);
      });
      out += event("response.refusal.done", [&](json_writer& w) {
        write_place(w);
        w.Key("refusal");
        write_string(w, *refusal);
      });
      out += close_message(*refusal, true);
    } else {
      if (!rest.empty() || (!message_open_ && answer.tool_calls.empty()))
        out += text(rest);
      if (message_open_) {
        out += event("response.output_text.done", [&](json_writer& w) {
          write_place(w);
          w.Key("text");
          write_string(w, text_);
          w.Key("logprobs");
          w.StartArray();
          w.EndArray();
        });
        out += close_message(text_, false);
      }
      for (size_t i = 0; i < answer.tool_calls.size(); ++i)
        out += call_events(i, answer.tool_calls[i]);
    }
    auto [status, incomplete] = status_of(answer);
    (void)incomplete;
    out +=
        event(status == std::string_view{"completed"} ? "response.completed"
                                                      : "response.incomplete",
              [&](json_writer& w) {
                w.Key("response");
                write_response(w, ids_, call_, &answer, nullptr);
              });
    return out;
  }

  std::string fail(const api_error& error,
                   const ensemble_answer& answer) override {
    return event("response.failed", [&](json_writer& w) {
      w.Key("response");
      write_response(w, ids_, call_, &answer, &error);
    });
  }

private:
  /// An event with the next sequence number.
  template <class WriteFields>
  std::string event(const char* type, WriteFields&& write_fields) {
    return named_event(type, [&](json_writer& w) {
      w.Key("sequence_number");
      w.Int64(sequence_++);
      write_fields(w);
    });
  }

  /// item_id, output_index and content_index of the message's one part.
  void write_place(json_writer& w) {
    w.Key("item_id");
    write_string(w, message_id(ids_));
    w.Key("output_index");
    w.Int(0);
    w.Key("content_index");
    w.Int(0);
  }

  std::string open_message(bool refusal) {
    if (message_open_)
      return {};
    message_open_ = true;
    next_output_ = 1;
    auto out = event("response.output_item.added", [&](json_writer& w) {
      w.Key("output_index");
      w.Int(0);
      w.Key("item");
      write_message_item(w, ids_, "", false, "in_progress");
    });
    return out + event("response.content_part.added", [&](json_writer& w) {
             write_place(w);
             w.Key("part");
             write_part(w, "", refusal);
           });
  }

  std::string close_message(const std::string& text, bool refusal) {
    auto out = event("response.content_part.done", [&](json_writer& w) {
      write_place(w);
      w.Key("part");
      write_part(w, text, refusal);
    });
    return out + event("response.output_item.done", [&](json_writer& w) {
             w.Key("output_index");
             w.Int(0);
             w.Key("item");
             write_message_item(w, ids_, text, refusal, "completed");
           });
  }

  std::string call_events(size_t i, const tool_call& call) {
    int index = next_output_++;
    auto item_id = call_item_id(ids_, i);
    auto place = [&](json_writer& w) {
      w.Key("item_id");
      write_string(w, item_id);
      w.Key("output_index");
      w.Int(index);
    };
    // One statement per event: the sequence numbers are taken in order.
    auto out = event("response.output_item.added", [&](json_writer& w) {
      w.Key("output_index");
      w.Int(index);
      w.Key("item");
      write_call_item(w, ids_, i, call, false);
    });
    out += event("response.function_call_arguments.delta", [&](json_writer& w) {
      place(w);
      w.Key("delta");
      write_string(w, call.arguments);
    });
    out += event("response.function_call_arguments.done", [&](json_writer& w) {
      place(w);
      w.Key("name");
      write_string(w, call.name);
      w.Key("arguments");
      write_string(w, call.arguments);
    });
    return out + event("response.output_item.done", [&](json_writer& w) {
             w.Key("output_index");
             w.Int(index);
             w.Key("item");
             write_call_item(w, ids_, i, call, true);
           });
  }

  completion_ids ids_;
  const chat_call& call_; ///< the route's, which outlives the stream
  int64_t sequence_ = 0;
  bool message_open_ = false;
  int next_output_ = 0; ///< the output index of the next item
  std::string text_;    ///< the message's text so far
};

class responses final : public client_api {
public:
  const char* name() const override { return "responses"; }
  const char* id_prefix() const override { return "resp_"; }

  std::variant<chat_call, api_error> parse(std::string_view body,
                                           const config& cfg) const override {
    return parse_responses_request(body, cfg);
  }

  std::string reply_json(const completion_ids& ids, const chat_call& call,
                         const ensemble_answer& answer) const override {
    return json_text([&](json_writer& w) {
      write_response(w, ids, call, &answer, nullptr);
    });
  }

  std::unique_ptr<reply_stream> stream(const completion_ids& ids,
                                       const chat_call& call) const override {
    return std::make_unique<responses_stream>(ids, call);
  }
};

} // namespace

const client_api& responses_api() {
  static const responses api;
  return api;
}

} // namespace tutti::http
