// The per-minute budgets of API keys, second by second: requests and tokens
// within 60 s, Retry-After when the oldest use will have left the window,
// and keys counted apart.

#include <boost/test/unit_test.hpp>

#include "server/key_limits.hpp"

using tutti::http::key_limits;

BOOST_AUTO_TEST_CASE(requests_per_minute_hold_and_say_when_to_retry) {
  key_limits limits;
  int64_t retry = -1;
  int64_t t0 = 1'000'000;
  BOOST_CHECK(limits.admit("a", 3, 0, t0, retry));
  BOOST_CHECK(limits.admit("a", 3, 0, t0 + 10, retry));
  BOOST_CHECK(limits.admit("a", 3, 0, t0 + 20, retry));
  BOOST_CHECK(!limits.admit("a", 3, 0, t0 + 30, retry));
  // The first request leaves the window 60 s after it came: at t0 + 60.
  BOOST_CHECK_EQUAL(retry, 30);
  // A refused request is not counted; another key has its own window.
  BOOST_CHECK(limits.admit("b", 3, 0, t0 + 30, retry));
  BOOST_CHECK(!limits.admit("a", 3, 0, t0 + 59, retry));
  BOOST_CHECK_EQUAL(retry, 1);
  BOOST_CHECK(limits.admit("a", 3, 0, t0 + 60, retry));
  // After a long silence the whole window is free again.
  for (int i = 0; i < 3; ++i)
    BOOST_CHECK(limits.admit("a", 3, 0, t0 + 1000, retry));
  BOOST_CHECK(!limits.admit("a", 3, 0, t0 + 1000, retry));
  BOOST_CHECK_EQUAL(retry, 60);
}

BOOST_AUTO_TEST_CASE(tokens_per_minute_count_what_replies_used) {
  key_limits limits;
  int64_t retry = -1;
  int64_t t0 = 5'000'000;
  BOOST_CHECK(limits.admit("a", 0, 100, t0, retry));
  limits.add_tokens("a", 70, t0 + 1);
  BOOST_CHECK(limits.admit("a", 0, 100, t0 + 2, retry));
  limits.add_tokens("a", 40, t0 + 5);
  // 110 of 100 used: refused until the 70 of t0 + 1 leave, at t0 + 61.
  BOOST_CHECK(!limits.admit("a", 0, 100, t0 + 10, retry));
  BOOST_CHECK_EQUAL(retry, 51);
  BOOST_CHECK(limits.admit("a", 0, 100, t0 + 61, retry));
  // Huge counts saturate rather than wrap.
  limits.add_tokens("a", INT64_MAX, t0 + 62);
  limits.add_tokens("a", INT64_MAX, t0 + 63);
  BOOST_CHECK(!limits.admit("a", 0, 100, t0 + 63, retry));
  BOOST_CHECK(retry > 0 && retry <= 60);
}

BOOST_AUTO_TEST_CASE(a_clock_that_goes_back_does_not_break_the_window) {
  key_limits limits;
  int64_t retry = -1;
  BOOST_CHECK(limits.admit("a", 1, 0, 2'000'000, retry));
  BOOST_CHECK(!limits.admit("a", 1, 0, 1'999'990, retry));
  BOOST_CHECK(retry >= 1 && retry <= 60);
}
