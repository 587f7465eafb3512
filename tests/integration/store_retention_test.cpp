// Deleting old runs, on both databases (store_place.hpp): `run_store::prune`,
// the store writer's `retention`, and `tutti store prune`.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "store/sql_db.hpp"
#include "store/store_writer.hpp"
#include "tests/integration/store_place.hpp"
#include "tests/integration/tutti_process.hpp"
#include "tutti/store.hpp"

using namespace std::chrono_literals;
using tutti::stored_call;
using tutti::stored_run;
using tutti::stored_step;
using tutti::testing::backends;
using tutti::testing::run_tutti;
using tutti::testing::store_place;

namespace {

constexpr int64_t hour_ms = 3'600'000;
constexpr int64_t day_ms = 24 * hour_ms;

/// A pipeline run with one step and two member calls, `started_ms`.
stored_run run_at(const std::string& id, int64_t started_ms) {
  stored_run r;
  r.id = id;
  r.kind = "run";
  r.target_kind = "pipeline";
  r.target = "answer";
  r.status = "ok";
  r.started_ms = started_ms;
  r.finished_ms = started_ms + 100;
  r.prompt = R"({"question":"hi"})";
  r.answer = "hello";
  stored_step s;
  s.id = "ask";
  s.target = "pair";
  s.status = "ok";
  s.text = "hello";
  r.steps.push_back(s);
  for (auto* provider : {"alpha", "bravo"}) {
    stored_call c;
    c.step = "ask";
    c.role = "member";
    c.member = c.provider = c.model = provider;
    c.ok = true;
    c.attempts = 1;
    c.total_us = 50'000;
    c.usage = {10, 2, 0};
    c.cost_usd = 0.001;
    c.text = "hello";
    r.calls.push_back(c);
  }
  return r;
}

int64_t count_of(tutti::store_detail::sql_db& db, const std::string& sql) {
  int64_t n = -1;
  db.query(sql, {},
           [&](const tutti::store_detail::sql_row& r) { n = r.integer(0); });
  return n;
}

/// Calls counted by `stats` per day over the whole of `since_ms` onwards.
int64_t calls_in_stats(tutti::run_store& store, int64_t since_ms) {
  tutti::stats_query q;
  q.since_ms = since_ms;
  int64_t calls = 0;
  for (auto& row : store.stats(q))
    calls += row.calls;
  return calls;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

} // namespace

BOOST_AUTO_TEST_SUITE(store_retention)

BOOST_AUTO_TEST_CASE_TEMPLATE(prune_deletes_old_runs_with_steps_and_calls, B,
                              backends) {
  store_place place{B::name};
  auto store = place.open();
  auto now = now_ms();
  store->write({run_at("run_old_1", now - 10 * day_ms),
                run_at("run_old_2", now - 9 * day_ms),
                run_at("run_new_1", now - 2 * day_ms),
                run_at("run_new_2", now - hour_ms)});
  auto since = now - 11 * day_ms;
  BOOST_REQUIRE_EQUAL(calls_in_stats(*store, since), 8);

  BOOST_CHECK_EQUAL(store->prune(now - 7 * day_ms, 1000), 2);

  BOOST_CHECK(!store->find("run_old_1"));
  BOOST_CHECK(!store->find("run_old_2"));
  auto kept = store->find("run_new_1");
  BOOST_REQUIRE(kept);
  BOOST_CHECK_EQUAL(kept->steps.size(), 1u);
  BOOST_CHECK_EQUAL(kept->calls.size(), 2u);
  BOOST_CHECK(store->find("run_new_2"));
  // Nothing of the old runs is left behind...
  auto raw = place.raw();
  BOOST_CHECK_EQUAL(count_of(*raw, "SELECT COUNT(*) FROM runs"), 2);
  BOOST_CHECK_EQUAL(count_of(*raw, "SELECT COUNT(*) FROM steps"), 2);
  BOOST_CHECK_EQUAL(count_of(*raw, "SELECT COUNT(*) FROM calls"), 4);
  BOOST_CHECK_EQUAL(count_of(*raw, "SELECT COUNT(*) FROM calls WHERE run_id "
                                   "LIKE 'run_old_%'"),
                    0);
  // ...but their figures stay in the roll-up: stats and budgets count them.
  BOOST_CHECK_EQUAL(calls_in_stats(*store, since), 8);
  // Nothing more is that old.
  BOOST_CHECK_EQUAL(store->prune(now - 7 * day_ms, 1000), 0);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(prune_takes_the_oldest_first_a_chunk_at_a_time, B,
                              backends) {
  store_place place{B::name};
  auto store = place.open();
  auto now = now_ms();
  std::vector<stored_run> runs;
  // Written newest first: the order of writing must not matter.
  for (int i = 250; i >= 1; --i)
    runs.push_back(
        run_at("run_" + std::to_string(1000 + i), now - i * hour_ms));
  store->write(runs);

  // Older than 100 hours: the 150 runs of 101..250 hours ago.
  auto before = now - 100 * hour_ms - 1;
  BOOST_CHECK_EQUAL(store->prune(before, 120), 120);
  // The 120 oldest went (250..131 hours ago); 130 is the oldest left.
  BOOST_CHECK(!store->find("run_1131"));
  BOOST_CHECK(store->find("run_1130"));
  BOOST_CHECK_EQUAL(store->prune(before, 120), 30);
  BOOST_CHECK(!store->find("run_1101"));
  BOOST_CHECK(store->find("run_1100"));
  BOOST_CHECK_EQUAL(store->prune(before, 120), 0);
  BOOST_CHECK_EQUAL(store->prune(before, 0), 0);
  auto raw = place.raw();
  BOOST_CHECK_EQUAL(count_of(*raw, "SELECT COUNT(*) FROM runs"), 100);
  BOOST_CHECK_EQUAL(count_of(*raw, "SELECT COUNT(*) FROM calls"), 200);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(writer_deletes_runs_past_the_retention, B,
                              backends) {
  store_place place{B::name};
  auto now = now_ms();
  place.open()->write({run_at("run_old_1", now - 40 * day_ms),
                       run_at("run_old_2", now - 31 * day_ms),
                       run_at("run_kept", now - 29 * day_ms)});
  tutti::store_config config{place.url()};
  config.retention_ms = 30 * day_ms;
  std::vector<std::string> log;
  {
    tutti::store_writer writer{
        config, [&](const std::string& line) { log.push_back(line); }};
    writer.submit(run_at("run_fresh", now));
    // The writer prunes first when it starts, then writes what waits.
    BOOST_REQUIRE(writer.flush(10s));
    auto health = writer.health();
    BOOST_CHECK_EQUAL(health.pruned, 2u);
    BOOST_CHECK_EQUAL(health.written, 1u);
    BOOST_CHECK_EQUAL(health.state, "ok");
  }
  auto store = place.open();
  BOOST_CHECK(!store->find("run_old_1"));
  BOOST_CHECK(!store->find("run_old_2"));
  BOOST_CHECK(store->find("run_kept"));
  BOOST_CHECK(store->find("run_fresh"));
  BOOST_CHECK_MESSAGE(log.empty(), "log: " << (log.empty() ? "" : log[0]));
}

BOOST_AUTO_TEST_CASE(writer_without_retention_keeps_every_run) {
  store_place place{"sqlite"};
  auto now = now_ms();
  place.open()->write({run_at("run_ancient", now - 4000 * day_ms)});
  {
    tutti::store_writer writer{tutti::store_config{place.url()}, nullptr};
    writer.submit(run_at("run_fresh", now));
    BOOST_REQUIRE(writer.flush(10s));
    BOOST_CHECK_EQUAL(writer.health().pruned, 0u);
  }
  BOOST_CHECK(place.open()->find("run_ancient"));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(cli_store_prune_deletes_before_a_time, B,
                              backends) {
  store_place place{B::name};
  auto now = now_ms();
  place.open()->write(
      {run_at("run_old", now - 10 * day_ms), run_at("run_new", now - day_ms)});
  auto dir = std::filesystem::temp_directory_path();
  auto r =
      run_tutti({"store", "prune", "--store", place.url(), "--before", "7d"},
                {{"PATH", "/usr/bin:/bin"}}, dir);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0,
                        "exit " << r.exit_code << ": " << r.err);
  BOOST_CHECK_MESSAGE(r.out.find("deleted 1 run (with their steps and calls) "
                                 "that started before ") != std::string::npos,
                      r.out);
  BOOST_CHECK(!place.open()->find("run_old"));
  BOOST_CHECK(place.open()->find("run_new"));

  // A time it cannot read: a usage error naming the flag, nothing deleted.
  auto bad =
      run_tutti({"store", "prune", "--store", place.url(), "--before", "soon"},
                {{"PATH", "/usr/bin:/bin"}}, dir);
  BOOST_CHECK_EQUAL(bad.exit_code, 2);
  BOOST_CHECK_MESSAGE(bad.err.find("--before: expected a time ago") !=
                          std::string::npos,
                      bad.err);
  BOOST_CHECK(place.open()->find("run_new"));
}

BOOST_AUTO_TEST_SUITE_END()
