#include "server/openai.hpp"

#include <algorithm>
#include <cstdio>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "server/request_fields.hpp"
#include "tutti/codec.hpp"

namespace tutti::http {

namespace {

using namespace fields;

/// `{type: "image_url", image_url: {url, detail}}` (or the URL alone).
image_ref read_image_part(const json_value& part, const std::string& at) {
  auto* image = field(part, "image_url");
  if (image == nullptr)
    fail(at + ".image_url", at + ".image_url: required");
  if (image->IsString())
    return read_image_url(*image, at + ".image_url");
  if (!image->IsObject())
    wrong_type(at + ".image_url", "an object with url and detail", *image);
  auto* url = field(*image, "url");
  if (url == nullptr)
    fail(at + ".image_url.url", at + ".image_url.url: required");
  auto ref = read_image_url(*url, at + ".image_url.url");
  if (auto* detail = field(*image, "detail"))
    ref.detail = read_image_detail(*detail, at + ".image_url.detail");
  return ref;
}

/// A message's content: a string, or an array of text and image parts.
const text_parts content_parts{
    "a string or an array of content parts",
    "an object like {\"type\": \"text\", \"text\": \"...\"}",
    {"text"},
    "only \"text\" and \"image_url\" parts are supported",
    "image_url",
    read_image_part};

/// An assistant turn's `tool_calls`: `[{id, type: "function", function:
/// {name, arguments}}]`.
std::vector<tool_call> read_tool_calls(const json_value& v,
                                       const std::string& param) {
  if (!v.IsArray())
    wrong_type(param, "an array of tool calls", v);
  if (v.Size() > max_tool_calls)
    fail(param,
         param + ": at most " + std::to_string(max_tool_calls) + " tool calls");
  std::vector<tool_call> calls;
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    auto at = param + "[" + std::to_string(i) + "]";
    auto& c = v[i];
    if (!c.IsObject())
      wrong_type(at, "an object with id, type and function", c);
    if (auto* type = field(c, "type");
        type != nullptr && read_string(*type, at + ".type") != "function")
      unsupported(at + ".type", at + ".type: only \"function\" calls are "
                                     "supported");
    tool_call call;
    auto* id = field(c, "id");
    if (id == nullptr)
      fail(at + ".id", at + ".id: required");
    call.id = read_string(*id, at + ".id");
    auto* function = field(c, "function");
    if (function == nullptr || !function->IsObject())
      fail(at + ".function", at + ".function: required, an object with name "
                                  "and arguments");
    auto* name = field(*function, "name");
    if (name == nullptr)
      fail(at + ".function.name", at + ".function.name: required");
    call.name = read_function_name(*name, at + ".function.name");
    if (auto* arguments = field(*function, "arguments"))
      call.arguments = read_string(*arguments, at + ".function.arguments");
    calls.push_back(std::move(call));
  }
  return calls;
}

std::vector<chat_message> read_messages(const json_value& v) {
  if (!v.IsArray())
    wrong_type("messages", "an array of messages", v);
  if (v.Empty())
    fail("messages", "messages: expected at least one message");
  std::vector<chat_message> messages;
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    auto param = "messages[" + std::to_string(i) + "]";
    auto& m = v[i];
    if (!m.IsObject())
      wrong_type(param, "an object with role and content", m);
    auto* role = field(m, "role");
    if (role == nullptr)
      fail(param + ".role", param + ".role: required");
    auto role_text = read_string(*role, param + ".role");
    if (role_text == "developer")
      role_text = "system"; // OpenAI's newer name for the system turn
    if (role_text == "function")
      unsupported(param + ".role",
                  param + ".role: \"function\" messages (the legacy form) "
                          "are not supported; send \"tool\" messages");
    if (role_text != "system" && role_text != "user" &&
        role_text != "assistant" && role_text != "tool")
      fail(param + ".role", param +
                                ".role: expected one of system, user, "
                                "assistant, tool, got " +
                                quoted(role_text));
    if (field(m, "function_call") != nullptr)
      unsupported(param + ".function_call",
                  param + ".function_call: the legacy form is not supported; "
                          "send tool_calls");
    chat_message message;
    message.role = role_text;
    if (auto* calls = field(m, "tool_calls")) {
      if (role_text != "assistant")
        fail(param + ".tool_calls",
             param + ".tool_calls: only assistant messages make tool calls");
      message.tool_calls = read_tool_calls(*calls, param + ".tool_calls");
    }
    if (role_text == "tool") {
      auto* id = field(m, "tool_call_id");
      if (id == nullptr)
        fail(param + ".tool_call_id",
             param + ".tool_call_id: required in a tool message (the call "
                     "it answers)");
      message.tool_call_id = read_string(*id, param + ".tool_call_id");
    }
    auto* content = field(m, "content");
    if (content == nullptr && message.tool_calls.empty())
      fail(param + ".content", param + ".content: required");
    if (content != nullptr)
      read_content(*content, param + ".content", content_parts, message);
    messages.push_back(std::move(message));
  }
  return messages;
}

