#pragma once

/// Small pieces several wire formats need the same way: writing JSON,
/// reading the text and limits of a request, SSE framing and the duration
/// syntax of rate-limit words. What differs between vendors stays in their
/// wire_<vendor>.cpp.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "tools/fake_llm/wire_format.hpp"

namespace tutti::fake {

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

void write_string(json_writer& w, std::string_view s);

/// `null` for an empty string.
void write_string_or_null(json_writer& w, std::string_view s);

/// Text of a content value: a string, or the `text` of an array's parts
/// (OpenAI content parts, Anthropic content blocks, Gemini parts) joined by
/// spaces.
std::string text_of(const rapidjson::Value& content);

/// Text of `object[key]`, "" when absent.
std::string member_text(const rapidjson::Value& object, const char* key);

/// Parses `body` into `doc`; false (with `out.error` set to
/// `not_an_object`) when it is not a JSON object.
bool parse_object(rapidjson::Document& doc, std::string_view body,
                  const char* not_an_object, chat_request& out);

/// Reads the non-empty string `model` of `object` into `out.model`; false
/// (with `out.error` set to `missing` and `out.error_param` to `param`) when
/// there is none.
bool read_model(const rapidjson::Value& object, const char* missing,
                const char* param, chat_request& out);

/// Counts one message's text into the prompt; the last user message is the
/// one an echo repeats.
void add_message(std::string text, bool from_user, chat_request& out);

/// Reads an optional positive integer `key` of `object` into
/// `out.max_tokens`; false (with `out.error` saying "<shown> must be an
/// integer >= 1.") when present but not such an integer.
bool read_max_tokens(const rapidjson::Value& object, const char* key,
                     const std::string& shown, chat_request& out);

/// Reads an optional boolean `stream`; false (with the error set) when bad.
bool read_stream(const rapidjson::Value& object, chat_request& out);

/// The vectors' length when an embeddings request asks for none.
constexpr int default_embedding_dimensions = 16;

/// The fake's embedding of `text`: `dimensions` numbers (the default when
/// 0) drawn from a hash of the text, scaled to length 1. The same text
/// always gets the same vector.
std::vector<float> fake_embedding(std::string_view text, int dimensions);

/// Reads the texts of an embeddings request's `input` (a string or an
/// array of strings) into `out.inputs`, counting their tokens; false (with
/// the error set) when it is neither or empty.
bool read_embedding_inputs(const rapidjson::Value* input, chat_request& out);

/// Writes `vector` as a JSON array of numbers.
void write_vector(json_writer& w, const std::vector<float>& vector);

/// `data: <data>` and a blank line.
std::string data_event(std::string_view data);

/// A finish reason in OpenAI's terms in a format's own: stop, length and
/// content_filter are mapped to the words given; anything else is sent as
/// scripted.
std::string map_finish(const std::string& reason, const char* stop,
                       const char* length, const char* content_filter);

/// A duration in OpenAI's rate-limit header syntax (Go's time.Duration):
/// "0s", "20ms", "1s", "1.5s", "6m0s", "1m30.5s", "1h0m0s".
std::string go_duration(int64_t ms);

} // namespace tutti::fake
