// The pure retry rules: what may be retried, how long servers ask us to
// wait, the backoff caps, and what tokens cost.

#include <boost/test/unit_test.hpp>

#include <memory>

#include <map>

#include "tutti/registry.hpp"
#include "tutti/retry.hpp"

using namespace tutti;

namespace {

failure failed(failure_kind kind, int status = 0) {
  failure f;
  f.kind = kind;
  f.http_status = status;
  return f;
}

} // namespace

BOOST_AUTO_TEST_CASE(transient_failures_are_retryable) {
  BOOST_TEST(is_retryable(failed(failure_kind::rate_limited, 429)));
  BOOST_TEST(is_retryable(failed(failure_kind::overloaded, 529)));
  BOOST_TEST(is_retryable(failed(failure_kind::server, 500)));
  BOOST_TEST(is_retryable(failed(failure_kind::network)));
  BOOST_TEST(is_retryable(failed(failure_kind::timeout_connect)));
  BOOST_TEST(is_retryable(failed(failure_kind::timeout_total, 408)));
}

BOOST_AUTO_TEST_CASE(failures_another_attempt_cannot_cure_are_not) {
  BOOST_TEST(!is_retryable(failed(failure_kind::auth, 401)));
  BOOST_TEST(!is_retryable(failed(failure_kind::bad_request, 400)));
  BOOST_TEST(!is_retryable(failed(failure_kind::context_length, 400)));
  BOOST_TEST(!is_retryable(failed(failure_kind::content_filter, 400)));
  BOOST_TEST(!is_retryable(failed(failure_kind::protocol, 200)));
  BOOST_TEST(!is_retryable(failed(failure_kind::cancelled)));
  BOOST_TEST(!is_retryable(failed(failure_kind::timeout_total)));
  BOOST_TEST(!is_retryable(failed(failure_kind::queue_timeout)));
}

BOOST_AUTO_TEST_CASE(retry_after_reads_seconds_milliseconds_and_dates) {
  int64_t now = 784111777000; // Sun, 06 Nov 1994 08:49:37 GMT
  BOOST_TEST(retry_after_ms({{"Retry-After", "2"}}, now).value_or(-1) == 2000);
  BOOST_TEST(retry_after_ms({{"retry-after", "1.5"}}, now).value_or(-1) ==
             1500);
  BOOST_TEST(retry_after_ms({{"retry-after-ms", "250"}}, now).value_or(-1) ==
             250);
  // retry-after-ms is the more precise of the two and wins.
  BOOST_TEST(
      retry_after_ms({{"Retry-After", "2"}, {"retry-after-ms", "1200"}}, now)
          .value_or(-1) == 1200);
  BOOST_TEST(
      retry_after_ms({{"Retry-After", "Sun, 06 Nov 1994 08:49:40 GMT"}}, now)
          .value_or(-1) == 3000);
  // A date in the past means "now".
  BOOST_TEST(
      retry_after_ms({{"Retry-After", "Sun, 06 Nov 1994 08:49:30 GMT"}}, now)
          .value_or(-1) == 0);
}

BOOST_AUTO_TEST_CASE(unreadable_or_absent_retry_after_is_nothing) {
  BOOST_TEST(!retry_after_ms({}, 0).has_value());
  BOOST_TEST(!retry_after_ms({{"Retry-After", "soon"}}, 0).has_value());
  BOOST_TEST(!retry_after_ms({{"Retry-After", "-3"}}, 0).has_value());
  BOOST_TEST(!retry_after_ms({{"Retry-After", ""}}, 0).has_value());
}

BOOST_AUTO_TEST_CASE(backoff_doubles_up_to_its_cap) {
  retry_policy policy;
  policy.backoff_ms = 250;
  policy.max_backoff_ms = 1500;
  BOOST_TEST(backoff_cap_ms(policy, 1) == 250);
  BOOST_TEST(backoff_cap_ms(policy, 2) == 500);
  BOOST_TEST(backoff_cap_ms(policy, 3) == 1000);
  BOOST_TEST(backoff_cap_ms(policy, 4) == 1500);
  BOOST_TEST(backoff_cap_ms(policy, 40) == 1500);
}

BOOST_AUTO_TEST_CASE(cost_prices_cached_input_apart) {
  price_table price;
  price.input_per_mtok = 3.0;
  price.output_per_mtok = 15.0;
  price.cached_input_per_mtok = 0.3;
  usage used;
  used.input_tokens = 1'000'000;
  used.cached_input_tokens = 400'000;
  used.output_tokens = 100'000;
  // 600k at $3 + 400k at $0.30 + 100k at $15
  BOOST_TEST(cost_usd(used, price) == 1.8 + 0.12 + 1.5,
             boost::test_tools::tolerance(1e-9));
  price.cached_input_per_mtok = 0; // unknown: cached input at the input price
  BOOST_TEST(cost_usd(used, price) == 3.0 + 1.5,
             boost::test_tools::tolerance(1e-9));
  BOOST_TEST(cost_usd(used, price_table{}) == 0.0);
}

