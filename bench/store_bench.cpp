// store_bench: what the run store costs, side by side in one run (tests never
// assert speed).
//
// Two engines on the same config and the same in-process fake upstream
// (loopback, instant replies), one with `store:` an SQLite file in a
// temporary directory, one with `store: none`:
//   1. added latency: sequential asks of one provider alone, on and off
//      rounds interleaved; p50 and p95 of each and their difference;
//   2. batch rows per CPU second: many concurrent asks of a three-member
//      ensemble (as `tutti batch` does), on and off rounds interleaved, this
//      process's CPU time (every thread, the store writer's included, the
//      fake's counted apart) up to the moment the store has written them all;
//   3. `tutti runs stats` over a day of a million member calls: a store
//      filled through `run_store::write`, then `run_store::stats` for every
//      grouping and the real `tutti runs stats` command, timed.
// Prints a plain table on stdout. See docs/benchmarks.md.

#include <sqlite3.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_support.hpp"
#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/config.hpp"
#include "tutti/engine.hpp"
#include "tutti/store.hpp"

using namespace tutti::bench;
namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;

namespace {

// --- command line -----------------------------------------------------------

struct bench_options {
  int questions = 300;    ///< part 1: sequential asks per round
  int rounds = 10;        ///< parts 1 and 2: rounds of each side
  int rows = 5'000;       ///< part 2: asks per round
  int in_flight = 64;     ///< part 2: asks in flight
  int calls = 1'000'000;  ///< part 3: member calls in the store (4 per run)
  int repeats = 7;        ///< part 3: timings of each stats query
  int reply_words = 6;    ///< parts 1 and 2: words in every model's reply
  int time_limit_s = 240; ///< parts 1 and 2 stop starting rounds after this
  bool keep_dir = false;
  std::string tutti_bin = TUTTI_BIN;
};

void usage(std::ostream& out) {
  out << "usage: store_bench [--questions N] [--rounds N] [--rows N]\n"
         "                   [--in-flight N] [--calls N] [--repeats N]\n"
         "                   [--time-limit-s N] [--reply-words N] "
         "[--keep-dir]\n"
         "                   [--tutti PATH]\n"
         "  --questions N     part 1: sequential asks per round (default 300)\n"
         "  --rounds N        parts 1 and 2: rounds of each side, interleaved "
         "(default 10)\n"
         "  --rows N          part 2: asks per round (default 5000)\n"
         "  --in-flight N     part 2: asks in flight (default 64)\n"
         "  --calls N         part 3: member calls in the store, 4 per run "
         "(default 1000000)\n"
         "  --repeats N       part 3: timings of each query (default 7)\n"
         "  --time-limit-s N  parts 1 and 2 start no round after N s each "
         "(default 240)\n"
         "  --reply-words N   parts 1 and 2: words in each model's reply "
         "(default 6)\n"
         "  --keep-dir        keep the temporary directory (the stores)\n"
         "  --tutti PATH      the tutti binary for `runs stats` (default: the "
         "one built beside this benchmark; skipped when missing)\n";
}

bench_options parse_args(int argc, char** argv) {
  bench_options opts;
  parse_flags(argc, argv, usage, [&](const std::string& arg, auto& value) {
    if (arg == "--questions") {
      opts.questions = int_flag(arg, value(), 1, 100'000);
    } else if (arg == "--rounds") {
      opts.rounds = int_flag(arg, value(), 1, 100);
    } else if (arg == "--rows") {
      opts.rows = int_flag(arg, value(), 1, 1'000'000);
    } else if (arg == "--in-flight") {
      opts.in_flight = int_flag(arg, value(), 1, 1'000);
    } else if (arg == "--calls") {
      opts.calls = int_flag(arg, value(), 4, 50'000'000);
    } else if (arg == "--repeats") {
      opts.repeats = int_flag(arg, value(), 1, 100);
    } else if (arg == "--time-limit-s") {
      opts.time_limit_s = int_flag(arg, value(), 1, 86'400);
    } else if (arg == "--reply-words") {
      opts.reply_words = int_flag(arg, value(), 1, 20'000);
    } else if (arg == "--keep-dir") {
      opts.keep_dir = true;
    } else if (arg == "--tutti") {
      opts.tutti_bin = value();
    } else {
      return false;
    }
    return true;
  });
  return opts;
}

double ms_since(steady::time_point start) {
  return std::chrono::duration<double, std::milli>(steady::now() - start)
      .count();
}

// --- the fake upstream and the engines' config -------------------------------

/// Every model replies at once with the same text of `words` words.
std::string upstream_script(int words) {
  return "default: {reply: \"" + reply_of_words(words) + "\", latency: 0ms}\n";
}

/// Three providers, an ensemble of them (every member, the first success),
/// and the store: `store` ("none" or a file).
tutti::config make_config(const std::string& base_url,
                          const std::string& store) {
  std::string yaml = "store: \"" + store + "\"\nproviders:\n";
  for (auto* m : {"m-1", "m-2", "m-3"})
    yaml += std::string{"  "} + m + ": {kind: openai, model: " + m +
            ", base_url: \"" + base_url +
            "\", api_key: sk-bench, concurrency: 256, retry: {attempts: 1}}\n";
  yaml += "ensembles:\n"
          "  trio: {members: [m-1, m-2, m-3], until: all, combine: first, "
          "deadline: 60s}\n";
  return tutti::parse_config(yaml, "store_bench.yaml");
}

/// Counts answers that did not come back ok: the figures of a run with
/// failures would measure the wrong thing, so any failure fails the run.
struct failure_count {
  std::atomic<int> count{0};

  void check(const tutti::ensemble_answer& answer) {
    if (answer.status != tutti::answer_status::ok)
      ++count;
  }
};

struct side {
  std::string name; ///< "store on", "store off"
  tutti::engine* eng = nullptr;
};

// --- 1. added latency --------------------------------------------------------

struct latency_result {
  std::vector<double> on_us, off_us;   ///< every ask, every round
  std::vector<double> round_p50_ratio; ///< on / off, per pair of rounds
  double on_cpu_s = 0, off_cpu_s = 0;  ///< this process, the rounds' flushes in
  int rounds = 0;
};

std::vector<double> ask_sequentially(tutti::engine& eng, int n,
                                     failure_count& failures) {
  std::vector<double> us;
  us.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto start = steady::now();
    auto answer = eng.ask(tutti::target::provider("m-1"),
                          "What is the capital of France?")
                      .get();
    us.push_back(ms_since(start) * 1000);
    failures.check(answer);
  }
  return us;
}

latency_result bench_latency(side on, side off, const bench_options& opts,
                             failure_count& failures) {
  latency_result r;
  // Warm both: connections opened, providers started.
  ask_sequentially(*on.eng, 50, failures);
  ask_sequentially(*off.eng, 50, failures);
  on.eng->flush_store(std::chrono::seconds{30});
  auto until = steady::now() + std::chrono::seconds{opts.time_limit_s};
  for (int round = 0; round < opts.rounds && steady::now() < until; ++round) {
    // Alternate which side goes first; flush after each round (untimed) so
    // that one round's writing does not run into the next.
    std::vector<side> order = round % 2 == 0 ? std::vector<side>{on, off}
                                             : std::vector<side>{off, on};
    double p50[2] = {0, 0};
    for (auto& s : order) {
      auto cpu_before = process_cpu_s();
      auto us = ask_sequentially(*s.eng, opts.questions, failures);
      s.eng->flush_store(std::chrono::seconds{30});
      bool is_on = s.eng == on.eng;
      (is_on ? r.on_cpu_s : r.off_cpu_s) += process_cpu_s() - cpu_before;
      p50[is_on ? 0 : 1] = nearest_rank_median(us);
      auto& all = is_on ? r.on_us : r.off_us;
      all.insert(all.end(), us.begin(), us.end());
    }
    r.round_p50_ratio.push_back(p50[0] / p50[1]);
    ++r.rounds;
  }
  return r;
}

// --- 2. batch rows per CPU second --------------------------------------------

/// CPU seconds of the fake's threads (named `fake` before it started).
double fake_cpu_s() {
  double s = 0;
  for (auto& [tid, t] : threads_cpu())
    if (t.name == "fake")
      s += t.cpu_s;
  return s;
}

/// CPU seconds of the store writers' threads (`store_writer::thread_name`).
double writer_cpu_s() {
  double s = 0;
  for (auto& [tid, t] : threads_cpu())
    if (t.name == "tutti.store")
      s += t.cpu_s;
  return s;
}

struct batch_round {
  bool on = false;
  double wall_s = 0;
  double cpu_s = 0;        ///< the whole process
  double fake_cpu_s = 0;   ///< of it, the fake upstream's threads
  double writer_cpu_s = 0; ///< of it, the store writer's thread
  double flush_ms = 0;     ///< from the last answer until the store had all

  double engine_cpu_s() const { return cpu_s - fake_cpu_s; }
};

/// `rows` asks of the ensemble, `in_flight` at a time, as batch rows; then
/// waits until the store has them. Timed from the first ask to the flush.
batch_round run_batch(tutti::engine& eng, bool on, const bench_options& opts,
                      failure_count& failures) {
  // Shared with the callbacks: on a failure they may outlive this call.
  struct progress {
    std::mutex m;
    std::condition_variable cv;
    int done = 0;
  };
  auto p = std::make_shared<progress>();
  int started = 0;
  batch_round r;
  r.on = on;
  auto cpu_before = process_cpu_s();
  auto fake_before = fake_cpu_s();
  auto writer_before = writer_cpu_s();
  auto start = steady::now();
  auto ask_one = [&](int id) {
    tutti::ask_options o;
    o.priority = tutti::priority::batch;
    o.record.kind = "batch";
    eng.start_ask(
        tutti::target::ensemble("trio"),
        {tutti::chat_message{"user", "Question " + std::to_string(id) +
                                         ": the capital of France?"}},
        std::move(o), [p, &failures](tutti::ensemble_answer a) {
          failures.check(a);
          std::lock_guard<std::mutex> guard{p->m};
          ++p->done;
          p->cv.notify_all();
        });
  };
  {
    std::unique_lock<std::mutex> lock{p->m};
    while (p->done < opts.rows) {
      while (started < opts.rows && started - p->done < opts.in_flight) {
        int id = started++;
        lock.unlock();
        ask_one(id);
        lock.lock();
      }
      if (!p->cv.wait_for(lock, std::chrono::seconds{60}, [&] {
            return p->done >= opts.rows ||
                   (started < opts.rows && started - p->done < opts.in_flight);
          }))
        throw std::runtime_error("batch: no answer within 60 s");
    }
  }
  auto answered = steady::now();
  if (!eng.flush_store(std::chrono::seconds{60}))
    throw std::runtime_error("batch: the store did not catch up within 60 s");
  r.flush_ms = ms_since(answered);
  r.wall_s = ms_since(start) / 1000;
  r.cpu_s = process_cpu_s() - cpu_before;
  r.fake_cpu_s = fake_cpu_s() - fake_before;
  r.writer_cpu_s = writer_cpu_s() - writer_before;
  return r;
}

std::vector<batch_round> bench_batch(side on, side off,
                                     const bench_options& opts,
                                     failure_count& failures) {
  // A warm-up of each, thrown away.
  run_batch(*on.eng, true, opts, failures);
  run_batch(*off.eng, false, opts, failures);
  std::vector<batch_round> rounds;
  auto until = steady::now() + std::chrono::seconds{opts.time_limit_s};
  for (int round = 0; round < opts.rounds && steady::now() < until; ++round) {
    bool on_first = round % 2 == 0;
    for (int i = 0; i < 2; ++i) {
      bool is_on = (i == 0) == on_first;
      rounds.push_back(
          run_batch(is_on ? *on.eng : *off.eng, is_on, opts, failures));
    }
  }
  return rounds;
}

// --- 3. stats over a day of a million calls ----------------------------------

constexpr int64_t hour_ms = 3'600'000;
constexpr int64_t day_ms = 24 * hour_ms;

/// A small deterministic generator (the same store every run).
struct lcg {
  uint64_t state = 0x2545f4914f6cdd1dULL;
  uint32_t next() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>(state >> 33);
  }
  int below(int n) {
    return static_cast<int>(next() % static_cast<uint32_t>(n));
  }
};

/// Providers with their models: each ensemble asks four of these.
const std::vector<std::pair<std::string, std::string>> provider_models = {
    {"openai", "gpt-4o"},         {"openai", "gpt-4o-mini"},
    {"anthropic", "claude-3-5"},  {"anthropic", "claude-3-haiku"},
    {"gemini", "gemini-1.5-pro"}, {"mistral", "mistral-large"}};
const std::vector<std::vector<int>> ensemble_members = {
    {0, 2, 4, 5}, {1, 3, 4, 5}, {0, 1, 2, 3}};
const std::vector<std::string> keys = {"alice", "bob", "ci", "batch-jobs",
                                       "staging"};
const std::vector<std::string> failure_kinds = {"timeout", "rate_limited",
                                                "upstream_error"};

/// Run `i` of `runs`, started within the day from `day_start_ms`.
tutti::stored_run make_run(int i, int runs, int64_t day_start_ms, lcg& rng) {
  tutti::stored_run run;
  run.id = tutti::new_run_id();
  run.kind = rng.below(4) == 0 ? "batch" : "ask";
  run.target_kind = "ensemble";
  int e = rng.below(static_cast<int>(ensemble_members.size()));
  run.target = "ens-" + std::to_string(e + 1);
  run.started_ms = day_start_ms + static_cast<int64_t>(i) * day_ms / runs;
  run.key = keys[static_cast<size_t>(rng.below(static_cast<int>(keys.size())))];
  run.combine = "first";
  run.prompt = R"([{"role":"user","content":"Question )" + std::to_string(i) +
               R"(: what is the capital of France?"}])";
  int64_t slowest = 0;
  bool any_failed = false;
  for (int member : ensemble_members[static_cast<size_t>(e)]) {
    auto& [provider, model] = provider_models[static_cast<size_t>(member)];
    tutti::stored_call c;
    c.role = "member";
    c.member = provider + "/" + model;
    c.provider = provider;
    c.model = model;
    // 300 ms to about 5 s, skewed towards the short end.
    c.total_us =
        300'000 + static_cast<int64_t>(rng.below(1000)) * rng.below(1000) * 5;
    c.ok = rng.below(50) != 0;
    if (!c.ok) {
      c.failure_kind = failure_kinds[static_cast<size_t>(rng.below(3))];
      c.error = c.failure_kind + " from " + provider;
      c.http_status = c.failure_kind == "rate_limited" ? 429 : 500;
      any_failed = true;
    } else {
      c.http_status = 200;
      c.finish_reason = "stop";
      c.text = "Paris is the capital of France.";
      c.usage = {40 + rng.below(60), 8 + rng.below(200), 0};
      c.cost_usd = 1e-6 * static_cast<double>(c.usage.input_tokens +
                                              4 * c.usage.output_tokens);
    }
    c.attempts = 1;
    c.first_token_us = c.total_us / 3;
    c.cached = rng.below(20) == 0;
    slowest = std::max(slowest, c.total_us);
    run.usage.input_tokens += c.usage.input_tokens;
    run.usage.output_tokens += c.usage.output_tokens;
    run.cost_usd += c.cost_usd;
    run.calls.push_back(std::move(c));
  }
  run.status = any_failed ? "partial" : "ok";
  run.answer = "Paris is the capital of France.";
  run.wall_us = slowest;
  run.finished_ms = run.started_ms + slowest / 1000;
  return run;
}

