// Every `until` x `mode` x `combine` on CAF's deterministic scheduler, with
// timed provider actors that fail, hang, stream and succeed: who is asked
// when, who is cancelled, when the answer comes, what it says and which
// extra model calls the strategy makes.

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/aggregator.hpp"
#include "tests/actors/actor_fixture.hpp"
#include "tests/actors/timed_provider.hpp"
#include "tutti/registry.hpp"

using namespace tutti;
using namespace std::chrono_literals;

namespace {

using script = testing::provider_script;

/// Cancelled members report this much used, with partial text "tok".
const usage used_before_cancel{10, 2, 0};

/// Members, in order: a fails at 100 ms; b hangs without a token; c streams
/// a token at 50 ms and answers "42" at 400 ms; d answers "42." at 300 ms.
/// The judge picks candidate 2; the synthesizer writes "synthesized 42".
const std::vector<std::pair<std::string, script>> members_script = {
    {"a", script{100, false, "", -1, used_before_cancel}},
    {"b", script{-1, true, "", -1, used_before_cancel}},
    {"c", script{400, true, "42", 50, used_before_cancel}},
    {"d", script{300, true, "42.", -1, used_before_cancel}},
};

/// What a given `until` x `mode` must do, whatever the strategy.
struct expectation {
  until_rule until;
  int quorum;
  run_mode mode;
  int64_t members_done_ms;              ///< when the members phase ends
  std::map<std::string, int64_t> asked; ///< member -> query time (ms)
  std::vector<std::string> ok;          ///< members with a success
  std::vector<std::string> cancelled;   ///< running, told to stop
  std::map<std::string, failure_kind> failed_as; ///< the others' outcome
};

// Deadline 2 s, grace 1 s, hedge_after 200 ms. Chains (fallback, hedged)
// end at their first success, so the config refuses `until: deadline` and a
// quorum above 1 for them.
const std::vector<expectation> expectations = {
    // parallel: everyone at once.
    {until_rule::all,
     0,
     run_mode::parallel,
     3000,
     {{"a", 0}, {"b", 0}, {"c", 0}, {"d", 0}},
     {"c", "d"},
     {"b"},
     {{"a", failure_kind::server}, {"b", failure_kind::timeout_total}}},
    {until_rule::first,
     0,
     run_mode::parallel,
     300,
     {{"a", 0}, {"b", 0}, {"c", 0}, {"d", 0}},
     {"d"},
     {"b", "c"},
     {{"a", failure_kind::server},
      {"b", failure_kind::cancelled},
      {"c", failure_kind::cancelled}}},
    {until_rule::quorum,
     2,
     run_mode::parallel,
     400,
     {{"a", 0}, {"b", 0}, {"c", 0}, {"d", 0}},
     {"c", "d"},
     {"b"},
     {{"a", failure_kind::server}, {"b", failure_kind::cancelled}}},
    {until_rule::deadline,
     0,
     run_mode::parallel,
     2000,
     {{"a", 0}, {"b", 0}, {"c", 0}, {"d", 0}},
     {"c", "d"},
     {"b"},
     {{"a", failure_kind::server}, {"b", failure_kind::timeout_total}}},
    // fallback: a fails, b hangs until the deadline; c and d never start.
    {until_rule::all,
     0,
     run_mode::fallback,
     3000,
     {{"a", 0}, {"b", 100}},
     {},
     {"b"},
     {{"a", failure_kind::server},
      {"b", failure_kind::timeout_total},
      {"c", failure_kind::cancelled},
      {"d", failure_kind::cancelled}}},
    {until_rule::first,
     0,
     run_mode::fallback,
     3000,
     {{"a", 0}, {"b", 100}},
     {},
     {"b"},
     {{"a", failure_kind::server},
      {"b", failure_kind::timeout_total},
      {"c", failure_kind::cancelled},
      {"d", failure_kind::cancelled}}},
    // hedged: a fails at 100, b starts and is silent, so c starts at 300;
    // c streams in time, so d never starts; c wins at 700.
    {until_rule::all,
     0,
     run_mode::hedged,
     700,
     {{"a", 0}, {"b", 100}, {"c", 300}},
     {"c"},
     {"b"},
     {{"a", failure_kind::server},
      {"b", failure_kind::cancelled},
      {"d", failure_kind::cancelled}}},
    {until_rule::first,
     0,
     run_mode::hedged,
     700,
     {{"a", 0}, {"b", 100}, {"c", 300}},
     {"c"},
     {"b"},
     {{"a", failure_kind::server},
      {"b", failure_kind::cancelled},
      {"d", failure_kind::cancelled}}},
};

const std::vector<std::string> strategies = {
    "collect", "first", "vote", "judge", "rank", "synthesize", "usc", "debate"};

/// The strategies whose judge names one success (judge, rank, usc).
bool picks_with_a_judge(const std::string& combine) {
  return combine == "judge" || combine == "rank" || combine == "usc";
}

struct matrix_fixture : testing::actor_fixture {
  std::shared_ptr<testing::provider_log> log =
      std::make_shared<testing::provider_log>();
  /// The judge's and the synthesizer's own log.
  std::shared_ptr<testing::provider_log> combiner_log =
      std::make_shared<testing::provider_log>();

