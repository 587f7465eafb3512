// Anthropic's Messages API (POST /v1/messages) as a client API: `system`,
// `messages` with text, tool_use and tool_result blocks in; a `message`
// out, or its stream of events (message_start, content_block_*,
// message_delta, message_stop). Errors take Anthropic's shape
// (anthropic_error_body) so its SDK raises its own error classes.

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/src/json_reader.hpp"
#include "engine/src/json_writers.hpp"
#include "plugins/codecs/codec_support.hpp"
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

// --- the request ---

/// A tool_result's content, or the system prompt: a string or text blocks.
const text_parts text_blocks{"a string or an array of text blocks",
                             "a text block",
                             {"text"},
                             "only text blocks are supported"};

/// An image block's `source`: `{type: "base64", media_type, data}` or
/// `{type: "url", url}`.
image_ref read_image_block(const json_value& block, const std::string& at) {
  auto* source = field(block, "source");
  if (source == nullptr || !source->IsObject())
    fail(at + ".source", at + ".source: required, an object with a type");
  auto* type = field(*source, "type");
  if (type == nullptr)
    fail(at + ".source.type", at + ".source.type: required");
  auto kind = read_string(*type, at + ".source.type");
  if (kind == "base64") {
    auto* media_type = field(*source, "media_type");
    if (media_type == nullptr)
      fail(at + ".source.media_type", at + ".source.media_type: required");
    auto* data = field(*source, "data");
    if (data == nullptr)
      fail(at + ".source.data", at + ".source.data: required");
    return inline_image(read_string(*media_type, at + ".source.media_type"),
                        read_string(*data, at + ".source.data"),
                        at + ".source");
  }
  if (kind == "url") {
    auto* url = field(*source, "url");
    if (url == nullptr)
      fail(at + ".source.url", at + ".source.url: required");
    auto image = read_image_url(*url, at + ".source.url");
    return image;
  }
  unsupported(at + ".source.type", at +
                                       ".source.type: expected base64 or "
                                       "url (tutti keeps no files), got " +
                                       quoted(kind));
}

/// One message: its text, an assistant's tool_use blocks as tool calls,
/// and a user's tool_result blocks as tool turns (before its text, as
/// OpenAI's order has them).
void read_message(const json_value& m, const std::string& at,
                  std::vector<chat_message>& turns) {
  if (!m.IsObject())
    wrong_type(at, "an object with role and content", m);
  auto* role = field(m, "role");
  if (role == nullptr)
    fail(at + ".role", at + ".role: required");
  auto role_text = read_string(*role, at + ".role");
  if (role_text != "user" && role_text != "assistant")
    fail(at + ".role",
         at + ".role: expected user or assistant, got " + quoted(role_text) +
             (role_text == "system" ? " (the system prompt goes in `system`)"
                                    : ""));
  auto* content = field(m, "content");
  if (content == nullptr)
    fail(at + ".content", at + ".content: required");
  chat_message turn{role_text, ""};
  if (content->IsString()) {
    turn.content = string_of(*content);
    turns.push_back(std::move(turn));
    return;
  }
  if (!content->IsArray())
    wrong_type(at + ".content", "a string or an array of content blocks",
               *content);
  for (rapidjson::SizeType j = 0; j < content->Size(); ++j) {
    auto block_at = at + ".content[" + std::to_string(j) + "]";
    auto& block = (*content)[j];
    if (!block.IsObject())
      wrong_type(block_at, "a content block (an object with a type)", block);
    auto* type = field(block, "type");
    if (type == nullptr)
      fail(block_at + ".type", block_at + ".type: required");
    auto kind = read_string(*type, block_at + ".type");
    if (kind == "text") {
      auto* words = field(block, "text");
      if (words == nullptr)
        fail(block_at + ".text", block_at + ".text: required");
      auto text = read_string(*words, block_at + ".text");
      if (!turn.content.empty())
        turn.content += "\n";
      turn.content += text;
      content_part part;
      part.text = std::move(text);
      turn.parts.push_back(std::move(part));
    } else if (kind == "image") {
      if (role_text != "user")
        fail(block_at + ".type",
             block_at + ".type: image blocks are the user's");
      content_part part;
      part.image = read_image_block(block, block_at);
      turn.parts.push_back(std::move(part));
    } else if (kind == "tool_use") {
      if (role_text != "assistant")
        fail(block_at + ".type",
             block_at + ".type: tool_use blocks are the assistant's");
      if (turn.tool_calls.size() >= max_tool_calls)
        fail(block_at, block_at + ": at most " +
                           std::to_string(max_tool_calls) +
                           " tool_use blocks in one message");
      tool_call call;
      auto* id = field(block, "id");
      if (id == nullptr)
        fail(block_at + ".id", block_at + ".id: required");
      call.id = read_string(*id, block_at + ".id");
      auto* name = field(block, "name");
      if (name == nullptr)
        fail(block_at + ".name", block_at + ".name: required");
      call.name = read_function_name(*name, block_at + ".name");
      auto* input = field(block, "input");
      if (input == nullptr || !input->IsObject())
        fail(block_at + ".input", block_at + ".input: required, an object");
      call.arguments = compact_json(*input);
      turn.tool_calls.push_back(std::move(call));
    } else if (kind == "tool_result") {
      if (role_text != "user")
        fail(block_at + ".type",
             block_at + ".type: tool_result blocks are the user's");
      chat_message result{"tool", ""};
      auto* id = field(block, "tool_use_id");
      if (id == nullptr)
        fail(block_at + ".tool_use_id",
             block_at + ".tool_use_id: required (the tool_use it answers)");
      result.tool_call_id = read_string(*id, block_at + ".tool_use_id");
      if (auto* c = field(block, "content"))
        result.content =
            read_text_parts(*c, block_at + ".content", text_blocks);
      turns.push_back(std::move(result));
    } else if (kind == "thinking" || kind == "redacted_thinking") {
      // Claude's own reasoning, sent back by clients that keep it: other
      // vendors cannot read it, so it is left out.
    } else {
      unsupported(block_at + ".type",
                  block_at +
                      ".type: expected text, image, tool_use or "
                      "tool_result, got " +
                      quoted(kind));
    }
  }
  // Parts are kept only when an image is among them.
  if (turn.images() == 0)
    turn.parts.clear();
  // A user turn of tool results alone adds no empty user turn.
  if (!turn.content.empty() || !turn.tool_calls.empty() ||
      !turn.parts.empty() || role_text == "assistant")
    turns.push_back(std::move(turn));
}

