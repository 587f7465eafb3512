// Every provider kind end to end against the fake upstream speaking that
// vendor's wire format, whole and streamed, through the fault menu: chunks
// split anywhere, CRLF, comments, errors inside a stream, resets, missing
// terminators, 529 and retry-after-ms.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/fake_upstream_fixture.hpp"
#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/config.hpp"
#include "tutti/engine.hpp"

using namespace tutti;

namespace {

const char* upstream_script = R"(
models:
  good:     {reply: "Paris is the capital of France."}
  ragged:   {reply: "Grüße aus Köln — 東京 🌸 done.", split_chunks: true, split_seed: 7, crlf: true, ping_comments: true}
  midfail:  {reply: "one two three four", error_event_after_tokens: 2}
  open-end: {reply: "one two three", end_without_terminator: true}
  reset:    {reply: "one two three four", reset_after_tokens: 2}
  busy-529: {reply: "back", fail: {status: 529, times: 1}}
  quick-429: {reply: "soon", fail: {status: 429, retry_after_ms: 300, times: 1}}
  blocked:  {reply: "never", safety_block: true}
)";

/// The kinds, each with the base URL that reaches the fake upstream.
struct kind_case {
  std::string kind;
  std::string format; ///< what the fake records
};

const std::vector<kind_case> all_kinds = {
    {"openai", "openai"},       {"anthropic", "anthropic"},
    {"gemini", "gemini"},       {"openai-compatible", "openai"},
    {"azure-openai", "openai"}, {"bedrock", "bedrock"},
    {"ollama", "ollama"},
};

struct formats_fixture {
  fake::server upstream{fake::parse_script(upstream_script)};

  formats_fixture() { upstream.start(); }

  std::string base_url_for(const std::string& kind) {
    return fake_upstream::base_url_for(upstream, kind);
  }

  /// The keys a provider of `kind` requires beside the common ones.
  static std::string own_keys(const std::string& kind) {
    if (kind == "bedrock")
      return " region: us-east-1, access_key_id: AKIDEXAMPLE,"
             " secret_access_key: test-secret,";
    return {};
  }

  /// One provider `p` of `kind` on `model`, alone in ensemble `e`.
  config make_config(const std::string& kind, const std::string& model) {
    std::string yaml =
        "providers:\n  p: {kind: " + kind + ", model: " + model +
        ", base_url: \"" + base_url_for(kind) +
        "\", api_key: test-key, max_tokens: 256," + own_keys(kind) +
        " retry: {attempts: 3, backoff: 20ms, max_backoff: 100ms}}\n" +
        "ensembles:\n  e: {members: [p], deadline: 10s}\n";
    return parse_config(yaml, "formats.yaml");
  }

  struct result {
    member_outcome outcome;
    std::string streamed;
  };

  result ask(const std::string& kind, const std::string& model, bool stream) {
    engine eng{make_config(kind, model)};
    result r;
    ask_options options;
    options.stream = stream;
    options.on_delta = [&](const member_delta& d) { r.streamed += d.text; };
    auto answer = eng.ask("e", "hello", options).get();
    BOOST_REQUIRE(answer.members.size() == 1u);
    r.outcome = answer.members[0];
    return r;
  }