/// `tools`: `[{type: "function", function: {name, description,
/// parameters, strict}}]`.
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
      wrong_type(at,
                 "an object like {\"type\": \"function\", "
                 "\"function\": {...}}",
                 t);
    auto* type = field(t, "type");
    if (type == nullptr)
      fail(at + ".type", at + ".type: required");
    if (auto kind = read_string(*type, at + ".type"); kind != "function")
      unsupported(at + ".type", at +
                                    ".type: only \"function\" tools are "
                                    "supported, got " +
                                    quoted(kind));
    auto* function = field(t, "function");
    if (function == nullptr || !function->IsObject())
      fail(at + ".function", at + ".function: required, an object with a "
                                  "name");
    tool_spec tool;
    auto* name = field(*function, "name");
    if (name == nullptr)
      fail(at + ".function.name", at + ".function.name: required");
    tool.name = read_function_name(*name, at + ".function.name");
    if (auto* d = field(*function, "description"))
      tool.description = read_string(*d, at + ".function.description");
    if (auto* p = field(*function, "parameters"))
      tool.parameters = read_schema(*p, at + ".function.parameters");
    if (auto* strict = field(*function, "strict"))
      tool.strict = read_bool(*strict, at + ".function.strict");
    add_tool(tools, std::move(tool), at + ".function.name");
  }
  return tools;
}

/// `tool_choice`: "none", "auto", "required", or `{type: "function",
/// function: {name}}` naming one of `tools`.
tool_choice read_tool_choice(const json_value& v,
                             const std::vector<tool_spec>& tools) {
  tool_choice choice;
  if (v.IsString()) {
    choice = read_tool_choice_word(v, "{\"type\": \"function\", ...}");
  } else if (v.IsObject()) {
    auto* function = field(v, "function");
    auto* name = function != nullptr && function->IsObject()
                     ? field(*function, "name")
                     : nullptr;
    if (name == nullptr)
      fail("tool_choice.function.name", "tool_choice.function.name: required");
    choice.mode = "function";
    choice.name = read_function_name(*name, "tool_choice.function.name");
  } else {
    wrong_type("tool_choice", "a string or an object", v);
  }
  check_tool_choice(choice, tools, "tool_choice", "tool_choice.function.name");
  return choice;
}

