#pragma once

/// Reading a client's JSON request body, shared by the client APIs
/// (openai_requests.cpp, responses_api.cpp, messages_api.cpp): typed reads
/// that throw an `api_error` naming the field at fault, the checks on names
/// and numbers every API applies alike, and the model a request names.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "server/openai.hpp"

namespace tutti::http::fields {

using json_value = rapidjson::Value;

/// Tools one request may offer (OpenAI's own limit).
constexpr size_t max_tools = 128;

/// "null", "a boolean", "a number", "a string", "an array", "an object".
std::string type_name(const json_value& v);
std::string string_of(const json_value& v);
std::string quoted(const std::string& text);
std::string join(const std::vector<std::string>& items);

/// The keys of `map`, each after `prefix`.
template <class Map>
std::vector<std::string> names_of(const Map& map, const std::string& prefix) {
  std::vector<std::string> names;
  for (auto& [name, value] : map)
    names.push_back(prefix + name);
  return names;
}

/// The member `name` of `object`; nullptr when it is absent or null (both
/// read as "not given").
const json_value* field(const json_value& object, const char* name);

/// Throw the 400 for `param`.
[[noreturn]] void fail(std::string param, std::string message,
                       std::string code = "invalid_value");
[[noreturn]] void unsupported(std::string param, std::string message);
[[noreturn]] void wrong_type(const std::string& param, const std::string& want,
                             const json_value& got);

std::string read_string(const json_value& v, const std::string& param);
bool read_bool(const json_value& v, const std::string& param);
double read_number(const json_value& v, const std::string& param, double low,
                   double high);
int64_t read_integer(const json_value& v, const std::string& param);
/// A token limit: 1 to `max_tokens_limit`.
int64_t read_max_tokens(const json_value& v, const std::string& param);

/// The body as a JSON object (depth, size and UTF-8 checked), or a 400.
rapidjson::Document parse_object(std::string_view body);

/// A function name as OpenAI takes it: 1 to 64 letters, digits, '_' and
/// '-'.
std::string read_function_name(const json_value& v, const std::string& param);

/// `v` as compact JSON text (the parse limits its depth, so writing it
/// recurses no deeper).
std::string compact_json(const json_value& v);

/// How a client API writes text as parts: the kinds of part it takes (each
/// kind's text under `text`, a refusal's under `refusal`) and the words
/// its errors use for the whole, for one part, and for what it takes.
struct text_parts {
  const char* whole; ///< "a string or an array of text parts"
  const char* part;  ///< "an object like {\"type\": \"text\", ...}"
  std::vector<std::string> kinds;
  const char* only; ///< "only \"text\" parts are supported"
  /// The kind of part that holds an image ("image_url", "input_image");
  /// nullptr: the API takes none here.
  const char* image_kind = nullptr;
  /// Reads a part of `image_kind` (`at` names it).
  image_ref (*read_image)(const json_value& part,
                          const std::string& at) = nullptr;
};

/// Text given as a string, or as an array of `form`'s parts joined with
/// newlines.
std::string read_text_parts(const json_value& v, const std::string& param,
                            const text_parts& form);

/// A message's content as `read_text_parts` reads it, images included
/// where `form` takes them: `into.content` is its text, and `into.parts`
/// every part when one is an image. Only a user turn (`into.role`) may
/// hold an image.
void read_content(const json_value& v, const std::string& param,
                  const text_parts& form, chat_message& into);

/// An image given by URL: a `data:` URL of a PNG, JPEG, GIF or WebP image
/// in base64 (its bytes are sent inline) or an http(s) URL (passed to
/// vendors that fetch one). Anything else is a 400 naming `param`.
image_ref read_image_url(const json_value& v, const std::string& param);

/// An image's bytes in base64 with their media type, checked as a `data:`
/// URL's are.
image_ref inline_image(std::string media_type, std::string data,
                       const std::string& param);

/// OpenAI's image `detail`: low, high or auto.
std::string read_image_detail(const json_value& v, const std::string& param);

/// More than `max_images_per_request` images in `messages` is a 400.
void check_image_count(const std::vector<chat_message>& messages);

/// A reasoning effort: minimal, low, medium or high.
std::string read_reasoning_effort(const json_value& v,
                                  const std::string& param);

/// A JSON Schema object (tool parameters, a response schema) as compact
/// JSON text.
std::string read_schema(const json_value& v, const std::string& param);

/// `tool_choice` given as a word: none, auto or required; `object` is how
/// the API writes the other form, for the error.
tool_choice read_tool_choice_word(const json_value& v,
                                  const std::string& object);

/// Checks that `choice` can be honoured with `tools`: a mode other than
/// none and auto needs tools, and a named function must be one of them.
void check_tool_choice(const tool_choice& choice,
                       const std::vector<tool_spec>& tools,
                       const std::string& param, const std::string& name_param);

/// Adds `tool` to `tools` unless another has its name.
void add_tool(std::vector<tool_spec>& tools, tool_spec tool,
              const std::string& name_param);

/// The `tutti` member every client API takes: members, session, combine
/// and settings.
void read_tutti_extension(const json_value& body, chat_call& call);

/// The body's `model`, required: what the client asks, echoed in replies.
std::string read_model(const json_value& body);

/// The target a model name asks: a provider's name or ensemble/NAME; an
/// unknown one is a 404 listing what there is.
tutti::target resolve_model(const std::string& model, const config& cfg);

/// Sets `call.to`: the model resolved, or, when the request defines its
/// own ensemble, an ensemble target the model names (not a name the
/// config already uses).
void resolve_target(chat_call& call, const config& cfg);

} // namespace tutti::http::fields
