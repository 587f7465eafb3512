#pragma once

/// The pure state machine behind one upstream's circuit breaker. It reads no
/// clock and knows no CAF: time comes in as `steady_us now`, so the provider
/// actor owns the effects and tests drive time by hand.

#include <cstdint>
#include <string_view>

#include "tutti/config.hpp"
#include "tutti/messages.hpp"

namespace tutti {

/// Where a breaker stands at some instant.
enum class breaker_state : uint8_t {
  closed,   ///< calls flow; counting failures are being counted
  open,     ///< calls are rejected until `open_until()`
  half_open ///< the cooldown has passed; one probe call may decide
};

/// "closed", "open" or "half_open".
std::string_view to_string(breaker_state state);

/// Counts consecutive failures of one upstream and stops sending it calls
/// once `policy.failures` of them happen in a row.
///
/// - **closed**: `allow` says yes. A counting failure adds one to
///   `consecutive_failures()`; reaching `policy.failures` opens the breaker
///   until `now + cooldown_ms`. A success sets the count back to 0.
/// - **open** (`now < open_until()`): `allow` says no and counts a rejection.
/// - **half_open** (`now >= open_until()`, reported by `state(now)` even
///   before anyone asks): the first `allow` says yes and takes the single
///   probe slot; further calls are rejected while the probe runs.
/// - A success, in any state, closes the breaker and resets the count: the
///   upstream has just answered. A counting failure while half_open (the
///   probe's, or a straggler's) re-opens for a fresh cooldown from `now`. A
///   counting failure while still open is counted but does not extend the
///   cooldown. A non-counting failure changes nothing except that it frees
///   the probe slot, so the next `allow` may probe again.
///
/// `record` does not say which call ended: while a probe is out, any
/// outcome is taken as the probe's. `policy.failures <= 0` turns the breaker
/// off: it stays closed, allows everything and records nothing.
class circuit_breaker {
public:
  explicit circuit_breaker(breaker_policy policy = {});

  /// May a call start now? See the class comment; every `false` adds one
  /// to `rejected()`.
  bool allow(steady_us now);

  /// A call ended. `counts` says whether a failure is the upstream's fault
  /// (server, overloaded, network, timeouts), as the caller classifies it;
  /// it is ignored when `success` is true.
  void record(bool success, bool counts, steady_us now);

  /// The state at `now`; half_open as soon as the cooldown has passed.
  breaker_state state(steady_us now) const;

  /// When the current cooldown ends (it may already have passed, i.e. half
  /// open); 0 when closed.
  steady_us open_until() const { return open_ ? open_until_ : 0; }

  /// Counting failures since the last success.
  int consecutive_failures() const { return failures_; }

  /// True while a half-open probe has been let through and not recorded.
  bool probe_in_flight() const { return probe_in_flight_; }

  /// Calls `allow` has refused since construction.
  uint64_t rejected() const { return rejected_; }

  const breaker_policy& policy() const { return policy_; }

private:
  bool enabled() const { return policy_.failures > 0; }
  void open_at(steady_us now);

  breaker_policy policy_;
  int failures_ = 0;
  bool open_ = false;
  steady_us open_until_ = 0;
  bool probe_in_flight_ = false;
  uint64_t rejected_ = 0;
};

} // namespace tutti
