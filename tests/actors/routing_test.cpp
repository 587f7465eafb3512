// Routed models on CAF's deterministic scheduler: the aggregator asks each
// deployment's provider how it stands, tries them in the route's order
// (`route_order`), falls over to the next on failure, puts an open breaker
// last, starts without a provider that does not say, and starts nothing
// once cancelled. Plus `route_order` itself, from values.

#include <boost/test/unit_test.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/aggregator.hpp"
#include "actors/route_order.hpp"
#include "plugins/combine/first/first.hpp"
#include "tests/actors/actor_fixture.hpp"

using namespace tutti;
using namespace std::chrono_literals;

namespace {

struct route_log {
  std::vector<std::string> queried; ///< member labels, in order
  std::vector<std::string> models;  ///< the model each query named
  int state_asks = 0;
};

/// A deployment's provider: reports `snapshot` when asked how it stands
/// (unless `answers_state` is false), and answers a query ok or failed.
caf::behavior deployment(caf::event_based_actor* self, bool ok,
                         provider_snapshot snapshot, bool answers_state,
                         std::shared_ptr<route_log> log) {
  auto on_query = [=](query_atom, member_query& query) {
    log->queried.push_back(query.member);
    log->models.push_back(query.request.params.model);
    member_outcome outcome;
    outcome.member = query.member;
    outcome.ok = ok;
    if (ok) {
      outcome.reply.text = "from " + query.member;
      outcome.reply.finish_reason = "stop";
    } else {
      outcome.error.kind = failure_kind::server;
      outcome.error.http_status = 500;
      outcome.error.message = "down";
    }
    return outcome;
  };
  auto on_cancel = [=](cancel_atom, const std::string&) {};
  if (!answers_state)
    return {on_query, on_cancel};
  return {on_query, on_cancel, [=](state_atom) {
            ++log->state_asks;
            return snapshot;
          }};
}

provider_snapshot stands(int64_t calls, int64_t latency_us = 0,
                         std::string breaker = "closed",
                         int64_t requests_left = -1) {
  provider_snapshot s;
  s.breaker = std::move(breaker);
  s.calls = calls;
  s.latency_us = latency_us;
  s.requests_left = requests_left;
  return s;
}

struct routing_fixture : testing::actor_fixture {
  std::shared_ptr<route_log> log = std::make_shared<route_log>();
  ensemble_plan plan;

  routing_fixture() {
    plan.name = "gpt-4o";
    plan.combine_name = "first";
    plan.strategy = make_first(combine_options{});
    plan.streams_first_success = true;
    plan.until = until_rule::first;
    plan.mode = run_mode::fallback;
    plan.deadline_us = 5'000'000;
    plan.route_random = 42;
  }

  void add(std::string label, bool ok, provider_snapshot s,
           bool answers_state = true, double weight = 1) {
    chat_params params;
    params.model = "m-" + label;
    plan.members.push_back(ensemble_member{
        label, label, label,
        spawn_owned(deployment, ok, std::move(s), answers_state, log), params,
        weight});
  }

