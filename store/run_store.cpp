// The run store over either database (sql_db.hpp): migrations, writing a
// batch of runs in one transaction, listing, finding and summing them.

#include <algorithm>
#include <cstdlib>
#include <map>
#include <tuple>
#include <type_traits>

#include "engine/src/json_reader.hpp"
#include "store/retention.hpp"
#include "store/schema.hpp"
#include "store/sql_db.hpp"

namespace tutti {

using namespace store_detail;

run_store::~run_store() = default;

namespace {

constexpr int64_t hour_ms = 3'600'000;
constexpr int64_t day_ms = 24 * hour_ms;

/// The columns of `runs` in the order `run_of` reads them.
const char* run_columns =
    "id, kind, target_kind, target, status, started_ms, finished_ms, wall_us, "
    "input_tokens, output_tokens, cached_input_tokens, cost_usd, key_name, "
    "session, combine, note, prompt, answer";

stored_run run_of(const sql_row& r) {
  stored_run run;
  run.id = r.text(0);
  run.kind = r.text(1);
  run.target_kind = r.text(2);
  run.target = r.text(3);
  run.status = r.text(4);
  run.started_ms = r.integer(5);
  run.finished_ms = r.integer(6);
  run.wall_us = r.integer(7);
  run.usage = {r.integer(8), r.integer(9), r.integer(10)};
  run.cost_usd = r.real(11);
  run.key = r.text(12);
  run.session = r.text(13);
  run.combine = r.text(14);
  run.note = r.text(15);
  run.prompt = r.text(16);
  run.answer = r.text(17);
  return run;
}

/// One cell of the roll-up: the calls of one hour that share everything
/// `stats` can group or split by.
/// Its texts view the runs being written, which outlive the roll-up.
using rollup_key =
    std::tuple<int64_t, std::string_view, std::string_view, std::string_view,
               std::string_view, std::string_view, int, bool>;
struct rollup_sum {
  int64_t calls = 0;
  int64_t voted = 0;
  int64_t agreed = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  double cost_usd = 0;
};

/// The ensemble a call counts for: the step's target in a pipeline, the
/// run's target in an ask of an ensemble; "" for a provider asked alone.
std::string_view ensemble_of(const stored_run& run, const stored_call& call) {
  if (!call.step.empty()) {
    for (auto& s : run.steps)
      if (s.id == call.step)
        return s.target;
    return {};
  }
  return run.target_kind == "ensemble" ? std::string_view{run.target}
                                       : std::string_view{};
}

/// One statement parameter. A string the caller holds is bound where it
/// lies, uncopied: the writer passes every run's texts, and they outlive the
/// statement. A temporary one is moved in.
template <class Value>
sql_value parameter(Value&& value) {
  if constexpr (std::is_lvalue_reference_v<Value> &&
                std::is_same_v<std::decay_t<Value>, std::string>)
    return std::string_view{value};
  else
    return sql_value(std::forward<Value>(value));
}

/// The values, as `parameter` binds them and storable, in `params` (cleared
/// first): the writer reuses one vector for every statement rather than
/// allocating one each time.
template <class... Values>
std::vector<sql_value>& storable_values(std::vector<sql_value>& params,
                                        Values&&... values) {
  params.clear();
  (params.push_back(parameter(std::forward<Values>(values))), ...);
  make_storable(params);
  return params;
}

class sql_run_store final : public run_store {
public:
  explicit sql_run_store(std::unique_ptr<sql_db> db) : db_(std::move(db)) {}

  std::string backend() const override { return db_->backend(); }

  int schema_version() override {
    int64_t tables = 0;
    auto exists_sql =
        backend() == "sqlite"
            ? "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND "
              "name = 'tutti_schema'"
            : "SELECT COUNT(*) FROM information_schema.tables WHERE "
              "table_schema = current_schema() AND table_name = "
              "'tutti_schema'";
    db_->query(exists_sql, {},
               [&](const sql_row& r) { tables = r.integer(0); });
    if (tables == 0)
      return 0;
    int64_t version = 0;
    db_->query("SELECT MAX(version) FROM tutti_schema", {},
               [&](const sql_row& r) { version = r.integer(0); });
    return static_cast<int>(version);
  }