std::vector<tool_spec> read_tools(const json_value& v) {
  if (!v.IsArray())
    wrong_type("tools", "an array of tools", v);
  if (v.Size() > max_tools)
    fail("tools", "tools: at most " + std::to_string(max_tools) + " tools");
  std::vector<tool_spec> tools;
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    auto at = "tools[" + std::to_string(i) + "]";
    auto& t = v[i];
    if (!t.IsObject())
      wrong_type(at, "an object with name and input_schema", t);
    if (auto* type = field(t, "type")) {
      auto kind = read_string(*type, at + ".type");
      if (kind != "custom")
        unsupported(at + ".type", at +
                                      ".type: only client tools (no type, or "
                                      "\"custom\") are supported, got " +
                                      quoted(kind));
    }
    tool_spec tool;
    auto* name = field(t, "name");
    if (name == nullptr)
      fail(at + ".name", at + ".name: required");
    tool.name = read_function_name(*name, at + ".name");
    if (auto* d = field(t, "description"))
      tool.description = read_string(*d, at + ".description");
    auto* schema = field(t, "input_schema");
    if (schema == nullptr)
      fail(at + ".input_schema", at + ".input_schema: required");
    tool.parameters = read_schema(*schema, at + ".input_schema");
    add_tool(tools, std::move(tool), at + ".name");
  }
  return tools;
}

/// `{type: auto | any | tool | none, name, disable_parallel_tool_use}`.
void read_tool_choice(const json_value& v, chat_params& params) {
  if (!v.IsObject())
    wrong_type("tool_choice", "an object with a type", v);
  auto* type = field(v, "type");
  if (type == nullptr)
    fail("tool_choice.type", "tool_choice.type: required");
  auto kind = read_string(*type, "tool_choice.type");
  auto& choice = params.tool_choice;
  if (kind == "auto" || kind == "none") {
    choice.mode = kind;
  } else if (kind == "any") {
    choice.mode = "required";
  } else if (kind == "tool") {
    auto* name = field(v, "name");
    if (name == nullptr)
      fail("tool_choice.name", "tool_choice.name: required");
    choice.mode = "function";
    choice.name = read_function_name(*name, "tool_choice.name");
  } else {
    fail("tool_choice.type", "tool_choice.type: expected auto, any, tool or "
                             "none, got " +
                                 quoted(kind));
  }
  if (auto* d = field(v, "disable_parallel_tool_use"))
    if (read_bool(*d, "tool_choice.disable_parallel_tool_use"))
      params.parallel_tool_calls = false;
  check_tool_choice(choice, params.tools, "tool_choice", "tool_choice.name");
}

