#include "plugins/codecs/bedrock/bedrock_codec.hpp"

#include <algorithm>

#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>

#include "engine/src/saturating.hpp"
#include "plugins/codecs/bedrock/sigv4.hpp"
#include "plugins/codecs/codec_support.hpp"

// Amazon Bedrock's Converse API: POST /model/{modelId}/converse for a whole
// reply, /converse-stream for one streamed as AWS event-stream messages,
// every request signed with SigV4 (sigv4.hpp). docs/providers/bedrock.md
// says what is sent and how stop reasons and errors map; docs/codecs.md has
// the short form.

namespace tutti {

namespace {

using namespace codec_support;

/// The SigV4 service name of Bedrock's runtime endpoints.
constexpr std::string_view signing_service = "bedrock";

/// The provider's own keys, as `keys()` declares them.
constexpr std::string_view region_key = "region";
constexpr std::string_view access_key_id_key = "access_key_id";
constexpr std::string_view secret_access_key_key = "secret_access_key";
constexpr std::string_view session_token_key = "session_token";

bool is_lower_or_digit(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/// An AWS region: lower-case words and a number joined by hyphens
/// ("us-east-1", "us-gov-west-1"). It becomes part of the host name.
std::string check_region(std::string_view value) {
  const char* problem = "expected an AWS region such as us-east-1";
  if (value.size() < 4 || value.size() > 32 || value.front() < 'a' ||
      value.front() > 'z' || value.back() < '0' || value.back() > '9' ||
      value.find('-') == std::string_view::npos ||
      value.find("--") != std::string_view::npos) {
    return problem;
  }
  for (char c : value) {
    if (!is_lower_or_digit(c) && c != '-') {
      return problem;
    }
  }
  return {};
}

/// An access key ID: letters and digits ("AKIAIOSFODNN7EXAMPLE").
std::string check_access_key_id(std::string_view value) {
  const char* problem =
      "expected an AWS access key ID such as ${AWS_ACCESS_KEY_ID}";
  if (value.empty() || value.size() > 128) {
    return problem;
  }
  for (char c : value) {
    if (!((c >= 'A' && c <= 'Z') || is_lower_or_digit(c))) {
      return problem;
    }
  }
  return {};
}

/// A secret or token: anything but an empty string (its value is never
/// quoted).
std::string check_not_empty(std::string_view value) {
  return value.empty() ? "expected a non-empty credential" : std::string{};
}

std::string option(const provider_settings& provider, std::string_view name) {
  auto found = provider.options.find(std::string{name});
  return found == provider.options.end() ? std::string{} : found->second;
}

/// The regional runtime endpoint.
std::string regional_base_url(std::string_view region) {
  return "https://bedrock-runtime." + std::string{region} + ".amazonaws.com";
}

/// The integer member `name` of `obj` when it is a count.
std::optional<int64_t> count_of(const rapidjson::Value& obj,
                                std::string_view name) {
  auto* value = member(obj, name);
  if (value == nullptr || !value->IsInt64()) {
    return std::nullopt;
  }
  return value->GetInt64() > 0 ? value->GetInt64() : 0;
}

/// A Bedrock `usage` object as totals. Bedrock's `inputTokens` leaves out
/// the tokens read from and written to the prompt cache: ours counts all
/// input.
usage_report report_of(const rapidjson::Value& obj) {
  usage_report report;
  auto input = count_of(obj, "inputTokens");
  auto read = count_of(obj, "cacheReadInputTokens");
  auto written = count_of(obj, "cacheWriteInputTokens");
  if (input || read || written) {
    report.input_tokens =
        saturating_add(saturating_add(input.value_or(0), read.value_or(0)),
                       written.value_or(0));
    report.cached_input_tokens = read.value_or(0);
  }
  report.output_tokens = count_of(obj, "outputTokens");
  return report;
}

/// Our finish reason for a Bedrock `stopReason`; one we do not know passes
/// through unchanged.
std::string finish_reason_from(std::string_view stop_reason) {
  if (stop_reason == "end_turn" || stop_reason == "stop_sequence") {
    return "stop";
  }
  if (stop_reason == "max_tokens" ||
      stop_reason == "model_context_window_exceeded") {
    return "length";
  }
  if (stop_reason == "content_filtered" ||
      stop_reason == "guardrail_intervened") {
    return "content_filter";
  }
  if (stop_reason == "tool_use") {
    return "tool_calls";
  }
  return std::string{stop_reason};
}

/// The vendor's words for a stop the caller may want explained.
std::string finish_detail_from(std::string_view stop_reason) {
  if (stop_reason == "content_filtered" ||
      stop_reason == "guardrail_intervened") {
    return "stopReason " + std::string{stop_reason};
  }
  return {};
}

/// True when a validation message says the prompt does not fit ("Input is
/// too long for requested model.").
bool says_context_length(std::string_view message) {
  return contains_ci(message, "too long") ||
         contains_ci(message, "context length") ||
         contains_ci(message, "context window");
}

/// `ThrottlingException` from "ThrottlingException:http://internal...",
/// "com.amazon.coral.service#ThrottlingException" or "throttlingException".
std::string error_type_name(std::string_view raw) {
  raw = trim(raw);
  if (auto colon = raw.find(':'); colon != std::string_view::npos) {
    raw = raw.substr(0, colon);
  }
  if (auto hash = raw.rfind('#'); hash != std::string_view::npos) {
    raw = raw.substr(hash + 1);
  }
  return std::string{raw};
}

/// The kind an AWS error type names, for an HTTP error or an exception
/// inside a stream (whose names start in lower case); nullopt for a type
/// this codec does not know.
std::optional<failure_kind> kind_from_type(std::string_view type,
                                           std::string_view message) {
  if (type.empty()) {
    return std::nullopt;
  }
  auto is = [&](std::string_view name) { return equals_ci(type, name); };
  if (is("ThrottlingException") || is("ServiceQuotaExceededException") ||
      is("TooManyRequestsException")) {
    return failure_kind::rate_limited;
  }
  if (is("ValidationException")) {
    return says_context_length(message) ? failure_kind::context_length
                                        : failure_kind::bad_request;
  }
  if (is("AccessDeniedException") || is("UnrecognizedClientException") ||
      is("InvalidSignatureException") || is("IncompleteSignatureException") ||
      is("MissingAuthenticationTokenException") ||
      is("ExpiredTokenException") || is("InvalidClientTokenId") ||
      is("SignatureDoesNotMatch")) {
    return failure_kind::auth;
  }
  if (is("ResourceNotFoundException") || is("ConflictException")) {
    return failure_kind::bad_request;
  }
  if (is("ModelTimeoutException")) {
    return failure_kind::timeout_total;
  }
  if (is("ServiceUnavailableException") || is("ModelNotReadyException")) {
    return failure_kind::overloaded;
  }
  if (is("InternalServerException") || is("ModelErrorException") ||
      is("ModelStreamErrorException")) {
    return failure_kind::server;
  }
  return std::nullopt;
}

/// "ThrottlingException: Too many requests..." — the type tells people
/// (and searches) more than the message alone.
std::string error_message(const std::string& type, std::string message) {
  if (type.empty()) {
    return message;
  }
  return type + ": " + message;
}

/// The `message` (or `Message`) of an AWS error body.
std::string message_of(const rapidjson::Value& doc) {
  auto text = string_member(doc, "message");
  if (text.empty()) {
    text = string_member(doc, "Message");
  }
  return std::string{text};
}

/// Reads one content block of a reply: its text, or its `toolUse` as the
/// reply's next call (`input` an object, kept as its JSON text). Reasoning
/// is not the reply's text and is left out.
void read_block(const rapidjson::Value& block, std::string& text,
                std::vector<tool_call_delta>& calls) {
  if (!block.IsObject()) {
    return;
  }
  if (auto* part = member(block, "text"); part != nullptr && part->IsString()) {
    text.append(part->GetString(), part->GetStringLength());
  }
  if (auto* tool = object_member(block, "toolUse"); tool != nullptr) {
    tool_call_delta call;
    call.whole = true;
    call.id = string_member(*tool, "toolUseId");
    call.name = string_member(*tool, "name");
    if (auto* input = member(*tool, "input"); input != nullptr) {
      call.arguments = json_text(*input);
    }
    calls.push_back(std::move(call));
  }
}

/// A stream event's `contentBlockIndex`, capped past the calls a reply may
/// make.
std::size_t block_index(const rapidjson::Value& event) {
  auto* index = member(event, "contentBlockIndex");
  if (index == nullptr || !index->IsUint64()) {
    return 0;
  }
  return static_cast<std::size_t>(
      std::min<uint64_t>(index->GetUint64(), max_tool_calls + 1));
}

/// An assistant turn's text and calls, or a tool turn's result, as Converse
/// content blocks.
void write_content(json_writer& w, const chat_message& msg) {
  if (msg.role == "tool") {
    w.StartObject();
    write_key(w, "toolResult");
    w.StartObject();
    write_key(w, "toolUseId");
    write_string(w, msg.tool_call_id);
    write_key(w, "content");
    w.StartArray();
    w.StartObject();
    write_key(w, "text");
    write_string(w, msg.content);
    w.EndObject();
    w.EndArray();
    w.EndObject();
    w.EndObject();
    return;
  }
  if (!msg.parts.empty()) {
    // Text and `image` blocks; Converse takes an image's bytes (base64 in
    // JSON) and its format, never a URL.
    for (const auto& part : msg.parts) {
      w.StartObject();
      if (!part.is_image()) {
        write_key(w, "text");
        write_string(w, part.text);
      } else {
        write_key(w, "image");
        w.StartObject();
        write_key(w, "format");
        // "image/png" is "png"; the endpoint lets no other kind through,
        // but an embedding program may pass anything.
        std::string_view type{part.image.media_type};
        constexpr std::string_view prefix = "image/";
        if (type.substr(0, prefix.size()) == prefix) {
          type.remove_prefix(prefix.size());
        }
        write_string(w, type);
        write_key(w, "source");
        w.StartObject();
        write_key(w, "bytes");
        write_string(w, part.image.data);
        w.EndObject();
        w.EndObject();
      }
      w.EndObject();
    }
  } else if (!msg.content.empty() || msg.tool_calls.empty()) {
    w.StartObject();
    write_key(w, "text");
    write_string(w, msg.content);
    w.EndObject();
  }
  for (const auto& call : msg.tool_calls) {
    w.StartObject();
    write_key(w, "toolUse");
    w.StartObject();
    write_key(w, "toolUseId");
    write_string(w, call.id);
    write_key(w, "name");
    write_string(w, call.name);
    write_key(w, "input");
    write_arguments_object(w, call.arguments);
    w.EndObject();
    w.EndObject();
  }
}

/// `toolConfig`: each tool as a `toolSpec` (its schema under
/// `inputSchema.json`), and `toolChoice` (`required` is `any`, a named
/// function `tool`; `none` sends no tools at all: Converse has no such
/// choice).
void write_tool_config(json_writer& w, const chat_params& params) {
  if (params.tools.empty() || params.tool_choice.mode == "none") {
    return;
  }
  write_key(w, "toolConfig");
  w.StartObject();
  write_key(w, "tools");
  w.StartArray();
  for (const auto& tool : params.tools) {
    w.StartObject();
    write_key(w, "toolSpec");
    w.StartObject();
    write_tool_head(w, tool);
    write_key(w, "inputSchema");
    w.StartObject();
    write_key(w, "json");
    write_raw_json(w, tool.parameters.empty() ? R"({"type":"object"})"
                                              : tool.parameters);
    w.EndObject();
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  const auto& choice = params.tool_choice;
  if (!choice.mode.empty()) {
    write_key(w, "toolChoice");
    w.StartObject();
    write_key(w, choice.mode == "required"   ? "any"
                 : choice.mode == "function" ? "tool"
                                             : "auto");
    w.StartObject();
    if (choice.mode == "function") {
      write_key(w, "name");
      write_string(w, choice.name);
    }
    w.EndObject();
    w.EndObject();
  }
  w.EndObject();
}

std::string encode_body(const chat_request& req,
                        const provider_settings& provider) {
  const auto& params = req.params;
  const auto& defaults = provider.defaults;
  rapidjson::StringBuffer buffer;
  json_writer w{buffer};
  w.StartObject();
  write_key(w, "messages");
  w.StartArray();
  const auto& turns = req.messages;
  for (std::size_t i = 0; i < turns.size(); ++i) {
    const auto& msg = turns[i];
    if (msg.role == "system") {
      continue;
    }
    w.StartObject();
    write_key(w, "role");
    write_string(w, msg.role == "assistant" ? "assistant" : "user");
    write_key(w, "content");
    w.StartArray();
    if (msg.role == "tool") {
      // The results of one turn's calls go back in one user turn.
      for (; i < turns.size() && turns[i].role == "tool"; ++i) {
        write_content(w, turns[i]);
      }
      --i;
    } else {
      write_content(w, msg);
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  write_tool_config(w, params);
  bool has_system = false;
  for (const auto& msg : req.messages) {
    if (msg.role != "system" || msg.content.empty()) {
      continue;
    }
    if (!has_system) {
      write_key(w, "system");
      w.StartArray();
      has_system = true;
    }
    w.StartObject();
    write_key(w, "text");
    write_string(w, msg.content);
    w.EndObject();
  }
  if (has_system) {
    w.EndArray();
  }
  // `seed` has no Converse equivalent and is not sent.
  auto s = sampling_of(params, defaults);
  s.seed.reset();
  if (!s.empty()) {
    write_key(w, "inferenceConfig");
    w.StartObject();
    write_sampling_members(
        w, s, {"temperature", "topP", "maxTokens", nullptr, "stopSequences"});
    w.EndObject();
  }
  w.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

class bedrock_codec final : public codec {
public:
  bool takes_tools() const override { return true; }
  bool takes_images() const override { return true; }

  /// The host names the region: there is no default without one.
  std::string default_base_url() const override { return {}; }

  std::string default_base_url_for(
      const std::map<std::string, std::string>& options) const override {
    auto region = options.find(std::string{region_key});
    return region == options.end() ? std::string{}
                                   : regional_base_url(region->second);
  }

  std::vector<std::string> key_headers() const override {
    return {"authorization", "x-amz-date", "x-amz-security-token"};
  }

  std::vector<codec_key> keys() const override {
    return {
        {std::string{region_key}, check_region, true, false},
        {std::string{access_key_id_key}, check_access_key_id, true, false},
        {std::string{secret_access_key_key}, check_not_empty, true, true},
        {std::string{session_token_key}, check_not_empty, false, true},
    };
  }

  http_request encode(const chat_request& req,
                      const provider_settings& provider) const override {
    http_request result;
    result.method = "POST";
    auto fallback = regional_base_url(option(provider, region_key));
    // The model ID is one path segment: ':' and '/' of an ID or an ARN are
    // sent encoded (SigV4 signs them encoded twice).
    result.url = std::string{base_url_of(provider, fallback)} + "/model/" +
                 url_encode(provider.model) +
                 (req.stream ? "/converse-stream" : "/converse");
    result.headers.emplace_back("content-type", "application/json");
    result.headers.emplace_back(
        "accept",
        req.stream ? "application/vnd.amazon.eventstream" : "application/json");
    for (const auto& [name, value] : provider.extra_headers) {
      set_header(result.headers, name, value, replaced_name::ours);
    }
    result.body = encode_body(req, provider);
    return result;
  }

  bool takes_embeddings() const override { return true; }

  bool takes_embedding_dimensions() const override { return true; }

  /// Titan Text Embeddings takes one text a call.
  std::size_t max_embedding_batch() const override { return 1; }

  /// InvokeModel of Amazon Titan Text Embeddings (v2):
  /// POST /model/{modelId}/invoke with `{"inputText", "dimensions"}`,
  /// signed by `sign` as every Bedrock call is.
  http_request
  encode_embedding(const embedding_request& req,
                   const provider_settings& provider) const override {
    http_request result;
    result.method = "POST";
    auto fallback = regional_base_url(option(provider, region_key));
    result.url = std::string{base_url_of(provider, fallback)} + "/model/" +
                 url_encode(embedding_model_of(provider)) + "/invoke";
    result.headers.emplace_back("content-type", "application/json");
    result.headers.emplace_back("accept", "application/json");
    for (const auto& [name, value] : provider.extra_headers) {
      set_header(result.headers, name, value, replaced_name::ours);
    }
    rapidjson::StringBuffer buffer;
    json_writer w{buffer};
    w.StartObject();
    write_key(w, "inputText");
    write_string(w, req.inputs.empty() ? std::string{} : req.inputs[0]);
    if (req.dimensions > 0) {
      write_key(w, "dimensions");
      w.Int64(req.dimensions);
    }
    w.EndObject();
    result.body = {buffer.GetString(), buffer.GetSize()};
    return result;
  }

  /// `{"embedding": [...], "inputTextTokenCount": N}`.
  body_result decode_embedding(std::string_view body,
                               const embedding_request& req) const override {
    rapidjson::Document doc;
    auto parsed = parse_json(doc, body);
    if (!parsed || !doc.IsObject()) {
      return malformed_json("response body", parsed, body);
    }
    auto* embedding = member(doc, "embedding");
    if (embedding == nullptr) {
      if (auto said = message_of(doc); !said.empty()) {
        return make_failure(failure_kind::server, std::move(said));
      }
      return make_failure(failure_kind::protocol,
                          "embeddings reply has no embedding array: " +
                              quote(body));
    }
    std::string why;
    auto vector = read_vector(*embedding, why);
    if (!vector) {
      return make_failure(failure_kind::protocol, "embeddings reply: " + why);
    }
    tutti::usage used;
    if (auto* count = member(doc, "inputTextTokenCount");
        count != nullptr && count->IsUint64()) {
      used.input_tokens = static_cast<int64_t>(
          std::min<uint64_t>(count->GetUint64(), uint64_t{1} << 40));
    }
    std::vector<std::vector<float>> vectors;
    vectors.push_back(std::move(*vector));
    return embedding_outcome(std::move(vectors), used, req);
  }

  void sign(http_request& request, const provider_settings& provider,
            int64_t now_unix_ms) const override {
    sigv4::credentials who;
    who.access_key_id = option(provider, access_key_id_key);
    who.secret_access_key = option(provider, secret_access_key_key);
    who.session_token = option(provider, session_token_key);
    sigv4::scope where{option(provider, region_key),
                       std::string{signing_service}};
    sigv4::sign(request, who, where, now_unix_ms / 1000);
  }

  body_result decode_body(std::string_view body) const override {
    rapidjson::Document doc;
    auto parsed = parse_json(doc, body);
    if (!parsed || !doc.IsObject()) {
      return malformed_json("response body", parsed, body);
    }
    auto* output = object_member(doc, "output");
    auto* message =
        output == nullptr ? nullptr : object_member(*output, "message");
    auto* content = message == nullptr ? nullptr : member(*message, "content");
    if (content == nullptr || !content->IsArray()) {
      if (auto said = message_of(doc); !said.empty()) {
        return make_failure(failure_kind::server, std::move(said));
      }
      return make_failure(failure_kind::protocol,
                          "response has no output.message.content array: " +
                              quote(body));
    }
    reply_parts reply;
    stream_update calls;
    for (const auto& block : content->GetArray()) {
      read_block(block, reply.text, calls.tool_calls);
    }
    add_update(reply, calls);
    auto stop_reason = string_member(doc, "stopReason");
    reply.finish_reason = finish_reason_from(stop_reason);
    reply.finish_detail = finish_detail_from(stop_reason);
    if (auto* u = object_member(doc, "usage"); u != nullptr) {
      apply_usage(reply.usage, report_of(*u));
    }
    return reply_outcome(std::move(reply));
  }

  stream_framing framing() const override {
    return stream_framing::aws_event_stream;
  }

  stream_update decode_event(const stream_event& event) const override {
    stream_update update;
    if (event.message_type == "error") {
      // `:error-code` and `:error-message`: the service failed mid-stream.
      update.error = make_failure(
          kind_from_type(event.event, event.data)
              .value_or(failure_kind::server),
          error_message(event.event, event.data.empty()
                                         ? "error inside the stream"
                                         : event.data));
      return update;
    }
    auto data = trim(event.data);
    rapidjson::Document doc;
    auto parsed = parse_json(doc, data);
    if (!parsed || !doc.IsObject()) {
      update.error = malformed_json("stream event", parsed, data);
      return update;
    }
    if (event.message_type == "exception") {
      auto said = message_of(doc);
      update.error = make_failure(
          kind_from_type(event.event, said).value_or(failure_kind::server),
          error_message(event.event, said.empty() ? quote(data) : said));
      return update;
    }
    const auto& type = event.event;
    if (type == "contentBlockDelta") {
      if (auto* delta = object_member(doc, "delta"); delta != nullptr) {
        if (auto* text = member(*delta, "text");
            text != nullptr && text->IsString()) {
          update.text.assign(text->GetString(), text->GetStringLength());
        }
        // A call's input streams as pieces of its JSON text.
        if (auto* tool = object_member(*delta, "toolUse"); tool != nullptr) {
          tool_call_delta piece;
          piece.index = block_index(doc);
          piece.arguments = string_member(*tool, "input");
          update.tool_calls.push_back(std::move(piece));
        }
      }
    } else if (type == "contentBlockStart") {
      if (auto* start = object_member(doc, "start"); start != nullptr) {
        if (auto* tool = object_member(*start, "toolUse"); tool != nullptr) {
          // A call's place is its block's index (text blocks leave gaps,
          // which `reply_outcome` closes).
          tool_call_delta piece;
          piece.index = block_index(doc);
          piece.id = string_member(*tool, "toolUseId");
          piece.name = string_member(*tool, "name");
          update.tool_calls.push_back(std::move(piece));
        }
      }
    } else if (type == "messageStop") {
      auto reason = string_member(doc, "stopReason");
      update.finish_reason = finish_reason_from(reason);
      update.finish_detail = finish_detail_from(reason);
    } else if (type == "metadata") {
      // The last event of a whole stream: its usage, and the end marker.
      if (auto* u = object_member(doc, "usage"); u != nullptr) {
        update.usage = report_of(*u);
      }
      update.terminal = true;
    }
    // messageStart, contentBlockStop and event types added later say
    // nothing we keep.
    return update;
  }

  failure classify_error(int status, std::string_view body,
                         const header_list& headers) const override {
    std::string said;
    std::string type;
    if (auto* header = find_header(headers, "x-amzn-ErrorType")) {
      type = error_type_name(*header);
    }
    rapidjson::Document doc;
    auto parsed = parse_json(doc, body);
    if (parsed && doc.IsObject()) {
      said = message_of(doc);
      if (type.empty()) {
        type = error_type_name(string_member(doc, "__type"));
      }
    }
    auto kind = kind_from_type(type, said);
    if (!kind) {
      kind = kind_from_common_status(status);
    }
    if (!kind) {
      if (status == 404) {
        kind = failure_kind::bad_request;
      } else if (status == 424) {
        kind = failure_kind::server;
      } else if (status >= 400 && status <= 499) {
        kind = says_context_length(said) ? failure_kind::context_length
                                         : failure_kind::bad_request;
      } else {
        kind = failure_kind::protocol;
      }
    }
    if (said.empty()) {
      said = message_from_body(status, body);
    }
    return make_failure(*kind, error_message(type, std::move(said)), status);
  }
};

} // namespace

std::unique_ptr<codec> make_bedrock_codec() {
  return std::make_unique<bedrock_codec>();
}

} // namespace tutti
