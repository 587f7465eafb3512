// OpenAI's Responses API (POST /v1/responses): its request body read into
// a `chat_call` (responses_api.cpp writes the replies): `input` items,
// `instructions`, flat function tools, `tool_choice`, `text.format`.

#include "server/client_api.hpp"
#include "server/request_fields.hpp"

namespace tutti::http {

namespace {

using namespace fields;

/// `{type: "input_image", image_url, detail}`; a `file_id` is refused
/// (tutti keeps no files).
image_ref read_image_part(const json_value& part, const std::string& at) {
  if (field(part, "file_id") != nullptr)
    unsupported(at + ".file_id", at + ".file_id: tutti keeps no files; give "
                                      "the image as image_url (a data: or "
                                      "http(s) URL)");
  auto* url = field(part, "image_url");
  if (url == nullptr)
    fail(at + ".image_url", at + ".image_url: required");
  auto ref = read_image_url(*url, at + ".image_url");
  if (auto* detail = field(part, "detail"))
    ref.detail = read_image_detail(*detail, at + ".detail");
  return ref;
}

/// A content array's text and images: input_text, output_text, refusal
/// and input_image parts.
const text_parts content_parts{
    "a string or an array of content parts",
    "an object like {\"type\": \"input_text\", \"text\": ...}",
    {"input_text", "output_text", "text", "refusal"},
    "only input_text, input_image, output_text and refusal parts are "
    "supported",
    "input_image",
    read_image_part};

std::string read_role(const json_value& item, const std::string& at) {
  auto* role = field(item, "role");
  if (role == nullptr)
    fail(at + ".role", at + ".role: required");
  auto name = read_string(*role, at + ".role");
  if (name == "developer")
    name = "system";
  if (name != "system" && name != "user" && name != "assistant")
    fail(at + ".role", at +
                           ".role: expected one of user, assistant, system, "
                           "developer, got " +
                           quoted(name));
  return name;
}

/// The turns `input` holds: a string is one user turn; an array holds
/// messages, function calls (joined to the assistant turn before them) and
/// their outputs (tool turns).
void read_input(const json_value& v, std::vector<chat_message>& turns) {
  if (v.IsString()) {
    turns.emplace_back("user", string_of(v));
    return;
  }
  if (!v.IsArray())
    wrong_type("input", "a string or an array of input items", v);
  if (v.Empty())
    fail("input", "input: expected at least one item");
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    auto at = "input[" + std::to_string(i) + "]";
    auto& item = v[i];
    if (!item.IsObject())
      wrong_type(at, "an input item (an object)", item);
    std::string kind = "message";
    if (auto* type = field(item, "type"))
      kind = read_string(*type, at + ".type");
    if (kind == "message") {
      chat_message turn;
      turn.role = read_role(item, at);
      auto* content = field(item, "content");
      if (content == nullptr)
        fail(at + ".content", at + ".content: required");
      read_content(*content, at + ".content", content_parts, turn);
      turns.push_back(std::move(turn));
    } else if (kind == "function_call") {
      tool_call call;
      auto* id = field(item, "call_id");
      if (id == nullptr)
        fail(at + ".call_id", at + ".call_id: required");
      call.id = read_string(*id, at + ".call_id");
      auto* name = field(item, "name");
      if (name == nullptr)
        fail(at + ".name", at + ".name: required");
      call.name = read_function_name(*name, at + ".name");
      call.arguments = "{}";
      if (auto* arguments = field(item, "arguments"))
        call.arguments = read_string(*arguments, at + ".arguments");
      if (turns.empty() || turns.back().role != "assistant")
        turns.emplace_back("assistant", "");
      if (turns.back().tool_calls.size() >= max_tool_calls)
        fail(at, at + ": at most " + std::to_string(max_tool_calls) +
                     " function calls in one turn");
      turns.back().tool_calls.push_back(std::move(call));
    } else if (kind == "function_call_output") {
      chat_message turn;
      turn.role = "tool";
      auto* id = field(item, "call_id");
      if (id == nullptr)
        fail(at + ".call_id", at + ".call_id: required (the call it answers)");
      turn.tool_call_id = read_string(*id, at + ".call_id");
      auto* output = field(item, "output");
      if (output == nullptr)
        fail(at + ".output", at + ".output: required");
      turn.content = read_text_parts(*output, at + ".output", content_parts);
      turns.push_back(std::move(turn));
    } else if (kind == "reasoning") {
      // A reasoning model's own notes, sent back by clients that keep the
      // output items: no other vendor can read them, so they are left out.
    } else {
      unsupported(at + ".type", at +
                                    ".type: expected message, function_call, "
                                    "function_call_output or reasoning, got " +
                                    quoted(kind));
    }
  }
}

/// `tools`: `[{type: "function", name, description, parameters, strict}]`.
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
      wrong_type(at, "an object like {\"type\": \"function\", \"name\": ...}",
                 t);
    auto* type = field(t, "type");
    if (type == nullptr)
      fail(at + ".type", at + ".type: required");
    if (auto kind = read_string(*type, at + ".type"); kind != "function")
      unsupported(at + ".type", at +
                                    ".type: only \"function\" tools are "
                                    "supported (no hosted tools), got " +
                                    quoted(kind));
    tool_spec tool;
    auto* name = field(t, "name");
    if (name == nullptr)
      fail(at + ".name", at + ".name: required");
    tool.name = read_function_name(*name, at + ".name");
    if (auto* d = field(t, "description"))
      tool.description = read_string(*d, at + ".description");
    if (auto* p = field(t, "parameters"))
      tool.parameters = read_schema(*p, at + ".parameters");
    if (auto* strict = field(t, "strict"))
      tool.strict = read_bool(*strict, at + ".strict");
    add_tool(tools, std::move(tool), at + ".name");
  }
  return tools;
}