  ensemble_plan make_plan(const expectation& e, const std::string& combine) {
    ensemble_plan plan;
    plan.name = "matrix";
    plan.combine_name = combine;
    combine_options options{{"judge", "judge"}, {"synthesizer", "synth"}};
    plan.strategy = registry::builtin().make_combine(combine, options);
    plan.streams_first_success =
        registry::builtin().traits_of(combine) != nullptr &&
        registry::builtin().traits_of(combine)->streams_first_success;
    BOOST_REQUIRE_MESSAGE(plan.strategy, "no strategy " << combine);
    plan.until = e.until;
    plan.quorum = e.quorum;
    plan.mode = e.mode;
    plan.hedge_after_us = 200'000;
    plan.deadline_us = 2'000'000;
    plan.grace_us = 1'000'000;
    for (auto& [label, s] : members_script)
      plan.members.push_back(
          ensemble_member{label,
                          label + "-provider",
                          label + "-model",
                          spawn_owned(testing::timed_provider, s, log),
                          {},
                          1.0});
    plan.callees["judge"] = ensemble_callee{
        "judge-model",
        spawn_owned(testing::timed_provider,
                    script{100, true, "Candidate 2", -1, {}}, combiner_log)};
    plan.callees["synth"] = ensemble_callee{
        "synth-model",
        spawn_owned(testing::timed_provider,
                    script{100, true, "synthesized 42", -1, {}}, combiner_log)};
    return plan;
  }

  /// Moves the clock 1 ms at a time, so every actor reads the time its
  /// message fell due.
  void step(int64_t ms) {
    for (int64_t i = 0; i < ms; ++i)
      advance(1ms);
  }

  std::shared_ptr<std::optional<ensemble_answer>>
  ask(const ensemble_plan& plan) {
    auto result = std::make_shared<std::optional<ensemble_answer>>();
    auto agg = sys.spawn(aggregator, plan);
    ensemble_question question;
    question.prompt_id = "q";
    question.request.id = "q";
    question.request.messages.push_back(chat_message{"user", "6 x 7?"});
    sys.spawn([=](caf::event_based_actor* self) {
      self->request(agg, caf::infinite, ask_atom::value, question)
          .then([=](ensemble_answer& a) { *result = std::move(a); });
    });
    run();
    return result;
  }
};

std::string describe(const expectation& e, const std::string& combine) {
  ensemble_plan plan;
  plan.until = e.until;
  plan.quorum = e.quorum;
  return "until " + until_name(plan) + ", mode " + mode_name(e.mode) +
         ", combine " + combine;
}

} // namespace