struct fill_result {
  int runs = 0;
  double seconds = 0;
  int64_t rollup_rows = 0;
  int64_t file_bytes = 0;
};

/// Rows of a table, read with SQLite directly (the store does not say).
int64_t count_rows(const fs::path& db, const std::string& table) {
  sqlite3* handle = nullptr;
  int64_t n = -1;
  if (sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr) ==
      SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    auto sql = "SELECT COUNT(*) FROM " + table;
    if (sqlite3_prepare_v2(handle, sql.c_str(), -1, &stmt, nullptr) ==
            SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
      n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
  }
  sqlite3_close(handle);
  return n;
}

fill_result fill_store(const fs::path& db, int calls, int64_t day_start_ms) {
  fill_result r;
  r.runs = calls / 4;
  auto store = tutti::open_store({db.string()});
  lcg rng;
  constexpr int batch = 1000;
  auto start = steady::now();
  auto last_note = start;
  std::vector<tutti::stored_run> runs;
  runs.reserve(batch);
  for (int i = 0; i < r.runs;) {
    runs.clear();
    for (int j = 0; j < batch && i < r.runs; ++j, ++i)
      runs.push_back(make_run(i, r.runs, day_start_ms, rng));
    store->write(runs);
    if (steady::now() - last_note > std::chrono::seconds{10}) {
      last_note = steady::now();
      std::cout << "   ... " << i << " runs in "
                << fixed(ms_since(start) / 1000, 1) << " s" << std::endl;
    }
  }
  r.seconds = ms_since(start) / 1000;
  store.reset();
  r.rollup_rows = count_rows(db, "call_rollup");
  std::error_code ec;
  r.file_bytes = static_cast<int64_t>(fs::file_size(db, ec));
  return r;
}

