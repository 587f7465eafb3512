// The aggregator on CAF's deterministic scheduler, with scripted provider
// actors: every member is listed, failures included, in member order, and
// the answer comes even when a member never reports.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/aggregator.hpp"
#include "plugins/combine/collect/collect.hpp"
#include "tests/actors/actor_fixture.hpp"
#include "tests/actors/scripted_outcomes.hpp"
#include "tutti/registry.hpp"

using namespace tutti;
using namespace std::chrono_literals;

namespace {

using testing::failed;
using testing::success;

/// What the scripted providers saw.
struct provider_log {
  std::vector<member_query> queries;
  std::vector<std::string> cancelled;
};

/// A provider that answers every query with `outcome` after streaming one
/// delta to the query's listener.
caf::behavior scripted_provider(caf::event_based_actor* self,
                                member_outcome outcome,
                                std::shared_ptr<provider_log> log) {
  return {
      [=](query_atom, member_query& query) {
        log->queries.push_back(query);
        if (query.listener && query.progress)
          self->send(query.listener,
                     member_progress{query.member, member_state::sent, 1});
        if (query.listener && outcome.ok)
          self->send(query.listener,
                     member_delta{query.member, outcome.reply.text});
        auto result = outcome;
        result.member = query.member;
        return result;
      },
      [=](cancel_atom, const std::string& id) { log->cancelled.push_back(id); },
  };
}

/// A provider that never answers (its promise stays open) but notes cancels.
caf::behavior silent_provider(caf::event_based_actor* self,
                              std::shared_ptr<provider_log> log) {
  return {
      [=](query_atom, member_query& query) -> caf::result<member_outcome> {
        log->queries.push_back(query);
        return self->make_response_promise();
      },
      [=](cancel_atom, const std::string& id) { log->cancelled.push_back(id); },
  };
}

/// A provider that answers every query with `outcome` only `delay` after
/// it came (the test moves the clock).
caf::behavior late_provider(caf::stateful_actor<caf::response_promise>* self,
                            member_outcome outcome, caf::timespan delay) {
  return {
      [=](query_atom, member_query& query) -> caf::result<member_outcome> {
        self->state = self->make_response_promise();
        self->delayed_send(self, delay, wake_atom::value, query.member);
        return self->state;
      },
      [=](wake_atom, const std::string& member) {
        auto result = outcome;
        result.member = member;
        self->state.deliver(result);
      },
      [=](cancel_atom, const std::string&) {},
  };
}

/// Records what a listener receives, in order.
struct listener_log {
  std::vector<std::string> events; ///< "delta:member", "done:member", "answer"
  std::vector<ensemble_answer> answers;
  std::string streamed_answer; ///< the text of the answer's own deltas
};

caf::behavior listener(caf::event_based_actor*,
                       std::shared_ptr<listener_log> log) {
  return {
      [=](const member_progress& p) {
        log->events.push_back(std::string{to_string(p.state)} + ":" + p.member);
      },
      [=](const member_delta& d) {
        log->events.push_back("delta:" + d.member);
        if (d.answer)
          log->streamed_answer += d.text;
      },
      [=](const member_outcome& o) {
        log->events.push_back("done:" + o.member);
      },
      [=](const ensemble_answer& a) {
        log->events.push_back("answer");
        log->answers.push_back(a);
      },
  };
}

struct aggregator_fixture : testing::actor_fixture {
  std::shared_ptr<provider_log> plog = std::make_shared<provider_log>();
  std::shared_ptr<listener_log> llog = std::make_shared<listener_log>();
  ensemble_plan plan;

  aggregator_fixture() {
    plan.name = "trio";
    plan.combine_name = "collect";
    plan.strategy = make_collect(combine_options{});
    plan.deadline_us = 5'000'000;
    plan.grace_us = 1'000'000;
  }

  void add_member(std::string label, caf::actor provider) {
    plan.members.push_back(ensemble_member{
        label, label + "-provider", label + "-model", provider, {}, 1.0});
  }

  void add_scripted(std::string label, member_outcome outcome) {
    add_member(label, spawn_owned(scripted_provider, outcome, plog));
  }