/// `response_format`: `{type: "text"}`, `{type: "json_object"}` or `{type:
/// "json_schema", json_schema: {name, schema, strict}}`.
response_format read_response_format(const json_value& v) {
  if (!v.IsObject())
    wrong_type("response_format", "an object with a type", v);
  auto* type = field(v, "type");
  if (type == nullptr)
    fail("response_format.type", "response_format.type: required");
  response_format format;
  format.type = read_string(*type, "response_format.type");
  if (format.type != "text" && format.type != "json_object" &&
      format.type != "json_schema")
    fail("response_format.type", "response_format.type: expected text, "
                                 "json_object or json_schema, got " +
                                     quoted(format.type));
  if (format.type != "json_schema")
    return format;
  auto* spec = field(v, "json_schema");
  if (spec == nullptr || !spec->IsObject())
    fail("response_format.json_schema",
         "response_format.json_schema: required, an object with name and "
         "schema");
  auto* name = field(*spec, "name");
  if (name == nullptr)
    fail("response_format.json_schema.name",
         "response_format.json_schema.name: required");
  format.name = read_function_name(*name, "response_format.json_schema.name");
  if (auto* schema = field(*spec, "schema"))
    format.schema = read_schema(*schema, "response_format.json_schema.schema");
  if (auto* strict = field(*spec, "strict"))
    format.strict = read_bool(*strict, "response_format.json_schema.strict");
  return format;
}

/// temperature, top_p, max_tokens / max_completion_tokens, seed, stop,
/// tools, tool_choice, parallel_tool_calls and response_format.
chat_params read_params(const json_value& body) {
  chat_params params;
  if (auto* v = field(body, "temperature"))
    params.temperature = read_number(*v, "temperature", 0, 2);
  if (auto* v = field(body, "top_p"))
    params.top_p = read_number(*v, "top_p", 0, 1);
  for (auto* name : {"max_tokens", "max_completion_tokens"}) {
    if (auto* v = field(body, name)) {
      auto n = read_max_tokens(*v, name);
      params.max_tokens = n; // max_completion_tokens, read last, wins
    }
  }
  if (auto* v = field(body, "seed"))
    params.seed = read_integer(*v, "seed");
  if (auto* v = field(body, "stop")) {
    if (v->IsString()) {
      params.stop.push_back(string_of(*v));
    } else if (v->IsArray()) {
      for (rapidjson::SizeType i = 0; i < v->Size(); ++i)
        params.stop.push_back(
            read_string((*v)[i], "stop[" + std::to_string(i) + "]"));
    } else {
      wrong_type("stop", "a string or an array of strings", *v);
    }
  }
  for (auto* name : {"frequency_penalty", "presence_penalty"}) {
    if (auto* v = field(body, name)) {
      auto x = read_number(*v, name, -2, 2);
      // 0 is every vendor's default: it asks nothing of a member.
      if (x != 0)
        (std::string_view{name} == "frequency_penalty"
             ? params.frequency_penalty
             : params.presence_penalty) = x;
    }
  }
  if (auto* v = field(body, "reasoning_effort"))
    params.reasoning_effort = read_reasoning_effort(*v, "reasoning_effort");
  if (auto* v = field(body, "tools"))
    params.tools = read_tools(*v);
  if (auto* v = field(body, "tool_choice"))
    params.tool_choice = read_tool_choice(*v, params.tools);
  if (auto* v = field(body, "parallel_tool_calls"))
    params.parallel_tool_calls = read_bool(*v, "parallel_tool_calls");
  if (auto* v = field(body, "response_format"))
    params.response_format = read_response_format(*v);
  if (auto* v = field(body, "n")) {
    auto n = read_integer(*v, "n");
    if (n < 1 || n > max_choices)
      fail("n", "n: expected 1 to " + std::to_string(max_choices) + ", got " +
                    std::to_string(n));
    if (n > 1)
      params.n = n;
  }
  if (auto* v = field(body, "logprobs"))
    params.logprobs = read_bool(*v, "logprobs");
  if (auto* v = field(body, "top_logprobs")) {
    auto top = read_integer(*v, "top_logprobs");
    if (top < 0 || top > 20)
      fail("top_logprobs",
           "top_logprobs: expected 0 to 20, got " + std::to_string(top));
    if (!params.logprobs)
      fail("top_logprobs", "top_logprobs: needs logprobs: true");
    params.top_logprobs = top;
  }
  return params;
}