BOOST_AUTO_TEST_CASE(openai_durations_read_every_unit_and_round_up) {
  BOOST_TEST(parse_go_duration_ms("1s").value_or(-1) == 1000);
  BOOST_TEST(parse_go_duration_ms("20ms").value_or(-1) == 20);
  BOOST_TEST(parse_go_duration_ms("6m0s").value_or(-1) == 360'000);
  BOOST_TEST(parse_go_duration_ms("1m30.5s").value_or(-1) == 90'500);
  BOOST_TEST(parse_go_duration_ms("2h3m").value_or(-1) == 7'380'000);
  BOOST_TEST(parse_go_duration_ms("0.0004s").value_or(-1) == 1);
  BOOST_TEST(parse_go_duration_ms("0s").value_or(-1) == 0);
  BOOST_TEST(!parse_go_duration_ms("").has_value());
  BOOST_TEST(!parse_go_duration_ms("5").has_value());
  BOOST_TEST(!parse_go_duration_ms("1d").has_value());
  BOOST_TEST(!parse_go_duration_ms("-1s").has_value());
}

/// The built-in codec of `kind`: each reads its own vendor's rate-limit
/// headers.
const codec& codec_of(const std::string& kind) {
  static std::map<std::string, std::unique_ptr<codec>> made;
  auto& slot = made[kind];
  if (!slot)
    slot = registry::builtin().make_codec(kind);
  BOOST_REQUIRE(slot != nullptr);
  return *slot;
}

BOOST_AUTO_TEST_CASE(openai_rate_limit_headers_say_what_is_left) {
  auto limits = codec_of("openai").server_limits_of(
      {{"x-ratelimit-limit-requests", "60"},
       {"x-ratelimit-remaining-requests", "59"},
       {"x-ratelimit-reset-requests", "1s"},
       {"x-ratelimit-limit-tokens", "150000"},
       {"X-RateLimit-Remaining-Tokens", "149984"},
       {"x-ratelimit-reset-tokens", "6m0s"}},
      0);
  BOOST_TEST(limits.requests.limit == 60);
  BOOST_TEST(limits.requests.remaining == 59);
  BOOST_TEST(limits.requests.reset_in_ms == 1000);
  BOOST_TEST(limits.tokens.remaining == 149984);
  BOOST_TEST(limits.tokens.reset_in_ms == 360'000);
  BOOST_TEST(limits.any());
}

BOOST_AUTO_TEST_CASE(anthropic_rate_limit_headers_say_what_is_left) {
  // 2026-11-25T02:30:00Z
  int64_t now = 1'795'573'800'000;
  auto limits =
      codec_of("anthropic")
          .server_limits_of(
              {{"anthropic-ratelimit-requests-limit", "50"},
               {"anthropic-ratelimit-requests-remaining", "49"},
               {"anthropic-ratelimit-requests-reset", "2026-11-25T02:30:01Z"},
               {"anthropic-ratelimit-input-tokens-remaining", "900"},
               {"anthropic-ratelimit-input-tokens-reset",
                "2026-11-25T02:30:05Z"},
               {"anthropic-ratelimit-tokens-remaining", "700"},
               {"anthropic-ratelimit-tokens-reset",
                "2026-11-25T02:30:02.250Z"}},
              now);
  BOOST_TEST(limits.requests.limit == 50);
  BOOST_TEST(limits.requests.remaining == 49);
  BOOST_TEST(limits.requests.reset_in_ms == 1000);
  // `tokens-*` is the most restrictive of Anthropic's token budgets.
  BOOST_TEST(limits.tokens.limit == -1);
  BOOST_TEST(limits.tokens.remaining == 700);
  BOOST_TEST(limits.tokens.reset_in_ms == 2250);
  auto offset =
      codec_of("anthropic")
          .server_limits_of({{"anthropic-ratelimit-requests-remaining", "3"},
                             {"anthropic-ratelimit-requests-reset",
                              "2026-11-25T03:30:04+01:00"}},
                            now);
  BOOST_TEST(offset.requests.reset_in_ms == 4000);
  // A reset already past means "whole again now".
  auto past =
      codec_of("anthropic")
          .server_limits_of(
              {{"anthropic-ratelimit-requests-remaining", "0"},
               {"anthropic-ratelimit-requests-reset", "2026-11-25T02:29:00Z"}},
              now);
  BOOST_TEST(past.requests.reset_in_ms == 0);
}

BOOST_AUTO_TEST_CASE(a_budget_without_a_readable_reset_is_unknown) {
  // Azure OpenAI sends what is left but not when it refills.
  auto azure = codec_of("azure-openai")
                   .server_limits_of({{"x-ratelimit-remaining-requests", "10"},
                                      {"x-ratelimit-remaining-tokens", "1000"}},
                                     0);
  BOOST_TEST(!azure.any());
  for (auto kind : registry::builtin().codec_names()) {
    auto garbled = codec_of(kind).server_limits_of(
        {{"x-ratelimit-remaining-requests", "many"},
         {"x-ratelimit-reset-requests", "1s"},
         {"anthropic-ratelimit-tokens-remaining", "5"},
         {"anthropic-ratelimit-tokens-reset", "soon"}},
        0);
    BOOST_TEST(!garbled.any());
    BOOST_TEST(!codec_of(kind).server_limits_of({}, 0).any());
  }
}