/// "2026-12-05" for a Unix time in ms (UTC).
std::string date_of(int64_t unix_ms) {
  std::time_t s = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char text[16];
  std::strftime(text, sizeof text, "%Y-%m-%d", &tm);
  return text;
}

struct cli_timing {
  std::vector<double> ms;
  int exit_code = 0;
  std::string first_lines;
};

/// `tutti runs stats --store DB --since DATE [--by BY]`, end to end, each a
/// child process waited for.
cli_timing time_cli(const bench_options& opts, const fs::path& dir,
                    const fs::path& db, const std::string& since,
                    const std::string& by) {
  cli_timing t;
  for (int i = 0; i < opts.repeats; ++i) {
    auto out = dir / "stats.stdout";
    auto err = dir / "stats.stderr";
    auto start = steady::now();
    pid_t pid = start_child({opts.tutti_bin, "runs", "stats", "--store",
                             db.string(), "--since", since, "--by", by},
                            {}, out, err);
    int status = 0;
    // Bounded: a stats call that takes a minute is a failure, not a figure.
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (ms_since(start) > 60'000) {
        ::kill(-pid, SIGKILL);
        waitpid(pid, &status, 0);
        throw std::runtime_error("tutti runs stats: still running after 60 s");
      }
      std::this_thread::sleep_for(std::chrono::microseconds{200});
    }
    t.ms.push_back(ms_since(start));
    t.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    if (t.exit_code != 0)
      throw std::runtime_error("tutti runs stats exited with " +
                               std::to_string(t.exit_code) + ":\n" +
                               tail_of(err, 5));
    if (i == 0)
      t.first_lines = tail_of(out, 4);
  }
  return t;
}

