#include "tools/fake_llm/fake_llm.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <yaml-cpp/yaml.h>

#include "engine/src/json_reader.hpp"

namespace tutti::fake {

namespace {

using std::chrono::steady_clock;
using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

// Longest a scripted stall holds a connection before giving up on its own.
constexpr auto max_stall = std::chrono::seconds(60);
// How often a stall looks for a gone client or a stopping server.
constexpr auto stall_poll = std::chrono::milliseconds(20);
// Longest a reset waits for the bytes already sent to be acknowledged.
constexpr auto max_reset_drain = std::chrono::seconds(1);
// Pieces of a split write are 1 to this many bytes long.
constexpr uint32_t max_split_piece = 7;

int64_t steady_now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(steady_clock::now().time_since_epoch())
      .count();
}

int64_t unix_now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch())
      .count();
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

// --- script parsing --------------------------------------------------------

std::string position(const std::string& file, const YAML::Mark& mark) {
  if (mark.is_null()) {
    return file;
  }
  return file + ":" + std::to_string(mark.line + 1) + ":" +
         std::to_string(mark.column + 1);
}

[[noreturn]] void fail_at(const std::string& file, const YAML::Node& node,
                          const std::string& what) {
  throw std::runtime_error(position(file, node.Mark()) + ": " + what);
}

std::string scalar_of(const std::string& file, const YAML::Node& node,
                      const std::string& key) {
  if (!node.IsScalar()) {
    fail_at(file, node, "'" + key + "' must be a single value");
  }
  return node.Scalar();
}

int int_of(const std::string& file, const YAML::Node& node,
           const std::string& key, int min_value) {
  auto text = scalar_of(file, node, key);
  char* end = nullptr;
  errno = 0;
  long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || value < min_value ||
      value > 1'000'000'000) {
    fail_at(file, node,
            "'" + key + "' must be an integer >= " + std::to_string(min_value) +
                ", got '" + text + "'");
  }
  return static_cast<int>(value);
}

double double_of(const std::string& file, const YAML::Node& node,
                 const std::string& key) {
  auto text = scalar_of(file, node, key);
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(value) || value < 0) {
    fail_at(file, node,
            "'" + key + "' must be a number >= 0, got '" + text + "'");
  }
  return value;
}

bool bool_of(const std::string& file, const YAML::Node& node,
             const std::string& key) {
  auto text = scalar_of(file, node, key);
  if (text == "true" || text == "yes" || text == "on") {
    return true;
  }
  if (text == "false" || text == "no" || text == "off") {
    return false;
  }
  fail_at(file, node,
          "'" + key + "' must be true or false, got '" + text + "'");
}

// "250ms", "1.5s", "2s" or a bare number of milliseconds. Returns ms.
double duration_ms_of(const std::string& file, const YAML::Node& node,
                      const std::string& key) {
  auto text = scalar_of(file, node, key);
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  std::string unit = end != nullptr ? std::string(end) : std::string();
  double scale = 0;
  if (unit.empty() || unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  }
  if (text.empty() || end == text.c_str() || scale == 0 ||
      !std::isfinite(value) || value < 0 || value * scale > 1e9) {
    fail_at(file, node,
            "'" + key +
                "' must be a duration like 250ms, 1.5s, 2s or a number of "
                "milliseconds, got '" +
                text + "'");
  }
  return value * scale;
}

int status_of(const std::string& file, const YAML::Node& node,
              const std::string& key) {
  int status = int_of(file, node, key, 400);
  if (status > 599) {
    fail_at(file, node, "'" + key + "' must be between 400 and 599");
  }
  return status;
}

void parse_fail(const std::string& file, const YAML::Node& node,
                model_script& out) {
  if (node.IsScalar()) {
    out.fail_status = status_of(file, node, "fail");
    return;
  }
  if (!node.IsMap()) {
    fail_at(file, node,
            "'fail' must be a status or a map with status, message, type, "
            "code, retry_after, retry_after_ms, times");
  }
  bool has_status = false;
  for (const auto& entry : node) {
    auto key = entry.first.as<std::string>();
    const auto& value = entry.second;
    if (key == "status") {
      out.fail_status = status_of(file, value, key);
      has_status = true;
    } else if (key == "message") {
      out.fail_message = scalar_of(file, value, key);
    } else if (key == "type") {
      out.fail_type = scalar_of(file, value, key);
    } else if (key == "code") {
      out.fail_code = scalar_of(file, value, key);
    } else if (key == "retry_after") {
      auto text = scalar_of(file, value, key);
      bool bare = !text.empty() &&
                  std::all_of(text.begin(), text.end(),
                              [](char c) { return c >= '0' && c <= '9'; });
      out.retry_after_s =
          bare ? int_of(file, value, key, 0)
               : static_cast<int>(
                     std::ceil(duration_ms_of(file, value, key) / 1000.0));
    } else if (key == "retry_after_ms") {
      out.retry_after_ms =
          static_cast<int>(std::lround(duration_ms_of(file, value, key)));
    } else if (key == "times") {
      out.fail_times = int_of(file, value, key, 0);
    } else {
      fail_at(file, entry.first,
              "unknown key '" + key +
                  "' in 'fail' (expected status, message, type, code, "
                  "retry_after, retry_after_ms, times)");
    }
  }
  if (!has_status) {
    fail_at(file, node, "'fail' needs a 'status'");
  }
}

server_limit parse_server_limit(const std::string& file,
                                const YAML::Node& node) {
  if (!node.IsMap()) {
    fail_at(file, node,
            "'server_limit' must be a map with requests, tokens, window, "
            "refill");
  }
  server_limit out;
  for (const auto& entry : node) {
    auto key = entry.first.as<std::string>();
    const auto& value = entry.second;
    if (key == "requests") {
      out.requests = int_of(file, value, key, 1);
    } else if (key == "tokens") {
      out.tokens = int_of(file, value, key, 1);
    } else if (key == "window") {
      out.window_ms = std::llround(duration_ms_of(file, value, key));
      if (out.window_ms < 1) {
        fail_at(file, value, "'window' must be at least 1ms");
      }
    } else if (key == "refill") {
      const auto how = scalar_of(file, value, key);
      if (how == "continuous") {
        out.refill = limit_refill::continuous;
      } else if (how == "window") {
        out.refill = limit_refill::window;
      } else {
        fail_at(file, value,
                "'refill' must be continuous or window, got '" + how + "'");
      }
    } else {
      fail_at(file, entry.first,
              "unknown key '" + key +
                  "' in 'server_limit' (expected requests, tokens, window, "
                  "refill)");
    }
  }
  if (out.requests == 0 && out.tokens == 0) {
    fail_at(file, node, "'server_limit' needs 'requests' or 'tokens'");
  }
  return out;
}

model_script parse_model(const std::string& file, const YAML::Node& node,
                         const std::string& name) {
  model_script out;
  if (node.IsNull()) {
    return out;
  }
  if (!node.IsMap()) {
    fail_at(file, node, "model '" + name + "' must be a map");
  }
  for (const auto& entry : node) {
    auto key = entry.first.as<std::string>();
    const auto& value = entry.second;
    if (key == "reply") {
      out.reply = scalar_of(file, value, key);
    } else if (key == "refusal") {
      out.refusal = scalar_of(file, value, key);
    } else if (key == "latency") {
      out.latency_ms =
          static_cast<int>(std::lround(duration_ms_of(file, value, key)));
    } else if (key == "tokens_per_second") {
      out.tokens_per_second = double_of(file, value, key);
    } else if (key == "fail") {
      parse_fail(file, value, out);
    } else if (key == "stall_after_tokens") {
      out.stall_after_tokens = int_of(file, value, key, 0);
    } else if (key == "truncate_after_tokens") {
      out.truncate_after_tokens = int_of(file, value, key, 0);
    } else if (key == "malformed") {
      out.malformed = bool_of(file, value, key);
    } else if (key == "raw_body") {
      out.raw_body = scalar_of(file, value, key);
    } else if (key == "finish_reason") {
      out.finish_reason = scalar_of(file, value, key);
      if (out.finish_reason.empty()) {
        fail_at(file, value, "'finish_reason' must not be empty");
      }
    } else if (key == "split_chunks") {
      out.split_chunks = bool_of(file, value, key);
    } else if (key == "split_seed") {
      out.split_seed = static_cast<uint32_t>(int_of(file, value, key, 0));
    } else if (key == "crlf") {
      out.crlf = bool_of(file, value, key);
    } else if (key == "ping_comments") {
      out.ping_comments = bool_of(file, value, key);
    } else if (key == "end_without_terminator") {
      out.end_without_terminator = bool_of(file, value, key);
    } else if (key == "error_event_after_tokens") {
      out.error_event_after_tokens = int_of(file, value, key, 0);
    } else if (key == "error_event_status") {
      out.error_event_status = status_of(file, value, key);
    } else if (key == "error_event_message") {
      out.error_event_message = scalar_of(file, value, key);
    } else if (key == "drip_ms") {
      out.drip_ms =
          static_cast<int>(std::lround(duration_ms_of(file, value, key)));
    } else if (key == "reset_after_tokens") {
      out.reset_after_tokens = int_of(file, value, key, 0);
    } else if (key == "safety_block") {
      out.safety_block = bool_of(file, value, key);
    } else if (key == "server_limit") {
      out.limit = parse_server_limit(file, value);
    } else {
      fail_at(
          file, entry.first,
          "unknown key '" + key + "' in model '" + name +
              "' (expected reply, refusal, latency, tokens_per_second, fail, "
              "stall_after_tokens, truncate_after_tokens, malformed, "
              "raw_body, "
              "finish_reason, split_chunks, split_seed, crlf, "
              "ping_comments, end_without_terminator, "
              "error_event_after_tokens, error_event_status, "
              "error_event_message, drip_ms, reset_after_tokens, "
              "safety_block, server_limit)");
    }
  }
  return out;
}

script parse_script_named(const std::string& text, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw std::runtime_error(position(file, e.mark) + ": " + e.msg);
  }
  script out;
  if (!root || root.IsNull()) {
    return out;
  }
  if (!root.IsMap()) {
    fail_at(file, root, "a script must be a map with 'models' and 'default'");
  }
  for (const auto& entry : root) {
    auto key = entry.first.as<std::string>();
    const auto& value = entry.second;
    if (key == "models") {
      if (value.IsNull()) {
        continue;
      }
      if (!value.IsMap()) {
        fail_at(file, value,
                "'models' must be a map from model name to "
                "behaviour");
      }
      for (const auto& model : value) {
        auto name = model.first.as<std::string>();
        out.models[name] = parse_model(file, model.second, name);
      }
    } else if (key == "default") {
      out.fallback = parse_model(file, value, "default");
    } else {
      fail_at(file, entry.first,
              "unknown key '" + key + "' (expected models, default)");
    }
  }
  return out;
}

// --- wire formats ------------------------------------------------------------

enum class wire { openai, anthropic, gemini };

