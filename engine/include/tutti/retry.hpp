#pragma once

/// The pure rules of retrying: which failures may be retried, how long the
/// server asked us to wait, what it says is left of its rate limits, and the
/// backoff cap for an attempt.

#include <cstdint>
#include <optional>
#include <string>

#include "tutti/codec.hpp"
#include "tutti/config.hpp"
#include "tutti/messages.hpp"

namespace tutti {

/// True for the failures another attempt may cure: 429, 408, 5xx and 529
/// (overloaded), network errors and connect timeouts.
bool is_retryable(const failure& f);

/// How long the server asked us to wait, from `retry-after-ms` (milliseconds)
/// or `Retry-After` (seconds, or an HTTP date compared with `now_unix_ms`).
/// Nothing when neither header is present or readable.
std::optional<int64_t> retry_after_ms(const header_list& headers,
                                      int64_t now_unix_ms);

/// What a server says is left of one of its budgets (requests or tokens).
struct server_allowance {
  int64_t limit = -1;       ///< the whole budget; -1: not said
  int64_t remaining = -1;   ///< -1: not said
  int64_t reset_in_ms = -1; ///< until the budget is whole again; -1: not said

  bool known() const { return remaining >= 0 && reset_in_ms >= 0; }
};

/// The rate-limit headers of one response.
struct server_limits {
  server_allowance requests;
  server_allowance tokens;

  bool any() const { return requests.known() || tokens.known(); }
};

/// Reads OpenAI's `x-ratelimit-limit-*` / `-remaining-*` / `-reset-*`
/// (durations such as "1s", "6m0s", "20ms"; also sent by many
/// OpenAI-compatible servers) and Anthropic's `anthropic-ratelimit-*-limit`
/// / `-remaining` / `-reset` (RFC 3339 times, compared with `now_unix_ms`).
/// Both vendors' resets are when the budget is whole again. For
/// Anthropic, `tokens-*` (the most restrictive) wins over `input-tokens-*`.
/// A budget without a readable reset is left unknown: without one the
/// limiter could not tell when to stop holding back.
server_limits server_limits_of(const header_list& headers, int64_t now_unix_ms);

/// An OpenAI rate-limit duration ("1s", "6m0s", "1m30.5s", "20ms", "2h3m")
/// in milliseconds, rounded up; nothing when unreadable.
std::optional<int64_t> parse_go_duration_ms(const std::string& text);

/// The upper bound of the full-jitter backoff before attempt `attempt + 1`
/// (`attempt` counts from 1): min(max_backoff, backoff * 2^(attempt-1)).
int64_t backoff_cap_ms(const retry_policy& policy, int attempt);

/// The cost of `used` at `price`, in US dollars; 0 when unpriced.
double cost_usd(const usage& used, const price_table& price);

} // namespace tutti