  std::vector<fake::arrival> arrivals_of(const std::string& model) {
    return fake_upstream::arrivals_of(upstream, model);
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(provider_formats_tests, formats_fixture)

BOOST_AUTO_TEST_CASE(every_kind_answers_whole_and_streamed) {
  for (auto& k : all_kinds) {
    BOOST_TEST_CONTEXT("kind " << k.kind) {
      for (bool stream : {false, true}) {
        BOOST_TEST_CONTEXT("stream " << stream) {
          auto r = ask(k.kind, "good", stream);
          BOOST_TEST(r.outcome.ok);
          BOOST_TEST(r.outcome.reply.text == "Paris is the capital of France.");
          BOOST_TEST(r.outcome.reply.finish_reason == "stop");
          BOOST_TEST(r.outcome.reply.usage.output_tokens > 0);
          BOOST_TEST(r.outcome.reply.usage.input_tokens > 0);
          if (stream)
            BOOST_TEST(r.streamed == r.outcome.reply.text);
        }
      }
    }
  }
  auto seen = arrivals_of("good");
  BOOST_REQUIRE(seen.size() == all_kinds.size() * 2);
  std::map<std::string, int> per_format;
  for (auto& a : seen)
    ++per_format[a.format];
  BOOST_TEST(per_format["openai"] == 6);
  BOOST_TEST(per_format["anthropic"] == 2);
  BOOST_TEST(per_format["gemini"] == 2);
  BOOST_TEST(per_format["bedrock"] == 2);
  BOOST_TEST(per_format["ollama"] == 2);
}

BOOST_AUTO_TEST_CASE(
    streams_cut_anywhere_with_crlf_and_comments_decode_exactly) {
  for (auto& k : all_kinds) {
    BOOST_TEST_CONTEXT("kind " << k.kind) {
      auto r = ask(k.kind, "ragged", true);
      BOOST_TEST(r.outcome.ok);
      BOOST_TEST(r.outcome.reply.text == "Grüße aus Köln — 東京 🌸 done.");
      BOOST_TEST(r.streamed == r.outcome.reply.text);
    }
  }
}

BOOST_AUTO_TEST_CASE(
    an_error_inside_a_stream_fails_keeping_text_without_retry) {
  for (auto& k : all_kinds) {
    BOOST_TEST_CONTEXT("kind " << k.kind) {
      auto r = ask(k.kind, "midfail", true);
      BOOST_TEST(!r.outcome.ok);
      BOOST_TEST(r.outcome.error.partial_text == "one two ");
      BOOST_TEST(r.outcome.error.attempts == 1);
      BOOST_TEST(r.outcome.error.message.find("inside the stream") !=
                 std::string::npos);
      auto kind = r.outcome.error.kind;
      BOOST_TEST(
          (kind == failure_kind::server || kind == failure_kind::overloaded));
    }
  }
}

BOOST_AUTO_TEST_CASE(
    a_stream_without_its_terminator_is_incomplete_unless_tolerated) {
  auto strict = ask("openai", "open-end", true);
  BOOST_TEST(!strict.outcome.ok);
  BOOST_TEST(strict.outcome.error.kind == failure_kind::protocol);
  BOOST_TEST(strict.outcome.error.message.find("incomplete") !=
             std::string::npos);
  BOOST_TEST(strict.outcome.error.partial_text == "one two three");
  auto anthropic = ask("anthropic", "open-end", true);
  BOOST_TEST(!anthropic.outcome.ok);
  BOOST_TEST(anthropic.outcome.error.kind == failure_kind::protocol);
  // Servers behind openai-compatible often send no [DONE]: a finish reason
  // and a clean end are enough there.
  auto tolerant = ask("openai-compatible", "open-end", true);
  BOOST_TEST(tolerant.outcome.ok);
  BOOST_TEST(tolerant.outcome.reply.text == "one two three");
}

BOOST_AUTO_TEST_CASE(a_connection_reset_is_a_network_failure) {
  for (auto& k : all_kinds) {
    BOOST_TEST_CONTEXT("kind " << k.kind) {
      auto streamed = ask(k.kind, "reset", true);
      BOOST_TEST(!streamed.outcome.ok);
      BOOST_TEST(streamed.outcome.error.kind == failure_kind::network);
      BOOST_TEST(streamed.outcome.error.partial_text == "one two ");
      // Text was delivered: no silent retry.
      BOOST_TEST(streamed.outcome.error.attempts == 1);
    }
  }
  // A whole reply resets before any byte: retried, and it keeps resetting.
  auto whole = ask("openai", "reset", false);
  BOOST_TEST(!whole.outcome.ok);
  BOOST_TEST(whole.outcome.error.kind == failure_kind::network);
  BOOST_TEST(whole.outcome.error.attempts == 3);
}

BOOST_AUTO_TEST_CASE(anthropic_529_overloaded_is_retried) {
  auto r = ask("anthropic", "busy-529", false);
  BOOST_TEST(r.outcome.ok);
  BOOST_TEST(r.outcome.reply.text == "back");
  BOOST_TEST(r.outcome.reply.attempts == 2);
}

BOOST_AUTO_TEST_CASE(retry_after_ms_is_respected) {
  auto r = ask("openai", "quick-429", false);
  BOOST_TEST(r.outcome.ok);
  BOOST_TEST(r.outcome.reply.attempts == 2);
  auto seen = arrivals_of("quick-429");
  BOOST_REQUIRE(seen.size() == 2u);
  BOOST_TEST(seen[1].steady_us - seen[0].steady_us >= 300'000);
}

BOOST_AUTO_TEST_CASE(a_gemini_safety_block_is_a_content_filter_failure) {
  for (bool stream : {false, true}) {
    BOOST_TEST_CONTEXT("stream " << stream) {
      auto r = ask("gemini", "blocked", stream);
      BOOST_TEST(!r.outcome.ok);
      BOOST_TEST(r.outcome.error.kind == failure_kind::content_filter);
      BOOST_TEST(r.outcome.error.attempts == 1);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