const char* wire_name(wire w) {
  switch (w) {
  case wire::anthropic:
    return "anthropic";
  case wire::gemini:
    return "gemini";
  case wire::openai:
    break;
  }
  return "openai";
}

void write_string(json_writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void write_string_or_null(json_writer& w, std::string_view s) {
  if (s.empty()) {
    w.Null();
  } else {
    write_string(w, s);
  }
}

// An error in vendor-neutral terms; error_json() renders it per format.
struct error_shape {
  std::string message;
  // error.type (OpenAI, Anthropic) or error.status (Gemini).
  std::string type;
  // error.code (OpenAI only).
  std::string code;
  // error.param (OpenAI only).
  std::string param;
  // >= 0: a Gemini RetryInfo detail with this delay in seconds.
  int retry_after_s = -1;
};

error_shape openai_default_error(int status) {
  switch (status) {
  case 400:
    return {"The request was invalid.", "invalid_request_error", "", "", -1};
  case 401:
    return {"Incorrect API key provided.", "invalid_request_error",
            "invalid_api_key", "", -1};
  case 403:
    return {"You are not allowed to access this model.", "permission_error", "",
            "", -1};
  case 404:
    return {"The model does not exist or you do not have access to it.",
            "invalid_request_error", "model_not_found", "", -1};
  case 408:
  case 504:
    return {"Request timed out.", "server_error", "timeout", "", -1};
  case 429:
    return {"Rate limit reached for requests. Please try again later.",
            "rate_limit_exceeded", "rate_limit_exceeded", "", -1};
  case 500:
    return {"The server had an error while processing your request. Sorry "
            "about that!",
            "server_error", "", "", -1};
  case 502:
    return {"Bad gateway.", "server_error", "", "", -1};
  case 503:
    return {"The engine is currently overloaded, please try again later.",
            "server_error", "", "", -1};
  default:
    if (status >= 500) {
      return {"The server had an error while processing your request.",
              "server_error", "", "", -1};
    }
    return {"The request was rejected.", "invalid_request_error", "", "", -1};
  }
}

error_shape anthropic_default_error(int status) {
  switch (status) {
  case 400:
    return {"The request was invalid.", "invalid_request_error", "", "", -1};
  case 401:
    return {"invalid x-api-key", "authentication_error", "", "", -1};
  case 403:
    return {"Your API key does not have permission to use the specified "
            "resource.",
            "permission_error", "", "", -1};
  case 404:
    return {"The requested resource could not be found.", "not_found_error", "",
            "", -1};
  case 413:
    return {"Request exceeds the maximum allowed number of bytes.",
            "request_too_large", "", "", -1};
  case 429:
    return {"This request would exceed the rate limit for your organization. "
            "Please try again later.",
            "rate_limit_error", "", "", -1};
  case 529:
    return {"Overloaded", "overloaded_error", "", "", -1};
  default:
    if (status >= 500) {
      return {"Internal server error", "api_error", "", "", -1};
    }
    return {"The request was rejected.", "invalid_request_error", "", "", -1};
  }
}

error_shape gemini_default_error(int status) {
  switch (status) {
  case 400:
    return {"Request contains an invalid argument.", "INVALID_ARGUMENT", "", "",
            -1};
  case 401:
    return {"API key not valid. Please pass a valid API key.",
            "UNAUTHENTICATED", "", "", -1};
  case 403:
    return {"The caller does not have permission", "PERMISSION_DENIED", "", "",
            -1};
  case 404:
    return {"Requested entity was not found.", "NOT_FOUND", "", "", -1};
  case 408:
  case 504:
    return {"The request timed out. Please try again.", "DEADLINE_EXCEEDED", "",
            "", -1};
  case 429:
    return {"Resource has been exhausted (e.g. check quota).",
            "RESOURCE_EXHAUSTED", "", "", -1};
  case 503:
  case 529:
    return {"The model is overloaded. Please try again later.", "UNAVAILABLE",
            "", "", -1};
  default:
    if (status >= 500) {
      return {"An internal error has occurred. Please retry or report in "
              "https://developers.generativeai.google/guide/troubleshooting",
              "INTERNAL", "", "", -1};
    }
    return {"The request was rejected.", "FAILED_PRECONDITION", "", "", -1};
  }
}

error_shape default_error(wire w, int status) {
  switch (w) {
  case wire::anthropic:
    return anthropic_default_error(status);
  case wire::gemini:
    return gemini_default_error(status);
  case wire::openai:
    break;
  }
  return openai_default_error(status);
}

// The error JSON of a format. `request_id` (Anthropic HTTP errors only) is
// left out when empty, as in Anthropic's stream error events.
std::string error_json(wire format, int status, const error_shape& e,
                       std::string_view request_id = {}) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  w.StartObject();
  if (format == wire::anthropic) {
    w.Key("type");
    w.String("error");
    w.Key("error");
    w.StartObject();
    w.Key("type");
    write_string(w, e.type);
    w.Key("message");
    write_string(w, e.message);
    w.EndObject();
    if (!request_id.empty()) {
      w.Key("request_id");
      write_string(w, request_id);
    }
  } else if (format == wire::gemini) {
    w.Key("error");
    w.StartObject();
    w.Key("code");
    w.Int(status);
    w.Key("message");
    write_string(w, e.message);
    w.Key("status");
    write_string(w, e.type);
    if (e.retry_after_s >= 0) {
      w.Key("details");
      w.StartArray();
      w.StartObject();
      w.Key("@type");
      w.String("type.googleapis.com/google.rpc.RetryInfo");
      w.Key("retryDelay");
      write_string(w, std::to_string(e.retry_after_s) + "s");
      w.EndObject();
      w.EndArray();
    }
    w.EndObject();
  } else {
    w.Key("error");
    w.StartObject();
    w.Key("message");
    write_string(w, e.message);
    w.Key("type");
    write_string(w, e.type);
    w.Key("param");
    write_string_or_null(w, e.param);
    w.Key("code");
    write_string_or_null(w, e.code);
    w.EndObject();
  }
  w.EndObject();
  return buf.GetString();
}

// --- requests ----------------------------------------------------------------

// Text of a content value: a string, or the `text` of an array's parts (OpenAI
// content parts, Anthropic content blocks, Gemini parts) joined by spaces.
std::string text_of(const rapidjson::Value& content) {
  if (content.IsString()) {
    return {content.GetString(), content.GetStringLength()};
  }
  std::string text;
  if (content.IsArray()) {
    for (const auto& part : content.GetArray()) {
      if (!part.IsObject()) {
        continue;
      }
      auto t = part.FindMember("text");
      if (t != part.MemberEnd() && t->value.IsString()) {
        if (!text.empty()) {
          text += ' ';
        }
        text.append(t->value.GetString(), t->value.GetStringLength());
      }
    }
  }
  return text;
}

// Text of `object[key]`, "" when absent.
std::string member_text(const rapidjson::Value& object, const char* key) {
  if (!object.IsObject()) {
    return {};
  }
  auto it = object.FindMember(key);
  return it == object.MemberEnd() ? std::string() : text_of(it->value);
}

// A request in vendor-neutral terms.
struct chat_request {
  wire format = wire::openai;
  std::string model;
  bool stream = false;
  bool include_usage = false;
  std::optional<int> max_tokens;
  std::optional<int64_t> seed; ///< OpenAI's `seed`
  std::string last_user;
  int prompt_tokens = 0;
  // Non-empty when the request is invalid (a 400).
  std::string error;
  std::string error_param;
  std::string error_code;
};

// Reads an optional positive integer `key` of `object` into `out`; false (with
// the request's error set) when present but not such an integer.
bool read_max_tokens(const rapidjson::Value& object, const char* key,
                     const std::string& shown, chat_request& out) {
  auto it = object.FindMember(key);
  if (it == object.MemberEnd() || it->value.IsNull()) {
    return true;
  }
  if (!it->value.IsInt() || it->value.GetInt() < 1) {
    out.error = shown + " must be an integer >= 1.";
    out.error_param = key;
    return false;
  }
  out.max_tokens = it->value.GetInt();
  return true;
}

// Reads an optional boolean `stream`; false (with the error set) when bad.
bool read_stream(const rapidjson::Value& object, chat_request& out) {
  auto stream = object.FindMember("stream");
  if (stream == object.MemberEnd() || stream->value.IsNull()) {
    return true;
  }
  if (!stream->value.IsBool()) {
    out.error = "'stream' must be a boolean.";
    out.error_param = "stream";
    return false;
  }
  out.stream = stream->value.GetBool();
  return true;
}

chat_request parse_openai_request(const std::string& body) {
  chat_request out;
  rapidjson::Document doc;
  if (!json_reader::parse(doc, body) || !doc.IsObject()) {
    out.error = "We could not parse the JSON body of your request. The "
                "request body must be a JSON object.";
    return out;
  }
  auto model = doc.FindMember("model");
  if (model == doc.MemberEnd() || !model->value.IsString() ||
      model->value.GetStringLength() == 0) {
    out.error = "you must provide a model parameter";
    out.error_param = "model";
    return out;
  }
  out.model.assign(model->value.GetString(), model->value.GetStringLength());
  auto messages = doc.FindMember("messages");
  if (messages == doc.MemberEnd()) {
    out.error = "Missing required parameter: 'messages'.";
    out.error_param = "messages";
    out.error_code = "missing_required_parameter";
    return out;
  }
  if (!messages->value.IsArray() || messages->value.Empty()) {
    out.error = "'messages' must be a non-empty array of messages.";
    out.error_param = "messages";
    return out;
  }
  for (const auto& message : messages->value.GetArray()) {
    if (!message.IsObject() || !message.HasMember("role") ||
        !message["role"].IsString()) {
      out.error = "Each message must be an object with a string 'role'.";
      out.error_param = "messages";
      return out;
    }
    auto text = member_text(message, "content");
    out.prompt_tokens += count_tokens(text);
    if (std::string_view(message["role"].GetString()) == "user") {
      out.last_user = std::move(text);
    }
  }
  if (!read_stream(doc, out)) {
    return out;
  }
  auto options = doc.FindMember("stream_options");
  if (options != doc.MemberEnd() && options->value.IsObject()) {
    auto usage = options->value.FindMember("include_usage");
    out.include_usage = usage != options->value.MemberEnd() &&
                        usage->value.IsBool() && usage->value.GetBool();
  }
  for (const char* key : {"max_completion_tokens", "max_tokens"}) {
    if (!read_max_tokens(doc, key, std::string("'") + key + "'", out)) {
      return out;
    }
    if (out.max_tokens) {
      break;
    }
  }
  if (auto seed = doc.FindMember("seed");
      seed != doc.MemberEnd() && seed->value.IsInt64()) {
    out.seed = seed->value.GetInt64();
  }
  return out;
}

