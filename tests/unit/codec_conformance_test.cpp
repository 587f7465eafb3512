// What every codec must do, checked on recorded replies in each vendor's
// published shapes: the whole and the streamed form of the same reply give
// the same outcome, text, finish reason, usage and failure message, however
// the stream's bytes are cut. Each reply also says what it must come to, so
// that both forms cannot agree on a wrong answer. A codec in the built-in
// registry with no replies here fails the suite.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/src/json_canonical.hpp"
#include "tests/unit/codec_test_support.hpp"
#include "tutti/codec.hpp"
#include "tutti/registry.hpp"

using namespace tutti;
using namespace tutti::codec_test;

namespace {

/// One reply recorded both ways, and what it must come to.
struct recorded_reply {
  std::vector<std::string_view> codecs; ///< the registered kinds that read it
  std::string_view dir;                 ///< under tests/fixtures
  std::string_view whole;               ///< the 2xx body
  std::string_view stream;       ///< the same reply as a 2xx event stream
  std::string_view outcome;      ///< "ok" or the failure kind
  usage tokens;                  ///< input (cached included), output, cached
  std::string_view message = {}; ///< a failure's message; empty: any
};

const std::string_view refusal_words =
    "I'm very sorry, but I can't assist with that.";

// clang-format off
const std::vector<recorded_reply> replies = {
    // OpenAI and the servers that copy its wire: a plain answer, a refusal,
    // a reply that is only a tool call (its arguments streamed in pieces).
    {{"openai", "openai-compatible"}, "openai", "completion.json",
     "stream_with_usage.sse", "ok", {27, 22, 0}},
    {{"openai", "openai-compatible"}, "openai", "refusal.json",
     "refusal_stream.sse", "refused", {81, 11, 0}, refusal_words},
    {{"openai", "openai-compatible"}, "openai", "tool_calls.json",
     "tool_calls_stream.sse", "ok", {82, 17, 0}},
    // Azure: filter results in every chunk, a filtered reply, a refusal.
    {{"azure-openai"}, "azure_openai", "completion.json", "stream.sse", "ok",
     {1342, 8, 1280}},
    {{"azure-openai"}, "azure_openai", "completion_content_filter.json",
     "stream_content_filter_before_text.sse", "content_filter", {29, 57, 0},
     "the reply was blocked by the vendor's content filter before any text"},
    {{"azure-openai"}, "azure_openai", "refusal.json", "refusal_stream.sse",
     "refused", {81, 11, 0}, refusal_words},
    // Anthropic: cached input, a refusal after some text, compaction's
    // per-iteration usage, a reply that is only a tool call.
    {{"anthropic"}, "anthropic", "message.json", "stream.sse", "ok",
     {2587, 22, 2048}},
    {{"anthropic"}, "anthropic", "refusal.json", "refusal_stream.sse",
     "refused", {412, 9, 0}},
    {{"anthropic"}, "anthropic", "compaction.json", "compaction_stream.sse",
     "ok", {55377, 91, 55096}},
    {{"anthropic"}, "anthropic", "tool_use.json", "tool_use_stream.sse",
     "ok", {384, 58, 0}},
    // Gemini: thinking and cache, usage whose last word is lower, a
    // function call alone, a blocked prompt.
    {{"gemini"}, "gemini", "completion.json", "stream.sse", "ok",
     {2061, 21, 2048}},
    {{"gemini"}, "gemini", "completion_usage_going_down.json",
     "stream_usage_going_down.sse", "ok", {13, 8, 0}},
    {{"gemini"}, "gemini", "function_call.json", "function_call_stream.sse",
     "ok", {58, 73, 0}},
    {{"gemini"}, "gemini", "blocked_prompt.json", "stream_blocked_prompt.sse",
     "content_filter", {14, 0, 0}},
    // Bedrock: Converse bodies and ConverseStream's binary event stream
    // (tests/fixtures/bedrock/make_streams.py): cached input, a cut at
    // max_tokens, a guardrail's own words, a filtered reply with no text, a
    // tool call alone.
    {{"bedrock"}, "bedrock", "converse.json", "stream.bin", "ok",
     {2060, 10, 2048}},
    {{"bedrock"}, "bedrock", "converse_max_tokens.json",
     "stream_max_tokens.bin", "ok", {15, 5, 0}},
    {{"bedrock"}, "bedrock", "converse_guardrail.json", "stream_guardrail.bin",
     "ok", {21, 0, 0}},
    {{"bedrock"}, "bedrock", "converse_content_filtered.json",
     "stream_content_filtered.bin", "content_filter", {18, 0, 0},
     "the reply was blocked by the vendor's content filter before any text "
     "(stopReason content_filtered)"},
    {{"bedrock"}, "bedrock", "converse_tool_use.json", "stream_tool_use.bin",
     "ok", {384, 58, 0}},
    // Ollama's native API, streamed as NDJSON: a plain answer, one cut by
    // num_predict, a cached prompt without prompt_eval_count (CRLF lines),
    // thinking left out of the text, a tool call alone.
    {{"ollama"}, "ollama", "chat.json", "chat_stream.ndjson", "ok", {32, 8, 0}},
    {{"ollama"}, "ollama", "chat_length.json", "chat_length_stream.ndjson",
     "ok", {41, 10, 0}},
    {{"ollama"}, "ollama", "chat_cached_prompt.json",
     "chat_cached_prompt_stream.ndjson", "ok", {0, 3, 0}},
    {{"ollama"}, "ollama", "thinking.json", "thinking_stream.ndjson", "ok",
     {19, 47, 0}},
    {{"ollama"}, "ollama", "tool_calls.json", "tool_calls_stream.ndjson",
     "ok", {213, 18, 0}},
};
// clang-format on

std::string outcome_name(const body_result& result) {
  if (auto* error = std::get_if<failure>(&result)) {
    return std::string{to_string(error->kind)};
  }
  return "ok";
}

const usage& tokens_of(const body_result& result) {
  if (auto* error = std::get_if<failure>(&result)) {
    return error->usage;
  }
  return std::get<completion>(result).usage;
}

/// `bytes` cut at a few random places (empty pieces included).
std::vector<std::string_view> random_pieces(std::string_view bytes,
                                            std::mt19937& random) {
  std::uniform_int_distribution<std::size_t> at{0, bytes.size()};
  std::vector<std::size_t> cuts(1 + random() % 12);
  for (auto& cut : cuts) {
    cut = at(random);
  }
  cuts.push_back(0);
  cuts.push_back(bytes.size());
  std::sort(cuts.begin(), cuts.end());
  std::vector<std::string_view> pieces;
  for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
    pieces.push_back(bytes.substr(cuts[i], cuts[i + 1] - cuts[i]));
  }
  return pieces;
}

