// Debate and council end to end: the shipped configs, as written for the
// real vendors, against the fake upstream speaking OpenAI's, Anthropic's and
// Gemini's wire formats; every round's request as the vendor receives it
// and every round's tokens as a listener sees them.

#include <boost/test/unit_test.hpp>

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "tests/integration/fake_upstream_fixture.hpp"
#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/config.hpp"
#include "tutti/engine.hpp"

using namespace tutti;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

const char* const question =
    "A bat and a ball cost 1.10. The bat costs 1.00 more than the ball. How "
    "much is the ball, in cents? End with a line '#### <number>'.";

/// What a streamed question's listener saw: each label's text, in order of
/// first token, and the answer's own tokens.
struct seen_tokens {
  std::mutex lock;
  std::vector<std::string> labels;
  std::map<std::string, std::string> text;
  std::string answer;
};

ask_options streamed(seen_tokens& seen) {
  ask_options options;
  options.stream = true;
  options.on_delta = [&seen](const member_delta& d) {
    std::lock_guard<std::mutex> hold{seen.lock};
    if (d.answer) {
      seen.answer += d.text;
      return;
    }
    if (!seen.text.count(d.member))
      seen.labels.push_back(d.member);
    seen.text[d.member] += d.text;
  };
  return options;
}

config shipped(const std::string& name, const fake::server& vendors) {
  auto cfg = load_config(std::string{TUTTI_SOURCE_DIR} + "/configs/" + name);
  fake_upstream::point_at(cfg, vendors);
  return cfg;
}

} // namespace

BOOST_AUTO_TEST_SUITE(ensemble_rounds_http)

BOOST_AUTO_TEST_CASE(the_shipped_debate_revises_across_vendors_and_votes) {
  // Claude starts wrong and is persuaded; the others hold.
  fake::server vendors{fake::parse_script(R"(
models:
  gpt-4o-mini: {reply: "The ball is 5 cents.\n#### 5", latency: 20ms, tokens_per_second: 500}
  gemini-2.0-flash: {reply: "5 cents.\n#### 5", latency: 20ms}
  claude-3-5-haiku-20241022: {reply: "10 cents.\n#### 10", latency: 20ms}
)")};
  vendors.start();
  engine eng{shipped("debate.yaml", vendors)};
  seen_tokens seen;
  auto a = eng.ask(target::ensemble("debate"), question, streamed(seen)).get();
  BOOST_TEST(a.status == answer_status::ok);
  BOOST_TEST(a.rounds == 2);
  BOOST_TEST(a.winner == "gpt");
  BOOST_REQUIRE(!a.votes.empty());
  BOOST_TEST(a.votes.front().answer == "5");
  BOOST_TEST(a.agreement == 2.0 / 3.0, boost::test_tools::tolerance(1e-9));
  BOOST_REQUIRE_EQUAL(a.combiner_calls.size(), 3u);
  for (auto& call : a.combiner_calls)
    BOOST_TEST_CONTEXT(call.member) {
      BOOST_TEST(call.ok);
      BOOST_TEST(contains(call.member, "@round2"));
    }
  // Each vendor was asked twice: its answer, then its turn in round 2,
  // which goes on with its own conversation in its own wire format.
  for (auto [model, own] : {std::pair{"gpt-4o-mini", "#### 5"},
                            std::pair{"claude-3-5-haiku-20241022", "#### 10"},
                            std::pair{"gemini-2.0-flash", "#### 5"}})
    BOOST_TEST_CONTEXT(model) {
      auto seen_by = fake_upstream::arrivals_of(vendors, model);
      BOOST_REQUIRE_EQUAL(seen_by.size(), 2u);
      auto& turn = seen_by[1].body;
      BOOST_TEST(contains(turn, "Participant 1:"));
      BOOST_TEST(contains(turn, "Participant 2:"));
      BOOST_TEST(contains(turn, own)); // its own answer, as its turn
      BOOST_TEST(contains(turn, "How much is the ball")); // the question
      for (auto* name : {"gpt", "claude", "gemini"})
        BOOST_TEST(!contains(turn, std::string{"\""} + name + "\""), name);
    }
  // The listener saw both rounds' tokens, each labelled.
  std::lock_guard<std::mutex> hold{seen.lock};
  std::set<std::string> labels(seen.labels.begin(), seen.labels.end());
  for (auto* label : {"gpt", "claude", "gemini", "gpt@round2", "claude@round2",
                      "gemini@round2"})
    BOOST_TEST(labels.count(label) == 1u, label);
  BOOST_TEST(seen.text["claude@round2"] == "10 cents.\n#### 10");
}

BOOST_AUTO_TEST_CASE(
    the_shipped_council_reviews_anonymously_and_its_chairman_answers) {
  fake::server vendors{fake::parse_script(R"(
models:
  gpt-4o-mini: {reply: "Answer from one. FINAL RANKING: B > A", latency: 20ms}
  claude-3-5-haiku-20241022: {reply: "Answer from two. FINAL RANKING: A > B", latency: 20ms}
  gemini-2.0-flash: {reply: "Answer from three. FINAL RANKING: A > B", latency: 20ms}
  claude-3-5-sonnet-20241022: {reply: "The council's answer.", latency: 20ms, tokens_per_second: 500}
)")};
  vendors.start();
  engine eng{shipped("council.yaml", vendors)};
  seen_tokens seen;
  auto a = eng.ask(target::ensemble("council"), question, streamed(seen)).get();
  BOOST_TEST(a.status == answer_status::ok);
  BOOST_TEST(a.text == "The council's answer.");
  BOOST_REQUIRE_EQUAL(a.reviews.size(), 3u);
  BOOST_REQUIRE_EQUAL(a.ranking.size(), 3u);
  BOOST_REQUIRE_EQUAL(a.mean_ranks.size(), 3u);
  for (auto& review : a.reviews)
    BOOST_TEST_CONTEXT(review.reviewer) {
      BOOST_TEST(review.letters.size() == 2u);
      BOOST_TEST(review.ranking.size() == 2u);
    }
  // Reviews went to the members' own vendors and named nobody: no member,
  // provider or other model in a reviewer's request.
  const std::vector<std::string> names = {
      "gpt-4o-mini", "claude-3-5-haiku-20241022", "gemini-2.0-flash"};
  for (auto& model : names) {
    auto seen_by = fake_upstream::arrivals_of(vendors, model);
    BOOST_REQUIRE_EQUAL(seen_by.size(), 2u);
    auto& review = seen_by[1].body;
    BOOST_TEST(contains(review, "Response A:"));
    BOOST_TEST(contains(review, "Response B:"));
    for (auto& other : names)
      if (other != model)
        BOOST_TEST(!contains(review, other), other);
    for (auto* member : {"\"gpt\"", "\"claude\"", "\"gemini\"", "chair"})
      BOOST_TEST(!contains(review, member), member);
  }
  // The chairman was asked once, after the reviews, and streamed the answer.
  auto chair =
      fake_upstream::arrivals_of(vendors, "claude-3-5-sonnet-20241022");
  BOOST_REQUIRE_EQUAL(chair.size(), 1u);
  BOOST_TEST(contains(chair[0].body, "The ranking by mean rank"));
  std::lock_guard<std::mutex> hold{seen.lock};
  BOOST_TEST(seen.answer == "The council's answer.");
  BOOST_TEST(seen.text.count("gpt@review") == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