chat_request parse_anthropic_request(const std::string& body) {
  chat_request out;
  out.format = wire::anthropic;
  rapidjson::Document doc;
  if (!json_reader::parse(doc, body) || !doc.IsObject()) {
    out.error = "There was an issue with the JSON body of your request: it "
                "must be a JSON object.";
    return out;
  }
  auto model = doc.FindMember("model");
  if (model == doc.MemberEnd() || !model->value.IsString() ||
      model->value.GetStringLength() == 0) {
    out.error = "model: Field required";
    return out;
  }
  out.model.assign(model->value.GetString(), model->value.GetStringLength());
  if (!doc.HasMember("max_tokens") || doc["max_tokens"].IsNull()) {
    out.error = "max_tokens: Field required";
    return out;
  }
  if (!read_max_tokens(doc, "max_tokens", "max_tokens:", out)) {
    return out;
  }
  auto messages = doc.FindMember("messages");
  if (messages == doc.MemberEnd() || !messages->value.IsArray() ||
      messages->value.Empty()) {
    out.error = "messages: at least one message is required";
    return out;
  }
  size_t i = 0;
  for (const auto& message : messages->value.GetArray()) {
    if (!message.IsObject() || !message.HasMember("role") ||
        !message["role"].IsString() || !message.HasMember("content")) {
      out.error = "messages." + std::to_string(i) +
                  ": each message needs a string 'role' and a 'content'";
      return out;
    }
    auto text = member_text(message, "content");
    out.prompt_tokens += count_tokens(text);
    if (std::string_view(message["role"].GetString()) == "user") {
      out.last_user = std::move(text);
    }
    ++i;
  }
  out.prompt_tokens += count_tokens(member_text(doc, "system"));
  read_stream(doc, out);
  return out;
}

chat_request parse_gemini_request(const std::string& body, std::string model,
                                  bool stream) {
  chat_request out;
  out.format = wire::gemini;
  out.model = std::move(model);
  out.stream = stream;
  rapidjson::Document doc;
  if (!json_reader::parse(doc, body) || !doc.IsObject()) {
    out.error = "Invalid JSON payload received.";
    return out;
  }
  auto contents = doc.FindMember("contents");
  if (contents == doc.MemberEnd() || !contents->value.IsArray() ||
      contents->value.Empty()) {
    out.error = "* GenerateContentRequest.contents: contents is not specified";
    return out;
  }
  size_t i = 0;
  for (const auto& content : contents->value.GetArray()) {
    auto parts = content.IsObject() ? content.FindMember("parts")
                                    : rapidjson::Value::ConstMemberIterator();
    if (!content.IsObject() || parts == content.MemberEnd() ||
        !parts->value.IsArray() || parts->value.Empty()) {
      out.error = "* GenerateContentRequest.contents[" + std::to_string(i) +
                  "].parts: contents.parts must not be empty.";
      return out;
    }
    auto text = text_of(parts->value);
    out.prompt_tokens += count_tokens(text);
    auto role = content.FindMember("role");
    bool user = role == content.MemberEnd() ||
                (role->value.IsString() &&
                 std::string_view(role->value.GetString()) == "user");
    if (user) {
      out.last_user = std::move(text);
    }
    ++i;
  }
  auto system = doc.FindMember("systemInstruction");
  if (system != doc.MemberEnd()) {
    out.prompt_tokens += count_tokens(system->value.IsObject()
                                          ? member_text(system->value, "parts")
                                          : text_of(system->value));
  }
  auto config = doc.FindMember("generationConfig");
  if (config != doc.MemberEnd() && config->value.IsObject()) {
    read_max_tokens(config->value, "maxOutputTokens",
                    "* GenerateContentRequest.generation_config.max_output_"
                    "tokens:",
                    out);
  }
  return out;
}

// --- replies -----------------------------------------------------------------

// The reply as it will be sent: tokens, their concatenation, finish reason (in
// OpenAI's terms; see vendor_finish).
struct reply_plan {
  std::vector<std::string> tokens;
  std::string content;
  int completion_tokens = 0;
  std::string finish_reason;
  /// The tokens are the model's refusal, not its answer (OpenAI and
  /// Anthropic formats; Gemini sends them as text).
  bool refusal = false;
};

reply_plan plan_reply(const model_script& ms, const chat_request& req) {
  reply_plan plan;
  plan.refusal = !ms.refusal.empty() && req.format != wire::gemini;
  auto text = !ms.refusal.empty() ? ms.refusal
              : ms.reply.empty()  ? "echo: " + req.last_user
                                  : ms.reply;
  plan.tokens = split_tokens(text);
  plan.finish_reason = ms.finish_reason;
  if (req.max_tokens &&
      static_cast<size_t>(*req.max_tokens) < plan.tokens.size()) {
    plan.tokens.resize(static_cast<size_t>(*req.max_tokens));
    auto& last = plan.tokens.back();
    while (!last.empty() && is_space(last.back())) {
      last.pop_back();
    }
    plan.finish_reason = "length";
  }
  for (const auto& t : plan.tokens) {
    plan.content += t;
  }
  plan.completion_tokens = count_tokens(plan.content);
  return plan;
}

// A finish reason in a format's own terms: stop, length and content_filter are
// mapped; anything else is sent as scripted.
std::string vendor_finish(wire w, const std::string& reason) {
  struct mapping {
    const char* openai;
    const char* anthropic;
    const char* gemini;
  };
  static const mapping table[] = {{"stop", "end_turn", "STOP"},
                                  {"length", "max_tokens", "MAX_TOKENS"},
                                  {"content_filter", "refusal", "SAFETY"}};
  for (const auto& m : table) {
    if (reason == m.openai) {
      return w == wire::anthropic ? m.anthropic
             : w == wire::gemini  ? m.gemini
                                  : m.openai;
    }
  }
  return reason;
}

struct response_ids {
  std::string id;
  int64_t created = 0;
  std::string model;
};

// --- OpenAI bodies and events
// --------------------------------------------------

void write_header_fields(json_writer& w, const response_ids& ids,
                         const char* object) {
  w.Key("id");
  write_string(w, ids.id);
  w.Key("object");
  w.String(object);
  w.Key("created");
  w.Int64(ids.created);
  w.Key("model");
  write_string(w, ids.model);
  w.Key("system_fingerprint");
  w.String("fp_tutti_fake");
}

void write_usage(json_writer& w, int prompt, int completion) {
  w.Key("usage");
  w.StartObject();
  w.Key("prompt_tokens");
  w.Int(prompt);
  w.Key("completion_tokens");
  w.Int(completion);
  w.Key("total_tokens");
  w.Int(prompt + completion);
  w.EndObject();
}

std::string openai_whole_body(const response_ids& ids, const reply_plan& plan,
                              int prompt_tokens) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  w.StartObject();
  write_header_fields(w, ids, "chat.completion");
  w.Key("choices");
  w.StartArray();
  w.StartObject();
  w.Key("index");
  w.Int(0);
  w.Key("message");
  w.StartObject();
  w.Key("role");
  w.String("assistant");
  w.Key("content");
  if (plan.refusal) {
    w.Null();
  } else {
    write_string(w, plan.content);
  }
  w.Key("refusal");
  if (plan.refusal) {
    write_string(w, plan.content);
  } else {
    w.Null();
  }
  w.EndObject();
  w.Key("logprobs");
  w.Null();
  w.Key("finish_reason");
  write_string(w, plan.finish_reason);
  w.EndObject();
  w.EndArray();
  write_usage(w, prompt_tokens, plan.completion_tokens);
  w.EndObject();
  return buf.GetString();
}

enum class delta_kind { role, content, refusal, finish };

// One `data: {...}\n\n` event carrying a choice chunk.
std::string choice_event(const response_ids& ids, delta_kind kind,
                         std::string_view text, bool usage_null) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  w.StartObject();
  write_header_fields(w, ids, "chat.completion.chunk");
  w.Key("choices");
  w.StartArray();
  w.StartObject();
  w.Key("index");
  w.Int(0);
  w.Key("delta");
  w.StartObject();
  if (kind == delta_kind::role) {
    w.Key("role");
    w.String("assistant");
    w.Key("content");
    w.String("");
  } else if (kind == delta_kind::content) {
    w.Key("content");
    write_string(w, text);
  } else if (kind == delta_kind::refusal) {
    w.Key("refusal");
    write_string(w, text);
  }
  w.EndObject();
  w.Key("logprobs");
  w.Null();
  w.Key("finish_reason");
  if (kind == delta_kind::finish) {
    write_string(w, text);
  } else {
    w.Null();
  }
  w.EndObject();
  w.EndArray();
  if (usage_null) {
    w.Key("usage");
    w.Null();
  }
  w.EndObject();
  return "data: " + std::string(buf.GetString()) + "\n\n";
}

std::string usage_event(const response_ids& ids, int prompt, int completion) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  w.StartObject();
  write_header_fields(w, ids, "chat.completion.chunk");
  w.Key("choices");
  w.StartArray();
  w.EndArray();
  write_usage(w, prompt, completion);
  w.EndObject();
  return "data: " + std::string(buf.GetString()) + "\n\n";
}

// --- Anthropic bodies and events
// -----------------------------------------------

void write_anthropic_usage(json_writer& w, int input, int output) {
  w.Key("usage");
  w.StartObject();
  w.Key("input_tokens");
  w.Int(input);
  w.Key("cache_creation_input_tokens");
  w.Int(0);
  w.Key("cache_read_input_tokens");
  w.Int(0);
  w.Key("output_tokens");
  w.Int(output);
  w.EndObject();
}

// `stop_reason`'s value, and for a refusal `stop_details` with the words.
void write_anthropic_stop(json_writer& w, const reply_plan& plan) {
  if (!plan.refusal) {
    write_string(w, vendor_finish(wire::anthropic, plan.finish_reason));
    return;
  }
  w.String("refusal");
  w.Key("stop_details");
  w.StartObject();
  w.Key("type");
  w.String("refusal");
  w.Key("category");
  w.Null();
  w.Key("explanation");
  write_string(w, plan.content);
  w.EndObject();
}

// The message object; `whole` false gives message_start's (empty content, no
// stop reason yet).
void write_anthropic_message(json_writer& w, const response_ids& ids,
                             const reply_plan& plan, int prompt_tokens,
                             bool whole) {
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
  if (whole && !plan.refusal) {
    w.StartObject();
    w.Key("type");
    w.String("text");
    w.Key("text");
    write_string(w, plan.content);
    w.EndObject();
  }
  w.EndArray();
  w.Key("stop_reason");
  if (whole) {
    write_anthropic_stop(w, plan);
  } else {
    w.Null();
  }
  w.Key("stop_sequence");
  w.Null();
  // message_start reports output_tokens 1, as Anthropic does; message_delta
  // carries the final count.
  write_anthropic_usage(w, prompt_tokens, whole ? plan.completion_tokens : 1);
  w.EndObject();
}

std::string anthropic_whole_body(const response_ids& ids,
                                 const reply_plan& plan, int prompt_tokens) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  write_anthropic_message(w, ids, plan, prompt_tokens, true);
  return buf.GetString();
}