// --- the report --------------------------------------------------------------

void print_latency(const latency_result& r, int questions) {
  auto on = summarize(r.on_us);
  auto off = summarize(r.off_us);
  auto p95 = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return percentile(v, 95);
  };
  double on95 = p95(r.on_us), off95 = p95(r.off_us);
  row("", {"asks", "p50 us", "p95 us", "p99 us", "mean us"}, 28);
  row("store on (SQLite file)",
      {std::to_string(on.n), fixed(on.p50, 0), fixed(on95, 0), fixed(on.p99, 0),
       fixed(on.mean, 0)},
      28);
  row("store off (store: none)",
      {std::to_string(off.n), fixed(off.p50, 0), fixed(off95, 0),
       fixed(off.p99, 0), fixed(off.mean, 0)},
      28);
  row("on - off",
      {"", signed_fixed(on.p50 - off.p50, 0), signed_fixed(on95 - off95, 0),
       signed_fixed(on.p99 - off.p99, 0), signed_fixed(on.mean - off.mean, 0)},
      28);
  row("on / off",
      {"", fixed(on.p50 / off.p50, 3) + "x", fixed(on95 / off95, 3) + "x",
       fixed(on.p99 / off.p99, 3) + "x", fixed(on.mean / off.mean, 3) + "x"},
      28);
  auto on_cpu = r.on_cpu_s * 1e6 / static_cast<double>(on.n);
  auto off_cpu = r.off_cpu_s * 1e6 / static_cast<double>(off.n);
  std::cout << "  CPU per ask (this process, every thread, the fake's too): "
               "on "
            << fixed(on_cpu, 0) << " us, off " << fixed(off_cpu, 0)
            << " us, on - off " << signed_fixed(on_cpu - off_cpu, 0) << " us\n";
  auto ratios = r.round_p50_ratio;
  std::sort(ratios.begin(), ratios.end());
  std::cout << "  p50 on / off per pair of rounds (" << questions
            << " asks each): median "
            << fixed(nearest_rank_median(r.round_p50_ratio), 3) << "x, range "
            << fixed(ratios.front(), 3) << "x .. " << fixed(ratios.back(), 3)
            << "x\n";
}

