#pragma once

/// The run store: what tutti remembers of every ask, pipeline run, batch row
/// and HTTP request (docs/store.md). One SQLite file by default, a shared
/// PostgreSQL for a team, or nothing. The engine writes to it from a thread
/// of its own through a bounded queue (off the answer path); `tutti runs`
/// and `GET /v1/runs` read it through `run_store`. No CAF, no SQL here.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tutti/messages.hpp"

namespace tutti {

/// `store:` in the config, `--store` on the command line.
struct store_config {
  /// "" (the default): an SQLite file at `default_store_path()`; "none":
  /// keep nothing; "postgresql://..." or "postgres://...": a PostgreSQL
  /// server (libpq's URI); "sqlite:PATH" or any other text: an SQLite file.
  std::string url;
  /// Keep prompt and answer texts (false: only what happened and its
  /// figures).
  bool texts = true;
  /// Runs waiting to be written at most; beyond it new ones are dropped
  /// (and counted) until the store catches up.
  size_t queue_max = 10'000;
  /// A session's question is sent with its earlier turns, at most this
  /// many (a turn: the user's messages and the answer)...
  size_t history_turns = 20;
  /// ...and at most about this many tokens of them (4 bytes a token); the
  /// oldest turns go first.
  size_t history_tokens = 8000;
  /// Runs that started longer ago than this are deleted, with their steps
  /// and calls, by the process that writes the store (`store: {retention:
  /// 90d}`); the hourly roll-up keeps their figures. 0: every run is kept.
  int64_t retention_ms = 0;
};

/// Where an SQLite store lives by default: `$XDG_DATA_HOME/tutti/tutti.db`,
/// else `$HOME/.local/share/tutti/tutti.db`; empty when neither is set.
std::string default_store_path();

/// Whether `config` keeps nothing: `none`, or the default store when there
/// is no data directory to put it in (no XDG_DATA_HOME, no HOME).
bool store_is_off(const store_config& config);

/// The longest session id (`--session`, `X-Tutti-Session`, `tutti.session`).
constexpr size_t max_session_bytes = 128;

/// Whether `id` is a session id: 1 to `max_session_bytes` printable ASCII
/// characters, no spaces.
bool is_session_id(std::string_view id);

/// `url` as it may be printed: a PostgreSQL password (in the URI or as a
/// `password=` parameter) replaced by "***".
std::string printable_store_url(const std::string& url);

/// A store that cannot be opened, migrated, read or written; the message
/// says which store (its password hidden) and why.
class store_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// The state of an engine's store writer (`engine::store_status`), as
/// /healthz and /metrics report it.
struct store_health {
  std::string state = "off"; ///< "ok", "degraded" (see `problem`), "off"
  std::string backend;       ///< "sqlite", "postgresql"; "" before connecting
  std::string problem;       ///< the last error while degraded
  uint64_t written = 0;      ///< runs written since the start
  uint64_t dropped = 0;      ///< runs given up: queue full or unwritable
  uint64_t pruned = 0;       ///< runs deleted past the retention
  uint64_t queued = 0;       ///< runs waiting now
};

/// One model call of a run: a member's, or a strategy's own (a judge's).
struct stored_call {
  std::string step; ///< the pipeline step; "" in an ask
  std::string role; ///< "member" or "combiner"
  std::string member;
  std::string provider;
  std::string model;
  bool ok = false;
  std::string failure_kind; ///< `to_string(failure_kind)`; "" when ok
  std::string error;        ///< the failure's message
  int64_t http_status = 0;
  int64_t attempts = 0;
  int64_t queued_us = 0;
  int64_t first_token_us = -1;
  int64_t total_us = 0;
  tutti::usage usage;
  double cost_usd = 0;
  bool cached = false;
  std::string finish_reason;
  std::string text; ///< the reply, or the partial text of a failure
  /// Whether this member gave the answer the ensemble chose: true when its
  /// answer is in the winning row of the vote table, false when in another
  /// row; nullopt when there is none to compare with (no vote table, the
  /// member failed or gave no answer, a combiner call, a run stored before
  /// schema version 7). See docs/store.md, "Agreement".
  std::optional<bool> agreed;
};

/// One step of a pipeline run.
struct stored_step {
  std::string id;
  std::string target; ///< the ensemble or provider it asked
  std::string status; ///< ok, partial, failed, skipped
  std::string reason;
  std::string combine;
  std::string note;
  int64_t started_us = -1; ///< since the run began
  int64_t total_us = 0;
  tutti::usage usage;
  double cost_usd = 0;
  std::string text; ///< the step's answer
};

/// One run: an ask, a pipeline run, a batch row or an HTTP request.
struct stored_run {
  std::string id;          ///< "run_" and 24 hex digits
  std::string kind;        ///< "ask", "run", "batch", "http", "embedding"
  std::string target_kind; ///< "ensemble", "provider", "pipeline"
  std::string target;
  std::string status;     ///< ok, partial, failed, cancelled
  int64_t started_ms = 0; ///< Unix time
  int64_t finished_ms = 0;
  int64_t wall_us = 0;
  tutti::usage usage;
  double cost_usd = 0;
  std::string key;     ///< the name of the API key that asked; "" none
  std::string session; ///< the conversation it belongs to; "" none
  std::string combine;
  std::string note;
  std::string prompt; ///< the messages (JSON) or a pipeline's inputs (JSON)
  std::string answer;
  /// How the strategy came to its answer, a JSON object: `winner`, and
  /// when the strategy filled them `votes` and `agreement`, `ranking` and
  /// `mean_ranks`, `reviews`, `rounds` (as in the answer's JSON); empty
  /// when the run kept no texts or had no ensemble answer.
  std::string verdict;
  std::vector<stored_step> steps; ///< a pipeline's, in its order
  std::vector<stored_call> calls; ///< in order: members, then combiners
};

/// Which runs `run_store::list` returns; empty fields do not filter.
struct run_filter {
  int64_t since_ms = 0; ///< started at or after
  int64_t until_ms = 0; ///< started before; 0: no end
  std::string kind;
  std::string target_kind; ///< ensemble, provider or pipeline
  std::string target;
  std::string status;
  std::string key;
  std::string session;
  size_t limit = 50; ///< at most `max_page` are returned
  /// From `run_page::next_cursor` of the previous page.
  std::string cursor;
  static constexpr size_t max_page = 1000;
};

struct run_page {
  /// Newest first; each without its steps and calls.
  std::vector<stored_run> runs;
  /// Pass as `run_filter::cursor` for the next page; empty: no more.
  std::string next_cursor;
};

/// What `run_store::stats` sums, and how.
struct stats_query {
  std::string by = "provider"; ///< provider, model, ensemble or key
  std::string per = "day";     ///< day or hour
  int64_t since_ms = 0;
  int64_t until_ms = 0; ///< 0: no end; counted in whole hours
};

/// The calls of one group in one day (or hour).
struct stats_row {
  std::string group;
  int64_t bucket_ms = 0; ///< the day's (or hour's) start, Unix time, UTC
  int64_t calls = 0;
  int64_t failures = 0;
  std::map<std::string, int64_t> failures_by_kind;
  int64_t cached = 0; ///< calls served from the response cache
  /// Member calls whose question a vote settled (`stored_call::agreed`
  /// set), and of them those that gave the winning answer.
  int64_t voted = 0;
  int64_t agreed = 0;
  /// Tokens the cached calls' replies took when first made: not spent again.
  int64_t saved_input_tokens = 0;
  int64_t saved_output_tokens = 0;
  /// Estimated from a histogram of 25%-wide buckets (docs/store.md).
  double p50_ms = 0;
  double p95_ms = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  double cost_usd = 0;
};

/// An API key of `tutti serve` (`tutti keys`). The secret is shown once,
/// when the key is made; the store keeps only its SHA-256.
struct api_key {
  std::string name;
  std::string hint; ///< the secret's first characters, to tell keys apart
  /// The ensembles, providers and pipelines it may ask; empty: all.
  std::vector<std::string> targets;
  /// Requests and tokens (input and output) per minute it may use; 0: no
  /// limit of its own.
  int64_t rpm = 0;
  int64_t tpm = 0;
  /// What its requests may cost per day and month, in US dollars; 0: none.
  spend_limit budget;
  int64_t created_ms = 0;
  int64_t revoked_ms = 0; ///< 0: in use
};

/// The cost of calls in one hour, for one provider, ensemble and key: what
/// spend budgets start from.
struct spend_row {
  int64_t hour_ms = 0;
  std::string provider;
  std::string ensemble;
  std::string key;
  double cost_usd = 0;
};

/// One reply in the response cache.
struct cache_entry {
  std::string key; ///< the SHA-256 of what determines the reply, in hex
  int64_t expires_ms = 0;
  std::string provider;
  std::string model;
  std::string text;
  std::string finish_reason;
  tutti::usage usage;
};

/// A connection to a store. Not thread-safe: one per thread.
class run_store {
public:
  virtual ~run_store();

