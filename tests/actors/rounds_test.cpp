// Debate and council through the aggregator, on CAF's deterministic
// scheduler: members' turns go to the members' own providers with their
// parameters, their tokens reach the listener labelled with round and
// member, and failures, the deadline and a cancel are handled in rounds.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/aggregator.hpp"
#include "tests/actors/actor_fixture.hpp"
#include "tests/actors/scripted_outcomes.hpp"
#include "tutti/registry.hpp"

using namespace tutti;
using namespace std::chrono_literals;

namespace {

using testing::failed;
using testing::success;

/// What a provider replies to a query; nullopt: it never replies.
using reply_fn =
    std::function<std::optional<member_outcome>(const member_query&)>;

struct query_log {
  std::vector<member_query> queries;
  std::vector<std::string> cancelled;
};

struct replying_state {
  std::map<std::string, caf::response_promise> open;
};

/// A provider that replies as `reply` says, `delay` after the query came,
/// streaming the reply's text to the query's listener first.
caf::behavior replying_provider(caf::stateful_actor<replying_state>* self,
                                reply_fn reply, caf::timespan delay,
                                std::shared_ptr<query_log> log) {
  return {
      [=](query_atom, member_query& query) -> caf::result<member_outcome> {
        log->queries.push_back(query);
        auto outcome = reply(query);
        auto promise = self->make_response_promise();
        if (!outcome)
          return promise;
        outcome->member = query.member;
        if (query.listener && outcome->ok)
          self->send(query.listener,
                     member_delta{query.member, outcome->reply.text});
        if (delay.count() == 0) {
          promise.deliver(*outcome);
          return promise;
        }
        self->state.open[query.request.id] = promise;
        self->delayed_send(self, delay, wake_atom::value, query.request.id,
                           *outcome);
        return promise;
      },
      [=](wake_atom, const std::string& id, member_outcome& outcome) {
        auto i = self->state.open.find(id);
        if (i == self->state.open.end())
          return;
        i->second.deliver(std::move(outcome));
        self->state.open.erase(i);
      },
      [=](cancel_atom, const std::string& id) { log->cancelled.push_back(id); },
  };
}

struct listener_log {
  std::vector<std::string> events; ///< "delta:label", "done:label", "answer"
  std::string streamed_answer;
};

caf::behavior listener(caf::event_based_actor*,
                       std::shared_ptr<listener_log> log) {
  return {
      [=](const member_delta& d) {
        log->events.push_back("delta:" + d.member);
        if (d.answer)
          log->streamed_answer += d.text;
      },
      [=](const member_outcome& o) {
        log->events.push_back("done:" + o.member);
      },
      [=](const ensemble_answer&) { log->events.push_back("answer"); },
  };
}

/// The last user message of a query.
std::string last_user(const member_query& q) {
  for (auto i = q.request.messages.rbegin(); i != q.request.messages.rend();
       ++i)
    if (i->role == "user")
      return i->content;
  return {};
}

bool is_round_one(const member_query& q) {
  return q.member.find('@') == std::string::npos;
}

struct rounds_fixture : testing::actor_fixture {
  std::shared_ptr<query_log> qlog = std::make_shared<query_log>();
  std::shared_ptr<listener_log> llog = std::make_shared<listener_log>();
  ensemble_plan plan;
  caf::actor agg;

  rounds_fixture() {
    plan.name = "panel";
    plan.deadline_us = 5'000'000;
    plan.grace_us = 1'000'000;
  }

  void use(const std::string& combine, const combine_options& options) {
    plan.combine_name = combine;
    plan.strategy = registry::builtin().make_combine(combine, options);
  }

  void add(const std::string& label, reply_fn reply,
           caf::timespan delay = caf::timespan{0}) {
    plan.members.push_back(ensemble_member{
        label,
        label + "-provider",
        label + "-model",
        spawn_owned(replying_provider, std::move(reply), delay, qlog),
        {},
        1.0});
  }

  std::vector<std::string> labels_asked() const {
    std::vector<std::string> labels;
    for (auto& q : qlog->queries)
      labels.push_back(q.member);
    return labels;
  }

  const member_query& query_of(const std::string& label) const {
    auto i = std::find_if(qlog->queries.begin(), qlog->queries.end(),
                          [&](auto& q) { return q.member == label; });
    BOOST_REQUIRE(i != qlog->queries.end());
    return *i;
  }

