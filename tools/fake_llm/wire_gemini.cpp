// Gemini generateContent: POST /v1beta/models/{model}:generateContent, and
// :streamGenerateContent?alt=sse.

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

std::string finish_reason(const std::string& openai_reason) {
  return map_finish(openai_reason, "STOP", "MAX_TOKENS", "SAFETY");
}

chat_request parse_body(std::string_view body, std::string model, bool stream) {
  chat_request out;
  out.model = std::move(model);
  out.stream = stream;
  rapidjson::Document doc;
  if (!parse_object(doc, body, "Invalid JSON payload received.", out)) {
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
    auto role = content.FindMember("role");
    bool user = role == content.MemberEnd() ||
                (role->value.IsString() &&
                 std::string_view(role->value.GetString()) == "user");
    add_message(text_of(parts->value), user, out);
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

// One GenerateContentResponse.
struct chunk {
  std::string_view text;
  // Empty: no finishReason (and no usageMetadata) in this chunk.
  std::string finish;
  bool blocked = false;
};

std::string chunk_json(const response_ids& ids, const chunk& c,
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

class gemini_wire final : public wire_format {
public:
  std::string name() const override { return "gemini"; }

  // The model and the method come from the path.
  std::vector<std::string> paths() const override {
    return {
        R"((?:/v1beta|/v1)?/models/([^/:]+):(generateContent|streamGenerateContent))"};
  }

  std::vector<std::string> embedding_paths() const override {
    return {R"((?:/v1beta|/v1)?/models/([^/:]+):batchEmbedContents)"};
  }

  // {"requests": [{"model": "models/M", "content": {"parts": [{"text"}]},
  // "outputDimensionality"}]}: one text each.
  chat_request parse_embedding_request(const request_view& req) const override {
    chat_request out;
    out.embedding = true;
    out.model = req.captures.at(1);
    rapidjson::Document doc;
    if (!parse_object(doc, req.body, "Invalid JSON payload received.", out)) {
      return out;
    }
    auto requests = doc.FindMember("requests");
    if (requests == doc.MemberEnd() || !requests->value.IsArray() ||
        requests->value.Empty()) {
      out.error = "* BatchEmbedContentsRequest.requests: requests is not "
                  "specified";
      return out;
    }
    for (const auto& one : requests->value.GetArray()) {
      auto model = one.IsObject() ? one.FindMember("model") : one.MemberEnd();
      if (model == one.MemberEnd() || !model->value.IsString() ||
          std::string(model->value.GetString()) != "models/" + out.model) {
        out.error = "* BatchEmbedContentsRequest.requests[].model: each "
                    "request's model must be the batch's, models/" +
                    out.model;
        return out;
      }
      auto content = one.FindMember("content");
      if (content == one.MemberEnd() || !content->value.IsObject()) {
        out.error = "* BatchEmbedContentsRequest.requests[].content: content "
                    "is not specified";
        return out;
      }
      auto parts = content->value.FindMember("parts");
      out.inputs.push_back(parts == content->value.MemberEnd()
                               ? std::string()
                               : text_of(parts->value));
      out.prompt_tokens += count_tokens(out.inputs.back());
      auto dimensions = one.FindMember("outputDimensionality");
      if (dimensions != one.MemberEnd()) {
        if (!dimensions->value.IsInt() || dimensions->value.GetInt() < 1 ||
            dimensions->value.GetInt() > 65536) {
          out.error = "* BatchEmbedContentsRequest.requests[]."
                      "outputDimensionality: must be a positive integer";
          return out;
        }
        out.dimensions = dimensions->value.GetInt();
      }
    }
    return out;
  }

  std::string embedding_body(const response_ids& /*ids*/,
                             const std::vector<std::vector<float>>& vectors,
                             const chat_request& /*req*/) const override {
    rapidjson::StringBuffer buf;
    json_writer w(buf);
    w.StartObject();
    w.Key("embeddings");
    w.StartArray();
    for (const auto& vector : vectors) {
      w.StartObject();
      w.Key("values");
      write_vector(w, vector);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return buf.GetString();
  }

  chat_request parse_request(const request_view& req) const override {
    const bool stream = req.captures.at(2) == "streamGenerateContent";
    auto chat = parse_body(req.body, req.captures.at(1), stream);
    if (stream && chat.error.empty() && req.query_value("alt") != "sse") {
      chat.error = "tutti-fake-llm streams streamGenerateContent only as "
                   "server-sent events: add ?alt=sse";
    }
    return chat;
  }

  std::vector<std::string> key_headers() const override {
    return {"x-goog-api-key"};
  }

  std::vector<std::string> key_params() const override { return {"key"}; }

  std::string response_id(uint64_t n) const override {
    return "fake-response-" + std::to_string(n);
  }

  error_shape default_error(int status) const override {
    switch (status) {
    case 400:
      return {"Request contains an invalid argument.", "INVALID_ARGUMENT", "",
              "", -1};
    case 401:
      return {"API key not valid. Please pass a valid API key.",
              "UNAUTHENTICATED", "", "", -1};
    case 403:
      return {"The caller does not have permission", "PERMISSION_DENIED", "",
              "", -1};
    case 404:
      return {"Requested entity was not found.", "NOT_FOUND", "", "", -1};
    case 408:
    case 504:
      return {"The request timed out. Please try again.", "DEADLINE_EXCEEDED",
              "", "", -1};
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

  // A retry delay goes in a RetryInfo detail.
  std::string error_json(int status, const error_shape& e,
                         std::string_view /*request_id*/) const override {
    rapidjson::StringBuffer buf;
    json_writer w(buf);
    w.StartObject();
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
    w.EndObject();
    return buf.GetString();
  }

  std::string unknown_model_message(const std::string& model) const override {
    return "models/" + model +
           " is not found for API version v1beta, or is not supported for "
           "generateContent.";
  }

  // Gemini has no refusal: a scripted one is sent as the reply's text.
  bool has_refusals() const override { return false; }

  bool blocks_prompts() const override { return true; }

  std::string whole_body(const response_ids& ids, const reply_plan& plan,
                         const chat_request& chat) const override {
    chunk c;
    c.text = plan.content;
    c.finish = finish_reason(plan.finish_reason);
    c.blocked = plan.blocked;
    return chunk_json(ids, c, chat.prompt_tokens, plan.completion_tokens);
  }

  std::string malformed_body(const response_ids&) const override {
    return R"({"candidates":[{"content":{this is not json)";
  }

  // No separate finish event: the last content chunk carries finishReason
  // and usageMetadata. No terminator: the body simply ends.
  stream_events stream(const response_ids& ids, const reply_plan& plan,
                       const chat_request& chat) const override {
    stream_events out;
    const int prompt = chat.prompt_tokens;
    const int completion = plan.completion_tokens;
    const auto finish = finish_reason(plan.finish_reason);
    if (plan.blocked) {
      chunk c;
      c.blocked = true;
      out.finish.push_back(data_event(chunk_json(ids, c, prompt, 0)));
      out.finish_usage = {prompt, 0};
    } else if (plan.tokens.empty()) {
      chunk c;
      c.finish = finish;
      out.finish.push_back(data_event(chunk_json(ids, c, prompt, 0)));
      out.finish_usage = {prompt, 0};
    } else {
      out.last_token_usage = {prompt, completion};
      for (size_t i = 0; i < plan.tokens.size(); ++i) {
        chunk c;
        c.text = plan.tokens[i];
        if (i + 1 == plan.tokens.size()) {
          c.finish = finish;
        }
        out.tokens.push_back(
            data_event(chunk_json(ids, c, prompt, completion)));
      }
    }
    out.malformed = "data: {\"candidates\":[{\"content\":{this is not json\n\n";
    return out;
  }

  int error_event_status() const override { return 503; }

  std::string error_event(std::string_view error_json) const override {
    return data_event(error_json);
  }

  bool crlf() const override { return true; }
};

} // namespace

std::unique_ptr<wire_format> make_gemini_wire() {
  return std::make_unique<gemini_wire>();
}

} // namespace tutti::fake
