#pragma once

/// The pure rules of retrying: which failures may be retried, how long the
/// server asked us to wait, and the backoff cap for an attempt.

#include <cstdint>
#include <optional>

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

/// The upper bound of the full-jitter backoff before attempt `attempt + 1`
/// (`attempt` counts from 1): min(max_backoff, backoff * 2^(attempt-1)).
int64_t backoff_cap_ms(const retry_policy& policy, int attempt);

/// The cost of `used` at `price`, in US dollars; 0 when unpriced.
double cost_usd(const usage& used, const price_table& price);

} // namespace tutti
