#include "tools/fake_llm/wire_support.hpp"

#include <cmath>
#include <utility>

#include "engine/src/json_reader.hpp"
#include "engine/src/splitmix.hpp"
#include "tools/fake_llm/fake_llm.hpp"

namespace tutti::fake {

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

std::string member_text(const rapidjson::Value& object, const char* key) {
  if (!object.IsObject()) {
    return {};
  }
  auto it = object.FindMember(key);
  return it == object.MemberEnd() ? std::string() : text_of(it->value);
}

bool parse_object(rapidjson::Document& doc, std::string_view body,
                  const char* not_an_object, chat_request& out) {
  if (!json_reader::parse(doc, body) || !doc.IsObject()) {
    out.error = not_an_object;
    return false;
  }
  return true;
}

bool read_model(const rapidjson::Value& object, const char* missing,
                const char* param, chat_request& out) {
  auto model = object.FindMember("model");
  if (model == object.MemberEnd() || !model->value.IsString() ||
      model->value.GetStringLength() == 0) {
    out.error = missing;
    out.error_param = param;
    return false;
  }
  out.model.assign(model->value.GetString(), model->value.GetStringLength());
  return true;
}

void add_message(std::string text, bool from_user, chat_request& out) {
  out.prompt_tokens += count_tokens(text);
  if (from_user) {
    if (out.first_user.empty())
      out.first_user = text;
    out.last_user = std::move(text);
  }
}

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

std::string data_event(std::string_view data) {
  std::string out = "data: ";
  out.append(data);
  out += "\n\n";
  return out;
}

std::string map_finish(const std::string& reason, const char* stop,
                       const char* length, const char* content_filter) {
  if (reason == "stop") {
    return stop;
  }
  if (reason == "length") {
    return length;
  }
  if (reason == "content_filter") {
    return content_filter;
  }
  return reason;
}

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

std::vector<float> fake_embedding(std::string_view text, int dimensions) {
  if (dimensions <= 0) {
    dimensions = default_embedding_dimensions;
  }
  // FNV-1a of the text seeds splitmix64: one number in [-1, 1) each.
  uint64_t state = fnv1a64(text);
  std::vector<float> out;
  out.reserve(static_cast<size_t>(dimensions));
  double norm = 0;
  for (int i = 0; i < dimensions; ++i) {
    uint64_t z = splitmix64(state);
    double x = static_cast<double>(z >> 11) / 9007199254740992.0 * 2 - 1;
    out.push_back(static_cast<float>(x));
    norm += x * x;
  }
  norm = std::sqrt(norm);
  if (norm > 0) {
    for (auto& x : out) {
      x = static_cast<float>(x / norm);
    }
  }
  return out;
}

bool read_embedding_inputs(const rapidjson::Value* input, chat_request& out) {
  auto fail = [&out](std::string message) {
    out.error = std::move(message);
    out.error_param = "input";
    return false;
  };
  if (input == nullptr) {
    return fail("Missing required parameter: 'input'.");
  }
  auto add = [&out](const rapidjson::Value& text) {
    out.inputs.emplace_back(text.GetString(), text.GetStringLength());
    out.prompt_tokens += count_tokens(out.inputs.back());
  };
  if (input->IsString()) {
    add(*input);
    return true;
  }
  if (!input->IsArray() || input->Empty()) {
    return fail("'input' must be a string or a non-empty array of strings.");
  }
  for (const auto& text : input->GetArray()) {
    if (!text.IsString()) {
      return fail("'input' must be a string or a non-empty array of strings.");
    }
    add(text);
  }
  return true;
}

void write_vector(json_writer& w, const std::vector<float>& vector) {
  w.StartArray();
  for (float x : vector) {
    w.Double(static_cast<double>(x));
  }
  w.EndArray();
}

} // namespace tutti::fake