  void migrate() override {
    auto& steps = migrations();
    for (;;) {
      bool done = false;
      in_transaction(*db_, [&] {
        // Two processes migrating at once: the second waits here and then
        // finds the work done.
        if (backend() == "postgresql")
          db_->run("SELECT pg_advisory_xact_lock(7474747474)");
        auto version = schema_version();
        check_not_newer(version);
        if (version == static_cast<int>(steps.size())) {
          done = true;
          return;
        }
        if (version == 0)
          db_->run("CREATE TABLE tutti_schema (version BIGINT NOT NULL)");
        for (auto& sql : steps[static_cast<size_t>(version)])
          db_->run(sql);
        db_->run("INSERT INTO tutti_schema (version) VALUES (?)",
                 {int64_t{version + 1}});
      });
      if (done)
        return;
    }
  }

  void check_current() {
    auto version = schema_version();
    check_not_newer(version);
    if (version < store_schema_version())
      throw store_error("store is at schema version " +
                        std::to_string(version) + ", this tutti writes " +
                        std::to_string(store_schema_version()) +
                        ": run `tutti store migrate`");
  }

  void write(const std::vector<stored_run>& runs) override {
    std::map<rollup_key, rollup_sum> rollup;
    in_transaction(*db_, [&] {
      for (auto& run : runs) {
        write_run(run);
        for (auto& call : run.calls) {
          auto& sum =
              rollup[{run.started_ms - run.started_ms % hour_ms, call.provider,
                      call.model, ensemble_of(run, call), run.key,
                      call.ok ? std::string_view{}
                              : std::string_view{call.failure_kind},
                      latency_bucket_of(call.total_us), call.cached}];
          sum.calls += 1;
          if (call.agreed) {
            sum.voted += 1;
            sum.agreed += *call.agreed ? 1 : 0;
          }
          sum.input_tokens += call.usage.input_tokens;
          sum.output_tokens += call.usage.output_tokens;
          sum.cost_usd += call.cost_usd;
        }
      }
      static const std::string upsert =
          "INSERT INTO call_rollup VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
          "?, ?, ?) ON CONFLICT (hour_ms, provider, model, ensemble, "
          "key_name, failure_kind, latency_bucket, cached) DO UPDATE SET "
          "calls = call_rollup.calls + excluded.calls, "
          "input_tokens = call_rollup.input_tokens + excluded.input_tokens, "
          "output_tokens = call_rollup.output_tokens + "
          "excluded.output_tokens, "
          "cost_usd = call_rollup.cost_usd + excluded.cost_usd, "
          "voted = call_rollup.voted + excluded.voted, "
          "agreed = call_rollup.agreed + excluded.agreed";
      for (auto& [key, sum] : rollup) {
        auto& [hour, provider, model, ensemble, key_name, kind, bucket,
               cached] = key;
        db_->run(upsert, storable_values(
                             params_, hour, provider, model, ensemble, key_name,
                             kind, int64_t{bucket}, int64_t{cached ? 1 : 0},
                             sum.calls, sum.input_tokens, sum.output_tokens,
                             sum.cost_usd, sum.voted, sum.agreed));
      }
    });
  }

