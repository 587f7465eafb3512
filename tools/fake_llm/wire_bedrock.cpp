// Amazon Bedrock Converse: POST /model/{modelId}/converse, and
// /model/{modelId}/converse-stream answered as an AWS event stream
// (application/vnd.amazon.eventstream): binary messages, each with a
// prelude, typed headers, a JSON payload and two CRC32 checksums.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>

#include "tools/fake_llm/fake_llm.hpp"
#include "tools/fake_llm/wire_format.hpp"
#include "tools/fake_llm/wire_support.hpp"

namespace tutti::fake {

namespace {

// CRC-32 as AWS event-stream messages carry it (zlib's: reflected polynomial
// 0xEDB88320). The fake links nothing that has one.
uint32_t crc32(std::string_view bytes, uint32_t crc = 0) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) {
        c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      }
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (char ch : bytes) {
    crc = table[(crc ^ static_cast<unsigned char>(ch)) & 0xFF] ^ (crc >> 8);
  }
  return ~crc;
}

void put_u32(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((value >> shift) & 0xFF));
  }
}

// One header of type string (7): name length, name, type, value length,
// value.
void put_header(std::string& out, std::string_view name,
                std::string_view value) {
  out.push_back(static_cast<char>(name.size()));
  out.append(name);
  out.push_back(7);
  out.push_back(static_cast<char>((value.size() >> 8) & 0xFF));
  out.push_back(static_cast<char>(value.size() & 0xFF));
  out.append(value);
}

// An event-stream message: prelude (total length, headers length, their
// CRC), headers, payload, CRC of all before it. `break_crc` flips the last
// checksum, as a corrupted stream would carry it.
std::string message(const std::vector<std::pair<std::string, std::string>>& hs,
                    std::string_view payload, bool break_crc = false) {
  std::string headers;
  for (const auto& [name, value] : hs) {
    put_header(headers, name, value);
  }
  std::string out;
  put_u32(out, static_cast<uint32_t>(12 + headers.size() + payload.size() + 4));
  put_u32(out, static_cast<uint32_t>(headers.size()));
  put_u32(out, crc32(out));
  out += headers;
  out.append(payload);
  put_u32(out, crc32(out) ^ (break_crc ? 0xFFFFFFFFu : 0u));
  return out;
}

std::string event_message(std::string_view type, std::string_view payload,
                          bool break_crc = false) {
  return message({{":event-type", std::string(type)},
                  {":content-type", "application/json"},
                  {":message-type", "event"}},
                 payload, break_crc);
}

std::string stop_reason(const std::string& finish_reason) {
  return map_finish(finish_reason, "end_turn", "max_tokens",
                    "content_filtered");
}

