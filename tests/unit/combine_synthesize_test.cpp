// `combine: synthesize`: a synthesizer model writes one answer from the
// members' replies (Mixture-of-Agents); the call it asks for and its
// fallbacks.

#include <boost/test/unit_test.hpp>

#include "plugins/combine/synthesize/synthesize.hpp"
#include "tests/unit/combine_test_support.hpp"

using namespace tutti;
using namespace tutti::test;

namespace {

combine_options written_by(std::string synthesizer) {
  combine_options options;
  options.set("synthesizer", std::move(synthesizer));
  return options;
}

combine_input members() {
  return input_of({success("a", "Paris is the capital.", 300),
                   failed("b", failure_kind::timeout_total, "30 s"),
                   success("c", "The capital is Paris", 100),
                   success("d", "Lyon", 200)},
                  {}, "What is the capital of France?");
}

combine_input written(combine_input input, member_outcome reply) {
  reply.member = "synthesizer";
  input.calls.push_back(std::move(reply));
  return input;
}

} // namespace

BOOST_AUTO_TEST_CASE(asks_the_synthesizer_and_streams_its_answer) {
  auto synthesize = strategy("synthesize", written_by("writer"));
  auto result = synthesize->combine(members());
  BOOST_TEST_REQUIRE(result.call.has_value());
  BOOST_TEST(result.call->provider == "writer");
  BOOST_TEST(result.call->label == "synthesizer");
  BOOST_TEST(result.call->streams_answer);
  BOOST_TEST(!result.call->system.empty());
  auto& prompt = result.call->prompt;
  BOOST_TEST(prompt.find("What is the capital of France?") !=
             std::string::npos);
  BOOST_TEST(prompt.find("Candidate 1:\nParis is the capital.\n\n") !=
             std::string::npos);
  BOOST_TEST(prompt.find("Candidate 2:\nThe capital is Paris\n\n") !=
             std::string::npos);
  BOOST_TEST(prompt.find("Candidate 3:\nLyon\n\n") != std::string::npos);
  BOOST_TEST(prompt.find("Candidate 4") == std::string::npos);
  BOOST_TEST(synthesize->providers_called() ==
                 (std::vector<std::string>{"writer"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(one_success_is_still_worth_synthesizing) {
  auto result = strategy("synthesize", written_by("writer"))
                    ->combine(input_of({success("a", "Paris"),
                                        failed("b", failure_kind::server)}));
  BOOST_TEST_REQUIRE(result.call.has_value());
  BOOST_TEST(result.call->prompt.find("Candidate 1:\nParis") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(without_successes_the_synthesizer_is_not_asked) {
  auto result = strategy("synthesize", written_by("writer"))
                    ->combine(input_of({failed("a", failure_kind::server),
                                        failed("b", failure_kind::network)}));
  BOOST_TEST(!result.call.has_value());
  BOOST_TEST(result.status == answer_status::failed);
  BOOST_TEST(result.note ==
             "no member succeeded; the synthesizer was not asked");
}

BOOST_AUTO_TEST_CASE(the_synthesizers_reply_is_the_answer) {
  auto result =
      strategy("synthesize", written_by("writer"))
          ->combine(written(members(), success("", "Paris, on the Seine.")));
  BOOST_TEST(!result.call.has_value());
  BOOST_TEST(result.status == answer_status::ok);
  BOOST_TEST(result.text == "Paris, on the Seine.");
  BOOST_TEST(result.winner.empty());
  BOOST_TEST(result.votes.empty());
  BOOST_TEST(result.note.empty());
}

BOOST_AUTO_TEST_CASE(a_reply_cut_at_its_length_limit_is_used_and_noted) {
  auto reply = success("", "Paris, on the");
  reply.reply.finish_reason = "length";
  auto result = strategy("synthesize", written_by("writer"))
                    ->combine(written(members(), reply));
  BOOST_TEST(result.text == "Paris, on the");
  BOOST_TEST(result.note ==
             "the synthesizer's reply was cut at its length limit");
}

BOOST_AUTO_TEST_CASE(a_failed_synthesizer_falls_back_to_vote) {
  auto input = input_of({success("a", "Paris", 300), success("b", "Lyon", 50),
                         success("c", "paris.", 100)});
  auto result = strategy("synthesize", written_by("writer"))
                    ->combine(written(
                        input, failed("", failure_kind::server, "HTTP 500")));
  BOOST_TEST(result.status == answer_status::ok);
  BOOST_TEST(result.text == "Paris");
  BOOST_TEST(result.winner == "a");
  BOOST_TEST(result.votes.size() == 2u);
  BOOST_TEST(result.note ==
             "the synthesizer failed (server: HTTP 500); fell back to vote");

  auto empty = strategy("synthesize", written_by("writer"))
                   ->combine(written(input, success("", "")));
  BOOST_TEST(empty.text == "Paris");
  BOOST_TEST(empty.note ==
             "the synthesizer's reply was empty; fell back to vote");
}

BOOST_AUTO_TEST_CASE(a_synthesizer_must_be_named) {
  BOOST_TEST(invalid_argument_from([] { strategy("synthesize"); }) ==
             "combine: synthesize needs `synthesizer:` naming the provider "
             "that writes the answer");
}