  run_page list(const run_filter& f) override {
    std::string sql =
        std::string{"SELECT "} + run_columns + " FROM runs WHERE 1 = 1";
    std::vector<sql_value> params;
    auto equal = [&](const char* column, const std::string& value) {
      if (value.empty())
        return;
      sql += std::string{" AND "} + column + " = ?";
      params.emplace_back(value);
    };
    // The key and session indexes hold only runs that have one (schema v5):
    // the planner uses them only when the query says so.
    if (!f.key.empty())
      sql += " AND key_name <> ''";
    if (!f.session.empty())
      sql += " AND session <> ''";
    equal("kind", f.kind);
    equal("target_kind", f.target_kind);
    equal("target", f.target);
    equal("status", f.status);
    equal("key_name", f.key);
    equal("session", f.session);
    if (f.since_ms > 0) {
      sql += " AND started_ms >= ?";
      params.emplace_back(f.since_ms);
    }
    if (f.until_ms > 0) {
      sql += " AND started_ms < ?";
      params.emplace_back(f.until_ms);
    }
    if (!f.cursor.empty()) {
      auto [ms, id] = parse_cursor(f.cursor);
      sql += " AND (started_ms < ? OR (started_ms = ? AND id < ?))";
      params.emplace_back(ms);
      params.emplace_back(ms);
      params.emplace_back(id);
    }
    auto limit = std::clamp<size_t>(f.limit, 1, run_filter::max_page);
    sql +=
        " ORDER BY started_ms DESC, id DESC LIMIT " + std::to_string(limit + 1);
    run_page page;
    db_->query(sql, params,
               [&](const sql_row& r) { page.runs.push_back(run_of(r)); });
    if (page.runs.size() > limit) {
      page.runs.resize(limit);
      auto& last = page.runs.back();
      page.next_cursor = std::to_string(last.started_ms) + "." + last.id;
    }
    return page;
  }

  std::optional<stored_run> find(const std::string& id) override {
    std::optional<stored_run> run;
    db_->query(std::string{"SELECT "} + run_columns +
                   ", verdict FROM runs WHERE id = ?",
               {id}, [&](const sql_row& r) {
                 run = run_of(r);
                 run->verdict = r.text(18);
               });
    if (!run)
      return run;
    db_->query("SELECT id, target, status, reason, combine, note, started_us, "
               "total_us, input_tokens, output_tokens, cached_input_tokens, "
               "cost_usd, answer FROM steps WHERE run_id = ? ORDER BY seq",
               {id}, [&](const sql_row& r) {
                 stored_step s;
                 s.id = r.text(0);
                 s.target = r.text(1);
                 s.status = r.text(2);
                 s.reason = r.text(3);
                 s.combine = r.text(4);
                 s.note = r.text(5);
                 s.started_us = r.integer(6);
                 s.total_us = r.integer(7);
                 s.usage = {r.integer(8), r.integer(9), r.integer(10)};
                 s.cost_usd = r.real(11);
                 s.text = r.text(12);
                 run->steps.push_back(std::move(s));
               });
    db_->query(
        "SELECT step, role, member, provider, model, ok, failure_kind, error, "
        "http_status, attempts, queued_us, first_token_us, total_us, "
        "input_tokens, output_tokens, cached_input_tokens, cost_usd, cached, "
        "finish_reason, text, agreed FROM calls WHERE run_id = ? ORDER BY "
        "seq",
        {id}, [&](const sql_row& r) {
          stored_call c;
          c.step = r.text(0);
          c.role = r.text(1);
          c.member = r.text(2);
          c.provider = r.text(3);
          c.model = r.text(4);
          c.ok = r.integer(5) != 0;
          c.failure_kind = r.text(6);
          c.error = r.text(7);
          c.http_status = r.integer(8);
          c.attempts = r.integer(9);
          c.queued_us = r.integer(10);
          c.first_token_us = r.integer(11);
          c.total_us = r.integer(12);
          c.usage = {r.integer(13), r.integer(14), r.integer(15)};
          c.cost_usd = r.real(16);
          c.cached = r.integer(17) != 0;
          c.finish_reason = r.text(18);
          c.text = r.text(19);
          if (!r.is_null(20))
            c.agreed = r.integer(20) != 0;
          run->calls.push_back(std::move(c));
        });
    return run;
  }

