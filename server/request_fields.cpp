#include "server/request_fields.hpp"

#include <algorithm>
#include <cstdio>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/src/json_reader.hpp"
#include "tutti/store.hpp"

namespace tutti::http::fields {

namespace {

std::string format_number(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

/// Settings a request may give the strategy it chooses (tutti.settings);
/// the built-in ones read at most four.
constexpr size_t max_combine_settings = 16;

bool is_function_name(const std::string& name) {
  return !name.empty() && name.size() <= 64 &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '_' || c == '-';
         });
}

} // namespace

std::string type_name(const json_value& v) {
  if (v.IsNull())
    return "null";
  if (v.IsBool())
    return "a boolean";
  if (v.IsNumber())
    return "a number";
  if (v.IsString())
    return "a string";
  if (v.IsArray())
    return "an array";
  return "an object";
}

std::string string_of(const json_value& v) {
  return {v.GetString(), v.GetStringLength()};
}

std::string quoted(const std::string& text) {
  return "'" + text + "'";
}

std::string join(const std::vector<std::string>& items) {
  std::string text;
  for (auto& item : items)
    text += (text.empty() ? "" : ", ") + item;
  return text;
}

const json_value* field(const json_value& object, const char* name) {
  auto i = object.FindMember(name);
  if (i == object.MemberEnd() || i->value.IsNull())
    return nullptr;
  return &i->value;
}

void fail(std::string param, std::string message, std::string code) {
  throw bad_request(std::move(param), std::move(message), std::move(code));
}

void unsupported(std::string param, std::string message) {
  fail(std::move(param), std::move(message), "unsupported_parameter");
}

void wrong_type(const std::string& param, const std::string& want,
                const json_value& got) {
  fail(param, param + ": expected " + want + ", got " + type_name(got),
       "invalid_type");
}

std::string read_string(const json_value& v, const std::string& param) {
  if (!v.IsString())
    wrong_type(param, "a string", v);
  return string_of(v);
}

bool read_bool(const json_value& v, const std::string& param) {
  if (!v.IsBool())
    wrong_type(param, "true or false", v);
  return v.GetBool();
}

double read_number(const json_value& v, const std::string& param, double low,
                   double high) {
  if (!v.IsNumber())
    wrong_type(param, "a number", v);
  auto x = v.GetDouble();
  if (x < low || x > high)
    fail(param, param + ": expected a number from " + format_number(low) +
                    " to " + format_number(high) + ", got " + format_number(x));
  return x;
}

int64_t read_integer(const json_value& v, const std::string& param) {
  if (!v.IsInt64())
    wrong_type(param, "an integer", v);
  return v.GetInt64();
}

rapidjson::Document parse_object(std::string_view body) {
  rapidjson::Document doc;
  auto parsed =
      json_reader::parse(doc, body, json_reader::utf8_check::validate);
  if (!parsed)
    fail("",
         "request body: not valid JSON at offset " +
             std::to_string(parsed.offset) + ": " + parsed.what,
         "invalid_json");
  if (!doc.IsObject())
    fail("", "request body: expected a JSON object, got " + type_name(doc),
         "invalid_json");
  return doc;
}

std::string read_model(const json_value& body) {
  auto* model = field(body, "model");
  if (model == nullptr)
    fail("model", "model: required (a provider's name or ensemble/NAME)");
  return read_string(*model, "model");
}

std::string read_function_name(const json_value& v, const std::string& param) {
  auto name = read_string(v, param);
  if (!is_function_name(name))
    fail(param, param + ": expected 1 to 64 letters, digits, '_' or '-', got " +
                    quoted(name.substr(0, 80)));
  return name;
}

/// `v` as compact JSON text (the parse limits its depth, so writing it
/// recurses no deeper).
std::string compact_json(const json_value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w{buffer};
  v.Accept(w);
  return {buffer.GetString(), buffer.GetSize()};
}

int64_t read_max_tokens(const json_value& v, const std::string& param) {
  auto n = read_integer(v, param);
  if (n < 1)
    fail(param, param + ": expected at least 1, got " + std::to_string(n));
  if (n > max_tokens_limit)
    fail(param, param + ": expected at most " +
                    std::to_string(max_tokens_limit) + ", got " +
                    std::to_string(n));
  return n;
}

