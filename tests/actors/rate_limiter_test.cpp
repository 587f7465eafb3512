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
    limiter = spawn_owned(rate_limiter, settings);
    run();
  }

  void acquire(const std::string& id, priority prio = priority::interactive,
               steady_us deadline = 0) {
    permit_request req;
    req.request_id = id;
    req.provider = "p";
    req.priority = prio;
    req.deadline = deadline;
    sys.spawn(client, limiter, req, log);
    run();
  }

  void release(const std::string& id) {
    auto* grant = log->find(id);
    BOOST_REQUIRE(grant != nullptr && grant->granted);
    caf::anon_send(limiter, release_atom::value, grant->permit_id, usage{});
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

BOOST_AUTO_TEST_SUITE_END()