  std::vector<chat_message> session_history(const std::string& session,
                                            size_t max_turns,
                                            size_t max_tokens) override {
    std::vector<std::vector<chat_message>> turns; // newest first
    if (session.empty() || max_turns == 0)
      return {};
    size_t bytes = 0;
    auto max_bytes = max_tokens > SIZE_MAX / 4 ? SIZE_MAX : max_tokens * 4;
    bool full = false;
    db_->query(
        "SELECT prompt, answer FROM runs WHERE session = ? AND session <> '' "
        "AND status <> "
        "'failed' AND status <> 'cancelled' AND answer <> '' ORDER BY "
        "started_ms DESC, id DESC LIMIT " +
            std::to_string(std::min<size_t>(max_turns, 10'000)),
        {session}, [&](const sql_row& r) {
          if (full)
            return;
          auto turn = user_messages(r.text(0));
          turn.push_back(chat_message{"assistant", r.text(1)});
          size_t size = 0;
          for (auto& m : turn)
            size += m.content.size();
          if (bytes + size > max_bytes) {
            full = true;
            return;
          }
          bytes += size;
          turns.push_back(std::move(turn));
        });
    std::vector<chat_message> history;
    for (auto t = turns.rbegin(); t != turns.rend(); ++t)
      for (auto& m : *t)
        history.push_back(std::move(m));
    return history;
  }

  void create_key(const api_key& key, const std::string& hash) override {
    int64_t existing = 0;
    std::string targets;
    for (auto& t : key.targets)
      targets += (targets.empty() ? "" : ",") + t;
    in_transaction(*db_, [&] {
      db_->query("SELECT COUNT(*) FROM api_keys WHERE name = ?", {key.name},
                 [&](const sql_row& r) { existing = r.integer(0); });
      if (existing > 0)
        throw store_error("a key named '" + key.name +
                          "' exists already; revoked keys keep their names");
      db_->run("INSERT INTO api_keys (name, hash, hint, targets, rpm, tpm, "
               "created_ms, revoked_ms, budget_day_usd, budget_month_usd) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               storable({key.name, hash, key.hint, targets, key.rpm, key.tpm,
                         key.created_ms, key.revoked_ms, key.budget.day_usd,
                         key.budget.month_usd}));
    });
  }

  std::vector<api_key> list_keys() override {
    std::vector<api_key> keys;
    db_->query("SELECT name, hint, targets, rpm, tpm, created_ms, revoked_ms, "
               "budget_day_usd, budget_month_usd FROM "
               "api_keys ORDER BY name",
               {}, [&](const sql_row& r) { keys.push_back(key_of(r)); });
    return keys;
  }

  bool revoke_key(const std::string& name, int64_t now_ms) override {
    int64_t changed = 0;
    in_transaction(*db_, [&] {
      db_->query("SELECT COUNT(*) FROM api_keys WHERE name = ? AND "
                 "revoked_ms = 0",
                 {name}, [&](const sql_row& r) { changed = r.integer(0); });
      db_->run("UPDATE api_keys SET revoked_ms = ? WHERE name = ? AND "
               "revoked_ms = 0",
               {now_ms, name});
    });
    return changed > 0;
  }

  std::optional<api_key> key_by_hash(const std::string& hash) override {
    std::optional<api_key> key;
    db_->query("SELECT name, hint, targets, rpm, tpm, created_ms, revoked_ms, "
               "budget_day_usd, budget_month_usd FROM "
               "api_keys WHERE hash = ? AND revoked_ms = 0",
               {hash}, [&](const sql_row& r) { key = key_of(r); });
    return key;
  }

  std::vector<spend_row> spend_since(int64_t since_ms) override {
    std::vector<spend_row> rows;
    db_->query("SELECT hour_ms, provider, ensemble, key_name, SUM(cost_usd) "
               "FROM call_rollup WHERE hour_ms >= ? AND cost_usd > 0 GROUP BY "
               "1, 2, 3, 4",
               {since_ms - since_ms % hour_ms}, [&](const sql_row& r) {
                 rows.push_back(spend_row{r.integer(0), r.text(1), r.text(2),
                                          r.text(3), r.real(4)});
               });
    return rows;
  }

