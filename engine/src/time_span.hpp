#pragma once

/// A span of time as people write it for the store: "30m", "24h", "7d".
/// Read by `store: {retention: ...}` and by `tutti runs --since`,
/// `tutti store prune --before`.

#include <cstdint>
#include <optional>
#include <string_view>

namespace tutti {

/// `text` as milliseconds: 1 to 7 digits, then m (minutes), h (hours) or
/// d (days); nullopt for anything else. At most 9,999,999 days: no overflow.
inline std::optional<int64_t> time_span_ms(std::string_view text) {
  if (text.size() < 2 || text.size() > 8)
    return std::nullopt;
  int64_t count = 0;
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9')
      return std::nullopt;
    count = count * 10 + (text[i] - '0');
  }
  switch (text.back()) {
  case 'm':
    return count * 60'000;
  case 'h':
    return count * 3'600'000;
  case 'd':
    return count * 86'400'000;
  default:
    return std::nullopt;
  }
}

} // namespace tutti