  /// Asks the ensemble; the answer lands in `answer` once delivered.
  std::shared_ptr<std::optional<ensemble_answer>>
  ask(bool with_listener, bool with_progress = false) {
    auto result = std::make_shared<std::optional<ensemble_answer>>();
    auto agg = sys.spawn(aggregator, plan);
    ensemble_question question;
    question.prompt_id = "q1";
    question.request.id = "q1";
    question.request.messages.push_back(chat_message{"user", "2+2?"});
    if (with_listener)
      question.listener = spawn_owned(listener, llog);
    question.progress = with_progress;
    sys.spawn([=](caf::event_based_actor* self) {
      self->request(agg, caf::infinite, ask_atom::value, question)
          .then([=](ensemble_answer& a) { *result = std::move(a); });
    });
    run();
    return result;
  }
};

/// A strategy that asks one round of calls, as a debate or a council
/// does: a member's turn, a late referee, one that never answers and
/// one the ensemble does not know; then answers with what each call came
/// to, in the order asked.
class one_round final : public combine_strategy {
public:
  combined combine(const combine_input& input) const override {
    combined result;
    if (input.calls.empty()) {
      for (auto [provider, label] :
           {std::pair{"a-provider", "a@round2"}, std::pair{"referee", "ref"},
            std::pair{"stuck-judge", "stuck"}, std::pair{"nobody", "lost"}})
        result.calls.push_back(
            model_call{provider, label, "", std::string{"revise: "} + label});
      result.calls.front().member = "a"; // a member's turn
      return result;
    }
    for (auto& call : input.calls)
      result.text += call.member + "=" +
                     (call.ok ? call.reply.text
                              : std::string{to_string(call.error.kind)}) +
                     ";";
    result.status = answer_status::ok;
    return result;
  }
  std::vector<std::string> providers_called() const override {
    return {"referee", "stuck-judge"};
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(aggregator_tests, aggregator_fixture)

BOOST_AUTO_TEST_CASE(a_round_of_calls_goes_out_at_once_and_returns_in_order) {
  add_scripted("a", success("first try"));
  plan.strategy = std::make_unique<one_round>();
  plan.callees["referee"] = ensemble_callee{
      "ref-model", spawn_owned(late_provider, success("verdict"), 200ms)};
  plan.callees["stuck-judge"] =
      ensemble_callee{"stuck-model", spawn_owned(silent_provider, plog)};
  auto answer = ask(true);
  // The member's provider and the stuck judge were asked together (the
  // referee is not in the log: it answers late).
  BOOST_REQUIRE_EQUAL(plog->queries.size(), 3u); // a, a@round2, stuck
  BOOST_TEST(plog->queries[1].member == "a@round2");
  BOOST_TEST(plog->queries[1].request.messages.back().content ==
             "revise: a@round2");
  BOOST_TEST(plog->queries[2].member == "stuck");
  advance(200ms); // the referee answers; the round waits for the stuck one
  BOOST_TEST(!answer->has_value());
  advance(5'799ms); // the round's deadline (5 s) and grace (1 s), not yet
  BOOST_TEST(!answer->has_value());
  advance(2ms);
  BOOST_REQUIRE(answer->has_value());
  auto& a = **answer;
  BOOST_TEST(a.text == "a@round2=first try;ref=verdict;stuck=timeout_total;"
                       "lost=bad_request;");
  BOOST_REQUIRE_EQUAL(a.combiner_calls.size(), 4u);
  BOOST_TEST(a.combiner_calls[3].error.message.find("does not know") !=
             std::string::npos);
  // The stuck call was told to stop.
  BOOST_REQUIRE_EQUAL(plog->cancelled.size(), 1u);
  BOOST_TEST(plog->cancelled[0] == plog->queries[2].request.id);
  // Each call's outcome reached the listener as it came.
  auto saw = [&](const std::string& event) {
    return std::count(llog->events.begin(), llog->events.end(), event) == 1;
  };
  BOOST_TEST(saw("done:a@round2"));
  BOOST_TEST(saw("done:ref"));
}

BOOST_AUTO_TEST_CASE(a_cancel_during_a_round_stops_every_call_in_flight) {
  add_scripted("a", success("first try"));
  plan.strategy = std::make_unique<one_round>();
  plan.callees["referee"] =
      ensemble_callee{"ref-model", spawn_owned(silent_provider, plog)};
  plan.callees["stuck-judge"] =
      ensemble_callee{"stuck-model", spawn_owned(silent_provider, plog)};
  auto agg = sys.spawn(aggregator, plan);
  ensemble_question question;
  question.prompt_id = "q1";
  question.request.id = "q1";
  question.request.messages.push_back(chat_message{"user", "2+2?"});
  auto answer = std::make_shared<std::optional<ensemble_answer>>();
  sys.spawn([=](caf::event_based_actor* self) {
    self->request(agg, caf::infinite, ask_atom::value, question)
        .then([=](ensemble_answer& a) { *answer = std::move(a); });
  });
  run();
  BOOST_REQUIRE_EQUAL(plog->queries.size(), 4u); // a, a@round2, ref, stuck
  caf::anon_send(agg, cancel_atom::value);
  run();
  // The two calls still in flight (ref, stuck) were told to stop, once;
  // the member's, which had answered, was not.
  BOOST_REQUIRE_EQUAL(plog->cancelled.size(), 2u);
  BOOST_TEST(plog->cancelled[0] == plog->queries[2].request.id);
  BOOST_TEST(plog->cancelled[1] == plog->queries[3].request.id);
  // Providers that never confirm leave the round to its deadline; the
  // calls are then listed as cancelled, not timed out, and not told again.
  advance(6'001ms);
  BOOST_REQUIRE(answer->has_value());
  BOOST_TEST((*answer)->text == "a@round2=first try;ref=cancelled;"
                                "stuck=cancelled;lost=bad_request;");
  BOOST_TEST(plog->cancelled.size() == 2u);
}

BOOST_AUTO_TEST_CASE(failed_member_is_listed_with_its_kind_and_status) {
  add_scripted("gpt", success("4"));
  add_scripted("broken", failed(failure_kind::overloaded, 503,
                                "The server is overloaded"));
  add_scripted("llama", success("four"));
  auto answer = ask(false);
  BOOST_REQUIRE(answer->has_value());
  auto& a = **answer;
  BOOST_TEST(a.ensemble == "trio");
  BOOST_TEST(a.status == answer_status::partial);
  BOOST_REQUIRE(a.members.size() == 3u);
  BOOST_TEST(a.members[0].member == "gpt");
  BOOST_TEST(a.members[0].ok);
  BOOST_TEST(a.members[1].member == "broken");
  BOOST_TEST(!a.members[1].ok);
  BOOST_TEST(a.members[1].error.kind == failure_kind::overloaded);
  BOOST_TEST(a.members[1].error.http_status == 503);
  BOOST_TEST(a.members[1].error.message == "The server is overloaded");
  BOOST_TEST(a.members[2].member == "llama");
  // The combined answer keeps the others' answers intact.
  BOOST_TEST(a.text.find("4") != std::string::npos);
  BOOST_TEST(a.text.find("four") != std::string::npos);
  BOOST_TEST(a.combine == "collect");
}

BOOST_AUTO_TEST_CASE(every_member_is_queried_at_once_with_its_own_request) {
  add_scripted("a", success("x"));
  add_scripted("b", success("y"));
  add_scripted("c", success("z"));
  auto answer = ask(false);
  BOOST_REQUIRE(answer->has_value());
  BOOST_TEST((*answer)->status == answer_status::ok);
  BOOST_REQUIRE(plog->queries.size() == 3u);
  std::vector<std::string> ids;
  for (auto& q : plog->queries) {
    ids.push_back(q.request.id);
    BOOST_TEST(q.request.deadline > 0);
    BOOST_TEST(q.request.messages.size() == 1u);
  }
  BOOST_TEST(ids == (std::vector<std::string>{"q1/a", "q1/b", "q1/c"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(all_members_failing_gives_a_failed_answer_listing_them) {
  add_scripted("a", failed(failure_kind::auth, 401, "bad key"));
  add_scripted("b", failed(failure_kind::server, 500, "oops"));
  auto answer = ask(false);
  BOOST_REQUIRE(answer->has_value());
  auto& a = **answer;
  BOOST_TEST(a.status == answer_status::failed);
  BOOST_REQUIRE(a.members.size() == 2u);
  BOOST_TEST(a.members[0].error.kind == failure_kind::auth);
  BOOST_TEST(a.members[1].error.kind == failure_kind::server);
}

BOOST_AUTO_TEST_CASE(listener_sees_deltas_outcomes_then_the_answer) {
  add_scripted("a", success("x"));
  add_scripted("b", failed(failure_kind::server, 500, "oops"));
  auto answer = ask(true);
  BOOST_REQUIRE(answer->has_value());
  BOOST_REQUIRE(llog->answers.size() == 1u);
  BOOST_TEST(llog->answers[0].members.size() == 2u);
  auto& ev = llog->events;
  BOOST_REQUIRE(!ev.empty());
  BOOST_TEST(ev.back() == "answer");
  auto pos = [&](const std::string& e) {
    return std::find(ev.begin(), ev.end(), e) - ev.begin();
  };
  BOOST_TEST(pos("delta:a") < pos("done:a"));
  BOOST_TEST(pos("done:b") < pos("answer"));
  BOOST_TEST(std::count(ev.begin(), ev.end(), "answer") == 1);
}

BOOST_AUTO_TEST_CASE(a_question_that_asks_hears_each_members_progress) {
  add_scripted("a", success("x"));
  add_scripted("b", failed(failure_kind::server, 500, "oops"));
  auto answer = ask(true, true);
  BOOST_REQUIRE(answer->has_value());
  for (auto& q : plog->queries)
    BOOST_TEST(q.progress);
  auto& ev = llog->events;
  auto pos = [&](const std::string& e) {
    return std::find(ev.begin(), ev.end(), e) - ev.begin();
  };
  BOOST_TEST(pos("sent:a") < pos("delta:a"));
  BOOST_TEST(pos("sent:b") < pos("done:b"));
  BOOST_TEST(pos("done:b") < static_cast<long>(ev.size()));
}

BOOST_AUTO_TEST_CASE(a_question_that_does_not_ask_hears_none) {
  add_scripted("a", success("x"));
  auto answer = ask(true, false);
  BOOST_REQUIRE(answer->has_value());
  BOOST_TEST(!plog->queries.at(0).progress);
  for (auto& e : llog->events)
    BOOST_TEST(e.rfind("sent:", 0) != 0u);
}

// Regression: the aggregator streamed the first success to *arrive* while
// `first` picked the smallest `total_us`, so a client could read one answer
// and be told another ("beta" streamed, "alpha" final).
BOOST_AUTO_TEST_CASE(combine_first_answers_with_the_reply_it_streamed) {
  plan.combine_name = "first";
  plan.strategy = registry::builtin().make_combine("first");
  plan.streams_first_success = true; // as `first` declares
  auto quick_but_late = success("alpha");
  quick_but_late.reply.timing.total_us = 100; // measured faster...
  auto slower = success("beta");
  slower.reply.timing.total_us = 200;
  add_member("alpha",
             spawn_owned(late_provider, quick_but_late,
                         caf::timespan{std::chrono::milliseconds{10}}));
  add_scripted("beta", slower); // ...but beta's outcome came first
  auto answer = ask(true);
  BOOST_TEST(llog->streamed_answer == "beta");
  advance(10ms);
  BOOST_REQUIRE(answer->has_value());
  BOOST_TEST((*answer)->text == "beta");
  BOOST_TEST((*answer)->winner == "beta");
  BOOST_TEST(llog->streamed_answer == (*answer)->text);
}

BOOST_AUTO_TEST_CASE(a_refusal_is_never_the_answer_of_first_or_vote) {
  // A refusal comes quickly and says something, but it is no answer: first
  // waits for a reply, vote counts only replies.
  for (std::string combine : {"first", "vote"}) {
    BOOST_TEST_CONTEXT(combine) {
      plan.members.clear();
      plan.combine_name = combine;
      plan.strategy = registry::builtin().make_combine(combine);
      add_scripted("careful",
                   failed(failure_kind::refused, 0, "I can't help with that."));
      add_scripted("prudent",
                   failed(failure_kind::refused, 0, "I won't answer that."));
      add_member("helpful",
                 spawn_owned(late_provider, success("4"),
                             caf::timespan{std::chrono::milliseconds{10}}));
      auto answer = ask(false);
      advance(10ms);
      BOOST_REQUIRE(answer->has_value());
      auto& a = **answer;
      BOOST_TEST(a.status == answer_status::partial);
      BOOST_TEST(a.text == "4");
      BOOST_TEST(a.winner == "helpful");
      BOOST_TEST(a.members[0].error.kind == failure_kind::refused);
    }
  }
}

// Regression: a cancel that reached the aggregator before its question (the
// engine cancels a question it has just started when it stops, or when a
// client leaves at once) indexed members it had not set up yet and crashed
// the process.
BOOST_AUTO_TEST_CASE(a_cancel_before_the_question_answers_it_cancelled) {
  add_scripted("a", success("x"));
  add_scripted("b", success("y"));
  auto result = std::make_shared<std::optional<ensemble_answer>>();
  auto agg = sys.spawn(aggregator, plan);
  caf::anon_send(agg, cancel_atom::value);
  run();
  ensemble_question question;
  question.prompt_id = "q1";
  question.request.id = "q1";
  question.request.messages.push_back(chat_message{"user", "2+2?"});
  sys.spawn([=](caf::event_based_actor* self) {
    self->request(agg, caf::infinite, ask_atom::value, question)
        .then([=](ensemble_answer& a) { *result = std::move(a); });
  });
  run();
  BOOST_REQUIRE(result->has_value());
  auto& answer = **result;
  BOOST_TEST((answer.status == answer_status::failed));
  BOOST_REQUIRE(answer.members.size() == 2u);
  for (auto& m : answer.members) {
    BOOST_TEST((m.error.kind == failure_kind::cancelled));
    BOOST_TEST(m.error.message == "not started: cancelled");
  }
  BOOST_TEST(plog->queries.empty()); // no member was asked
}

BOOST_AUTO_TEST_CASE(a_member_that_never_reports_times_out_at_the_deadline) {
  add_scripted("fast", success("here"));
  add_member("stuck", spawn_owned(silent_provider, plog));
  auto answer = ask(false);
  BOOST_TEST(!answer->has_value());
  advance(5'999ms); // deadline 5 s plus 1 s grace, not yet
  BOOST_TEST(!answer->has_value());
  advance(2ms);
  // Told to stop, it gets 100 ms to report what it used; it never does.
  BOOST_TEST(!answer->has_value());
  advance(99ms);
  BOOST_TEST(!answer->has_value());
  advance(1ms);
  BOOST_REQUIRE(answer->has_value());
  auto& a = **answer;
  BOOST_TEST(a.status == answer_status::partial);
  BOOST_TEST(a.members[0].ok);
  BOOST_TEST(!a.members[1].ok);
  BOOST_TEST(a.members[1].member == "stuck");
  BOOST_TEST(a.members[1].error.kind == failure_kind::timeout_total);
  BOOST_TEST(a.members[1].provider == "stuck-provider");
  // The running member was told to stop.
  BOOST_TEST(plog->cancelled == (std::vector<std::string>{"q1/stuck"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(labels_come_from_the_plan_whatever_providers_say) {
  auto outcome = success("x");
  add_scripted("first", outcome);
  add_scripted("second", outcome);
  auto answer = ask(false);
  BOOST_REQUIRE(answer->has_value());
  BOOST_TEST((*answer)->members[0].member == "first");
  BOOST_TEST((*answer)->members[1].member == "second");
}

BOOST_AUTO_TEST_SUITE_END()
