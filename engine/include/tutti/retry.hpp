#pragma once

/// The pure rules of retrying: which failures may be retried, how long the
/// server asked us to wait, the formats vendors' rate-limit headers are
/// written in (each codec reads its own vendor's), and the backoff cap for
/// an attempt.

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

/// The count in header `name` (any case), a non-negative number; nothing
/// when absent or unreadable. For codecs reading their vendor's rate-limit
/// headers (`codec::server_limits_of`).
std::optional<int64_t> header_count(const header_list& headers,
                                    const std::string& name);

/// An RFC 3339 time ("2026-11-25T02:30:05Z", fractions and offsets allowed)
/// in Unix milliseconds; nothing when unreadable.
std::optional<int64_t> parse_rfc3339_ms(const std::string& text);

/// A Go duration ("1s", "6m0s", "1m30.5s", "20ms", "2h3m"), as OpenAI's
/// rate-limit resets are written, in milliseconds, rounded up; nothing when
/// unreadable.
std::optional<int64_t> parse_go_duration_ms(const std::string& text);

/// The upper bound of the full-jitter backoff before attempt `attempt + 1`
/// (`attempt` counts from 1): min(max_backoff, backoff * 2^(attempt-1)).
int64_t backoff_cap_ms(const retry_policy& policy, int attempt);

/// The cost of `used` at `price`, in US dollars; 0 when unpriced.
double cost_usd(const usage& used, const price_table& price);

} // namespace tutti
