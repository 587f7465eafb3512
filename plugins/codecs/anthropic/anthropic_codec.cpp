#include "plugins/codecs/anthropic/anthropic_codec.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>

#include "engine/src/saturating.hpp"
#include "plugins/codecs/codec_support.hpp"
#include "tutti/retry.hpp"

// The Anthropic Messages API (POST /v1/messages), whole and streamed as
// server-sent events. docs/providers/anthropic.md says what is sent and how
// stop reasons and errors map; docs/codecs.md has the short form.

namespace tutti {

namespace {

using namespace codec_support;

constexpr std::string_view anthropic_base_url = "https://api.anthropic.com/v1";

/// The API version this codec speaks; sent as `anthropic-version`.
constexpr std::string_view anthropic_version = "2023-06-01";

/// `max_tokens` is required by the API; used when neither the request nor
/// the provider's defaults set one.
constexpr int64_t fallback_max_tokens = 4096;

/// The integer member `name` of `obj`; 0 when absent, null or not a count.
int64_t count_member(const rapidjson::Value& obj, std::string_view name) {
  auto* value = member(obj, name);
  return value != nullptr && value->IsInt64() && value->GetInt64() > 0
             ? value->GetInt64()
             : 0;
}

/// The token counts of one Anthropic usage object, ours counting all input:
/// Anthropic's `input_tokens` leaves out the tokens read from and written to
/// the prompt cache.
tutti::usage counts_of(const rapidjson::Value& obj) {
  tutti::usage result;
  auto cache_read = count_member(obj, "cache_read_input_tokens");
  // The counts are the server's to choose: their sum saturates.
  result.input_tokens = saturating_add(
      saturating_add(count_member(obj, "input_tokens"), cache_read),
      count_member(obj, "cache_creation_input_tokens"));
  result.cached_input_tokens = cache_read;
  result.output_tokens = count_member(obj, "output_tokens");
  return result;
}

bool has_count(const rapidjson::Value& obj, std::string_view name) {
  auto* value = member(obj, name);
  return value != nullptr && !value->IsNull();
}

/// What a `usage` object reports, as totals so far: only the counts it
/// holds (a stream's `message_delta` may carry output alone). With
/// `iterations` (context compaction: one entry per sampling pass, the
/// top-level fields covering the last pass only) the billed totals are the
/// sums over every entry.
usage_report report_of(const rapidjson::Value& obj) {
  if (auto* passes = member(obj, "iterations");
      passes != nullptr && passes->IsArray() && !passes->Empty()) {
    tutti::usage sum;
    for (const auto& pass : passes->GetArray()) {
      auto counts = counts_of(pass);
      sum.input_tokens = saturating_add(sum.input_tokens, counts.input_tokens);
      sum.cached_input_tokens =
          saturating_add(sum.cached_input_tokens, counts.cached_input_tokens);
      sum.output_tokens =
          saturating_add(sum.output_tokens, counts.output_tokens);
    }
    return usage_totals(sum);
  }
  auto counts = counts_of(obj);
  usage_report report;
  if (has_count(obj, "input_tokens")) {
    // The cache counts complete the input: reported with it, absent as 0.
    report.input_tokens = counts.input_tokens;
    report.cached_input_tokens = counts.cached_input_tokens;
  }
  if (has_count(obj, "output_tokens")) {
    report.output_tokens = counts.output_tokens;
  }
  return report;
}

/// The usage of a whole message.
tutti::usage usage_from(const rapidjson::Value& obj) {
  tutti::usage result;
  apply_usage(result, report_of(obj));
  return result;
}

/// Why the model declined, from `stop_details` (`{"type": "refusal",
/// "category", "explanation"}`), for the failure's message.
std::string refusal_detail(const rapidjson::Value* details) {
  std::string result = "stop_reason refusal";
  if (details == nullptr || !details->IsObject()) {
    return result;
  }
  if (auto category = string_member(*details, "category"); !category.empty()) {
    result += ", category " + std::string{category};
  }
  if (auto explanation = string_member(*details, "explanation");
      !explanation.empty()) {
    result += ": " + std::string{explanation};
  }
  return result;
}

/// A `tool_use` content block as the first piece of the call at `index`:
/// its id and name, and with `with_input` its `input` object as JSON text
/// (a streamed block's `input` is a placeholder; its `input_json_delta`s
/// carry the arguments). Nothing for a block of another type.
std::optional<tool_call_delta> tool_use_piece(const rapidjson::Value& block,
                                              size_t index, bool with_input) {
  if (string_member(block, "type") != "tool_use") {
    return std::nullopt;
  }
  tool_call_delta piece;
  piece.index = index;
  piece.id = string_member(block, "id");
  piece.name = string_member(block, "name");
  if (with_input) {
    if (auto* input = member(block, "input"); input != nullptr) {
      piece.arguments = json_text(*input);
    }
  }
  return piece;
}

/// Our finish reason for an Anthropic `stop_reason`; a reason we do not know
/// (`pause_turn`, `compaction`, future ones) passes through unchanged. A
/// `refusal` is not a finish but a refusal (`reply_outcome`).
std::string finish_reason_from(std::string_view stop_reason) {
  if (stop_reason == "end_turn" || stop_reason == "stop_sequence") {
    return "stop";
  }
  if (stop_reason == "max_tokens" ||
      stop_reason == "model_context_window_exceeded") {
    return "length";
  }
  if (stop_reason == "tool_use") {
    return "tool_calls";
  }
  return std::string{stop_reason};
}

/// The parts of an Anthropic error object that decide its kind.
struct vendor_error {
  bool found = false; ///< the JSON held an error
  std::string type;   ///< `error.type`, e.g. "overloaded_error"
  std::string message;
};

/// Reads `{"type": "error", "error": {"type", "message"}, "request_id"}`.
/// The request id is left out: it is in the `request-id` header too, and a
/// failure message is for people.
vendor_error vendor_error_from(const rapidjson::Value& doc) {
  vendor_error result;
  auto* error = member(doc, "error");
  if (error == nullptr || error->IsNull()) {
    result.found = string_member(doc, "type") == "error";
    return result;
  }
  result.found = true;
  if (error->IsString()) {
    result.message.assign(error->GetString(), error->GetStringLength());
    return result;
  }
  result.type = string_member(*error, "type");
  result.message = string_member(*error, "message");
  return result;
}

/// True when an invalid-request message says the prompt does not fit, as in
/// "prompt is too long: 208923 tokens > 200000 maximum" or "input length and
/// `max_tokens` exceed context limit: ...".
bool says_context_length(std::string_view message) {
  return contains_ci(message, "prompt is too long") ||
         contains_ci(message, "context limit") ||
         contains_ci(message, "context window") ||
         contains_ci(message, "context length");
}

/// The kind named by an Anthropic `error.type`; nullopt for a type this
/// codec does not know.
std::optional<failure_kind> kind_from_type(const vendor_error& err) {
  const auto& type = err.type;
  if (type == "invalid_request_error") {
    return says_context_length(err.message) ? failure_kind::context_length
                                            : failure_kind::bad_request;
  }
  if (type == "authentication_error" || type == "permission_error") {
    return failure_kind::auth;
  }
  if (type == "not_found_error" || type == "request_too_large") {
    return failure_kind::bad_request;
  }
  if (type == "rate_limit_error") {
    return failure_kind::rate_limited;
  }
  if (type == "api_error") {
    return failure_kind::server;
  }
  if (type == "overloaded_error") {
    return failure_kind::overloaded;
  }
  return std::nullopt;
}

/// The kind of a non-2xx response whose body names no known error type.
failure_kind kind_from_status(int status, const vendor_error& err) {
  if (auto kind = kind_from_common_status(status)) {
    return *kind;
  }
  if (status >= 400 && status <= 499) {
    return says_context_length(err.message) ? failure_kind::context_length
                                            : failure_kind::bad_request;
  }
  return failure_kind::protocol;
}

/// A failure for an error found where a reply was expected (a 2xx body or an
/// `error` stream event): no status to go by, so an unknown type is `server`.
failure failure_from_vendor_error(const vendor_error& err,
                                  std::string_view raw) {
  auto message = err.message.empty() ? quote(raw) : err.message;
  return make_failure(kind_from_type(err).value_or(failure_kind::server),
                      std::move(message));
}

/// All system turns joined by a blank line; Anthropic takes the system
/// prompt as a top-level field, not as a message.
std::string system_prompt(const chat_request& req) {
  std::string result;
  for (const auto& msg : req.messages) {
    if (msg.role != "system" || msg.content.empty()) {
      continue;
    }
    if (!result.empty()) {
      result += "\n\n";
    }
    result += msg.content;
  }
  return result;
}

/// An assistant's call as a `tool_use` block: its arguments become the
/// `input` object (arguments that are not a JSON object, as `{}`).
void write_tool_use(json_writer& w, const tool_call& call) {
  w.StartObject();
  write_key(w, "type");
  write_string(w, "tool_use");
  write_key(w, "id");
  write_string(w, call.id);
  write_key(w, "name");
  write_string(w, call.name);
  write_key(w, "input");
  write_arguments_object(w, call.arguments);
  w.EndObject();
}

/// Text and image parts as blocks: an image's `source` is base64 with its
/// media type, or a URL.
void write_content_blocks(json_writer& w,
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
      write_string(w, "image");
      write_key(w, "source");
      w.StartObject();
      write_key(w, "type");
      if (part.image.inline_bytes()) {
        write_string(w, "base64");
        write_key(w, "media_type");
        write_string(w, part.image.media_type);
        write_key(w, "data");
        write_string(w, part.image.data);
      } else {
        write_string(w, "url");
        write_key(w, "url");
        write_string(w, part.image.url);
      }
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndArray();
}

/// A tool turn as a `tool_result` block.
void write_tool_result(json_writer& w, const chat_message& msg) {
  w.StartObject();
  write_key(w, "type");
  write_string(w, "tool_result");
  write_key(w, "tool_use_id");
  write_string(w, msg.tool_call_id);
  write_key(w, "content");
  write_string(w, msg.content);
  w.EndObject();
}

/// `tools` (`input_schema` is the function's parameters) and `tool_choice`
/// (`required` is Anthropic's `any`; `parallel_tool_calls: false` its
/// `disable_parallel_tool_use`).
void write_tools(json_writer& w, const chat_params& params) {
  if (!params.tools.empty()) {
    write_key(w, "tools");
    w.StartArray();
    for (const auto& tool : params.tools) {
      w.StartObject();
      write_tool_head(w, tool);
      write_key(w, "input_schema");
      write_raw_json(w, tool.parameters.empty() ? R"({"type":"object"})"
                                                : tool.parameters);
      w.EndObject();
    }
    w.EndArray();
  }
  const auto& choice = params.tool_choice;
  bool serial = params.parallel_tool_calls && !*params.parallel_tool_calls;
  if (choice.mode.empty() && !(serial && !params.tools.empty())) {
    return;
  }
  write_key(w, "tool_choice");
  w.StartObject();
  write_key(w, "type");
  write_string(w, choice.mode == "required"   ? "any"
                  : choice.mode == "function" ? "tool"
                  : choice.mode == "none"     ? "none"
                                              : "auto");
  if (choice.mode == "function") {
    write_key(w, "name");
    write_string(w, choice.name);
  }
  if (serial && choice.mode != "none") {
    write_key(w, "disable_parallel_tool_use");
    w.Bool(true);
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
  write_key(w, "model");
  write_string(w, provider.model);
  write_key(w, "max_tokens");
  w.Int64(params.max_tokens     ? *params.max_tokens
          : defaults.max_tokens ? *defaults.max_tokens
                                : fallback_max_tokens);
  if (auto system = system_prompt(req); !system.empty()) {
    write_key(w, "system");
    write_string(w, system);
  }
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
    if (msg.role == "tool") {
      // The results of one turn's calls go back in one user turn.
      w.StartArray();
      for (; i < turns.size() && turns[i].role == "tool"; ++i) {
        write_tool_result(w, turns[i]);
      }
      --i;
      w.EndArray();
    } else if (!msg.tool_calls.empty()) {
      w.StartArray();
      if (!msg.content.empty()) {
        w.StartObject();
        write_key(w, "type");
        write_string(w, "text");
        write_key(w, "text");
        write_string(w, msg.content);
        w.EndObject();
      }
      for (const auto& call : msg.tool_calls) {
        write_tool_use(w, call);
      }
      w.EndArray();
    } else if (!msg.parts.empty()) {
      write_content_blocks(w, msg.parts);
    } else {
      write_string(w, msg.content);
    }
    w.EndObject();
  }
  w.EndArray();
  write_tools(w, params);
  write_double_param(w, "temperature", params.temperature,
                     defaults.temperature);
  write_double_param(w, "top_p", params.top_p, defaults.top_p);
  const auto& stop = params.stop.empty() ? defaults.stop : params.stop;
  if (!stop.empty()) {
    write_string_array(w, "stop_sequences", stop);
  }
  // `seed` has no Anthropic equivalent and is not sent.
  if (req.stream) {
    write_key(w, "stream");
    w.Bool(true);
  }
  w.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

/// One budget from Anthropic's `anthropic-ratelimit-<budget>-limit` /
/// `-remaining` / `-reset` (an RFC 3339 time when it is whole again).
server_allowance anthropic_allowance(const header_list& headers,
                                     const std::string& budget,
                                     int64_t now_unix_ms) {
  server_allowance result;
  auto prefix = "anthropic-ratelimit-" + budget;
  auto remaining = header_count(headers, prefix + "-remaining");
  auto* reset = find_header(headers, prefix + "-reset");
  if (!remaining || reset == nullptr) {
    return result;
  }
  if (auto at = parse_rfc3339_ms(*reset)) {
    result.limit = header_count(headers, prefix + "-limit").value_or(-1);
    result.remaining = *remaining;
    result.reset_in_ms = std::max<int64_t>(0, *at - now_unix_ms);
  }
  return result;
}

/// A stream event's content block `index`, capped where the reply would
/// have more blocks than it may make tool calls.
std::size_t block_index(const rapidjson::Value& event) {
  auto* index = member(event, "index");
  if (index == nullptr || !index->IsUint64()) {
    return 0;
  }
  return static_cast<std::size_t>(
      std::min<uint64_t>(index->GetUint64(), max_tool_calls + 1));
}

class anthropic_codec final : public codec {
public:
  bool takes_tools() const override { return true; }
  bool takes_images() const override { return true; }
  bool takes_image_urls() const override { return true; }

  int64_t implied_max_tokens() const override { return fallback_max_tokens; }

  std::string default_base_url() const override {
    return std::string{anthropic_base_url};
  }

  std::vector<std::string> key_headers() const override {
    return {"x-api-key"};
  }

  http_request encode(const chat_request& req,
                      const provider_settings& provider) const override {
    http_request result;
    result.method = "POST";
    result.url =
        std::string{base_url_of(provider, anthropic_base_url)} + "/messages";
    if (!provider.api_key.empty()) {
      result.headers.emplace_back("x-api-key", provider.api_key);
    }
    result.headers.emplace_back("anthropic-version",
                                std::string{anthropic_version});
    result.headers.emplace_back("content-type", "application/json");
    for (const auto& [name, value] : provider.extra_headers) {
      set_header(result.headers, name, value, replaced_name::ours);
    }
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
    auto* content = member(doc, "content");
    if (content == nullptr || !content->IsArray()) {
      return make_failure(failure_kind::protocol,
                          "response has no content array: " + quote(body));
    }
    reply_parts reply;
    stream_update calls;
    for (const auto& block : content->GetArray()) {
      if (string_member(block, "type") == "text") {
        reply.text += string_member(block, "text");
      }
      if (auto piece = tool_use_piece(block, calls.tool_calls.size(), true)) {
        calls.tool_calls.push_back(std::move(*piece));
      }
    }
    add_update(reply, calls);
    auto stop_reason = string_member(doc, "stop_reason");
    reply.finish_reason = finish_reason_from(stop_reason);
    if (stop_reason == "refusal") {
      reply.refused = true;
      reply.finish_detail = refusal_detail(member(doc, "stop_details"));
    }
    if (auto* u = member(doc, "usage"); u != nullptr && u->IsObject()) {
      reply.usage = usage_from(*u);
    }
    return reply_outcome(std::move(reply));
  }

  stream_update decode_event(const stream_event& event) const override {
    stream_update update;
    auto data = trim(event.data);
    if (data.empty()) {
      update.terminal = event.event == "message_stop";
      return update;
    }
    rapidjson::Document doc;
    auto parsed = parse_json(doc, data);
    if (!parsed || !doc.IsObject()) {
      update.error = malformed_json("stream event", parsed, data);
      return update;
    }
    std::string_view type = string_member(doc, "type");
    if (type.empty()) {
      type = event.event;
    }
    if (type == "error" || event.event == "error") {
      auto err = vendor_error_from(doc);
      update.error = failure_from_vendor_error(err, data);
    } else if (type == "message_start") {
      if (auto* message = member(doc, "message"); message != nullptr) {
        if (auto* u = member(*message, "usage");
            u != nullptr && u->IsObject()) {
          // The output count here is a placeholder; message_delta has the
          // real one.
          auto report = report_of(*u);
          report.output_tokens.reset();
          update.usage = report;
        }
      }
    } else if (type == "content_block_start") {
      if (auto* block = member(doc, "content_block"); block != nullptr) {
        if (string_member(*block, "type") == "text") {
          update.text = string_member(*block, "text");
        }
        // A call's place is its block's index (text blocks leave gaps,
        // which `reply_outcome` closes).
        if (auto piece = tool_use_piece(*block, block_index(doc), false)) {
          update.tool_calls.push_back(std::move(*piece));
        }
      }
    } else if (type == "content_block_delta") {
      if (auto* delta = member(doc, "delta"); delta != nullptr) {
        auto kind = string_member(*delta, "type");
        if (kind == "text_delta") {
          update.text = string_member(*delta, "text");
        } else if (kind == "input_json_delta") {
          tool_call_delta piece;
          piece.index = block_index(doc);
          piece.arguments = string_member(*delta, "partial_json");
          update.tool_calls.push_back(std::move(piece));
        }
      }
    } else if (type == "message_delta") {
      if (auto* delta = member(doc, "delta"); delta != nullptr) {
        if (auto reason = string_member(*delta, "stop_reason");
            !reason.empty()) {
          update.finish_reason = finish_reason_from(reason);
          if (reason == "refusal") {
            update.refused = true;
            update.finish_detail =
                refusal_detail(member(*delta, "stop_details"));
          }
        }
      }
      // Counts so far; those left out keep what message_start said.
      if (auto* u = member(doc, "usage"); u != nullptr && u->IsObject()) {
        update.usage = report_of(*u);
      }
    } else if (type == "message_stop") {
      update.terminal = true;
    }
    // ping, content_block_stop and event types added later say nothing.
    return update;
  }

  /// `tokens-*` (the most restrictive of Anthropic's token budgets) wins
  /// over `input-tokens-*`.
  server_limits server_limits_of(const header_list& headers,
                                 int64_t now_unix_ms) const override {
    server_limits result;
    result.requests = anthropic_allowance(headers, "requests", now_unix_ms);
    result.tokens = anthropic_allowance(headers, "tokens", now_unix_ms);
    if (!result.tokens.known()) {
      result.tokens = anthropic_allowance(headers, "input-tokens", now_unix_ms);
    }
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
    auto kind = kind_from_type(err).value_or(kind_from_status(status, err));
    std::string message = err.message;
    if (message.empty()) {
      message = message_from_body(status, body);
    }
    return make_failure(kind, std::move(message), status);
  }
};

} // namespace

std::unique_ptr<codec> make_anthropic_codec() {
  return std::make_unique<anthropic_codec>();
}

} // namespace tutti