  std::optional<cache_entry> cache_get(const std::string& key,
                                       int64_t now_ms) override {
    std::optional<cache_entry> entry;
    db_->query("SELECT expires_ms, provider, model, finish_reason, "
               "input_tokens, output_tokens, cached_input_tokens, text FROM "
               "response_cache WHERE key = ? AND expires_ms > ?",
               {key, now_ms}, [&](const sql_row& r) {
                 cache_entry e;
                 e.key = key;
                 e.expires_ms = r.integer(0);
                 e.provider = r.text(1);
                 e.model = r.text(2);
                 e.finish_reason = r.text(3);
                 e.usage.input_tokens = r.integer(4);
                 e.usage.output_tokens = r.integer(5);
                 e.usage.cached_input_tokens = r.integer(6);
                 e.text = r.text(7);
                 entry = std::move(e);
               });
    return entry;
  }

  void cache_put(const std::vector<cache_entry>& entries) override {
    in_transaction(*db_, [&] {
      for (auto& e : entries)
        db_->run(
            "INSERT INTO response_cache VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET expires_ms = "
            "excluded.expires_ms, provider = excluded.provider, model = "
            "excluded.model, finish_reason = excluded.finish_reason, "
            "input_tokens = excluded.input_tokens, output_tokens = "
            "excluded.output_tokens, cached_input_tokens = "
            "excluded.cached_input_tokens, text = excluded.text",
            storable({e.key, e.expires_ms, e.provider, e.model, e.finish_reason,
                      e.usage.input_tokens, e.usage.output_tokens,
                      e.usage.cached_input_tokens, e.text}));
    });
  }

  int64_t cache_purge(int64_t now_ms) override {
    int64_t expired = 0;
    in_transaction(*db_, [&] {
      db_->query("SELECT COUNT(*) FROM response_cache WHERE expires_ms <= ?",
                 {now_ms}, [&](const sql_row& r) { expired = r.integer(0); });
      db_->run("DELETE FROM response_cache WHERE expires_ms <= ?", {now_ms});
    });
    return expired;
  }

  int64_t prune(int64_t before_ms, size_t max_runs) override {
    return prune_runs(*db_, before_ms, max_runs);
  }

  std::vector<stats_row> stats(const stats_query& q) override {
    static const std::map<std::string, std::string> columns = {
        {"provider", "provider"},
        {"model", "model"},
        {"ensemble", "ensemble"},
        {"key", "key_name"}};
    auto column = columns.find(q.by);
    if (column == columns.end())
      throw store_error(
          "stats: 'by' is provider, model, ensemble or key, not '" + q.by +
          "'");
    if (q.per != "day" && q.per != "hour")
      throw store_error("stats: 'per' is day or hour, not '" + q.per + "'");
    auto bucket_ms = q.per == "day" ? day_ms : hour_ms;
    std::string sql = "SELECT " + column->second +
                      ", hour_ms, failure_kind, latency_bucket, cached, "
                      "SUM(calls), SUM(input_tokens), SUM(output_tokens), "
                      "SUM(cost_usd), SUM(voted), SUM(agreed) FROM "
                      "call_rollup WHERE hour_ms >= ?";
    std::vector<sql_value> params{q.since_ms - q.since_ms % hour_ms};
    if (q.until_ms > 0) {
      sql += " AND hour_ms < ?";
      params.emplace_back(q.until_ms);
    }
    sql += " GROUP BY 1, 2, 3, 4, 5";
    struct cell {
      stats_row row;
      std::vector<int64_t> histogram = std::vector<int64_t>(latency_buckets, 0);
    };
    std::map<std::pair<int64_t, std::string>, cell> cells;
    db_->query(sql, params, [&](const sql_row& r) {
      auto hour = r.integer(1);
      auto bucket = hour - hour % bucket_ms;
      auto& c = cells[{bucket, r.text(0)}];
      c.row.group = r.text(0);
      c.row.bucket_ms = bucket;
      auto calls = r.integer(5);
      c.row.calls += calls;
      if (!r.text(2).empty()) {
        c.row.failures += calls;
        c.row.failures_by_kind[r.text(2)] += calls;
      }
      auto latency = std::clamp<int64_t>(r.integer(3), 0, latency_buckets - 1);
      c.histogram[static_cast<size_t>(latency)] += calls;
      // A cached call's tokens were spent once, by the call that made it.
      if (r.integer(4) != 0) {
        c.row.cached += calls;
        c.row.saved_input_tokens += r.integer(6);
        c.row.saved_output_tokens += r.integer(7);
      } else {
        c.row.input_tokens += r.integer(6);
        c.row.output_tokens += r.integer(7);
      }
      c.row.cost_usd += r.real(8);
      c.row.voted += r.integer(9);
      c.row.agreed += r.integer(10);
    });
    std::vector<stats_row> rows;
    for (auto& [key, c] : cells) {
      c.row.p50_ms = percentile_ms(c.histogram, c.row.calls, 0.50);
      c.row.p95_ms = percentile_ms(c.histogram, c.row.calls, 0.95);
      rows.push_back(std::move(c.row));
    }
    return rows;
  }

private:
  /// The user (and assistant) turns of a stored prompt (JSON messages);
  /// the system prompt is the asker's to give again.
  static std::vector<chat_message> user_messages(const std::string& prompt) {
    std::vector<chat_message> messages;
    rapidjson::Document doc;
    if (!json_reader::parse(doc, prompt).ok || !doc.IsArray())
      return messages;
    for (auto& m : doc.GetArray()) {
      if (!m.IsObject())
        continue;
      auto role = m.FindMember("role");
      auto content = m.FindMember("content");
      if (role == m.MemberEnd() || content == m.MemberEnd() ||
          !role->value.IsString() || !content->value.IsString())
        continue;
      std::string r{role->value.GetString(), role->value.GetStringLength()};
      if (r != "user" && r != "assistant")
        continue;
      messages.push_back(
          chat_message{r, std::string{content->value.GetString(),
                                      content->value.GetStringLength()}});
    }
    return messages;
  }

