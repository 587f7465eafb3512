#pragma once

/// The JSON writers behind tutti/json.hpp, for the engine's own files that
/// write the same values inside other documents (batch result rows, the HTTP
/// endpoint's replies and events): one spelling of every field. Each takes a
/// RapidJSON writer.

#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/src/utf8.hpp"
#include "tutti/messages.hpp"

namespace tutti::json_detail {

/// Writes `text` as a JSON string. JSON text is UTF-8: bytes that are not
/// (from a client, an upstream, a file) become U+FFFD, so every document
/// tutti writes parses.
template <class Writer>
void write_string(Writer& w, std::string_view text) {
  if (utf8::is_valid(text)) {
    w.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
    return;
  }
  auto repaired = utf8::repaired(text);
  w.String(repaired.data(), static_cast<rapidjson::SizeType>(repaired.size()));
}

/// The compact JSON text that `write` writes with the writer it is given.
template <class Write>
std::string json_text(Write&& write) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w{buffer};
  write(w);
  return {buffer.GetString(), buffer.GetSize()};
}

/// `texts` as a JSON array of strings.
template <class Writer>
void write_strings(Writer& w, const std::vector<std::string>& texts) {
  w.StartArray();
  for (auto& text : texts)
    write_string(w, text);
  w.EndArray();
}

/// `text`, or null when it is empty.
template <class Writer>
void write_string_or_null(Writer& w, std::string_view text) {
  if (text.empty())
    w.Null();
  else
    write_string(w, text);
}

template <class Writer>
void write_usage(Writer& w, const usage& u) {
  w.StartObject();
  w.Key("input_tokens");
  w.Int64(u.input_tokens);
  w.Key("output_tokens");
  w.Int64(u.output_tokens);
  w.Key("cached_input_tokens");
  w.Int64(u.cached_input_tokens);
  w.EndObject();
}

template <class Writer>
void write_timing(Writer& w, const timing& t) {
  w.StartObject();
  w.Key("queued_ms");
  w.Double(t.queued_us / 1000.0);
  w.Key("first_token_ms");
  if (t.first_token_us >= 0)
    w.Double(t.first_token_us / 1000.0);
  else
    w.Null();
  w.Key("total_ms");
  w.Double(t.total_us / 1000.0);
  w.EndObject();
}

/// `[{id, name, arguments}]`: the arguments as the model wrote their JSON.
template <class Writer>
void write_tool_calls(Writer& w, const std::vector<tool_call>& calls) {
  w.StartArray();
  for (auto& call : calls) {
    w.StartObject();
    w.Key("id");
    write_string(w, call.id);
    w.Key("name");
    write_string(w, call.name);
    w.Key("arguments");
    write_string(w, call.arguments);
    w.EndObject();
  }
  w.EndArray();
}

template <class Writer>
void write_outcome(Writer& w, const member_outcome& o) {
  w.StartObject();
  w.Key("member");
  write_string(w, o.member);
  w.Key("provider");
  write_string(w, o.provider);
  w.Key("model");
  write_string(w, o.model);
  w.Key("status");
  w.String(o.ok ? "ok" : "failed");
  if (o.ok) {
    w.Key("text");
    write_string(w, o.reply.text);
    if (!o.reply.tool_calls.empty()) {
      w.Key("tool_calls");
      write_tool_calls(w, o.reply.tool_calls);
    }
    w.Key("finish_reason");
    write_string(w, o.reply.finish_reason);
    w.Key("usage");
    write_usage(w, o.reply.usage);
    w.Key("cost_usd");
    w.Double(o.reply.cost_usd);
    w.Key("attempts");
    w.Int(o.reply.attempts);
    w.Key("cached");
    w.Bool(o.reply.cached);
    w.Key("timing");
    write_timing(w, o.reply.timing);
  } else {
    w.Key("error");
    w.StartObject();
    w.Key("kind");
    write_string(w, to_string(o.error.kind));
    w.Key("message");
    write_string(w, o.error.message);
    w.Key("http_status");
    if (o.error.http_status != 0)
      w.Int(o.error.http_status);
    else
      w.Null();
    w.Key("attempts");
    w.Int(o.error.attempts);
    w.Key("partial_text");
    write_string(w, o.error.partial_text);
    if (o.error.retry_after_ms >= 0) {
      w.Key("retry_after_ms");
      w.Int64(o.error.retry_after_ms);
    }
    w.EndObject();
    w.Key("usage");
    write_usage(w, o.error.usage);
    w.Key("cost_usd");
    w.Double(o.error.cost_usd);
    w.Key("timing");
    write_timing(w, o.error.timing);
  }
  w.EndObject();
}

