// store_write_bench: the store's own work for a batch row, against SQLite's
// floor for the same rows, side by side in one run (tests never assert
// speed).
//
// store_bench part 2 measures what the store adds to a whole process, where
// the machine's noise is a few percent. This measures only the write, on one
// thread (CLOCK_THREAD_CPUTIME_ID around it), so it is steady:
//   store:  run_store::write of rows such as `tutti batch` stores (a pipeline
//           run, its one step, three member calls, every text kept), in
//           batches as the store writer takes them;
//   SQLite: the same rows inserted into a store of the same schema with
//           SQLite's C API alone: prepared statements, values bound where
//           they lie, one transaction per batch. No UTF-8 checks, no
//           roll-up: the least this schema asks of SQLite.
// Rounds alternate which side goes first; each round writes into fresh
// files. See docs/benchmarks.md.

#include <sqlite3.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/bench_support.hpp"
#include "tutti/store.hpp"

using namespace tutti::bench;
namespace fs = std::filesystem;

namespace {

struct bench_options {
  int rows = 50'000;   ///< rows per round, each side
  int batch = 250;     ///< rows per transaction (the writer's batch)
  int rounds = 5;      ///< rounds of each side, interleaved
  int reply_words = 6; ///< words in every member's reply
  bool texts = true;   ///< false: rows as `store: {texts: false}` keeps them
  bool keep_dir = false;
};

void usage(std::ostream& out) {
  out << "usage: store_write_bench [--rows N] [--batch N] [--rounds N]\n"
         "                         [--reply-words N] [--no-texts] "
         "[--keep-dir]\n"
         "  --rows N         rows per round, each side (default 50000)\n"
         "  --batch N        rows per transaction (default 250)\n"
         "  --rounds N       rounds of each side, interleaved (default 5)\n"
         "  --reply-words N  words in each member's reply (default 6)\n"
         "  --no-texts       rows as `store: {texts: false}` keeps them: no "
         "prompt, answer or reply\n"
         "  --keep-dir       keep the temporary directory (the stores)\n";
}

bench_options parse_args(int argc, char** argv) {
  bench_options opts;
  parse_flags(argc, argv, usage, [&](const std::string& arg, auto& value) {
    if (arg == "--rows")
      opts.rows = int_flag(arg, value(), 1, 10'000'000);
    else if (arg == "--batch")
      opts.batch = int_flag(arg, value(), 1, 100'000);
    else if (arg == "--rounds")
      opts.rounds = int_flag(arg, value(), 1, 100);
    else if (arg == "--reply-words")
      opts.reply_words = int_flag(arg, value(), 1, 20'000);
    else if (arg == "--no-texts")
      opts.texts = false;
    else if (arg == "--keep-dir")
      opts.keep_dir = true;
    else
      return false;
    return true;
  });
  return opts;
}

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// --- the rows ---------------------------------------------------------------

/// Row `n` as `tutti batch` stores it: the pipeline `answer`, its step `ask`
/// of the ensemble `trio`, whose three members replied `reply`.
tutti::stored_run batch_row(int n, int64_t started_ms, const std::string& reply,
                            bool texts) {
  tutti::stored_run r;
  r.id = tutti::new_run_id();
  r.kind = "batch";
  r.target_kind = "pipeline";
  r.target = "answer";
  r.status = "ok";
  r.started_ms = started_ms;
  r.finished_ms = started_ms + 6;
  r.wall_us = 5831;
  r.usage = {21, 24, 0};
  r.prompt = R"({"question":"Question )" + std::to_string(n) + R"(: what is )" +
             std::to_string(n) + " + " + std::to_string(n) + R"(?"})";
  r.answer = reply;
  tutti::stored_step s;
  s.id = "ask";
  s.target = "trio";
  s.status = "ok";
  s.combine = "first";
  s.started_us = 3;
  s.total_us = 5820;
  s.usage = r.usage;
  s.text = reply;
  r.steps.push_back(std::move(s));
  for (int m = 1; m <= 3; ++m) {
    tutti::stored_call c;
    c.step = "ask";
    c.role = "member";
    c.member = c.provider = c.model = "t-" + std::to_string(m);
    c.ok = true;
    c.http_status = 200;
    c.attempts = 1;
    c.queued_us = 1;
    c.first_token_us = 5704;
    c.total_us = 5713;
    c.usage = {7, 8, 0};
    c.finish_reason = "stop";
    c.text = reply;
    r.calls.push_back(std::move(c));
  }
  if (!texts) {
    r.prompt.clear();
    r.answer.clear();
    r.steps.front().text.clear();
    for (auto& c : r.calls)
      c.text.clear();
  }
  return r;
}