  static api_key key_of(const sql_row& r) {
    api_key key;
    key.name = r.text(0);
    key.hint = r.text(1);
    auto& targets = r.text(2);
    for (size_t start = 0; start < targets.size();) {
      auto comma = targets.find(',', start);
      if (comma == std::string::npos)
        comma = targets.size();
      key.targets.push_back(targets.substr(start, comma - start));
      start = comma + 1;
    }
    key.rpm = r.integer(3);
    key.tpm = r.integer(4);
    key.created_ms = r.integer(5);
    key.revoked_ms = r.integer(6);
    key.budget.day_usd = r.real(7);
    key.budget.month_usd = r.real(8);
    return key;
  }

  void check_not_newer(int version) {
    if (version > store_schema_version())
      throw store_error(
          "store is at schema version " + std::to_string(version) +
          ", newer than this tutti knows (" +
          std::to_string(store_schema_version()) +
          "): upgrade tutti, or point store: at another database");
  }

  static std::pair<int64_t, std::string> parse_cursor(const std::string& c) {
    auto dot = c.find('.');
    char* end = nullptr;
    auto ms = std::strtoll(c.c_str(), &end, 10);
    if (dot == std::string::npos || end != c.c_str() + dot || dot == 0 ||
        c.size() - dot > 64)
      throw store_error("cursor '" + c.substr(0, 40) +
                        "' is not one a page of runs gave");
    return {ms, c.substr(dot + 1)};
  }

  /// The latency below which `share` of the calls fall, interpolated
  /// within the bucket where that count is reached.
  static double percentile_ms(const std::vector<int64_t>& histogram,
                              int64_t calls, double share) {
    if (calls <= 0)
      return 0;
    auto rank = share * static_cast<double>(calls);
    double seen = 0;
    for (int i = 0; i < latency_buckets; ++i) {
      auto n = static_cast<double>(histogram[static_cast<size_t>(i)]);
      if (n > 0 && seen + n >= rank) {
        double low = i == 0 ? 0 : latency_bucket_bound_us(i - 1);
        double high = latency_bucket_bound_us(i);
        return (low + (high - low) * ((rank - seen) / n)) / 1000.0;
      }
      seen += n;
    }
    return latency_bucket_bound_us(latency_buckets - 1) / 1000.0;
  }