std::string named_event(std::string_view name, std::string_view data) {
  std::string out = "event: ";
  out.append(name);
  out += "\ndata: ";
  out.append(data);
  out += "\n\n";
  return out;
}

// `event: <type>` / `data: {"type":"<type>", ...fields}`.
template <class Fields>
std::string anthropic_event(const char* type, Fields&& fields) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  w.StartObject();
  w.Key("type");
  w.String(type);
  fields(w);
  w.EndObject();
  return named_event(type, buf.GetString());
}

// --- Gemini bodies and events ------------------------------------------------

struct gemini_chunk {
  std::string_view text;
  // Empty: no finishReason (and no usageMetadata) in this chunk.
  std::string finish;
  bool blocked = false;
};

std::string gemini_json(const response_ids& ids, const gemini_chunk& c,
                        int prompt_tokens, int completion_tokens) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  w.StartObject();
  if (c.blocked) {
    w.Key("promptFeedback");
    w.StartObject();
    w.Key("blockReason");
    w.String("SAFETY");
    w.EndObject();
  } else {
    w.Key("candidates");
    w.StartArray();
    w.StartObject();
    w.Key("content");
    w.StartObject();
    w.Key("parts");
    w.StartArray();
    w.StartObject();
    w.Key("text");
    write_string(w, c.text);
    w.EndObject();
    w.EndArray();
    w.Key("role");
    w.String("model");
    w.EndObject();
    if (!c.finish.empty()) {
      w.Key("finishReason");
      write_string(w, c.finish);
    }
    w.Key("index");
    w.Int(0);
    w.EndObject();
    w.EndArray();
  }
  if (c.blocked || !c.finish.empty()) {
    w.Key("usageMetadata");
    w.StartObject();
    w.Key("promptTokenCount");
    w.Int(prompt_tokens);
    if (!c.blocked) {
      w.Key("candidatesTokenCount");
      w.Int(completion_tokens);
    }
    w.Key("totalTokenCount");
    w.Int(prompt_tokens + (c.blocked ? 0 : completion_tokens));
    w.EndObject();
  }
  w.Key("modelVersion");
  write_string(w, ids.model);
  w.Key("responseId");
  write_string(w, ids.id);
  w.EndObject();
  return buf.GetString();
}

std::string data_event(std::string_view data) {
  std::string out = "data: ";
  out.append(data);
  out += "\n\n";
  return out;
}

// --- whole bodies and event streams of every format
// ----------------------------

std::string whole_body(wire format, const response_ids& ids,
                       const reply_plan& plan, int prompt_tokens,
                       bool safety_block) {
  switch (format) {
  case wire::anthropic:
    return anthropic_whole_body(ids, plan, prompt_tokens);
  case wire::gemini: {
    gemini_chunk c;
    c.text = plan.content;
    c.finish = vendor_finish(wire::gemini, plan.finish_reason);
    c.blocked = safety_block;
    return gemini_json(ids, c, prompt_tokens, plan.completion_tokens);
  }
  case wire::openai:
    break;
  }
  return openai_whole_body(ids, plan, prompt_tokens);
}

std::string malformed_whole_body(wire format, const response_ids& ids) {
  switch (format) {
  case wire::anthropic:
    return R"({"id":")" + ids.id +
           R"(","type":"message","content":[{this is not json)";
  case wire::gemini:
    return R"({"candidates":[{"content":{this is not json)";
  case wire::openai:
    break;
  }
  return R"({"id":")" + ids.id +
         R"(","object":"chat.completion","choices":[{this is not json)";
}

// A streamed reply as SSE events (LF line ends), in the order they are sent:
// head, one event per token, finish, terminator. `malformed` goes right after
// the head when scripted; `error` is the mid-stream error event.
struct stream_events {
  std::vector<std::string> head;
  std::vector<std::string> tokens;
  std::vector<std::string> finish;
  std::vector<std::string> terminator;
  std::string malformed;
  std::string error;
  // The usage {input, output} reported once the head, the last content event
  // or the finish events are sent; absent where they report none.
  std::optional<std::pair<int, int>> head_usage;
  std::optional<std::pair<int, int>> last_token_usage;
  std::optional<std::pair<int, int>> finish_usage;
};

stream_events make_stream_events(wire format, const response_ids& ids,
                                 const reply_plan& plan,
                                 const chat_request& chat,
                                 const model_script& ms) {
  stream_events out;
  const int prompt = chat.prompt_tokens;
  const int completion = plan.completion_tokens;
  int error_status = ms.error_event_status;
  if (error_status == 0) {
    error_status = format == wire::anthropic ? 529
                   : format == wire::gemini  ? 503
                                             : 500;
  }
  auto error = default_error(format, error_status);
  if (!ms.error_event_message.empty()) {
    error.message = ms.error_event_message;
  }
  const auto error_body = error_json(format, error_status, error);

  switch (format) {
  case wire::openai: {
    const bool usage = chat.include_usage;
    out.head.push_back(choice_event(ids, delta_kind::role, "", usage));
    auto token_kind = plan.refusal ? delta_kind::refusal : delta_kind::content;
    for (const auto& t : plan.tokens) {
      out.tokens.push_back(choice_event(ids, token_kind, t, usage));
    }
    out.finish.push_back(
        choice_event(ids, delta_kind::finish, plan.finish_reason, usage));
    if (usage) {
      out.finish.push_back(usage_event(ids, prompt, completion));
      out.finish_usage = {prompt, completion};
    }
    out.terminator.push_back("data: [DONE]\n\n");
    out.malformed = "data: {\"id\":\"" + ids.id + "\",this is not json\n\n";
    out.error = data_event(error_body);
    break;
  }
  case wire::anthropic: {
    out.head.push_back(anthropic_event("message_start", [&](json_writer& w) {
      w.Key("message");
      write_anthropic_message(w, ids, plan, prompt, false);
    }));
    out.head.push_back(
        anthropic_event("content_block_start", [](json_writer& w) {
          w.Key("index");
          w.Int(0);
          w.Key("content_block");
          w.StartObject();
          w.Key("type");
          w.String("text");
          w.Key("text");
          w.String("");
          w.EndObject();
        }));
    out.head.push_back(anthropic_event("ping", [](json_writer&) {}));
    out.head_usage = {prompt, 1};
    out.finish_usage = {prompt, completion};
    // A refusal has no text: its words go with the stop reason.
    for (const auto& t :
         plan.refusal ? std::vector<std::string>{} : plan.tokens) {
      out.tokens.push_back(
          anthropic_event("content_block_delta", [&](json_writer& w) {
            w.Key("index");
            w.Int(0);
            w.Key("delta");
            w.StartObject();
            w.Key("type");
            w.String("text_delta");
            w.Key("text");
            write_string(w, t);
            w.EndObject();
          }));
    }
    out.finish.push_back(
        anthropic_event("content_block_stop", [](json_writer& w) {
          w.Key("index");
          w.Int(0);
        }));
    out.finish.push_back(anthropic_event("message_delta", [&](json_writer& w) {
      w.Key("delta");
      w.StartObject();
      w.Key("stop_reason");
      write_anthropic_stop(w, plan);
      w.Key("stop_sequence");
      w.Null();
      w.EndObject();
      w.Key("usage");
      w.StartObject();
      w.Key("output_tokens");
      w.Int(completion);
      w.EndObject();
    }));
    out.terminator.push_back(
        anthropic_event("message_stop", [](json_writer&) {}));
    out.malformed = named_event(
        "content_block_delta",
        R"({"type":"content_block_delta","index":0,this is not json)");
    out.error = named_event("error", error_body);
    break;
  }
  case wire::gemini: {
    const auto finish = vendor_finish(wire::gemini, plan.finish_reason);
    if (ms.safety_block) {
      gemini_chunk c;
      c.blocked = true;
      out.finish.push_back(data_event(gemini_json(ids, c, prompt, 0)));
      out.finish_usage = {prompt, 0};
    } else if (plan.tokens.empty()) {
      gemini_chunk c;
      c.finish = finish;
      out.finish.push_back(data_event(gemini_json(ids, c, prompt, 0)));
      out.finish_usage = {prompt, 0};
    } else {
      out.last_token_usage = {prompt, completion};
      // The last content chunk carries finishReason and usageMetadata.
      for (size_t i = 0; i < plan.tokens.size(); ++i) {
        gemini_chunk c;
        c.text = plan.tokens[i];
        if (i + 1 == plan.tokens.size()) {
          c.finish = finish;
        }
        out.tokens.push_back(
            data_event(gemini_json(ids, c, prompt, completion)));
      }
    }
    out.malformed = "data: {\"candidates\":[{\"content\":{this is not json\n\n";
    out.error = data_event(error_body);
    break;
  }
  }
  return out;
}

// Every "\n" as "\r\n" (the events' JSON holds no raw line breaks).
std::string to_crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    if (c == '\n') {
      out += '\r';
    }
    out += c;
  }
  return out;
}

// Writes a reply's bytes as the script says: each write split into small
// pieces (one HTTP chunk each) and dripped; SSE events with the chosen line
// ends and `: ping` comments between them.
class emitter {
public:
  using sleeper = std::function<bool(steady_clock::time_point)>;

  emitter(httplib::DataSink& sink, const model_script& ms, bool crlf,
          sleeper sleep)
      : sink_(sink), ms_(ms), crlf_(crlf), sleep_(std::move(sleep)),
        rng_(ms.split_seed) {}

  // True when a write failed because the server began stopping.
  bool stopped() const { return stopped_; }

  bool write(std::string_view bytes) {
    if (!ms_.split_chunks) {
      return write_piece(bytes);
    }
    size_t pos = 0;
    while (pos < bytes.size()) {
      auto n =
          std::min<size_t>(1 + rng_() % max_split_piece, bytes.size() - pos);
      if (!write_piece(bytes.substr(pos, n))) {
        return false;
      }
      pos += n;
    }
    return true;
  }

  bool event(std::string_view event) {
    std::string text;
    if (ms_.ping_comments && events_ > 0) {
      text = ": ping\n\n";
    }
    ++events_;
    text.append(event);
    return write(crlf_ ? to_crlf(text) : text);
  }

private:
  bool write_piece(std::string_view piece) {
    if (ms_.drip_ms > 0 && writes_ > 0 &&
        !sleep_(steady_clock::now() + std::chrono::milliseconds(ms_.drip_ms))) {
      stopped_ = true;
      return false;
    }
    ++writes_;
    return sink_.write(piece.data(), piece.size());
  }

  httplib::DataSink& sink_;
  const model_script& ms_;
  bool crlf_;
  sleeper sleep_;
  std::minstd_rand rng_;
  int writes_ = 0;
  int events_ = 0;
  bool stopped_ = false;
};

