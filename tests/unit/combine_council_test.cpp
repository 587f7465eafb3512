// `combine: council`: reviews under letters shuffled per reviewer, with no
// member's name in sight; the ranking by mean rank; the chairman's call and
// `chairman: none`; and what happens to failed or unreadable reviews.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "plugins/combine/council/council.hpp"
#include "tests/unit/combine_test_support.hpp"

using namespace tutti;
using namespace tutti::test;

namespace {

combine_options chaired_by(std::string chairman) {
  combine_options options;
  options.set("chairman", std::move(chairman));
  return options;
}

combine_input three_answers() {
  return input_of({success("alice", "alpha answer"),
                   success("bob", "beta answer"),
                   failed("dave", failure_kind::server, "HTTP 500"),
                   success("carol", "gamma answer")});
}

/// The letter under which `text` is shown in `prompt`.
char letter_of(const std::string& prompt, const std::string& text) {
  auto at = prompt.find(":\n" + text + "\n");
  BOOST_REQUIRE(at != std::string::npos);
  return prompt[at - 1];
}

/// A reviewer that ranks gamma > alpha > beta, in the letters it was shown.
member_outcome review_of(const model_call& call) {
  std::string ranking = "Some reasons.\nFINAL RANKING:\n";
  int n = 0;
  for (auto* text : {"gamma answer", "alpha answer", "beta answer"})
    if (call.prompt.find(":\n" + std::string{text} + "\n") != std::string::npos)
      ranking += std::to_string(++n) + ". Response " +
                 letter_of(call.prompt, text) + "\n";
  auto outcome = success(call.label, ranking);
  return outcome;
}

} // namespace

BOOST_AUTO_TEST_CASE(each_member_reviews_the_others_under_letters_only) {
  auto council = strategy("council", chaired_by("none"));
  auto input = three_answers();
  auto round = council->combine(input);
  BOOST_REQUIRE_EQUAL(round.calls.size(), 3u); // dave failed: no part
  std::vector<std::string> labels;
  for (auto& call : round.calls) {
    labels.push_back(call.label);
    BOOST_TEST(!call.continues_question);
    BOOST_TEST(call.prompt.find("What is 6 times 7?") != std::string::npos);
    BOOST_TEST(call.prompt.find("FINAL RANKING:") != std::string::npos);
    // No member's name, provider or failure reaches a reviewer.
    for (auto* name : {"alice", "bob", "carol", "dave", "p-", "HTTP 500"})
      BOOST_TEST(call.prompt.find(name) == std::string::npos, name);
    BOOST_TEST(call.prompt.find("Response A:\n") != std::string::npos);
    BOOST_TEST(call.prompt.find("Response B:\n") != std::string::npos);
    BOOST_TEST(call.prompt.find("Response C") == std::string::npos);
  }
  BOOST_TEST(labels == (std::vector<std::string>{"alice@review", "bob@review",
                                                 "carol@review"}),
             boost::test_tools::per_element());
  BOOST_TEST(round.calls[0].member == "alice");
  BOOST_TEST(round.calls[0].provider == "p-alice");
  // A reviewer does not see its own answer.
  BOOST_TEST(round.calls[0].prompt.find("alpha answer") == std::string::npos);
  BOOST_TEST(round.calls[2].prompt.find("gamma answer") == std::string::npos);
  BOOST_TEST(council->providers_called().empty());
}

