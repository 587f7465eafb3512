#pragma once

// A CAF actor system on the deterministic test scheduler, for Boost.Test:
// messages are delivered only when the test says so, and time moves only
// when the test advances it. No sleeps, no threads.

#include <chrono>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/send.hpp>

#include "actors/clock.hpp"
#include "actors/protocol.hpp"

namespace tutti::testing {

struct actor_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;

  static caf::actor_system_config& init(caf::actor_system_config& cfg) {
    cfg.add_message_types<caf::id_block::tutti>();
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.verbosity", caf::atom("quiet"));
    return cfg;
  }

  actor_fixture()
      : sys(init(cfg)), sched(dynamic_cast<caf::scheduler::test_coordinator&>(
                            sys.scheduler())) {
    sched.clock().current_time += std::chrono::hours(1);
  }

  /// Long-lived actors the test spawned; stopped before the system goes,
  /// since the system waits for every actor to finish.
  std::vector<caf::actor> owned;

  ~actor_fixture() {
    for (auto& actor : owned)
      caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    sched.run();
  }

  /// Spawns a long-lived actor that the fixture stops at the end.
  template <class... Ts>
  caf::actor spawn_owned(Ts&&... xs) {
    auto actor = sys.spawn(std::forward<Ts>(xs)...);
    owned.push_back(actor);
    return actor;
  }

  /// Delivers every pending message, including those sent while delivering.
  void run() { sched.run(); }

  /// The test clock, as the actors read it.
  steady_us now_us() const { return to_steady_us(sched.clock().now()); }

  /// Moves the clock forward, fires what falls due, and runs.
  void advance(std::chrono::microseconds d) {
    sched.clock().advance_time(d);
    sched.run();
  }
};

} // namespace tutti::testing