/// `stream` and `stream_options.include_usage`.
void read_stream_options(const json_value& doc, chat_call& call) {
  if (auto* v = field(doc, "stream"))
    call.stream = read_bool(*v, "stream");
  if (auto* v = field(doc, "stream_options")) {
    if (!v->IsObject())
      wrong_type("stream_options", "an object", *v);
    if (auto* u = field(*v, "include_usage"))
      call.include_usage = read_bool(*u, "stream_options.include_usage");
  }
}

/// The OpenAI fields tutti cannot honour: a 400 rather than silently doing
/// something else. Fields that change nothing (n: 1, tool_choice: "none",
/// logprobs: false, penalties of 0...) pass.
void reject_unsupported(const json_value& body) {
  if (auto* v = field(body, "functions");
      v != nullptr && !(v->IsArray() && v->Empty()))
    unsupported("functions", "functions: the legacy form is not supported; "
                             "send tools");
  if (auto* v = field(body, "function_call")) {
    if (!v->IsString() || (string_of(*v) != "none" && string_of(*v) != "auto"))
      unsupported("function_call", "function_call: the legacy form is not "
                                   "supported; send tool_choice");
  }
  if (auto* v = field(body, "logit_bias");
      v != nullptr && !(v->IsObject() && v->ObjectEmpty()))
    unsupported("logit_bias", "logit_bias: not supported");
  for (auto* name : {"audio", "prediction"}) {
    if (field(body, name) != nullptr)
      unsupported(name, std::string{name} + ": not supported");
  }
  if (auto* v = field(body, "modalities")) {
    if (!v->IsArray())
      wrong_type("modalities", "an array", *v);
    for (auto& m : v->GetArray())
      if (!m.IsString() || string_of(m) != "text")
        unsupported("modalities", "modalities: only [\"text\"] is supported");
  }
}

} // namespace

api_error bad_request(std::string param, std::string message,
                      std::string code) {
  return api_error{400, std::move(message), "invalid_request_error",
                   std::move(param), std::move(code)};
}

std::variant<chat_call, api_error> parse_chat_request(std::string_view body,
                                                      const config& cfg) {
  try {
    auto doc = parse_object(body);
    chat_call call;
    call.model = read_model(doc);
    auto* messages = field(doc, "messages");
    if (messages == nullptr)
      fail("messages", "messages: required");
    call.messages = read_messages(*messages);
    call.params = read_params(doc);
    reject_unsupported(doc);
    read_stream_options(doc, call);
    read_tutti_extension(doc, call);
    check_image_count(call.messages);
    resolve_target(call, cfg);
    return call;
  } catch (api_error& e) {
    return std::move(e);
  }
}

std::variant<chat_call, api_error>
parse_text_completion_request(std::string_view body, const config& cfg) {
  try {
    auto doc = parse_object(body);
    chat_call call;
    call.model = read_model(doc);
    auto* prompt = field(doc, "prompt");
    if (prompt == nullptr)
      fail("prompt", "prompt: required");
    std::string text;
    if (prompt->IsArray()) {
      // Several prompts, or prompts given as token ids, would each need
      // their own question.
      if (prompt->Size() != 1 || !(*prompt)[0].IsString())
        unsupported("prompt", "prompt: one string per request (or an array "
                              "of one string)");
      text = string_of((*prompt)[0]);
    } else {
      text = read_string(*prompt, "prompt");
    }
    call.messages.emplace_back("user", std::move(text));
    // What only the legacy API has, and the chat completions' fields it
    // does not take.
    if (auto* v = field(doc, "echo"); v != nullptr && read_bool(*v, "echo"))
      unsupported("echo", "echo: not supported");
    if (field(doc, "suffix") != nullptr)
      unsupported("suffix", "suffix: not supported (no model behind tutti "
                            "is asked to fill in the middle)");
    if (auto* v = field(doc, "best_of");
        v != nullptr && read_integer(*v, "best_of") != 1)
      unsupported("best_of", "best_of: not supported; ask an ensemble that "
                             "votes, or give a member samples:");
    if (field(doc, "logprobs") != nullptr)
      unsupported("logprobs", "logprobs: the legacy form is not supported; "
                              "ask /v1/chat/completions with logprobs: true");
    for (auto* chat_only :
         {"messages", "tools", "tool_choice", "response_format",
          "reasoning_effort", "top_logprobs", "parallel_tool_calls"})
      if (field(doc, chat_only) != nullptr)
        unsupported(chat_only, std::string{chat_only} +
                                   ": a chat completions field; send it to "
                                   "/v1/chat/completions");
    call.params = read_params(doc);
    reject_unsupported(doc);
    read_stream_options(doc, call);
    read_tutti_extension(doc, call);
    resolve_target(call, cfg);
    return call;
  } catch (api_error& e) {
    return std::move(e);
  }
}

