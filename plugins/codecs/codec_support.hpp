#pragma once

/// Small pieces every built-in codec needs the same way: quoting a body in a
/// failure message, case-insensitive text, reading and writing JSON with
/// rapidjson, and the HTTP status kinds all vendors agree on. What differs
/// between vendors stays in their codec.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/src/json_reader.hpp"
#include "tutti/codec.hpp"

namespace tutti::codec_support {

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

/// How much of an unexpected body a failure message quotes.
constexpr std::size_t quote_limit = 200;

/// At most `quote_limit` bytes of `text`, cut on a UTF-8 character boundary,
/// with "..." when something was left out.
std::string quote(std::string_view text);

/// `c` in lower case when it is an ASCII letter, else unchanged.
char ascii_lower(char c);

/// True when `a` and `b` are equal, ignoring ASCII case.
bool equals_ci(std::string_view a, std::string_view b);

/// True when `haystack` contains `needle`, ignoring ASCII case.
bool contains_ci(std::string_view haystack, std::string_view needle);

/// `text` without leading and trailing spaces, tabs, CRs and LFs.
std::string_view trim(std::string_view text);

/// `text` with every byte outside RFC 3986's unreserved set percent-encoded.
std::string url_encode(std::string_view text);

/// The provider's `base_url`, or `fallback` when it sets none, without
/// trailing slashes.
std::string_view base_url_of(const provider_settings& provider,
                             std::string_view fallback);

/// Which name a header keeps when `set_header` replaces it.
enum class replaced_name : uint8_t {
  ours,   ///< the name the codec wrote; only the value changes
  custom, ///< the name as the custom header spells it
};

/// Sets header `name` to `value`: replaces a header of that name (any case)
/// where there is one, so a custom header can override ours; else appends.
void set_header(header_list& headers, const std::string& name,
                const std::string& value, replaced_name keep);

/// Writes `text` as a JSON string.
void write_string(json_writer& w, std::string_view text);

/// Writes `key` as a JSON object key.
void write_key(json_writer& w, std::string_view key);

/// Writes `json` as a value: JSON text tutti itself wrote (a tool's
/// parameters schema, read and rewritten when the request came in).
void write_raw_json(json_writer& w, std::string_view json);

/// The function of the call `id` an earlier assistant turn of `turns`
/// made; empty when none did (vendors that name the function a tool result
/// is for, not the call).
std::string called_name(const std::vector<chat_message>& turns,
                        const std::string& id);

/// Writes `arguments`, a call's JSON text, as an object (text that is not
/// a JSON object, as `{}`): the vendors that take arguments as an object.
void write_arguments_object(json_writer& w, const std::string& arguments);

/// Writes a function's `name` and, when it has one, its `description`:
/// how every vendor's declaration of a tool starts.
void write_tool_head(json_writer& w, const tool_spec& tool);

/// The two vendors that take tools in OpenAI's shape, and where they differ.
enum class function_tools : uint8_t {
  openai, ///< no schema when the tool gave none; `strict` where it is set
  ollama, ///< always a schema (`{"type":"object"}` at least); no `strict`
};

/// Writes `"tools": [{type: "function", function: {name, description,
/// parameters, strict}}]` as `dialect` has it.
void write_function_tools(json_writer& w, const std::vector<tool_spec>& tools,
                          function_tools dialect);

/// `value` as compact JSON text (a parsed value is at most
/// `json_reader::default_max_depth` deep, so writing it recurses that far).
std::string json_text(const rapidjson::Value& value);

/// Writes `key: value` for the value of `own`, or failing that `fallback`;
/// nothing when neither is set or the value is not finite (JSON has no NaN
/// or infinity, so such a value is left to the server's default).
void write_double_param(json_writer& w, std::string_view key,
                        const std::optional<double>& own,
                        const std::optional<double>& fallback);

/// Writes `key: [values...]` as an array of strings.
void write_string_array(json_writer& w, std::string_view key,
                        const std::vector<std::string>& values);

/// The sampling parameters a request sends: each the request's own, else
/// the provider's default. A temperature or top_p that is not finite is
/// left out (JSON has no NaN or infinity; the server's default applies).
struct sampling {
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int64_t> max_tokens;
  std::optional<int64_t> seed;
  std::vector<std::string> stop;

  bool empty() const {
    return !temperature && !top_p && !max_tokens && !seed && stop.empty();
  }
};

sampling sampling_of(const chat_params& params, const chat_params& defaults);

/// What a vendor calls each sampling parameter inside its own object
/// (Gemini's `generationConfig`, Ollama's `options`, Bedrock's
/// `inferenceConfig`); a null name is one the vendor does not take.
struct sampling_names {
  const char* temperature;
  const char* top_p;
  const char* max_tokens;
  const char* seed;
  const char* stop;
};

/// Writes the parameters `s` sets as members of the object being written.
void write_sampling_members(json_writer& w, const sampling& s,
                            const sampling_names& names);

/// The member `name` of `obj`, or nullptr when absent or `obj` is no object.
const rapidjson::Value* member(const rapidjson::Value& obj,
                               std::string_view name);

/// The member `name` of `obj` when it is an object, else nullptr.
const rapidjson::Value* object_member(const rapidjson::Value& obj,
                                      std::string_view name);

/// The string member `name` of `obj`, or empty when absent or not a string.
std::string_view string_member(const rapidjson::Value& obj,
                               std::string_view name);

/// `value`, a JSON array of numbers, as floats; nothing (and `why` says
/// what is wrong) when it is no array, holds more than
/// `max_embedding_dimensions` items, or an item that is not a number or
/// lies beyond a float's range.
std::optional<std::vector<float>> read_vector(const rapidjson::Value& value,
                                              std::string& why);

/// `doc`'s `embeddings` array, one vector per input of `req`: each item
/// the vector itself, or, with `values_key`, an object holding it under
/// that key (Gemini's `values`). A `protocol` failure (quoting `body`)
/// says what is wrong.
std::variant<std::vector<std::vector<float>>, failure>
read_embeddings(const rapidjson::Value& doc, const embedding_request& req,
                std::string_view body, const char* values_key = nullptr);

/// Writes `key: [texts...]`, the inputs of an embeddings request.
void write_inputs(json_writer& w, std::string_view key,
                  const embedding_request& req);

/// A failure of `kind` saying `message`; `http_status` 0 when there was none.
failure make_failure(failure_kind kind, std::string message,
                     int http_status = 0);

/// Parses an upstream reply or event into `doc`, bounded as every JSON
/// tutti reads from outside is (engine/src/json_reader.hpp): no recursion,
/// no nesting deeper than 64 levels.
json_reader::parse_result parse_json(rapidjson::Document& doc,
                                     std::string_view text);

/// The `protocol` failure for `raw` that is not JSON (`parsed` says why) or,
/// when it parsed, not a JSON object; `what` names it ("response body",
/// "stream event").
failure malformed_json(std::string_view what,
                       const json_reader::parse_result& parsed,
                       std::string_view raw);

/// The message for an error response whose body gives none: the body
/// quoted, or "HTTP <status>" when it is blank.
std::string message_from_body(int status, std::string_view body);

/// The kind every vendor means by an HTTP status: 401 and 403 `auth`, 408
/// `timeout_total`, 429 `rate_limited`, 503 and 529 `overloaded`, other 5xx
/// `server`. Nothing for the rest, which each codec judges by what the body
/// says.
std::optional<failure_kind> kind_from_common_status(int64_t status);

} // namespace tutti::codec_support
