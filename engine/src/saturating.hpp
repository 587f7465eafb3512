#pragma once

/// Arithmetic on numbers that come from outside (sizes, token counts,
/// durations a client or an upstream sends): results are clamped to the
/// range of int64_t instead of overflowing.

#include <cstdint>
#include <limits>

namespace tutti {

/// `a + b`, or the nearest int64_t when the sum does not fit.
inline int64_t saturating_add(int64_t a, int64_t b) {
  int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum))
    return b > 0 ? std::numeric_limits<int64_t>::max()
                 : std::numeric_limits<int64_t>::min();
  return sum;
}

/// `a * b`, or the nearest int64_t when the product does not fit.
inline int64_t saturating_mul(int64_t a, int64_t b) {
  int64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product))
    return (a < 0) != (b < 0) ? std::numeric_limits<int64_t>::min()
                              : std::numeric_limits<int64_t>::max();
  return product;
}

} // namespace tutti