std::string arrival_json(const arrival& a) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  w.StartObject();
  w.Key("arrival_unix_us");
  w.Int64(a.unix_us);
  w.Key("arrival_steady_us");
  w.Int64(a.steady_us);
  w.Key("finished_steady_us");
  w.Int64(a.finished_steady_us);
  w.Key("path");
  write_string(w, a.path);
  w.Key("format");
  write_string(w, a.format);
  w.Key("model");
  write_string(w, a.model);
  w.Key("stream");
  w.Bool(a.stream);
  w.Key("api_key");
  w.Bool(a.api_key);
  w.Key("api_version");
  write_string(w, a.api_version);
  w.Key("status");
  w.Int(a.status);
  w.Key("outcome");
  write_string(w, a.outcome);
  w.Key("input_tokens");
  w.Int(a.input_tokens);
  w.Key("output_tokens");
  w.Int(a.output_tokens);
  w.Key("seed");
  w.Int64(a.seed);
  w.Key("limit_window_steady_us");
  w.Int64(a.limit_window_steady_us);
  w.Key("limit_requests_left");
  w.Double(a.limit_requests_left);
  w.Key("limit_tokens_left");
  w.Double(a.limit_tokens_left);
  w.EndObject();
  return buf.GetString();
}

// --- server-side rate limits -------------------------------------------------

// What a reply says of one budget of a server_limit.
struct budget_word {
  // Whole units left after the request (a refused request takes nothing).
  int64_t remaining = 0;
  // Left exactly, with a bucket's fraction; -1 when the budget is not set.
  double left = -1;
  // From the request's count until the budget is whole again: a bucket's
  // time to full, a window's end. Steady and Unix microseconds.
  int64_t reset_us = 0;
  int64_t reset_unix_us = 0;
};

// What a server_limit decided for one request.
struct admission {
  // When the request was counted: steady_clock and Unix microseconds.
  int64_t at_us = 0;
  int64_t at_unix_us = 0;
  bool admitted = true;
  // Refused because of the token budget (else the request budget).
  bool refused_on_tokens = false;
  // A refused request: how long until it would be admitted, microseconds.
  int64_t retry_us = 0;
  // refill: window: the start of the request's window, steady_clock.
  int64_t window_start_us = 0;
  budget_word requests;
  budget_word tokens;
  int64_t charge = 0;
};

int64_t ceil_div(int64_t a, int64_t b) {
  return a >= 0 ? (a + b - 1) / b : -(-a / b);
}

int64_t floor_div(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// A duration in OpenAI's rate-limit header syntax (Go's time.Duration):
// "0s", "20ms", "1s", "1.5s", "6m0s", "1m30.5s", "1h0m0s".
std::string go_duration(int64_t ms) {
  if (ms <= 0) {
    return "0s";
  }
  if (ms < 1000) {
    return std::to_string(ms) + "ms";
  }
  std::string out;
  const int64_t hours = ms / 3'600'000;
  const int64_t minutes = ms / 60'000 % 60;
  if (hours > 0) {
    out += std::to_string(hours) + "h";
  }
  if (hours > 0 || minutes > 0) {
    out += std::to_string(minutes) + "m";
  }
  out += std::to_string(ms / 1000 % 60);
  if (int64_t frac = ms % 1000; frac > 0) {
    auto digits = std::to_string(1000 + frac).substr(1);
    while (digits.back() == '0') {
      digits.pop_back();
    }
    out += "." + digits;
  }
  return out + "s";
}

// A Unix time in milliseconds as RFC 3339 UTC: "2026-11-25T02:30:05Z", with
// ".250" milliseconds when not on a whole second (RFC 3339 time-secfrac).
std::string rfc3339_utc(int64_t unix_ms) {
  const auto seconds = static_cast<time_t>(floor_div(unix_ms, 1000));
  const int64_t ms = unix_ms - static_cast<int64_t>(seconds) * 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = text;
  if (ms > 0) {
    out += "." + std::to_string(1000 + ms).substr(1);
  }
  return out + "Z";
}

// The vendor's rate-limit headers for a request of a limited model: OpenAI's
// `x-ratelimit-*` (resets as durations), Anthropic's `anthropic-ratelimit-*`
// (resets as RFC 3339 times); Gemini sends none. Only the budgets that are
// set. Resets are rounded up to the millisecond, so they never say "sooner"
// than the budget is really whole again.
void set_limit_headers(httplib::Response& res, wire format,
                       const server_limit& limit, const admission& a) {
  if (format == wire::gemini) {
    return;
  }
  struct budget {
    const char* name;
    int64_t limit;
    const budget_word& word;
  };
  const budget budgets[] = {{"requests", limit.requests, a.requests},
                            {"tokens", limit.tokens, a.tokens}};
  for (const auto& b : budgets) {
    if (b.limit <= 0) {
      continue;
    }
    const std::string name = b.name;
    const auto remaining = std::to_string(b.word.remaining);
    if (format == wire::openai) {
      res.set_header("x-ratelimit-limit-" + name, std::to_string(b.limit));
      res.set_header("x-ratelimit-remaining-" + name, remaining);
      res.set_header("x-ratelimit-reset-" + name,
                     go_duration(ceil_div(b.word.reset_us, 1000)));
    } else {
      const auto prefix = "anthropic-ratelimit-" + name;
      res.set_header(prefix + "-limit", std::to_string(b.limit));
      res.set_header(prefix + "-remaining", remaining);
      res.set_header(prefix + "-reset",
                     rfc3339_utc(ceil_div(b.word.reset_unix_us, 1000)));
    }
  }
}

// The error a request refused by a server_limit gets, in the vendor's words.
error_shape limit_error(wire format, const std::string& model,
                        const server_limit& limit, const admission& a,
                        int64_t retry_ms) {
  auto shape = default_error(format, 429);
  const bool tokens = a.refused_on_tokens;
  const auto window = go_duration(limit.window_ms);
  const auto budget = tokens ? limit.tokens : limit.requests;
  const auto used = budget - (tokens ? a.tokens : a.requests).remaining;
  const auto requested = tokens ? a.charge : 1;
  const std::string what = tokens ? "tokens" : "requests";
  if (format == wire::openai) {
    shape.type = what;
    shape.message = "Rate limit reached for " + model + " on " + what +
                    " per " + window + ": Limit " + std::to_string(budget) +
                    ", Used " + std::to_string(used) + ", Requested " +
                    std::to_string(requested) + ". Please try again in " +
                    go_duration(retry_ms) + ".";
  } else if (format == wire::anthropic) {
    shape.message =
        "This request would exceed the rate limit for your organization of " +
        std::to_string(budget) + " " + what + " per " + window +
        ". Please try again in " + go_duration(retry_ms) + ".";
  }
  return shape;
}

// One budget of a server_limit with `refill: continuous`: a token bucket
// that holds at most `capacity` and refills at `capacity` per window. Its
// level is kept times the window's length in microseconds, so that refills
// are exact integers (wide, so that no budget or window can overflow).
struct bucket {
  using wide = __int128;

  int64_t capacity = 0;
  int64_t window_us = 1;
  wide scaled = 0;

  void fill(int64_t elapsed_us) {
    scaled = std::min<wide>(wide{capacity} * window_us,
                            scaled + wide{capacity} * elapsed_us);
  }
  bool holds(int64_t amount) const {
    return scaled >= wide{amount} * window_us;
  }
  void take(int64_t amount) { scaled -= wide{amount} * window_us; }
  // Microseconds until the level reaches `amount` (at most the capacity),
  // rounded up; 0 when it has.
  int64_t us_until(int64_t amount) const {
    const wide missing = wide{std::min(amount, capacity)} * window_us - scaled;
    return missing <= 0
               ? 0
               : static_cast<int64_t>((missing + capacity - 1) / capacity);
  }
  budget_word word(int64_t at_unix_us) const {
    budget_word w;
    w.remaining = static_cast<int64_t>(scaled / window_us);
    w.left = static_cast<double>(scaled) / static_cast<double>(window_us);
    w.reset_us = us_until(capacity);
    w.reset_unix_us = at_unix_us + w.reset_us;
    return w;
  }
};

// What a rate-limited model has left: its buckets, or its current fixed
// window (windows are counted from the model's first request).
struct limit_state {
  bool started = false;
  int64_t origin_us = 0;
  int64_t origin_unix_us = 0;
  // refill: continuous, as of `filled_us`.
  bucket requests;
  bucket tokens;
  int64_t filled_us = 0;
  // refill: window.
  int64_t window = 0;
  int64_t requests_used = 0;
  int64_t tokens_used = 0;
};

// Counts a request arriving at `a.at_us` against the model's buckets.
admission admit_to_buckets(limit_state& state, const server_limit& limit,
                           admission a) {
  if (!state.started) {
    const int64_t window_us = limit.window_ms * 1000;
    state.started = true;
    state.requests = {limit.requests, window_us, 0};
    state.tokens = {limit.tokens, window_us, 0};
    state.requests.fill(window_us);
    state.tokens.fill(window_us);
    state.filled_us = a.at_us;
  }
  state.requests.fill(a.at_us - state.filled_us);
  state.tokens.fill(a.at_us - state.filled_us);
  state.filled_us = a.at_us;
  const bool over_requests = limit.requests > 0 && !state.requests.holds(1);
  const bool over_tokens = limit.tokens > 0 && !state.tokens.holds(a.charge);
  if (over_requests || over_tokens) {
    a.admitted = false;
    a.refused_on_tokens = !over_requests;
    // A charge above the capacity never fits: it is told the time to full.
    a.retry_us = std::max(over_requests ? state.requests.us_until(1) : 0,
                          over_tokens ? state.tokens.us_until(a.charge) : 0);
  } else {
    state.requests.take(limit.requests > 0 ? 1 : 0);
    state.tokens.take(limit.tokens > 0 ? a.charge : 0);
  }
  a.requests = state.requests.word(a.at_unix_us);
  a.tokens = state.tokens.word(a.at_unix_us);
  return a;
}

// Counts a request arriving at `a.at_us` in the model's current fixed window.
admission admit_in_window(limit_state& state, const server_limit& limit,
                          admission a) {
  const int64_t length = limit.window_ms * 1000;
  if (!state.started) {
    state.started = true;
    state.origin_us = a.at_us;
    state.origin_unix_us = a.at_unix_us;
  }
  const int64_t index = (a.at_us - state.origin_us) / length;
  if (index != state.window) {
    state.window = index;
    state.requests_used = 0;
    state.tokens_used = 0;
  }
  a.window_start_us = state.origin_us + index * length;
  const int64_t end_us = a.window_start_us + length;
  const bool over_requests =
      limit.requests > 0 && state.requests_used + 1 > limit.requests;
  const bool over_tokens =
      limit.tokens > 0 && state.tokens_used + a.charge > limit.tokens;
  if (over_requests || over_tokens) {
    a.admitted = false;
    a.refused_on_tokens = !over_requests;
    a.retry_us = end_us - a.at_us;
  } else {
    ++state.requests_used;
    state.tokens_used += a.charge;
  }
  const auto word = [&](int64_t budget, int64_t used) {
    budget_word w;
    w.remaining = std::max<int64_t>(0, budget - used);
    w.left = static_cast<double>(w.remaining);
    w.reset_us = end_us - a.at_us;
    w.reset_unix_us = state.origin_unix_us + (index + 1) * length;
    return w;
  };
  a.requests = word(limit.requests, state.requests_used);
  a.tokens = word(limit.tokens, state.tokens_used);
  return a;
}

// --- sockets
// -------------------------------------------------------------------

int port_of(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
  }
  if (addr.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
  }
  return -1;
}

