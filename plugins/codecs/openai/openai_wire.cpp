#include "plugins/codecs/openai/openai_wire.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>

#include "plugins/codecs/codec_support.hpp"
#include "plugins/codecs/openai/openai_errors.hpp"
#include "tutti/retry.hpp"

// The OpenAI Chat Completions wire format (POST .../chat/completions), whole
// and streamed as server-sent events, as OpenAI, Azure OpenAI and the servers
// that copy them (Ollama, vLLM, llama.cpp, Groq, DeepSeek, ...) speak it. The
// decoding is tolerant of what the copies really send; docs/codecs.md lists
// every shape read and how errors map to failure kinds.

namespace tutti {

namespace {

using namespace codec_support;
using namespace openai_errors;

/// The whole number member `name` of `obj`; 0 when absent, negative or not
/// a number. Integral doubles (`12.0`) count.
int64_t count_member(const rapidjson::Value& obj, std::string_view name) {
  auto* value = member(obj, name);
  if (value == nullptr || !value->IsNumber()) {
    return 0;
  }
  if (value->IsInt64()) {
    return std::max<int64_t>(0, value->GetInt64());
  }
  auto number = value->GetDouble();
  if (!std::isfinite(number) || number < 0 || number > 9.0e18) {
    return 0;
  }
  return static_cast<int64_t>(number);
}

/// The token counts of an OpenAI `usage` object. Cached input comes from
/// `prompt_tokens_details.cached_tokens`, or DeepSeek's
/// `prompt_cache_hit_tokens` where that is absent.
tutti::usage usage_from(const rapidjson::Value& obj) {
  tutti::usage result;
  result.input_tokens = count_member(obj, "prompt_tokens");
  result.output_tokens = count_member(obj, "completion_tokens");
  if (auto* details = object_member(obj, "prompt_tokens_details");
      details != nullptr && member(*details, "cached_tokens") != nullptr) {
    result.cached_input_tokens = count_member(*details, "cached_tokens");
  } else {
    result.cached_input_tokens = count_member(obj, "prompt_cache_hit_tokens");
  }
  return result;
}

/// The usage a reply or chunk reports: its `usage` object, or Groq's
/// `x_groq.usage`; nothing when neither is there (or either is null).
std::optional<tutti::usage> reported_usage(const rapidjson::Value& doc) {
  if (auto* u = object_member(doc, "usage")) {
    return usage_from(*u);
  }
  if (auto* groq = object_member(doc, "x_groq")) {
    if (auto* u = object_member(*groq, "usage")) {
      return usage_from(*u);
    }
  }
  return std::nullopt;
}

/// The text of a `content` value: a string as it is, or the `text` of the
/// text parts of an array of parts (Mistral's reasoning models; "thinking"
/// parts are left out). Nothing when it is absent, null or anything else.
std::optional<std::string> content_text(const rapidjson::Value* content) {
  if (content == nullptr) {
    return std::nullopt;
  }
  if (content->IsString()) {
    return std::string{content->GetString(), content->GetStringLength()};
  }
  if (!content->IsArray()) {
    return std::nullopt;
  }
  std::string text;
  for (const auto& part : content->GetArray()) {
    if (part.IsString()) {
      text.append(part.GetString(), part.GetStringLength());
    } else if (auto type = string_member(part, "type");
               type.empty() || type == "text") {
      text += string_member(part, "text");
    }
  }
  return text;
}

/// The tool calls in `holder` (a message or a stream delta), as pieces:
/// `tool_calls[]` with their `index` (a whole message's are numbered in
/// order), `id` and `function.name` / `function.arguments`; and the legacy
/// `function_call`, as call 0. A streamed call names itself in its first
/// piece only; later pieces carry more of its arguments.
std::vector<tool_call_delta> tool_call_pieces(const rapidjson::Value& holder) {
  std::vector<tool_call_delta> pieces;
  auto arguments_of = [](const rapidjson::Value& function) {
    auto* arguments = member(function, "arguments");
    if (arguments == nullptr || arguments->IsNull())
      return std::string{};
    if (arguments->IsString())
      return std::string{arguments->GetString(), arguments->GetStringLength()};
    // Some copies send the arguments as an object, not its text.
    return json_text(*arguments);
  };
  if (auto* calls = member(holder, "tool_calls");
      calls != nullptr && calls->IsArray()) {
    size_t position = 0;
    for (const auto& call : calls->GetArray()) {
      tool_call_delta piece;
      piece.index = position++;
      if (auto* index = member(call, "index");
          index != nullptr && index->IsUint64())
        piece.index = static_cast<size_t>(
            std::min<uint64_t>(index->GetUint64(), max_tool_calls + 1));
      piece.id = string_member(call, "id");
      if (auto* function = object_member(call, "function")) {
        piece.name = string_member(*function, "name");
        piece.arguments = arguments_of(*function);
      }
      pieces.push_back(std::move(piece));
    }
  }
  if (auto* function = object_member(holder, "function_call")) {
    tool_call_delta piece;
    piece.name = string_member(*function, "name");
    piece.arguments = arguments_of(*function);
    pieces.push_back(std::move(piece));
  }
  return pieces;
}

/// The string member `name` of `obj` as a std::string; empty when absent.
std::string string_of(const rapidjson::Value& obj, std::string_view name) {
  return std::string{string_member(obj, name)};
}

/// The finish reason in OpenAI's words: servers built on other stacks say
/// "eos" (end of sequence), "eos_token" or "stop_sequence" for "stop".
/// A choice's `logprobs.content` entries as compact JSON joined with
/// commas; "" when it has none.
std::string logprob_entries(const rapidjson::Value& choice) {
  auto* logprobs = object_member(choice, "logprobs");
  if (logprobs == nullptr)
    return {};
  auto* content = member(*logprobs, "content");
  if (content == nullptr || !content->IsArray() || content->Empty())
    return {};
  // The array's text without its brackets.
  auto text = json_text(*content);
  return text.substr(1, text.size() - 2);
}

/// A choice's `index`, or its place in the array when it has none;
/// `max_choices` + 1 for any beyond the limit (the reply then fails).
size_t choice_index(const rapidjson::Value& choice, size_t position) {
  if (auto* index = member(choice, "index");
      index != nullptr && index->IsUint64())
    return static_cast<size_t>(std::min<uint64_t>(
        index->GetUint64(), static_cast<uint64_t>(max_choices) + 1));
  return std::min(position, static_cast<size_t>(max_choices) + 1);
}

std::string normalized_finish_reason(std::string_view reason);

/// Another choice's `message` (whole) or `delta` (streamed) as an update.
choice_update choice_update_of(const rapidjson::Value& choice,
                               const rapidjson::Value& message, size_t index) {
  choice_update update;
  update.index = index;
  update.text = content_text(member(message, "content")).value_or("");
  update.refusal = string_of(message, "refusal");
  update.tool_calls = tool_call_pieces(message);
  update.logprobs = logprob_entries(choice);
  update.finish_reason =
      normalized_finish_reason(string_member(choice, "finish_reason"));
  return update;
}

std::string normalized_finish_reason(std::string_view reason) {
  if (reason == "eos" || reason == "eos_token" || reason == "stop_sequence") {
    return "stop";
  }
  return std::string{reason};
}

/// The YAML key of a dialect that takes an `api-version` query (Azure).
constexpr std::string_view api_version_key = "api_version";

/// Letters, digits, '-', '.' and '_', such as 2024-10-21 or
/// 2024-12-01-preview: it becomes a URL query value.
std::string check_api_version(std::string_view text) {
  bool plain =
      !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' ||
               c == '.' || c == '_';
      });
  return plain ? std::string{}
               : "expected an API version such as 2024-10-21 (letters, "
                 "digits, '-', '.' and '_')";
}