/// How the strategy came to its answer, as fields of the object being
/// written: the vote table and agreement, the ranking with its mean ranks,
/// a council's reviews, a debate's rounds; each only when the strategy
/// filled it. The answer's JSON has them, and so does a stored run's.
template <class Writer>
void write_verdict_fields(Writer& w, const ensemble_answer& a) {
  if (!a.votes.empty()) {
    w.Key("votes");
    w.StartArray();
    for (auto& row : a.votes) {
      w.StartObject();
      w.Key("answer");
      write_string(w, row.answer);
      w.Key("text");
      write_string(w, row.text);
      w.Key("weight");
      w.Double(row.weight);
      w.Key("members");
      write_strings(w, row.members);
      w.EndObject();
    }
    w.EndArray();
    w.Key("agreement");
    w.Double(a.agreement);
  }
  if (!a.ranking.empty()) {
    w.Key("ranking");
    write_strings(w, a.ranking);
  }
  if (!a.mean_ranks.empty()) {
    w.Key("mean_ranks");
    w.StartArray();
    for (auto rank : a.mean_ranks)
      w.Double(rank);
    w.EndArray();
  }
  if (!a.reviews.empty()) {
    w.Key("reviews");
    w.StartArray();
    for (auto& review : a.reviews) {
      w.StartObject();
      w.Key("reviewer");
      write_string(w, review.reviewer);
      w.Key("letters");
      w.StartObject();
      for (size_t i = 0; i < review.letters.size(); ++i) {
        w.Key(std::string(1, static_cast<char>('A' + i)).c_str());
        write_string(w, review.letters[i]);
      }
      w.EndObject();
      w.Key("ranking");
      write_strings(w, review.ranking);
      w.EndObject();
    }
    w.EndArray();
  }
  if (a.rounds > 0) {
    w.Key("rounds");
    w.Int(a.rounds);
  }
}

template <class Writer>
void write_answer(Writer& w, const ensemble_answer& a) {
  w.StartObject();
  w.Key("ensemble");
  write_string(w, a.ensemble);
  w.Key("status");
  write_string(w, to_string(a.status));
  w.Key("text");
  write_string(w, a.text);
  if (!a.tool_calls.empty()) {
    w.Key("tool_calls");
    write_tool_calls(w, a.tool_calls);
  }
  w.Key("until");
  write_string(w, a.until);
  w.Key("mode");
  write_string(w, a.mode);
  w.Key("combine");
  write_string(w, a.combine);
  w.Key("winner");
  write_string_or_null(w, a.winner);
  w.Key("note");
  write_string(w, a.note);
  write_verdict_fields(w, a);
  w.Key("usage");
  write_usage(w, a.usage);
  w.Key("cost_usd");
  w.Double(a.cost_usd);
  w.Key("total_ms");
  w.Double(a.total_us / 1000.0);
  w.Key("members");
  w.StartArray();
  for (auto& member : a.members)
    write_outcome(w, member);
  w.EndArray();
  if (!a.combiner_calls.empty()) {
    w.Key("combiner_calls");
    w.StartArray();
    for (auto& call : a.combiner_calls)
      write_outcome(w, call);
    w.EndArray();
  }
  w.EndObject();
}

template <class Writer>
void write_step(Writer& w, const step_outcome& step) {
  w.StartObject();
  w.Key("id");
  write_string(w, step.id);
  w.Key("status");
  write_string(w, to_string(step.status));
  w.Key("reason");
  write_string_or_null(w, step.reason);
  w.Key("started_ms");
  if (step.started_us < 0)
    w.Null();
  else
    w.Double(step.started_us / 1000.0);
  w.Key("total_ms");
  w.Double(step.total_us / 1000.0);
  w.Key("answer");
  if (step.started_us < 0)
    w.Null();
  else
    write_answer(w, step.answer);
  w.EndObject();
}

template <class Writer>
void write_result(Writer& w, const pipeline_result& r) {
  w.StartObject();
  w.Key("pipeline");
  write_string(w, r.pipeline);
  w.Key("status");
  write_string(w, to_string(r.status));
  w.Key("output");
  write_string(w, r.output);
  w.Key("steps");
  w.StartArray();
  for (auto& step : r.steps)
    write_step(w, step);
  w.EndArray();
  w.Key("usage");
  write_usage(w, r.usage);
  w.Key("cost_usd");
  w.Double(r.cost_usd);
  w.Key("total_ms");
  w.Double(r.total_us / 1000.0);
  w.EndObject();
}

} // namespace tutti::json_detail