chat_params read_params(const json_value& body) {
  chat_params params;
  auto* max = field(body, "max_tokens");
  if (max == nullptr)
    fail("max_tokens", "max_tokens: required");
  params.max_tokens = read_max_tokens(*max, "max_tokens");
  if (auto* v = field(body, "temperature"))
    params.temperature = read_number(*v, "temperature", 0, 1);
  if (auto* v = field(body, "top_p"))
    params.top_p = read_number(*v, "top_p", 0, 1);
  if (auto* v = field(body, "stop_sequences")) {
    if (!v->IsArray())
      wrong_type("stop_sequences", "an array of strings", *v);
    for (rapidjson::SizeType i = 0; i < v->Size(); ++i)
      params.stop.push_back(
          read_string((*v)[i], "stop_sequences[" + std::to_string(i) + "]"));
  }
  if (auto* v = field(body, "tools"))
    params.tools = read_tools(*v);
  if (auto* v = field(body, "tool_choice"))
    read_tool_choice(*v, params);
  if (auto* v = field(body, "output_format")) {
    // Structured outputs: `{type: "json_schema", schema}`.
    if (!v->IsObject())
      wrong_type("output_format", "an object with type and schema", *v);
    auto* type = field(*v, "type");
    if (type == nullptr ||
        read_string(*type, "output_format.type") != "json_schema")
      fail("output_format.type", "output_format.type: expected json_schema");
    auto* schema = field(*v, "schema");
    if (schema == nullptr)
      fail("output_format.schema", "output_format.schema: required");
    params.response_format.type = "json_schema";
    params.response_format.name = "output";
    params.response_format.schema =
        read_schema(*schema, "output_format.schema");
    params.response_format.strict = true;
  }
  return params;
}

void reject_unsupported(const json_value& body) {
  if (field(body, "top_k") != nullptr)
    unsupported("top_k", "top_k: not supported (not every vendor has it); "
                         "use temperature or top_p");
  if (auto* v = field(body, "thinking")) {
    auto* type = v->IsObject() ? field(*v, "type") : nullptr;
    if (type == nullptr || read_string(*type, "thinking.type") != "disabled")
      unsupported("thinking", "thinking: extended thinking is not supported");
  }
  for (auto* name : {"mcp_servers", "container"})
    if (field(body, name) != nullptr)
      unsupported(name, std::string{name} + ": not supported");
}

std::variant<chat_call, api_error> parse_messages(std::string_view body,
                                                  const config& cfg) {
  try {
    auto doc = parse_object(body);
    chat_call call;
    call.model = read_model(doc);
    if (auto* v = field(doc, "system")) {
      auto text = read_text_parts(*v, "system", text_blocks);
      if (!text.empty())
        call.messages.emplace_back("system", std::move(text));
    }
    auto* messages = field(doc, "messages");
    if (messages == nullptr)
      fail("messages", "messages: required");
    if (!messages->IsArray())
      wrong_type("messages", "an array of messages", *messages);
    if (messages->Empty())
      fail("messages", "messages: expected at least one message");
    for (rapidjson::SizeType i = 0; i < messages->Size(); ++i)
      read_message((*messages)[i], "messages[" + std::to_string(i) + "]",
                   call.messages);
    call.params = read_params(doc);
    reject_unsupported(doc);
    if (auto* v = field(doc, "stream"))
      call.stream = read_bool(*v, "stream");
    read_tutti_extension(doc, call);
    check_image_count(call.messages);
    resolve_target(call, cfg);
    return call;
  } catch (api_error& e) {
    return std::move(e);
  }
}

// --- the reply ---

/// Anthropic's stop_reason for the answer.
const char* stop_reason_of(const ensemble_answer& answer) {
  if (refusal_of(answer))
    return "refusal";
  auto reason = finish_reason_of(answer);
  if (reason == "tool_calls")
    return "tool_use";
  if (reason == "length")
    return "max_tokens";
  if (reason == "content_filter")
    return "refusal";
  return "end_turn";
}

