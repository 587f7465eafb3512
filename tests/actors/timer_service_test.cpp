// The engine's timer service on CAF's deterministic scheduler: timers fire
// at their time, cancelled ones never, and nobody is kept alive by a timer.
// (Regression: CAF's delayed messages held every finished aggregator alive
// until its deadline passed: a batch's memory grew with its rate times the
// deadline.)

#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>
#include <vector>

#include <caf/event_based_actor.hpp>

#include "actors/timer_service.hpp"
#include "tests/actors/actor_fixture.hpp"

using namespace tutti;
using namespace std::chrono_literals;

namespace {

using fired_log = std::shared_ptr<std::vector<std::string>>;

using arm_atom = caf::atom_constant<caf::atom("arm")>;
using drop_atom = caf::atom_constant<caf::atom("drop")>;

/// Sets the timers it is told to and notes each that fires.
caf::behavior timed(caf::event_based_actor* self, tutti::timers timers,
                    fired_log log) {
  auto ids = std::make_shared<std::vector<uint64_t>>();
  return {
      [=](arm_atom, steady_us at, const std::string& name) {
        ids->push_back(timers.at(self, at, expire_atom::value, name));
      },
      [=](drop_atom, size_t index) { timers.cancel(self, ids->at(index)); },
      [=](cancel_atom) {
        timers.cancel_all(self);
        self->quit();
      },
      [=](expire_atom, const std::string& name) { log->push_back(name); },
  };
}

struct timer_fixture : testing::actor_fixture {
  fired_log log = std::make_shared<std::vector<std::string>>();
  caf::actor service = spawn_owned(timer_service);
  tutti::timers timers{service};

  caf::actor spawn_timed() { return sys.spawn(timed, timers, log); }

  void arm(const caf::actor& who, std::chrono::milliseconds in,
           const std::string& name) {
    caf::anon_send(who, arm_atom::value,
                   now_us() + std::chrono::microseconds{in}.count(), name);
    run();
  }

  size_t pending() {
    size_t n = 0;
    auto ptr = caf::actor_cast<caf::abstract_actor*>(service);
    auto* st =
        &static_cast<caf::stateful_actor<timer_service_state>*>(ptr)->state;
    n = st->entries.size();
    BOOST_TEST(st->schedule.size() == n);
    return n;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(timer_service_tests, timer_fixture)

BOOST_AUTO_TEST_CASE(timers_fire_in_time_order_at_their_time) {
  auto a = spawn_timed();
  arm(a, 300ms, "late");
  arm(a, 100ms, "early"); // set after a later one, fires first
  arm(a, 200ms, "middle");
  advance(99ms);
  BOOST_TEST(log->empty());
  advance(1ms);
  BOOST_TEST(*log == (std::vector<std::string>{"early"}));
  advance(200ms);
  BOOST_TEST(*log == (std::vector<std::string>{"early", "middle", "late"}));
  BOOST_TEST(pending() == 0u);
  caf::anon_send(a, cancel_atom::value);
  run();
}

BOOST_AUTO_TEST_CASE(a_cancelled_timer_never_fires_and_is_forgotten) {
  auto a = spawn_timed();
  arm(a, 100ms, "kept");
  arm(a, 100ms, "dropped");
  caf::anon_send(a, drop_atom::value, size_t{1});
  run();
  BOOST_TEST(pending() == 1u);
  advance(200ms);
  BOOST_TEST(*log == (std::vector<std::string>{"kept"}));
  caf::anon_send(a, cancel_atom::value);
  run();
}

BOOST_AUTO_TEST_CASE(an_actor_that_quits_takes_its_timers_along) {
  auto a = spawn_timed();
  for (int i = 0; i < 100; ++i)
    arm(a, std::chrono::milliseconds{60'000 + i}, "t" + std::to_string(i));
  BOOST_TEST(pending() == 100u);
  caf::actor_addr weak = a.address();
  caf::anon_send(a, cancel_atom::value);
  a = nullptr;
  run();
  BOOST_TEST(pending() == 0u);
  // Nothing holds the finished actor: it is gone before its timers' time.
  BOOST_TEST(!caf::actor_cast<caf::actor>(weak));
  advance(120s);
  BOOST_TEST(log->empty());
}

BOOST_AUTO_TEST_CASE(a_timer_does_not_keep_its_receiver_alive) {
  auto a = spawn_timed();
  arm(a, 60s, "never");
  caf::actor_addr weak = a.address();
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown); // no cancel
  a = nullptr;
  run();
  BOOST_TEST(!caf::actor_cast<caf::actor>(weak));
  advance(61s); // fires into nothing
  BOOST_TEST(log->empty());
  BOOST_TEST(pending() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
