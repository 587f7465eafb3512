// Which members gave the answer the ensemble chose (`calls.agreed` in the
// store): read from the vote table of answers the real strategies make, for
// every family: a vote, a strategy that fell back to one, a debate settled
// in its first round or later, and those with no vote table.

#include <boost/test/unit_test.hpp>

#include <optional>
#include <string>
#include <vector>

#include "engine/src/member_agreement.hpp"
#include "tests/unit/combine_test_support.hpp"

using namespace tutti;
using namespace tutti::test;

namespace {

using flags = std::vector<std::optional<bool>>;

/// The answer the aggregator builds from `input` (its members and the
/// strategy's calls so far) and the strategy's verdict.
ensemble_answer answer_of(const combine_input& input, const combined& verdict) {
  ensemble_answer a;
  a.members = input.outcomes;
  a.combiner_calls = input.calls;
  a.status = verdict.status;
  a.text = verdict.text;
  a.winner = verdict.winner;
  a.votes = verdict.votes;
  a.agreement = verdict.agreement;
  a.ranking = verdict.ranking;
  a.rounds = verdict.rounds;
  return a;
}

/// `flags` as text, so that a failed check shows all of them:
/// "1 0 - 1" (agreed, disagreed, nothing to compare).
std::string shown(const flags& f) {
  std::string out;
  for (auto& one : f)
    out += std::string(out.empty() ? "" : " ") + (!one   ? "-"
                                                  : *one ? "1"
                                                         : "0");
  return out;
}

combine_options with(std::string name, std::string value) {
  combine_options options;
  options.set(name, std::move(value));
  return options;
}

/// `input` after the aggregator made the judge's call.
combine_input judged(combine_input input, member_outcome verdict) {
  verdict.member = "judge";
  input.calls.push_back(std::move(verdict));
  return input;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_vote_flags_the_winners_row_and_the_dissenters) {
  // a and d say 42, b says 41, c failed, e's reply is empty (no answer).
  auto input = input_of({success("a", "42"), success("b", "41"),
                         failed("c", failure_kind::rate_limited, "HTTP 429"),
                         success("d", " 42. "), success("e", "  ")});
  auto verdict = strategy("vote")->combine(input);
  BOOST_REQUIRE(verdict.status == answer_status::ok);
  auto agreed = member_agreement(answer_of(input, verdict));
  BOOST_TEST(shown(agreed) == "1 0 - 1 -");
}

BOOST_AUTO_TEST_CASE(the_winners_row_wins_by_weight_not_by_count) {
  // b alone outweighs a and c together: b agrees, a and c do not.
  auto input = input_of(
      {success("a", "Paris"), success("b", "Lyon"), success("c", "paris.")},
      {1.0, 3.0, 1.0});
  auto verdict = strategy("vote")->combine(input);
  BOOST_REQUIRE(verdict.winner == "b");
  BOOST_TEST(shown(member_agreement(answer_of(input, verdict))) == "0 1 0");
}

BOOST_AUTO_TEST_CASE(a_vote_with_extract_compares_the_extracted_answers) {
  auto input =
      input_of({success("a", "I think... ANSWER: 7"), success("b", "ANSWER: 8"),
                success("c", "no idea"), success("d", "ANSWER: 7")});
  auto verdict =
      strategy("vote", with("extract", "ANSWER: (\\d+)"))->combine(input);
  BOOST_TEST(shown(member_agreement(answer_of(input, verdict))) == "1 0 - 1");
}

BOOST_AUTO_TEST_CASE(every_member_agrees_when_all_gave_the_same_answer) {
  auto input = input_of({success("a", "yes"), success("b", "Yes.")});
  auto verdict = strategy("vote")->combine(input);
  BOOST_TEST(shown(member_agreement(answer_of(input, verdict))) == "1 1");
}

BOOST_AUTO_TEST_CASE(a_failed_vote_compares_nothing) {
  auto input = input_of({failed("a", failure_kind::timeout_total),
                         failed("b", failure_kind::server)});
  auto verdict = strategy("vote")->combine(input);
  BOOST_REQUIRE(verdict.status == answer_status::failed);
  BOOST_TEST(shown(member_agreement(answer_of(input, verdict))) == "- -");
}

BOOST_AUTO_TEST_CASE(a_judge_that_decided_has_no_vote_table) {
  auto input = input_of({success("alpha", "It is 41."),
                         failed("beta", failure_kind::server, "HTTP 500"),
                         success("gamma", "6 x 7 = 42")});
  auto judge = strategy("judge", with("judge", "referee"));
  input = judged(input, success("referee", "Best: 2"));
  auto verdict = judge->combine(input);
  BOOST_REQUIRE(verdict.winner == "gamma");
  BOOST_REQUIRE(verdict.votes.empty());
  BOOST_TEST(shown(member_agreement(answer_of(input, verdict))) == "- - -");
}

BOOST_AUTO_TEST_CASE(a_judge_that_fell_back_to_a_vote_is_settled_by_it) {
  auto input = input_of(
      {success("alpha", "42"), success("beta", "41"), success("gamma", "42")});
  auto judge = strategy("judge", with("judge", "referee"));
  input = judged(input, failed("referee", failure_kind::timeout_total));
  auto verdict = judge->combine(input);
  BOOST_REQUIRE(verdict.note.find("fell back to vote") != std::string::npos);
  BOOST_TEST(shown(member_agreement(answer_of(input, verdict))) == "1 0 1");
}

BOOST_AUTO_TEST_CASE(first_collect_and_rank_style_answers_compare_nothing) {
  auto input = input_of({success("a", "42"), success("b", "41")});
  for (auto* name : {"first", "collect"}) {
    auto verdict = strategy(name)->combine(input);
    BOOST_TEST(shown(member_agreement(answer_of(input, verdict))) == "- -",
               name);
  }
  // An answer with a winner and a ranking but no vote table.
  ensemble_answer ranked;
  ranked.members = input.outcomes;
  ranked.winner = "b";
  ranked.ranking = {"b", "a"};
  BOOST_TEST(shown(member_agreement(ranked)) == "- -");
}

BOOST_AUTO_TEST_CASE(a_debate_settled_in_its_first_round_is_a_vote) {
  auto input = input_of({success("a", "The answer is 7"),
                         success("b", "the answer is 7."),
                         failed("c", failure_kind::server)});
  auto verdict = strategy("debate", with("rounds", "3"))->combine(input);
  BOOST_REQUIRE(verdict.calls.empty());
  BOOST_REQUIRE(verdict.rounds == 1);
  BOOST_TEST(shown(member_agreement(answer_of(input, verdict))) == "1 1 -");
}

BOOST_AUTO_TEST_CASE(a_debate_past_its_first_round_compares_nothing) {
  // The vote counted the second round's turns (combiner calls), not the
  // replies the member calls hold: a said 41 first, then 42.
  auto input = input_of({success("a", "41"), success("b", "42")});
  for (auto turn : {success("a", "42"), success("b", "42")}) {
    turn.member += "@round2";
    input.calls.push_back(std::move(turn));
  }
  auto verdict = strategy("debate", with("rounds", "2"))->combine(input);
  BOOST_REQUIRE(verdict.status == answer_status::ok);
  BOOST_REQUIRE(verdict.rounds == 2);
  BOOST_REQUIRE(!verdict.votes.empty());
  BOOST_TEST(shown(member_agreement(answer_of(input, verdict))) == "- -");
}

BOOST_AUTO_TEST_CASE(a_winner_in_no_row_compares_nothing) {
  ensemble_answer odd;
  odd.members = {success("a", "1"), success("b", "2")};
  odd.winner = "z";
  odd.votes = {vote_row{"1", "1", 1, {"a"}}, vote_row{"2", "2", 1, {"b"}}};
  BOOST_TEST(shown(member_agreement(odd)) == "- -");
  odd.winner.clear();
  BOOST_TEST(shown(member_agreement(odd)) == "- -");
  odd.winner = "b";
  BOOST_TEST(shown(member_agreement(odd)) == "0 1");
}