/// A call's id as a tool_use id: the vendor's, or one made up.
std::string tool_use_id(const completion_ids& ids, const tool_call& call,
                        size_t i) {
  if (!call.id.empty())
    return call.id;
  return "toolu_" + ids.id.substr(ids.id.find('_') + 1) + "_" +
         std::to_string(i);
}

/// A call's arguments as the object `input` is (text that is not an
/// object, as `{}`).
std::string input_json(const tool_call& call) {
  return json_text([&](json_writer& w) {
    codec_support::write_arguments_object(w, call.arguments);
  });
}

void write_usage(json_writer& w, const tutti::usage& used) {
  w.StartObject();
  // Anthropic counts cached input apart from input_tokens.
  w.Key("input_tokens");
  w.Int64(std::max<int64_t>(0, used.input_tokens - used.cached_input_tokens));
  w.Key("cache_creation_input_tokens");
  w.Int(0);
  w.Key("cache_read_input_tokens");
  w.Int64(used.cached_input_tokens);
  w.Key("output_tokens");
  w.Int64(used.output_tokens);
  w.EndObject();
}

void write_tool_use(json_writer& w, const completion_ids& ids,
                    const tool_call& call, size_t i, bool with_input) {
  w.StartObject();
  w.Key("type");
  w.String("tool_use");
  w.Key("id");
  write_string(w, tool_use_id(ids, call, i));
  w.Key("name");
  write_string(w, call.name);
  w.Key("input");
  if (with_input) {
    auto input = input_json(call);
    w.RawValue(input.data(), input.size(), rapidjson::kObjectType);
  } else {
    w.StartObject();
    w.EndObject();
  }
  w.EndObject();
}

void write_text_block(json_writer& w, const std::string& text) {
  w.StartObject();
  w.Key("type");
  w.String("text");
  w.Key("text");
  write_string(w, text);
  w.EndObject();
}

/// The message object: the answer's, or an empty one to start a stream.
void write_message(json_writer& w, const completion_ids& ids,
                   const ensemble_answer* answer) {
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
  if (answer != nullptr) {
    auto refusal = refusal_of(*answer);
    if (refusal)
      write_text_block(w, *refusal);
    else if (!answer->text.empty())
      write_text_block(w, answer->text);
    if (!refusal)
      for (size_t i = 0; i < answer->tool_calls.size(); ++i)
        write_tool_use(w, ids, answer->tool_calls[i], i, true);
  }
  w.EndArray();
  w.Key("stop_reason");
  if (answer != nullptr)
    w.String(stop_reason_of(*answer));
  else
    w.Null();
  w.Key("stop_sequence");
  w.Null();
  w.Key("usage");
  write_usage(w, answer != nullptr ? answer->usage : tutti::usage{});
  if (answer != nullptr) {
    auto ensemble = to_json(*answer);
    w.Key("ensemble");
    w.RawValue(ensemble.data(), ensemble.size(), rapidjson::kObjectType);
  }
  w.EndObject();
}

class messages_stream final : public reply_stream {
public:
  explicit messages_stream(completion_ids ids) : ids_(std::move(ids)) {}

  std::string open() override {
    return event("message_start",
                 [&](json_writer& w) {
                   w.Key("message");
                   write_message(w, ids_, nullptr);
                 }) +
           event("ping", [](json_writer&) {});
  }

