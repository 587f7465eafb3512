#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tutti::store_detail {

/// The statements that take the schema from version i to i+1, for each i
/// from 0; the schema version this binary writes is their count.
const std::vector<std::vector<std::string>>& migrations();

/// Call latencies are counted in buckets 25% wide: bucket i holds the
/// calls that took at most `latency_bucket_bound_us(i)` and more than the
/// bound of i-1 (1 ms for bucket 0, about 17 minutes for the last but one;
/// the last holds everything longer).
constexpr int latency_buckets = 64;
int64_t latency_bucket_bound_us(int bucket);
int latency_bucket_of(int64_t total_us);

} // namespace tutti::store_detail
