// The run store against both of its databases: each behaviour is one test
// case run twice, on an SQLite file in a temporary directory and on a real
// PostgreSQL server (postgres_server.hpp, one for the whole module, a fresh
// database per case). A PostgreSQL case fails, never skips, when the server
// cannot be started: `./setup.sh test` installs it.

#include <boost/mpl/list.hpp>
#include <boost/test/unit_test.hpp>

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/schema.hpp"
#include "store/sql_db.hpp"
#include "tests/integration/store_place.hpp"
#include "tutti/json.hpp"
#include "tutti/store.hpp"

namespace fs = std::filesystem;
using tutti::api_key;
using tutti::cache_entry;
using tutti::key_hash;
using tutti::run_filter;
using tutti::run_store;
using tutti::spend_limit;
using tutti::spend_row;
using tutti::stats_query;
using tutti::stats_row;
using tutti::store_config;
using tutti::store_error;
using tutti::stored_call;
using tutti::stored_run;
using tutti::stored_step;
using tutti::store_detail::sql_db;
using tutti::store_detail::sql_row;
using tutti::testing::postgres_server;

namespace {

using tutti::testing::backends;
using tutti::testing::pg_server;
using tutti::testing::store_place;

constexpr int64_t hour_ms = 3'600'000;
constexpr int64_t day_ms = 24 * hour_ms;
/// 2023-11-15 00:00 UTC: a day's start, so that buckets are easy to name.
constexpr int64_t day0 = 1'700'006'400'000;

int64_t count_of(sql_db& db, const std::string& sql) {
  int64_t n = -1;
  db.query(sql, {}, [&](const sql_row& r) { n = r.integer(0); });
  return n;
}

stored_call make_call(const std::string& provider, const std::string& model,
                      int64_t total_us) {
  stored_call c;
  c.role = "member";
  c.member = provider;
  c.provider = provider;
  c.model = model;
  c.ok = true;
  c.http_status = 200;
  c.attempts = 1;
  c.total_us = total_us;
  c.first_token_us = total_us / 2;
  c.finish_reason = "stop";
  c.text = "an answer";
  return c;
}

stored_call failed_call(const std::string& provider, const std::string& model,
                        const std::string& kind, int64_t total_us) {
  auto c = make_call(provider, model, total_us);
  c.ok = false;
  c.failure_kind = kind;
  c.error = "it failed: " + kind;
  c.http_status = 503;
  c.first_token_us = -1;
  c.finish_reason = "";
  c.text = "";
  return c;
}

stored_run make_run(const std::string& id, int64_t started_ms,
                    const std::string& kind = "ask",
                    const std::string& target_kind = "ensemble",
                    const std::string& target = "pair") {
  stored_run r;
  r.id = id;
  r.kind = kind;
  r.target_kind = target_kind;
  r.target = target;
  r.status = "ok";
  r.started_ms = started_ms;
  r.finished_ms = started_ms + 250;
  r.wall_us = 250'000;
  r.prompt = R"([{"role":"user","content":"hi"}])";
  r.answer = "hello";
  return r;
}

std::vector<std::string> ids_of(const std::vector<stored_run>& runs) {
  std::vector<std::string> ids;
  for (auto& r : runs)
    ids.push_back(r.id);
  return ids;
}

std::vector<std::string> listed(run_store& store, run_filter filter) {
  return ids_of(store.list(filter).runs);
}

const stats_row* row_of(const std::vector<stats_row>& rows,
                        const std::string& group, int64_t bucket_ms) {
  for (auto& r : rows)
    if (r.group == group && r.bucket_ms == bucket_ms)
      return &r;
  return nullptr;
}

int64_t total_calls(run_store& store) {
  int64_t n = 0;
  for (auto& r : store.stats(stats_query{}))
    n += r.calls;
  return n;
}

/// Writes, straight into `db`, the calls table of schema version 1 as a
/// tutti of that version would have: one row per call.
void insert_v1_call(sql_db& db, const std::string& run_id, int64_t seq,
                    int64_t started_ms, const std::string& ensemble,
                    const std::string& key, const stored_call& c) {
  db.run("INSERT INTO calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
         "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
         {run_id,
          seq,
          started_ms,
          c.step,
          ensemble,
          c.role,
          c.member,
          c.provider,
          c.model,
          key,
          int64_t{c.ok ? 1 : 0},
          c.failure_kind,
          c.error,
          c.http_status,
          c.attempts,
          c.queued_us,
          c.first_token_us,
          c.total_us,
          c.usage.input_tokens,
          c.usage.output_tokens,
          c.usage.cached_input_tokens,
          c.cost_usd,
          int64_t{c.cached ? 1 : 0},
          c.finish_reason,
          c.text});
}

void insert_v1_run(sql_db& db, const stored_run& r) {
  db.run("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
         "?, ?, ?, ?)",
         {r.id, r.kind, r.target_kind, r.target, r.status, r.started_ms,
          r.finished_ms, r.wall_us, r.usage.input_tokens, r.usage.output_tokens,
          r.usage.cached_input_tokens, r.cost_usd, r.key, r.session, r.combine,
          r.note, r.prompt, r.answer});
}

/// The calls both migration cases store: of an ensemble "pair", asked with
/// key "team", at latencies spread over several buckets.
std::vector<stored_call> mixed_calls() {
  std::vector<stored_call> calls;
  for (int i = 0; i < 12; ++i) {
    auto c = i % 4 == 3 ? failed_call("openai", "gpt-x", "timeout", 900'000 + i)
                        : make_call("openai", "gpt-x", (i + 1) * 37'000);
    c.usage = {100 + i, 10 + i, i % 2 == 0 ? 100 + i : 0};
    c.cost_usd = 0.001 * (i + 1);
    c.cached = i % 5 == 0;
    calls.push_back(c);
  }
  auto judge = make_call("anthropic", "claude-y", 1'500'000);
  judge.role = "combiner";
  judge.usage = {500, 50, 0};
  judge.cost_usd = 0.02;
  calls.push_back(judge);
  return calls;
}

/// Writes `run`, failing the case with the store's own words when it
/// throws.
void write_or_fail(run_store& store, const stored_run& run) {
  try {
    store.write({run});
  } catch (const std::exception& e) {
    BOOST_FAIL("the store refused the run: " << e.what());
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(run_store_on_both_backends)

BOOST_AUTO_TEST_CASE_TEMPLATE(empty_store_migrates_to_current_version_once, B,
                              backends) {
  store_place place{B::name};
  BOOST_CHECK_EXCEPTION(
      place.open(false), store_error, [](const store_error& e) {
        return std::string{e.what()}.find("migrate") != std::string::npos;
      });

  auto store = place.open(true);
  BOOST_CHECK_EQUAL(store->backend(), B::name);
  BOOST_CHECK_EQUAL(store->schema_version(), tutti::store_schema_version());
  store->migrate();
  BOOST_CHECK_EQUAL(store->schema_version(), tutti::store_schema_version());
  auto again = place.open(true);
  BOOST_CHECK_EQUAL(again->schema_version(), tutti::store_schema_version());
  BOOST_CHECK_NO_THROW(place.open(false));

  // One row per migration applied, none applied twice.
  auto db = place.raw();
  BOOST_CHECK_EQUAL(count_of(*db, "SELECT COUNT(*) FROM tutti_schema"),
                    tutti::store_schema_version());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(two_stores_migrating_at_once_both_succeed, B,
                              backends) {
  store_place place{B::name};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&] {
      try {
        place.open(true);
      } catch (const std::exception& e) {
        BOOST_TEST_MESSAGE("migrating failed: " << e.what());
        ++failures;
      }
    });
  for (auto& t : threads)
    t.join();
  BOOST_CHECK_EQUAL(failures.load(), 0);
  auto db = place.raw();
  BOOST_CHECK_EQUAL(count_of(*db, "SELECT COUNT(*) FROM tutti_schema"),
                    tutti::store_schema_version());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(store_at_version_1_migrates_and_counts_old_calls,
                              B, backends) {
  store_place place{B::name};
  auto old_run = make_run("run_000000000000000000000001", day0 + hour_ms + 5);
  old_run.key = "team";
  auto calls = mixed_calls();
  {
    auto db = place.raw();
    tutti::store_detail::in_transaction(*db, [&] {
      db->run("CREATE TABLE tutti_schema (version BIGINT NOT NULL)");
      for (auto& sql : tutti::store_detail::migrations()[0])
        db->run(sql);
      db->run("INSERT INTO tutti_schema (version) VALUES (1)");
      insert_v1_run(*db, old_run);
      for (size_t i = 0; i < calls.size(); ++i)
        insert_v1_call(*db, old_run.id, static_cast<int64_t>(i),
                       old_run.started_ms, "pair", "team", calls[i]);
    });
  }
  BOOST_CHECK_THROW(place.open(false), store_error);

  auto store = place.open(true);
  BOOST_CHECK_EQUAL(store->schema_version(), tutti::store_schema_version());
  auto found = store->find(old_run.id);
  BOOST_REQUIRE(found);
  BOOST_CHECK_EQUAL(found->calls.size(), calls.size());

  // The same calls written now, an hour later: the backfilled hour must sum
  // exactly as the written one does.
  auto new_run = old_run;
  new_run.id = "run_000000000000000000000002";
  new_run.started_ms += hour_ms;
  new_run.finished_ms += hour_ms;
  new_run.calls = calls;
  store->write({new_run});

  stats_query q;
  q.per = "hour";
  for (auto by : {"provider", "model", "ensemble", "key"}) {
    q.by = by;
    auto rows = store->stats(q);
    BOOST_TEST_CONTEXT("by " << by) {
      BOOST_CHECK_EQUAL(rows.size() % 2, 0u);
      for (auto& old_row : rows) {
        if (old_row.bucket_ms != day0 + hour_ms)
          continue;
        auto* new_row = row_of(rows, old_row.group, day0 + 2 * hour_ms);
        BOOST_REQUIRE_MESSAGE(new_row, "no written row for " << old_row.group);
        BOOST_CHECK_EQUAL(old_row.calls, new_row->calls);
        BOOST_CHECK_EQUAL(old_row.failures, new_row->failures);
        BOOST_CHECK(old_row.failures_by_kind == new_row->failures_by_kind);
        BOOST_CHECK_EQUAL(old_row.cached, new_row->cached);
        BOOST_CHECK_EQUAL(old_row.input_tokens, new_row->input_tokens);
        BOOST_CHECK_EQUAL(old_row.output_tokens, new_row->output_tokens);
        BOOST_CHECK_EQUAL(old_row.saved_input_tokens,
                          new_row->saved_input_tokens);
        BOOST_CHECK_CLOSE(old_row.cost_usd, new_row->cost_usd, 1e-9);
        BOOST_CHECK_CLOSE(old_row.p50_ms, new_row->p50_ms, 1e-9);
        BOOST_CHECK_CLOSE(old_row.p95_ms, new_row->p95_ms, 1e-9);
      }
    }
  }

  q.by = "provider";
  auto rows = store->stats(q);
  auto* openai = row_of(rows, "openai", day0 + hour_ms);
  BOOST_REQUIRE(openai);
  BOOST_CHECK_EQUAL(openai->calls, 12);
  BOOST_CHECK_EQUAL(openai->failures, 3);
  BOOST_CHECK_EQUAL(openai->failures_by_kind.at("timeout"), 3);
  BOOST_CHECK_EQUAL(openai->cached, 3);
  // The cached calls' tokens are saved ones, not spent ones.
  BOOST_CHECK_GT(openai->saved_input_tokens, 0);
  BOOST_CHECK_GT(openai->saved_output_tokens, 0);
  BOOST_CHECK_EQUAL(openai->input_tokens + openai->saved_input_tokens,
                    12 * 100 + 66);
  BOOST_CHECK_EQUAL(openai->output_tokens + openai->saved_output_tokens,
                    12 * 10 + 66);
  BOOST_CHECK_CLOSE(openai->cost_usd, 0.078, 1e-6);
  auto* judge = row_of(rows, "anthropic", day0 + hour_ms);
  BOOST_REQUIRE(judge);
  BOOST_CHECK_EQUAL(judge->calls, 1);
  BOOST_CHECK_EQUAL(judge->failures, 0);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(store_at_version_6_migrates_with_no_agreement, B,
                              backends) {
  store_place place{B::name};
  auto old_run = make_run("run_000000000000000000000061", day0 + hour_ms + 5);
  old_run.key = "team";
  old_run.combine = "vote";
  old_run.verdict = R"({"winner":"openai"})";
  auto voter = make_call("openai", "gpt-x", 40'000);
  auto other = make_call("anthropic", "claude-y", 40'000);
  {
    // A store as a tutti of schema version 6 left it: a vote's run, its
    // calls (no `agreed`) and their roll-up (no `voted` or `agreed`).
    auto db = place.raw();
    tutti::store_detail::in_transaction(*db, [&] {
      db->run("CREATE TABLE tutti_schema (version BIGINT NOT NULL)");
      for (size_t v = 0; v < 6; ++v) {
        for (auto& sql : tutti::store_detail::migrations()[v])
          db->run(sql);
        db->run("INSERT INTO tutti_schema (version) VALUES (?)",
                {int64_t(v + 1)});
      }
      auto& r = old_run;
      db->run("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
              "?, ?, ?, ?, ?, ?, ?)",
              {r.id, r.kind, r.target_kind, r.target, r.status, r.started_ms,
               r.finished_ms, r.wall_us, r.usage.input_tokens,
               r.usage.output_tokens, r.usage.cached_input_tokens, r.cost_usd,
               r.key, r.session, r.combine, r.note, r.prompt, r.answer,
               r.verdict});
      insert_v1_call(*db, old_run.id, 0, old_run.started_ms, "pair", "team",
                     voter);
      insert_v1_call(*db, old_run.id, 1, old_run.started_ms, "pair", "team",
                     other);
      for (auto* c : {&voter, &other})
        db->run("INSERT INTO call_rollup VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "?, ?, ?)",
                {day0 + hour_ms, c->provider, c->model, std::string{"pair"},
                 std::string{"team"}, std::string{},
                 int64_t{tutti::store_detail::latency_bucket_of(c->total_us)},
                 int64_t{0}, int64_t{1}, int64_t{0}, int64_t{0}, 0.0});
    });
  }
  BOOST_CHECK_THROW(place.open(false), store_error);

  auto store = place.open(true);
  BOOST_CHECK_EQUAL(store->schema_version(), tutti::store_schema_version());
  BOOST_CHECK_EQUAL(store->schema_version(), 7);
  auto found = store->find(old_run.id);
  BOOST_REQUIRE(found);
  BOOST_CHECK_EQUAL(found->verdict, old_run.verdict);
  BOOST_REQUIRE_EQUAL(found->calls.size(), 2u);
  // Its calls were stored before the flag: nothing to compare.
  for (auto& c : found->calls)
    BOOST_CHECK(!c.agreed);
  stats_query q;
  auto rows = store->stats(q);
  BOOST_REQUIRE_EQUAL(rows.size(), 2u);
  for (auto& r : rows) {
    BOOST_CHECK_EQUAL(r.calls, 1);
    BOOST_CHECK_EQUAL(r.voted, 0);
    BOOST_CHECK_EQUAL(r.agreed, 0);
  }

  // A run written now lands in the same roll-up cells, which count on.
  auto new_run = old_run;
  new_run.id = "run_000000000000000000000062";
  voter.agreed = true;
  other.agreed = false;
  new_run.calls = {voter, other};
  store->write({new_run});
  rows = store->stats(q);
  BOOST_REQUIRE_EQUAL(rows.size(), 2u);
  auto* openai = row_of(rows, "openai", day0);
  auto* anthropic = row_of(rows, "anthropic", day0);
  BOOST_REQUIRE(openai && anthropic);
  BOOST_CHECK_EQUAL(openai->calls, 2);
  BOOST_CHECK_EQUAL(openai->voted, 1);
  BOOST_CHECK_EQUAL(openai->agreed, 1);
  BOOST_CHECK_EQUAL(anthropic->calls, 2);
  BOOST_CHECK_EQUAL(anthropic->voted, 1);
  BOOST_CHECK_EQUAL(anthropic->agreed, 0);
  auto again = store->find(new_run.id);
  BOOST_REQUIRE(again && again->calls.size() == 2);
  BOOST_CHECK(again->calls[0].agreed == std::optional<bool>{true});
  BOOST_CHECK(again->calls[1].agreed == std::optional<bool>{false});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(store_of_a_newer_schema_is_refused, B, backends) {
  store_place place{B::name};
  place.open(true);
  place.raw()->run("INSERT INTO tutti_schema (version) VALUES (?)",
                   {int64_t{tutti::store_schema_version() + 1}});
  auto says_newer = [](const store_error& e) {
    return std::string{e.what()}.find("newer") != std::string::npos;
  };
  BOOST_CHECK_EXCEPTION(place.open(true), store_error, says_newer);
  BOOST_CHECK_EXCEPTION(place.open(false), store_error, says_newer);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(written_run_is_found_with_every_field, B,
                              backends) {
  store_place place{B::name};
  auto store = place.open();

  stored_run run;
  run.id = tutti::new_run_id();
  run.kind = "run";
  run.target_kind = "pipeline";
  run.target = "résumé-pipeline";
  run.status = "partial";
  run.started_ms = day0 + 123'456;
  run.finished_ms = day0 + 129'999;
  run.wall_us = 6'543'210;
  run.usage = {int64_t{1} << 40, 987'654, 12'345};
  run.cost_usd = 12.3456789;
  run.key = "clé-équipe";
  run.session = "sess-🎻";
  run.combine = "judge";
  run.note = "one member failed";
  run.prompt = R"({"question":"Größe? 你好 \"quoted\" \\ back"})";
  run.answer = "Réponse — 答え 🎼\nsecond line\ttab";
  run.verdict = R"({"winner":"a","votes":[{"answer":"42","text":"42 ✓",)"
                R"("weight":2,"members":["a","b"]}],"agreement":0.5})";

  stored_step s1;
  s1.id = "draft";
  s1.target = "trio";
  s1.status = "ok";
  s1.combine = "vote";
  s1.note = "note ☃";
  s1.started_us = 0;
  s1.total_us = 1'000'001;
  s1.usage = {10, 20, 5};
  s1.cost_usd = 0.25;
  s1.text = "brouillon ✍";
  stored_step s2;
  s2.id = "review";
  s2.target = "solo";
  s2.status = "skipped";
  s2.reason = "condition false";
  s2.started_us = -1;
  s2.total_us = 0;
  run.steps = {s1, s2};

  stored_call c1 = make_call("openai", "gpt-x", 800'000);
  c1.step = "draft";
  c1.member = "first member";
  c1.queued_us = 1'234;
  c1.first_token_us = 345'678;
  c1.usage = {10, 20, 5};
  c1.cost_usd = 0.125;
  c1.cached = true;
  c1.text = "texte ünïcödé 🎹";
  c1.agreed = true;
  stored_call c2 = failed_call("anthropic", "claude-y", "rate_limited", 42);
  c2.step = "draft";
  c2.attempts = 3;
  c2.http_status = 429;
  c2.error = "429 Too Many Requests — réessayez";
  c2.text = "partial…";
  stored_call c3 = make_call("gemini", "g-1", 99);
  c3.step = "draft";
  c3.role = "combiner";
  stored_call c4 = make_call("mistral", "m-1", 1234);
  c4.step = "draft";
  c4.agreed = false;
  run.calls = {c1, c2, c3, c4};

  store->write({run});
  BOOST_CHECK(!store->find("run_ffffffffffffffffffffffff"));
  auto got = store->find(run.id);
  BOOST_REQUIRE(got);

  BOOST_CHECK_EQUAL(got->id, run.id);
  BOOST_CHECK_EQUAL(got->kind, run.kind);
  BOOST_CHECK_EQUAL(got->target_kind, run.target_kind);
  BOOST_CHECK_EQUAL(got->target, run.target);
  BOOST_CHECK_EQUAL(got->status, run.status);
  BOOST_CHECK_EQUAL(got->started_ms, run.started_ms);
  BOOST_CHECK_EQUAL(got->finished_ms, run.finished_ms);
  BOOST_CHECK_EQUAL(got->wall_us, run.wall_us);
  BOOST_CHECK_EQUAL(got->usage.input_tokens, run.usage.input_tokens);
  BOOST_CHECK_EQUAL(got->usage.output_tokens, run.usage.output_tokens);
  BOOST_CHECK_EQUAL(got->usage.cached_input_tokens,
                    run.usage.cached_input_tokens);
  BOOST_CHECK_CLOSE(got->cost_usd, run.cost_usd, 1e-9);
  BOOST_CHECK_EQUAL(got->key, run.key);
  BOOST_CHECK_EQUAL(got->session, run.session);
  BOOST_CHECK_EQUAL(got->combine, run.combine);
  BOOST_CHECK_EQUAL(got->note, run.note);
  BOOST_CHECK_EQUAL(got->prompt, run.prompt);
  BOOST_CHECK_EQUAL(got->answer, run.answer);
  BOOST_CHECK_EQUAL(got->verdict, run.verdict);

  BOOST_REQUIRE_EQUAL(got->steps.size(), run.steps.size());
  for (size_t i = 0; i < run.steps.size(); ++i) {
    auto& want = run.steps[i];
    auto& have = got->steps[i];
    BOOST_TEST_CONTEXT("step " << i) {
      BOOST_CHECK_EQUAL(have.id, want.id);
      BOOST_CHECK_EQUAL(have.target, want.target);
      BOOST_CHECK_EQUAL(have.status, want.status);
      BOOST_CHECK_EQUAL(have.reason, want.reason);
      BOOST_CHECK_EQUAL(have.combine, want.combine);
      BOOST_CHECK_EQUAL(have.note, want.note);
      BOOST_CHECK_EQUAL(have.started_us, want.started_us);
      BOOST_CHECK_EQUAL(have.total_us, want.total_us);
      BOOST_CHECK_EQUAL(have.usage.input_tokens, want.usage.input_tokens);
      BOOST_CHECK_EQUAL(have.usage.output_tokens, want.usage.output_tokens);
      BOOST_CHECK_EQUAL(have.usage.cached_input_tokens,
                        want.usage.cached_input_tokens);
      BOOST_CHECK_CLOSE(have.cost_usd, want.cost_usd, 1e-9);
      BOOST_CHECK_EQUAL(have.text, want.text);
    }
  }

  BOOST_REQUIRE_EQUAL(got->calls.size(), run.calls.size());
  for (size_t i = 0; i < run.calls.size(); ++i) {
    auto& want = run.calls[i];
    auto& have = got->calls[i];
    BOOST_TEST_CONTEXT("call " << i) {
      BOOST_CHECK_EQUAL(have.step, want.step);
      BOOST_CHECK_EQUAL(have.role, want.role);
      BOOST_CHECK_EQUAL(have.member, want.member);
      BOOST_CHECK_EQUAL(have.provider, want.provider);
      BOOST_CHECK_EQUAL(have.model, want.model);
      BOOST_CHECK_EQUAL(have.ok, want.ok);
      BOOST_CHECK_EQUAL(have.failure_kind, want.failure_kind);
      BOOST_CHECK_EQUAL(have.error, want.error);
      BOOST_CHECK_EQUAL(have.http_status, want.http_status);
      BOOST_CHECK_EQUAL(have.attempts, want.attempts);
      BOOST_CHECK_EQUAL(have.queued_us, want.queued_us);
      BOOST_CHECK_EQUAL(have.first_token_us, want.first_token_us);
      BOOST_CHECK_EQUAL(have.total_us, want.total_us);
      BOOST_CHECK_EQUAL(have.usage.input_tokens, want.usage.input_tokens);
      BOOST_CHECK_EQUAL(have.usage.output_tokens, want.usage.output_tokens);
      BOOST_CHECK_EQUAL(have.usage.cached_input_tokens,
                        want.usage.cached_input_tokens);
      BOOST_CHECK_CLOSE(have.cost_usd, want.cost_usd, 1e-9);
      BOOST_CHECK_EQUAL(have.cached, want.cached);
      BOOST_CHECK_EQUAL(have.finish_reason, want.finish_reason);
      BOOST_CHECK_EQUAL(have.text, want.text);
      BOOST_CHECK_MESSAGE(have.agreed == want.agreed,
                          "agreed is " << (have.agreed ? *have.agreed : -1));
    }
  }
  // 1, 0 and NULL, as written (the failed call and the combiner's: NULL).
  auto db = place.raw();
  BOOST_CHECK_EQUAL(
      count_of(*db, "SELECT COUNT(*) FROM calls WHERE agreed IS NULL"), 2);
  BOOST_CHECK_EQUAL(count_of(*db, "SELECT SUM(agreed) FROM calls"), 1);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(list_filters_by_each_field_newest_first, B,
                              backends) {
  store_place place{B::name};
  auto store = place.open();
  auto t = day0;
  auto r1 = make_run("run_01", t + 1000, "ask", "ensemble", "pair");
  r1.key = "a";
  r1.session = "s1";
  auto r2 = make_run("run_02", t + 2000, "ask", "provider", "openai");
  r2.status = "failed";
  r2.key = "b";
  auto r3 = make_run("run_03", t + 3000, "run", "pipeline", "pipe");
  r3.key = "a";
  r3.session = "s2";
  r3.steps = {stored_step{}};
  r3.calls = {make_call("openai", "gpt-x", 10)};
  auto r4 = make_run("run_04", t + 4000, "batch", "ensemble", "pair");
  r4.status = "partial";
  auto r5 = make_run("run_05", t + 5000, "http", "ensemble", "pair");
  r5.key = "b";
  r5.session = "s1";
  store->write({r3, r1, r5});
  store->write({r2, r4});

  using ids = std::vector<std::string>;
  auto all = store->list(run_filter{});
  BOOST_CHECK(ids_of(all.runs) ==
              (ids{"run_05", "run_04", "run_03", "run_02", "run_01"}));
  BOOST_CHECK(all.next_cursor.empty());
  for (auto& r : all.runs) {
    BOOST_CHECK(r.steps.empty());
    BOOST_CHECK(r.calls.empty());
  }
  BOOST_CHECK_EQUAL(all.runs[2].answer, "hello");

  run_filter f;
  f.kind = "ask";
  BOOST_CHECK(listed(*store, f) == (ids{"run_02", "run_01"}));
  f = {};
  f.target = "pair";
  BOOST_CHECK(listed(*store, f) == (ids{"run_05", "run_04", "run_01"}));
  f = {};
  f.target_kind = "pipeline";
  BOOST_CHECK(listed(*store, f) == (ids{"run_03"}));
  f.target_kind = "ensemble";
  BOOST_CHECK(listed(*store, f) == (ids{"run_05", "run_04", "run_01"}));
  f.target = "openai";
  BOOST_CHECK(listed(*store, f).empty()); // a provider, not an ensemble
  f = {};
  f.status = "ok";
  BOOST_CHECK(listed(*store, f) == (ids{"run_05", "run_03", "run_01"}));
  f = {};
  f.key = "a";
  BOOST_CHECK(listed(*store, f) == (ids{"run_03", "run_01"}));
  f = {};
  f.session = "s1";
  BOOST_CHECK(listed(*store, f) == (ids{"run_05", "run_01"}));
  f = {};
  f.since_ms = t + 2000; // at or after
  BOOST_CHECK(listed(*store, f) ==
              (ids{"run_05", "run_04", "run_03", "run_02"}));
  f = {};
  f.until_ms = t + 4000; // before
  BOOST_CHECK(listed(*store, f) == (ids{"run_03", "run_02", "run_01"}));
  f.since_ms = t + 2000;
  BOOST_CHECK(listed(*store, f) == (ids{"run_03", "run_02"}));
  f = {};
  f.kind = "ask";
  f.key = "a";
  BOOST_CHECK(listed(*store, f) == (ids{"run_01"}));
  f = {};
  f.target = "nothing-like-it";
  BOOST_CHECK(listed(*store, f).empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(pages_of_runs_lose_and_repeat_none, B, backends) {
  store_place place{B::name};
  auto store = place.open();
  std::vector<stored_run> runs;
  for (int i = 0; i < 25; ++i) {
    // Three runs share each millisecond: the cursor must order by id too.
    auto r = make_run(tutti::new_run_id(), day0 + (i / 3) * 1000,
                      i % 2 == 0 ? "ask" : "http");
    runs.push_back(r);
  }
  store->write(runs);
  auto expected = runs;
  std::sort(expected.begin(), expected.end(), [](auto& a, auto& b) {
    return std::tie(a.started_ms, a.id) > std::tie(b.started_ms, b.id);
  });

  run_filter f;
  f.limit = 10;
  std::vector<std::string> seen;
  std::vector<size_t> sizes;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = store->list(f);
    sizes.push_back(page.runs.size());
    for (auto& r : page.runs)
      seen.push_back(r.id);
    if (page.next_cursor.empty())
      break;
    f.cursor = page.next_cursor;
    if (pages == 0) {
      // Runs written while someone pages are newer: they shift nothing.
      store->write({make_run(tutti::new_run_id(), day0 + day_ms, "batch")});
    }
  }
  BOOST_CHECK(sizes == (std::vector<size_t>{10, 10, 5}));
  BOOST_CHECK(seen == ids_of(expected));

  // A filter holds across pages too.
  f = {};
  f.kind = "ask";
  f.limit = 4;
  std::vector<std::string> asks;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = store->list(f);
    for (auto& r : page.runs)
      asks.push_back(r.id);
    if (page.next_cursor.empty())
      break;
    f.cursor = page.next_cursor;
  }
  std::vector<std::string> expected_asks;
  for (auto& r : expected)
    if (r.kind == "ask")
      expected_asks.push_back(r.id);
  BOOST_CHECK(asks == expected_asks);

  for (auto bad : {"nonsense", "12345", ".run_x", "12a.run_x"}) {
    BOOST_TEST_CONTEXT("cursor " << bad) {
      run_filter b;
      b.cursor = bad;
      BOOST_CHECK_THROW(store->list(b), store_error);
    }
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(stats_sum_calls_by_group_per_day_and_hour, B,
                              backends) {
  store_place place{B::name};
  auto store = place.open();

  // Day 0, hour 1: an ask of the ensemble "pair" with key a.
  auto a = make_run("run_a", day0 + hour_ms + 300'000);
  a.key = "team-a";
  auto a1 = make_call("openai", "gpt-x", 100'000);
  a1.usage = {10, 20, 0};
  a1.cost_usd = 0.01;
  auto a2 = failed_call("anthropic", "claude-y", "timeout", 200'000);
  a2.usage = {10, 0, 0};
  a.calls = {a1, a2};
  // Day 0, hour 2: the provider openai asked alone with key b, from cache.
  auto b = make_run("run_b", day0 + 2 * hour_ms + 60'000, "ask", "provider",
                    "openai");
  b.key = "team-b";
  auto b1 = make_call("openai", "gpt-x", 5'000);
  b1.usage = {30, 5, 30};
  b1.cost_usd = 0.002;
  b1.cached = true;
  b.calls = {b1};
  // Day 1, hour 3: a pipeline whose step asks the ensemble "trio".
  auto c =
      make_run("run_c", day0 + day_ms + 3 * hour_ms, "run", "pipeline", "pipe");
  c.key = "team-a";
  stored_step step;
  step.id = "s1";
  step.target = "trio";
  c.steps = {step};
  auto c1 = failed_call("openai", "gpt-z", "rate_limited", 50'000);
  c1.step = "s1";
  auto c2 = make_call("anthropic", "claude-y", 400'000);
  c2.step = "s1";
  c2.usage = {7, 8, 0};
  c2.cost_usd = 0.5;
  c.calls = {c1, c2};
  store->write({a, b});
  store->write({c});

  stats_query q;
  auto rows = store->stats(q); // by provider per day
  BOOST_CHECK_EQUAL(rows.size(), 4u);
  auto* openai0 = row_of(rows, "openai", day0);
  BOOST_REQUIRE(openai0);
  BOOST_CHECK_EQUAL(openai0->calls, 2);
  BOOST_CHECK_EQUAL(openai0->failures, 0);
  BOOST_CHECK(openai0->failures_by_kind.empty());
  BOOST_CHECK_EQUAL(openai0->cached, 1);
  // The cached call's tokens count as saved, not spent.
  BOOST_CHECK_EQUAL(openai0->input_tokens, 10);
  BOOST_CHECK_EQUAL(openai0->output_tokens, 20);
  BOOST_CHECK_EQUAL(openai0->saved_input_tokens, 30);
  BOOST_CHECK_EQUAL(openai0->saved_output_tokens, 5);
  BOOST_CHECK_CLOSE(openai0->cost_usd, 0.012, 1e-6);
  auto* anthropic0 = row_of(rows, "anthropic", day0);
  BOOST_REQUIRE(anthropic0);
  BOOST_CHECK_EQUAL(anthropic0->calls, 1);
  BOOST_CHECK_EQUAL(anthropic0->failures, 1);
  BOOST_CHECK_EQUAL(anthropic0->failures_by_kind.at("timeout"), 1);
  auto* openai1 = row_of(rows, "openai", day0 + day_ms);
  BOOST_REQUIRE(openai1);
  BOOST_CHECK_EQUAL(openai1->failures_by_kind.at("rate_limited"), 1);
  auto* anthropic1 = row_of(rows, "anthropic", day0 + day_ms);
  BOOST_REQUIRE(anthropic1);
  BOOST_CHECK_EQUAL(anthropic1->failures, 0);
  BOOST_CHECK_CLOSE(anthropic1->cost_usd, 0.5, 1e-6);

  q.per = "hour";
  rows = store->stats(q);
  BOOST_CHECK_EQUAL(rows.size(), 5u);
  auto* hour1 = row_of(rows, "openai", day0 + hour_ms);
  auto* hour2 = row_of(rows, "openai", day0 + 2 * hour_ms);
  BOOST_REQUIRE(hour1 && hour2);
  BOOST_CHECK_EQUAL(hour1->calls, 1);
  BOOST_CHECK_EQUAL(hour1->cached, 0);
  BOOST_CHECK_EQUAL(hour2->cached, 1);
  BOOST_CHECK(row_of(rows, "anthropic", day0 + day_ms + 3 * hour_ms));

  q = {};
  q.by = "model";
  rows = store->stats(q);
  BOOST_CHECK(row_of(rows, "gpt-x", day0) &&
              row_of(rows, "gpt-x", day0)->calls == 2);
  BOOST_CHECK(row_of(rows, "gpt-z", day0 + day_ms));
  BOOST_CHECK(row_of(rows, "claude-y", day0 + day_ms));

  q.by = "ensemble";
  rows = store->stats(q);
  auto* pair = row_of(rows, "pair", day0);
  auto* alone = row_of(rows, "", day0);
  auto* trio = row_of(rows, "trio", day0 + day_ms);
  BOOST_REQUIRE(pair && alone && trio);
  BOOST_CHECK_EQUAL(pair->calls, 2);
  BOOST_CHECK_EQUAL(alone->calls, 1);
  BOOST_CHECK_EQUAL(trio->calls, 2);
  BOOST_CHECK(!row_of(rows, "pipe", day0 + day_ms));

  q.by = "key";
  rows = store->stats(q);
  auto* team_a0 = row_of(rows, "team-a", day0);
  auto* team_b0 = row_of(rows, "team-b", day0);
  auto* team_a1 = row_of(rows, "team-a", day0 + day_ms);
  BOOST_REQUIRE(team_a0 && team_b0 && team_a1);
  BOOST_CHECK_EQUAL(team_a0->calls, 2);
  BOOST_CHECK_EQUAL(team_b0->calls, 1);
  BOOST_CHECK_EQUAL(team_a1->calls, 2);

  // since and until choose hours.
  q = {};
  q.since_ms = day0 + day_ms;
  rows = store->stats(q);
  BOOST_CHECK_EQUAL(rows.size(), 2u);
  for (auto& r : rows)
    BOOST_CHECK_EQUAL(r.bucket_ms, day0 + day_ms);
  q = {};
  q.per = "hour";
  q.until_ms = day0 + 2 * hour_ms;
  rows = store->stats(q);
  BOOST_CHECK_EQUAL(rows.size(), 2u);
  for (auto& r : rows)
    BOOST_CHECK_EQUAL(r.bucket_ms, day0 + hour_ms);

  q = {};
  q.by = "colour";
  BOOST_CHECK_THROW(store->stats(q), store_error);
  q = {};
  q.per = "week";
  BOOST_CHECK_THROW(store->stats(q), store_error);
}

namespace {

/// A member call of `provider`/`model` with its agreement flag.
stored_call voter(const std::string& provider, const std::string& model,
                  std::optional<bool> agreed) {
  auto c = make_call(provider, model, 50'000);
  c.agreed = agreed;
  return c;
}

} // namespace

// For each provider and model, of the member calls a vote settled, how many
// gave the winning answer: a vote with one dissenter and a failed member, a
// second vote in the same hour (the same roll-up cells, summed on conflict),
// a judge's run (no vote table: NULL) and a provider asked alone.
BOOST_AUTO_TEST_CASE_TEMPLATE(stats_count_who_agreed_with_the_ensemble, B,
                              backends) {
  store_place place{B::name};
  auto store = place.open();
  auto vote1 =
      make_run("run_vote1", day0 + hour_ms + 1, "ask", "ensemble", "trio");
  vote1.key = "team-a";
  vote1.combine = "vote";
  auto failed = failed_call("gemini", "g-1", "timeout", 900'000);
  vote1.calls = {voter("openai", "gpt-x", true),
                 voter("anthropic", "claude-y", true),
                 voter("mistral", "m-1", false), failed};
  auto vote2 =
      make_run("run_vote2", day0 + hour_ms + 2, "ask", "ensemble", "trio");
  vote2.key = "team-a";
  vote2.combine = "vote";
  vote2.calls = {voter("openai", "gpt-y", false),
                 voter("anthropic", "claude-y", true),
                 voter("mistral", "m-1", true)};
  auto judged =
      make_run("run_judged", day0 + hour_ms + 3, "ask", "ensemble", "judged");
  judged.key = "team-b";
  judged.combine = "judge";
  auto judge = voter("gemini", "g-1", std::nullopt);
  judge.role = "combiner";
  judged.calls = {voter("openai", "gpt-x", std::nullopt),
                  voter("anthropic", "claude-y", std::nullopt), judge};
  auto alone =
      make_run("run_alone", day0 + hour_ms + 4, "ask", "provider", "openai");
  alone.calls = {voter("openai", "gpt-x", std::nullopt)};
  store->write({vote1, judged});
  store->write({vote2, alone});

  struct want {
    const char* group;
    int64_t calls, voted, agreed;
  };
  auto check = [&](const char* by, std::vector<want> wanted) {
    stats_query q;
    q.by = by;
    for (auto* per : {"day", "hour"}) {
      q.per = per;
      auto rows = store->stats(q);
      auto bucket = q.per == "day" ? day0 : day0 + hour_ms;
      BOOST_TEST_CONTEXT("by " << by << " per " << per) {
        BOOST_CHECK_EQUAL(rows.size(), wanted.size());
        for (auto& w : wanted) {
          auto* row = row_of(rows, w.group, bucket);
          BOOST_REQUIRE_MESSAGE(row, "no row for '" << w.group << "'");
          BOOST_TEST_CONTEXT("group '" << w.group << "'") {
            BOOST_CHECK_EQUAL(row->calls, w.calls);
            BOOST_CHECK_EQUAL(row->voted, w.voted);
            BOOST_CHECK_EQUAL(row->agreed, w.agreed);
          }
        }
      }
    }
  };
  check("provider", {{"openai", 4, 2, 1},
                     {"anthropic", 3, 2, 2},
                     {"mistral", 2, 2, 1},
                     {"gemini", 2, 0, 0}});
  check("model", {{"gpt-x", 3, 1, 1},
                  {"gpt-y", 1, 1, 0},
                  {"claude-y", 3, 2, 2},
                  {"m-1", 2, 2, 1},
                  {"g-1", 2, 0, 0}});
  check("ensemble", {{"trio", 7, 6, 4}, {"judged", 3, 0, 0}, {"", 1, 0, 0}});
  check("key", {{"team-a", 7, 6, 4}, {"team-b", 3, 0, 0}, {"", 1, 0, 0}});

  // The JSON of `tutti runs stats --json` and GET /v1/stats.
  stats_query q;
  auto json = tutti::to_json(q, store->stats(q));
  BOOST_CHECK_MESSAGE(json.find(R"("group":"mistral")") != std::string::npos &&
                          json.find(R"("voted":2,"agreed":1,)") !=
                              std::string::npos,
                      json);
  BOOST_CHECK(json.find(R"("voted":0,"agreed":0,)") != std::string::npos);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(stats_percentiles_are_near_the_true_ones, B,
                              backends) {
  store_place place{B::name};
  auto store = place.open();
  // 100 calls at 10, 20, ..., 1000 ms, over four runs of the same hour.
  std::vector<int64_t> latencies_us;
  for (int i = 1; i <= 100; ++i)
    latencies_us.push_back(i * 10'000);
  std::vector<stored_run> runs;
  for (int r = 0; r < 4; ++r) {
    auto run = make_run(tutti::new_run_id(), day0 + 5 * hour_ms + r);
    for (int i = r; i < 100; i += 4)
      run.calls.push_back(make_call("openai", "gpt-x", latencies_us[i]));
    runs.push_back(run);
  }
  store->write(runs);
  stats_query q;
  q.per = "hour";
  auto rows = store->stats(q);
  BOOST_REQUIRE_EQUAL(rows.size(), 1u);
  BOOST_CHECK_EQUAL(rows[0].calls, 100);
  BOOST_CHECK_CLOSE(rows[0].p50_ms, 505.0, 25.0);
  BOOST_CHECK_CLOSE(rows[0].p95_ms, 955.0, 25.0);
  BOOST_CHECK_LE(rows[0].p50_ms, rows[0].p95_ms);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(batch_is_written_all_or_none, B, backends) {
  store_place place{B::name};
  auto store = place.open();
  auto x = make_run("run_x", day0);
  x.calls = {make_call("openai", "gpt-x", 1000)};
  store->write({x});

  // The second run repeats a stored id: the first must not be kept either,
  // nor its calls counted.
  auto y = make_run("run_y", day0 + 1);
  y.calls = {make_call("openai", "gpt-x", 1000)};
  auto x_again = make_run("run_x", day0 + 2);
  x_again.calls = {make_call("openai", "gpt-x", 1000)};
  BOOST_CHECK_THROW(store->write({y, x_again}), store_error);
  BOOST_CHECK(!store->find("run_y"));
  BOOST_CHECK_EQUAL(store->find("run_x")->started_ms, day0);
  BOOST_CHECK_EQUAL(total_calls(*store), 1);

  // The same within one batch.
  auto z = make_run("run_z", day0 + 3);
  BOOST_CHECK_THROW(store->write({z, z}), store_error);
  BOOST_CHECK(!store->find("run_z"));

  // The connection is still good after a failed batch.
  store->write({y, z});
  BOOST_CHECK(store->find("run_y"));
  BOOST_CHECK(store->find("run_z"));
  BOOST_CHECK_EQUAL(total_calls(*store), 2);
  BOOST_CHECK_EQUAL(store->list(run_filter{}).runs.size(), 3u);
}

// Texts come from upstream replies and users' prompts: a store that refuses
// or cuts them loses the run.
BOOST_AUTO_TEST_CASE_TEMPLATE(call_text_with_invalid_utf8_and_nul_is_kept, B,
                              backends) {
  store_place place{B::name};
  auto store = place.open();
  const char bytes[] = "ok \xff\xfe mid\0tail";
  const std::string text{bytes, sizeof bytes - 1};
  auto run = make_run("run_bytes", day0);
  auto call = make_call("openai", "gpt-x", 1000);
  call.text = text;
  run.calls = {call};
  write_or_fail(*store, run);
  auto got = store->find(run.id);
  BOOST_REQUIRE(got);
  BOOST_REQUIRE_EQUAL(got->calls.size(), 1u);
  auto& have = got->calls[0].text;
  BOOST_TEST_MESSAGE("stored as " << have.size() << " bytes");
  BOOST_CHECK(have.rfind("ok ", 0) == 0);
  BOOST_CHECK(have.size() >= 4 && have.substr(have.size() - 4) == "tail");
  // Each stray byte and the NUL become U+FFFD, the same on both backends.
  BOOST_CHECK_EQUAL(have, "ok \xef\xbf\xbd\xef\xbf\xbd mid\xef\xbf\xbdtail");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(call_text_with_invalid_utf8_is_kept, B,
                              backends) {
  store_place place{B::name};
  auto store = place.open();
  auto run = make_run("run_latin1", day0);
  auto call = make_call("openai", "gpt-x", 1000);
  call.text = "caf\xe9 \xff\xfe end";
  run.calls = {call};
  write_or_fail(*store, run);
  auto got = store->find(run.id);
  BOOST_REQUIRE(got && got->calls.size() == 1);
  auto& have = got->calls[0].text;
  BOOST_CHECK(have.rfind("caf", 0) == 0);
  BOOST_CHECK(have.size() >= 4 && have.substr(have.size() - 4) == " end");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(text_with_nul_byte_is_kept_whole, B, backends) {
  store_place place{B::name};
  auto store = place.open();
  auto run = make_run("run_nul", day0);
  run.prompt = std::string{"before\0after", 12};
  auto call = make_call("openai", "gpt-x", 1000);
  call.text = std::string{"left\0right", 10};
  run.calls = {call};
  write_or_fail(*store, run);
  auto got = store->find(run.id);
  BOOST_REQUIRE(got && got->calls.size() == 1);
  BOOST_CHECK_MESSAGE(got->prompt.find("after") != std::string::npos,
                      "prompt cut to " << got->prompt.size() << " bytes");
  BOOST_CHECK_MESSAGE(got->calls[0].text.find("right") != std::string::npos,
                      "text cut to " << got->calls[0].text.size() << " bytes");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(store_urls)

BOOST_AUTO_TEST_CASE(printable_url_hides_passwords) {
  using tutti::printable_store_url;
  BOOST_CHECK_EQUAL(printable_store_url("postgresql://me:s3cret@db/runs"),
                    "postgresql://me:***@db/runs");
  BOOST_CHECK_EQUAL(
      printable_store_url("postgres://me:s3cret@db:5432/runs?sslmode=require"),
      "postgres://me:***@db:5432/runs?sslmode=require");
  BOOST_CHECK_EQUAL(
      printable_store_url("postgresql://db/runs?user=me&password=s3cret"),
      "postgresql://db/runs?user=me&password=***");
  BOOST_CHECK_EQUAL(
      printable_store_url("postgresql://me:a@db/r?password=b&sslmode=disable"),
      "postgresql://me:***@db/r?password=***&sslmode=disable");
  BOOST_CHECK_EQUAL(printable_store_url("postgresql://me@db/runs"),
                    "postgresql://me@db/runs");
  BOOST_CHECK_EQUAL(printable_store_url("postgresql://db:5432/runs"),
                    "postgresql://db:5432/runs");
  BOOST_CHECK_EQUAL(printable_store_url("sqlite:/var/lib/tutti/runs.db"),
                    "sqlite:/var/lib/tutti/runs.db");
  for (auto url :
       {"postgresql://me:s3cret@db/runs", "postgresql://me:s:3cret@db/runs",
        "postgresql://db/runs?password=s3cret",
        "postgresql://db/runs?password=s3cret&password=s3cret"})
    BOOST_CHECK_MESSAGE(
        printable_store_url(url).find("s3cret") == std::string::npos &&
            printable_store_url(url).find("3cret") == std::string::npos,
        url << " printed as " << printable_store_url(url));
}

BOOST_AUTO_TEST_CASE(unreachable_server_error_hides_the_password) {
  // Port 1 on loopback: refused at once, nothing listens there.
  store_config config{"postgresql://me:hunter2@127.0.0.1:1/runs"};
  try {
    tutti::open_store(config);
    BOOST_FAIL("opening a store on a closed port succeeded");
  } catch (const store_error& e) {
    std::string what = e.what();
    BOOST_TEST_MESSAGE(what);
    BOOST_CHECK(what.find("hunter2") == std::string::npos);
    BOOST_CHECK(what.find("127.0.0.1") != std::string::npos);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(postgres_fixture)

// What the later fault tests rely on: the server stops and starts again on
// the same port with what was committed, and pg_dump reads it.
BOOST_AUTO_TEST_CASE(server_restarts_with_what_was_written) {
  store_place place{"postgresql"};
  auto run = make_run(tutti::new_run_id(), day0);
  place.open()->write({run});

  auto& server = pg_server();
  server.stop();
  auto before = std::chrono::steady_clock::now();
  BOOST_CHECK_THROW(place.open(), store_error);
  BOOST_CHECK_LT(std::chrono::steady_clock::now() - before,
                 std::chrono::seconds{10});
  server.start();

  auto found = place.open()->find(run.id);
  BOOST_REQUIRE(found);
  BOOST_CHECK_EQUAL(found->answer, run.answer);
  auto dump = server.dump(place.url().substr(place.url().rfind('/') + 1));
  BOOST_CHECK(dump.find(run.id) != std::string::npos);
  BOOST_CHECK(dump.find("CREATE TABLE public.call_rollup") !=
              std::string::npos);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(spend_is_summed_by_hour_provider_ensemble_key, B,
                              backends) {
  store_place place{B::name};
  auto store = place.open();
  auto a =
      make_run("run_a", day0 + hour_ms + 60'000, "ask", "ensemble", "trio");
  a.key = "team-a";
  auto a1 = make_call("openai", "gpt-x", 1000);
  a1.cost_usd = 0.25;
  auto a2 = make_call("anthropic", "claude-y", 1000);
  a2.cost_usd = 0.5;
  auto a3 = make_call("openai", "gpt-x", 1000); // cached: free
  a3.cached = true;
  a.calls = {a1, a2, a3};
  auto b =
      make_run("run_b", day0 + hour_ms + 120'000, "ask", "provider", "openai");
  auto b1 = make_call("openai", "gpt-x", 1000);
  b1.cost_usd = 1;
  b.calls = {b1};
  auto old = make_run("run_old", day0 - day_ms, "ask", "provider", "openai");
  auto old1 = make_call("openai", "gpt-x", 1000);
  old1.cost_usd = 100;
  old.calls = {old1};
  store->write({a, b, old});
  auto rows = store->spend_since(day0);
  double total = 0;
  for (auto& r : rows) {
    BOOST_CHECK_EQUAL(r.hour_ms, day0 + hour_ms);
    total += r.cost_usd;
  }
  BOOST_CHECK_CLOSE(total, 1.75, 1e-9);
  auto find = [&](const std::string& provider, const std::string& ensemble,
                  const std::string& key) -> const spend_row* {
    for (auto& r : rows)
      if (r.provider == provider && r.ensemble == ensemble && r.key == key)
        return &r;
    return nullptr;
  };
  auto* team = find("openai", "trio", "team-a");
  BOOST_REQUIRE(team);
  BOOST_CHECK_CLOSE(team->cost_usd, 0.25, 1e-9);
  auto* alone = find("openai", "", "");
  BOOST_REQUIRE(alone);
  BOOST_CHECK_CLOSE(alone->cost_usd, 1.0, 1e-9);
  BOOST_CHECK(find("anthropic", "trio", "team-a") != nullptr);
  // A start inside an hour counts that whole hour.
  BOOST_CHECK_EQUAL(store->spend_since(day0 + hour_ms + 30'000).size(),
                    rows.size());
  BOOST_CHECK(store->spend_since(day0 + 2 * hour_ms).empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(cache_entries_expire_are_replaced_and_purged, B,
                              backends) {
  store_place place{B::name};
  auto store = place.open();
  cache_entry e;
  e.key = std::string(64, 'a');
  e.expires_ms = day0 + hour_ms;
  e.provider = "openai";
  e.model = "gpt-x";
  e.text = "Paris.\xff\0tail"; // kept storable, as texts are
  e.text.push_back('!');
  e.finish_reason = "stop";
  e.usage = {12, 3, 4};
  auto other = e;
  other.key = std::string(64, 'b');
  other.expires_ms = day0 + 2 * hour_ms;
  store->cache_put({e, other});
  auto found = store->cache_get(e.key, day0);
  BOOST_REQUIRE(found);
  BOOST_CHECK(found->text.rfind("Paris.", 0) == 0);
  BOOST_CHECK_EQUAL(found->finish_reason, "stop");
  BOOST_CHECK_EQUAL(found->usage.input_tokens, 12);
  BOOST_CHECK_EQUAL(found->usage.cached_input_tokens, 4);
  BOOST_CHECK_EQUAL(found->model, "gpt-x");
  // Expired at its time: a miss, though the row is still there.
  BOOST_CHECK(!store->cache_get(e.key, day0 + hour_ms));
  // Put again: replaced, with its new expiry.
  e.text = "Lyon.";
  e.expires_ms = day0 + 3 * hour_ms;
  store->cache_put({e});
  auto replaced = store->cache_get(e.key, day0 + hour_ms);
  BOOST_REQUIRE(replaced);
  BOOST_CHECK_EQUAL(replaced->text, "Lyon.");
  BOOST_CHECK_EQUAL(store->cache_purge(day0 + 2 * hour_ms), 1);
  BOOST_CHECK(!store->cache_get(other.key, day0));
  BOOST_CHECK(store->cache_get(e.key, day0));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(a_keys_budget_is_kept, B, backends) {
  store_place place{B::name};
  auto store = place.open();
  api_key key;
  key.name = "team-a";
  key.hint = "tutti-sk-0000";
  key.budget = spend_limit{10, 250.5};
  key.created_ms = day0;
  store->create_key(key, key_hash("tutti-sk-secret"));
  auto found = store->key_by_hash(key_hash("tutti-sk-secret"));
  BOOST_REQUIRE(found);
  BOOST_CHECK_EQUAL(found->budget.day_usd, 10);
  BOOST_CHECK_EQUAL(found->budget.month_usd, 250.5);
  BOOST_CHECK_EQUAL(store->list_keys().at(0).budget.month_usd, 250.5);
}

BOOST_AUTO_TEST_SUITE_END()