void print_batch(const std::vector<batch_round>& rounds, int rows) {
  row("",
      {"wall s", "CPU s", "fake CPU", "engine CPU", "writer CPU", "rows/CPU-s",
       "rows/eng-s", "flush ms"},
      22, 11);
  std::vector<double> on_rate, off_rate, on_engine, off_engine, ratio,
      engine_ratio, on_writer_us;
  int pair = 0;
  for (size_t i = 0; i < rounds.size(); ++i) {
    auto& r = rounds[i];
    double rate = rows / r.cpu_s;
    double engine_rate = rows / r.engine_cpu_s();
    (r.on ? on_rate : off_rate).push_back(rate);
    (r.on ? on_engine : off_engine).push_back(engine_rate);
    if (r.on)
      on_writer_us.push_back(r.writer_cpu_s / rows * 1e6);
    row(std::string{r.on ? "on " : "off"} + " (round " +
            std::to_string(i / 2 + 1) + ")",
        {fixed(r.wall_s, 2), fixed(r.cpu_s, 3), fixed(r.fake_cpu_s, 3),
         fixed(r.engine_cpu_s(), 3), fixed(r.writer_cpu_s, 3), fixed(rate, 0),
         fixed(engine_rate, 0), fixed(r.flush_ms, 1)},
        22, 11);
    if (i % 2 == 1) {
      auto& a = rounds[i - 1];
      auto& on_r = a.on ? a : r;
      auto& off_r = a.on ? r : a;
      ratio.push_back(off_r.cpu_s / on_r.cpu_s);
      engine_ratio.push_back(off_r.engine_cpu_s() / on_r.engine_cpu_s());
      ++pair;
    }
  }
  std::cout << "  CPU s = this process, every thread (getrusage), from the "
               "first ask until flush_store\n"
               "  returned; fake CPU = the fake upstream's threads of it "
               "(schedstat); engine CPU = the rest;\n"
               "  writer CPU = of the engine's, the store writer's thread "
               "(schedstat)\n";
  auto on_m = nearest_rank_median(on_rate),
       off_m = nearest_rank_median(off_rate);
  auto on_e = nearest_rank_median(on_engine),
       off_e = nearest_rank_median(off_engine);
  std::cout << "medians over " << on_rate.size() << " rounds each\n";
  row("rows per CPU-second", {"on", "off", "on / off"}, 40, 11);
  row("  whole process",
      {fixed(on_m, 0), fixed(off_m, 0), fixed(on_m / off_m, 3) + "x"}, 40, 11);
  row("  engine (process - fake)",
      {fixed(on_e, 0), fixed(off_e, 0), fixed(on_e / off_e, 3) + "x"}, 40, 11);
  row("  whole process, median of pairs",
      {"", "", fixed(nearest_rank_median(ratio), 3) + "x"}, 40, 11);
  row("  engine, median of pairs",
      {"", "", fixed(nearest_rank_median(engine_ratio), 3) + "x"}, 40, 11);
  std::cout << "  engine CPU per row: on " << fixed(1e6 / on_e, 1)
            << " us, off " << fixed(1e6 / off_e, 1) << " us (+"
            << fixed(1e6 / on_e - 1e6 / off_e, 1)
            << " us), of which the store writer's thread "
            << fixed(nearest_rank_median(on_writer_us), 1) << " us\n";
  std::cout << "\n  rows per engine CPU-second (medians)\n"
            << "  store off |" << scaled_bar(off_e, std::max(on_e, off_e))
            << ' ' << fixed(off_e, 0) << '\n'
            << "  store on  |" << scaled_bar(on_e, std::max(on_e, off_e)) << ' '
            << fixed(on_e, 0) << '\n';
}

