#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>

#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/protocol.hpp"

namespace tutti {

/// At most `count` grants (or tokens) in any window of `per_us`; count 0:
/// no limit.
struct window_budget {
  int64_t count = 0;
  int64_t per_us = 60'000'000;
};

/// The budgets of one limit group.
struct limiter_settings {
  std::string group;
  int64_t concurrency = 4;
  size_t max_queue = 100000; ///< waiters beyond this fail as `overloaded`
  window_budget requests;
  window_budget tokens;
  /// A grant counts against its window this much longer than the window,
  /// so that jitter between granting and the request reaching the server
  /// cannot squeeze one grant too many into a window the server measures.
  int64_t margin_us = 5'000;
};

/// One permit request waiting for a slot.
struct limiter_waiter {
  permit_request request;
  caf::response_promise promise;
};

/// A grant in the token window; its charge is corrected on release.
struct token_charge {
  steady_us at = 0;
  int64_t tokens = 0;
  uint64_t permit_id = 0;
};

struct rate_limiter_state {
  limiter_settings settings;
  uint64_t next_permit_id = 1;
  std::unordered_map<uint64_t, permit_request> in_flight;
  /// One FIFO queue per priority, served interactive first.
  std::deque<limiter_waiter> queues[2];
  std::deque<steady_us> request_log; ///< grant times inside the window
  std::deque<token_charge> token_log;
  int64_t tokens_in_log = 0;     ///< the sum of `token_log`'s charges
  uint64_t token_log_popped = 0; ///< charges dropped from its front so far
  /// Where each permit's charge is (absolute index: popped + position), so
  /// that release corrects it in constant time.
  std::unordered_map<uint64_t, uint64_t> token_index;
  steady_us cooldown_until = 0; ///< no grant before this (server said 429)
  steady_us wake_at = 0;        ///< the pending wake-up, 0 if none

  size_t queued() const { return queues[0].size() + queues[1].size(); }

  static inline const char* name = "rate_limiter";
};

/// One actor per limit group. Answers `(acquire_atom, permit_request)` with a
/// `permit_grant` as soon as the group's concurrency, request window and
/// token window all allow it, in FIFO order within a priority (interactive
/// ahead of batch). A waiter whose deadline passes, or whose permit cannot
/// arrive before it, is answered at once with a `queue_timeout` denial.
/// `(release_atom, permit_id, usage)` returns a slot and corrects the token
/// charge to the tokens really used; `(cooldown_atom, until)` pauses every
/// grant until then (a 429 with Retry-After); `(withdraw_atom, request_id)`
/// drops a waiter; `state_atom` returns a `limiter_state`.
caf::behavior rate_limiter(caf::stateful_actor<rate_limiter_state>* self,
                           limiter_settings settings);

} // namespace tutti