BOOST_AUTO_TEST_CASE(every_until_mode_and_combine) {
  for (auto& e : expectations) {
    for (auto& combine : strategies) {
      BOOST_TEST_CONTEXT(describe(e, combine)) {
        matrix_fixture f;
        auto t0 = f.now_us();
        auto answer = f.ask(f.make_plan(e, combine));
        // The members phase ends exactly when the rule says, not earlier.
        f.step(e.members_done_ms - 1);
        BOOST_TEST(!answer->has_value());
        f.step(1);
        auto combines_again =
            picks_with_a_judge(combine) || combine == "synthesize";
        auto successes = e.ok.size();
        auto expect_call = (combine == "synthesize" && successes >= 1) ||
                           (picks_with_a_judge(combine) && successes >= 2);
        if (expect_call) {
          BOOST_TEST(!answer->has_value());
          f.step(100);
        }
        BOOST_REQUIRE(answer->has_value());
        auto& a = **answer;

        // Who was asked, when; and nobody else.
        std::map<std::string, int64_t> asked;
        for (auto& [label, at] : f.log->queried_at)
          asked[label] = (at - t0) / 1000;
        auto render = [](const std::map<std::string, int64_t>& m) {
          std::string out;
          for (auto& [label, ms] : m)
            out += label + "@" + std::to_string(ms) + " ";
          return out;
        };
        BOOST_TEST(render(asked) == render(e.asked));

        // Every member listed, in order, with the expected outcome.
        BOOST_REQUIRE(a.members.size() == members_script.size());
        std::vector<std::string> ok;
        for (size_t i = 0; i < a.members.size(); ++i) {
          auto& m = a.members[i];
          BOOST_TEST(m.member == members_script[i].first);
          if (m.ok) {
            ok.push_back(m.member);
          } else {
            auto want = e.failed_as.find(m.member);
            BOOST_REQUIRE_MESSAGE(want != e.failed_as.end(),
                                  m.member << " failed unexpectedly");
            BOOST_TEST(m.error.kind == want->second);
          }
        }
        BOOST_TEST(ok == e.ok, boost::test_tools::per_element());
        auto cancelled = f.log->cancelled;
        std::sort(cancelled.begin(), cancelled.end());
        BOOST_TEST(cancelled == e.cancelled, boost::test_tools::per_element());
        // A member told to stop keeps what it had used, in the ensemble's
        // words; the totals count it.
        int64_t input_total = 0;
        for (auto& m : a.members) {
          input_total +=
              m.ok ? m.reply.usage.input_tokens : m.error.usage.input_tokens;
          if (std::find(e.cancelled.begin(), e.cancelled.end(), m.member) !=
              e.cancelled.end()) {
            BOOST_TEST(m.error.usage.output_tokens == 2);
            BOOST_TEST(m.error.partial_text == "tok");
            BOOST_TEST(m.error.message != "cancelled");
          }
        }
        for (auto& call : a.combiner_calls)
          input_total += call.reply.usage.input_tokens;
        BOOST_TEST(a.usage.input_tokens == input_total);

        // The status: a member that failed on its own makes it partial.
        if (successes == 0)
          BOOST_TEST(a.status == answer_status::failed);
        else
          BOOST_TEST(a.status == answer_status::partial);

        // What the strategy made of it.
        BOOST_TEST(a.combine == combine);
        BOOST_TEST(a.combiner_calls.size() == (expect_call ? 1u : 0u));
        BOOST_TEST(f.combiner_log->requests.size() == (expect_call ? 1u : 0u));
        if (successes == 0) {
          BOOST_TEST(a.text.empty());
          continue;
        }
        if (combine == "collect") {
          for (auto& label : e.ok)
            BOOST_TEST(a.text.find("[" + label + "]") != std::string::npos);
        } else if (combine == "first") {
          // The earliest success by its own timing: d (300 ms) before c.
          auto want = std::find(e.ok.begin(), e.ok.end(), "d") != e.ok.end()
                          ? "d"
                          : "c";
          BOOST_TEST(a.winner == want);
        } else if (combine == "vote" || combine == "debate") {
          // A debate whose members agree at once is over after round 1:
          // the vote.
          if (combine == "debate")
            BOOST_TEST(a.rounds == 1);
          // "42" and "42." are one answer; the first voter in member order.
          BOOST_TEST(a.winner == e.ok.front());
          BOOST_TEST(a.agreement == 1.0);
          BOOST_REQUIRE(a.votes.size() == 1u);
          BOOST_TEST(a.votes[0].members == e.ok,
                     boost::test_tools::per_element());
        } else if (picks_with_a_judge(combine)) {
          if (expect_call) {
            // "Candidate 2" is the second success in member order.
            BOOST_TEST(a.winner == e.ok[1]);
            auto& prompt = f.combiner_log->requests.begin()
                               ->second.messages.back()
                               .content;
            BOOST_TEST(prompt.find("6 x 7?") != std::string::npos);
          } else {
            BOOST_TEST(a.winner == e.ok[0]);
          }
          if (combine == "rank" && expect_call)
            BOOST_TEST(a.ranking.front() == e.ok[1]);
        } else if (combine == "synthesize") {
          BOOST_TEST(a.text == "synthesized 42");
          BOOST_TEST(a.winner.empty());
        }
        (void)combines_again;
      }
    }
  }
}
