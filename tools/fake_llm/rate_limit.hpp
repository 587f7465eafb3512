#pragma once

/// The server-side rate limits of the fake (a model's `server_limit`): token
/// buckets or fixed windows per budget, what they decide for each request,
/// and what a reply says of them. Vendor-neutral: a wire_format words the
/// budget_reports and limit_refusal these give.

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "tools/fake_llm/fake_llm.hpp"
#include "tools/fake_llm/wire_format.hpp"

namespace tutti::fake {

/// What a reply says of one budget of a server_limit.
struct budget_word {
  /// Whole units left after the request (a refused request takes nothing).
  int64_t remaining = 0;
  /// Left exactly, with a bucket's fraction; -1 when the budget is not set.
  double left = -1;
  /// From the request's count until the budget is whole again: a bucket's
  /// time to full, a window's end. Steady and Unix microseconds.
  int64_t reset_us = 0;
  int64_t reset_unix_us = 0;
};

/// What a server_limit decided for one request.
struct admission {
  /// When the request was counted: steady_clock and Unix microseconds.
  int64_t at_us = 0;
  int64_t at_unix_us = 0;
  bool admitted = true;
  /// Refused because of the token budget (else the request budget).
  bool refused_on_tokens = false;
  /// A refused request: how long until it would be admitted, microseconds.
  int64_t retry_us = 0;
  /// refill: window: the start of the request's window, steady_clock.
  int64_t window_start_us = 0;
  budget_word requests;
  budget_word tokens;
  int64_t charge = 0;
};

/// One budget of a server_limit with `refill: continuous`: a token bucket
/// that holds at most `capacity` and refills at `capacity` per window. Its
/// level is kept times the window's length in microseconds, so that refills
/// are exact integers (wide, so that no budget or window can overflow).
struct bucket {
  using wide = __int128;

  int64_t capacity = 0;
  int64_t window_us = 1;
  wide scaled = 0;

  void fill(int64_t elapsed_us) {
    scaled = std::min<wide>(wide{capacity} * window_us,
                            scaled + wide{capacity} * elapsed_us);
  }
  bool holds(int64_t amount) const {
    return scaled >= wide{amount} * window_us;
  }
  void take(int64_t amount) { scaled -= wide{amount} * window_us; }
  /// Microseconds until the level reaches `amount` (at most the capacity),
  /// rounded up; 0 when it has.
  int64_t us_until(int64_t amount) const {
    const wide missing = wide{std::min(amount, capacity)} * window_us - scaled;
    return missing <= 0
               ? 0
               : static_cast<int64_t>((missing + capacity - 1) / capacity);
  }
  budget_word word(int64_t at_unix_us) const {
    budget_word w;
    w.remaining = static_cast<int64_t>(scaled / window_us);
    w.left = static_cast<double>(scaled) / static_cast<double>(window_us);
    w.reset_us = us_until(capacity);
    w.reset_unix_us = at_unix_us + w.reset_us;
    return w;
  }
};

/// What a rate-limited model has left: its buckets, or its current fixed
/// window (windows are counted from the model's first request).
struct limit_state {
  bool started = false;
  int64_t origin_us = 0;
  int64_t origin_unix_us = 0;
  /// refill: continuous, as of `filled_us`.
  bucket requests;
  bucket tokens;
  int64_t filled_us = 0;
  /// refill: window.
  int64_t window = 0;
  int64_t requests_used = 0;
  int64_t tokens_used = 0;
};

/// Counts a request arriving at `a.at_us` (Unix time `a.at_unix_us`) and
/// taking `a.charge` tokens against the model's state; fills in the rest of
/// `a`. Calls must come in the order of their times.
admission admit(limit_state& state, const server_limit& limit, admission a);

/// What a reply says of each budget of `limit` that is set.
std::vector<budget_report> budget_reports(const server_limit& limit,
                                          const admission& a);

/// Why `limit` refused a request of `model`: the budget that refused it and
/// the time to retry, milliseconds.
limit_refusal refusal_of(const std::string& model, const server_limit& limit,
                         const admission& a, int64_t retry_ms);

/// a / b rounded up (b > 0).
int64_t ceil_div(int64_t a, int64_t b);

} // namespace tutti::fake
