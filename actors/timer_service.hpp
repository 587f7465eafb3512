#pragma once

/// Timeouts for short-lived actors that cost nothing once cancelled.
///
/// CAF 0.17's delayed messages cannot be cancelled and hold their receiver
/// alive until they fire: with a 60 s ensemble deadline, every finished
/// question stayed in memory for a minute (about 4 KiB each: a batch at
/// 2,400 rows/s held 140,000 of them). The engine's timer service keeps its
/// own ordered table instead, holds receivers weakly, drops an actor's
/// entries when it says it is done, and asks CAF's actor clock for one
/// wake-up at a time (its earliest entry), so the deterministic test clock
/// drives it like any delayed message.
///
/// Protocol (to the service):
/// - (timer_atom, id, at, receiver address, message): deliver the message
///   to the receiver at `at` (steady µs) unless cancelled or gone by then
/// - (cancel_atom, id): forget one timer
/// - (cancel_atom, owner address): forget every timer of an actor

#include <atomic>
#include <cstdint>
#include <map>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/message.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/clock.hpp"
#include "actors/protocol.hpp"

namespace tutti {

using timer_atom = caf::atom_constant<caf::atom("timer")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;

struct timer_service_state {
  struct entry {
    steady_us at = 0;
    caf::actor_addr receiver;
    caf::message content;
    std::multimap<steady_us, uint64_t>::iterator slot;
  };
  std::unordered_map<uint64_t, entry> entries;
  std::multimap<steady_us, uint64_t> schedule;
  std::map<caf::actor_addr, std::vector<uint64_t>> by_owner;
  /// The wake-up asked of the actor clock; INT64_MAX: none.
  steady_us armed_at = INT64_MAX;

  static inline const char* name = "timer_service";
};

caf::behavior timer_service(caf::stateful_actor<timer_service_state>* self);

/// What an actor holds to set and cancel its timers: the engine's service,
/// or nothing (an actor spawned alone in a test), when CAF's own delayed
/// messages stand in (they work the same, but are not cancellable).
class timers {
public:
  timers() = default;
  explicit timers(caf::actor service) : service_(std::move(service)) {}

  /// Delivers (xs...) to `self` at `at` unless cancelled first or `self`
  /// has gone. Returns the timer's id (0 without a service).
  template <class Self, class... Ts>
  uint64_t at(Self* self, steady_us at, Ts&&... xs) const {
    if (!service_) {
      self->scheduled_send(caf::actor_cast<caf::actor>(self), to_actor_time(at),
                           std::forward<Ts>(xs)...);
      return 0;
    }
    auto id = next_id();
    self->send(service_, timer_atom::value, id, at, self->address(),
               caf::make_message(std::forward<Ts>(xs)...));
    return id;
  }

  /// Forgets one timer (a 0 id or one that has fired is ignored).
  template <class Self>
  void cancel(Self* self, uint64_t id) const {
    if (service_ && id != 0)
      self->send(service_, cancel_atom::value, id);
  }

  /// Forgets every timer `self` has set: what an actor does as it quits.
  template <class Self>
  void cancel_all(Self* self) const {
    if (service_)
      self->send(service_, cancel_atom::value, self->address());
  }

  const caf::actor& service() const { return service_; }

private:
  static uint64_t next_id() {
    static std::atomic<uint64_t> counter{0};
    return ++counter;
  }

  caf::actor service_;
};

} // namespace tutti
