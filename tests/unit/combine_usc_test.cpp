// `combine: usc` (universal self-consistency): a judge model names the reply
// most consistent with the others; the call it asks for, the replies it
// understands, and its fallbacks.

#include <boost/test/unit_test.hpp>

#include <string>

#include "plugins/combine/usc/usc.hpp"
#include "tests/unit/combine_test_support.hpp"

using namespace tutti;
using namespace tutti::test;

namespace {

combine_options judged_by(std::string judge) {
  combine_options options;
  options.set("judge", std::move(judge));
  return options;
}

/// Four members, the third failed: the candidates are alpha (1), beta (2)
/// and delta (3), two of which agree.
combine_input four_members() {
  return input_of({success("alpha", "Paris, on the Seine.", 300),
                   success("beta", "Lyon.", 200),
                   failed("gamma", failure_kind::server, "HTTP 500"),
                   success("delta", "The capital is Paris.", 250)});
}

combine_input judged(combine_input input, member_outcome verdict) {
  verdict.member = "usc";
  input.calls.push_back(std::move(verdict));
  return input;
}

} // namespace

BOOST_AUTO_TEST_CASE(asks_for_the_most_consistent_of_the_numbered_replies) {
  auto usc = strategy("usc", judged_by("referee"));
  auto result = usc->combine(four_members());
  BOOST_TEST_REQUIRE(result.call.has_value());
  BOOST_TEST(result.call->provider == "referee");
  BOOST_TEST(result.call->label == "usc");
  BOOST_TEST(!result.call->streams_answer);
  auto& prompt = result.call->prompt;
  BOOST_TEST(prompt.find("What is 6 times 7?") != std::string::npos);
  BOOST_TEST(prompt.find("Candidate 1:\nParis, on the Seine.\n\n") !=
             std::string::npos);
  BOOST_TEST(prompt.find("Candidate 3:\nThe capital is Paris.\n\n") !=
             std::string::npos);
  BOOST_TEST(prompt.find("Candidate 4") == std::string::npos);
  BOOST_TEST(prompt.find("most consistent response based on majority "
                         "consensus") != std::string::npos);
  // The judge sees replies, not who wrote them, nor the failure.
  for (auto* name : {"alpha", "beta", "gamma", "delta", "HTTP 500"})
    BOOST_TEST(prompt.find(name) == std::string::npos, name);
  BOOST_TEST(usc->providers_called() == (std::vector<std::string>{"referee"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(the_named_candidate_becomes_the_answer_with_a_note) {
  auto result = strategy("usc", judged_by("referee"))
                    ->combine(judged(four_members(),
                                     success("", "Candidates 1 and 3 agree. "
                                                 "The most consistent "
                                                 "response is Candidate 3.")));
  BOOST_TEST(!result.call.has_value());
  BOOST_TEST(result.status == answer_status::ok);
  BOOST_TEST(result.winner == "delta");
  BOOST_TEST(result.text == "The capital is Paris.");
  BOOST_TEST(result.note ==
             "the judge found candidate 3 of 3 the most consistent");
}

BOOST_AUTO_TEST_CASE(usc_replies_are_read_after_the_last_consistent) {
  // The number after "consistent" wins over earlier ones.
  BOOST_TEST(parse_consistent_choice(
                 "Candidates 1 and 3 agree; the most consistent response is "
                 "Candidate 3",
                 3)
                 .value_or(0) == 3u);
  BOOST_TEST(parse_consistent_choice("The MOST CONSISTENT response is "
                                     "Candidate 2.",
                                     3)
                 .value_or(0) == 2u);
  // Without the word, a judge's reply is read as a judge's.
  BOOST_TEST(parse_consistent_choice("Best: 2", 3).value_or(0) == 2u);
  BOOST_TEST(parse_consistent_choice("2", 3).value_or(0) == 2u);
  // A number out of range, or huge, names no candidate.
  BOOST_TEST(!parse_consistent_choice("most consistent: Candidate 4", 3));
  BOOST_TEST(!parse_consistent_choice(
      "most consistent: Candidate 99999999999999999999999999999", 3));
  BOOST_TEST(!parse_consistent_choice("No response is consistent.", 3));
  // Read in one pass, however long.
  std::string reply;
  for (int i = 0; i < 200000; ++i)
    reply += "consistent ";
  reply += "is Candidate 2";
  BOOST_TEST(parse_consistent_choice(reply, 3).value_or(0) == 2u);
}

BOOST_AUTO_TEST_CASE(a_failed_or_vague_judge_falls_back_to_vote) {
  auto input = input_of({success("a", "42", 500), success("b", "41", 100),
                         success("c", "42.0", 900)});
  auto usc = strategy("usc", judged_by("referee"));
  auto timed_out = usc->combine(judged(
      input, failed("usc", failure_kind::timeout_total, "no reply in 30 s")));
  BOOST_TEST(timed_out.status == answer_status::ok);
  BOOST_TEST(timed_out.winner == "a");
  BOOST_TEST(timed_out.note.find("the judge failed") != std::string::npos);
  auto vague = usc->combine(judged(input, success("", "They all differ.")));
  BOOST_TEST(vague.status == answer_status::ok);
  BOOST_TEST(vague.note.find("named no candidate") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(fewer_than_two_replies_ask_no_judge) {
  auto usc = strategy("usc", judged_by("referee"));
  auto one = usc->combine(
      input_of({success("a", "42"), failed("b", failure_kind::auth, "401")}));
  BOOST_TEST(!one.call.has_value());
  BOOST_TEST(one.winner == "a");
  auto none =
      usc->combine(input_of({failed("a", failure_kind::auth, "401"),
                             failed("b", failure_kind::server, "500")}));
  BOOST_TEST(!none.call.has_value());
  BOOST_TEST(none.status == answer_status::failed);
}

BOOST_AUTO_TEST_CASE(usc_needs_a_judge_and_takes_no_rubric) {
  BOOST_CHECK_THROW(strategy("usc", combine_options{}), std::invalid_argument);
  auto traits = usc_traits();
  BOOST_TEST(traits.answers_with_a_member);
  bool rubric = false;
  for (auto& s : traits.settings)
    rubric = rubric || s.name == "rubric";
  BOOST_TEST(!rubric);
}