  /// "sqlite" or "postgresql".
  virtual std::string backend() const = 0;
  /// The schema version the store has (0: empty).
  virtual int schema_version() = 0;
  /// Applies the migrations the store lacks, each in a transaction of its
  /// own; throws `store_error` when the store's schema is newer than this
  /// binary knows.
  virtual void migrate() = 0;
  /// Writes `runs` in one transaction (all or none).
  virtual void write(const std::vector<stored_run>& runs) = 0;
  virtual run_page list(const run_filter& filter) = 0;
  /// The run with every step and call; nullopt when it is not stored.
  virtual std::optional<stored_run> find(const std::string& id) = 0;
  virtual std::vector<stats_row> stats(const stats_query& query) = 0;
  /// The conversation so far of `session`: for each of its runs that has
  /// an answer, oldest first, the user's messages and the answer as an
  /// assistant message; the newest `max_turns` turns that fit in about
  /// `max_tokens` tokens.
  virtual std::vector<chat_message> session_history(const std::string& session,
                                                    size_t max_turns,
                                                    size_t max_tokens) = 0;
  /// Stores `key` with the hash of its secret (`key_hash`); throws
  /// `store_error` when a key of that name exists.
  virtual void create_key(const api_key& key, const std::string& hash) = 0;
  virtual std::vector<api_key> list_keys() = 0;
  /// Revokes key `name` at `now_ms`; false when there is no such key in use.
  virtual bool revoke_key(const std::string& name, int64_t now_ms) = 0;
  /// The key in use whose secret hashes to `hash`.
  virtual std::optional<api_key> key_by_hash(const std::string& hash) = 0;
  /// What calls cost from `since_ms` on, by hour, provider, ensemble and key.
  virtual std::vector<spend_row> spend_since(int64_t since_ms) = 0;
  /// The cached reply under `key` that has not expired at `now_ms`.
  virtual std::optional<cache_entry> cache_get(const std::string& key,
                                               int64_t now_ms) = 0;
  /// Stores `entries` in one transaction, replacing those of the same key.
  virtual void cache_put(const std::vector<cache_entry>& entries) = 0;
  /// Deletes the entries expired at `now_ms`; how many went.
  virtual int64_t cache_purge(int64_t now_ms) = 0;
  /// Deletes at most `max_runs` of the oldest runs that started before
  /// `before_ms`, with their steps and calls, in one transaction; how many
  /// went. The roll-up (`stats`, spend budgets) keeps their figures.
  virtual int64_t prune(int64_t before_ms, size_t max_runs) = 0;
};

/// The schema version this binary writes.
int store_schema_version();

/// Opens the store `config.url` names (never "none"), creating an SQLite
/// file and its directory when missing; with `migrate`, brings its schema up
/// to date, else checks it is current. Throws `store_error`.
std::unique_ptr<run_store> open_store(const store_config& config,
                                      bool migrate = true);

/// A fresh, unguessable run id: "run_" and 24 hex digits.
std::string new_run_id();

/// A fresh API key secret: "tutti-sk-" and 48 hex digits (192 bits).
std::string new_key_secret();

/// What the store keeps of a key's secret: its SHA-256, in hex.
std::string key_hash(const std::string& secret);

/// The SHA-256 of `bytes`, in hex.
std::string sha256_hex(std::string_view bytes);

/// Whether `text` has the form of a key secret.
bool looks_like_key_secret(const std::string& text);

} // namespace tutti
