// `tutti eval`'s arithmetic (cli/eval_score.hpp): scoring, intervals,
// quantiles, weights and the result line's round trip.

#include <boost/test/unit_test.hpp>

#include <cmath>

#include "cli/eval_score.hpp"

using namespace tutti::cli;

BOOST_AUTO_TEST_CASE(answers_compare_in_votes_normalised_form) {
  answer_scorer whole;
  BOOST_CHECK(whole.is_right("  42. ", "42"));
  BOOST_CHECK(whole.is_right("+1,000.50", "1000.5"));
  BOOST_CHECK(!whole.is_right("The answer is 42.", "42"));
  answer_scorer extract{"answer is (-?\\d+)"};
  BOOST_CHECK(extract.is_right("The answer is 42.", "42"));
  BOOST_CHECK(!extract.is_right("The answer is 43.", "42"));
  // Nothing extracted: the reply is compared whole (a vote's answer).
  BOOST_CHECK(extract.is_right("42", "42"));
  BOOST_CHECK(!extract.answer_in("   "));
  BOOST_CHECK_THROW(answer_scorer{"("}, std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(the_judges_last_verdict_word_counts) {
  BOOST_CHECK(*judge_verdict("CORRECT"));
  BOOST_CHECK(!*judge_verdict("incorrect."));
  BOOST_CHECK(*judge_verdict("Not incorrect at all: Correct"));
  BOOST_CHECK(!*judge_verdict("correct? No: INCORRECT"));
  BOOST_CHECK(!judge_verdict("hard to say"));
}

BOOST_AUTO_TEST_CASE(wilson_intervals_match_the_formula) {
  // 80 of 100: centre (0.8 + 1.92/100) / 1.0384, half-width 0.0769.
  auto ci = wilson_interval(80, 100);
  BOOST_CHECK_CLOSE(ci.low, 0.7112, 0.1);
  BOOST_CHECK_CLOSE(ci.high, 0.8666, 0.1);
  auto none = wilson_interval(0, 20);
  BOOST_CHECK_EQUAL(none.low, 0);
  BOOST_CHECK_CLOSE(none.high, 0.1611, 0.1);
  auto all = wilson_interval(20, 20);
  BOOST_CHECK_CLOSE(all.low, 0.8389, 0.1);
  BOOST_CHECK_EQUAL(all.high, 1);
}

BOOST_AUTO_TEST_CASE(latency_quantiles_are_nearest_rank) {
  eval_tally t;
  for (int i = 1; i <= 20; ++i)
    t.latencies_us.push_back(i * 1000);
  BOOST_CHECK_EQUAL(t.latency_quantile_us(0.5), 10000);
  BOOST_CHECK_EQUAL(t.latency_quantile_us(0.95), 19000);
  BOOST_CHECK_EQUAL(eval_tally{}.latency_quantile_us(0.5), -1);
}

BOOST_AUTO_TEST_CASE(weights_are_clamped_log_odds) {
  BOOST_CHECK_CLOSE(log_odds_weight(0.8), std::log(4.0), 1e-9);
  BOOST_CHECK_EQUAL(log_odds_weight(0.5), 0.01);
  BOOST_CHECK_EQUAL(log_odds_weight(0.2), 0.01);
  BOOST_CHECK_CLOSE(log_odds_weight(1.0), std::log(999.0), 1e-6);
}

BOOST_AUTO_TEST_CASE(a_result_line_reads_back_as_written) {
  eval_result r;
  r.line = 7;
  r.id_json = "\"row-7\"";
  r.target = "vote3";
  r.kind = "ensemble";
  r.status = "partial";
  r.answer = "42";
  r.read = "42";
  r.right = true;
  r.cost_usd = 0.25;
  r.latency_us = 1234;
  r.calls = 2;
  r.shared = 1;
  r.members.push_back({"a", "a", true, true, false});
  auto line = eval_result_line(r);
  BOOST_CHECK_EQUAL(line.back(), '\n');
  auto back = parse_eval_result(line.substr(0, line.size() - 1));
  BOOST_REQUIRE(back);
  BOOST_CHECK_EQUAL(back->line, 7u);
  BOOST_CHECK_EQUAL(back->id_json, "\"row-7\"");
  BOOST_CHECK_EQUAL(back->target, "vote3");
  BOOST_CHECK(back->right);
  BOOST_CHECK_EQUAL(back->cost_usd, 0.25);
  BOOST_CHECK_EQUAL(back->shared, 1u);
  BOOST_REQUIRE_EQUAL(back->members.size(), 1u);
  BOOST_CHECK(back->members[0].right);
  BOOST_CHECK(!parse_eval_result("{\"line\": 0}"));
  BOOST_CHECK(!parse_eval_result("not json"));
}