/// One budget from OpenAI's `x-ratelimit-limit-*` / `-remaining-*` /
/// `-reset-*` (a Go duration until the budget is whole again), which many
/// OpenAI-compatible servers send too. Azure sends what is left without a
/// reset: unknown.
server_allowance openai_allowance(const header_list& headers,
                                  const std::string& budget) {
  server_allowance result;
  auto remaining = header_count(headers, "x-ratelimit-remaining-" + budget);
  auto* reset = find_header(headers, "x-ratelimit-reset-" + budget);
  if (!remaining || reset == nullptr) {
    return result;
  }
  if (auto ms = parse_go_duration_ms(*reset)) {
    result.limit =
        header_count(headers, "x-ratelimit-limit-" + budget).value_or(-1);
    result.remaining = *remaining;
    result.reset_in_ms = *ms;
  }
  return result;
}

class openai_wire_codec final : public codec {
public:
  explicit openai_wire_codec(openai_dialect dialect)
      : dialect_(std::move(dialect)) {}

  std::string default_base_url() const override {
    return dialect_.default_base_url;
  }

  std::vector<std::string> key_headers() const override {
    return {dialect_.key_header == openai_key_header::api_key
                ? "api-key"
                : "authorization"};
  }

  std::vector<codec_key> keys() const override {
    if (dialect_.default_api_version.empty()) {
      return {};
    }
    return {codec_key{std::string{api_version_key}, check_api_version}};
  }

