// The rate limiter on CAF's deterministic scheduler: who gets a permit, in
// which order, and what happens to a waiter whose time runs out.

#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/rate_limiter.hpp"
#include "tests/actors/actor_fixture.hpp"

using namespace tutti;
using namespace std::chrono_literals;

namespace {

/// What a client saw: the request id and the limiter's answer.
struct answer_log {
  std::vector<std::pair<std::string, permit_grant>> answers;

  std::vector<std::string> granted() const {
    std::vector<std::string> ids;
    for (auto& [id, grant] : answers)
      if (grant.granted)
        ids.push_back(id);
    return ids;
  }

  const permit_grant* find(const std::string& id) const {
    for (auto& [rid, grant] : answers)
      if (rid == id)
        return &grant;
    return nullptr;
  }
};

/// A client actor that asks once for a permit and records the answer.
caf::behavior client(caf::event_based_actor* self, caf::actor limiter,
                     permit_request req, std::shared_ptr<answer_log> log) {
  auto id = req.request_id;
  self->request(limiter, caf::infinite, acquire_atom::value, std::move(req))
      .then([=](const permit_grant& grant) {
        log->answers.emplace_back(id, grant);
      });
  return {};
}

struct limiter_fixture : testing::actor_fixture {
  std::shared_ptr<answer_log> log = std::make_shared<answer_log>();
  caf::actor limiter;

  void start(int64_t concurrency, size_t max_queue = 1000) {
    limiter_settings settings;
    settings.group = "test-group";
    settings.concurrency = concurrency;
    settings.max_queue = max_queue;
    start(settings);
  }

  void start(limiter_settings settings) {
    limiter = spawn_owned(rate_limiter, settings);
    run();
  }

  void acquire(const std::string& id, priority prio = priority::interactive,
               steady_us deadline = 0, int64_t tokens = 0) {
    permit_request req;
    req.request_id = id;
    req.provider = "p";
    req.priority = prio;
    req.deadline = deadline;
    req.estimated_tokens = tokens;
    sys.spawn(client, limiter, req, log);
    run();
  }

  /// The server has the request and begins to answer: its window starts.
  void answered(const std::string& id) {
    auto* grant = log->find(id);
    BOOST_REQUIRE(grant != nullptr && grant->granted);
    caf::anon_send(limiter, answered_atom::value, grant->permit_id, now_us());
    run();
  }

  void release(const std::string& id, usage used = {}) {
    auto* grant = log->find(id);
    BOOST_REQUIRE(grant != nullptr && grant->granted);
    caf::anon_send(limiter, release_atom::value, grant->permit_id, used);
    run();
  }

  /// Settings with a wide concurrency, so that only windows limit.
  static limiter_settings windowed(window_budget requests,
                                   window_budget tokens = {}) {
    limiter_settings settings;
    settings.group = "windowed";
    settings.concurrency = 100;
    settings.requests = requests;
    settings.tokens = tokens;
    settings.margin_us = 5'000;
    return settings;
  }

  /// The server's rate-limit headers on the reply to `id`.
  void server_says(const std::string& id, server_allowance requests,
                   server_allowance tokens = {}) {
    auto* grant = log->find(id);
    BOOST_REQUIRE(grant != nullptr && grant->granted);
    caf::anon_send(limiter, feedback_atom::value, grant->permit_id,
                   server_limits{requests, tokens}, now_us());
    run();
  }

  limiter_state state() {
    limiter_state result;
    auto probe = sys.spawn([&](caf::event_based_actor* self) {
      self->request(limiter, caf::infinite, state_atom::value)
          .then([&](const limiter_state& st) { result = st; });
    });
    run();
    return result;
  }
};

using ids = std::vector<std::string>;

} // namespace

BOOST_FIXTURE_TEST_SUITE(rate_limiter_tests, limiter_fixture)

BOOST_AUTO_TEST_CASE(grants_up_to_the_concurrency_limit_at_once) {
  start(2);
  acquire("a");
  acquire("b");
  acquire("c");
  BOOST_TEST(log->granted() == (ids{"a", "b"}),
             boost::test_tools::per_element());
  auto st = state();
  BOOST_TEST(st.in_flight == 2);
  BOOST_TEST(st.queued == 1);
  BOOST_TEST(st.group == "test-group");
}

