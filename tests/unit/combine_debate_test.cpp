// `combine: debate`: the rounds it asks for, what each member is shown, its
// early stop on agreement, how failures are carried, and its last word
// (vote, or a judge when the answers still differ).

#include <boost/test/unit_test.hpp>

#include <string>

#include "plugins/combine/debate/debate.hpp"
#include "tests/unit/combine_test_support.hpp"

using namespace tutti;
using namespace tutti::test;

namespace {

combine_options with_rounds(std::string rounds) {
  combine_options options;
  options.set("rounds", std::move(rounds));
  return options;
}

/// A round's outcomes as the aggregator appends them: one per member,
/// labelled `member@roundN`.
void add_round(combine_input& input, int round,
               std::vector<member_outcome> turns) {
  for (auto& turn : turns) {
    turn.member += "@round" + std::to_string(round);
    input.calls.push_back(std::move(turn));
  }
}

combine_input three_disagree() {
  return input_of({success("a", "42"), success("b", "41"),
                   failed("c", failure_kind::rate_limited, "HTTP 429"),
                   success("d", "42")});
}

} // namespace

BOOST_AUTO_TEST_CASE(the_second_round_shows_each_member_the_others_answers) {
  auto debate = strategy("debate", with_rounds("3"));
  auto result = debate->combine(three_disagree());
  BOOST_REQUIRE_EQUAL(result.calls.size(), 3u); // a, b, d: c takes no part
  auto& b = result.calls[1];
  BOOST_TEST(b.member == "b");
  BOOST_TEST(b.provider == "p-b");
  BOOST_TEST(b.label == "b@round2");
  BOOST_TEST(b.continues_question);
  BOOST_TEST(b.previous == "41"); // its own answer, as its previous turn
  BOOST_TEST(b.prompt.find("Participant 1:\n42\n\nParticipant 2:\n42\n\n") !=
             std::string::npos);
  // Others are shown unnamed, and a failure is nobody's answer.
  for (auto* name : {"a", "d", "p-a", "HTTP 429"})
    BOOST_TEST(b.prompt.find(std::string{"\n"} + name + "\n") ==
                   std::string::npos,
               name);
  BOOST_TEST(debate->providers_called().empty());
}