  bool accepts_unterminated_stream() const override {
    return dialect_.accepts_unterminated_stream;
  }

  bool takes_tools() const override { return true; }

  bool takes_response_format() const override { return true; }
  bool takes_images() const override { return true; }
  bool takes_image_urls() const override { return true; }

  bool takes_param(std::string_view) const override { return true; }

  bool takes_embeddings() const override { return true; }

  bool takes_embedding_dimensions() const override { return true; }

  /// 256 texts a call: a reply of 2048 vectors of 1536 numbers as JSON
  /// text is some 40 MB, beyond the provider's body limit.
  std::size_t max_embedding_batch() const override { return 256; }

  http_request
  encode_embedding(const embedding_request& req,
                   const provider_settings& provider) const override {
    http_request result;
    result.method = "POST";
    result.url = url_for(provider, "/embeddings");
    result.headers = headers_for(provider, false);
    rapidjson::StringBuffer buffer;
    json_writer w{buffer};
    w.StartObject();
    write_key(w, "model");
    write_string(w, embedding_model_of(provider));
    write_inputs(w, "input", req);
    if (req.dimensions > 0) {
      write_key(w, "dimensions");
      w.Int64(req.dimensions);
    }
    w.EndObject();
    result.body = {buffer.GetString(), buffer.GetSize()};
    return result;
  }

  /// `{"data": [{"index": i, "embedding": [...]}], "usage": {...}}`; the
  /// vectors placed by their `index` (in order where a server leaves it
  /// out).
  body_result decode_embedding(std::string_view body,
                               const embedding_request& req) const override {
    rapidjson::Document doc;
    auto parsed = parse_json(doc, body);
    if (!parsed || !doc.IsObject()) {
      return malformed_json("response body", parsed, body);
    }
    if (auto err = vendor_error_from(doc); err.found) {
      return failure_from_vendor_error(err, body);
    }
    auto* data = member(doc, "data");
    if (data == nullptr || !data->IsArray()) {
      return make_failure(failure_kind::protocol,
                          "embeddings reply has no data array: " + quote(body));
    }
    if (data->Size() != req.inputs.size()) {
      return make_failure(failure_kind::protocol,
                          "embeddings reply: " + std::to_string(data->Size()) +
                              " vectors for " +
                              std::to_string(req.inputs.size()) + " inputs");
    }
    std::vector<std::vector<float>> vectors(data->Size());
    std::vector<bool> placed(data->Size(), false);
    size_t position = 0;
    for (const auto& item : data->GetArray()) {
      auto at = position++;
      if (auto* index = member(item, "index"); index != nullptr) {
        if (!index->IsUint64() || index->GetUint64() >= vectors.size()) {
          return make_failure(failure_kind::protocol,
                              "embeddings reply: an index out of range: " +
                                  quote(body));
        }
        at = static_cast<size_t>(index->GetUint64());
      }
      if (placed[at]) {
        return make_failure(failure_kind::protocol, "embeddings reply: index " +
                                                        std::to_string(at) +
                                                        " given twice");
      }
      auto* embedding = member(item, "embedding");
      std::string why;
      auto vector =
          embedding == nullptr ? std::nullopt : read_vector(*embedding, why);
      if (!vector) {
        return make_failure(
            failure_kind::protocol,
            "embeddings reply: " +
                (why.empty() ? std::string{"an item has no embedding"} : why) +
                " (item " + std::to_string(at) + ")");
      }
      vectors[at] = std::move(*vector);
      placed[at] = true;
    }
    tutti::usage used;
    if (auto tokens = reported_usage(doc)) {
      used = *tokens;
    }
    return embedding_outcome(std::move(vectors), used, req);
  }

  http_request encode(const chat_request& req,
                      const provider_settings& provider) const override {
    http_request result;
    result.method = "POST";
    result.url = url_for(provider, "/chat/completions");
    result.headers = headers_for(provider, req.stream);
    result.body = encode_body(req, provider);
    return result;
  }

