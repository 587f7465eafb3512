// The circuit breaker as a state machine: time is passed in by hand, in
// microseconds, so every transition is checked at an exact instant.

#include <ostream>

#include <boost/test/unit_test.hpp>

#include "actors/circuit_breaker.hpp"

namespace tutti {

std::ostream& operator<<(std::ostream& out, breaker_state state) {
  return out << to_string(state);
}

} // namespace tutti

using namespace tutti;

namespace {

constexpr steady_us ms = 1000;
constexpr steady_us t0 = 1'000'000 * ms;

breaker_policy policy(int failures, int64_t cooldown_ms = 100) {
  breaker_policy p;
  p.failures = failures;
  p.cooldown_ms = cooldown_ms;
  return p;
}

void fail(circuit_breaker& cb, int times, steady_us now) {
  for (int i = 0; i < times; ++i) {
    cb.record(false, true, now);
  }
}

/// A breaker opened at `t0` with a 100 ms cooldown after 3 failures.
circuit_breaker tripped() {
  circuit_breaker cb{policy(3)};
  fail(cb, 3, t0);
  return cb;
}

} // namespace

BOOST_AUTO_TEST_CASE(states_have_names) {
  BOOST_TEST(to_string(breaker_state::closed) == "closed");
  BOOST_TEST(to_string(breaker_state::open) == "open");
  BOOST_TEST(to_string(breaker_state::half_open) == "half_open");
}

BOOST_AUTO_TEST_CASE(a_new_breaker_is_closed_and_allows_calls) {
  circuit_breaker cb;
  BOOST_TEST(cb.policy().failures == 5);
  BOOST_TEST(cb.allow(t0));
  BOOST_TEST(cb.state(t0) == breaker_state::closed);
  BOOST_TEST(cb.open_until() == 0);
  BOOST_TEST(cb.consecutive_failures() == 0);
  BOOST_TEST(cb.rejected() == 0u);
}

BOOST_AUTO_TEST_CASE(stays_closed_below_the_failure_threshold) {
  circuit_breaker cb{policy(3)};
  fail(cb, 2, t0);
  BOOST_TEST(cb.consecutive_failures() == 2);
  BOOST_TEST(cb.state(t0) == breaker_state::closed);
  BOOST_TEST(cb.allow(t0));
  BOOST_TEST(cb.open_until() == 0);
}

BOOST_AUTO_TEST_CASE(opens_at_the_threshold_until_now_plus_cooldown) {
  auto cb = tripped();
  BOOST_TEST(cb.consecutive_failures() == 3);
  BOOST_TEST(cb.state(t0) == breaker_state::open);
  BOOST_TEST(cb.open_until() == t0 + 100 * ms);
}

BOOST_AUTO_TEST_CASE(a_success_in_between_resets_the_count) {
  circuit_breaker cb{policy(3)};
  fail(cb, 2, t0);
  cb.record(true, false, t0);
  BOOST_TEST(cb.consecutive_failures() == 0);
  fail(cb, 2, t0);
  BOOST_TEST(cb.state(t0) == breaker_state::closed);
  fail(cb, 1, t0);
  BOOST_TEST(cb.state(t0) == breaker_state::open);
}

BOOST_AUTO_TEST_CASE(open_rejects_until_the_cooldown_has_passed) {
  auto cb = tripped();
  BOOST_TEST(!cb.allow(t0));
  BOOST_TEST(!cb.allow(t0 + 100 * ms - 1));
  BOOST_TEST(cb.rejected() == 2u);
  BOOST_TEST(cb.state(t0 + 100 * ms - 1) == breaker_state::open);
}

BOOST_AUTO_TEST_CASE(reports_half_open_once_the_cooldown_passed) {
  auto cb = tripped();
  BOOST_TEST(cb.state(t0 + 100 * ms) == breaker_state::half_open);
  BOOST_TEST(!cb.probe_in_flight());
}

BOOST_AUTO_TEST_CASE(half_open_lets_exactly_one_probe_through) {
  auto cb = tripped();
  auto later = t0 + 150 * ms;
  BOOST_TEST(cb.allow(later));
  BOOST_TEST(cb.probe_in_flight());
  BOOST_TEST(!cb.allow(later));
  BOOST_TEST(!cb.allow(later + 10 * ms));
  BOOST_TEST(cb.rejected() == 2u);
  BOOST_TEST(cb.state(later) == breaker_state::half_open);
}

