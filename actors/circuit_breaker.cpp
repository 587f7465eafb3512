#include "actors/circuit_breaker.hpp"

#include <algorithm>

namespace tutti {

std::string_view to_string(breaker_state state) {
  switch (state) {
  case breaker_state::closed:
    return "closed";
  case breaker_state::open:
    return "open";
  case breaker_state::half_open:
    return "half_open";
  }
  return "unknown";
}

circuit_breaker::circuit_breaker(breaker_policy policy) : policy_(policy) {}

bool circuit_breaker::allow(steady_us now) {
  switch (state(now)) {
  case breaker_state::closed:
    return true;
  case breaker_state::half_open:
    if (!probe_in_flight_) {
      probe_in_flight_ = true;
      return true;
    }
    break;
  case breaker_state::open:
    break;
  }
  ++rejected_;
  return false;
}

void circuit_breaker::record(bool success, bool counts, steady_us now) {
  if (!enabled()) {
    return;
  }
  if (success) {
    failures_ = 0;
    open_ = false;
    open_until_ = 0;
    probe_in_flight_ = false;
    return;
  }
  if (!counts) {
    probe_in_flight_ = false;
    return;
  }
  ++failures_;
  switch (state(now)) {
  case breaker_state::closed:
    if (failures_ >= policy_.failures) {
      open_at(now);
    }
    break;
  case breaker_state::half_open:
    open_at(now);
    break;
  case breaker_state::open:
    // A call that started before the breaker opened; the cooldown stands.
    break;
  }
}

breaker_state circuit_breaker::state(steady_us now) const {
  if (!enabled() || !open_) {
    return breaker_state::closed;
  }
  return now < open_until_ ? breaker_state::open : breaker_state::half_open;
}

void circuit_breaker::open_at(steady_us now) {
  open_ = true;
  open_until_ = now + std::max<int64_t>(policy_.cooldown_ms, 0) * 1000;
  probe_in_flight_ = false;
}

} // namespace tutti
