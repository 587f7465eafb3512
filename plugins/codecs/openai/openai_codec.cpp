#include "plugins/codecs/openai/openai_codec.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

// The OpenAI Chat Completions wire format (POST /v1/chat/completions), whole
// and streamed as server-sent events. docs/codecs.md says what is sent and how
// errors map to failure kinds.

namespace tutti {

namespace {

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

/// How much of an unexpected body a failure message quotes.
constexpr std::size_t quote_limit = 200;

/// At most `quote_limit` bytes of `text`, cut on a UTF-8 character boundary,
/// with "..." when something was left out.
std::string quote(std::string_view text) {
  if (text.size() <= quote_limit) {
    return std::string{text};
  }
  auto cut = quote_limit;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  std::string result{text.substr(0, cut)};
  result += "...";
  return result;
}

bool contains_ci(std::string_view haystack, std::string_view needle) {
  auto lower = [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  };
  auto found = std::search(
      haystack.begin(), haystack.end(), needle.begin(), needle.end(),
      [&lower](char a, char b) { return lower(a) == lower(b); });
  return found != haystack.end() || needle.empty();
}

std::string_view trim(std::string_view text) {
  auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
  };
  while (!text.empty() && is_space(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && is_space(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

void write_string(json_writer& w, std::string_view text) {
  w.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

void write_key(json_writer& w, std::string_view key) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}

/// The string member `name` of `obj`, or empty when absent or not a string.
std::string_view string_member(const rapidjson::Value& obj,
                               std::string_view name) {
  if (!obj.IsObject()) {
    return {};
  }
  auto it = obj.FindMember(
      rapidjson::Value(rapidjson::StringRef(name.data(), name.size())));
  if (it == obj.MemberEnd() || !it->value.IsString()) {
    return {};
  }
  return {it->value.GetString(), it->value.GetStringLength()};
}

/// The member `name` of `obj`, or nullptr when absent or `obj` is no object.
const rapidjson::Value* member(const rapidjson::Value& obj,
                               std::string_view name) {
  if (!obj.IsObject()) {
    return nullptr;
  }
  auto it = obj.FindMember(
      rapidjson::Value(rapidjson::StringRef(name.data(), name.size())));
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

int64_t int_member(const rapidjson::Value& obj, std::string_view name) {
  auto* value = member(obj, name);
  return value != nullptr && value->IsInt64() ? value->GetInt64() : 0;
}

/// The token counts of an OpenAI `usage` object.
tutti::usage usage_from(const rapidjson::Value& obj) {
  tutti::usage result;
  result.input_tokens = int_member(obj, "prompt_tokens");
  result.output_tokens = int_member(obj, "completion_tokens");
  return result;
}

/// The parts of an OpenAI error object that decide its kind.
struct vendor_error {
  bool found = false; ///< the body held an `error` member
  std::string message;
  std::string code; ///< `error.code`; numbers are written as text
  std::string type; ///< `error.type`
};

/// Reads `{"error": {"message", "type", "code"}}`; also the bare
/// `{"error": "text"}` some OpenAI-style servers send.
vendor_error vendor_error_from(const rapidjson::Value& doc) {
  vendor_error result;
  auto* error = member(doc, "error");
  if (error == nullptr || error->IsNull()) {
    return result;
  }
  result.found = true;
  if (error->IsString()) {
    result.message.assign(error->GetString(), error->GetStringLength());
    return result;
  }
  result.message = string_member(*error, "message");
  result.type = string_member(*error, "type");
  if (auto* code = member(*error, "code"); code != nullptr) {
    if (code->IsString()) {
      result.code.assign(code->GetString(), code->GetStringLength());
    } else if (code->IsInt64()) {
      result.code = std::to_string(code->GetInt64());
    }
  }
  return result;
}

bool says_context_length(const vendor_error& err) {
  return err.code == "context_length_exceeded" ||
         contains_ci(err.message, "maximum context length");
}

bool says_content_filter(const vendor_error& err) {
  return err.code == "content_filter" || err.code == "content_policy_violation";
}

/// The kind of an error that carries no HTTP status (one inside a stream, or
/// in a 2xx body), judged from its `code`, then its `type`.
failure_kind kind_from_vendor_error(const vendor_error& err) {
  if (says_context_length(err)) {
    return failure_kind::context_length;
  }
  if (says_content_filter(err)) {
    return failure_kind::content_filter;
  }
  for (std::string_view word :
       {std::string_view{err.code}, std::string_view{err.type}}) {
    if (word == "rate_limit_exceeded" || word == "insufficient_quota" ||
        word == "rate_limit_error" || word == "tokens" || word == "requests") {
      return failure_kind::rate_limited;
    }
    if (word == "overloaded" || word == "server_overloaded" ||
        word == "overloaded_error") {
      return failure_kind::overloaded;
    }
    if (word == "invalid_api_key" || word == "authentication_error" ||
        word == "permission_error") {
      return failure_kind::auth;
    }
    if (word == "invalid_request_error") {
      return failure_kind::bad_request;
    }
    if (word == "server_error" || word == "api_error") {
      return failure_kind::server;
    }
  }
  return failure_kind::server;
}

failure make_failure(failure_kind kind, std::string message,
                     int http_status = 0) {
  failure result;
  result.kind = kind;
  result.message = std::move(message);
  result.http_status = http_status;
  return result;
}

/// A failure for an error object found where a reply was expected.
failure failure_from_vendor_error(const vendor_error& err,
                                  std::string_view raw) {
  auto message = err.message.empty() ? quote(raw) : err.message;
  return make_failure(kind_from_vendor_error(err), std::move(message));
}

std::string parse_error_text(const rapidjson::Document& doc) {
  return std::string{rapidjson::GetParseError_En(doc.GetParseError())} +
         " at offset " + std::to_string(doc.GetErrorOffset());
}

class openai_codec final : public codec {
public:
  std::string default_base_url() const override {
    return "https://api.openai.com/v1";
  }

  http_request encode(const chat_request& req,
                      const provider_settings& provider) const override {
    http_request result;
    result.method = "POST";
    std::string_view base = provider.base_url;
    if (base.empty()) {
      base = "https://api.openai.com/v1";
    }
    while (!base.empty() && base.back() == '/') {
      base.remove_suffix(1);
    }
    result.url = std::string{base} + "/chat/completions";
    result.headers.emplace_back("Content-Type", "application/json");
    if (!provider.api_key.empty()) {
      result.headers.emplace_back("Authorization",
                                  "Bearer " + provider.api_key);
    }
    if (req.stream) {
      result.headers.emplace_back("Accept", "text/event-stream");
    }
    result.body = encode_body(req, provider);
    return result;
  }

  body_result decode_body(std::string_view body) const override {
    rapidjson::Document doc;
    doc.Parse(body.data(), body.size());
    if (doc.HasParseError()) {
      return make_failure(failure_kind::protocol,
                          "response body is not JSON (" +
                              parse_error_text(doc) + "): " + quote(body));
    }
    if (!doc.IsObject()) {
      return make_failure(failure_kind::protocol,
                          "response body is not a JSON object: " + quote(body));
    }
    if (auto err = vendor_error_from(doc); err.found) {
      return failure_from_vendor_error(err, body);
    }
    auto* choices = member(doc, "choices");
    if (choices == nullptr || !choices->IsArray() || choices->Empty()) {
      return make_failure(failure_kind::protocol,
                          "response has no choices: " + quote(body));
    }
    const auto& choice = (*choices)[0];
    auto* message = member(choice, "message");
    if (message == nullptr || !message->IsObject()) {
      return make_failure(failure_kind::protocol,
                          "response choice has no message: " + quote(body));
    }
    completion reply;
    reply.finish_reason = string_member(choice, "finish_reason");
    auto* content = member(*message, "content");
    if (content != nullptr && content->IsString()) {
      reply.text.assign(content->GetString(), content->GetStringLength());
    } else if ((content == nullptr || content->IsNull()) &&
               (reply.finish_reason == "content_filter" ||
                reply.finish_reason == "tool_calls")) {
      // No text, and the finish reason says why.
    } else {
      return make_failure(failure_kind::protocol,
                          "response message has no text content: " +
                              quote(body));
    }
    if (auto* u = member(doc, "usage"); u != nullptr && u->IsObject()) {
      reply.usage = usage_from(*u);
    }
    return reply;
  }

  stream_update decode_event(const sse_event& event) const override {
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
    doc.Parse(data.data(), data.size());
    if (doc.HasParseError()) {
      update.error =
          make_failure(failure_kind::protocol, "stream event is not JSON (" +
                                                   parse_error_text(doc) +
                                                   "): " + quote(data));
      return update;
    }
    if (!doc.IsObject()) {
      update.error =
          make_failure(failure_kind::protocol,
                       "stream event is not a JSON object: " + quote(data));
      return update;
    }
    if (auto err = vendor_error_from(doc); err.found) {
      update.error = failure_from_vendor_error(err, data);
      return update;
    }
    if (auto* choices = member(doc, "choices");
        choices != nullptr && choices->IsArray() && !choices->Empty()) {
      const auto& choice = (*choices)[0];
      if (auto* delta = member(choice, "delta"); delta != nullptr) {
        update.text = string_member(*delta, "content");
      }
      update.finish_reason = string_member(choice, "finish_reason");
    }
    if (auto* u = member(doc, "usage"); u != nullptr && u->IsObject()) {
      update.usage = usage_from(*u);
    }
    return update;
  }

  failure classify_error(int status, std::string_view body,
                         const header_list&) const override {
    vendor_error err;
    rapidjson::Document doc;
    doc.Parse(body.data(), body.size());
    if (!doc.HasParseError()) {
      err = vendor_error_from(doc);
    }
    auto kind = kind_from_status(status, err);
    std::string message = err.message;
    if (message.empty()) {
      auto text = trim(body);
      message = text.empty() ? "HTTP " + std::to_string(status) : quote(text);
    }
    if (err.code == "insufficient_quota" && !contains_ci(message, "quota")) {
      message = "insufficient quota: " + message;
    }
    return make_failure(kind, std::move(message), status);
  }

private:
  static failure_kind kind_from_status(int status, const vendor_error& err) {
    switch (status) {
    case 401:
    case 403:
      return failure_kind::auth;
    case 400:
    case 404:
    case 409:
    case 422:
      if (says_context_length(err)) {
        return failure_kind::context_length;
      }
      if (says_content_filter(err)) {
        return failure_kind::content_filter;
      }
      return failure_kind::bad_request;
    case 408:
      return failure_kind::timeout_total;
    case 429:
      return failure_kind::rate_limited;
    case 503:
    case 529:
      return failure_kind::overloaded;
    default:
      break;
    }
    if (status >= 500 && status <= 599) {
      return failure_kind::server;
    }
    return failure_kind::protocol;
  }

  static std::string encode_body(const chat_request& req,
                                 const provider_settings& provider) {
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
      w.StartObject();
      write_key(w, "role");
      write_string(w, msg.role);
      write_key(w, "content");
      write_string(w, msg.content);
      w.EndObject();
    }
    w.EndArray();
    auto write_double = [&w](std::string_view key,
                             const std::optional<double>& own,
                             const std::optional<double>& fallback) {
      const auto& value = own ? own : fallback;
      // JSON has no NaN or infinity; such a value is left to the default.
      if (value && std::isfinite(*value)) {
        write_key(w, key);
        w.Double(*value);
      }
    };
    auto write_int = [&w](std::string_view key,
                          const std::optional<int64_t>& own,
                          const std::optional<int64_t>& fallback) {
      const auto& value = own ? own : fallback;
      if (value) {
        write_key(w, key);
        w.Int64(*value);
      }
    };
    write_double("temperature", params.temperature, defaults.temperature);
    write_double("top_p", params.top_p, defaults.top_p);
    write_int("max_tokens", params.max_tokens, defaults.max_tokens);
    write_int("seed", params.seed, defaults.seed);
    const auto& stop = params.stop.empty() ? defaults.stop : params.stop;
    if (!stop.empty()) {
      write_key(w, "stop");
      w.StartArray();
      for (const auto& s : stop) {
        write_string(w, s);
      }
      w.EndArray();
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
};

} // namespace

std::unique_ptr<codec> make_openai_codec() {
  return std::make_unique<openai_codec>();
}

} // namespace tutti