// The model ID from the path; httplib decodes the path, so this only
// decodes what is left encoded.
std::string percent_decoded(const std::string& text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
    }
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 &&
        hex(text[i + 2]) >= 0) {
      out.push_back(
          static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

void write_usage(json_writer& w, int input, int output) {
  w.Key("usage");
  w.StartObject();
  w.Key("inputTokens");
  w.Int(input);
  w.Key("outputTokens");
  w.Int(output);
  w.Key("totalTokens");
  w.Int(input + output);
  w.EndObject();
  w.Key("metrics");
  w.StartObject();
  w.Key("latencyMs");
  w.Int(42);
  w.EndObject();
}

template <class Fields>
std::string json(Fields&& fields) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  w.StartObject();
  fields(w);
  w.EndObject();
  return buf.GetString();
}

class bedrock_wire final : public wire_format {
public:
  std::string name() const override { return "bedrock"; }

  // The model ID and the form (whole or streamed) come from the path.
  std::vector<std::string> paths() const override {
    return {R"(/model/([^/]+)/(converse|converse-stream))"};
  }

  // InvokeModel; the fake speaks Titan Text Embeddings' body there.
  std::vector<std::string> embedding_paths() const override {
    return {R"(/model/([^/]+)/invoke)"};
  }

  // {"inputText", "dimensions", "normalize"}: one text.
  chat_request parse_embedding_request(const request_view& req) const override {
    chat_request out;
    out.embedding = true;
    out.model = percent_decoded(req.captures.at(1));
    rapidjson::Document doc;
    if (!parse_object(doc, req.body, "Malformed input request.", out)) {
      return out;
    }
    auto text = doc.FindMember("inputText");
    if (text == doc.MemberEnd() || !text->value.IsString()) {
      out.error = "Malformed input request: #: required key [inputText] not "
                  "found, please reformat your input and try again.";
      return out;
    }
    out.inputs.emplace_back(text->value.GetString(),
                            text->value.GetStringLength());
    out.prompt_tokens = count_tokens(out.inputs.back());
    auto dimensions = doc.FindMember("dimensions");
    if (dimensions != doc.MemberEnd()) {
      if (!dimensions->value.IsInt() || (dimensions->value.GetInt() != 256 &&
                                         dimensions->value.GetInt() != 512 &&
                                         dimensions->value.GetInt() != 1024)) {
        out.error = "Malformed input request: #/dimensions: " +
                    std::string("must be one of 256, 512, 1024");
        return out;
      }
      out.dimensions = dimensions->value.GetInt();
    }
    return out;
  }

  std::string embedding_body(const response_ids& /*ids*/,
                             const std::vector<std::vector<float>>& vectors,
                             const chat_request& req) const override {
    return json([&](json_writer& w) {
      w.Key("embedding");
      write_vector(w, vectors.at(0));
      w.Key("inputTextTokenCount");
      w.Int(req.prompt_tokens);
      w.Key("embeddingsByType");
      w.StartObject();
      w.Key("float");
      write_vector(w, vectors.at(0));
      w.EndObject();
    });
  }

  chat_request parse_request(const request_view& req) const override {
    chat_request out;
    out.model = percent_decoded(req.captures.at(1));
    out.stream = req.captures.at(2) == "converse-stream";
    rapidjson::Document doc;
    if (!parse_object(doc, req.body,
                      "Malformed input request, please reformat "
                      "your input and try again.",
                      out)) {
      return out;
    }
    auto messages = doc.FindMember("messages");
    if (messages == doc.MemberEnd() || !messages->value.IsArray() ||
        messages->value.Empty()) {
      out.error = "A conversation must start with a user message. Try again "
                  "with a conversation that starts with a user message.";
      return out;
    }
    for (const auto& msg : messages->value.GetArray()) {
      auto role = msg.IsObject() ? msg.FindMember("role")
                                 : rapidjson::Value::ConstMemberIterator();
      if (!msg.IsObject() || role == msg.MemberEnd() ||
          !role->value.IsString() || !msg.HasMember("content") ||
          !msg["content"].IsArray()) {
        out.error = "The model returned the following errors: each message "
                    "needs a role and a content array";
        return out;
      }
      add_message(text_of(msg["content"]),
                  std::string_view(role->value.GetString()) == "user", out);
    }
    auto system = doc.FindMember("system");
    if (system != doc.MemberEnd()) {
      out.prompt_tokens += count_tokens(text_of(system->value));
    }
    auto config = doc.FindMember("inferenceConfig");
    if (config != doc.MemberEnd() && config->value.IsObject()) {
      read_max_tokens(config->value, "maxTokens",
                      "1 validation error detected: Value at "
                      "'inferenceConfig.maxTokens' failed to satisfy "
                      "constraint:",
                      out);
    }
    return out;
  }

  // A SigV4 signature: `Authorization: AWS4-HMAC-SHA256 Credential=...`.
  std::vector<std::string> key_headers() const override {
    return {"authorization"};
  }

  std::string response_id(uint64_t n) const override {
    return "fake-bedrock-" + std::to_string(n);
  }

  std::string request_id_header() const override { return "x-amzn-RequestId"; }

  // `type` is the AWS error type, which Bedrock sends in the
  // x-amzn-ErrorType header; the fake sends the body alone.
  error_shape default_error(int status) const override {
    switch (status) {
    case 400:
      return {"The provided model identifier is invalid.",
              "ValidationException", "", "", -1};
    case 401:
    case 403:
      return {"The security token included in the request is invalid.",
              "UnrecognizedClientException", "", "", -1};
    case 404:
      return {"Could not resolve the foundation model from the provided "
              "model identifier.",
              "ResourceNotFoundException", "", "", -1};
    case 408:
      return {"Model has timed out in processing the request. Try your "
              "request again.",
              "ModelTimeoutException", "", "", -1};
    case 424:
      return {"Received error from the model.", "ModelErrorException", "", "",
              -1};
    case 429:
      return {"Too many requests, please wait before trying again.",
              "ThrottlingException", "", "", -1};
    case 503:
    case 529:
      return {"Bedrock is unable to process your request.",
              "ServiceUnavailableException", "", "", -1};
    default:
      if (status >= 500) {
        return {"The server encountered an internal error while processing "
                "the request.",
                "InternalServerException", "", "", -1};
      }
      return {"The request was rejected.", "ValidationException", "", "", -1};
    }
  }

  // Bedrock's error body: the message alone.
  std::string error_json(int /*status*/, const error_shape& e,
                         std::string_view /*request_id*/) const override {
    return json([&](json_writer& w) {
      w.Key("message");
      write_string(w, e.message);
    });
  }

  std::string unknown_model_message(const std::string& model) const override {
    return "Could not resolve the foundation model from the provided model "
           "identifier " +
           model + ".";
  }

  error_shape limit_error(const limit_refusal& /*r*/) const override {
    return default_error(429);
  }

  // Converse has no refusal of its own.
  bool has_refusals() const override { return false; }

  std::string whole_body(const response_ids& /*ids*/, const reply_plan& plan,
                         const chat_request& chat) const override {
    return json([&](json_writer& w) {
      w.Key("output");
      w.StartObject();
      w.Key("message");
      w.StartObject();
      w.Key("role");
      w.String("assistant");
      w.Key("content");
      w.StartArray();
      if (!plan.content.empty()) {
        w.StartObject();
        w.Key("text");
        write_string(w, plan.content);
        w.EndObject();
      }
      w.EndArray();
      w.EndObject();
      w.EndObject();
      w.Key("stopReason");
      write_string(w, stop_reason(plan.finish_reason));
      write_usage(w, chat.prompt_tokens, plan.completion_tokens);
    });
  }

  std::string malformed_body(const response_ids&) const override {
    return R"({"output":{"message":{this is not json)";
  }

  // messageStart; a contentBlockDelta per token; contentBlockStop and
  // messageStop; metadata, with the usage, is the end marker. The usage is
  // logged as sent once messageStop is (the core counts no terminator's).
  stream_events stream(const response_ids& /*ids*/, const reply_plan& plan,
                       const chat_request& chat) const override {
    stream_events out;
    out.head.push_back(event_message("messageStart", json([](json_writer& w) {
                                       w.Key("role");
                                       w.String("assistant");
                                     })));
    for (const auto& token : plan.tokens) {
      out.tokens.push_back(
          event_message("contentBlockDelta", json([&](json_writer& w) {
                          w.Key("contentBlockIndex");
                          w.Int(0);
                          w.Key("delta");
                          w.StartObject();
                          w.Key("text");
                          write_string(w, token);
                          w.EndObject();
                        })));
    }
    out.finish.push_back(
        event_message("contentBlockStop", json([](json_writer& w) {
                        w.Key("contentBlockIndex");
                        w.Int(0);
                      })));
    out.finish.push_back(
        event_message("messageStop", json([&](json_writer& w) {
                        w.Key("stopReason");
                        write_string(w, stop_reason(plan.finish_reason));
                      })));
    out.terminator.push_back(event_message(
        "metadata", json([&](json_writer& w) {
          write_usage(w, chat.prompt_tokens, plan.completion_tokens);
        })));
    out.finish_usage = {chat.prompt_tokens, plan.completion_tokens};
    // A whole message whose checksum does not match.
    out.malformed = event_message(
        "contentBlockDelta",
        R"({"contentBlockIndex":0,"delta":{"text":"corrupted"}})", true);
    return out;
  }

  // An exception message names its type in a header; the type here is
  // always the one Bedrock sends for a model failing mid-stream (the status
  // scripted chooses only the message: error_event sees the body alone).
  int error_event_status() const override { return 424; }

  std::string error_event(std::string_view error_json) const override {
    return message({{":exception-type", "modelStreamErrorException"},
                    {":content-type", "application/json"},
                    {":message-type", "exception"}},
                   error_json);
  }

  bool sse_framed() const override { return false; }

  std::string stream_content_type() const override {
    return "application/vnd.amazon.eventstream";
  }

  std::string raw_event(std::string_view text) const override {
    return event_message("contentBlockDelta", text);
  }
};

} // namespace

std::unique_ptr<wire_format> make_bedrock_wire() {
  return std::make_unique<bedrock_wire>();
}

} // namespace tutti::fake