BOOST_AUTO_TEST_CASE(the_ranking_is_by_mean_rank_and_the_top_answer_wins) {
  auto council = strategy("council", chaired_by("none"));
  auto input = three_answers();
  for (auto& call : council->combine(input).calls)
    input.calls.push_back(review_of(call));
  auto result = council->combine(input);
  BOOST_TEST(result.status == answer_status::ok);
  // gamma: first for alice and bob (1.0); alpha: second for bob, first
  // for carol (1.5); beta: second for alice and carol (2.0).
  BOOST_TEST(result.ranking ==
                 (std::vector<std::string>{"carol", "alice", "bob"}),
             boost::test_tools::per_element());
  BOOST_TEST(result.mean_ranks == (std::vector<double>{1.0, 1.5, 2.0}),
             boost::test_tools::per_element());
  BOOST_TEST(result.text == "gamma answer");
  BOOST_TEST(result.winner == "carol");
  // Each review says whom its letters stood for, as the prompt showed.
  BOOST_REQUIRE_EQUAL(result.reviews.size(), 3u);
  auto& alice = result.reviews[0];
  BOOST_TEST(alice.reviewer == "alice");
  BOOST_REQUIRE_EQUAL(alice.letters.size(), 2u);
  auto asked = council->combine(three_answers());
  auto& prompt = asked.calls[0].prompt;
  for (size_t l = 0; l < 2; ++l)
    BOOST_TEST(letter_of(prompt, alice.letters[l] == "bob"
                                     ? "beta answer"
                                     : "gamma answer") == char('A' + l));
  BOOST_TEST(alice.ranking == (std::vector<std::string>{"carol", "bob"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(ties_go_to_more_first_places_then_member_order) {
  auto council = strategy("council", chaired_by("none"));
  auto input = input_of({success("a", "one"), success("b", "two")});
  // Each ranks the only other first: a tie at 1.0, member order decides.
  for (auto& call : council->combine(input).calls)
    input.calls.push_back(success(call.label, "FINAL RANKING: A"));
  auto result = council->combine(input);
  BOOST_TEST(result.ranking == (std::vector<std::string>{"a", "b"}),
             boost::test_tools::per_element());
  BOOST_TEST(result.winner == "a");
}

BOOST_AUTO_TEST_CASE(the_chairman_writes_the_answer_from_answers_and_reviews) {
  auto council = strategy("council", chaired_by("chair"));
  BOOST_TEST(council->providers_called() == (std::vector<std::string>{"chair"}),
             boost::test_tools::per_element());
  auto input = three_answers();
  for (auto& call : council->combine(input).calls)
    input.calls.push_back(review_of(call));
  auto ask = council->combine(input);
  BOOST_REQUIRE(ask.call.has_value());
  auto& prompt = ask.call->prompt;
  BOOST_TEST(ask.call->provider == "chair");
  BOOST_TEST(ask.call->label == "chairman");
  BOOST_TEST(ask.call->streams_answer);
  BOOST_TEST(prompt.find("Answer 1:\nalpha answer") != std::string::npos);
  BOOST_TEST(prompt.find("Answer 3:\ngamma answer") != std::string::npos);
  BOOST_TEST(prompt.find("Review by the author of Answer 1 (Response ") !=
             std::string::npos);
  BOOST_TEST(prompt.find("Answer 3 (1.00), Answer 1 (1.50), Answer 2 (2.00)") !=
             std::string::npos);
  for (auto* name : {"alice", "bob", "carol", "dave"})
    BOOST_TEST(prompt.find(name) == std::string::npos, name);
  input.calls.push_back(success("chairman", "The council says: gamma."));
  auto result = council->combine(input);
  BOOST_TEST(result.text == "The council says: gamma.");
  BOOST_TEST(result.winner.empty());
  BOOST_TEST(result.ranking.size() == 3u);
  // A chairman that fails: the top-ranked answer, and the note says why.
  input.calls.back() = failed("chairman", failure_kind::timeout_total, "slow");
  result = council->combine(input);
  BOOST_TEST(result.text == "gamma answer");
  BOOST_TEST(result.note.find("the chairman failed (timeout_total: slow); the "
                              "answer is the top-ranked one") == 0u);
}

BOOST_AUTO_TEST_CASE(failed_and_unreadable_reviews_are_left_out) {
  auto council = strategy("council", chaired_by("none"));
  auto input = three_answers();
  auto calls = council->combine(input).calls;
  input.calls.push_back(review_of(calls[0]));
  input.calls.push_back(
      failed("bob@review", failure_kind::rate_limited, "429"));
  input.calls.push_back(success("carol@review", "They are all fine."));
  auto result = council->combine(input);
  BOOST_TEST(result.ranking ==
                 (std::vector<std::string>{"carol", "bob", "alice"}),
             boost::test_tools::per_element());
  BOOST_TEST(result.mean_ranks[2] == 0.0); // no review ranked alice
  BOOST_TEST(result.note.find("the review by bob@review failed") !=
             std::string::npos);
  BOOST_TEST(result.note.find("the review by carol@review ranked no letter") !=
             std::string::npos);
  BOOST_TEST(result.reviews[1].ranking.empty());
  // None usable: the vote over the answers, reviews still listed.
  input.calls[0] = success("alice@review", "no idea");
  result = council->combine(input);
  BOOST_TEST(result.ranking.empty());
  BOOST_TEST(result.note.find("no review could be used") == 0u);
  BOOST_TEST(result.reviews.size() == 3u);
}

BOOST_AUTO_TEST_CASE(
    letters_are_shuffled_per_reviewer_and_even_over_questions) {
  // Every reviewer's order is a permutation; over many questions each
  // answer lands in each place about equally often.
  constexpr size_t count = 4;
  constexpr size_t questions = 4000;
  std::map<std::pair<size_t, size_t>, size_t> at; // (answer, place) -> times
  std::set<std::vector<size_t>> orders;
  for (uint64_t q = 0; q < questions; ++q)
    for (size_t reviewer = 0; reviewer < 3; ++reviewer) {
      auto order = review_order(q * 7919, reviewer, count);
      auto sorted = order;
      std::sort(sorted.begin(), sorted.end());
      BOOST_REQUIRE(sorted == (std::vector<size_t>{0, 1, 2, 3}));
      for (size_t place = 0; place < count; ++place)
        ++at[{order[place], place}];
      if (q == 0)
        orders.insert(order);
    }
  BOOST_TEST(orders.size() > 1u); // reviewers of one question differ
  // Expected 3000 each; 5 sigma is about 237.
  for (auto& [key, times] : at)
    BOOST_TEST((times > 2760 && times < 3240), times);
}

BOOST_AUTO_TEST_CASE(a_ranking_is_read_in_letters) {
  auto read = [](std::string_view reply, size_t count) {
    auto r = parse_letter_ranking(reply, count);
    return r ? *r : std::vector<size_t>{};
  };
  using v = std::vector<size_t>;
  BOOST_TEST(read("A is weak. FINAL RANKING:\n1. Response C\n2. Response A\n"
                  "3. Response B",
                  3) == (v{2, 0, 1}),
             boost::test_tools::per_element());
  BOOST_TEST(read("Ranking: B > A", 2) == (v{1, 0}),
             boost::test_tools::per_element());
  BOOST_TEST(read("Reasons...\nB, A", 2) == (v{1, 0}),
             boost::test_tools::per_element());
  // Letters past the count, inside words, and repeats are not read.
  BOOST_TEST(read("FINAL RANKING: Z > B > Bob > B > A", 3) == (v{1, 0}),
             boost::test_tools::per_element());
  BOOST_TEST(!parse_letter_ranking("I cannot rank these.", 3));
  BOOST_TEST(!parse_letter_ranking("", 3));
  BOOST_TEST(invalid_argument_from([] {
               strategy("council");
             }).find("needs `chairman:`") != std::string::npos);
}