// Calls fn(fd, peer_port) for every connected TCP socket of this process whose
// local port is `local_port`. httplib does not hand its connection sockets to
// handlers, so they are found through /proc/self/fd.
template <class F>
void for_each_connection(int local_port, F&& fn) {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/self/fd", ec);
  if (ec) {
    return;
  }
  for (const auto& entry : it) {
    const auto name = entry.path().filename().string();
    char* end = nullptr;
    long fd = std::strtol(name.c_str(), &end, 10);
    if (name.empty() || *end != '\0') {
      continue;
    }
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (::getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local),
                      &len) != 0 ||
        port_of(local) != local_port) {
      continue;
    }
    sockaddr_storage peer{};
    len = sizeof(peer);
    if (::getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer),
                      &len) != 0) {
      continue;
    }
    if (fn(static_cast<int>(fd), port_of(peer))) {
      return;
    }
  }
}

int find_connection_socket(int local_port, int remote_port) {
  int found = -1;
  for_each_connection(local_port, [&](int fd, int peer_port) {
    if (peer_port == remote_port) {
      found = fd;
      return true;
    }
    return false;
  });
  return found;
}

bool peer_closed(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  if (::poll(&p, 1, 0) < 0) {
    return false;
  }
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

void ignore_sigpipe_once() {
  // The system's cpp-httplib sends without MSG_NOSIGNAL: a write to a client
  // that went away would kill the process. Leave a host's own handler alone.
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction current {};
    if (::sigaction(SIGPIPE, nullptr, &current) == 0 &&
        current.sa_handler == SIG_DFL) {
      std::signal(SIGPIPE, SIG_IGN);
    }
  });
}

// Resets a connected socket: waits (up to a second) until the bytes already
// sent are acknowledged, so the client reads them before the error, then sends
// a RST at once. SO_LINGER 0 makes the later close() abortive too;
// connect(AF_UNSPEC) disconnects now, before httplib's own shutdown() could
// send a FIN first. The descriptor stays open for httplib to close.
void reset_socket(int fd) {
  auto deadline = steady_clock::now() + max_reset_drain;
  for (;;) {
    int unacked = 0;
    if (::ioctl(fd, SIOCOUTQ, &unacked) != 0 || unacked <= 0 ||
        steady_clock::now() >= deadline) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  linger abortive{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof(abortive));
  sockaddr unspec{};
  unspec.sa_family = AF_UNSPEC;
  ::connect(fd, &unspec, sizeof(unspec));
}

// httplib's Stream over a connected socket, as its own SocketStream (which
// the compiled cpp-httplib does not export): reads are buffered, since
// httplib reads request lines a byte at a time.
class socket_stream final : public httplib::Stream {
public:
  socket_stream(int fd, int read_timeout_ms, int write_timeout_ms)
      : fd_(fd), read_timeout_ms_(read_timeout_ms),
        write_timeout_ms_(write_timeout_ms) {}

  /// Bytes read from the socket that httplib has not taken yet (the start
  /// of a pipelined request).
  bool has_buffered() const { return begin_ < end_; }

  bool is_readable() const override {
    return has_buffered() || wait_for(POLLIN, read_timeout_ms_);
  }

  bool is_writable() const override {
    return wait_for(POLLOUT, write_timeout_ms_) && alive();
  }

  ssize_t read(char* ptr, size_t size) override {
    if (!has_buffered()) {
      if (!wait_for(POLLIN, read_timeout_ms_)) {
        return -1;
      }
      if (size >= buffer_.size()) {
        return recv_some(ptr, size);
      }
      auto n = recv_some(buffer_.data(), buffer_.size());
      if (n <= 0) {
        return n;
      }
      begin_ = 0;
      end_ = static_cast<size_t>(n);
    }
    auto n = std::min(size, end_ - begin_);
    std::copy_n(buffer_.data() + begin_, n, ptr);
    begin_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) {
      return -1;
    }
    for (;;) {
      auto n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
      if (n >= 0 || errno != EINTR) {
        return n;
      }
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address_of(::getpeername, ip, port);
  }

  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address_of(::getsockname, ip, port);
  }

  int socket() const override { return fd_; }

private:
  bool wait_for(short events, int timeout_ms) const {
    pollfd p{fd_, events, 0};
    for (;;) {
      auto n = ::poll(&p, 1, timeout_ms);
      if (n >= 0 || errno != EINTR) {
        return n > 0;
      }
    }
  }

  // As httplib's is_socket_alive: a socket with nothing to read is alive;
  // one that reads as closed (or fails) is not.
  bool alive() const {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 0) == 0) {
      return true;
    }
    char byte = 0;
    return ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
  }

  ssize_t recv_some(char* ptr, size_t size) {
    for (;;) {
      auto n = ::recv(fd_, ptr, size, 0);
      if (n >= 0 || errno != EINTR) {
        return n;
      }
    }
  }

  template <class F>
  void address_of(F get_name, std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (get_name(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    char host[INET6_ADDRSTRLEN] = {0};
    if (addr.ss_family == AF_INET) {
      auto& in = reinterpret_cast<sockaddr_in&>(addr);
      ::inet_ntop(AF_INET, &in.sin_addr, host, sizeof(host));
      port = ntohs(in.sin_port);
    } else if (addr.ss_family == AF_INET6) {
      auto& in6 = reinterpret_cast<sockaddr_in6&>(addr);
      ::inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof(host));
      port = ntohs(in6.sin6_port);
    }
    ip = host;
  }

  int fd_;
  int read_timeout_ms_;
  int write_timeout_ms_;
  std::array<char, 4096> buffer_{};
  size_t begin_ = 0;
  size_t end_ = 0;
};

// Gives access to the listening socket, to raise httplib's fixed backlog of
// 5, and serves keep-alive connections without polling them. httplib's own
// loop checks an idle connection about 90 times a second (a 10 ms select
// and a 1 ms sleep), so a thousand idle connections kept a core busy; here
// an idle connection's thread sleeps in poll() until the next request, the
// client's close, the keep-alive timeout or `stop()` (which shuts every
// connection down).
class http_server : public httplib::Server {
public:
  int listen_socket() const { return svr_sock_; }

private:
  bool process_and_close_socket(int fd) override {
    socket_stream strm{fd, static_cast<int>(read_timeout_sec_ * 1000),
                       static_cast<int>(write_timeout_sec_ * 1000)};
    auto idle_ms = static_cast<int>(keep_alive_timeout_sec_ * 1000);
    bool ret = false;
    while (svr_sock_ != INVALID_SOCKET) {
      if (!strm.has_buffered()) {
        pollfd p{fd, POLLIN, 0};
        auto n = ::poll(&p, 1, idle_ms);
        if (n < 0 && errno == EINTR) {
          continue;
        }
        if (n <= 0) {
          break; // idle past the keep-alive timeout, or an error
        }
      }
      bool connection_closed = false;
      ret = process_request(strm, false, connection_closed, nullptr);
      if (!ret || connection_closed) {
        break;
      }
    }
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
    return ret;
  }
};

} // namespace

// --- public helpers
// --------------------------------------------------------------

script parse_script(const std::string& yaml_text) {
  return parse_script_named(yaml_text, "<script>");
}

script load_script(const std::string& yaml_path) {
  std::ifstream in(yaml_path, std::ios::binary);
  if (!in) {
    throw std::runtime_error(yaml_path + ": cannot open the script file");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_script_named(text.str(), yaml_path);
}

std::vector<std::string> split_tokens(std::string_view text) {
  std::vector<std::string> tokens;
  size_t i = 0;
  size_t start = 0;
  while (i < text.size() && is_space(text[i])) {
    ++i;
  }
  while (i < text.size()) {
    while (i < text.size() && !is_space(text[i])) {
      ++i;
    }
    while (i < text.size() && is_space(text[i])) {
      ++i;
    }
    tokens.emplace_back(text.substr(start, i - start));
    start = i;
  }
  if (tokens.empty() && !text.empty()) {
    tokens.emplace_back(text);
  }
  return tokens;
}

int count_tokens(std::string_view text) {
  int n = 0;
  bool in_word = false;
  for (char c : text) {
    if (is_space(c)) {
      in_word = false;
    } else if (!in_word) {
      in_word = true;
      ++n;
    }
  }
  return n;
}

// --- server
// --------------------------------------------------------------------

struct server::impl {
  impl(script s, std::string log_path, int threads)
      : script_(std::move(s)), threads_(std::max(1, threads)) {
    if (!log_path.empty()) {
      log_.open(log_path, std::ios::app);
      if (!log_) {
        throw std::runtime_error(log_path + ": cannot open the log file");
      }
    }
    configure();
  }

  void configure();
  void handle(wire format, const httplib::Request& req, httplib::Response& res);
  void serve(wire format, const httplib::Request& req, httplib::Response& res,
             arrival& rec);
  void serve_whole(const httplib::Request& req, httplib::Response& res,
                   arrival& rec, const model_script& ms,
                   const chat_request& chat, const response_ids& ids);
  void serve_stream(const httplib::Request& req, httplib::Response& res,
                    arrival& rec, const model_script& ms,
                    const chat_request& chat, const response_ids& ids);
  void respond_error(httplib::Response& res, arrival& rec, wire format,
                     int status, const error_shape& shape, const char* outcome);
  void record(arrival rec);
  int next_attempt(const std::string& model);
  admission admit(const std::string& model, const server_limit& limit,
                  int64_t charge);
  const model_script* find_model(const std::string& name) const;

  // Sleeps until `t`; false when the server began stopping instead.
  bool sleep_until(steady_clock::time_point t) {
    std::unique_lock<std::mutex> lock(stop_mutex_);
    return !stop_cv_.wait_until(lock, t, [this] { return stopping_; });
  }

  emitter::sleeper sleeper() {
    return [this](steady_clock::time_point t) { return sleep_until(t); };
  }

  bool stopping() {
    std::lock_guard<std::mutex> lock(stop_mutex_);
    return stopping_;
  }

  enum class stall_end { client_gone, stopped, timed_out };

  // Holds the connection without sending a byte.
  stall_end stall(int local_port, int remote_port,
                  const std::function<bool()>& writable) {
    int fd = find_connection_socket(local_port, remote_port);
    auto deadline = steady_clock::now() + max_stall;
    for (;;) {
      auto wake = std::min(steady_clock::now() + stall_poll, deadline);
      if (!sleep_until(wake)) {
        return stall_end::stopped;
      }
      if (steady_clock::now() >= deadline) {
        return stall_end::timed_out;
      }
      if ((fd >= 0 && peer_closed(fd)) || (writable && !writable())) {
        return stall_end::client_gone;
      }
    }
  }

  script script_;
  int threads_;
  http_server http_;
  std::thread listener_;
  std::string host_;
  int port_ = 0;
  bool started_ = false;
  bool stopped_ = false;
  std::atomic<uint64_t> next_id_{0};

  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;

  std::mutex attempts_mutex_;
  std::map<std::string, int> attempts_;

  std::mutex limits_mutex_;
  std::map<std::string, limit_state> limits_;

  mutable std::mutex log_mutex_;
  std::vector<arrival> arrivals_;
  std::ofstream log_;
};

void server::impl::configure() {
  http_.set_tcp_nodelay(true);
  const auto threads = static_cast<size_t>(threads_);
  http_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_.set_read_timeout(30);
  http_.set_write_timeout(30);
  http_.set_keep_alive_max_count(1'000'000);
  http_.set_keep_alive_timeout(5);
  http_.set_payload_max_length(64u << 20);

  // Never compress: httplib would brotli-encode JSON bodies for any client
  // that accepts it (libcurl does), at ~1 ms a reply. The request object is
  // not const inside httplib, so dropping the header here is sound.
  http_.set_pre_routing_handler(
      [](const httplib::Request& req, httplib::Response&) {
        auto& headers = const_cast<httplib::Request&>(req).headers;
        headers.erase("Accept-Encoding");
        return httplib::Server::HandlerResponse::Unhandled;
      });

  auto route = [this](wire format) {
    return [this, format](const httplib::Request& req, httplib::Response& res) {
      handle(format, req, res);
    };
  };
  http_.Post("/v1/chat/completions", route(wire::openai));
  http_.Post("/chat/completions", route(wire::openai));
  http_.Post("/v1/messages", route(wire::anthropic));
  http_.Post("/messages", route(wire::anthropic));
  http_.Post(
      R"((?:/v1beta|/v1)?/models/([^/:]+):(generateContent|streamGenerateContent))",
      route(wire::gemini));
  http_.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok", "text/plain");
  });
  http_.Get(R"(/(v1/)?models)",
            [this](const httplib::Request&, httplib::Response& res) {
              rapidjson::StringBuffer buf;
              json_writer w(buf);
              w.StartObject();
              w.Key("object");
              w.String("list");
              w.Key("data");
              w.StartArray();
              for (const auto& [name, ms] : script_.models) {
                w.StartObject();
                w.Key("id");
                write_string(w, name);
                w.Key("object");
                w.String("model");
                w.Key("created");
                w.Int(0);
                w.Key("owned_by");
                w.String("tutti-fake-llm");
                w.EndObject();
              }
              w.EndArray();
              w.EndObject();
              res.set_content(buf.GetString(), "application/json");
            });
  const auto unknown = [](const httplib::Request& req, httplib::Response& res) {
    res.status = 404;
    error_shape e;
    e.message = "Unknown request URL: " + req.method + " " + req.path + ".";
    e.type = "invalid_request_error";
    e.code = "unknown_url";
    res.set_content(error_json(wire::openai, 404, e), "application/json");
  };
  http_.Get(".*", unknown);
  http_.Post(".*", unknown);
}