BOOST_AUTO_TEST_CASE(a_successful_probe_closes) {
  auto cb = tripped();
  auto later = t0 + 150 * ms;
  BOOST_REQUIRE(cb.allow(later));
  cb.record(true, false, later + ms);
  BOOST_TEST(cb.state(later + ms) == breaker_state::closed);
  BOOST_TEST(cb.open_until() == 0);
  BOOST_TEST(cb.consecutive_failures() == 0);
  BOOST_TEST(!cb.probe_in_flight());
  BOOST_TEST(cb.allow(later + ms));
  BOOST_TEST(cb.allow(later + ms));
}

BOOST_AUTO_TEST_CASE(a_failed_probe_reopens_for_a_fresh_cooldown) {
  auto cb = tripped();
  auto later = t0 + 150 * ms;
  BOOST_REQUIRE(cb.allow(later));
  cb.record(false, true, later + 5 * ms);
  BOOST_TEST(cb.state(later + 5 * ms) == breaker_state::open);
  BOOST_TEST(cb.open_until() == later + 105 * ms);
  BOOST_TEST(cb.consecutive_failures() == 4);
  BOOST_TEST(!cb.allow(later + 104 * ms));
  // After the new cooldown the breaker probes again.
  BOOST_TEST(cb.allow(later + 105 * ms));
  BOOST_TEST(!cb.allow(later + 105 * ms));
}

BOOST_AUTO_TEST_CASE(non_counting_failures_neither_count_nor_reset) {
  circuit_breaker cb{policy(3)};
  fail(cb, 2, t0);
  for (int i = 0; i < 10; ++i) {
    cb.record(false, false, t0);
  }
  BOOST_TEST(cb.consecutive_failures() == 2);
  BOOST_TEST(cb.state(t0) == breaker_state::closed);
  fail(cb, 1, t0);
  BOOST_TEST(cb.state(t0) == breaker_state::open);
}

BOOST_AUTO_TEST_CASE(a_non_counting_probe_failure_frees_the_probe_slot) {
  auto cb = tripped();
  auto later = t0 + 150 * ms;
  BOOST_REQUIRE(cb.allow(later));
  cb.record(false, false, later + ms);
  BOOST_TEST(cb.state(later + ms) == breaker_state::half_open);
  BOOST_TEST(!cb.probe_in_flight());
  BOOST_TEST(cb.open_until() == t0 + 100 * ms);
  BOOST_TEST(cb.consecutive_failures() == 3);
  BOOST_TEST(cb.allow(later + ms));
  BOOST_TEST(!cb.allow(later + ms));
}

BOOST_AUTO_TEST_CASE(a_straggler_failure_while_open_keeps_the_cooldown) {
  auto cb = tripped();
  cb.record(false, true, t0 + 50 * ms);
  BOOST_TEST(cb.consecutive_failures() == 4);
  BOOST_TEST(cb.open_until() == t0 + 100 * ms);
}

BOOST_AUTO_TEST_CASE(a_straggler_success_while_open_closes) {
  auto cb = tripped();
  cb.record(true, false, t0 + 50 * ms);
  BOOST_TEST(cb.state(t0 + 50 * ms) == breaker_state::closed);
  BOOST_TEST(cb.allow(t0 + 50 * ms));
}

BOOST_AUTO_TEST_CASE(a_counting_failure_after_the_cooldown_reopens) {
  auto cb = tripped();
  auto later = t0 + 150 * ms;
  cb.record(false, true, later); // no probe out: a straggler's failure
  BOOST_TEST(cb.state(later) == breaker_state::open);
  BOOST_TEST(cb.open_until() == later + 100 * ms);
}

BOOST_AUTO_TEST_CASE(zero_failures_turns_the_breaker_off) {
  circuit_breaker cb{policy(0)};
  fail(cb, 1000, t0);
  BOOST_TEST(cb.state(t0) == breaker_state::closed);
  BOOST_TEST(cb.allow(t0));
  BOOST_TEST(cb.open_until() == 0);
  BOOST_TEST(cb.consecutive_failures() == 0);
  BOOST_TEST(cb.rejected() == 0u);
}

BOOST_AUTO_TEST_CASE(a_zero_cooldown_goes_straight_to_half_open) {
  circuit_breaker cb{policy(1, 0)};
  fail(cb, 1, t0);
  BOOST_TEST(cb.state(t0) == breaker_state::half_open);
  BOOST_TEST(cb.allow(t0));
  BOOST_TEST(!cb.allow(t0));
}