/// Every round's rows, made before the clock starts, in batches.
std::vector<std::vector<tutti::stored_run>>
make_batches(const bench_options& opts) {
  auto reply = reply_of_words(opts.reply_words);
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  std::vector<std::vector<tutti::stored_run>> batches;
  for (int n = 0; n < opts.rows;) {
    auto& b = batches.emplace_back();
    for (int j = 0; j < opts.batch && n < opts.rows; ++j, ++n)
      // About 8,000 rows a second, as part 2 of store_bench runs them.
      b.push_back(batch_row(n, now_ms + n / 8, reply, opts.texts));
  }
  return batches;
}

// --- the two sides
// ------------------------------------------------------------

/// run_store::write of every batch; the thread's CPU seconds in it.
double store_side(const fs::path& db,
                  const std::vector<std::vector<tutti::stored_run>>& batches) {
  auto store = tutti::open_store({db.string()});
  double cpu = 0;
  for (auto& b : batches) {
    auto before = thread_cpu_s();
    store->write(b);
    cpu += thread_cpu_s() - before;
  }
  return cpu;
}

void check(sqlite3* db, int rc, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE)
    throw std::runtime_error(std::string{what} + ": " + sqlite3_errmsg(db));
}

/// A statement of `sql`, prepared once.
sqlite3_stmt* prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  check(db, sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), sql);
  return stmt;
}