  body_result decode_body(std::string_view body) const override {
    rapidjson::Document doc;
    auto parsed = parse_json(doc, body);
    if (!parsed || !doc.IsObject()) {
      return malformed_json("response body", parsed, body);
    }
    if (auto err = vendor_error_from(doc); err.found) {
      return failure_from_vendor_error(err, body);
    }
    auto* choices = member(doc, "choices");
    if (choices == nullptr || !choices->IsArray() || choices->Empty()) {
      return make_failure(failure_kind::protocol,
                          "response has no choices: " + quote(body));
    }
    // The first choice is the reply; others (`n` > 1) are its other
    // choices.
    const rapidjson::Value* first = nullptr;
    stream_update others;
    for (rapidjson::SizeType i = 0; i < choices->Size(); ++i) {
      const auto& one = (*choices)[i];
      auto index = choice_index(one, i);
      auto* said = object_member(one, "message");
      if (index == 0 && first == nullptr) {
        first = &one;
        continue;
      }
      if (index == 0 || said == nullptr) {
        return make_failure(failure_kind::protocol,
                            "response choice " + std::to_string(i) +
                                " is a second first choice, or has no "
                                "message: " +
                                quote(body));
      }
      auto update = choice_update_of(one, *said, index);
      if (update.finish_reason == "error") {
        return finished_with_error();
      }
      others.other_choices.push_back(std::move(update));
    }
    if (first == nullptr) {
      return make_failure(failure_kind::protocol,
                          "response has no first choice (index 0): " +
                              quote(body));
    }
    const auto& choice = *first;
    auto* message = object_member(choice, "message");
    if (message == nullptr) {
      return make_failure(failure_kind::protocol,
                          "response choice has no message: " + quote(body));
    }
    reply_parts reply;
    add_update(reply, others);
    reply.finish_reason =
        normalized_finish_reason(string_member(choice, "finish_reason"));
    if (reply.finish_reason == "error") {
      return finished_with_error();
    }
    // A null or absent content is no text (a refusal, a tool call, a
    // reasoning model that spent every token thinking); `reply_outcome`
    // judges what the reply holds instead.
    if (auto* content = member(*message, "content");
        content != nullptr && !content->IsNull()) {
      auto text = content_text(content);
      if (!text) {
        return make_failure(failure_kind::protocol,
                            "response message content is neither text nor "
                            "a list of parts: " +
                                quote(body));
      }
      reply.text = std::move(*text);
    }
    reply.refusal = string_of(*message, "refusal");
    stream_update calls;
    calls.tool_calls = tool_call_pieces(*message);
    calls.logprobs = logprob_entries(choice);
    add_update(reply, calls);
    if (auto tokens = reported_usage(doc)) {
      reply.usage = *tokens;
    }
    return reply_outcome(std::move(reply));
  }

  stream_update decode_event(const stream_event& event) const override {
    stream_update update;
    auto data = trim(event.data);
    if (data.empty()) {
      return update;
    }
    if (data == "[DONE]") {
      update.terminal = true;
      return update;
    }
    rapidjson::Document doc;
    auto parsed = parse_json(doc, data);
    if (!parsed || !doc.IsObject()) {
      update.error = malformed_json("stream event", parsed, data);
      return update;
    }
    if (auto err = vendor_error_from(doc); err.found) {
      update.error = failure_from_vendor_error(err, data);
      return update;
    }
    // Azure's first chunks carry `prompt_filter_results` and no choices;
    // such a chunk, like the usage chunk, adds no text.
    if (auto* choices = member(doc, "choices");
        choices != nullptr && choices->IsArray()) {
      for (rapidjson::SizeType i = 0; i < choices->Size(); ++i) {
        const auto& choice = (*choices)[i];
        auto index = choice_index(choice, i);
        auto* delta = object_member(choice, "delta");
        if (index != 0) {
          // Another choice of a reply asked for several (`n`).
          auto other = delta != nullptr
                           ? choice_update_of(choice, *delta, index)
                           : choice_update{};
          other.index = index;
          if (delta == nullptr)
            other.finish_reason = normalized_finish_reason(
                string_member(choice, "finish_reason"));
          if (other.finish_reason == "error") {
            update.error = finished_with_error();
            return update;
          }
          update.other_choices.push_back(std::move(other));
          continue;
        }
        if (delta != nullptr) {
          // `reasoning_content` (DeepSeek, vLLM, llama.cpp) is not the
          // reply.
          update.text = content_text(member(*delta, "content")).value_or("");
          update.refusal = string_of(*delta, "refusal");
          update.tool_calls = tool_call_pieces(*delta);
        }
        update.logprobs = logprob_entries(choice);
        update.finish_reason =
            normalized_finish_reason(string_member(choice, "finish_reason"));
        if (update.finish_reason == "error") {
          update.error = finished_with_error();
          return update;
        }
      }
    }
    // Each usage OpenAI-style servers send holds the totals so far.
    if (auto tokens = reported_usage(doc)) {
      update.usage = usage_totals(*tokens);
    }
    return update;
  }

