// The pure retry rules: what may be retried, how long servers ask us to
// wait, the backoff caps, and what tokens cost.

#include <boost/test/unit_test.hpp>

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