  bool saw(const std::string& event) const {
    return std::find(llog->events.begin(), llog->events.end(), event) !=
           llog->events.end();
  }

  std::shared_ptr<std::optional<ensemble_answer>> ask() {
    auto result = std::make_shared<std::optional<ensemble_answer>>();
    agg = sys.spawn(aggregator, plan);
    ensemble_question question;
    question.prompt_id = "q1";
    question.request.id = "q1";
    question.request.stream = true;
    question.request.params.max_tokens = 50;
    question.request.messages.push_back(chat_message{"system", "Be brief."});
    question.request.messages.push_back(chat_message{"user", "2+2?"});
    question.listener = spawn_owned(listener, llog);
    auto target = agg;
    sys.spawn([=](caf::event_based_actor* self) {
      self->request(target, caf::infinite, ask_atom::value, question)
          .then([=](ensemble_answer& a) { *result = std::move(a); });
    });
    run();
    return result;
  }
};

/// First says `first`, then agrees with "4" once shown the others.
reply_fn persuaded(std::string first) {
  return [first](const member_query& q) -> std::optional<member_outcome> {
    return success(is_round_one(q) ? first : "4");
  };
}

reply_fn stubborn(std::string answer) {
  return [answer](const member_query&) -> std::optional<member_outcome> {
    return success(answer);
  };
}

/// Answers at once; never replies to a later turn.
reply_fn silent_later(std::string first) {
  return [first](const member_query& q) -> std::optional<member_outcome> {
    if (is_round_one(q))
      return success(first);
    return std::nullopt;
  };
}

/// Reviews by preferring "gamma" to "alpha" to "beta", in its letters.
std::optional<member_outcome> review(const member_query& q) {
  auto prompt = last_user(q);
  std::string ranking = "Reasons.\nFINAL RANKING:\n";
  int n = 0;
  for (std::string text : {"gamma", "alpha", "beta"}) {
    auto at = prompt.find(":\n" + text + "\n");
    if (at != std::string::npos)
      ranking += std::to_string(++n) + ". Response " + prompt[at - 1] + "\n";
  }
  return success(ranking);
}

reply_fn answers_then_reviews(std::string answer) {
  return [answer](const member_query& q) -> std::optional<member_outcome> {
    return is_round_one(q) ? success(answer) : review(q);
  };
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(rounds_tests, rounds_fixture)

BOOST_AUTO_TEST_CASE(
    a_debate_revises_in_each_members_conversation_and_stops_early) {
  use("debate", {{"rounds", "3"}});
  add("a", persuaded("4"));
  add("b", persuaded("5"));
  add("c", persuaded("4"));
  plan.members[1].params.temperature = 0.3;
  auto answer = ask();
  BOOST_REQUIRE(answer->has_value());
  auto& a = **answer;
  // Round 2 went to each member's own provider; all agreed: no round 3.
  BOOST_TEST(labels_asked() ==
                 (std::vector<std::string>{"a", "b", "c", "a@round2",
                                           "b@round2", "c@round2"}),
             boost::test_tools::per_element());
  auto& b = query_of("b@round2");
  BOOST_REQUIRE_EQUAL(b.request.messages.size(), 4u);
  BOOST_TEST(b.request.messages[0].content == "Be brief.");
  BOOST_TEST(b.request.messages[2].role == "assistant");
  BOOST_TEST(b.request.messages[2].content == "5");
  BOOST_TEST(b.request.messages[3].content.find("Participant 1:\n4") !=
             std::string::npos);
  // The question's parameters, with the member's own over them.
  BOOST_TEST(b.request.params.max_tokens.value_or(0) == 50);
  BOOST_TEST(b.request.params.temperature.value_or(0) == 0.3);
  BOOST_TEST(b.request.deadline == query_of("b").request.deadline);
  BOOST_TEST(a.text == "4");
  BOOST_TEST(a.rounds == 2);
  BOOST_TEST(a.status == answer_status::ok);
  BOOST_TEST(a.note.find("all agreed after round 2 of 3") != std::string::npos);
  BOOST_REQUIRE_EQUAL(a.combiner_calls.size(), 3u);
  BOOST_TEST(a.combiner_calls[1].member == "b@round2");
  // The listener saw every round's tokens, labelled.
  BOOST_TEST(saw("delta:b"));
  BOOST_TEST(saw("delta:b@round2"));
  BOOST_TEST(saw("done:b@round2"));
  BOOST_TEST(llog->streamed_answer.empty());
}

BOOST_AUTO_TEST_CASE(
    a_debate_leaves_out_round_one_failures_and_skips_a_late_round) {
  use("debate", {{"rounds", "2"}});
  // Each answer takes 3 s of a 5 s deadline: round 2 cannot finish.
  add("a", stubborn("4"), 3s);
  add("b", [](const member_query&) -> std::optional<member_outcome> {
    return failed(failure_kind::rate_limited, 429, "HTTP 429");
  });
  add("c", stubborn("5"), 3s);
  auto answer = ask();
  BOOST_TEST(!answer->has_value());
  advance(3s);
  BOOST_REQUIRE(answer->has_value());
  auto& a = **answer;
  // Only round one was sent; the round was listed, not made.
  BOOST_TEST(labels_asked() == (std::vector<std::string>{"a", "b", "c"}),
             boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(a.combiner_calls.size(), 2u); // a and c: b took no part
  BOOST_TEST(a.combiner_calls[0].member == "a@round2");
  BOOST_TEST(a.combiner_calls[0].error.kind == failure_kind::timeout_total);
  BOOST_TEST(a.combiner_calls[0].error.message.find(
                 "skipped: the round could not finish before the ensemble "
                 "deadline (2000 ms left, the last round took 3000 ms)") == 0u);
  BOOST_TEST(a.rounds == 1);
  BOOST_TEST(a.note.find("round 2 was lost") == 0u);
  BOOST_TEST(a.status == answer_status::partial);
  BOOST_TEST(a.text == "4"); // the vote's tie goes to member order
  BOOST_TEST(saw("done:a@round2"));
}

BOOST_AUTO_TEST_CASE(
    a_debate_turn_that_never_reports_times_out_and_a_cancel_stops_a_round) {
  use("debate", {{"rounds", "3"}});
  add("a", silent_later("4"));
  add("b", stubborn("5"));
  auto answer = ask();
  BOOST_TEST(labels_asked() ==
                 (std::vector<std::string>{"a", "b", "a@round2", "b@round2"}),
             boost::test_tools::per_element());
  caf::anon_send(agg, cancel_atom::value);
  run();
  BOOST_REQUIRE_EQUAL(qlog->cancelled.size(), 1u);
  BOOST_TEST(qlog->cancelled[0] == query_of("a@round2").request.id);
  // The provider never confirms: the round ends at the question's deadline
  // and its grace, the call listed as cancelled; no round 3.
  advance(6'001ms);
  BOOST_REQUIRE(answer->has_value());
  auto& a = **answer;
  BOOST_TEST(a.combiner_calls[0].error.kind == failure_kind::cancelled);
  BOOST_TEST(a.combiner_calls[1].ok);
  BOOST_TEST(qlog->queries.size() == 4u);
}

BOOST_AUTO_TEST_CASE(a_council_reviews_anonymously_and_its_chairman_answers) {
  use("council", {{"chairman", "chair"}});
  add("alice", answers_then_reviews("alpha"));
  add("bob", answers_then_reviews("beta"));
  add("dave", [](const member_query&) -> std::optional<member_outcome> {
    return failed(failure_kind::server, 500, "HTTP 500");
  });
  add("carol", answers_then_reviews("gamma"));
  plan.callees["chair"] = ensemble_callee{
      "chair-model",
      spawn_owned(replying_provider, stubborn("The council: gamma."),
                  caf::timespan{0}, qlog)};
  auto answer = ask();
  BOOST_REQUIRE(answer->has_value());
  auto& a = **answer;
  BOOST_TEST(labels_asked() ==
                 (std::vector<std::string>{"alice", "bob", "dave", "carol",
                                           "alice@review", "bob@review",
                                           "carol@review", "chairman"}),
             boost::test_tools::per_element());
  for (auto* label : {"alice@review", "bob@review", "carol@review"}) {
    auto& q = query_of(label);
    BOOST_REQUIRE_EQUAL(q.request.messages.size(), 2u); // its system, prompt
    for (auto& m : q.request.messages)
      for (auto* name :
           {"alice", "bob", "carol", "dave", "-provider", "-model"})
        BOOST_TEST(m.content.find(name) == std::string::npos, name);
    BOOST_TEST(!q.request.params.max_tokens); // not the question's
  }
  BOOST_TEST(a.text == "The council: gamma.");
  BOOST_TEST(llog->streamed_answer == "The council: gamma.");
  BOOST_TEST(a.ranking == (std::vector<std::string>{"carol", "alice", "bob"}),
             boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(a.reviews.size(), 3u);
  BOOST_TEST(a.reviews[1].reviewer == "bob");
  BOOST_TEST(a.status == answer_status::partial); // dave failed
  BOOST_TEST(saw("delta:carol@review"));
  BOOST_TEST(saw("done:chairman"));
}

BOOST_AUTO_TEST_CASE(a_council_goes_on_without_a_review_that_never_comes) {
  use("council", {{"chairman", "none"}});
  add("alice", answers_then_reviews("alpha"));
  add("bob", silent_later("beta"));
  add("carol", answers_then_reviews("gamma"));
  auto answer = ask();
  BOOST_TEST(!answer->has_value());
  advance(6'001ms); // the question's deadline and grace
  BOOST_REQUIRE(answer->has_value());
  auto& a = **answer;
  BOOST_TEST(a.combiner_calls[1].member == "bob@review");
  BOOST_TEST(a.combiner_calls[1].error.kind == failure_kind::timeout_total);
  BOOST_TEST(a.note.find("the review by bob@review failed (timeout_total") !=
             std::string::npos);
  // alice ranked gamma (carol) first, carol ranked alpha (alice) first:
  // a tie at 1.0 with one first place each, so member order decides.
  BOOST_TEST(a.ranking == (std::vector<std::string>{"alice", "carol", "bob"}),
             boost::test_tools::per_element());
  BOOST_TEST(a.text == "alpha");
  BOOST_TEST(a.winner == "alice");
  BOOST_REQUIRE_EQUAL(qlog->cancelled.size(), 1u);
}

BOOST_AUTO_TEST_CASE(a_cancel_during_the_reviews_stops_them) {
  use("council", {{"chairman", "none"}});
  add("alice", silent_later("alpha"));
  add("bob", silent_later("beta"));
  auto answer = ask();
  BOOST_TEST(qlog->queries.size() == 4u);
  caf::anon_send(agg, cancel_atom::value);
  run();
  BOOST_TEST(qlog->cancelled.size() == 2u);
  advance(6'001ms);
  BOOST_REQUIRE(answer->has_value());
  auto& a = **answer;
  BOOST_TEST(a.combiner_calls[0].error.kind == failure_kind::cancelled);
  BOOST_TEST(a.note.find("no review could be used") == 0u);
  BOOST_TEST(a.status == answer_status::ok); // the vote over the answers
}

BOOST_AUTO_TEST_CASE(a_cancel_stops_a_usc_judge_and_the_vote_answers) {
  use("usc", {{"judge", "referee"}});
  add("a", stubborn("The answer is 4."));
  add("b", stubborn("The answer is 4."));
  add("c", [](const member_query&) -> std::optional<member_outcome> {
    return failed(failure_kind::timeout_total, 0, "no reply");
  });
  plan.callees["referee"] = ensemble_callee{
      "ref-model",
      spawn_owned(
          replying_provider,
          [](const member_query&) -> std::optional<member_outcome> {
            return std::nullopt;
          },
          caf::timespan{0}, qlog)};
  auto answer = ask();
  BOOST_TEST(labels_asked() == (std::vector<std::string>{"a", "b", "c", "usc"}),
             boost::test_tools::per_element());
  caf::anon_send(agg, cancel_atom::value);
  run();
  BOOST_REQUIRE_EQUAL(qlog->cancelled.size(), 1u);
  BOOST_TEST(qlog->cancelled[0] == query_of("usc").request.id);
  // The judge never confirms: its own deadline (5 s from when it was
  // asked) and grace end it.
  advance(5'999ms);
  BOOST_TEST(!answer->has_value());
  advance(2ms);
  BOOST_REQUIRE(answer->has_value());
  auto& a = **answer;
  BOOST_TEST(a.combiner_calls[0].error.kind == failure_kind::cancelled);
  BOOST_TEST(a.note.find("fell back to vote") != std::string::npos);
  BOOST_TEST(a.text == "The answer is 4.");
  BOOST_TEST(a.status == answer_status::partial); // c failed
}

BOOST_AUTO_TEST_SUITE_END()
