// The provider path against an upstream that misbehaves: retries where they
// are allowed (with the server's Retry-After respected), each timeout with
// its own kind, and never a false success.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
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
  flaky:    {reply: "third time lucky", fail: {status: 500, times: 2}}
  limited:  {reply: "after the pause", fail: {status: 429, retry_after: 1, times: 1}}
  held:     {fail: {status: 429, retry_after: 30}}
  locked:   {fail: {status: 401, message: "Incorrect API key provided"}}
  overload: {fail: {status: 503, times: 1}, reply: "back again"}
  sleepy:   {reply: "late", latency: 3s}
  stuck:    {reply: "one two three four five", stall_after_tokens: 2}
  cut:      {reply: "one two three four five", truncate_after_tokens: 2}
  garbled:  {reply: "Paris.", malformed: true}
  priced:   {reply: "a b c d"}
  down:     {fail: {status: 500, message: "down for maintenance"}}
  drip:     {reply: "a b c d e", drip_ms: 150}
)";

/// The script plus an upstream whose reply is 300,000 `[`.
std::string script_text() {
  return std::string{upstream_script} + "  nested: {raw_body: \"" +
         std::string(300'000, '[') + "\"}\n";
}

struct faults_fixture {
  fake::server upstream{fake::parse_script(script_text())};

  faults_fixture() { upstream.start(); }

  /// One provider per model, named after it, in one ensemble `e`.
  config make_config(const std::vector<std::string>& models,
                     const std::string& deadline = "10s") {
    auto yaml = "providers:\n" +
                fake_upstream::providers_yaml(models, upstream.base_url()) +
                fake_upstream::ensemble_yaml(models, deadline);
    auto cfg = parse_config(yaml, "faults.yaml");
    for (auto& [name, provider] : cfg.providers) {
      provider.retry.attempts = 3;
      provider.retry.backoff_ms = 20;
      provider.retry.max_backoff_ms = 100;
    }
    return cfg;
  }

  std::string streamed; ///< what the last streaming ask showed its caller

  member_outcome ask_one(config cfg, bool stream = false) {
    engine eng{std::move(cfg)};
    ask_options options;
    options.stream = stream;
    // A streaming caller reads the text as it comes.
    if (stream)
      options.on_delta = [this](const member_delta& d) { streamed += d.text; };
    auto answer = eng.ask("e", "hello", options).get();
    BOOST_REQUIRE(answer.members.size() == 1u);
    return answer.members[0];
  }

  /// The upstream records a request when it ends (a stalled one when its
  /// client goes away): wait, boundedly, until `count` are recorded.
  std::vector<fake::arrival> await_arrivals(const std::string& model,
                                            size_t count) {
    for (int i = 0; i < 100; ++i) {
      auto seen = arrivals_of(model);
      if (seen.size() >= count)
        return seen;
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
    return arrivals_of(model);
  }

  std::vector<fake::arrival> arrivals_of(const std::string& model) {
    return fake_upstream::arrivals_of(upstream, model);
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(provider_faults_tests, faults_fixture)

BOOST_AUTO_TEST_CASE(server_errors_are_retried_until_an_attempt_succeeds) {
  auto outcome = ask_one(make_config({"flaky"}));
  BOOST_TEST(outcome.ok);
  BOOST_TEST(outcome.reply.text == "third time lucky");
  BOOST_TEST(outcome.reply.attempts == 3);
  BOOST_TEST(arrivals_of("flaky").size() == 3u);
}

// Regression: an upstream reply of 300,000 `[` overflowed the stack of the
// CAF worker decoding it, killing `tutti ask` and `tutti serve`.
BOOST_AUTO_TEST_CASE(a_deeply_nested_reply_is_a_protocol_failure) {
  for (bool stream : {false, true}) {
    BOOST_TEST_CONTEXT("stream " << stream) {
      auto outcome = ask_one(make_config({"nested"}), stream);
      BOOST_TEST(!outcome.ok);
      BOOST_TEST(outcome.error.kind == failure_kind::protocol);
      BOOST_TEST(outcome.error.message.find("nested deeper than 64") !=
                 std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(attempts_run_out_and_the_last_failure_is_reported) {
  auto cfg = make_config({"flaky"});
  cfg.providers["flaky"].retry.attempts = 2;
  auto outcome = ask_one(cfg);
  BOOST_TEST(!outcome.ok);
  BOOST_TEST(outcome.error.kind == failure_kind::server);
  BOOST_TEST(outcome.error.http_status == 500);
  BOOST_TEST(outcome.error.attempts == 2);
  BOOST_TEST(arrivals_of("flaky").size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_429_waits_as_long_as_retry_after_says) {
  auto outcome = ask_one(make_config({"limited"}));
  BOOST_TEST(outcome.ok);
  BOOST_TEST(outcome.reply.text == "after the pause");
  BOOST_TEST(outcome.reply.attempts == 2);
  auto seen = arrivals_of("limited");
  BOOST_REQUIRE(seen.size() == 2u);
  // Retry-After: 1 — the second request may not come sooner.
  BOOST_TEST(seen[1].steady_us - seen[0].steady_us >= 1'000'000);
}

BOOST_AUTO_TEST_CASE(
    a_retry_that_cannot_finish_before_the_deadline_is_not_made) {
  auto outcome = ask_one(make_config({"held"}, "2s"));
  BOOST_TEST(!outcome.ok);
  BOOST_TEST(outcome.error.kind == failure_kind::rate_limited);
  BOOST_TEST(outcome.error.http_status == 429);
  BOOST_TEST(outcome.error.attempts == 1);
  BOOST_TEST(outcome.error.message.find("not retried") != std::string::npos);
  BOOST_TEST(outcome.error.timing.total_us < 1'500'000);
  BOOST_TEST(arrivals_of("held").size() == 1u);
}

BOOST_AUTO_TEST_CASE(an_auth_failure_is_never_retried) {
  auto outcome = ask_one(make_config({"locked"}));
  BOOST_TEST(!outcome.ok);
  BOOST_TEST(outcome.error.kind == failure_kind::auth);
  BOOST_TEST(outcome.error.http_status == 401);
  BOOST_TEST(outcome.error.attempts == 1);
  BOOST_TEST(outcome.error.message.find("Incorrect API key") !=
             std::string::npos);
  BOOST_TEST(arrivals_of("locked").size() == 1u);
}

BOOST_AUTO_TEST_CASE(an_overloaded_upstream_is_retried) {
  auto outcome = ask_one(make_config({"overload"}));
  BOOST_TEST(outcome.ok);
  BOOST_TEST(outcome.reply.attempts == 2);
}

BOOST_AUTO_TEST_CASE(no_first_token_in_time_is_its_own_failure_kind) {
  auto cfg = make_config({"sleepy"});
  cfg.providers["sleepy"].timeouts.first_token_ms = 300;
  auto outcome = ask_one(cfg);
  BOOST_TEST(!outcome.ok);
  BOOST_TEST(outcome.error.kind == failure_kind::timeout_first_token);
  BOOST_TEST(outcome.error.timing.total_us >= 300'000);
  BOOST_TEST(outcome.error.timing.total_us < 2'500'000);
}

BOOST_AUTO_TEST_CASE(a_stream_that_goes_quiet_fails_as_idle_keeping_its_text) {
  auto cfg = make_config({"stuck"});
  cfg.providers["stuck"].timeouts.idle_ms = 300;
  auto outcome = ask_one(cfg, true);
  BOOST_TEST(!outcome.ok);
  BOOST_TEST(outcome.error.kind == failure_kind::timeout_idle);
  BOOST_TEST(outcome.error.partial_text == "one two ");
  // Text reached the listener: no silent retry.
  BOOST_TEST(outcome.error.attempts == 1);
  BOOST_TEST(await_arrivals("stuck", 1).size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_total_timeout_bounds_the_call_below_the_deadline) {
  auto cfg = make_config({"sleepy"});
  cfg.providers["sleepy"].timeouts.total_ms = 400;
  auto outcome = ask_one(cfg);
  BOOST_TEST(!outcome.ok);
  BOOST_TEST(outcome.error.kind == failure_kind::timeout_total);
  BOOST_TEST(outcome.error.timing.total_us >= 390'000);
  BOOST_TEST(outcome.error.timing.total_us < 2'500'000);
}

BOOST_AUTO_TEST_CASE(a_stream_cut_after_text_is_not_retried_and_keeps_text) {
  auto outcome = ask_one(make_config({"cut"}), true);
  BOOST_TEST(!outcome.ok);
  BOOST_TEST(outcome.error.kind == failure_kind::network);
  BOOST_TEST(outcome.error.partial_text == "one two ");
  BOOST_TEST(outcome.error.attempts == 1);
  BOOST_TEST(arrivals_of("cut").size() == 1u);
  BOOST_TEST(streamed == "one two ");
}

BOOST_AUTO_TEST_CASE(a_stream_nobody_reads_is_retried_when_cut) {
  // No callback saw the text, so another attempt can still give a whole
  // reply without showing anyone a second beginning.
  engine eng{make_config({"cut"})};
  ask_options options;
  options.stream = true;
  auto answer = eng.ask("e", "hello", options).get();
  BOOST_REQUIRE(answer.members.size() == 1u);
  BOOST_TEST(answer.members[0].error.attempts == 3);
  BOOST_TEST(arrivals_of("cut").size() == 3u);
}

BOOST_AUTO_TEST_CASE(a_malformed_stream_is_a_protocol_failure_not_a_success) {
  auto outcome = ask_one(make_config({"garbled"}), true);
  BOOST_TEST(!outcome.ok);
  BOOST_TEST(outcome.error.kind == failure_kind::protocol);
}

BOOST_AUTO_TEST_CASE(a_malformed_body_is_a_protocol_failure_not_a_success) {
  auto outcome = ask_one(make_config({"garbled"}), false);
  BOOST_TEST(!outcome.ok);
  BOOST_TEST(outcome.error.kind == failure_kind::protocol);
  BOOST_TEST(outcome.error.http_status == 200);
}

BOOST_AUTO_TEST_CASE(a_price_table_gives_each_completion_its_cost) {
  auto cfg = make_config({"priced"});
  cfg.providers["priced"].price.input_per_mtok = 2.0;
  cfg.providers["priced"].price.output_per_mtok = 10.0;
  auto outcome = ask_one(cfg);
  BOOST_REQUIRE(outcome.ok);
  auto& u = outcome.reply.usage;
  BOOST_TEST(u.output_tokens == 4);
  auto expected = (u.input_tokens * 2.0 + u.output_tokens * 10.0) / 1e6;
  BOOST_TEST(outcome.reply.cost_usd == expected,
             boost::test_tools::tolerance(1e-12));
  BOOST_TEST(outcome.reply.cost_usd > 0.0);
}

BOOST_AUTO_TEST_CASE(the_breaker_opens_after_consecutive_failures_and_probes) {
  auto cfg = make_config({"down"});
  auto& p = cfg.providers["down"];
  p.retry.attempts = 1;
  p.breaker.failures = 2;
  p.breaker.cooldown_ms = 300;
  engine eng{cfg};
  auto ask = [&] { return eng.ask("e", "hello").get().members.at(0); };
  BOOST_TEST(ask().error.kind == failure_kind::server);
  BOOST_TEST(ask().error.kind == failure_kind::server);
  // Open: skipped at once, nothing sent upstream.
  auto skipped = ask();
  BOOST_TEST(skipped.error.kind == failure_kind::circuit_open);
  BOOST_TEST(skipped.error.attempts == 0);
  BOOST_TEST(skipped.error.message.find("2 consecutive failures") !=
             std::string::npos);
  BOOST_TEST(arrivals_of("down").size() == 2u);
  // After the cooldown one probe goes through; it fails and re-opens.
  std::this_thread::sleep_for(std::chrono::milliseconds{350});
  BOOST_TEST(ask().error.kind == failure_kind::server);
  BOOST_TEST(arrivals_of("down").size() == 3u);
  BOOST_TEST(ask().error.kind == failure_kind::circuit_open);
}

// A slow drip is fine while each gap stays under the idle timeout, and an
// idle failure (with the text so far) once a gap is longer.
BOOST_AUTO_TEST_CASE(a_slow_drip_is_judged_by_the_idle_timeout) {
  auto patient = make_config({"drip"});
  patient.providers["drip"].timeouts.idle_ms = 1000;
  auto ok = ask_one(patient, true);
  BOOST_TEST(ok.ok);
  BOOST_TEST(ok.reply.text == "a b c d e");
  auto strict = make_config({"drip"});
  strict.providers["drip"].timeouts.idle_ms = 60;
  auto idle = ask_one(strict, true);
  BOOST_TEST(!idle.ok);
  BOOST_TEST(idle.error.kind == failure_kind::timeout_idle);
}

BOOST_AUTO_TEST_SUITE_END()