std::variant<run_call, api_error> parse_run_request(std::string_view body,
                                                    const config& cfg) {
  try {
    auto doc = parse_object(body);
    run_call call;
    int named = 0;
    std::string which;
    for (auto* key : {"ensemble", "provider", "pipeline"}) {
      if (auto* v = field(doc, key)) {
        call.name = read_string(*v, key);
        which = key;
        ++named;
      }
    }
    if (named != 1)
      fail("ensemble", "request body: give exactly one of ensemble, provider "
                       "or pipeline");
    auto not_found = [&](const std::string& known) {
      throw api_error{404,
                      "The " + which + " " + quoted(call.name) +
                          " does not exist; expected one of: " + known,
                      "invalid_request_error", which, which + "_not_found"};
    };
    if (which == "pipeline") {
      call.of = run_call::kind::pipeline;
      auto p = cfg.pipelines.find(call.name);
      if (p == cfg.pipelines.end())
        not_found(join(names_of(cfg.pipelines, "")));
      auto& declared = p->second.inputs;
      if (auto* v = field(doc, "inputs")) {
        if (!v->IsObject())
          wrong_type("inputs", "an object of string values", *v);
        for (auto& m : v->GetObject()) {
          auto key = string_of(m.name);
          if (std::find(declared.begin(), declared.end(), key) ==
              declared.end())
            fail("inputs." + key, "inputs." + key +
                                      ": not an input of "
                                      "pipeline " +
                                      quoted(call.name) +
                                      " (inputs: " + join(declared) + ")");
          call.inputs[key] = read_string(m.value, "inputs." + key);
        }
      }
      for (auto& input : declared)
        if (call.inputs.count(input) == 0)
          fail("inputs." + input, "inputs." + input +
                                      ": required by "
                                      "pipeline " +
                                      quoted(call.name) +
                                      " (inputs: " + join(declared) + ")");
      return call;
    }
    if (which == "ensemble") {
      if (cfg.ensembles.count(call.name) == 0)
        not_found(join(names_of(cfg.ensembles, "")));
    } else {
      call.of = run_call::kind::provider;
      if (cfg.providers.count(call.name) == 0)
        not_found(join(names_of(cfg.providers, "")));
    }
    auto* prompt = field(doc, "prompt");
    auto* messages = field(doc, "messages");
    if ((prompt == nullptr) == (messages == nullptr))
      fail("prompt", "request body: give exactly one of prompt or messages");
    if (prompt != nullptr)
      call.messages.push_back(
          chat_message{"user", read_string(*prompt, "prompt")});
    else
      call.messages = read_messages(*messages);
    check_image_count(call.messages);
    if (auto* v = field(doc, "system"))
      call.system = read_string(*v, "system");
    if (auto* v = field(doc, "stream"))
      call.stream = read_bool(*v, "stream");
    call.params = read_params(doc);
    return call;
  } catch (api_error& e) {
    return std::move(e);
  }
}

} // namespace tutti::http
