// The store's schema, as forward migrations: version N is reached from N-1
// by the statements of migrations()[N-1], in one transaction. Never edit a
// released migration; add the next one. docs/store.md draws the tables.

#include "store/schema.hpp"

#include <algorithm>
#include <array>
#include <cmath>

namespace tutti::store_detail {

namespace {

/// Version 1: runs, their steps and every model call.
const std::vector<std::string> v1 = {
    R"(CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  target_kind TEXT NOT NULL,
  target TEXT NOT NULL,
  status TEXT NOT NULL,
  started_ms BIGINT NOT NULL,
  finished_ms BIGINT NOT NULL,
  wall_us BIGINT NOT NULL,
  input_tokens BIGINT NOT NULL,
  output_tokens BIGINT NOT NULL,
  cached_input_tokens BIGINT NOT NULL,
  cost_usd DOUBLE PRECISION NOT NULL,
  key_name TEXT NOT NULL,
  session TEXT NOT NULL,
  combine TEXT NOT NULL,
  note TEXT NOT NULL,
  prompt TEXT NOT NULL,
  answer TEXT NOT NULL))",
    "CREATE INDEX runs_by_time ON runs (started_ms, id)",
    "CREATE INDEX runs_by_target ON runs (target, started_ms)",
    "CREATE INDEX runs_by_key ON runs (key_name, started_ms)",
    "CREATE INDEX runs_by_session ON runs (session, started_ms)",
    R"(CREATE TABLE steps (
  run_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  id TEXT NOT NULL,
  target TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT NOT NULL,
  combine TEXT NOT NULL,
  note TEXT NOT NULL,
  started_us BIGINT NOT NULL,
  total_us BIGINT NOT NULL,
  input_tokens BIGINT NOT NULL,
  output_tokens BIGINT NOT NULL,
  cached_input_tokens BIGINT NOT NULL,
  cost_usd DOUBLE PRECISION NOT NULL,
  answer TEXT NOT NULL,
  PRIMARY KEY (run_id, seq)))",
    R"(CREATE TABLE calls (
  run_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  started_ms BIGINT NOT NULL,
  step TEXT NOT NULL,
  ensemble TEXT NOT NULL,
  role TEXT NOT NULL,
  member TEXT NOT NULL,
  provider TEXT NOT NULL,
  model TEXT NOT NULL,
  key_name TEXT NOT NULL,
  ok BIGINT NOT NULL,
  failure_kind TEXT NOT NULL,
  error TEXT NOT NULL,
  http_status BIGINT NOT NULL,
  attempts BIGINT NOT NULL,
  queued_us BIGINT NOT NULL,
  first_token_us BIGINT NOT NULL,
  total_us BIGINT NOT NULL,
  input_tokens BIGINT NOT NULL,
  output_tokens BIGINT NOT NULL,
  cached_input_tokens BIGINT NOT NULL,
  cost_usd DOUBLE PRECISION NOT NULL,
  cached BIGINT NOT NULL,
  finish_reason TEXT NOT NULL,
  text TEXT NOT NULL,
  PRIMARY KEY (run_id, seq)))",
    "CREATE INDEX calls_by_time ON calls (started_ms)",
};

/// `calls.total_us` as its latency bucket, in SQL.
std::string bucket_case() {
  std::string sql = "CASE";
  for (int i = 0; i + 1 < latency_buckets; ++i)
    sql += " WHEN total_us <= " + std::to_string(latency_bucket_bound_us(i)) +
           " THEN " + std::to_string(i);
  return sql + " ELSE " + std::to_string(latency_buckets - 1) + " END";
}

/// Version 2: the hourly roll-up that `stats` reads, so that a day over a
/// million calls is summed from a few thousand rows; filled from the calls
/// already stored.
std::vector<std::string> v2() {
  return {
      R"(CREATE TABLE call_rollup (
  hour_ms BIGINT NOT NULL,
  provider TEXT NOT NULL,
  model TEXT NOT NULL,
  ensemble TEXT NOT NULL,
  key_name TEXT NOT NULL,
  failure_kind TEXT NOT NULL,
  latency_bucket BIGINT NOT NULL,
  cached BIGINT NOT NULL,
  calls BIGINT NOT NULL,
  input_tokens BIGINT NOT NULL,
  output_tokens BIGINT NOT NULL,
  cost_usd DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (hour_ms, provider, model, ensemble, key_name, failure_kind,
               latency_bucket, cached)))",
      "INSERT INTO call_rollup SELECT started_ms - started_ms % 3600000, "
      "provider, model, ensemble, key_name, failure_kind, " +
          bucket_case() +
          ", cached, COUNT(*), SUM(input_tokens), SUM(output_tokens), "
          "SUM(cost_usd) FROM calls GROUP BY 1, 2, 3, 4, 5, 6, 7, 8",
  };
}

