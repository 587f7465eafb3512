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

/// The budgets of one limit group. Requests and tokens per window come in a
/// later version; `concurrency` is the number of permits out at once.
struct limiter_settings {
  std::string group;
  int64_t concurrency = 4;
  size_t max_queue = 100000; ///< waiters beyond this fail as `overloaded`
};

/// One permit request waiting for a free slot.
struct limiter_waiter {
  permit_request request;
  caf::response_promise promise;
};

struct rate_limiter_state {
  limiter_settings settings;
  uint64_t next_permit_id = 1;
  std::unordered_map<uint64_t, permit_request> in_flight;
  /// One FIFO queue per priority, served interactive first.
  std::deque<limiter_waiter> queues[2];

  size_t queued() const { return queues[0].size() + queues[1].size(); }

  static inline const char* name = "rate_limiter";
};

/// One actor per limit group. Answers `(acquire_atom, permit_request)` with a
/// `permit_grant` as soon as a slot is free, in FIFO order within a
/// priority; a waiter whose deadline passes is answered at once with a
/// `queue_timeout` denial. `(release_atom, permit_id, usage)` returns a slot;
/// `(withdraw_atom, request_id)` drops a waiter; `state_atom` returns a
/// `limiter_state`.
caf::behavior rate_limiter(caf::stateful_actor<rate_limiter_state>* self,
                           limiter_settings settings);

} // namespace tutti
