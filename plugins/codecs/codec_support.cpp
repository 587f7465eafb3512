#include "plugins/codecs/codec_support.hpp"

#include "engine/src/json_writers.hpp"
#include "engine/src/utf8.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include <rapidjson/error/en.h>

namespace tutti::codec_support {

std::string quote(std::string_view text) {
  return utf8::shortened(text, quote_limit);
}

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equals_ci(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

bool contains_ci(std::string_view haystack, std::string_view needle) {
  auto found = std::search(
      haystack.begin(), haystack.end(), needle.begin(), needle.end(),
      [](char a, char b) { return ascii_lower(a) == ascii_lower(b); });
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

std::string url_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string result;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') ||
        (u >= '0' && u <= '9') || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      result += c;
    } else {
      result += '%';
      result += hex[u >> 4];
      result += hex[u & 0xF];
    }
  }
  return result;
}

std::string_view base_url_of(const provider_settings& provider,
                             std::string_view fallback) {
  std::string_view base = provider.base_url;
  if (base.empty()) {
    base = fallback;
  }
  while (!base.empty() && base.back() == '/') {
    base.remove_suffix(1);
  }
  return base;
}

void set_header(header_list& headers, const std::string& name,
                const std::string& value, replaced_name keep) {
  auto same = std::find_if(headers.begin(), headers.end(),
                           [&](auto& h) { return equals_ci(h.first, name); });
  if (same == headers.end()) {
    headers.emplace_back(name, value);
    return;
  }
  if (keep == replaced_name::custom) {
    same->first = name;
  }
  same->second = value;
}

void write_string(json_writer& w, std::string_view text) {
  json_detail::write_string(w, text);
}

void write_key(json_writer& w, std::string_view key) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}

void write_raw_json(json_writer& w, std::string_view json) {
  auto type = !json.empty() && json.front() == '[' ? rapidjson::kArrayType
                                                   : rapidjson::kObjectType;
  w.RawValue(json.data(), json.size(), type);
}

void write_tool_head(json_writer& w, const tool_spec& tool) {
  write_key(w, "name");
  write_string(w, tool.name);
  if (!tool.description.empty()) {
    write_key(w, "description");
    write_string(w, tool.description);
  }
}