  void write_run(const stored_run& run) {
    // Built once: `run` looks a statement up by its text.
    static const std::string insert_run =
        "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?, ?, ?, ?)";
    static const std::string insert_step =
        "INSERT INTO steps VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?)";
    static const std::string insert_call =
        "INSERT INTO calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    db_->run(insert_run,
             storable_values(params_, run.id, run.kind, run.target_kind,
                             run.target, run.status, run.started_ms,
                             run.finished_ms, run.wall_us,
                             run.usage.input_tokens, run.usage.output_tokens,
                             run.usage.cached_input_tokens, run.cost_usd,
                             run.key, run.session, run.combine, run.note,
                             run.prompt, run.answer, run.verdict));
    int64_t seq = 0;
    for (auto& s : run.steps)
      db_->run(
          insert_step,
          storable_values(params_, run.id, seq++, s.id, s.target, s.status,
                          s.reason, s.combine, s.note, s.started_us, s.total_us,
                          s.usage.input_tokens, s.usage.output_tokens,
                          s.usage.cached_input_tokens, s.cost_usd, s.text));
    seq = 0;
    for (auto& c : run.calls)
      db_->run(insert_call,
               storable_values(
                   params_, run.id, seq++, run.started_ms, c.step,
                   ensemble_of(run, c), c.role, c.member, c.provider, c.model,
                   run.key, int64_t{c.ok ? 1 : 0}, c.failure_kind, c.error,
                   c.http_status, c.attempts, c.queued_us, c.first_token_us,
                   c.total_us, c.usage.input_tokens, c.usage.output_tokens,
                   c.usage.cached_input_tokens, c.cost_usd,
                   int64_t{c.cached ? 1 : 0}, c.finish_reason, c.text,
                   c.agreed ? sql_value{int64_t{*c.agreed ? 1 : 0}}
                            : sql_value{nullptr}));
  }

  std::unique_ptr<sql_db> db_;
  /// The parameters of the statement being written (`storable_values`).
  std::vector<sql_value> params_;
};

bool is_postgres_url(const std::string& url) {
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
}

} // namespace

int store_schema_version() {
  return static_cast<int>(migrations().size());
}

std::string printable_store_url(const std::string& url) {
  if (!is_postgres_url(url))
    return url;
  auto text = url;
  // postgresql://user:PASSWORD@host/db
  auto scheme_end = text.find("://") + 3;
  auto at = text.find('@', scheme_end);
  auto slash = text.find('/', scheme_end);
  if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
    auto colon = text.find(':', scheme_end);
    if (colon != std::string::npos && colon < at)
      text.replace(colon + 1, at - colon - 1, "***");
  }
  // ...?password=PASSWORD&...
  for (size_t from = 0;;) {
    auto p = text.find("password=", from);
    if (p == std::string::npos)
      break;
    auto value = p + 9;
    auto end = text.find('&', value);
    if (end == std::string::npos)
      end = text.size();
    text.replace(value, end - value, "***");
    from = value + 3;
  }
  return text;
}

std::unique_ptr<run_store> open_store(const store_config& config,
                                      bool migrate) {
  if (config.url == "none")
    throw store_error("store: none is configured; nothing is kept");
  std::unique_ptr<sql_db> db;
  if (is_postgres_url(config.url)) {
    db = open_postgres(config.url);
  } else {
    auto path =
        config.url.rfind("sqlite:", 0) == 0 ? config.url.substr(7) : config.url;
    if (path.empty())
      path = default_store_path();
    if (path.empty())
      throw store_error("store: neither XDG_DATA_HOME nor HOME is set; give "
                        "store: a path");
    db = open_sqlite(path);
  }
  auto store = std::make_unique<sql_run_store>(std::move(db));
  if (migrate)
    store->migrate();
  else
    store->check_current();
  return store;
}

} // namespace tutti