const model_script* server::impl::find_model(const std::string& name) const {
  auto it = script_.models.find(name);
  if (it != script_.models.end()) {
    return &it->second;
  }
  return script_.fallback ? &*script_.fallback : nullptr;
}

int server::impl::next_attempt(const std::string& model) {
  std::lock_guard<std::mutex> lock(attempts_mutex_);
  return attempts_[model]++;
}

admission server::impl::admit(const std::string& model,
                              const server_limit& limit, int64_t charge) {
  std::lock_guard<std::mutex> lock(limits_mutex_);
  // Timed under the lock, so requests are counted in the order of their
  // times: a bucket never goes back in time, a window never gets a request
  // from before its start.
  admission a;
  a.at_us = steady_now_us();
  a.at_unix_us = unix_now_us();
  a.charge = charge;
  auto& state = limits_[model];
  return limit.refill == limit_refill::window
             ? admit_in_window(state, limit, a)
             : admit_to_buckets(state, limit, a);
}

void server::impl::record(arrival rec) {
  rec.finished_steady_us = steady_now_us();
  std::lock_guard<std::mutex> lock(log_mutex_);
  if (log_.is_open()) {
    log_ << arrival_json(rec) << '\n';
    log_.flush();
  }
  arrivals_.push_back(std::move(rec));
}

void server::impl::respond_error(httplib::Response& res, arrival& rec,
                                 wire format, int status,
                                 const error_shape& shape,
                                 const char* outcome) {
  res.status = status;
  std::string request_id;
  if (format == wire::anthropic) {
    request_id = "req_fake" + std::to_string(++next_id_);
    res.set_header("request-id", request_id);
  }
  res.set_content(error_json(format, status, shape, request_id),
                  "application/json");
  rec.status = status;
  rec.outcome = outcome;
  record(rec);
}

void server::impl::handle(wire format, const httplib::Request& req,
                          httplib::Response& res) {
  arrival rec;
  rec.unix_us = unix_now_us();
  rec.steady_us = steady_now_us();
  rec.path = req.path;
  rec.format = wire_name(format);
  rec.api_key = req.has_header("Authorization") || req.has_header("api-key") ||
                req.has_header("x-api-key") ||
                req.has_header("x-goog-api-key") || req.has_param("key");
  rec.api_version = req.get_header_value("anthropic-version");
  try {
    serve(format, req, res, rec);
  } catch (const std::exception& e) {
    auto shape = default_error(format, 500);
    shape.message = std::string("fake server error: ") + e.what();
    respond_error(res, rec, format, 500, shape, "internal_error");
  }
}

void server::impl::serve(wire format, const httplib::Request& req,
                         httplib::Response& res, arrival& rec) {
  chat_request chat;
  if (format == wire::openai) {
    chat = parse_openai_request(req.body);
  } else if (format == wire::anthropic) {
    chat = parse_anthropic_request(req.body);
  } else {
    const bool stream = req.matches[2].str() == "streamGenerateContent";
    chat = parse_gemini_request(req.body, req.matches[1].str(), stream);
    if (stream && chat.error.empty() && req.get_param_value("alt") != "sse") {
      chat.error = "tutti-fake-llm streams streamGenerateContent only as "
                   "server-sent events: add ?alt=sse";
    }
  }
  rec.model = chat.model;
  rec.stream = chat.stream;
  rec.seed = chat.seed.value_or(-1);
  if (!chat.error.empty()) {
    auto shape = default_error(format, 400);
    shape.message = chat.error;
    shape.param = chat.error_param;
    shape.code = chat.error_code;
    respond_error(res, rec, format, 400, shape, "bad_request");
    return;
  }
  const model_script* ms = find_model(chat.model);
  if (ms == nullptr) {
    auto shape = default_error(format, 404);
    if (format == wire::anthropic) {
      shape.message = "model: " + chat.model;
    } else if (format == wire::gemini) {
      shape.message = "models/" + chat.model +
                      " is not found for API version v1beta, or is not "
                      "supported for generateContent.";
    } else {
      shape.message = "The model `" + chat.model +
                      "` does not exist or you do not have access to it.";
    }
    respond_error(res, rec, format, 404, shape, "not_found");
    return;
  }
  if (ms->limit) {
    const int64_t charge =
        chat.prompt_tokens +
        chat.max_tokens.value_or(plan_reply(*ms, chat).completion_tokens);
    const auto a = admit(chat.model, *ms->limit, charge);
    rec.steady_us = a.at_us;
    rec.unix_us = a.at_unix_us;
    rec.limit_window_steady_us = a.window_start_us;
    rec.limit_requests_left = ms->limit->requests > 0 ? a.requests.left : -1;
    rec.limit_tokens_left = ms->limit->tokens > 0 ? a.tokens.left : -1;
    set_limit_headers(res, format, *ms->limit, a);
    if (!a.admitted) {
      const int64_t retry_ms = ceil_div(a.retry_us, 1000);
      const int64_t retry_s = ceil_div(retry_ms, 1000);
      auto shape = limit_error(format, chat.model, *ms->limit, a, retry_ms);
      shape.retry_after_s = static_cast<int>(retry_s);
      res.set_header("Retry-After", std::to_string(retry_s));
      res.set_header("retry-after-ms", std::to_string(retry_ms));
      respond_error(res, rec, format, 429, shape, "rate_limited");
      return;
    }
  }
  const int attempt = next_attempt(chat.model);
  if (ms->latency_ms > 0 &&
      !sleep_until(steady_clock::now() +
                   std::chrono::milliseconds(ms->latency_ms))) {
    auto shape = default_error(format, 503);
    shape.message = "The fake server is stopping.";
    respond_error(res, rec, format, 503, shape, "stopped");
    return;
  }
  if (ms->fail_status != 0 &&
      (ms->fail_times < 0 || attempt < ms->fail_times)) {
    auto shape = default_error(format, ms->fail_status);
    if (!ms->fail_message.empty()) {
      shape.message = ms->fail_message;
    }
    if (!ms->fail_type.empty()) {
      shape.type = ms->fail_type;
    }
    if (!ms->fail_code.empty()) {
      shape.code = ms->fail_code;
    }
    if (ms->retry_after_s >= 0) {
      res.set_header("Retry-After", std::to_string(ms->retry_after_s));
      shape.retry_after_s = ms->retry_after_s;
    }
    if (ms->retry_after_ms >= 0) {
      res.set_header("retry-after-ms", std::to_string(ms->retry_after_ms));
    }
    respond_error(res, rec, format, ms->fail_status, shape,
                  ms->fail_status == 429 ? "rate_limited" : "failed");
    return;
  }
  response_ids ids;
  const auto n = std::to_string(++next_id_);
  ids.id = format == wire::anthropic ? "msg_fake" + n
           : format == wire::gemini  ? "fake-response-" + n
                                     : "chatcmpl-fake" + n;
  ids.created = rec.unix_us / 1'000'000;
  ids.model = chat.model;
  if (chat.stream) {
    serve_stream(req, res, rec, *ms, chat, ids);
  } else {
    serve_whole(req, res, rec, *ms, chat, ids);
  }
}

