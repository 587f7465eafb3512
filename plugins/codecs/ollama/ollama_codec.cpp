#include "plugins/codecs/ollama/ollama_codec.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>

#include "plugins/codecs/codec_support.hpp"

// Ollama's native chat API: POST /api/chat, a whole reply or a stream of
// newline-delimited JSON chunks, the last one `done: true` with the reason
// and the counts. docs/providers/ollama.md says what is sent and how
// replies and errors map; docs/codecs.md has the short form.

namespace tutti {

namespace {

using namespace codec_support;

constexpr std::string_view ollama_base_url = "http://localhost:11434";

/// How long Ollama keeps the model loaded after the request.
constexpr std::string_view keep_alive_key = "keep_alive";
/// The context window Ollama loads the model with, in tokens.
constexpr std::string_view num_ctx_key = "num_ctx";

/// The integer `text` is (an optional '-' when `sign`, then digits), when it
/// is one that fits in an int64_t.
std::optional<int64_t> integer_of(std::string_view text, bool sign) {
  if (text.empty() || (text[0] == '-' && !sign) || text[0] == '+') {
    return std::nullopt;
  }
  int64_t value = 0;
  auto* end = text.data() + text.size();
  auto [at, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc{} || at != end) {
    return std::nullopt;
  }
  return value;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

/// True for a Go duration as Ollama parses `keep_alive` strings
/// (time.ParseDuration): an optional sign, then one or more numbers (with
/// an optional fraction) each followed by a unit: ns, us, µs, ms, s, m, h.
/// "0" alone is one too, but it is an integer and sent as a number.
bool is_go_duration(std::string_view text) {
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    text.remove_prefix(1);
  }
  if (text.empty()) {
    return false;
  }
  while (!text.empty()) {
    std::size_t i = 0;
    std::size_t digits = 0;
    while (i < text.size() && is_digit(text[i])) {
      ++i, ++digits;
    }
    if (i < text.size() && text[i] == '.') {
      ++i;
      while (i < text.size() && is_digit(text[i])) {
        ++i, ++digits;
      }
    }
    if (digits == 0 || digits > 18) {
      return false;
    }
    text.remove_prefix(i);
    bool found = false;
    for (std::string_view unit :
         {"ns", "us", "\xC2\xB5s", "\xCE\xBCs", "ms", "s", "m", "h"}) {
      if (text.substr(0, unit.size()) == unit) {
        // "m" would also match the start of "ms": the longer ones come first.
        text.remove_prefix(unit.size());
        found = true;
        break;
      }
    }
    if (!found) {
      return false;
    }
  }
  return true;
}

/// `keep_alive`: a number of seconds (negative: keep the model loaded for
/// good, 0: unload it at once) or a Go duration such as "5m" or "1h30m".
std::string check_keep_alive(std::string_view text) {
  if (integer_of(text, true) || is_go_duration(text)) {
    return {};
  }
  return "expected a number of seconds (-1 keeps the model loaded, 0 "
         "unloads it at once) or a duration such as 5m, 30s or 1h30m";
}

/// `num_ctx`: a positive integer Ollama's int options can hold.
std::string check_num_ctx(std::string_view text) {
  auto value = integer_of(text, false);
  if (value && *value >= 1 && *value <= std::numeric_limits<int32_t>::max()) {
    return {};
  }
  return "expected a positive integer (the context window in tokens, such "
         "as 8192)";
}

/// The provider's value of one of the codec's keys; nullptr when unset.
const std::string* option_of(const provider_settings& provider,
                             std::string_view key) {
  auto it = provider.options.find(std::string{key});
  return it == provider.options.end() ? nullptr : &it->second;
}

/// The integer member `name` of `obj` when it is a count (>= 0).
std::optional<int64_t> count_member(const rapidjson::Value& obj,
                                    std::string_view name) {
  auto* value = member(obj, name);
  if (value != nullptr && value->IsInt64() && value->GetInt64() >= 0) {
    return value->GetInt64();
  }
  return std::nullopt;
}

/// The counts a reply or the stream's last chunk holds, as totals: input
/// is `prompt_eval_count`, which Ollama leaves out when the whole prompt
/// came from its cache; output is `eval_count`.
usage_report report_of(const rapidjson::Value& doc) {
  usage_report report;
  report.counting = usage_counting::totals;
  report.input_tokens = count_member(doc, "prompt_eval_count");
  report.output_tokens = count_member(doc, "eval_count");
  return report;
}

/// Our finish reason for an Ollama `done_reason`: `stop` and `length` are
/// ours already; others (`load`, later ones) pass through unchanged.
std::string finish_reason_from(std::string_view done_reason) {
  return std::string{done_reason};
}

/// What a reply's or a chunk's `message` holds: its `content` and its
/// `tool_calls`. `thinking` (a reasoning model's thoughts) is not the
/// answer and is left out.
struct message_view {
  std::string_view text;
  std::vector<tool_call_delta> calls;
};

/// Ollama sends each call whole, its `arguments` an object. A call's place
/// is its `function.index` where Ollama gives one (it streams parallel
/// calls one to a line); without one, it is the reply's next call.
message_view read_message(const rapidjson::Value& message) {
  message_view result;
  result.text = string_member(message, "content");
  if (auto* calls = member(message, "tool_calls");
      calls != nullptr && calls->IsArray()) {
    for (const auto& call : calls->GetArray()) {
      tool_call_delta piece;
      piece.whole = true; // unless Ollama numbers it
      piece.id = string_member(call, "id");
      if (auto* function = object_member(call, "function")) {
        piece.name = string_member(*function, "name");
        if (auto* index = member(*function, "index");
            index != nullptr && index->IsUint64()) {
          piece.whole = false;
          piece.index = static_cast<std::size_t>(
              std::min<uint64_t>(index->GetUint64(), max_tool_calls + 1));
        }
        if (auto* arguments = member(*function, "arguments");
            arguments != nullptr && !arguments->IsNull()) {
          piece.arguments =
              arguments->IsString()
                  ? std::string{string_member(*function, "arguments")}
                  : json_text(*arguments);
        }
      }
      result.calls.push_back(std::move(piece));
    }
  }
  return result;
}

/// Ollama's error, `{"error": "..."}`; nullopt when the JSON holds none.
std::optional<std::string> error_of(const rapidjson::Value& doc) {
  auto* error = member(doc, "error");
  if (error == nullptr || error->IsNull()) {
    return std::nullopt;
  }
  if (error->IsString()) {
    return std::string{error->GetString(), error->GetStringLength()};
  }
  if (auto message = string_member(*error, "message"); !message.empty()) {
    return std::string{message}; // a proxy's OpenAI-shaped error
  }
  return std::string{};
}

/// True when Ollama's message says the prompt does not fit the context, as
/// in "input length exceeds the context length".
bool says_context_length(std::string_view message) {
  return contains_ci(message, "context length") ||
         contains_ci(message, "context window") ||
         contains_ci(message, "exceeds maximum context");
}

/// The kind of an error that came without a status to go by (in a 2xx
/// body or mid-stream): Ollama's own words decide, else `server`.
failure_kind kind_from_message(std::string_view message) {
  if (says_context_length(message)) {
    return failure_kind::context_length;
  }
  if (contains_ci(message, "server busy")) {
    return failure_kind::overloaded;
  }
  if (contains_ci(message, "not found")) {
    return failure_kind::bad_request;
  }
  return failure_kind::server;
}

/// The failure for an error found where a reply was expected.
failure failure_from_error(const std::string& message, std::string_view raw) {
  return make_failure(kind_from_message(message),
                      message.empty() ? quote(raw) : message);
}

/// Ollama's role for a chat role: system, assistant and tool as they are,
/// anything else user.
std::string_view ollama_role(std::string_view role) {
  if (role == "system" || role == "assistant" || role == "tool") {
    return role;
  }
  return "user";
}

/// `options` with only the values set in the request, the provider's
/// defaults or its `num_ctx`; nothing at all when none is set.
void write_options(json_writer& w, const chat_params& params,
                   const chat_params& defaults, const std::string* num_ctx) {
  auto s = sampling_of(params, defaults);
  auto context =
      num_ctx == nullptr ? std::nullopt : integer_of(*num_ctx, false);
  if (s.empty() && !context && !params.frequency_penalty &&
      !params.presence_penalty) {
    return;
  }
  write_key(w, "options");
  w.StartObject();
  write_sampling_members(
      w, s, {"temperature", "top_p", "num_predict", "seed", "stop"});
  write_double_param(w, "frequency_penalty", params.frequency_penalty,
                     std::nullopt);
  write_double_param(w, "presence_penalty", params.presence_penalty,
                     std::nullopt);
  if (context) {
    write_key(w, "num_ctx");
    w.Int64(*context);
  }
  w.EndObject();
}

/// `keep_alive` when the provider sets one. Seconds go as a number: Ollama
/// reads a string as a Go duration, which needs a unit ("-1" alone would be
/// refused).
void write_keep_alive(json_writer& w, const provider_settings& provider) {
  if (auto* keep_alive = option_of(provider, keep_alive_key)) {
    write_key(w, "keep_alive");
    if (auto seconds = integer_of(*keep_alive, true)) {
      w.Int64(*seconds);
    } else {
      write_string(w, *keep_alive);
    }
  }
}

std::string encode_body(const chat_request& req,
                        const provider_settings& provider) {
  rapidjson::StringBuffer buffer;
  json_writer w{buffer};
  w.StartObject();
  write_key(w, "model");
  write_string(w, provider.model);
  write_key(w, "messages");
  w.StartArray();
  for (const auto& msg : req.messages) {
    w.StartObject();
    write_key(w, "role");
    write_string(w, ollama_role(msg.role));
    write_key(w, "content");
    write_string(w, msg.content);
    if (msg.images() > 0) {
      // Ollama takes a message's images apart from its text, in base64.
      write_key(w, "images");
      w.StartArray();
      for (const auto& part : msg.parts) {
        if (part.is_image()) {
          write_string(w, part.image.data);
        }
      }
      w.EndArray();
    }
    if (!msg.tool_calls.empty()) {
      write_key(w, "tool_calls");
      w.StartArray();
      for (const auto& call : msg.tool_calls) {
        w.StartObject();
        write_key(w, "function");
        w.StartObject();
        write_key(w, "name");
        write_string(w, call.name);
        write_key(w, "arguments");
        write_arguments_object(w, call.arguments);
        w.EndObject();
        w.EndObject();
      }
      w.EndArray();
    }
    if (msg.role == "tool") {
      // Ollama names the function a result is for, not the call.
      if (auto name = called_name(req.messages, msg.tool_call_id);
          !name.empty()) {
        write_key(w, "tool_name");
        write_string(w, name);
      }
    }
    w.EndObject();
  }
  w.EndArray();
  // `tool_choice: none` is no tools at all; Ollama has no other choice.
  if (!req.params.tools.empty() && req.params.tool_choice.mode != "none") {
    write_function_tools(w, req.params.tools, function_tools::ollama);
  }
  // A JSON reply is Ollama's `format`: "json", or the schema itself.
  const auto& format = req.params.response_format;
  if (format.type == "json_object") {
    write_key(w, "format");
    write_string(w, "json");
  } else if (format.type == "json_schema") {
    write_key(w, "format");
    write_raw_json(w, format.schema.empty() ? R"({"type":"object"})"
                                            : format.schema);
  }
  // Ollama streams unless told not to: always say which.
  write_key(w, "stream");
  w.Bool(req.stream);
  write_options(w, req.params, provider.defaults,
                option_of(provider, num_ctx_key));
  write_keep_alive(w, provider);
  w.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

class ollama_codec final : public codec {
public:
  bool takes_tools() const override { return true; }
  bool takes_images() const override { return true; }

  bool takes_response_format() const override { return true; }

  bool takes_param(std::string_view name) const override {
    return name == "frequency_penalty" || name == "presence_penalty";
  }

  /// Ollama cannot be made to call a tool: it has no `tool_choice`.
  bool takes_forced_tool_choice() const override { return false; }

  std::string default_base_url() const override {
    return std::string{ollama_base_url};
  }

  std::vector<std::string> key_headers() const override {
    return {"authorization"};
  }

  std::vector<codec_key> keys() const override {
    return {codec_key{std::string{keep_alive_key}, check_keep_alive},
            codec_key{std::string{num_ctx_key}, check_num_ctx}};
  }

  bool takes_embeddings() const override { return true; }

  /// 256 texts a call, as for OpenAI: the reply stays within the body
  /// limit.
  std::size_t max_embedding_batch() const override { return 256; }

  /// POST /api/embed: `{"model", "input": [...], "keep_alive"}`; Ollama
  /// chooses no dimensions.
  http_request
  encode_embedding(const embedding_request& req,
                   const provider_settings& provider) const override {
    http_request result;
    result.method = "POST";
    result.url =
        std::string{base_url_of(provider, ollama_base_url)} + "/api/embed";
    if (!provider.api_key.empty()) {
      result.headers.emplace_back("Authorization",
                                  "Bearer " + provider.api_key);
    }
    result.headers.emplace_back("Content-Type", "application/json");
    for (const auto& [name, value] : provider.extra_headers) {
      set_header(result.headers, name, value, replaced_name::custom);
    }
    rapidjson::StringBuffer buffer;
    json_writer w{buffer};
    w.StartObject();
    write_key(w, "model");
    write_string(w, embedding_model_of(provider));
    write_inputs(w, "input", req);
    write_keep_alive(w, provider);
    w.EndObject();
    result.body = {buffer.GetString(), buffer.GetSize()};
    return result;
  }

  /// `{"embeddings": [[...], ...], "prompt_eval_count": N}`.
  body_result decode_embedding(std::string_view body,
                               const embedding_request& req) const override {
    rapidjson::Document doc;
    auto parsed = parse_json(doc, body);
    if (!parsed || !doc.IsObject()) {
      return malformed_json("response body", parsed, body);
    }
    if (auto error = error_of(doc)) {
      return failure_from_error(*error, body);
    }
    auto read = read_embeddings(doc, req, body);
    if (auto* why = std::get_if<failure>(&read))
      return std::move(*why);
    auto& vectors = std::get<std::vector<std::vector<float>>>(read);
    tutti::usage used;
    apply_usage(used, report_of(doc));
    used.output_tokens = 0;
    return embedding_outcome(std::move(vectors), used, req);
  }

  http_request encode(const chat_request& req,
                      const provider_settings& provider) const override {
    http_request result;
    result.method = "POST";
    result.url =
        std::string{base_url_of(provider, ollama_base_url)} + "/api/chat";
    // Ollama itself takes no key; one behind an authenticating proxy does.
    if (!provider.api_key.empty()) {
      result.headers.emplace_back("Authorization",
                                  "Bearer " + provider.api_key);
    }
    result.headers.emplace_back("Content-Type", "application/json");
    for (const auto& [name, value] : provider.extra_headers) {
      set_header(result.headers, name, value, replaced_name::custom);
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
    if (auto error = error_of(doc)) {
      return failure_from_error(*error, body);
    }
    auto* message = object_member(doc, "message");
    if (message == nullptr) {
      return make_failure(failure_kind::protocol,
                          "response has no message object: " + quote(body));
    }
    if (auto* done = member(doc, "done"); done != nullptr && done->IsFalse()) {
      return make_failure(failure_kind::protocol,
                          "response is not finished (done is false): " +
                              quote(body));
    }
    auto view = read_message(*message);
    reply_parts reply;
    reply.text = std::string{view.text};
    stream_update calls;
    calls.tool_calls = std::move(view.calls);
    add_update(reply, calls);
    reply.finish_reason = finish_reason_from(string_member(doc, "done_reason"));
    apply_usage(reply.usage, report_of(doc));
    return reply_outcome(std::move(reply));
  }

  stream_framing framing() const override { return stream_framing::ndjson; }

  stream_update decode_event(const stream_event& event) const override {
    stream_update update;
    auto data = trim(event.data);
    if (data.empty()) {
      return update;
    }
    rapidjson::Document doc;
    auto parsed = parse_json(doc, data);
    if (!parsed || !doc.IsObject()) {
      update.error = malformed_json("stream event", parsed, data);
      return update;
    }
    if (auto error = error_of(doc)) {
      update.error = failure_from_error(*error, data);
      return update;
    }
    if (auto* message = object_member(doc, "message")) {
      auto view = read_message(*message);
      update.text = std::string{view.text};
      update.tool_calls = std::move(view.calls);
    }
    if (auto* done = member(doc, "done"); done != nullptr && done->IsTrue()) {
      // The last line: why it stopped and the counts. It is the stream's
      // only end marker.
      update.finish_reason =
          finish_reason_from(string_member(doc, "done_reason"));
      update.usage = report_of(doc);
      update.terminal = true;
    }
    return update;
  }

  failure classify_error(int status, std::string_view body,
                         const header_list&) const override {
    std::string message;
    rapidjson::Document doc;
    if (auto parsed = parse_json(doc, body); parsed && doc.IsObject()) {
      message = error_of(doc).value_or(std::string{});
    }
    auto kind = kind_from_common_status(status);
    if (!kind) {
      if (status >= 400 && status <= 499) {
        // 400 (invalid options, a bad request) and 404 (model not found,
        // not pulled) are the request's fault.
        kind = says_context_length(message) ? failure_kind::context_length
                                            : failure_kind::bad_request;
      } else {
        kind = failure_kind::protocol;
      }
    }
    if (message.empty()) {
      message = message_from_body(status, body);
    }
    return make_failure(*kind, std::move(message), status);
  }
};

} // namespace

std::unique_ptr<codec> make_ollama_codec() {
  return std::make_unique<ollama_codec>();
}

} // namespace tutti