  server_limits server_limits_of(const header_list& headers,
                                 int64_t) const override {
    server_limits result;
    result.requests = openai_allowance(headers, "requests");
    result.tokens = openai_allowance(headers, "tokens");
    return result;
  }

  failure classify_error(int status, std::string_view body,
                         const header_list&) const override {
    vendor_error err;
    rapidjson::Document doc;
    auto parsed = parse_json(doc, body);
    if (parsed) {
      err = vendor_error_from(doc);
    }
    auto kind = kind_from_status(status, err);
    auto message = message_of(err);
    if (message.empty()) {
      message = message_from_body(status, body);
    }
    if (err.code == "insufficient_quota" && !contains_ci(message, "quota")) {
      message = "insufficient quota: " + message;
    }
    return make_failure(kind, std::move(message), status);
  }

private:
  /// The JSON content type, the key as the dialect sends it, the stream's
  /// Accept; then the custom headers, each replacing one of ours with the
  /// same name, so that it is never sent twice.
  header_list headers_for(const provider_settings& provider,
                          bool stream) const {
    header_list headers;
    headers.emplace_back("Content-Type", "application/json");
    if (!provider.api_key.empty()) {
      if (dialect_.key_header == openai_key_header::api_key) {
        headers.emplace_back("api-key", provider.api_key);
      } else {
        headers.emplace_back("Authorization", "Bearer " + provider.api_key);
      }
    }
    if (stream) {
      headers.emplace_back("Accept", "text/event-stream");
    }
    for (const auto& [name, value] : provider.extra_headers) {
      std::erase_if(headers, [&name = name](const auto& header) {
        return equals_ci(header.first, name);
      });
    }
    headers.insert(headers.end(), provider.extra_headers.begin(),
                   provider.extra_headers.end());
    return headers;
  }

  /// `{base_url}{path}` (`/chat/completions`, `/embeddings`), with
  /// `?api-version=` for dialects that take one.
  std::string url_for(const provider_settings& provider,
                      std::string_view path) const {
    auto url = std::string{base_url_of(provider, dialect_.default_base_url)} +
               std::string{path};
    if (!dialect_.default_api_version.empty()) {
      auto given = provider.options.find(std::string{api_version_key});
      const auto& version = given == provider.options.end()
                                ? dialect_.default_api_version
                                : given->second;
      url += "?api-version=" + url_encode(version);
    }
    return url;
  }

  /// Text and image parts: `{type: "image_url", image_url: {url, detail}}`,
  /// inline bytes as a data: URL.
  static void write_content_parts(json_writer& w,
                                  const std::vector<content_part>& parts) {
    w.StartArray();
    for (const auto& part : parts) {
      w.StartObject();
      write_key(w, "type");
      if (!part.is_image()) {
        write_string(w, "text");
        write_key(w, "text");
        write_string(w, part.text);
      } else {
        write_string(w, "image_url");
        write_key(w, "image_url");
        w.StartObject();
        write_key(w, "url");
        const auto& image = part.image;
        if (image.inline_bytes())
          write_string(w, "data:" + image.media_type + ";base64," + image.data);
        else
          write_string(w, image.url);
        if (!image.detail.empty()) {
          write_key(w, "detail");
          write_string(w, image.detail);
        }
        w.EndObject();
      }
      w.EndObject();
    }
    w.EndArray();
  }

  /// One message; an assistant's tool calls and a tool's result as
  /// OpenAI has them.
  static void write_message(json_writer& w, const chat_message& msg) {
    w.StartObject();
    write_key(w, "role");
    write_string(w, msg.role);
    write_key(w, "content");
    if (!msg.parts.empty()) {
      write_content_parts(w, msg.parts);
    } else if (msg.content.empty() && !msg.tool_calls.empty()) {
      w.Null();
    } else {
      write_string(w, msg.content);
    }
    if (!msg.tool_calls.empty()) {
      write_key(w, "tool_calls");
      w.StartArray();
      for (const auto& call : msg.tool_calls) {
        w.StartObject();
        write_key(w, "id");
        write_string(w, call.id);
        write_key(w, "type");
        write_string(w, "function");
        write_key(w, "function");
        w.StartObject();
        write_key(w, "name");
        write_string(w, call.name);
        write_key(w, "arguments");
        write_string(w, call.arguments);
        w.EndObject();
        w.EndObject();
      }
      w.EndArray();
    }
    if (!msg.tool_call_id.empty()) {
      write_key(w, "tool_call_id");
      write_string(w, msg.tool_call_id);
    }
    w.EndObject();
  }