BOOST_AUTO_TEST_CASE(stops_early_when_every_latest_answer_agrees) {
  auto debate = strategy("debate", with_rounds("4"));
  auto input = three_disagree();
  add_round(input, 2,
            {success("a", "42"), success("b", "42."), success("d", " 42 ")});
  auto result = debate->combine(input);
  BOOST_TEST(result.calls.empty());
  BOOST_TEST(!result.call.has_value());
  BOOST_TEST(result.status == answer_status::ok);
  BOOST_TEST(result.rounds == 2);
  BOOST_TEST(result.agreement == 1.0);
  BOOST_TEST(result.note.find("all agreed after round 2 of 4") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(members_that_agree_at_once_are_not_asked_again) {
  auto debate = strategy("debate", with_rounds("3"));
  auto result = debate->combine(input_of(
      {success("a", "The answer is 7"), success("b", "the answer is 7.")}));
  BOOST_TEST(result.calls.empty());
  BOOST_TEST(result.rounds == 1);
  BOOST_TEST(result.note.find("all agreed after round 1") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(after_the_last_round_the_vote_decides) {
  auto debate = strategy("debate", with_rounds("2"));
  auto input = three_disagree();
  add_round(input, 2,
            {success("a", "42"), success("b", "41"), success("d", "42")});
  auto result = debate->combine(input);
  BOOST_TEST(result.calls.empty());
  BOOST_TEST(result.status == answer_status::ok);
  BOOST_TEST(result.text == "42");
  BOOST_TEST(result.winner == "a");
  BOOST_TEST(result.rounds == 2);
  BOOST_REQUIRE_EQUAL(result.votes.size(), 2u);
  BOOST_TEST(result.note.find("after 2 rounds") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_member_failing_a_later_round_keeps_its_last_answer) {
  auto debate = strategy("debate", with_rounds("3"));
  auto input = three_disagree();
  add_round(input, 2,
            {success("a", "40"),
             failed("b", failure_kind::timeout_total, "slow"),
             success("d", "40")});
  auto result = debate->combine(input);
  // Round 3: b is asked again, shown the others' latest (40), keeping 41.
  BOOST_REQUIRE_EQUAL(result.calls.size(), 3u);
  BOOST_TEST(result.calls[1].label == "b@round3");
  BOOST_TEST(result.calls[1].previous == "41");
  BOOST_TEST(result.calls[1].prompt.find("Participant 1:\n40\n\n") !=
             std::string::npos);
  add_round(input, 3,
            {success("a", "40"), success("b", "41"), success("d", "40")});
  result = debate->combine(input);
  BOOST_TEST(result.text == "40");
  BOOST_TEST(result.note.find("the turn b@round2 failed (timeout_total: slow), "
                              "so its previous answer stood") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_round_lost_whole_ends_the_debate_with_the_last_answers) {
  auto debate = strategy("debate", with_rounds("5"));
  auto input = three_disagree();
  auto skipped = [](std::string label) {
    return failed(std::move(label), failure_kind::timeout_total,
                  "skipped: the round could not finish before the ensemble "
                  "deadline");
  };
  add_round(input, 2, {skipped("a"), skipped("b"), skipped("d")});
  auto result = debate->combine(input);
  BOOST_TEST(result.calls.empty());
  BOOST_TEST(result.text == "42");
  BOOST_TEST(result.rounds == 1);
  BOOST_TEST(result.note.find("round 2 was lost") == 0u);
  BOOST_TEST(
      result.note.find("could not finish before the ensemble deadline") !=
      std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_judge_decides_when_the_answers_still_differ) {
  combine_options options;
  options.set("rounds", "2");
  options.set("judge", "referee");
  options.set("prompt", "Others said:\n{{candidates}}Update?");
  auto debate = strategy("debate", options);
  BOOST_TEST(debate->providers_called() ==
                 (std::vector<std::string>{"referee"}),
             boost::test_tools::per_element());
  auto input = three_disagree();
  BOOST_TEST(
      debate->combine(input).calls[0].prompt ==
      "Others said:\nParticipant 1:\n41\n\nParticipant 2:\n42\n\nUpdate?");
  add_round(input, 2,
            {success("a", "40"), success("b", "41"), success("d", "42")});
  auto ask = debate->combine(input);
  BOOST_REQUIRE(ask.call.has_value());
  BOOST_TEST(ask.call->provider == "referee");
  // The judge sees the last answers, not the first ones or the debate's
  // own prompt.
  BOOST_TEST(ask.call->prompt.find("Candidate 1:\n40") != std::string::npos);
  BOOST_TEST(ask.call->prompt.find("Candidate 3:\n42") != std::string::npos);
  BOOST_TEST(ask.call->prompt.find("Update?") == std::string::npos);
  auto verdict = success("judge", "Best: 2");
  input.calls.push_back(verdict);
  auto result = debate->combine(input);
  BOOST_TEST(result.text == "41");
  BOOST_TEST(result.winner == "b");
  BOOST_TEST(result.rounds == 2);
  // A judge that fails: the vote over the last answers.
  input.calls.back() = failed("judge", failure_kind::server, "HTTP 500");
  result = debate->combine(input);
  BOOST_TEST(result.status == answer_status::ok);
  BOOST_TEST(result.note.find("the judge failed") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(agreement_is_read_with_extract) {
  combine_options options;
  options.set("rounds", "3");
  options.set("extract", "answer is (\\d+)");
  auto debate = strategy("debate", options);
  auto result = debate->combine(
      input_of({success("a", "I think the answer is 12"),
                success("b", "Working it out, the answer is 12.")}));
  BOOST_TEST(result.calls.empty());
  BOOST_TEST(result.rounds == 1);
}

BOOST_AUTO_TEST_CASE(one_answer_is_no_debate) {
  auto debate = strategy("debate");
  auto result = debate->combine(
      input_of({success("a", "7"), failed("b", failure_kind::server)}));
  BOOST_TEST(result.calls.empty());
  BOOST_TEST(result.text == "7");
  BOOST_TEST(result.note == "only one member answered, so there was no debate");
}

BOOST_AUTO_TEST_CASE(rounds_must_be_a_small_whole_number) {
  for (auto* bad : {"0", "11", "-1", "two", "", "1.5", "999999999999"})
    BOOST_TEST(invalid_argument_from([&] {
                 strategy("debate", with_rounds(bad));
               }).find("rounds must be a whole number from 1 to 10") !=
                   std::string::npos,
               bad);
  BOOST_TEST(invalid_argument_from([] {
               strategy("debate", with_rounds("10"));
             }).empty());
}