void read_content(const json_value& v, const std::string& param,
                  const text_parts& form, chat_message& into) {
  into.content.clear();
  into.parts.clear();
  if (v.IsString()) {
    into.content = string_of(v);
    return;
  }
  if (!v.IsArray())
    wrong_type(param, form.whole, v);
  std::vector<content_part> parts;
  bool any_image = false;
  for (rapidjson::SizeType j = 0; j < v.Size(); ++j) {
    auto at = param + "[" + std::to_string(j) + "]";
    auto& part = v[j];
    if (!part.IsObject())
      wrong_type(at, form.part, part);
    auto* type = field(part, "type");
    if (type == nullptr)
      fail(at + ".type", at + ".type: required");
    auto kind = read_string(*type, at + ".type");
    if (form.image_kind != nullptr && kind == form.image_kind) {
      if (into.role != "user")
        unsupported(at + ".type", at +
                                      ".type: only user messages may hold "
                                      "images, not " +
                                      into.role + " ones");
      content_part image;
      image.image = form.read_image(part, at);
      parts.push_back(std::move(image));
      any_image = true;
      continue;
    }
    if (std::find(form.kinds.begin(), form.kinds.end(), kind) ==
        form.kinds.end())
      unsupported(at + ".type",
                  at + ".type: " + form.only + ", got " + quoted(kind));
    std::string key = kind == "refusal" ? "refusal" : "text";
    auto* words = field(part, key.c_str());
    if (words == nullptr)
      fail(at + "." + key, at + "." + key + ": required");
    auto text = read_string(*words, at + "." + key);
    if (!into.content.empty())
      into.content += "\n";
    into.content += text;
    content_part piece;
    piece.text = std::move(text);
    parts.push_back(std::move(piece));
  }
  if (any_image)
    into.parts = std::move(parts);
}

std::string read_text_parts(const json_value& v, const std::string& param,
                            const text_parts& form) {
  chat_message message;
  auto text_only = form;
  text_only.image_kind = nullptr;
  read_content(v, param, text_only, message);
  return std::move(message.content);
}

namespace {

bool is_base64(std::string_view data) {
  if (data.empty() || data.size() % 4 != 0)
    return false;
  size_t padding = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    auto c = data[i];
    bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (c == '=') {
      // Only the last one or two characters pad.
      if (i + 2 < data.size())
        return false;
      ++padding;
    } else if (!letter || padding > 0) {
      return false;
    }
  }
  return true;
}

bool is_image_type(std::string_view media_type) {
  return media_type == "image/png" || media_type == "image/jpeg" ||
         media_type == "image/gif" || media_type == "image/webp";
}

} // namespace

image_ref inline_image(std::string media_type, std::string data,
                       const std::string& param) {
  if (!is_image_type(media_type))
    fail(param, param +
                    ": expected an image/png, image/jpeg, image/gif or "
                    "image/webp image, got " +
                    quoted(media_type.substr(0, 40)));
  if (!is_base64(data))
    fail(param, param + ": the image's bytes are not valid base64");
  image_ref image;
  image.media_type = std::move(media_type);
  image.data = std::move(data);
  return image;
}

image_ref read_image_url(const json_value& v, const std::string& param) {
  auto url = read_string(v, param);
  std::string_view text{url};
  constexpr std::string_view data_scheme = "data:";
  if (text.substr(0, data_scheme.size()) == data_scheme) {
    // data:MEDIA_TYPE;base64,DATA: the media type is short, so it is
    // looked for in the first bytes only.
    auto comma = text.substr(0, 64).find(',');
    auto head =
        comma == std::string_view::npos
            ? std::string_view{}
            : text.substr(data_scheme.size(), comma - data_scheme.size());
    constexpr std::string_view base64_suffix = ";base64";
    if (head.size() <= base64_suffix.size() ||
        head.substr(head.size() - base64_suffix.size()) != base64_suffix)
      fail(param, param + ": expected a data URL like "
                          "data:image/png;base64,..., or an http(s) URL");
    auto media_type =
        std::string{head.substr(0, head.size() - base64_suffix.size())};
    return inline_image(std::move(media_type),
                        std::string{text.substr(comma + 1)}, param);
  }
  if (text.substr(0, 8) != "https://" && text.substr(0, 7) != "http://")
    fail(param, param + ": expected an http(s) URL or a data: URL");
  if (text.size() > max_image_url_bytes)
    fail(param, param + ": an image URL may be at most " +
                    std::to_string(max_image_url_bytes) + " bytes");
  for (auto c : text)
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
      fail(param, param + ": an image URL may not hold spaces or control "
                          "characters");
  image_ref image;
  image.url = std::move(url);
  return image;
}

std::string read_image_detail(const json_value& v, const std::string& param) {
  auto detail = read_string(v, param);
  if (detail != "low" && detail != "high" && detail != "auto")
    fail(param, param + ": expected low, high or auto, got " +
                    quoted(detail.substr(0, 40)));
  return detail;
}

void check_image_count(const std::vector<chat_message>& messages) {
  size_t images = 0;
  for (auto& m : messages)
    images += m.images();
  if (images > max_images_per_request)
    fail("messages",
         "messages: at most " + std::to_string(max_images_per_request) +
             " images in one request, got " + std::to_string(images));
}

std::string read_reasoning_effort(const json_value& v,
                                  const std::string& param) {
  auto effort = read_string(v, param);
  if (effort != "minimal" && effort != "low" && effort != "medium" &&
      effort != "high")
    fail(param, param + ": expected minimal, low, medium or high, got " +
                    quoted(effort));
  return effort;
}

std::string read_schema(const json_value& v, const std::string& param) {
  if (!v.IsObject())
    wrong_type(param, "a JSON Schema object", v);
  return compact_json(v);
}

tool_choice read_tool_choice_word(const json_value& v,
                                  const std::string& object) {
  tool_choice choice;
  choice.mode = string_of(v);
  if (choice.mode != "none" && choice.mode != "auto" &&
      choice.mode != "required")
    fail("tool_choice", "tool_choice: expected none, auto, required or " +
                            object + ", got " + quoted(choice.mode));
  return choice;
}

