// `combine: vote`: the answer most members gave, compared after
// normalization, with weights, the tie-break rule and `extract:`.

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <random>

#include "engine/src/json_canonical.hpp"
#include "plugins/combine/vote/vote.hpp"
#include "tests/unit/combine_test_support.hpp"

using namespace tutti;
using namespace tutti::test;

namespace {

combine_options extracting(std::string regex) {
  combine_options options;
  options.set("extract", std::move(regex));
  return options;
}

std::vector<std::string> members_of(const vote_row& row) {
  return row.members;
}

} // namespace

BOOST_AUTO_TEST_CASE(case_space_and_a_final_period_do_not_split_a_vote) {
  auto result = strategy("vote")->combine(
      input_of({success("a", "Paris"), success("b", "  paris.\n"),
                success("c", "Lyon"), success("d", "PARIS")}));
  BOOST_TEST(result.status == answer_status::ok);
  BOOST_TEST(result.winner == "a");
  BOOST_TEST(result.text == "Paris"); // the first voter's own reply
  BOOST_TEST_REQUIRE(result.votes.size() == 2u);
  BOOST_TEST(result.votes[0].answer == "paris");
  BOOST_TEST(members_of(result.votes[0]) ==
                 (std::vector<std::string>{"a", "b", "d"}),
             boost::test_tools::per_element());
  BOOST_TEST(result.votes[1].answer == "lyon");
  BOOST_TEST(result.agreement == 0.75);
  BOOST_TEST(result.note.empty());
}

BOOST_AUTO_TEST_CASE(normalization_collapses_white_space_and_folds_case) {
  BOOST_TEST(normalize_answer("  The   Quick\n\tFox.  ") == "the quick fox");
  BOOST_TEST(normalize_answer("Yes...") == "yes");
  BOOST_TEST(normalize_answer("Dr. Who") == "dr. who");
  BOOST_TEST(normalize_answer(" . ").empty());
}

BOOST_AUTO_TEST_CASE(numbers_are_compared_as_numbers) {
  BOOST_TEST(normalize_answer("42") == "42");
  BOOST_TEST(normalize_answer("42.0") == "42");
  BOOST_TEST(normalize_answer("+42.") == "42");
  BOOST_TEST(normalize_answer("042") == "42");
  BOOST_TEST(normalize_answer("1,000") == "1000");
  BOOST_TEST(normalize_answer("1,234,567.50") == "1234567.5");
  BOOST_TEST(normalize_answer("-3.10") == "-3.1");
  BOOST_TEST(normalize_answer("-0.0") == "0");
  BOOST_TEST(normalize_answer(".5") == "0.5");
  // Not numbers: compared as text.
  BOOST_TEST(normalize_answer("1,00") == "1,00");
  BOOST_TEST(normalize_answer("1,5") == "1,5");
  BOOST_TEST(normalize_answer("3.1.4") == "3.1.4");
  BOOST_TEST(normalize_answer("42 apples") == "42 apples");

  auto result = strategy("vote")->combine(
      input_of({success("a", "999"), success("b", "1,000"),
                success("c", "1000.00"), success("d", "+1000")}));
  BOOST_TEST(result.winner == "b");
  BOOST_TEST(result.text == "1,000");
  BOOST_TEST(result.votes[0].answer == "1000");
  BOOST_TEST(result.votes[0].members.size() == 3u);
}

BOOST_AUTO_TEST_CASE(extract_reads_the_capture_group_of_the_last_match) {
  auto vote = strategy("vote", extracting(R"(####\s*(-?[\d.,]+))"));
  auto result = vote->combine(input_of(
      {success("a", "First try: #### 41\nNo, recount.\n#### 42"),
       success("b", "6 * 7 = 42.\n#### 42.0"), success("c", "#### 41")}));
  BOOST_TEST(result.status == answer_status::ok);
  BOOST_TEST(result.winner == "a");
  BOOST_TEST(result.text == "42"); // the extracted value, as written
  BOOST_TEST(result.votes[0].answer == "42");
  BOOST_TEST(result.votes[0].text == "42");
  BOOST_TEST(result.votes[0].members.size() == 2u);
  BOOST_TEST(result.votes[1].answer == "41");
  BOOST_TEST(result.note.empty());
}

BOOST_AUTO_TEST_CASE(extract_without_a_group_reads_the_whole_last_match) {
  answer_reader reader(R"(\d+)");
  BOOST_TEST(reader.read("3 apples and 7 pears").value_or("") == "7");
  BOOST_TEST(!reader.read("no digits").has_value());
}