  std::string text(const std::string& delta) override {
    std::string out;
    if (!text_open_) {
      text_open_ = true;
      out += event("content_block_start", [&](json_writer& w) {
        w.Key("index");
        w.Int(next_index_);
        w.Key("content_block");
        write_text_block(w, "");
      });
    }
    return out + event("content_block_delta", [&](json_writer& w) {
             w.Key("index");
             w.Int(next_index_);
             w.Key("delta");
             w.StartObject();
             w.Key("type");
             w.String("text_delta");
             w.Key("text");
             write_string(w, delta);
             w.EndObject();
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
    if (refusal)
      out += text(*refusal);
    else if (!rest.empty())
      out += text(rest);
    out += close_text();
    if (!refusal)
      for (size_t i = 0; i < answer.tool_calls.size(); ++i) {
        auto& call = answer.tool_calls[i];
        int index = next_index_++;
        out += event("content_block_start", [&](json_writer& w) {
          w.Key("index");
          w.Int(index);
          w.Key("content_block");
          write_tool_use(w, ids_, call, i, false);
        });
        out += event("content_block_delta", [&](json_writer& w) {
          w.Key("index");
          w.Int(index);
          w.Key("delta");
          w.StartObject();
          w.Key("type");
          w.String("input_json_delta");
          w.Key("partial_json");
          write_string(w, input_json(call));
          w.EndObject();
        });
        out += stop_block(index);
      }
    out += event("message_delta", [&](json_writer& w) {
      w.Key("delta");
      w.StartObject();
      w.Key("stop_reason");
      w.String(stop_reason_of(answer));
      w.Key("stop_sequence");
      w.Null();
      w.EndObject();
      w.Key("usage");
      write_usage(w, answer.usage);
      auto ensemble = to_json(answer);
      w.Key("ensemble");
      w.RawValue(ensemble.data(), ensemble.size(), rapidjson::kObjectType);
    });
    return out + event("message_stop", [](json_writer&) {});
  }

  std::string fail(const api_error& error,
                   const ensemble_answer& answer) override {
    // Anthropic's SDK raises an `error` event as an APIError.
    return event("error", [&](json_writer& w) {
      w.Key("error");
      w.StartObject();
      w.Key("type");
      w.String(anthropic_error_type(error.status));
      w.Key("message");
      write_string(w, error.message);
      w.EndObject();
      auto ensemble = to_json(answer);
      w.Key("ensemble");
      w.RawValue(ensemble.data(), ensemble.size(), rapidjson::kObjectType);
    });
  }

private:
  template <class WriteFields>
  static std::string event(const char* type, WriteFields&& write_fields) {
    return named_event(type, std::forward<WriteFields>(write_fields));
  }

  std::string stop_block(int index) {
    return event("content_block_stop", [&](json_writer& w) {
      w.Key("index");
      w.Int(index);
    });
  }

  std::string close_text() {
    if (!text_open_)
      return {};
    text_open_ = false;
    return stop_block(next_index_++);
  }

  completion_ids ids_;
  bool text_open_ = false;
  int next_index_ = 0; ///< the index of the open or next content block
};

class messages final : public client_api {
public:
  const char* name() const override { return "messages"; }
  const char* id_prefix() const override { return "msg_"; }

  std::variant<chat_call, api_error> parse(std::string_view body,
                                           const config& cfg) const override {
    return parse_messages(body, cfg);
  }

  std::string reply_json(const completion_ids& ids, const chat_call&,
                         const ensemble_answer& answer) const override {
    return json_text([&](json_writer& w) { write_message(w, ids, &answer); });
  }

  std::unique_ptr<reply_stream> stream(const completion_ids& ids,
                                       const chat_call&) const override {
    return std::make_unique<messages_stream>(ids);
  }
};

} // namespace

const client_api& messages_api() {
  static const messages api;
  return api;
}

const char* anthropic_error_type(int status) {
  switch (status) {
  case 400:
  case 405:
  case 415:
  case 422:
    return "invalid_request_error";
  case 401:
    return "authentication_error";
  case 402:
    return "billing_error";
  case 403:
    return "permission_error";
  case 404:
    return "not_found_error";
  case 413:
    return "request_too_large";
  case 429:
    return "rate_limit_error";
  case 503:
  case 529:
    return "overloaded_error";
  case 504:
    return "timeout_error";
  default:
    return status < 500 ? "invalid_request_error" : "api_error";
  }
}

std::string anthropic_error_body(int status, std::string_view openai_body) {
  rapidjson::Document doc;
  std::string message = "error";
  const rapidjson::Value* ensemble = nullptr;
  if (json_reader::parse(doc, openai_body, json_reader::utf8_check::validate) &&
      doc.IsObject()) {
    if (auto* error = field(doc, "error");
        error != nullptr && error->IsObject())
      if (auto* m = field(*error, "message"); m != nullptr && m->IsString())
        message = string_of(*m);
    ensemble = field(doc, "ensemble");
  }
  return json_text([&](json_writer& w) {
    w.StartObject();
    w.Key("type");
    w.String("error");
    w.Key("error");
    w.StartObject();
    w.Key("type");
    w.String(anthropic_error_type(status));
    w.Key("message");
    write_string(w, message);
    w.EndObject();
    if (ensemble != nullptr && ensemble->IsObject()) {
      w.Key("ensemble");
      ensemble->Accept(w);
    }
    w.EndObject();
  });
}

} // namespace tutti::http
