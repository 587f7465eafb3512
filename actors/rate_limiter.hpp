#pragma once

#include <climits>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>

#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/protocol.hpp"
#include "actors/timer_service.hpp"

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
  /// for clock granularity between the server's measure and ours.
  int64_t margin_us = 5'000;
  /// The engine's timer service: a waiter's deadline timer goes when the
  /// waiter leaves the queue (none in tests: CAF's delayed messages).
  tutti::timers timers;
};

/// One permit request waiting for a slot.
struct limiter_waiter {
  permit_request request;
  caf::response_promise promise;
  uint64_t deadline_timer = 0; ///< its id with the timer service
};

/// The grants inside one budget's window, oldest first. A grant counts from
/// the moment it is granted until the window's length (plus the margin)
/// after the server certainly had its request: when its reply began (or,
/// failing that, when the permit came back). Until then it counts, however
/// long that is. So no window the *server* measures can hold more than the
/// budget, whatever delays lie between granting, sending and the server
/// taking the request in.
class window_log {
public:
  static constexpr steady_us never = INT64_MAX;

  /// Charges `amount` (1 for requests, a token estimate for tokens).
  void add(uint64_t permit_id, int64_t amount);

  /// The server has the request by `at` (first time only).
  void mark_received(uint64_t permit_id, steady_us at);

  /// Replaces a charge with what was really used.
  void correct(uint64_t permit_id, int64_t amount);

  /// Drops the oldest grants that have left the window.
  void prune(steady_us now, int64_t span_us);

  /// When at least `need` of the charged amount will have left the window,
  /// oldest first; `never` while one of those grants is still unanswered.
  steady_us when_freed(int64_t need, int64_t span_us) const;

  int64_t total() const { return total_; }
  size_t size() const { return entries_.size(); }

private:
  struct entry {
    uint64_t permit_id = 0;
    int64_t amount = 0;
    steady_us received_at = 0; ///< 0: not yet
  };
  entry* find(uint64_t permit_id);

  std::deque<entry> entries_;
  uint64_t popped_ = 0; ///< entries dropped from the front so far
  std::unordered_map<uint64_t, uint64_t> index_; ///< permit -> popped_ + pos
  int64_t total_ = 0;
};

/// The server's bucket for one budget, as its rate-limit headers describe
/// it. OpenAI and Anthropic both refill a budget continuously (a token
/// bucket): "R left, whole again at T" with limit L means a refill rate of
/// (L - R) / (T - now). With L known the limiter keeps that bucket from then
/// on, taking each grant's charge out of it; without L nothing refills and
/// the server's word lapses at T. It only ever holds grants back; the
/// configured budgets apply as well.
struct server_cap {
  double level = -1;     ///< what may still go at `at`; -1: nothing said
  double limit = -1;     ///< the bucket's size; -1: not said
  double rate = 0;       ///< refill per microsecond; 0: none known
  steady_us at = 0;      ///< when `level` was true
  steady_us until = 0;   ///< without a rate: when the word lapses
  steady_us said_at = 0; ///< older news is ignored

  bool active(steady_us now) const {
    return level >= 0 && (rate > 0 || now < until);
  }

  /// What may go at `now` (while active).
  double available(steady_us now) const;

  /// A grant of `amount` at `now`.
  void take(steady_us now, double amount);

  /// When `need` will be available, from `now`.
  steady_us when_available(steady_us now, double need) const;
};

struct rate_limiter_state {
  limiter_settings settings;
  uint64_t next_permit_id = 1;
  std::unordered_map<uint64_t, permit_request> in_flight;
  /// One FIFO queue per priority, served interactive first.
  std::deque<limiter_waiter> queues[2];
  window_log request_log;       ///< grants, 1 each
  window_log token_log;         ///< token charges
  steady_us cooldown_until = 0; ///< no grant before this (server said 429)
  server_cap server_requests;   ///< from x-ratelimit-*-requests and kin
  server_cap server_tokens;
  steady_us wake_at = 0; ///< the pending wake-up, 0 if none

  size_t queued() const { return queues[0].size() + queues[1].size(); }

  static inline const char* name = "rate_limiter";
};

/// One actor per limit group. Answers `(acquire_atom, permit_request)` with a
/// `permit_grant` as soon as the group's concurrency, request window and
/// token window all allow it, in FIFO order within a priority (interactive
/// ahead of batch). A waiter whose deadline passes, or whose permit cannot
/// arrive before it, is answered at once with a `queue_timeout` denial.
/// `(release_atom, permit_id, usage)` returns a slot and corrects the token
/// charge to the tokens really used; `(answered_atom, permit_id, at)` says
/// the server has the request (its window time starts); `(cooldown_atom,
/// until)` pauses every grant until then (a 429 with Retry-After);
/// `(feedback_atom, permit_id, server_limits, at)` tightens the budgets to
/// what the server's rate-limit headers say is left until their reset;
/// `(withdraw_atom, request_id)` drops a waiter; `state_atom` returns a
/// `limiter_state`.
caf::behavior rate_limiter(caf::stateful_actor<rate_limiter_state>* self,
                           limiter_settings settings);

} // namespace tutti
