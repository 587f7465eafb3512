#pragma once

/// Deleting old runs (`store: {retention: 90d}`, `tutti store prune`).

#include <cstddef>
#include <cstdint>

namespace tutti::store_detail {

class sql_db;

/// Deletes at most `max_runs` of the oldest runs started before
/// `before_ms`, their steps and their calls, in one transaction; returns how
/// many runs went. The roll-up is left alone: `stats` and spend budgets read
/// it, and it holds no text.
int64_t prune_runs(sql_db& db, int64_t before_ms, size_t max_runs);

} // namespace tutti::store_detail