  std::shared_ptr<std::optional<ensemble_answer>> ask(route_strategy s) {
    plan.route = s;
    auto result = std::make_shared<std::optional<ensemble_answer>>();
    auto agg = sys.spawn(aggregator, plan);
    ensemble_question question;
    question.prompt_id = "q1";
    question.request.id = "q1";
    question.request.messages.push_back(chat_message{"user", "hi"});
    sys.spawn([=](caf::event_based_actor* self) {
      self->request(agg, caf::infinite, ask_atom::value, question)
          .then([=](ensemble_answer& a) { *result = std::move(a); });
    });
    run();
    return result;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(routing, routing_fixture)

BOOST_AUTO_TEST_CASE(
    least_busy_asks_the_idlest_first_and_falls_over_on_failure) {
  add("busy", true, stands(7));
  add("idle", false, stands(0));
  add("middle", true, stands(3));
  auto answer = ask(route_strategy::least_busy);
  BOOST_REQUIRE(answer->has_value());
  BOOST_TEST(log->state_asks == 3);
  // idle failed, so the next least busy answered; busy was never asked.
  BOOST_TEST(log->queried == (std::vector<std::string>{"idle", "middle"}),
             boost::test_tools::per_element());
  BOOST_TEST((*answer)->text == "from middle");
  BOOST_TEST((*answer)->status == answer_status::partial);
  // Each deployment is asked for its own model (a wildcard's rest).
  BOOST_TEST(log->models[0] == "m-idle");
  // The answer lists the members in the order they were tried.
  BOOST_TEST((*answer)->members[0].member == "idle");
  BOOST_TEST((*answer)->members[1].member == "middle");
}

BOOST_AUTO_TEST_CASE(an_open_breaker_goes_last_whatever_the_strategy) {
  add("tripped", true, stands(0, 10, "open"));
  add("slow", true, stands(0, 9000));
  auto answer = ask(route_strategy::lowest_latency);
  BOOST_REQUIRE(answer->has_value());
  BOOST_TEST(log->queried == (std::vector<std::string>{"slow"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(
    lowest_latency_measures_a_deployment_with_no_replies_first) {
  add("fast", true, stands(0, 100));
  add("new", true, stands(0, 0));
  add("slow", true, stands(0, 5000));
  auto answer = ask(route_strategy::lowest_latency);
  BOOST_REQUIRE(answer->has_value());
  BOOST_TEST(log->queried.front() == "new");
}

BOOST_AUTO_TEST_CASE(a_provider_that_does_not_say_does_not_hold_the_question) {
  add("mute", true, stands(0), false);
  add("talks", false, stands(0));
  auto answer = ask(route_strategy::least_busy);
  BOOST_REQUIRE(answer->has_value());
  // Both were ordered (mute as unknown); the question was answered.
  BOOST_TEST((*answer)->status != answer_status::failed);
  BOOST_TEST(log->queried.size() >= 1u);
}

BOOST_AUTO_TEST_CASE(a_question_cancelled_while_routing_starts_nothing) {
  add("a", true, stands(0));
  add("b", true, stands(0));
  plan.route = route_strategy::weighted;
  auto result = std::make_shared<std::optional<ensemble_answer>>();
  auto agg = sys.spawn(aggregator, plan);
  ensemble_question question;
  question.prompt_id = "q1";
  question.request.id = "q1";
  sys.spawn([=](caf::event_based_actor* self) {
    self->request(agg, caf::infinite, ask_atom::value, question)
        .then([=](ensemble_answer& a) { *result = std::move(a); });
  });
  // The question reaches the aggregator, which asks the providers; the
  // cancel comes before they answer.
  sched.run_once();
  sched.run_once();
  caf::anon_send(agg, cancel_atom::value);
  run();
  BOOST_REQUIRE(result->has_value());
  BOOST_TEST(log->queried.empty());
  BOOST_TEST((*result)->status == answer_status::failed);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(route_order_rules)

BOOST_AUTO_TEST_CASE(weighted_puts_a_deployment_first_as_often_as_its_weight) {
  std::vector<deployment_view> views(2);
  views[0].weight = 3;
  views[1].weight = 1;
  int first = 0;
  const int draws = 4000;
  for (int i = 0; i < draws; ++i)
    first += route_order(route_strategy::weighted, views, 1000 + i)[0] == 0;
  // 3/4 of 4000 = 3000; ±100 is over 5 standard deviations (27).
  BOOST_TEST(first > 2900);
  BOOST_TEST(first < 3100);
}

BOOST_AUTO_TEST_CASE(most_remaining_ranks_known_then_unknown_then_exhausted) {
  std::vector<deployment_view> views(4);
  views[0].requests_left = 0;
  views[1].requests_left = -1;
  views[2].requests_left = 50;
  views[3].requests_left = 900;
  auto order = route_order(route_strategy::most_remaining, views, 7);
  BOOST_TEST(order == (std::vector<size_t>{3, 2, 1, 0}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(ties_follow_the_weighted_draw_and_every_index_appears) {
  std::vector<deployment_view> views(5);
  for (uint64_t seed = 0; seed < 50; ++seed) {
    auto order = route_order(route_strategy::least_busy, views, seed);
    BOOST_TEST(order.size() == 5u);
    auto sorted = order;
    std::sort(sorted.begin(), sorted.end());
    BOOST_TEST(sorted == (std::vector<size_t>{0, 1, 2, 3, 4}),
               boost::test_tools::per_element());
    BOOST_TEST(order == route_order(route_strategy::weighted, views, seed),
               boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_SUITE_END()