/// "none", "auto", "required" or `{type: "function", name}`.
tool_choice read_tool_choice(const json_value& v,
                             const std::vector<tool_spec>& tools) {
  tool_choice choice;
  if (v.IsString()) {
    choice =
        read_tool_choice_word(v, "{\"type\": \"function\", \"name\": ...}");
  } else if (v.IsObject()) {
    auto* type = field(v, "type");
    if (type == nullptr)
      fail("tool_choice.type", "tool_choice.type: required");
    if (auto kind = read_string(*type, "tool_choice.type"); kind != "function")
      unsupported("tool_choice.type",
                  "tool_choice.type: only \"function\" is supported, got " +
                      quoted(kind));
    auto* name = field(v, "name");
    if (name == nullptr)
      fail("tool_choice.name", "tool_choice.name: required");
    choice.mode = "function";
    choice.name = read_function_name(*name, "tool_choice.name");
  } else {
    wrong_type("tool_choice", "a string or an object", v);
  }
  check_tool_choice(choice, tools, "tool_choice", "tool_choice.name");
  return choice;
}

/// `text.format`: `{type: "text"}`, `{type: "json_object"}` or `{type:
/// "json_schema", name, schema, strict}`.
response_format read_text_format(const json_value& text) {
  if (!text.IsObject())
    wrong_type("text", "an object with a format", text);
  if (auto* verbosity = field(text, "verbosity");
      verbosity != nullptr &&
      read_string(*verbosity, "text.verbosity") != "medium")
    unsupported("text.verbosity", "text.verbosity: only \"medium\" (every "
                                  "model's default) is supported");
  response_format format;
  auto* v = field(text, "format");
  if (v == nullptr)
    return format;
  if (!v->IsObject())
    wrong_type("text.format", "an object with a type", *v);
  auto* type = field(*v, "type");
  if (type == nullptr)
    fail("text.format.type", "text.format.type: required");
  format.type = read_string(*type, "text.format.type");
  if (format.type != "text" && format.type != "json_object" &&
      format.type != "json_schema")
    fail("text.format.type", "text.format.type: expected text, json_object "
                             "or json_schema, got " +
                                 quoted(format.type));
  if (format.type != "json_schema")
    return format;
  auto* name = field(*v, "name");
  if (name == nullptr)
    fail("text.format.name", "text.format.name: required");
  format.name = read_function_name(*name, "text.format.name");
  auto* schema = field(*v, "schema");
  if (schema == nullptr)
    fail("text.format.schema", "text.format.schema: required");
  format.schema = read_schema(*schema, "text.format.schema");
  if (auto* strict = field(*v, "strict"))
    format.strict = read_bool(*strict, "text.format.strict");
  return format;
}

chat_params read_params(const json_value& body) {
  chat_params params;
  if (auto* v = field(body, "temperature"))
    params.temperature = read_number(*v, "temperature", 0, 2);
  if (auto* v = field(body, "top_p"))
    params.top_p = read_number(*v, "top_p", 0, 1);
  if (auto* v = field(body, "max_output_tokens"))
    params.max_tokens = read_max_tokens(*v, "max_output_tokens");
  if (auto* v = field(body, "reasoning")) {
    if (!v->IsObject())
      wrong_type("reasoning", "an object", *v);
    // `summary` asks for a summary of the reasoning the answer does not
    // carry anyway; only the effort reaches a vendor.
    if (auto* e = field(*v, "effort"))
      params.reasoning_effort = read_reasoning_effort(*e, "reasoning.effort");
  }
  if (auto* v = field(body, "tools"))
    params.tools = read_tools(*v);
  if (auto* v = field(body, "tool_choice"))
    params.tool_choice = read_tool_choice(*v, params.tools);
  if (auto* v = field(body, "parallel_tool_calls"))
    params.parallel_tool_calls = read_bool(*v, "parallel_tool_calls");
  if (auto* v = field(body, "text"))
    params.response_format = read_text_format(*v);
  return params;
}

/// What tutti cannot honour: a 400 rather than something else done.
void reject_unsupported(const json_value& body) {
  for (auto* name : {"previous_response_id", "conversation"})
    if (field(body, name) != nullptr)
      unsupported(name, std::string{name} +
                            ": tutti keeps no responses; send the whole "
                            "conversation in input (or continue one with "
                            "tutti.session)");
  if (auto* v = field(body, "background");
      v != nullptr && read_bool(*v, "background"))
    unsupported("background", "background: not supported; stream the "
                              "response instead");
  if (field(body, "prompt") != nullptr)
    unsupported("prompt", "prompt: stored prompt templates are not supported");
  if (auto* v = field(body, "top_logprobs");
      v != nullptr && read_integer(*v, "top_logprobs") != 0)
    unsupported("top_logprobs", "top_logprobs: not supported");
  if (auto* v = field(body, "include"); v != nullptr) {
    if (!v->IsArray())
      wrong_type("include", "an array", *v);
    if (!v->Empty())
      unsupported("include", "include: no extra output is supported");
  }
}

} // namespace

std::variant<chat_call, api_error>
parse_responses_request(std::string_view body, const config& cfg) {
  try {
    auto doc = parse_object(body);
    chat_call call;
    call.model = read_model(doc);
    if (auto* v = field(doc, "instructions")) {
      call.instructions = read_string(*v, "instructions");
      call.messages.emplace_back("system", *call.instructions);
    }
    auto* input = field(doc, "input");
    if (input == nullptr)
      fail("input", "input: required");
    read_input(*input, call.messages);
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

} // namespace tutti::http