  /// `tools`, `tool_choice`, `parallel_tool_calls` and `response_format`,
  /// as the request gave them.
  static void write_tools(json_writer& w, const chat_params& params) {
    if (!params.tools.empty()) {
      write_function_tools(w, params.tools, function_tools::openai);
    }
    const auto& choice = params.tool_choice;
    if (choice.mode == "function") {
      write_key(w, "tool_choice");
      w.StartObject();
      write_key(w, "type");
      write_string(w, "function");
      write_key(w, "function");
      w.StartObject();
      write_key(w, "name");
      write_string(w, choice.name);
      w.EndObject();
      w.EndObject();
    } else if (!choice.mode.empty()) {
      write_key(w, "tool_choice");
      write_string(w, choice.mode);
    }
    if (params.parallel_tool_calls) {
      write_key(w, "parallel_tool_calls");
      w.Bool(*params.parallel_tool_calls);
    }
    const auto& format = params.response_format;
    if (!format.type.empty()) {
      write_key(w, "response_format");
      w.StartObject();
      write_key(w, "type");
      write_string(w, format.type);
      if (format.type == "json_schema") {
        write_key(w, "json_schema");
        w.StartObject();
        write_key(w, "name");
        write_string(w, format.name.empty() ? "answer" : format.name);
        write_key(w, "schema");
        write_raw_json(w, format.schema.empty() ? "{}" : format.schema);
        if (format.strict) {
          write_key(w, "strict");
          w.Bool(true);
        }
        w.EndObject();
      }
      w.EndObject();
    }
  }

  std::string encode_body(const chat_request& req,
                          const provider_settings& provider) const {
    const auto& params = req.params;
    const auto& defaults = provider.defaults;
    rapidjson::StringBuffer buffer;
    json_writer w{buffer};
    w.StartObject();
    write_key(w, "model");
    write_string(w, provider.model);
    write_key(w, "messages");
    w.StartArray();
    for (const auto& msg : req.messages) {
      write_message(w, msg);
    }
    w.EndArray();
    write_tools(w, params);
    auto write_int = [&w](std::string_view key,
                          const std::optional<int64_t>& own,
                          const std::optional<int64_t>& fallback) {
      const auto& value = own ? own : fallback;
      if (value) {
        write_key(w, key);
        w.Int64(*value);
      }
    };
    write_double_param(w, "temperature", params.temperature,
                       defaults.temperature);
    write_double_param(w, "top_p", params.top_p, defaults.top_p);
    write_int(dialect_.max_tokens_field, params.max_tokens,
              defaults.max_tokens);
    write_int("seed", params.seed, defaults.seed);
    write_double_param(w, "frequency_penalty", params.frequency_penalty,
                       std::nullopt);
    write_double_param(w, "presence_penalty", params.presence_penalty,
                       std::nullopt);
    if (!params.reasoning_effort.empty()) {
      write_key(w, "reasoning_effort");
      write_string(w, params.reasoning_effort);
    }
    write_int("n", params.n, std::nullopt);
    if (params.logprobs) {
      write_key(w, "logprobs");
      w.Bool(true);
      write_int("top_logprobs", params.top_logprobs, std::nullopt);
    }
    const auto& stop = params.stop.empty() ? defaults.stop : params.stop;
    if (!stop.empty()) {
      write_string_array(w, "stop", stop);
    }
    if (req.stream) {
      write_key(w, "stream");
      w.Bool(true);
      write_key(w, "stream_options");
      w.StartObject();
      write_key(w, "include_usage");
      w.Bool(true);
      w.EndObject();
    }
    w.EndObject();
    return {buffer.GetString(), buffer.GetSize()};
  }

  openai_dialect dialect_;
};

} // namespace

std::unique_ptr<codec> make_openai_wire_codec(openai_dialect dialect) {
  return std::make_unique<openai_wire_codec>(std::move(dialect));
}

} // namespace tutti