void write_function_tools(json_writer& w, const std::vector<tool_spec>& tools,
                          function_tools dialect) {
  write_key(w, "tools");
  w.StartArray();
  for (const auto& tool : tools) {
    w.StartObject();
    write_key(w, "type");
    write_string(w, "function");
    write_key(w, "function");
    w.StartObject();
    write_tool_head(w, tool);
    if (!tool.parameters.empty() || dialect == function_tools::ollama) {
      write_key(w, "parameters");
      write_raw_json(w, tool.parameters.empty() ? R"({"type":"object"})"
                                                : tool.parameters);
    }
    if (tool.strict && dialect == function_tools::openai) {
      write_key(w, "strict");
      w.Bool(true);
    }
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
}

std::string called_name(const std::vector<chat_message>& turns,
                        const std::string& id) {
  for (const auto& turn : turns) {
    for (const auto& call : turn.tool_calls) {
      if (call.id == id) {
        return call.name;
      }
    }
  }
  return {};
}

void write_arguments_object(json_writer& w, const std::string& arguments) {
  rapidjson::Document doc;
  if (parse_json(doc, arguments) && doc.IsObject()) {
    doc.Accept(w);
  } else {
    w.StartObject();
    w.EndObject();
  }
}

std::string json_text(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  json_writer w{buffer};
  value.Accept(w);
  return {buffer.GetString(), buffer.GetSize()};
}

void write_double_param(json_writer& w, std::string_view key,
                        const std::optional<double>& own,
                        const std::optional<double>& fallback) {
  const auto& value = own ? own : fallback;
  if (value && std::isfinite(*value)) {
    write_key(w, key);
    w.Double(*value);
  }
}

void write_string_array(json_writer& w, std::string_view key,
                        const std::vector<std::string>& values) {
  write_key(w, key);
  w.StartArray();
  for (const auto& s : values) {
    write_string(w, s);
  }
  w.EndArray();
}

sampling sampling_of(const chat_params& params, const chat_params& defaults) {
  auto finite = [](const std::optional<double>& own,
                   const std::optional<double>& fallback) {
    const auto& value = own ? own : fallback;
    return value && std::isfinite(*value) ? value : std::nullopt;
  };
  sampling s;
  s.temperature = finite(params.temperature, defaults.temperature);
  s.top_p = finite(params.top_p, defaults.top_p);
  s.max_tokens = params.max_tokens ? params.max_tokens : defaults.max_tokens;
  s.seed = params.seed ? params.seed : defaults.seed;
  s.stop = params.stop.empty() ? defaults.stop : params.stop;
  return s;
}

void write_sampling_members(json_writer& w, const sampling& s,
                            const sampling_names& names) {
  if (s.temperature && names.temperature != nullptr) {
    write_key(w, names.temperature);
    w.Double(*s.temperature);
  }
  if (s.top_p && names.top_p != nullptr) {
    write_key(w, names.top_p);
    w.Double(*s.top_p);
  }
  if (s.max_tokens && names.max_tokens != nullptr) {
    write_key(w, names.max_tokens);
    w.Int64(*s.max_tokens);
  }
  if (s.seed && names.seed != nullptr) {
    write_key(w, names.seed);
    w.Int64(*s.seed);
  }
  if (!s.stop.empty() && names.stop != nullptr) {
    write_string_array(w, names.stop, s.stop);
  }
}

const rapidjson::Value* member(const rapidjson::Value& obj,
                               std::string_view name) {
  if (!obj.IsObject()) {
    return nullptr;
  }
  auto it = obj.FindMember(
      rapidjson::Value(rapidjson::StringRef(name.data(), name.size())));
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

const rapidjson::Value* object_member(const rapidjson::Value& obj,
                                      std::string_view name) {
  auto* value = member(obj, name);
  return value != nullptr && value->IsObject() ? value : nullptr;
}

std::string_view string_member(const rapidjson::Value& obj,
                               std::string_view name) {
  auto* value = member(obj, name);
  if (value == nullptr || !value->IsString()) {
    return {};
  }
  return {value->GetString(), value->GetStringLength()};
}

failure make_failure(failure_kind kind, std::string message, int http_status) {
  failure result;
  result.kind = kind;
  result.message = std::move(message);
  result.http_status = http_status;
  return result;
}

json_reader::parse_result parse_json(rapidjson::Document& doc,
                                     std::string_view text) {
  return json_reader::parse(doc, text);
}

failure malformed_json(std::string_view what,
                       const json_reader::parse_result& parsed,
                       std::string_view raw) {
  std::string message{what};
  if (!parsed) {
    message += " is not JSON (" + parsed.message() + "): ";
  } else {
    message += " is not a JSON object: ";
  }
  return make_failure(failure_kind::protocol, message + quote(raw));
}

std::string message_from_body(int status, std::string_view body) {
  auto text = trim(body);
  return text.empty() ? "HTTP " + std::to_string(status) : quote(text);
}

std::optional<failure_kind> kind_from_common_status(int64_t status) {
  switch (status) {
  case 401:
  case 403:
    return failure_kind::auth;
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
  return std::nullopt;
}

std::variant<std::vector<std::vector<float>>, failure>
read_embeddings(const rapidjson::Value& doc, const embedding_request& req,
                std::string_view body, const char* values_key) {
  auto* embeddings = member(doc, "embeddings");
  if (embeddings == nullptr || !embeddings->IsArray())
    return make_failure(failure_kind::protocol,
                        "embeddings reply has no embeddings array: " +
                            quote(body));
  if (embeddings->Size() != req.inputs.size())
    return make_failure(
        failure_kind::protocol,
        "embeddings reply: " + std::to_string(embeddings->Size()) +
            " vectors for " + std::to_string(req.inputs.size()) + " inputs");
  std::vector<std::vector<float>> vectors;
  for (const auto& item : embeddings->GetArray()) {
    const auto* values = values_key ? member(item, values_key) : &item;
    std::string why;
    auto vector = values == nullptr ? std::nullopt : read_vector(*values, why);
    if (!vector)
      return make_failure(
          failure_kind::protocol,
          "embeddings reply: " +
              (why.empty() ? std::string{"an embedding has no values"} : why) +
              " (item " + std::to_string(vectors.size()) + ")");
    vectors.push_back(std::move(*vector));
  }
  return vectors;
}

std::optional<std::vector<float>> read_vector(const rapidjson::Value& value,
                                              std::string& why) {
  if (!value.IsArray()) {
    why = "an embedding is not an array of numbers";
    return std::nullopt;
  }
  if (value.Size() >
      static_cast<rapidjson::SizeType>(max_embedding_dimensions)) {
    why = "an embedding of " + std::to_string(value.Size()) +
          " numbers, more than " + std::to_string(max_embedding_dimensions);
    return std::nullopt;
  }
  std::vector<float> out;
  out.reserve(value.Size());
  for (const auto& item : value.GetArray()) {
    if (!item.IsNumber()) {
      why = "an embedding holds something that is not a number";
      return std::nullopt;
    }
    auto number = item.GetDouble();
    if (!std::isfinite(number) ||
        std::fabs(number) > std::numeric_limits<float>::max()) {
      why = "an embedding holds a number beyond a float's range";
      return std::nullopt;
    }
    out.push_back(static_cast<float>(number));
  }
  return out;
}

void write_inputs(json_writer& w, std::string_view key,
                  const embedding_request& req) {
  write_string_array(w, key, req.inputs);
}

} // namespace tutti::codec_support
