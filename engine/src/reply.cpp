// How a reply is judged once it is whole, the same for a body and for a
// stream: the codecs gather `reply_parts`, this file decides what they are.

#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>
#include <utility>

#include "engine/src/saturating.hpp"
#include "engine/src/utf8.hpp"
#include "tutti/codec.hpp"

namespace tutti {

namespace {

/// How long one description of other content may be.
constexpr std::size_t other_content_limit = 100;

/// `count` applied to `into` as `counting` says; a negative count (a
/// vendor's bug) counts as 0.
void apply_count(int64_t& into, const std::optional<int64_t>& count,
                 usage_counting counting) {
  if (!count)
    return;
  auto value = std::max<int64_t>(0, *count);
  into =
      counting == usage_counting::deltas ? saturating_add(into, value) : value;
}

failure failure_of(failure_kind kind, std::string message,
                   const reply_parts& parts) {
  failure result;
  result.kind = kind;
  result.message = std::move(message);
  result.partial_text = parts.text;
  result.usage = parts.usage;
  return result;
}

/// "tool call a, tool call b" from the descriptions.
std::string joined(const std::vector<std::string>& items) {
  std::string result;
  for (auto& item : items)
    result += (result.empty() ? "" : ", ") + item;
  return result;
}

} // namespace

usage_report usage_totals(const usage& used) {
  usage_report report;
  report.input_tokens = used.input_tokens;
  report.output_tokens = used.output_tokens;
  report.cached_input_tokens = used.cached_input_tokens;
  return report;
}

void apply_usage(usage& into, const usage_report& report) {
  apply_count(into.input_tokens, report.input_tokens, report.counting);
  apply_count(into.output_tokens, report.output_tokens, report.counting);
  apply_count(into.cached_input_tokens, report.cached_input_tokens,
              report.counting);
}

void note_other_content(reply_parts& parts, std::string_view description) {
  if (parts.other_content.size() >= max_other_content)
    return;
  parts.other_content.push_back(
      utf8::shortened(description, other_content_limit));
}

namespace {

void add_logprobs(std::string& into, const std::string& entries) {
  if (entries.empty())
    return;
  if (!into.empty())
    into += ',';
  into += entries;
}

void add_tool_call_pieces(std::vector<tool_call>& calls,
                          const std::vector<tool_call_delta>& pieces,
                          std::string& past_limits) {
  for (auto& piece : pieces) {
    // Past the limit the reply is judged a failure (`reply_outcome`); one
    // more slot records that it went past.
    if (piece.whole) {
      if (calls.size() <= max_tool_calls)
        calls.push_back(tool_call{piece.id, piece.name, piece.arguments});
      continue;
    }
    if (piece.index >= max_tool_calls) {
      past_limits =
          "a tool call's index is past " + std::to_string(max_tool_calls - 1);
      continue;
    }
    if (calls.size() <= piece.index)
      calls.resize(piece.index + 1);
    auto& call = calls[piece.index];
    if (!piece.id.empty())
      call.id = piece.id;
    if (!piece.name.empty())
      call.name = piece.name;
    call.arguments += piece.arguments;
  }
}

/// Drops places no piece filled, names calls without an id and gives
/// calls without arguments `{}`; why the calls are not a reply's, or "".
std::string settle_tool_calls(std::vector<tool_call>& calls) {
  // Places no piece filled (a vendor that numbers calls among its other
  // content, as Anthropic's blocks) are not calls.
  std::erase_if(calls, [](const tool_call& call) {
    return call.id.empty() && call.name.empty() && call.arguments.empty();
  });
  if (calls.size() > max_tool_calls)
    return "the reply makes more than " + std::to_string(max_tool_calls) +
           " tool calls";
  for (size_t i = 0; i < calls.size(); ++i) {
    auto& call = calls[i];
    if (call.name.empty())
      return "tool call " + std::to_string(i) +
             " of the reply names no "
             "function";
    // A call that takes no arguments may come with none at all.
    if (call.arguments.empty())
      call.arguments = "{}";
    if (call.id.empty())
      call.id = "call_" + std::to_string(i);
  }
  return {};
}

std::string wrapped_logprobs(const std::string& entries) {
  return entries.empty() ? std::string{} : "{\"content\":[" + entries + "]}";
}

} // namespace

void add_update(reply_parts& parts, const stream_update& update) {
  parts.text += update.text;
  parts.refusal += update.refusal;
  add_logprobs(parts.logprobs, update.logprobs);
  parts.refused = parts.refused || update.refused;
  for (auto& description : update.other_content)
    note_other_content(parts, description);
  add_tool_call_pieces(parts.tool_calls, update.tool_calls, parts.past_limits);
  for (auto& piece : update.other_choices) {
    if (piece.index == 0)
      continue;
    if (piece.index >= static_cast<size_t>(max_choices)) {
      parts.past_limits =
          "a choice's index is past " + std::to_string(max_choices - 1);
      continue;
    }
    if (parts.other_choices.size() < piece.index)
      parts.other_choices.resize(piece.index);
    auto& choice = parts.other_choices[piece.index - 1];
    choice.text += piece.text;
    choice.refusal += piece.refusal;
    add_logprobs(choice.logprobs, piece.logprobs);
    add_tool_call_pieces(choice.tool_calls, piece.tool_calls,
                         parts.past_limits);
    if (!piece.finish_reason.empty())
      choice.finish_reason = piece.finish_reason;
  }
  if (update.usage)
    apply_usage(parts.usage, *update.usage);
  if (!update.finish_reason.empty())
    parts.finish_reason = update.finish_reason;
  if (!update.finish_detail.empty())
    parts.finish_detail = update.finish_detail;
}

body_result reply_outcome(reply_parts parts) {
  if (parts.refused || !parts.refusal.empty()) {
    auto message = !parts.refusal.empty()
                       ? parts.refusal
                       : std::string{"the model declined to answer"};
    if (parts.refusal.empty() && !parts.finish_detail.empty())
      message += " (" + parts.finish_detail + ")";
    return failure_of(failure_kind::refused, std::move(message), parts);
  }
  if (parts.text.empty() && parts.finish_reason == "content_filter") {
    std::string message = "the reply was blocked by the vendor's content "
                          "filter before any text";
    if (!parts.finish_detail.empty())
      message += " (" + parts.finish_detail + ")";
    return failure_of(failure_kind::content_filter, std::move(message), parts);
  }
  if (!parts.past_limits.empty())
    return failure_of(failure_kind::protocol,
                      "the reply is past tutti's limits: " + parts.past_limits,
                      parts);
  if (auto wrong = settle_tool_calls(parts.tool_calls); !wrong.empty())
    return failure_of(failure_kind::protocol, std::move(wrong), parts);
  for (size_t i = 0; i < parts.other_choices.size(); ++i) {
    auto& choice = parts.other_choices[i];
    if (auto wrong = settle_tool_calls(choice.tool_calls); !wrong.empty())
      return failure_of(failure_kind::protocol,
                        "choice " + std::to_string(i + 1) + ": " + wrong,
                        parts);
    if (!choice.tool_calls.empty() && choice.finish_reason.empty())
      choice.finish_reason = "tool_calls";
    choice.logprobs = wrapped_logprobs(choice.logprobs);
  }
  if (parts.text.empty() && parts.tool_calls.empty()) {
    std::string message = "the reply holds no text";
    if (!parts.other_content.empty())
      message += ", only " + joined(parts.other_content);
    message += parts.finish_reason.empty()
                   ? std::string{" and no finish reason"}
                   : " (finish reason \"" + parts.finish_reason + "\")";
    return failure_of(failure_kind::empty_reply, std::move(message), parts);
  }
  completion reply;
  reply.text = std::move(parts.text);
  reply.tool_calls = std::move(parts.tool_calls);
  reply.finish_reason = std::move(parts.finish_reason);
  if (!reply.tool_calls.empty() && reply.finish_reason.empty())
    reply.finish_reason = "tool_calls";
  reply.usage = parts.usage;
  reply.logprobs = wrapped_logprobs(parts.logprobs);
  reply.more_choices = std::move(parts.other_choices);
  return reply;
}

body_result stream_outcome(reply_parts parts, bool terminal,
                           bool accepts_unterminated) {
  if (!terminal && !(accepts_unterminated && !parts.finish_reason.empty()))
    return failure_of(failure_kind::protocol,
                      "stream ended without its end marker (incomplete "
                      "reply, " +
                          std::to_string(parts.text.size()) +
                          " bytes of text kept)",
                      parts);
  return reply_outcome(std::move(parts));
}

const std::string& embedding_model_of(const provider_settings& provider) {
  return provider.embedding_model.empty() ? provider.model
                                          : provider.embedding_model;
}

body_result embedding_outcome(std::vector<std::vector<float>> vectors,
                              const usage& used, const embedding_request& req) {
  auto fail = [&](std::string message) {
    failure result;
    result.kind = failure_kind::protocol;
    result.message = "embeddings reply: " + std::move(message);
    result.usage = used;
    return result;
  };
  if (vectors.size() != req.inputs.size())
    return fail(std::to_string(vectors.size()) + " vectors for " +
                std::to_string(req.inputs.size()) + " inputs");
  for (std::size_t i = 0; i < vectors.size(); ++i) {
    auto& v = vectors[i];
    auto at = " (vector " + std::to_string(i) + ")";
    if (v.empty())
      return fail("an empty vector" + at);
    if (v.size() != vectors[0].size())
      return fail("vectors of different lengths, " +
                  std::to_string(vectors[0].size()) + " and " +
                  std::to_string(v.size()) + at);
    if (req.dimensions > 0 && static_cast<int64_t>(v.size()) != req.dimensions)
      return fail(std::to_string(v.size()) + " dimensions where " +
                  std::to_string(req.dimensions) + " were asked" + at);
    if (!std::all_of(v.begin(), v.end(),
                     [](float x) { return std::isfinite(x); }))
      return fail("a number that is not finite" + at);
  }
  completion done;
  done.finish_reason = "stop";
  done.usage = used;
  done.embeddings = std::move(vectors);
  return done;
}

} // namespace tutti