BOOST_AUTO_TEST_CASE(waiters_get_released_slots_in_arrival_order) {
  start(1);
  for (auto id : {"a", "b", "c", "d"})
    acquire(id);
  BOOST_TEST(log->granted() == (ids{"a"}), boost::test_tools::per_element());
  release("a");
  BOOST_TEST(log->granted() == (ids{"a", "b"}),
             boost::test_tools::per_element());
  release("b");
  release("c");
  BOOST_TEST(log->granted() == (ids{"a", "b", "c", "d"}),
             boost::test_tools::per_element());
  BOOST_TEST(state().in_flight == 1);
}

BOOST_AUTO_TEST_CASE(concurrency_is_never_exceeded_under_churn) {
  start(3);
  for (int i = 0; i < 20; ++i)
    acquire("r" + std::to_string(i));
  for (int i = 0; i < 20; ++i) {
    BOOST_TEST(state().in_flight <= 3);
    release("r" + std::to_string(i));
  }
  BOOST_TEST(log->granted().size() == 20u);
  BOOST_TEST(state().in_flight == 0);
}

BOOST_AUTO_TEST_CASE(interactive_waiters_go_ahead_of_batch_waiters) {
  start(1);
  acquire("first");
  acquire("batch-1", priority::batch);
  acquire("batch-2", priority::batch);
  acquire("interactive", priority::interactive);
  release("first");
  release("interactive");
  release("batch-1");
  BOOST_TEST(log->granted() ==
                 (ids{"first", "interactive", "batch-1", "batch-2"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_waiter_whose_deadline_passes_fails_at_once) {
  start(1);
  acquire("holder");
  acquire("late", priority::interactive, now_us() + 500'000);
  acquire("patient");
  BOOST_TEST(log->find("late") == nullptr);
  advance(499ms);
  BOOST_TEST(log->find("late") == nullptr);
  advance(2ms);
  auto* late = log->find("late");
  BOOST_REQUIRE(late != nullptr);
  BOOST_TEST(!late->granted);
  BOOST_TEST(late->kind == failure_kind::queue_timeout);
  BOOST_TEST(late->reason.find("test-group") != std::string::npos);
  // The expired waiter does not take the next slot.
  release("holder");
  BOOST_TEST(log->granted() == (ids{"holder", "patient"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_request_already_past_its_deadline_is_refused) {
  start(1);
  acquire("holder");
  acquire("too-late", priority::interactive, now_us() - 1);
  auto* grant = log->find("too-late");
  BOOST_REQUIRE(grant != nullptr);
  BOOST_TEST(!grant->granted);
  BOOST_TEST(grant->kind == failure_kind::queue_timeout);
}

BOOST_AUTO_TEST_CASE(a_full_queue_refuses_new_waiters_as_overloaded) {
  start(1, 2);
  acquire("holder");
  acquire("w1");
  acquire("w2");
  acquire("overflow");
  auto* grant = log->find("overflow");
  BOOST_REQUIRE(grant != nullptr);
  BOOST_TEST(!grant->granted);
  BOOST_TEST(grant->kind == failure_kind::overloaded);
  BOOST_TEST(state().queued == 2);
}

BOOST_AUTO_TEST_CASE(a_withdrawn_waiter_leaves_the_queue) {
  start(1);
  acquire("holder");
  acquire("gone");
  acquire("next");
  caf::anon_send(limiter, withdraw_atom::value, std::string{"gone"});
  run();
  auto* gone = log->find("gone");
  BOOST_REQUIRE(gone != nullptr);
  BOOST_TEST(!gone->granted);
  BOOST_TEST(gone->kind == failure_kind::cancelled);
  release("holder");
  BOOST_TEST(log->granted() == (ids{"holder", "next"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(releasing_an_unknown_permit_changes_nothing) {
  start(1);
  acquire("a");
  acquire("b");
  caf::anon_send(limiter, release_atom::value, uint64_t{999}, usage{});
  run();
  BOOST_TEST(log->granted() == (ids{"a"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_request_window_holds_grants_until_the_oldest_leaves) {
  start(windowed(window_budget{3, 1'000'000}));
  for (auto id : {"a", "b", "c", "d", "e"})
    acquire(id);
  BOOST_TEST(log->granted() == (ids{"a", "b", "c"}),
             boost::test_tools::per_element());
  for (auto id : {"a", "b", "c"})
    answered(id);
  // Releasing does not help: the window counts grants, not calls in flight.
  release("a");
  BOOST_TEST(log->granted().size() == 3u);
  advance(1'000ms); // the window, but not yet its safety margin
  BOOST_TEST(log->granted().size() == 3u);
  advance(5ms);
  BOOST_TEST(log->granted() == (ids{"a", "b", "c", "d", "e"}),
             boost::test_tools::per_element());
  BOOST_TEST(state().requests_in_window == 2);
}

BOOST_AUTO_TEST_CASE(the_window_slides_instead_of_resetting) {
  start(windowed(window_budget{2, 1'000'000}));
  acquire("t0");
  answered("t0");
  advance(600ms);
  acquire("t600");
  answered("t600");
  acquire("waits");
  BOOST_TEST(log->find("waits") == nullptr);
  // t0 leaves the window at 1005 ms; t600 is still in it: one slot frees.
  advance(405ms);
  BOOST_TEST(log->find("waits") != nullptr);
  acquire("later");
  BOOST_TEST(log->find("later") == nullptr);
  advance(600ms); // t600 leaves at 1605 ms
  BOOST_TEST(log->find("later") != nullptr);
}

BOOST_AUTO_TEST_CASE(a_grant_counts_until_a_window_after_the_server_has_it) {
  start(windowed(window_budget{1, 1'000'000}));
  acquire("slow-to-send");
  acquire("next");
  // However long the request takes to reach the server, its window has not
  // started: nothing can be granted in its place.
  advance(3'000ms);
  BOOST_TEST(log->find("next") == nullptr);
  answered("slow-to-send");
  advance(1'004ms);
  BOOST_TEST(log->find("next") == nullptr);
  advance(1ms);
  BOOST_TEST(log->find("next") != nullptr);
}

BOOST_AUTO_TEST_CASE(tokens_are_charged_an_estimate_then_corrected_on_release) {
  start(windowed({}, window_budget{100, 1'000'000}));
  acquire("a", priority::interactive, 0, 40);
  acquire("b", priority::interactive, 0, 40);
  acquire("c", priority::interactive, 0, 40);
  BOOST_TEST(log->granted() == (ids{"a", "b"}),
             boost::test_tools::per_element());
  BOOST_TEST(state().tokens_in_window == 80);
  // "a" really used 10 tokens, not 40: room for "c" at once.
  release("a", usage{6, 4, 0});
  BOOST_TEST(log->granted() == (ids{"a", "b", "c"}),
             boost::test_tools::per_element());
  BOOST_TEST(state().tokens_in_window == 90);
}

BOOST_AUTO_TEST_CASE(a_request_larger_than_the_token_budget_is_refused) {
  start(windowed({}, window_budget{100, 1'000'000}));
  acquire("huge", priority::interactive, 0, 101);
  auto* grant = log->find("huge");
  BOOST_REQUIRE(grant != nullptr);
  BOOST_TEST(!grant->granted);
  BOOST_TEST(grant->kind == failure_kind::bad_request);
}

BOOST_AUTO_TEST_CASE(a_permit_that_cannot_come_before_the_deadline_fails_now) {
  start(windowed(window_budget{1, 1'000'000}));
  acquire("first");
  answered("first");
  acquire("hopeless", priority::interactive, now_us() + 500'000);
  auto* grant = log->find("hopeless");
  BOOST_REQUIRE(grant != nullptr);
  BOOST_TEST(!grant->granted);
  BOOST_TEST(grant->kind == failure_kind::queue_timeout);
  BOOST_TEST(grant->reason.find("after the request's deadline") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_cooldown_pauses_the_whole_group_then_it_recovers) {
  start(4);
  acquire("before");
  caf::anon_send(limiter, cooldown_atom::value, now_us() + 2'000'000);
  run();
  BOOST_TEST(state().cooldown_until > 0);
  acquire("during-1");
  acquire("during-2");
  BOOST_TEST(log->granted() == (ids{"before"}),
             boost::test_tools::per_element());
  advance(1'999ms);
  BOOST_TEST(log->granted().size() == 1u);
  advance(1ms);
  BOOST_TEST(log->granted() == (ids{"before", "during-1", "during-2"}),
             boost::test_tools::per_element());
  BOOST_TEST(state().cooldown_until == 0);
}

BOOST_AUTO_TEST_CASE(a_shorter_cooldown_never_shortens_a_longer_one) {
  start(4);
  caf::anon_send(limiter, cooldown_atom::value, now_us() + 2'000'000);
  caf::anon_send(limiter, cooldown_atom::value, now_us() + 500'000);
  run();
  acquire("x");
  advance(1'000ms);
  BOOST_TEST(log->find("x") == nullptr);
  advance(1'000ms);
  BOOST_TEST(log->find("x") != nullptr);
}

BOOST_AUTO_TEST_CASE(the_servers_remaining_requests_hold_grants_until_reset) {
  start(100);
  acquire("first");
  // Two left until the reset in 1 s (no limit given: no refill before).
  server_says("first", server_allowance{-1, 2, 1000});
  BOOST_TEST(state().server_requests_left == 2);
  acquire("a");
  acquire("b");
  acquire("c");
  BOOST_TEST(log->granted() == (ids{"first", "a", "b"}),
             boost::test_tools::per_element());
  BOOST_TEST(state().server_requests_left == 0);
  advance(999ms);
  BOOST_TEST(log->granted().size() == 3u);
  advance(1ms);
  BOOST_TEST(log->granted().size() == 4u);
  BOOST_TEST(state().server_requests_left == -1);
}

BOOST_AUTO_TEST_CASE(requests_in_flight_are_counted_against_what_is_left) {
  start(100);
  acquire("first");
  acquire("second");
  acquire("third");
  // "first"'s reply says 3 left, but the server may not have counted
  // "second" and "third" yet: only 1 more may go.
  server_says("first", server_allowance{-1, 3, 1000});
  BOOST_TEST(state().server_requests_left == 1);
  acquire("a");
  acquire("b");
  BOOST_TEST(log->find("a") != nullptr);
  BOOST_TEST(log->find("b") == nullptr);
}

BOOST_AUTO_TEST_CASE(a_known_limit_refills_in_proportion_before_the_reset) {
  start(100);
  acquire("first");
  // 10 per second, none left, whole again in 1 s: one back every 100 ms,
  // as OpenAI's and Anthropic's buckets refill.
  server_says("first", server_allowance{10, 0, 1000});
  acquire("a");
  acquire("b");
  BOOST_TEST(log->granted().size() == 1u);
  advance(99ms);
  BOOST_TEST(log->granted().size() == 1u);
  advance(1ms);
  BOOST_TEST(log->granted() == (ids{"first", "a"}),
             boost::test_tools::per_element());
  advance(100ms);
  BOOST_TEST(log->granted() == (ids{"first", "a", "b"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_known_bucket_is_kept_past_its_reset) {
  start(100);
  acquire("first");
  server_says("first", server_allowance{10, 0, 1000});
  release("first");
  // Whole again after 1 s, and no more than whole however long it waits.
  advance(5000ms);
  BOOST_TEST(state().server_requests_left == 10);
  for (int i = 0; i < 11; ++i)
    acquire("burst-" + std::to_string(i));
  BOOST_TEST(log->granted().size() == 11u); // "first" and 10 of the burst
  advance(99ms);
  BOOST_TEST(log->granted().size() == 11u);
  advance(1ms);
  BOOST_TEST(log->granted().size() == 12u);
}

BOOST_AUTO_TEST_CASE(the_servers_remaining_tokens_hold_grants_until_reset) {
  start(100);
  acquire("first", priority::interactive, 0, 10);
  server_says("first", {}, server_allowance{-1, 100, 2000});
  acquire("a", priority::interactive, 0, 60);
  acquire("b", priority::interactive, 0, 60);
  BOOST_TEST(log->granted() == (ids{"first", "a"}),
             boost::test_tools::per_element());
  BOOST_TEST(state().server_tokens_left == 40);
  advance(2000ms);
  BOOST_TEST(log->granted().size() == 3u);
}

BOOST_AUTO_TEST_CASE(server_feedback_never_loosens_the_configured_budget) {
  start(windowed(window_budget{2, 1'000'000}));
  acquire("first");
  answered("first");
  server_says("first", server_allowance{1000, 999, 1000});
  acquire("a");
  acquire("b");
  // The server would take 999 more; the configuration says 2 a second.
  BOOST_TEST(log->granted() == (ids{"first", "a"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(older_server_feedback_does_not_replace_newer) {
  start(100);
  acquire("first");
  acquire("second");
  auto* second = log->find("second");
  caf::anon_send(limiter, feedback_atom::value, second->permit_id,
                 server_limits{server_allowance{-1, 0, 1000}, {}}, now_us());
  caf::anon_send(limiter, feedback_atom::value, log->find("first")->permit_id,
                 server_limits{server_allowance{-1, 50, 1000}, {}},
                 now_us() - 10'000);
  run();
  BOOST_TEST(state().server_requests_left == 0);
}

BOOST_AUTO_TEST_SUITE_END()