/// Binds `values` to `stmt`'s parameters in order and runs it.
class binder {
public:
  binder(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  binder& operator()(const std::string& text) {
    sqlite3_bind_text(stmt_, ++at_, text.data(), static_cast<int>(text.size()),
                      SQLITE_STATIC);
    return *this;
  }
  binder& operator()(const char* text) {
    return (*this)(std::string_view{text});
  }
  binder& operator()(std::string_view text) {
    sqlite3_bind_text(stmt_, ++at_, text.empty() ? "" : text.data(),
                      static_cast<int>(text.size()), SQLITE_STATIC);
    return *this;
  }
  binder& operator()(int64_t n) {
    sqlite3_bind_int64(stmt_, ++at_, n);
    return *this;
  }
  binder& operator()(double d) {
    sqlite3_bind_double(stmt_, ++at_, d);
    return *this;
  }
  binder& null() {
    sqlite3_bind_null(stmt_, ++at_);
    return *this;
  }
  void run() {
    check(db_, sqlite3_step(stmt_), "insert");
    sqlite3_reset(stmt_);
    at_ = 0;
  }

private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int at_ = 0;
};

/// The same rows with SQLite's C API alone, into a store of the same schema
/// (made by open_store, then closed); the thread's CPU seconds in it.
double sqlite_side(const fs::path& path,
                   const std::vector<std::vector<tutti::stored_run>>& batches) {
  tutti::open_store({path.string()}).reset();
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) !=
      SQLITE_OK)
    throw std::runtime_error(path.string() + ": cannot open");
  auto exec = [&](const char* sql) {
    check(db, sqlite3_exec(db, sql, nullptr, nullptr, nullptr), sql);
  };
  // As the store opens it.
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=NORMAL");
  auto* insert_run = prepare(db, "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, "
                                 "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  auto* insert_step = prepare(db, "INSERT INTO steps VALUES (?, ?, ?, ?, ?, "
                                  "?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  auto* insert_call =
      prepare(db, "INSERT INTO calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                  "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  binder run_row{db, insert_run}, step_row{db, insert_step},
      call_row{db, insert_call};
  double cpu = 0;
  for (auto& b : batches) {
    auto before = thread_cpu_s();
    exec("BEGIN IMMEDIATE");
    for (auto& r : b) {
      run_row(r.id)(r.kind)(r.target_kind)(r.target)(r.status)(r.started_ms)(
          r.finished_ms)(r.wall_us)(r.usage.input_tokens)(
          r.usage.output_tokens)(r.usage.cached_input_tokens)(r.cost_usd)(
          r.key)(r.session)(r.combine)(r.note)(r.prompt)(r.answer)(r.verdict)
          .run();
      int64_t seq = 0;
      for (auto& s : r.steps)
        step_row(r.id)(seq++)(s.id)(s.target)(s.status)(s.reason)(s.combine)(
            s.note)(s.started_us)(s.total_us)(s.usage.input_tokens)(
            s.usage.output_tokens)(s.usage.cached_input_tokens)(s.cost_usd)(
            s.text)
            .run();
      seq = 0;
      for (auto& c : r.calls)
        call_row(r.id)(seq++)(r.started_ms)(c.step)(r.steps.front().target)(
            c.role)(c.member)(c.provider)(c.model)(r.key)(int64_t{
            c.ok ? 1 : 0})(c.failure_kind)(c.error)(c.http_status)(c.attempts)(
            c.queued_us)(c.first_token_us)(c.total_us)(c.usage.input_tokens)(
            c.usage.output_tokens)(c.usage.cached_input_tokens)(c.cost_usd)(
            int64_t{c.cached ? 1 : 0})(c.finish_reason)(c.text)
            .null()
            .run();
    }
    exec("COMMIT");
    cpu += thread_cpu_s() - before;
  }
  for (auto* stmt : {insert_run, insert_step, insert_call})
    sqlite3_finalize(stmt);
  sqlite3_close(db);
  return cpu;
}

int run(const bench_options& opts) {
  print_machine_head("store_write_bench");
  std::cout << "  loadavg   " << read_first_line("/proc/loadavg") << '\n'
            << "  build     " << TUTTI_BUILD_TYPE << ", SQLite "
            << sqlite3_libversion() << '\n'
            << "  settings  --rows " << opts.rows << " --batch " << opts.batch
            << " --rounds " << opts.rounds << " --reply-words "
            << opts.reply_words << (opts.texts ? "" : " --no-texts") << '\n';
  auto dir = make_work_dir("store_write_bench");
  std::cout << "  workdir   " << dir.string() << "\n\n";
  auto batches = make_batches(opts);
  size_t text_bytes = 0;
  for (auto& r : batches.front()) {
    text_bytes += r.prompt.size() + r.answer.size();
    for (auto& s : r.steps)
      text_bytes += s.text.size();
    for (auto& c : r.calls)
      text_bytes += c.text.size();
  }
  text_bytes /= batches.front().size();
  std::cout << opts.rows << " rows per round as `tutti batch` stores them (a "
            << "run, 1 step, 3 member calls; " << text_bytes
            << " bytes of text a row), " << opts.batch
            << " rows a transaction, one thread\n";
  row("", {"store us", "SQLite us", "store/SQLite"}, 22, 13);
  std::vector<double> store_us, sqlite_us;
  for (int round = 1; round <= opts.rounds; ++round) {
    double us[2] = {0, 0};
    for (int i = 0; i < 2; ++i) {
      bool store_first = round % 2 == 1;
      bool is_store = (i == 0) == store_first;
      auto db = dir / ((is_store ? "store-" : "sqlite-") +
                       std::to_string(round) + ".db");
      auto cpu = is_store ? store_side(db, batches) : sqlite_side(db, batches);
      us[is_store ? 0 : 1] = cpu * 1e6 / opts.rows;
      // Gone before the next side writes: with long replies a round's files
      // are hundreds of MiB, and the kernel's writing them back would be
      // charged to the rounds that follow.
      if (!opts.keep_dir)
        for (auto* suffix : {"", "-wal", "-shm"})
          fs::remove(db.string() + suffix);
    }
    store_us.push_back(us[0]);
    sqlite_us.push_back(us[1]);
    row("  round " + std::to_string(round),
        {fixed(us[0], 2), fixed(us[1], 2), fixed(us[0] / us[1], 2) + "x"}, 22,
        13);
  }
  auto s = nearest_rank_median(store_us);
  auto q = nearest_rank_median(sqlite_us);
  row("  median", {fixed(s, 2), fixed(q, 2), fixed(s / q, 2) + "x"}, 22, 13);
  std::cout << "  us = the writing thread's CPU per row (CLOCK_THREAD_CPUTIME_"
               "ID), the transaction's commit\n"
               "  included; store = run_store::write (UTF-8 checks, the "
               "roll-up); SQLite = the same\n"
               "  inserts with its C API alone\n";
  std::cout << "  loadavg   " << read_first_line("/proc/loadavg")
            << " (after the runs)\n";
  remove_work_dir(dir, opts.keep_dir);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  return tutti::bench::bench_main("store_write_bench", argc, argv, parse_args,
                                  run, usage);
}
