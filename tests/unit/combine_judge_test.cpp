// `combine: judge`: a judge model names the best reply; the call it asks
// for, the judge replies it understands, and its fallbacks.

#include <boost/test/unit_test.hpp>

#include "plugins/combine/combine_support.hpp"
#include "plugins/combine/judge/judge.hpp"
#include "tests/unit/combine_test_support.hpp"

using namespace tutti;
using namespace tutti::test;
using tutti::combine_support::parse_choice;

namespace {

combine_options judged_by(std::string judge, std::string rubric = {}) {
  combine_options options;
  options.set("judge", std::move(judge));
  options.set("rubric", std::move(rubric));
  return options;
}

/// Three members, the second failed: the candidates are alpha (1) and
/// gamma (2).
combine_input three_members() {
  return input_of({success("alpha", "It is 41.", 300),
                   failed("beta", failure_kind::server, "HTTP 500"),
                   success("gamma", "6 x 7 = 42", 200)});
}

/// `input` after the aggregator made the judge's call.
combine_input judged(combine_input input, member_outcome verdict) {
  verdict.member = "judge";
  input.calls.push_back(std::move(verdict));
  return input;
}

} // namespace

BOOST_AUTO_TEST_CASE(asks_the_judge_with_the_question_and_numbered_candidates) {
  auto judge = strategy("judge", judged_by("referee", "the shortest correct"));
  auto result = judge->combine(three_members());
  BOOST_TEST_REQUIRE(result.call.has_value());
  BOOST_TEST(result.call->provider == "referee");
  BOOST_TEST(result.call->label == "judge");
  BOOST_TEST(!result.call->streams_answer);
  BOOST_TEST(!result.call->system.empty());
  auto& prompt = result.call->prompt;
  BOOST_TEST(prompt.find("What is 6 times 7?") != std::string::npos);
  BOOST_TEST(prompt.find("Candidate 1:\nIt is 41.\n\n") != std::string::npos);
  BOOST_TEST(prompt.find("Candidate 2:\n6 x 7 = 42\n\n") != std::string::npos);
  BOOST_TEST(prompt.find("Candidate 3") == std::string::npos);
  BOOST_TEST(prompt.find("the shortest correct") != std::string::npos);
  BOOST_TEST(prompt.find("Best: N") != std::string::npos);
  // The judge sees replies, not who wrote them.
  BOOST_TEST(prompt.find("alpha") == std::string::npos);
  BOOST_TEST(prompt.find("gamma") == std::string::npos);
  BOOST_TEST(judge->providers_called() == (std::vector<std::string>{"referee"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_prompt_of_ones_own_is_filled_and_sent_alone) {
  auto options = judged_by("referee", "brevity");
  options.set("prompt", "Q={{question}}|R={{rubric}}|{{candidates}}|{{other}}");
  auto input = input_of({success("a", "one {{rubric}}"), success("b", "two")},
                        {}, "Why?");
  auto result = strategy("judge", options)->combine(input);
  BOOST_TEST_REQUIRE(result.call.has_value());
  // Text put in is not searched again: a reply's "{{rubric}}" stays.
  BOOST_TEST(result.call->prompt ==
             "Q=Why?|R=brevity|Candidate 1:\none {{rubric}}\n\nCandidate "
             "2:\ntwo\n\n|{{other}}");
  BOOST_TEST(result.call->system.empty());
}

BOOST_AUTO_TEST_CASE(the_named_candidate_becomes_the_answer) {
  auto judge = strategy("judge", judged_by("referee"));
  auto result = judge->combine(judged(three_members(), success("", "Best: 2")));
  BOOST_TEST(!result.call.has_value());
  BOOST_TEST(result.status == answer_status::ok);
  BOOST_TEST(result.winner == "gamma");
  BOOST_TEST(result.text == "6 x 7 = 42");
  BOOST_TEST(result.note.empty());
}

BOOST_AUTO_TEST_CASE(judge_replies_are_read_in_the_shapes_models_write) {
  BOOST_TEST(parse_choice("2", 3).value_or(0) == 2u);
  BOOST_TEST(parse_choice("Best: 2", 3).value_or(0) == 2u);
  BOOST_TEST(parse_choice(R"({"best": 2})", 3).value_or(0) == 2u);
  BOOST_TEST(parse_choice(R"({"choice": "2"})", 3).value_or(0) == 2u);
  BOOST_TEST(
      parse_choice(R"({"winner": 3, "reason": "1 is wrong"})", 3).value_or(0) ==
      3u);
  BOOST_TEST(parse_choice("Candidate 2", 3).value_or(0) == 2u);
  BOOST_TEST(parse_choice("**2**", 3).value_or(0) == 2u);
  BOOST_TEST(parse_choice("The best is #2.", 3).value_or(0) == 2u);
  BOOST_TEST(parse_choice("The 2nd candidate.", 3).value_or(0) == 2u);
  BOOST_TEST(
      parse_choice("Candidate 2 is the best, 1 is close.", 3).value_or(0) ==
      2u);
  BOOST_TEST(parse_choice("Candidate 1 miscounts. Candidate 3 is right.\n"
                          "Best: 3",
                          3)
                 .value_or(0) == 3u);
  BOOST_TEST(parse_choice("I choose candidate 3 over what gpt-4o wrote", 3)
                 .value_or(0) == 3u);
  BOOST_TEST(parse_choice("The best answer is 2; the second best is 1.", 3)
                 .value_or(0) == 2u);
}

BOOST_AUTO_TEST_CASE(judge_replies_naming_no_candidate_in_range_are_refused) {
  BOOST_TEST(!parse_choice("Best: 4", 3).has_value());
  BOOST_TEST(!parse_choice("0", 3).has_value());
  BOOST_TEST(
      !parse_choice("Candidate 1 says 5 but the best: 7", 3).has_value());
  BOOST_TEST(!parse_choice("None of them is right.", 3).has_value());
  BOOST_TEST(!parse_choice("1.5", 3).has_value());
  BOOST_TEST(!parse_choice("", 3).has_value());
}

// Regression: each verdict word read its clause to the end, so a judge's
// reply of "best best best ..." (2 MB here) took hours of a worker thread;
// a clause is now read once.
BOOST_AUTO_TEST_CASE(a_reply_full_of_verdict_words_is_read_in_one_pass) {
  std::string reply;
  for (int i = 0; i < 400000; ++i)
    reply += "best ";
  reply += ", best: 2";
  BOOST_TEST(parse_choice(reply, 3).value_or(0) == 2u);
}

BOOST_AUTO_TEST_CASE(a_failed_judge_falls_back_to_vote) {
  auto input = input_of({success("a", "42", 500), success("b", "41", 100),
                         success("c", "42.0", 900)});
  auto result =
      strategy("judge", judged_by("referee"))
          ->combine(judged(input, failed("judge", failure_kind::timeout_total,
                                         "no reply within 30 s")));
  BOOST_TEST(result.status == answer_status::ok);
  BOOST_TEST(result.winner == "a");
  BOOST_TEST(result.text == "42");
  BOOST_TEST(result.votes.size() == 2u);
  BOOST_TEST(result.agreement == 2.0 / 3.0,
             boost::test_tools::tolerance(1e-12));
  BOOST_TEST(result.note == "the judge failed (timeout_total: no reply within "
                            "30 s); fell back to vote");
}

BOOST_AUTO_TEST_CASE(an_unreadable_verdict_falls_back_to_vote) {
  auto result =
      strategy("judge", judged_by("referee"))
          ->combine(judged(three_members(),
                           success("", "They are both fine.\nBest: 9")));
  BOOST_TEST(result.status == answer_status::ok);
  BOOST_TEST(result.winner == "alpha"); // a 1-1 vote: member order
  BOOST_TEST(result.note ==
             "the judge's reply named no candidate from 1 to 2 (\"They are "
             "both fine. Best: 9\"); fell back to vote");
  auto empty = strategy("judge", judged_by("referee"))
                   ->combine(judged(three_members(), success("", " \n")));
  BOOST_TEST(empty.note == "the judge's reply was empty; fell back to vote");
}

BOOST_AUTO_TEST_CASE(when_vote_has_no_answer_either_first_decides) {
  auto options = judged_by("referee");
  options.set("extract", R"(####\s*(\d+))");
  auto input = input_of({success("a", "42", 500), success("b", "41", 100)});
  auto result = strategy("judge", options)
                    ->combine(judged(input, failed("judge", failure_kind::auth,
                                                   "key refused")));
  BOOST_TEST(result.status == answer_status::ok);
  BOOST_TEST(result.winner == "b"); // finished first
  BOOST_TEST(result.note ==
             "the judge failed (auth: key refused); vote found no answer (2 "
             "replies had no answer matching extract: a, b); fell back to "
             "first");
}

BOOST_AUTO_TEST_CASE(with_fewer_than_two_successes_the_judge_is_not_asked) {
  auto judge = strategy("judge", judged_by("referee"));
  auto one = judge->combine(
      input_of({failed("a", failure_kind::server), success("b", "only me")}));
  BOOST_TEST(!one.call.has_value());
  BOOST_TEST(one.status == answer_status::ok);
  BOOST_TEST(one.winner == "b");
  BOOST_TEST(one.text == "only me");
  BOOST_TEST(one.note == "only b succeeded; the judge was not asked");

  auto none = judge->combine(input_of({failed("a", failure_kind::server)}));
  BOOST_TEST(!none.call.has_value());
  BOOST_TEST(none.status == answer_status::failed);
  BOOST_TEST(none.note == "no member succeeded; the judge was not asked");
}

BOOST_AUTO_TEST_CASE(a_judge_must_be_named) {
  BOOST_TEST(invalid_argument_from([] { strategy("judge"); }) ==
             "combine: judge needs `judge:` naming the provider that judges");
  auto options = judged_by("referee");
  options.set("extract", "[");
  BOOST_TEST(invalid_argument_from([&] {
               strategy("judge", options);
             }).rfind("extract: `[` does not compile", 0) == 0);
}