void check_usage(const usage& actual, const usage& expected) {
  BOOST_TEST(actual.input_tokens == expected.input_tokens);
  BOOST_TEST(actual.output_tokens == expected.output_tokens);
  BOOST_TEST(actual.cached_input_tokens == expected.cached_input_tokens);
}

/// The two forms agree on everything a caller sees.
void check_same(const body_result& whole, const body_result& streamed) {
  BOOST_REQUIRE(outcome_name(streamed) == outcome_name(whole));
  check_usage(tokens_of(streamed), tokens_of(whole));
  if (auto* done = std::get_if<completion>(&whole)) {
    auto& other = std::get<completion>(streamed);
    BOOST_TEST(other.text == done->text);
    BOOST_TEST(other.finish_reason == done->finish_reason);
    BOOST_REQUIRE(other.tool_calls.size() == done->tool_calls.size());
    for (std::size_t i = 0; i < done->tool_calls.size(); ++i) {
      BOOST_TEST(other.tool_calls[i].id == done->tool_calls[i].id);
      BOOST_TEST(other.tool_calls[i].name == done->tool_calls[i].name);
      // The same arguments; a vendor may space its whole and streamed
      // JSON differently (Anthropic's `input` object, its partial_json).
      BOOST_TEST(canonical_json(other.tool_calls[i].arguments).value_or("?") ==
                 canonical_json(done->tool_calls[i].arguments).value_or("!"));
    }
    return;
  }
  auto& error = std::get<failure>(whole);
  auto& other = std::get<failure>(streamed);
  BOOST_TEST(other.message == error.message);
  BOOST_TEST(other.partial_text == error.partial_text);
}

} // namespace

BOOST_AUTO_TEST_CASE(whole_and_streamed_forms_of_a_reply_agree) {
  for (const auto& reply : replies) {
    for (auto codec : reply.codecs) {
      BOOST_TEST_CONTEXT(codec << " " << reply.whole << " / " << reply.stream) {
        auto c = registry::builtin().make_codec(std::string{codec});
        BOOST_REQUIRE(c != nullptr);
        auto whole =
            c->decode_body(read_fixture(reply.dir, std::string{reply.whole}));
        BOOST_TEST(outcome_name(whole) == reply.outcome);
        check_usage(tokens_of(whole), reply.tokens);
        if (auto* error = std::get_if<failure>(&whole);
            error != nullptr && !reply.message.empty()) {
          BOOST_TEST(error->message == reply.message);
        }
        auto bytes = read_fixture(reply.dir, std::string{reply.stream});
        for (std::size_t chunk :
             {bytes.size(), std::size_t{1}, std::size_t{2}, std::size_t{3},
              std::size_t{7}, std::size_t{64}}) {
          BOOST_TEST_CONTEXT("streamed in chunks of " << chunk << " bytes") {
            check_same(whole, stream_through(*c, bytes, chunk).outcome);
          }
        }
        // And cut at random places, the same ones on every run.
        std::mt19937 random{static_cast<unsigned>(bytes.size())};
        for (int round = 0; round < 20; ++round) {
          BOOST_TEST_CONTEXT("random cuts, round " << round) {
            check_same(whole,
                       stream_pieces(*c, random_pieces(bytes, random)).outcome);
          }
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(every_builtin_codec_has_recorded_replies) {
  std::set<std::string_view> covered;
  for (const auto& reply : replies) {
    covered.insert(reply.codecs.begin(), reply.codecs.end());
  }
  for (const auto& name : registry::builtin().codec_names()) {
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST(covered.count(name) == 1);
    }
  }
}