int run(const bench_options& opts) {
  print_machine_head("store_bench");
  std::cout << "  loadavg   " << read_first_line("/proc/loadavg") << '\n'
            << "  build     " << TUTTI_BUILD_TYPE << ", SQLite "
            << sqlite3_libversion() << '\n'
            << "  settings  --questions " << opts.questions << " --rounds "
            << opts.rounds << " --rows " << opts.rows << " --in-flight "
            << opts.in_flight << " --calls " << opts.calls << " --repeats "
            << opts.repeats << " --reply-words " << opts.reply_words << '\n';

  // The fake's threads are named "fake" (they inherit the name of the
  // thread that starts it); everything started after is "main".
  name_this_thread("fake");
  tutti::fake::server upstream{
      tutti::fake::parse_script(upstream_script(opts.reply_words)), "", 256};
  upstream.start();
  name_this_thread("main");
  auto dir = make_work_dir("store_bench");
  auto engine_db = dir / "engine.db";
  std::cout << "  upstream  tutti::fake::server in-process, 256 threads, "
            << upstream.base_url() << ", 0 ms\n"
            << "  workdir   " << dir.string() << "\n\n";
  std::cout.flush();

  failure_count failures;
  auto overall = steady::now();
  {
    tutti::engine on_engine{
        make_config(upstream.base_url(), engine_db.string())};
    tutti::engine off_engine{make_config(upstream.base_url(), "none")};
    side on{"store on", &on_engine};
    side off{"store off", &off_engine};

    std::cout << "1. Added latency: one provider alone, " << opts.questions
              << " sequential asks per round, on and off rounds interleaved, "
                 "fake latency 0 ms\n";
    std::cout.flush();
    auto lat = bench_latency(on, off, opts, failures);
    print_latency(lat, opts.questions);
    std::cout << '\n';

    std::cout << "2. Batch rows per CPU second: " << opts.rows
              << " asks of a 3-member ensemble per round (kind batch), "
              << opts.in_flight
              << " in flight, on and off rounds interleaved, fake latency 0 "
                 "ms\n";
    std::cout.flush();
    auto batch = bench_batch(on, off, opts, failures);
    print_batch(batch, opts.rows);
    auto health = on_engine.store_status();
    std::cout << "  store writer: " << health.state << ", " << health.written
              << " runs written, " << health.dropped << " dropped\n\n";
    if (health.dropped > 0)
      throw std::runtime_error("the store dropped runs: the figures above "
                               "count work that was not done");
  }
  upstream.stop();
  if (failures.count > 0)
    throw std::runtime_error(std::to_string(failures.count.load()) +
                             " answers were not ok");
  std::cout << "   (parts 1 and 2 took " << fixed(ms_since(overall) / 1000, 0)
            << " s)\n\n";

  // --- 3
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  int64_t day_start = now_ms - now_ms % day_ms - day_ms; // yesterday, UTC
  auto since = date_of(day_start);
  auto stats_db = dir / "stats.db";
  std::cout << "3. runs stats over one day (" << since << ") of " << opts.calls
            << " member calls: " << opts.calls / 4
            << " runs x 4 calls, 6 provider/models, 3 ensembles, 5 keys, 2% "
               "failed\n";
  std::cout.flush();
  auto fill = fill_store(stats_db, opts.calls, day_start);
  std::cout << "  fill: " << fill.runs << " runs (" << fill.runs * 4
            << " calls) by run_store::write in batches of 1000: "
            << fixed(fill.seconds, 1) << " s, "
            << fixed(fill.runs / fill.seconds, 0) << " runs/s, "
            << fixed(fill.runs * 4 / fill.seconds, 0) << " calls/s; file "
            << fixed(fill.file_bytes / 1048576.0, 0) << " MiB, call_rollup "
            << fill.rollup_rows << " rows\n";

  auto store = tutti::open_store({stats_db.string()}, false);
  row("run_store::stats", {"rows", "first ms", "p50 ms", "max ms"}, 28);
  double worst_p50 = 0;
  for (auto* per : {"day", "hour"})
    for (auto* by : {"provider", "model", "ensemble", "key"}) {
      tutti::stats_query q;
      q.by = by;
      q.per = per;
      q.since_ms = day_start;
      std::vector<double> ms;
      size_t rows = 0;
      int64_t calls = 0;
      for (int i = 0; i < opts.repeats; ++i) {
        auto start = steady::now();
        auto result = store->stats(q);
        ms.push_back(ms_since(start));
        rows = result.size();
        calls = 0;
        for (auto& r : result)
          calls += r.calls;
      }
      if (calls != static_cast<int64_t>(fill.runs) * 4)
        throw std::runtime_error(std::string{"stats by "} + by + " per " + per +
                                 " counted " + std::to_string(calls) +
                                 " calls, expected " +
                                 std::to_string(fill.runs * 4));
      auto s = summarize(ms);
      worst_p50 = std::max(worst_p50, s.p50);
      row(std::string{"  by "} + by + ", per " + per,
          {std::to_string(rows), fixed(ms.front(), 1), fixed(s.p50, 1),
           fixed(s.max, 1)},
          28);
    }
  store.reset();
  std::cout << "  (" << opts.repeats
            << " calls each on one open store; every one counted all "
            << fill.runs * 4 << " calls; slowest p50 " << fixed(worst_p50, 1)
            << " ms)\n";

  if (::access(opts.tutti_bin.c_str(), X_OK) == 0) {
    std::cout << "  tutti runs stats --store " << stats_db.filename().string()
              << " --since " << since << " (end to end, " << opts.repeats
              << " runs each)\n";
    row("", {"p50 ms", "min ms", "max ms"}, 28);
    for (auto* by : {"provider", "key"}) {
      auto t = time_cli(opts, dir, stats_db, since, by);
      auto s = summarize(t.ms);
      row(std::string{"  --by "} + by,
          {fixed(s.p50, 1), fixed(s.min, 1), fixed(s.max, 1)}, 28);
      if (std::string{by} == "provider")
        std::cout << "  its last lines:\n" << t.first_lines;
    }
  } else {
    std::cout << "  tutti runs stats: skipped, " << opts.tutti_bin
              << " not built (cmake --build build --target tutti)\n";
  }
  std::cout << "  loadavg   " << read_first_line("/proc/loadavg")
            << " (after the runs)\n";
  remove_work_dir(dir, opts.keep_dir);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  return tutti::bench::bench_main("store_bench", argc, argv, parse_args, run,
                                  usage);
}