/// Version 3: API keys, by the hash of their secret.
const std::vector<std::string> v3 = {
    R"(CREATE TABLE api_keys (
  name TEXT PRIMARY KEY,
  hash TEXT NOT NULL UNIQUE,
  hint TEXT NOT NULL,
  targets TEXT NOT NULL,
  rpm BIGINT NOT NULL,
  tpm BIGINT NOT NULL,
  created_ms BIGINT NOT NULL,
  revoked_ms BIGINT NOT NULL))",
};

/// Version 4: key budgets, and the response cache (by the SHA-256 of what
/// determines a reply; no prompt is kept).
const std::vector<std::string> v4 = {
    "ALTER TABLE api_keys ADD COLUMN budget_day_usd DOUBLE PRECISION NOT "
    "NULL DEFAULT 0",
    "ALTER TABLE api_keys ADD COLUMN budget_month_usd DOUBLE PRECISION NOT "
    "NULL DEFAULT 0",
    R"(CREATE TABLE response_cache (
  key TEXT PRIMARY KEY,
  expires_ms BIGINT NOT NULL,
  provider TEXT NOT NULL,
  model TEXT NOT NULL,
  finish_reason TEXT NOT NULL,
  input_tokens BIGINT NOT NULL,
  output_tokens BIGINT NOT NULL,
  cached_input_tokens BIGINT NOT NULL,
  text TEXT NOT NULL))",
    "CREATE INDEX response_cache_by_expiry ON response_cache (expires_ms)",
};

/// Version 5: less to write for every run. Nothing reads calls by time
/// (stats read the roll-up), and most runs have no key or session (every
/// `tutti batch` row), so those two indexes hold only the runs that do; a
/// query on them says `<> ''` so that the planner may use them.
const std::vector<std::string> v5 = {
    "DROP INDEX calls_by_time",
    "DROP INDEX runs_by_key",
    "DROP INDEX runs_by_session",
    "CREATE INDEX runs_by_key ON runs (key_name, started_ms) WHERE key_name "
    "<> ''",
    "CREATE INDEX runs_by_session ON runs (session, started_ms) WHERE session "
    "<> ''",
};

/// Version 6: how the strategy came to a run's answer (`verdict`, JSON:
/// the vote table, the ranking, a council's reviews), for the dashboard's
/// answer view of a stored run.
const std::vector<std::string> v6 = {
    "ALTER TABLE runs ADD COLUMN verdict TEXT NOT NULL DEFAULT ''",
};

/// Version 7: whether each member call gave the answer the ensemble chose
/// (`calls.agreed`: 1, 0, or NULL when no vote settled the question), and
/// the roll-up's sums of it, so that `stats` says how often each provider
/// and model agreed. Calls stored before it have NULL: nothing to backfill.
const std::vector<std::string> v7 = {
    "ALTER TABLE calls ADD COLUMN agreed BIGINT",
    "ALTER TABLE call_rollup ADD COLUMN voted BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE call_rollup ADD COLUMN agreed BIGINT NOT NULL DEFAULT 0",
};

} // namespace

namespace {

/// Every bucket's upper bound, computed once: the writer looks up a bucket
/// for every call it stores.
const std::array<int64_t, latency_buckets>& bucket_bounds() {
  static const auto bounds = [] {
    std::array<int64_t, latency_buckets> b{};
    for (int i = 0; i < latency_buckets; ++i)
      b[static_cast<size_t>(i)] = std::llround(1000.0 * std::pow(1.25, i));
    return b;
  }();
  return bounds;
}

} // namespace

int64_t latency_bucket_bound_us(int bucket) {
  return bucket_bounds().at(static_cast<size_t>(bucket));
}

int latency_bucket_of(int64_t total_us) {
  auto& bounds = bucket_bounds();
  // The first bound at or above it; past the last but one: the last bucket.
  auto at = std::lower_bound(bounds.begin(), bounds.end() - 1, total_us);
  return static_cast<int>(at - bounds.begin());
}

const std::vector<std::vector<std::string>>& migrations() {
  static const std::vector<std::vector<std::string>> all = {v1, v2(), v3, v4,
                                                            v5, v6,   v7};
  return all;
}

} // namespace tutti::store_detail