void server::impl::serve_whole(const httplib::Request& req,
                               httplib::Response& res, arrival& rec,
                               const model_script& ms, const chat_request& chat,
                               const response_ids& ids) {
  rec.status = 200;
  // Whoever is still listening gets headers and a body that never arrives.
  auto never = [](size_t, size_t, httplib::DataSink&) { return false; };
  if (ms.stall_after_tokens >= 0) {
    auto end = stall(req.local_port, req.remote_port, nullptr);
    rec.outcome = end == stall_end::stopped ? "stopped" : "stalled";
    record(rec);
    res.set_content_provider(1, "application/json", never);
    return;
  }
  if (ms.reset_after_tokens >= 0) {
    // Recorded before the RST, so a client that sees it finds it logged.
    int fd = find_connection_socket(req.local_port, req.remote_port);
    rec.outcome = fd >= 0 ? "reset" : "truncated";
    record(rec);
    if (fd >= 0) {
      reset_socket(fd);
    }
    res.set_content_provider(1, "application/json", never);
    return;
  }
  auto plan = plan_reply(ms, chat);
  if (ms.tokens_per_second > 0) {
    auto wait = std::chrono::duration<double>(plan.completion_tokens /
                                              ms.tokens_per_second);
    if (!sleep_until(
            steady_clock::now() +
            std::chrono::duration_cast<steady_clock::duration>(wait))) {
      auto shape = default_error(chat.format, 503);
      shape.message = "The fake server is stopping.";
      respond_error(res, rec, chat.format, 503, shape, "stopped");
      return;
    }
  }
  auto body = whole_body(chat.format, ids, plan, chat.prompt_tokens,
                         chat.format == wire::gemini && ms.safety_block);
  if (chat.format == wire::anthropic) {
    res.set_header("request-id", "req_fake" + std::to_string(++next_id_));
  }
  if (ms.truncate_after_tokens >= 0) {
    auto half = std::make_shared<std::string>(body.substr(0, body.size() / 2));
    rec.outcome = "truncated";
    res.set_content_provider(
        body.size(), "application/json",
        [half](size_t offset, size_t, httplib::DataSink& sink) {
          if (offset < half->size()) {
            sink.write(half->data() + offset, half->size() - offset);
          }
          return false;
        },
        [this, rec](bool) { record(rec); });
    return;
  }
  if (ms.raw_body) {
    body = *ms.raw_body;
    rec.outcome = "malformed";
  } else if (ms.malformed) {
    body = malformed_whole_body(chat.format, ids);
    rec.outcome = "malformed";
  } else if (chat.format == wire::gemini && ms.safety_block) {
    rec.outcome = "blocked";
    rec.input_tokens = chat.prompt_tokens;
  } else {
    rec.outcome = "ok";
    rec.input_tokens = chat.prompt_tokens;
    rec.output_tokens = plan.completion_tokens;
  }
  if (!ms.split_chunks) {
    res.set_content(body, "application/json");
    record(rec);
    return;
  }
  // Split: the body goes out chunked, in small pieces.
  auto shared = std::make_shared<std::string>(std::move(body));
  auto job = std::make_shared<std::pair<arrival, model_script>>(rec, ms);
  job->first.outcome = "client_gone";
  res.set_chunked_content_provider(
      "application/json",
      [this, shared, job, outcome = rec.outcome](size_t,
                                                 httplib::DataSink& sink) {
        emitter out(sink, job->second, false, sleeper());
        if (!out.write(*shared)) {
          if (out.stopped()) {
            job->first.outcome = "stopped";
          }
          return false;
        }
        job->first.outcome = outcome;
        // Recorded before the last byte, so a client that has the whole body
        // finds the request logged.
        record(job->first);
        job->first.outcome.clear();
        sink.done();
        return true;
      },
      [this, job](bool) {
        if (!job->first.outcome.empty()) {
          record(job->first);
        }
      });
}

void server::impl::serve_stream(const httplib::Request& req,
                                httplib::Response& res, arrival& rec,
                                const model_script& ms,
                                const chat_request& chat,
                                const response_ids& ids) {
  struct stream_job {
    arrival rec;
    model_script ms;
    stream_events events;
    bool crlf = false;
    bool blocked = false;
    bool recorded = false;
    int local_port = -1;
    int remote_port = -1;
  };
  auto job = std::make_shared<stream_job>();
  job->rec = rec;
  job->rec.status = 200;
  job->rec.outcome = "client_gone";
  job->ms = ms;
  job->events =
      make_stream_events(chat.format, ids, plan_reply(ms, chat), chat, ms);
  if (ms.raw_body) {
    job->ms.malformed = true;
    job->events.malformed = "data: " + *ms.raw_body + "\n\n";
  }
  job->crlf = ms.crlf.value_or(chat.format == wire::gemini);
  job->blocked = chat.format == wire::gemini && ms.safety_block;
  job->local_port = req.local_port;
  job->remote_port = req.remote_port;

  res.set_header("Cache-Control", "no-cache");
  if (chat.format == wire::anthropic) {
    res.set_header("request-id", "req_fake" + std::to_string(++next_id_));
  }
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, job](size_t, httplib::DataSink& sink) {
        auto& j = *job;
        const auto& ev = j.events;
        emitter out(sink, j.ms, j.crlf, sleeper());
        const auto n = static_cast<int>(ev.tokens.size());
        // Records the request before the client can see its end (the last
        // byte or a reset), so whoever saw the end finds it logged.
        auto record_now = [&] {
          record(j.rec);
          j.recorded = true;
        };
        // A failed write: the client went away (the outcome already says
        // so), or the server is stopping.
        auto write_failed = [&] {
          if (out.stopped()) {
            j.rec.outcome = "stopped";
          }
          return false;
        };
        auto send_all = [&](const std::vector<std::string>& events) {
          for (const auto& e : events) {
            if (!out.event(e)) {
              return false;
            }
          }
          return true;
        };
        // A scripted fault after `sent` content chunks; one scripted beyond
        // the reply's length happens after its last chunk.
        auto reached = [&](int after, int sent) {
          return after >= 0 && (after == sent || (sent == n && after > n));
        };
        enum class cut { none, abort, ended };
        auto cut_short = [&](int sent) {
          if (reached(j.ms.stall_after_tokens, sent)) {
            auto end = stall(j.local_port, j.remote_port,
                             [&] { return sink.is_writable(); });
            j.rec.outcome = end == stall_end::stopped ? "stopped" : "stalled";
            return cut::abort;
          }
          if (reached(j.ms.truncate_after_tokens, sent)) {
            j.rec.outcome = "truncated";
            return cut::abort;
          }
          if (reached(j.ms.reset_after_tokens, sent)) {
            int fd = find_connection_socket(j.local_port, j.remote_port);
            j.rec.outcome = fd >= 0 ? "reset" : "truncated";
            if (fd >= 0) {
              record_now();
              reset_socket(fd);
            }
            return cut::abort;
          }
          if (reached(j.ms.error_event_after_tokens, sent)) {
            if (!out.event(ev.error)) {
              write_failed();
              return cut::abort;
            }
            j.rec.outcome = "error_event";
            record_now();
            sink.done();
            return cut::ended;
          }
          return cut::none;
        };
        // The usage the client has been sent so far.
        auto reported = [&](const std::optional<std::pair<int, int>>& u) {
          if (u) {
            j.rec.input_tokens = u->first;
            j.rec.output_tokens = u->second;
          }
        };
        if (!send_all(ev.head)) {
          return write_failed();
        }
        reported(ev.head_usage);
        if (j.ms.malformed && !out.event(ev.malformed)) {
          return write_failed();
        }
        const auto start = steady_clock::now();
        for (int i = 0; i <= n; ++i) {
          auto c = cut_short(i);
          if (c != cut::none) {
            return c == cut::ended;
          }
          if (i == n) {
            break;
          }
          if (j.ms.tokens_per_second > 0) {
            auto due =
                start + std::chrono::duration_cast<steady_clock::duration>(
                            std::chrono::duration<double>(
                                (i + 1) / j.ms.tokens_per_second));
            if (!sleep_until(due)) {
              j.rec.outcome = "stopped";
              return false;
            }
          }
          if (!out.event(ev.tokens[static_cast<size_t>(i)])) {
            return write_failed();
          }
          if (i + 1 == n) {
            reported(ev.last_token_usage);
          }
        }
        if (!send_all(ev.finish)) {
          return write_failed();
        }
        reported(ev.finish_usage);
        if (j.ms.end_without_terminator && !ev.terminator.empty()) {
          j.rec.outcome = "no_terminator";
        } else {
          if (!send_all(ev.terminator)) {
            return write_failed();
          }
          j.rec.outcome = j.ms.malformed ? "malformed"
                          : j.blocked    ? "blocked"
                                         : "ok";
        }
        record_now();
        sink.done();
        return true;
      },
      [this, job](bool) {
        if (!job->recorded) {
          record(job->rec);
        }
      });
}

server::server(script s, std::string log_path, int threads)
    : impl_(
          std::make_unique<impl>(std::move(s), std::move(log_path), threads)) {}

server::~server() {
  stop();
}

int server::start(const std::string& host, int port) {
  auto& d = *impl_;
  if (d.started_ || d.stopped_) {
    throw std::logic_error("fake_llm::server::start called twice");
  }
  ignore_sigpipe_once();
  int bound = -1;
  if (port == 0) {
    bound = d.http_.bind_to_any_port(host);
  } else if (d.http_.bind_to_port(host, port)) {
    bound = port;
  }
  if (bound <= 0) {
    throw std::runtime_error("tutti-fake-llm: cannot listen on " + host + ":" +
                             std::to_string(port));
  }
  ::listen(d.http_.listen_socket(), SOMAXCONN);
  d.host_ = host;
  d.port_ = bound;
  d.listener_ = std::thread([&d] { d.http_.listen_after_bind(); });
  // stop() only works once the accept loop runs.
  auto give_up = steady_clock::now() + std::chrono::seconds(5);
  while (!d.http_.is_running() && steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  d.started_ = true;
  return bound;
}

void server::stop() {
  auto& d = *impl_;
  {
    std::lock_guard<std::mutex> lock(d.stop_mutex_);
    if (d.stopped_) {
      return;
    }
    d.stopped_ = true;
    d.stopping_ = true;
  }
  d.stop_cv_.notify_all();
  if (!d.started_) {
    return;
  }
  d.http_.stop();
  // Idle keep-alive connections would hold their worker (and so the join
  // below) for up to the keep-alive timeout; wake them.
  for_each_connection(d.port_, [](int fd, int) {
    ::shutdown(fd, SHUT_RDWR);
    return false;
  });
  if (d.listener_.joinable()) {
    d.listener_.join();
  }
}

std::vector<arrival> server::arrivals() const {
  std::lock_guard<std::mutex> lock(impl_->log_mutex_);
  return impl_->arrivals_;
}

std::string server::base_url() const {
  if (impl_->port_ == 0) {
    return {};
  }
  auto host = impl_->host_;
  if (host.find(':') != std::string::npos) {
    host = "[" + host + "]";
  }
  return "http://" + host + ":" + std::to_string(impl_->port_) + "/v1";
}

std::string server::root_url() const {
  auto base = base_url();
  return base.empty() ? base : base.substr(0, base.size() - 3);
}

int server::port() const {
  return impl_->port_;
}

int peak_concurrency(const std::vector<arrival>& log) {
  std::vector<std::pair<int64_t, int>> edges;
  for (auto& a : log) {
    edges.emplace_back(a.steady_us, +1);
    edges.emplace_back(a.finished_steady_us, -1);
  }
  std::sort(edges.begin(), edges.end()); // an end sorts before a start
  int open = 0;
  int peak = 0;
  for (auto& e : edges)
    peak = std::max(peak, open += e.second);
  return peak;
}

} // namespace tutti::fake
