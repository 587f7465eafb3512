#pragma once

/// The parts of OpenAI's reply objects that chat completions
/// (openai_responses.cpp) and the legacy text completions
/// (completions_api.cpp) write alike.

#include <string>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "server/openai.hpp"

namespace tutti::http {

using openai_writer = rapidjson::Writer<rapidjson::StringBuffer>;

/// `id`, `object`, `created`, `model` and `system_fingerprint`.
void write_completion_head(openai_writer& w, const completion_ids& ids,
                           const char* object);

/// `{prompt_tokens, completion_tokens, total_tokens, prompt_tokens_details}`.
void write_openai_usage(openai_writer& w, const tutti::usage& used);

/// A choice's `logprobs`: the vendor's object, or null.
void write_logprobs(openai_writer& w, const std::string& logprobs);

/// `json`, an object already written, as a value.
void write_raw_object(openai_writer& w, const std::string& json);

} // namespace tutti::http
