#pragma once

/// Conversions between tutti's `steady_us` timestamps and CAF's actor clock,
/// so that actors read time through CAF (which the deterministic test
/// scheduler controls) and messages still carry plain integers.

#include <chrono>

#include <caf/actor_clock.hpp>
#include <caf/local_actor.hpp>

#include "tutti/messages.hpp"

namespace tutti {

inline steady_us to_steady_us(caf::actor_clock::time_point t) {
  using namespace std::chrono;
  return duration_cast<microseconds>(t.time_since_epoch()).count();
}

inline caf::actor_clock::time_point to_actor_time(steady_us t) {
  return caf::actor_clock::time_point{
      std::chrono::duration_cast<caf::actor_clock::duration_type>(
          std::chrono::microseconds{t})};
}

/// The actor's "now" on the steady clock, in microseconds.
inline steady_us actor_now_us(const caf::local_actor* self) {
  return to_steady_us(self->clock().now());
}

} // namespace tutti