// Regression: std::regex recursed per character, so the docs' own regex on
// a reply of "#### " and 60,000 digits overflowed the CAF worker's stack
// and killed `tutti serve`. Model output is untrusted input.
BOOST_AUTO_TEST_CASE(extract_reads_a_huge_reply_in_linear_time) {
  answer_reader reader(R"(####\s*(-?[\d.,]+))");
  auto digits = std::string(60'000, '7');
  BOOST_TEST(reader.read("#### " + digits).value_or("") == digits);
  auto many = std::string{};
  for (int i = 0; i < 20'000; ++i)
    many += "#### " + std::to_string(i) + " ";
  BOOST_TEST(reader.read(many).value_or("") == "19999");
  answer_reader empty_matches("x*");
  BOOST_TEST(!empty_matches.read(std::string(100'000, 'y')).has_value());
}

// Regression: a 20,000-deep nested regex crashed `tutti validate`.
BOOST_AUTO_TEST_CASE(extract_that_is_too_big_or_unsupported_is_refused) {
  auto nested = std::string(20'000, '(') + "a" + std::string(20'000, ')');
  try {
    answer_reader reader(nested);
    BOOST_FAIL("a regex of 20,000 groups was accepted");
  } catch (const std::invalid_argument& e) {
    std::string what = e.what();
    BOOST_TEST(what.find("...` ") != std::string::npos); // shown cut short
    BOOST_TEST(what.size() < 300u);
  }
  auto huge = std::string{};
  for (int i = 0; i < 5000; ++i)
    huge += "[a-z]{1,100}";
  BOOST_CHECK_THROW(answer_reader{huge}, std::invalid_argument);
  try {
    answer_reader reader("(?=a)b");
    BOOST_FAIL("lookahead was accepted");
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string{e.what()} ==
               "extract: `(?=a)b` does not compile: invalid perl operator: "
               "(?=");
  }
}

BOOST_AUTO_TEST_CASE(extract_with_alternatives_reads_the_group_that_matched) {
  answer_reader reader(R"(#### (\d+)|answer is (\d+))");
  BOOST_TEST(reader.read("so the answer is 5").value_or("") == "5");
  BOOST_TEST(reader.read("#### 6").value_or("") == "6");
  BOOST_TEST(reader.remark() ==
             "extract has 2 capture groups; each match is read from the "
             "first that took part in it");
  // Said once in the answer's note, so a user can see how it was read.
  auto result = strategy("vote", extracting(R"(#### (\d+)|answer is (\d+))"))
                    ->combine(input_of({success("a", "answer is 5")}));
  BOOST_TEST(result.note == reader.remark());
}

BOOST_AUTO_TEST_CASE(replies_without_a_match_vote_for_nothing_and_are_named) {
  auto result =
      strategy("vote", extracting(R"(####\s*(\d+))"))
          ->combine(input_of({success("a", "I think it is 42"),
                              success("b", "#### 42"), success("c", "#### 41"),
                              success("d", "no idea")}));
  BOOST_TEST(result.winner == "b");
  BOOST_TEST(result.agreement == 0.5); // 1 of the 2 that answered
  BOOST_TEST(result.note == "2 replies had no answer matching extract: a, d");
  BOOST_TEST(result.votes.size() == 2u);
}

BOOST_AUTO_TEST_CASE(failed_members_do_not_vote) {
  auto result = strategy("vote")->combine(
      input_of({failed("a", failure_kind::timeout_total, "", 5),
                success("b", "blue"), failed("c", failure_kind::rate_limited),
                success("d", "red"), success("e", "blue")}));
  BOOST_TEST(result.winner == "b");
  BOOST_TEST(result.agreement == 2.0 / 3.0,
             boost::test_tools::tolerance(1e-12));
  BOOST_TEST(result.votes.size() == 2u);
  BOOST_TEST(result.note.empty());
}

BOOST_AUTO_TEST_CASE(weights_can_change_the_winner) {
  auto replies = std::vector<member_outcome>{success("small1", "yes"),
                                             success("small2", "yes"),
                                             success("large", "no")};
  auto even = strategy("vote")->combine(input_of(replies));
  BOOST_TEST(even.text == "yes");

  auto weighted = strategy("vote")->combine(input_of(replies, {1, 1, 3}));
  BOOST_TEST(weighted.winner == "large");
  BOOST_TEST(weighted.text == "no");
  BOOST_TEST(weighted.agreement == 0.6, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(weighted.votes[0].weight == 3.0);
  BOOST_TEST(weighted.votes[1].weight == 2.0);
}

BOOST_AUTO_TEST_CASE(tie_break_first_the_heavier_answer) {
  // One heavy voter beats two light ones.
  auto result = strategy("vote")->combine(
      input_of({success("a", "x"), success("b", "x"), success("c", "y")},
               {0.9, 0.9, 2.0}));
  BOOST_TEST(result.text == "y");
}

BOOST_AUTO_TEST_CASE(tie_break_then_the_answer_with_more_voters) {
  auto result = strategy("vote")->combine(
      input_of({success("a", "x"), success("b", "y"), success("c", "y")},
               {2.0, 1.0, 1.0}));
  BOOST_TEST(result.text == "y");
  BOOST_TEST(result.winner == "b");
  // Weights equal but for rounding count as equal: 0.1 + 0.2 vs 0.3.
  auto rounded = strategy("vote")->combine(
      input_of({success("a", "x"), success("b", "y"), success("c", "y")},
               {0.3, 0.1, 0.2}));
  BOOST_TEST(rounded.text == "y");
}

BOOST_AUTO_TEST_CASE(tie_break_last_the_answer_whose_first_voter_comes_first) {
  auto result = strategy("vote")->combine(
      input_of({success("a", "x"), success("b", "y"), success("c", "z"),
                success("d", "y"), success("e", "x")}));
  BOOST_TEST(result.text == "x");
  BOOST_TEST(result.winner == "a");
  BOOST_TEST_REQUIRE(result.votes.size() == 3u);
  // The table is in the same order: x (a first), y (b first), then z.
  BOOST_TEST(result.votes[0].answer == "x");
  BOOST_TEST(result.votes[1].answer == "y");
  BOOST_TEST(result.votes[2].answer == "z");
  BOOST_TEST(result.agreement == 0.4, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(fails_when_nothing_was_voted_for) {
  auto none =
      strategy("vote")->combine(input_of({failed("a", failure_kind::server)}));
  BOOST_TEST(none.status == answer_status::failed);
  BOOST_TEST(none.note == "no member succeeded");

  auto unmatched =
      strategy("vote", extracting(R"(####\s*(\d+))"))
          ->combine(input_of({success("a", "maybe 4"), success("b", "")}));
  BOOST_TEST(unmatched.status == answer_status::failed);
  BOOST_TEST(unmatched.votes.empty());
  BOOST_TEST(unmatched.winner.empty());
  BOOST_TEST(unmatched.note ==
             "2 replies had no answer matching extract: a, b");
}

BOOST_AUTO_TEST_CASE(a_regex_that_does_not_compile_is_refused_with_its_text) {
  auto message =
      invalid_argument_from([] { strategy("vote", extracting("(\\d+")); });
  BOOST_TEST(message.rfind("extract: `(\\d+` does not compile: ", 0) == 0,
             message);
}

// Acceptance: five members, each right with probability p and otherwise all
// giving the same wrong answer, so the vote is right exactly when at least
// three are: P = sum over k >= 3 of C(5,k) p^k (1-p)^(5-k). The right and
// wrong answers come in different spellings that normalization must join.
BOOST_AUTO_TEST_CASE(majority_of_five_matches_the_binomial_prediction) {
  const int trials = 20000;
  const std::vector<std::string> right = {"42", "42.0", " 42.", "+42", "042"};
  const std::vector<std::string> wrong = {"41", "41.00", "41.", "+41"};
  auto vote = strategy("vote");
  std::mt19937 rng(20240611);
  for (double p : {0.6, 0.7, 0.8}) {
    double predicted = 0;
    for (int k = 3; k <= 5; ++k) {
      double choose = k == 3 ? 10 : k == 4 ? 5 : 1;
      predicted += choose * std::pow(p, k) * std::pow(1 - p, 5 - k);
    }
    std::bernoulli_distribution is_right(p);
    std::uniform_int_distribution<size_t> pick_right(0, right.size() - 1);
    std::uniform_int_distribution<size_t> pick_wrong(0, wrong.size() - 1);
    int correct = 0;
    for (int t = 0; t < trials; ++t) {
      std::vector<member_outcome> replies;
      for (int m = 0; m < 5; ++m)
        replies.push_back(success("m" + std::to_string(m),
                                  is_right(rng) ? right[pick_right(rng)]
                                                : wrong[pick_wrong(rng)]));
      auto result = vote->combine(input_of(std::move(replies)));
      if (result.votes.front().answer == "42")
        ++correct;
    }
    double observed = double(correct) / trials;
    double standard_error = std::sqrt(predicted * (1 - predicted) / trials);
    BOOST_TEST_MESSAGE(
        "p=" << p << ": majority right in " << observed
             << " of trials, binomial prediction " << predicted
             << ", standard error " << standard_error << ", off by "
             << std::abs(observed - predicted) / standard_error << " SE");
    BOOST_TEST(std::abs(observed - predicted) < 4 * standard_error);
  }
}

// Structured answers: JSON objects and tool calls vote by what they mean,
// not how they are spelled.

namespace {

member_outcome calling(std::string label,
                       std::vector<std::pair<std::string, std::string>> calls) {
  auto outcome = success(std::move(label), "");
  for (auto& [name, arguments] : calls)
    outcome.reply.tool_calls.push_back(
        tool_call{"call_" + name, name, arguments});
  return outcome;
}

} // namespace

BOOST_AUTO_TEST_CASE(json_answers_vote_by_canonical_json) {
  auto result = strategy("vote")->combine(input_of(
      {success("a", R"({"city": "Paris", "temp": 18})"),
       success("b", "{\n  \"temp\": 18.0,\n  \"city\": \"Par\\u0069s\"\n}"),
       success("c", R"({"city":"Lyon","temp":18})"),
       success("d", R"({"temp":1.8e1,"city":"Paris"})")}));
  BOOST_TEST(result.status == answer_status::ok);
  BOOST_TEST(result.winner == "a");
  BOOST_TEST(result.text == R"({"city": "Paris", "temp": 18})");
  BOOST_TEST_REQUIRE(result.votes.size() == 2u);
  BOOST_TEST(result.votes[0].answer == R"({"city":"Paris","temp":18})");
  BOOST_TEST(members_of(result.votes[0]) ==
                 (std::vector<std::string>{"a", "b", "d"}),
             boost::test_tools::per_element());
  BOOST_TEST(result.agreement == 0.75);
}

BOOST_AUTO_TEST_CASE(tool_calls_vote_by_name_and_canonical_arguments) {
  auto result = strategy("vote")->combine(input_of(
      {calling("a", {{"get_weather", R"({"city":"Paris","unit":"c"})"}}),
       calling("b", {{"get_weather", R"({"unit": "c", "city": "Paris"})"}}),
       calling("c", {{"get_weather", R"({"city":"Lyon","unit":"c"})"}}),
       success("d", "It is sunny.")}));
  BOOST_TEST(result.status == answer_status::ok);
  BOOST_TEST(result.winner == "a");
  BOOST_TEST_REQUIRE(result.votes.size() == 3u);
  BOOST_TEST(result.votes[0].answer ==
             R"(tool calls: get_weather {"city":"Paris","unit":"c"})");
  BOOST_TEST(result.votes[0].members.size() == 2u);
  BOOST_TEST(result.agreement == 0.5);
}

BOOST_AUTO_TEST_CASE(the_same_tool_calls_in_another_order_are_one_answer) {
  auto result = strategy("vote")->combine(
      input_of({calling("a", {{"f", R"({"x":1})"}, {"g", "{}"}}),
                calling("b", {{"g", "{ }"}, {"f", R"({"x":1.0})"}}),
                calling("c", {{"f", R"({"x":2})"}})}));
  BOOST_TEST_REQUIRE(result.votes.size() == 2u);
  BOOST_TEST(result.votes[0].members.size() == 2u);
  BOOST_TEST(result.winner == "a");
}

BOOST_AUTO_TEST_CASE(canonical_json_sorts_keys_and_spells_numbers_once) {
  BOOST_TEST(*canonical_json(R"( {"b":[1, 2.50, -0.0, 1e2], "a":null} )") ==
             R"({"a":null,"b":[1,2.5,0,100]})");
  BOOST_TEST(*canonical_json(R"({"k":"\u00e9\n"})") ==
             "{\"k\":\"\xc3\xa9\\n\"}");
  BOOST_TEST(*canonical_json("12345678901234567890") == "12345678901234567890");
  BOOST_TEST(*canonical_json("0.1") == "0.1");
  BOOST_TEST(!canonical_json("{\"a\":1} trailing"));
  BOOST_TEST(!canonical_json("{"));
  // Deeper than the reader allows: no answer, and no recursion to get there.
  BOOST_TEST(
      !canonical_json(std::string(100000, '[') + std::string(100000, ']')));
}
