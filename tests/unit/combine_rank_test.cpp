// `combine: rank`: a judge model orders the replies; the call it asks for,
// the rankings it understands, and its fallbacks.

#include <boost/test/unit_test.hpp>

#include "plugins/combine/combine_support.hpp"
#include "plugins/combine/rank/rank.hpp"
#include "tests/unit/combine_test_support.hpp"

using namespace tutti;
using namespace tutti::test;
using tutti::combine_support::parse_ranking;

namespace {

combine_options ranked_by(std::string judge, std::string rubric = {}) {
  combine_options options;
  options.set("judge", std::move(judge));
  options.set("rubric", std::move(rubric));
  return options;
}

/// Four members, the third failed: the candidates are a (1), b (2), d (3).
combine_input four_members() {
  return input_of({success("a", "reply a", 300), success("b", "reply b", 200),
                   failed("c", failure_kind::overloaded, "HTTP 529"),
                   success("d", "reply d", 100)});
}

combine_input ranked(combine_input input, member_outcome verdict) {
  verdict.member = "judge";
  input.calls.push_back(std::move(verdict));
  return input;
}

std::vector<size_t> order(std::string_view reply, size_t count = 3) {
  return parse_ranking(reply, count).value_or(std::vector<size_t>{});
}

const std::vector<size_t> three_one_two = {3, 1, 2};

} // namespace

BOOST_AUTO_TEST_CASE(asks_the_judge_to_order_every_candidate) {
  auto rank = strategy("rank", ranked_by("referee", "fewest errors"));
  auto result = rank->combine(four_members());
  BOOST_TEST_REQUIRE(result.call.has_value());
  BOOST_TEST(result.call->provider == "referee");
  BOOST_TEST(result.call->label == "judge");
  BOOST_TEST(!result.call->system.empty());
  auto& prompt = result.call->prompt;
  BOOST_TEST(prompt.find("What is 6 times 7?") != std::string::npos);
  BOOST_TEST(prompt.find("Candidate 1:\nreply a\n\n") != std::string::npos);
  BOOST_TEST(prompt.find("Candidate 2:\nreply b\n\n") != std::string::npos);
  BOOST_TEST(prompt.find("Candidate 3:\nreply d\n\n") != std::string::npos);
  BOOST_TEST(prompt.find("fewest errors") != std::string::npos);
  BOOST_TEST(prompt.find("Ranking: A > B > C") != std::string::npos);
  BOOST_TEST(rank->providers_called() == (std::vector<std::string>{"referee"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(the_ranking_lists_member_labels_best_first) {
  auto result =
      strategy("rank", ranked_by("referee"))
          ->combine(ranked(four_members(), success("", "Ranking: 3 > 1 > 2")));
  BOOST_TEST(result.status == answer_status::ok);
  BOOST_TEST(result.ranking == (std::vector<std::string>{"d", "a", "b"}),
             boost::test_tools::per_element());
  BOOST_TEST(result.winner == "d");
  BOOST_TEST(result.text == "reply d");
  BOOST_TEST(result.note.empty());
}

BOOST_AUTO_TEST_CASE(candidates_the_judge_left_out_follow_in_member_order) {
  auto result = strategy("rank", ranked_by("referee"))
                    ->combine(ranked(four_members(), success("", "2")));
  BOOST_TEST(result.ranking == (std::vector<std::string>{"b", "a", "d"}),
             boost::test_tools::per_element());
  BOOST_TEST(result.winner == "b");
  BOOST_TEST(result.note == "the judge ranked 1 of 3 candidates; the rest "
                            "follow in member order");
}

BOOST_AUTO_TEST_CASE(rankings_are_read_in_the_shapes_models_write) {
  BOOST_TEST(order("3 > 1 > 2") == three_one_two,
             boost::test_tools::per_element());
  BOOST_TEST(order("Candidate 3 > Candidate 1 > Candidate 2") == three_one_two,
             boost::test_tools::per_element());
  BOOST_TEST(order("[3, 1, 2]") == three_one_two,
             boost::test_tools::per_element());
  BOOST_TEST(order(R"({"ranking": [3, 1, 2]})") == three_one_two,
             boost::test_tools::per_element());
  BOOST_TEST(order("3, 1, 2") == three_one_two,
             boost::test_tools::per_element());
  BOOST_TEST(order("3\n1\n2\n") == three_one_two,
             boost::test_tools::per_element());
  BOOST_TEST(order("1. Candidate 3\n2. Candidate 1\n3. Candidate 2") ==
                 three_one_two,
             boost::test_tools::per_element());
  BOOST_TEST(order("1) Candidate 3 is right\n2) Candidate 1 rounds 41.5\n"
                   "3) Candidate 2 is off by 2") == three_one_two,
             boost::test_tools::per_element());
  BOOST_TEST(order("Candidate 1 rounds badly, candidate 2 is off.\n"
                   "Ranking:\n3\n1\n2") == three_one_two,
             boost::test_tools::per_element());
  BOOST_TEST(order("3 > 3 > 1") == (std::vector<size_t>{3, 1}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(rankings_naming_a_candidate_out_of_range_are_refused) {
  BOOST_TEST(!parse_ranking("3 > 1 > 4", 3).has_value());
  BOOST_TEST(!parse_ranking("[0, 1, 2]", 3).has_value());
  BOOST_TEST(!parse_ranking("I cannot rank these.", 3).has_value());
  BOOST_TEST(!parse_ranking("", 3).has_value());
}

BOOST_AUTO_TEST_CASE(a_failed_or_unreadable_judge_falls_back_to_vote) {
  auto input = input_of({success("a", "42", 300), success("b", "41", 200),
                         success("c", "42", 100)});
  auto rank = strategy("rank", ranked_by("referee"));
  auto failed_judge = rank->combine(
      ranked(input, failed("judge", failure_kind::rate_limited, "HTTP 429")));
  BOOST_TEST(failed_judge.winner == "a");
  BOOST_TEST(failed_judge.votes.size() == 2u);
  BOOST_TEST(failed_judge.ranking.empty());
  BOOST_TEST(failed_judge.note ==
             "the judge failed (rate_limited: HTTP 429); fell back to vote");

  auto unreadable = rank->combine(ranked(input, success("", "5 > 4")));
  BOOST_TEST(unreadable.winner == "a");
  BOOST_TEST(unreadable.note == "the judge's reply ranked no candidates from "
                                "1 to 3 (\"5 > 4\"); fell back to vote");
}

BOOST_AUTO_TEST_CASE(with_fewer_than_two_successes_nothing_is_ranked) {
  auto rank = strategy("rank", ranked_by("referee"));
  auto one = rank->combine(
      input_of({success("a", "alone"), failed("b", failure_kind::network)}));
  BOOST_TEST(!one.call.has_value());
  BOOST_TEST(one.winner == "a");
  BOOST_TEST(one.ranking == (std::vector<std::string>{"a"}),
             boost::test_tools::per_element());
  BOOST_TEST(one.note == "only a succeeded; the judge was not asked");
  auto none = rank->combine(input_of({failed("b", failure_kind::network)}));
  BOOST_TEST(none.status == answer_status::failed);
  BOOST_TEST(!none.call.has_value());
}

BOOST_AUTO_TEST_CASE(a_judge_must_be_named_to_rank) {
  BOOST_TEST(invalid_argument_from([] { strategy("rank"); }) ==
             "combine: rank needs `judge:` naming the provider that ranks");
}
