#include "plugins/codecs/gemini/gemini_codec.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>

#include "engine/src/saturating.hpp"
#include "plugins/codecs/codec_support.hpp"
#include "plugins/codecs/gemini/gemini_errors.hpp"

// The Google Gemini API wire format: POST models/{model}:generateContent for a
// whole reply, models/{model}:streamGenerateContent?alt=sse for a stream of
// GenerateContentResponse chunks. docs/providers/gemini.md says what is sent
// and how replies, safety blocks and errors map to values.

namespace tutti {

namespace {

using namespace codec_support;
using namespace gemini_errors;

constexpr std::string_view gemini_base_url =
    "https://generativelanguage.googleapis.com/v1beta";

int64_t int_member(const rapidjson::Value& obj, std::string_view name) {
  auto* value = member(obj, name);
  return value != nullptr && value->IsInt64() ? value->GetInt64() : 0;
}

bool true_member(const rapidjson::Value& obj, std::string_view name) {
  auto* value = member(obj, name);
  return value != nullptr && value->IsTrue();
}

/// The token counts of a Gemini `usageMetadata` object. The prompt count
/// already includes the cached part; thinking tokens are billed as output.
tutti::usage usage_from(const rapidjson::Value& obj) {
  tutti::usage result;
  result.input_tokens = int_member(obj, "promptTokenCount");
  result.cached_input_tokens = int_member(obj, "cachedContentTokenCount");
  // The counts are the server's to choose: their sum saturates.
  result.output_tokens = saturating_add(int_member(obj, "candidatesTokenCount"),
                                        int_member(obj, "thoughtsTokenCount"));
  return result;
}

std::optional<tutti::usage> usage_of(const rapidjson::Value& doc) {
  auto* u = member(doc, "usageMetadata");
  if (u == nullptr || !u->IsObject()) {
    return std::nullopt;
  }
  return usage_from(*u);
}

/// A stream chunk's `usageMetadata` holds the counts so far, all of them:
/// the last one is Gemini's final word, even where it is lower than an
/// earlier one (the prompt count can go down).
std::optional<usage_report> report_of(const rapidjson::Value& doc) {
  if (auto tokens = usage_of(doc)) {
    return usage_totals(*tokens);
  }
  return std::nullopt;
}

/// True for the finish reasons that mean a filter stopped the reply.
bool is_filter_reason(std::string_view reason) {
  return reason == "SAFETY" || reason == "RECITATION" ||
         reason == "BLOCKLIST" || reason == "PROHIBITED_CONTENT" ||
         reason == "SPII" || reason == "IMAGE_SAFETY" ||
         reason == "IMAGE_PROHIBITED_CONTENT";
}

/// tutti's name for a Gemini `finishReason`.
std::string finish_reason_from(std::string_view reason) {
  if (reason == "STOP") {
    return "stop";
  }
  if (reason == "MAX_TOKENS") {
    return "length";
  }
  if (is_filter_reason(reason)) {
    return "content_filter";
  }
  std::string result{reason};
  std::transform(result.begin(), result.end(), result.begin(), ascii_lower);
  return result;
}

/// What `candidates[0]` holds.
struct candidate_view {
  std::string text;          ///< the non-thought parts' text, concatenated
  std::string finish_reason; ///< as sent ("STOP"); empty when absent
  std::string finish_message;
  bool has_parts = false; ///< `content.parts` held at least one part
  std::vector<tool_call_delta> calls; ///< its function calls, each whole
  /// Its `logprobsResult` as OpenAI's `logprobs.content` entries
  /// (`stream_update::logprobs`).
  std::string logprobs;
};

void write_token(json_writer& w, const rapidjson::Value& candidate) {
  auto token = string_member(candidate, "token");
  write_key(w, "token");
  write_string(w, token);
  write_key(w, "logprob");
  auto* p = member(candidate, "logProbability");
  w.Double(p != nullptr && p->IsNumber() && std::isfinite(p->GetDouble())
               ? p->GetDouble()
               : 0.0);
  write_key(w, "bytes");
  w.StartArray();
  for (unsigned char c : token) {
    w.Uint(c);
  }
  w.EndArray();
}

/// Gemini's `logprobsResult` (`chosenCandidates`, and `topCandidates` at
/// the same places) as OpenAI's `logprobs.content` entries, joined with
/// commas: `{token, logprob, bytes, top_logprobs}`.
std::string logprob_entries(const rapidjson::Value& candidate) {
  auto* result = object_member(candidate, "logprobsResult");
  auto* chosen =
      result == nullptr ? nullptr : member(*result, "chosenCandidates");
  if (chosen == nullptr || !chosen->IsArray() || chosen->Empty()) {
    return {};
  }
  auto* top = member(*result, "topCandidates");
  rapidjson::StringBuffer buffer;
  json_writer w{buffer};
  w.StartArray();
  for (rapidjson::SizeType i = 0; i < chosen->Size(); ++i) {
    const auto& one = (*chosen)[i];
    if (!one.IsObject()) {
      continue;
    }
    w.StartObject();
    write_token(w, one);
    write_key(w, "top_logprobs");
    w.StartArray();
    if (top != nullptr && top->IsArray() && i < top->Size()) {
      auto* alternatives = member((*top)[i], "candidates");
      if (alternatives != nullptr && alternatives->IsArray()) {
        for (const auto& alternative : alternatives->GetArray()) {
          if (alternative.IsObject()) {
            w.StartObject();
            write_token(w, alternative);
            w.EndObject();
          }
        }
      }
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  std::string_view text{buffer.GetString(), buffer.GetSize()};
  return std::string{text.substr(1, text.size() - 2)};
}

/// A candidate's `index`, or its place when it has none; `max_choices` + 1
/// for any past the limit (the reply then fails).
std::size_t candidate_index(const rapidjson::Value& candidate,
                            std::size_t position) {
  auto limit = static_cast<uint64_t>(max_choices) + 1;
  if (auto* index = member(candidate, "index");
      index != nullptr && index->IsUint64()) {
    return static_cast<std::size_t>(std::min(index->GetUint64(), limit));
  }
  return static_cast<std::size_t>(std::min<uint64_t>(position, limit));
}

candidate_view read_candidate(const rapidjson::Value& candidate) {
  candidate_view result;
  result.finish_reason = string_member(candidate, "finishReason");
  result.finish_message = string_member(candidate, "finishMessage");
  auto* content = member(candidate, "content");
  auto* parts = content == nullptr ? nullptr : member(*content, "parts");
  if (parts == nullptr || !parts->IsArray()) {
    return result;
  }
  for (const auto& part : parts->GetArray()) {
    result.has_parts = true;
    if (true_member(part, "thought")) {
      continue; // a thought summary, not the answer
    }
    result.text += string_member(part, "text");
    if (auto* call = object_member(part, "functionCall")) {
      tool_call_delta piece;
      piece.whole = true;
      piece.id = string_member(*call, "id");
      piece.name = string_member(*call, "name");
      if (auto* args = member(*call, "args"); args != nullptr) {
        piece.arguments = json_text(*args);
      }
      result.calls.push_back(std::move(piece));
    }
  }
  result.logprobs = logprob_entries(candidate);
  return result;
}

/// Gemini's words on why it stopped, for a failure message:
/// "finishReason SAFETY: <finishMessage>".
std::string finish_detail(const candidate_view& candidate) {
  if (candidate.finish_reason.empty()) {
    return {};
  }
  auto detail = "finishReason " + candidate.finish_reason;
  if (!candidate.finish_message.empty()) {
    detail += ": " + candidate.finish_message;
  }
  return detail;
}

/// The reply's first candidate (index 0), or nullptr when there is none;
/// the others (`candidateCount` > 1) go into `others` as other choices.
const rapidjson::Value* first_candidate(const rapidjson::Value& doc,
                                        stream_update& others) {
  auto* candidates = member(doc, "candidates");
  if (candidates == nullptr || !candidates->IsArray() || candidates->Empty()) {
    return nullptr;
  }
  const rapidjson::Value* first = nullptr;
  for (rapidjson::SizeType i = 0; i < candidates->Size(); ++i) {
    const auto& candidate = (*candidates)[i];
    auto index = candidate_index(candidate, i);
    if (index == 0 || !candidate.IsObject()) {
      if (first == nullptr) {
        first = &candidate;
      }
      continue;
    }
    auto view = read_candidate(candidate);
    choice_update other;
    other.index = index;
    other.text = std::move(view.text);
    other.tool_calls = std::move(view.calls);
    other.logprobs = std::move(view.logprobs);
    if (!view.finish_reason.empty()) {
      other.finish_reason = finish_reason_from(view.finish_reason);
    }
    others.other_choices.push_back(std::move(other));
  }
  return first;
}

/// The failure for a prompt Gemini refused to answer.
failure prompt_blocked(std::string_view block_reason,
                       std::optional<tutti::usage> tokens) {
  auto result = make_failure(failure_kind::content_filter,
                             "the prompt was blocked (blockReason " +
                                 std::string{block_reason} + ")");
  if (tokens) {
    result.usage = *tokens;
  }
  return result;
}

/// The model name as a URL path segment: a leading "models/" (as Google's
/// own model list writes names) is dropped, anything else unusual escaped.
std::string model_segment(std::string_view model) {
  constexpr std::string_view prefix = "models/";
  if (model.substr(0, prefix.size()) == prefix) {
    model.remove_prefix(prefix.size());
  }
  return url_encode(model);
}

/// Gemini's role for a chat role: "model" for the assistant, else "user".
std::string_view gemini_role(std::string_view role) {
  return role == "assistant" || role == "model" ? "model" : "user";
}

class gemini_codec final : public codec {
public:
  bool takes_tools() const override { return true; }
  bool takes_images() const override { return true; }

  bool takes_response_format() const override { return true; }

  /// `n` is Gemini's `candidateCount`; `logprobs` its `responseLogprobs`.
  bool takes_param(std::string_view name) const override {
    return name == "frequency_penalty" || name == "presence_penalty" ||
           name == "n" || name == "logprobs";
  }

  std::string default_base_url() const override {
    return std::string{gemini_base_url};
  }

  bool takes_embeddings() const override { return true; }

  bool takes_embedding_dimensions() const override { return true; }

  /// batchEmbedContents takes at most 100 requests.
  std::size_t max_embedding_batch() const override { return 100; }

  /// POST models/{model}:batchEmbedContents, one request per input:
  /// `{"model": "models/M", "content": {"parts": [{"text"}]},
  /// "outputDimensionality"}`.
  http_request
  encode_embedding(const embedding_request& req,
                   const provider_settings& provider) const override {
    http_request result;
    result.method = "POST";
    auto model = model_segment(embedding_model_of(provider));
    result.url = std::string{base_url_of(provider, gemini_base_url)} +
                 "/models/" + model + ":batchEmbedContents";
    if (!provider.api_key.empty()) {
      result.headers.emplace_back("x-goog-api-key", provider.api_key);
    }
    result.headers.emplace_back("Content-Type", "application/json");
    for (const auto& [name, value] : provider.extra_headers) {
      set_header(result.headers, name, value, replaced_name::custom);
    }
    rapidjson::StringBuffer buffer;
    json_writer w{buffer};
    w.StartObject();
    write_key(w, "requests");
    w.StartArray();
    for (const auto& text : req.inputs) {
      w.StartObject();
      write_key(w, "model");
      write_string(w, "models/" + model);
      write_key(w, "content");
      w.StartObject();
      write_key(w, "parts");
      w.StartArray();
      w.StartObject();
      write_key(w, "text");
      write_string(w, text);
      w.EndObject();
      w.EndArray();
      w.EndObject();
      if (req.dimensions > 0) {
        write_key(w, "outputDimensionality");
        w.Int64(req.dimensions);
      }
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    result.body = {buffer.GetString(), buffer.GetSize()};
    return result;
  }

  /// `{"embeddings": [{"values": [...]}]}`, in the requests' order; a
  /// `usageMetadata.promptTokenCount` where the reply has one.
  body_result decode_embedding(std::string_view body,
                               const embedding_request& req) const override {
    rapidjson::Document doc;
    auto parsed = parse_json(doc, body);
    if (!parsed) {
      return malformed_json("response body", parsed, body);
    }
    if (auto err = google_error_from(doc); err.found) {
      return failure_from_google_error(err, body);
    }
    if (!doc.IsObject()) {
      return malformed_json("response body", parsed, body);
    }
    auto read = read_embeddings(doc, req, body, "values");
    if (auto* why = std::get_if<failure>(&read))
      return std::move(*why);
    auto& vectors = std::get<std::vector<std::vector<float>>>(read);
    return embedding_outcome(std::move(vectors),
                             usage_of(doc).value_or(tutti::usage{}), req);
  }

  std::vector<std::string> key_headers() const override {
    return {"x-goog-api-key"};
  }

  http_request encode(const chat_request& req,
                      const provider_settings& provider) const override {
    http_request result;
    result.method = "POST";
    result.url = std::string{base_url_of(provider, gemini_base_url)} +
                 "/models/" + model_segment(provider.model);
    result.url +=
        req.stream ? ":streamGenerateContent?alt=sse" : ":generateContent";
    if (!provider.api_key.empty()) {
      result.headers.emplace_back("x-goog-api-key", provider.api_key);
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
    if (!parsed) {
      return malformed_json("response body", parsed, body);
    }
    if (auto err = google_error_from(doc); err.found) {
      return failure_from_google_error(err, body);
    }
    if (!doc.IsObject()) {
      return malformed_json("response body", parsed, body);
    }
    auto tokens = usage_of(doc);
    stream_update others;
    auto* candidate = first_candidate(doc, others);
    if (candidate == nullptr) {
      if (auto* feedback = member(doc, "promptFeedback")) {
        if (auto reason = string_member(*feedback, "blockReason");
            !reason.empty()) {
          return prompt_blocked(reason, tokens);
        }
      }
      return make_failure(failure_kind::protocol,
                          "response has no candidates: " + quote(body));
    }
    if (!candidate->IsObject()) {
      return make_failure(failure_kind::protocol,
                          "response candidate is not an object: " +
                              quote(body));
    }
    auto view = read_candidate(*candidate);
    if (!view.has_parts && view.finish_reason.empty()) {
      return make_failure(failure_kind::protocol,
                          "response candidate has neither content nor a "
                          "finish reason: " +
                              quote(body));
    }
    reply_parts reply;
    reply.text = std::move(view.text);
    others.tool_calls = std::move(view.calls);
    others.logprobs = std::move(view.logprobs);
    add_update(reply, others);
    reply.finish_reason = finish_reason_from(view.finish_reason);
    reply.finish_detail = finish_detail(view);
    if (tokens) {
      reply.usage = *tokens;
    }
    return reply_outcome(std::move(reply));
  }

  stream_update decode_event(const stream_event& event) const override {
    stream_update update;
    auto data = trim(event.data);
    if (data.empty()) {
      return update;
    }
    rapidjson::Document doc;
    auto parsed = parse_json(doc, data);
    if (!parsed) {
      update.error = malformed_json("stream event", parsed, data);
      return update;
    }
    if (auto err = google_error_from(doc); err.found) {
      update.error = failure_from_google_error(err, data);
      return update;
    }
    if (!doc.IsObject()) {
      update.error = malformed_json("stream event", parsed, data);
      return update;
    }
    update.usage = report_of(doc);
    auto* candidate = first_candidate(doc, update);
    if (candidate == nullptr) {
      if (auto* feedback = member(doc, "promptFeedback")) {
        if (auto reason = string_member(*feedback, "blockReason");
            !reason.empty()) {
          update.error = prompt_blocked(reason, usage_of(doc));
        }
      }
      return update;
    }
    if (!candidate->IsObject()) {
      return update;
    }
    auto view = read_candidate(*candidate);
    update.text = std::move(view.text);
    update.tool_calls = std::move(view.calls);
    update.logprobs = std::move(view.logprobs);
    if (!view.finish_reason.empty()) {
      // Gemini sends no end marker: the chunk with a finish reason is last.
      update.finish_reason = finish_reason_from(view.finish_reason);
      update.finish_detail = finish_detail(view);
      update.terminal = true;
    }
    return update;
  }

  bool accepts_unterminated_stream() const override { return true; }

  failure classify_error(int status, std::string_view body,
                         const header_list&) const override {
    google_error err;
    rapidjson::Document doc;
    auto parsed = parse_json(doc, body);
    if (parsed) {
      err = google_error_from(doc);
    }
    auto kind = kind_from_status_word(err);
    if (!kind) {
      kind = kind_from_http_status(status, err);
    }
    std::string message = err.message;
    if (message.empty()) {
      message = message_from_body(status, body);
    }
    return make_failure(*kind, std::move(message), status);
  }

private:
  static std::string encode_body(const chat_request& req,
                                 const provider_settings& provider) {
    rapidjson::StringBuffer buffer;
    json_writer w{buffer};
    w.StartObject();
    write_key(w, "contents");
    w.StartArray();
    std::string system_text;
    bool has_system = false;
    const auto& turns = req.messages;
    for (std::size_t i = 0; i < turns.size(); ++i) {
      const auto& msg = turns[i];
      if (msg.role == "system") {
        if (has_system) {
          system_text += "\n\n";
        }
        system_text += msg.content;
        has_system = true;
        continue;
      }
      w.StartObject();
      write_key(w, "role");
      write_string(w, gemini_role(msg.role));
      write_key(w, "parts");
      w.StartArray();
      if (msg.role == "tool") {
        // The results of one turn's calls go back as one turn's parts.
        for (; i < turns.size() && turns[i].role == "tool"; ++i) {
          write_function_response(w, turns, turns[i]);
        }
        --i;
      } else if (!msg.parts.empty()) {
        write_parts(w, msg.parts);
      } else if (!msg.content.empty() || msg.tool_calls.empty()) {
        w.StartObject();
        write_key(w, "text");
        write_string(w, msg.content);
        w.EndObject();
      }
      for (const auto& call : msg.tool_calls) {
        w.StartObject();
        write_key(w, "functionCall");
        w.StartObject();
        write_key(w, "name");
        write_string(w, call.name);
        write_key(w, "args");
        write_arguments_object(w, call.arguments);
        w.EndObject();
        w.EndObject();
      }
      w.EndArray();
      w.EndObject();
    }
    w.EndArray();
    write_tools(w, req.params);
    if (!system_text.empty()) {
      write_key(w, "systemInstruction");
      w.StartObject();
      write_key(w, "parts");
      w.StartArray();
      w.StartObject();
      write_key(w, "text");
      write_string(w, system_text);
      w.EndObject();
      w.EndArray();
      w.EndObject();
    }
    write_generation_config(w, req.params, provider.defaults);
    w.EndObject();
    return {buffer.GetString(), buffer.GetSize()};
  }

  /// Text and inline image parts (`inlineData`; the codec takes no image
  /// URLs: Gemini reads `fileData` only from its own Files API).
  static void write_parts(json_writer& w,
                          const std::vector<content_part>& parts) {
    for (const auto& part : parts) {
      w.StartObject();
      if (!part.is_image()) {
        write_key(w, "text");
        write_string(w, part.text);
      } else {
        write_key(w, "inlineData");
        w.StartObject();
        write_key(w, "mimeType");
        write_string(w, part.image.media_type);
        write_key(w, "data");
        write_string(w, part.image.data);
        w.EndObject();
      }
      w.EndObject();
    }
  }

  /// A tool turn as a `functionResponse` part: Gemini names the function
  /// (found in the call it answers) and takes the result as an object.
  static void write_function_response(json_writer& w,
                                      const std::vector<chat_message>& turns,
                                      const chat_message& msg) {
    w.StartObject();
    write_key(w, "functionResponse");
    w.StartObject();
    write_key(w, "name");
    write_string(w, called_name(turns, msg.tool_call_id));
    write_key(w, "response");
    w.StartObject();
    write_key(w, "content");
    write_string(w, msg.content);
    w.EndObject();
    w.EndObject();
    w.EndObject();
  }

  /// `tools` as `functionDeclarations` (the schema as
  /// `parametersJsonSchema`: JSON Schema as given, not Gemini's subset) and
  /// `toolConfig`: auto AUTO, required ANY, a named function ANY limited
  /// to it, none NONE.
  static void write_tools(json_writer& w, const chat_params& params) {
    if (params.tools.empty()) {
      return;
    }
    write_key(w, "tools");
    w.StartArray();
    w.StartObject();
    write_key(w, "functionDeclarations");
    w.StartArray();
    for (const auto& tool : params.tools) {
      w.StartObject();
      write_tool_head(w, tool);
      if (!tool.parameters.empty()) {
        write_key(w, "parametersJsonSchema");
        write_raw_json(w, tool.parameters);
      }
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    w.EndArray();
    const auto& choice = params.tool_choice;
    if (choice.mode.empty()) {
      return;
    }
    write_key(w, "toolConfig");
    w.StartObject();
    write_key(w, "functionCallingConfig");
    w.StartObject();
    write_key(w, "mode");
    write_string(w, choice.mode == "none"   ? "NONE"
                    : choice.mode == "auto" ? "AUTO"
                                            : "ANY");
    if (choice.mode == "function") {
      write_string_array(w, "allowedFunctionNames", {choice.name});
    }
    w.EndObject();
    w.EndObject();
  }

  /// `generationConfig` with only the values set in `params` or, failing
  /// that, in `defaults`, and a JSON response's MIME type and schema;
  /// nothing at all when none is set.
  static void write_generation_config(json_writer& w, const chat_params& params,
                                      const chat_params& defaults) {
    auto s = sampling_of(params, defaults);
    const auto& format = params.response_format;
    if (s.empty() && !format.is_json() && !params.frequency_penalty &&
        !params.presence_penalty && !params.n && !params.logprobs) {
      return;
    }
    write_key(w, "generationConfig");
    w.StartObject();
    write_sampling_members(
        w, s,
        {"temperature", "topP", "maxOutputTokens", "seed", "stopSequences"});
    write_double_param(w, "frequencyPenalty", params.frequency_penalty,
                       std::nullopt);
    write_double_param(w, "presencePenalty", params.presence_penalty,
                       std::nullopt);
    if (params.n) {
      write_key(w, "candidateCount");
      w.Int64(*params.n);
    }
    if (params.logprobs) {
      write_key(w, "responseLogprobs");
      w.Bool(true);
      if (params.top_logprobs.value_or(0) > 0) {
        write_key(w, "logprobs");
        w.Int64(*params.top_logprobs);
      }
    }
    if (format.is_json()) {
      write_key(w, "responseMimeType");
      write_string(w, "application/json");
      if (format.type == "json_schema" && !format.schema.empty()) {
        write_key(w, "responseJsonSchema");
        write_raw_json(w, format.schema);
      }
    }
    w.EndObject();
  }
};

} // namespace

std::unique_ptr<codec> make_gemini_codec() {
  return std::make_unique<gemini_codec>();
}

} // namespace tutti
