#pragma once

/// A run's steps and calls as one JSON text in its row (`runs.detail`,
/// schema version 6), instead of a row each in tables of their own: a batch
/// row is then one insert, not one per call and step (docs/benchmarks.md,
/// "Store CPU per row").

#include <string>
#include <string_view>

#include "store/sql_db.hpp"
#include "tutti/store.hpp"

namespace tutti::store_detail {

/// `{"steps": [{...}], "calls": [{...}]}` with every field of each, by name.
std::string encode_run_detail(const stored_run& run);

/// Fills `run.steps` and `run.calls` from `detail` (empty: none). Throws
/// `store_error` naming the run when it is not such a text.
void decode_run_detail(std::string_view detail, stored_run& run);

/// Schema version 6's data step: every run's rows of `steps` and `calls`
/// into its `detail`, a few hundred runs at a time; then those tables go.
void fold_steps_and_calls(sql_db& db);

} // namespace tutti::store_detail
