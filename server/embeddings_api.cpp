#include "server/embeddings_api.hpp"

#include <array>
#include <charconv>
#include <cstring>
#include <limits>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "server/request_fields.hpp"

namespace tutti::http {

namespace {

using namespace fields;

/// The provider `model` names; a 400 for an ensemble, a 404 for nothing.
std::string provider_of(const std::string& model, const config& cfg) {
  const std::string prefix = "ensemble/";
  bool ensemble = model.rfind(prefix, 0) == 0;
  if (!ensemble && cfg.providers.count(model) > 0)
    return model;
  if (ensemble || cfg.ensembles.count(model) > 0)
    fail("model",
         "model: '" + model +
             "' is an ensemble; embeddings are asked of one provider (one "
             "of: " +
             join(names_of(cfg.providers, "")) + ")",
         "unsupported_model");
  throw api_error{404,
                  "The model '" + model +
                      "' does not exist: expected a provider (" +
                      join(names_of(cfg.providers, "")) + ")",
                  "invalid_request_error", "model", "model_not_found"};
}

std::string read_input(const json_value& v, const std::string& param) {
  if (v.IsNumber() || v.IsArray())
    fail("input",
         param + ": token arrays are not supported; send the text itself",
         "unsupported_parameter");
  if (!v.IsString())
    fail(param, param + ": expected a string, got " + type_name(v));
  if (v.GetStringLength() == 0)
    fail(param, param + ": must not be empty");
  if (v.GetStringLength() > max_embedding_input_bytes)
    fail(param, param + ": longer than " +
                    std::to_string(max_embedding_input_bytes) + " bytes");
  return {v.GetString(), v.GetStringLength()};
}

std::vector<std::string> read_inputs(const json_value& v) {
  if (!v.IsArray())
    return {read_input(v, "input")};
  if (v.Empty())
    fail("input", "input: must hold at least one text");
  if (v.Size() > max_embedding_inputs)
    fail("input", "input: " + std::to_string(v.Size()) +
                      " texts, more than the " +
                      std::to_string(max_embedding_inputs) + " allowed");
  std::vector<std::string> inputs;
  inputs.reserve(v.Size());
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i)
    inputs.push_back(read_input(v[i], "input[" + std::to_string(i) + "]"));
  return inputs;
}

int64_t read_dimensions(const json_value& v) {
  if (!v.IsInt64() || v.GetInt64() < 1 ||
      v.GetInt64() > max_embedding_dimensions)
    fail("dimensions", "dimensions: expected an integer from 1 to " +
                           std::to_string(max_embedding_dimensions) + ", got " +
                           (v.IsNumber() ? "another number" : type_name(v)));
  return v.GetInt64();
}

/// The shortest text that reads back as the same float.
void write_float(rapidjson::Writer<rapidjson::StringBuffer>& w, float x) {
  std::array<char, 32> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), x);
  if (ec != std::errc{}) {
    w.Double(static_cast<double>(x));
    return;
  }
  w.RawValue(buf.data(), static_cast<size_t>(end - buf.data()),
             rapidjson::kNumberType);
}

} // namespace

std::variant<embeddings_call, api_error>
parse_embeddings_request(std::string_view body, const config& cfg) {
  try {
    auto doc = parse_object(body);
    embeddings_call call;
    auto* model = field(doc, "model");
    if (model == nullptr)
      fail("model", "model: required (a provider's name)");
    call.model = read_string(*model, "model");
    call.provider = provider_of(call.model, cfg);
    auto* input = field(doc, "input");
    if (input == nullptr)
      fail("input", "input: required (a string or an array of strings)");
    call.inputs = read_inputs(*input);
    if (auto* format = field(doc, "encoding_format")) {
      std::string_view word =
          format->IsString()
              ? std::string_view{format->GetString(), format->GetStringLength()}
              : std::string_view{};
      if (word == "base64")
        call.base64 = true;
      else if (word != "float")
        fail("encoding_format",
             "encoding_format: expected \"float\" or \"base64\"");
    }
    if (auto* dimensions = field(doc, "dimensions"))
      call.dimensions = read_dimensions(*dimensions);
    if (auto* user = field(doc, "user"))
      read_string(*user, "user");
    return call;
  } catch (const api_error& e) {
    return e;
  }
}

std::string base64_floats(const std::vector<float>& vector) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static_assert(std::numeric_limits<float>::is_iec559);
  std::string bytes;
  bytes.reserve(vector.size() * 4);
  for (float x : vector) {
    uint32_t bits = 0;
    std::memcpy(&bits, &x, sizeof bits);
    for (int shift = 0; shift < 32; shift += 8)
      bytes.push_back(static_cast<char>((bits >> shift) & 0xff));
  }
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t n = (uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                 (uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) |
                 uint32_t{static_cast<unsigned char>(bytes[i + 2])};
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += alphabet[n & 63];
  }
  if (auto left = bytes.size() - i; left > 0) {
    uint32_t n = uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
    if (left == 2)
      n |= uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += left == 2 ? alphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string embeddings_json(const embeddings_call& call,
                            const completion& reply) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w{buffer};
  w.StartObject();
  w.Key("object");
  w.String("list");
  w.Key("data");
  w.StartArray();
  for (size_t i = 0; i < reply.embeddings.size(); ++i) {
    w.StartObject();
    w.Key("object");
    w.String("embedding");
    w.Key("index");
    w.Uint64(i);
    w.Key("embedding");
    if (call.base64) {
      auto text = base64_floats(reply.embeddings[i]);
      w.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
    } else {
      w.StartArray();
      for (float x : reply.embeddings[i])
        write_float(w, x);
      w.EndArray();
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("model");
  w.String(call.model.data(),
           static_cast<rapidjson::SizeType>(call.model.size()));
  w.Key("usage");
  w.StartObject();
  w.Key("prompt_tokens");
  w.Int64(reply.usage.input_tokens);
  w.Key("total_tokens");
  w.Int64(reply.usage.input_tokens);
  w.EndObject();
  w.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

} // namespace tutti::http