void check_tool_choice(const tool_choice& choice,
                       const std::vector<tool_spec>& tools,
                       const std::string& param,
                       const std::string& name_param) {
  if (choice.mode != "none" && choice.mode != "auto" && tools.empty())
    fail(param,
         param + ": " + quoted(choice.mode) + " needs tools to choose from");
  if (choice.mode == "function" &&
      std::none_of(tools.begin(), tools.end(),
                   [&](const tool_spec& t) { return t.name == choice.name; }))
    fail(name_param, name_param + ": " + quoted(choice.name) +
                         " is not one of the request's tools");
}

void add_tool(std::vector<tool_spec>& tools, tool_spec tool,
              const std::string& name_param) {
  for (auto& other : tools)
    if (other.name == tool.name)
      fail(name_param, name_param + ": " + quoted(tool.name) +
                           " is the name of an earlier tool too");
  tools.push_back(std::move(tool));
}

tutti::target resolve_model(const std::string& model, const config& cfg) {
  const std::string prefix = "ensemble/";
  if (model.rfind(prefix, 0) == 0) {
    auto name = model.substr(prefix.size());
    if (cfg.ensembles.count(name) > 0)
      return tutti::target::ensemble(name);
  } else if (cfg.providers.count(model) > 0) {
    return tutti::target::provider(model);
  }
  auto message =
      "The model " + quoted(model) + " does not exist: expected a provider (" +
      join(names_of(cfg.providers, "")) + ") or ensemble/NAME (" +
      join(names_of(cfg.ensembles, "ensemble/")) + ")" +
      (cfg.models.empty()
           ? std::string{}
           : " or a routed model (" + join(names_of(cfg.models, "")) + ")");
  if (cfg.ensembles.count(model) > 0)
    message += "; did you mean ensemble/" + model + "?";
  throw api_error{404, message, "invalid_request_error", "model",
                  "model_not_found"};
}

void resolve_target(chat_call& call, const config& cfg) {
  std::string rest;
  const auto* route = find_route(cfg, call.model, rest);
  if (call.inline_ensemble.empty()) {
    if (route != nullptr && cfg.providers.count(call.model) == 0) {
      call.to = tutti::target::ensemble(call.model);
      call.routed = ensemble_of_route(*route, rest);
      call.route = route->name;
      return;
    }
    call.to = resolve_model(call.model, cfg);
    return;
  }
  if (route != nullptr)
    fail("model", "model: with tutti.ensemble the model names the request's "
                  "own ensemble; " +
                      quoted(call.model) + " is a routed model (models: " +
                      quoted(route->name) + "), give another");
  auto bare =
      call.model.rfind("ensemble/", 0) == 0 ? call.model.substr(9) : call.model;
  if (bare.empty() || cfg.ensembles.count(bare) > 0 ||
      cfg.providers.count(bare) > 0)
    fail("model",
         "model: with tutti.ensemble the model names the request's "
         "own ensemble; " +
             quoted(call.model) +
             (bare.empty() ? std::string{" is empty"}
                           : " is the name of the config's " +
                                 std::string{cfg.providers.count(bare) > 0
                                                 ? "provider"
                                                 : "ensemble"}) +
             ", give another");
  call.to = tutti::target::ensemble(bare);
}

void read_tutti_extension(const json_value& body, chat_call& call) {
  if (auto* v = field(body, "tutti")) {
    if (!v->IsObject())
      wrong_type("tutti", "an object", *v);
    if (auto* m = field(*v, "members"))
      call.stream_members = read_bool(*m, "tutti.members");
    if (auto* e = field(*v, "ensemble")) {
      if (!e->IsObject())
        wrong_type("tutti.ensemble",
                   "an object like an ensemble in the YAML ({\"members\": "
                   "[...], \"combine\": ...})",
                   *e);
      call.inline_ensemble = compact_json(*e);
    }
    if (auto* s = field(*v, "session")) {
      call.session = read_string(*s, "tutti.session");
      if (!tutti::is_session_id(call.session))
        fail("tutti.session", "tutti.session: must be 1 to " +
                                  std::to_string(tutti::max_session_bytes) +
                                  " printable ASCII characters without spaces");
    }
    if (auto* c = field(*v, "combine"))
      call.combine = combine_choice{read_string(*c, "tutti.combine"), {}};
    if (auto* s = field(*v, "settings")) {
      if (!call.combine)
        fail("tutti.settings",
             "tutti.settings: goes with tutti.combine, the strategy they "
             "are for");
      if (!s->IsObject())
        wrong_type("tutti.settings", "an object of strings", *s);
      if (s->MemberCount() > max_combine_settings)
        fail("tutti.settings", "tutti.settings: at most " +
                                   std::to_string(max_combine_settings) +
                                   " settings");
      for (auto& m : s->GetObject()) {
        std::string key{m.name.GetString(), m.name.GetStringLength()};
        call.combine->settings.set(
            key, read_string(m.value, "tutti.settings." + key));
      }
    }
  }
}

} // namespace tutti::http::fields
