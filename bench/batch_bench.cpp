// batch_bench: `tutti batch` against a Python asyncio baseline doing the same
// job, side by side in one run (tests never assert speed).
//
// The process hosts the fake upstream on loopback and writes a JSONL file of
// rows, a tutti config (three providers, one ensemble of them, a one-step
// pipeline) into a temporary directory. Then it runs, as child processes, the
// real `tutti batch` binary and bench/batch_baseline.py under
// /usr/bin/python3 (aiohttp, asyncio.gather, a Semaphore), each asking the
// three models every row's question and writing one result line per row. For
// each it measures wall time and the child's own CPU time (wait4), checks
// every result and the fake's request log, and prints rows/s, CPU per row
// and the ratios. See docs/benchmarks.md.

#include <curl/curl.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <rapidjson/document.h>

#include "bench/bench_support.hpp"
#include "tools/fake_llm/fake_llm.hpp"

using namespace tutti::bench;
namespace fs = std::filesystem;

namespace {

// --- command line -----------------------------------------------------------

struct bench_options {
  int rows = 10'000;
  int concurrency = 64; ///< rows in flight, both sides
  int latency_ms = 20;  ///< the fake's latency per request
  int rounds = 1;       ///< each round runs both sides, alternating order
  int timeout_s = 300;  ///< a child still running after this is killed
  bool python = true;
  int python_pool = 0; ///< aiohttp's connection limit; 0: its default (100)
  bool keep_dir = false;
  bool rss_curve = false; ///< print each run's RSS over time
  /// Also run tutti with `--store none` ("tutti-nostore"): what its run
  /// store (on by default, an SQLite file) costs a batch row.
  bool store_off = false;
  std::string tutti_bin = TUTTI_BIN;
  std::string python_bin = "/usr/bin/python3";
};

void usage(std::ostream& out) {
  out << "usage: batch_bench [--rows N] [--concurrency N] [--latency-ms N]\n"
         "                   [--rounds N] [--timeout-s N] [--no-python]\n"
         "                   [--python-pool N] [--store-off] [--keep-dir]\n"
         "                   [--tutti PATH]\n"
         "  --rows N         input rows (default 10000)\n"
         "  --concurrency N  rows in flight, both sides (default 64)\n"
         "  --latency-ms N   fake latency per request (default 20)\n"
         "  --rounds N       runs of each side, alternating which goes first "
         "(default 1)\n"
         "  --timeout-s N    kill a child still running after N s (default "
         "300)\n"
         "  --no-python      skip the Python asyncio baseline\n"
         "  --python-pool N  connections the baseline's session may open "
         "(default: aiohttp's, 100)\n"
         "  --store-off      also run tutti with --store none, alternating, "
         "and "
         "print\n"
         "                   what the store costs (tutti's store is an SQLite "
         "file in the\n"
         "                   work directory, its default)\n"
         "  --keep-dir       keep the temporary directory (inputs, config, "
         "results, logs)\n"
         "  --rss-curve      print each run's resident memory (VmRSS) once a "
         "second\n"
         "  --tutti PATH     the tutti binary to run (default: the one built "
         "with this benchmark)\n";
}

bench_options parse_args(int argc, char** argv) {
  bench_options opts;
  parse_flags(argc, argv, usage, [&](const std::string& arg, auto& value) {
    if (arg == "--rows") {
      opts.rows = int_flag(arg, value(), 1, 10'000'000);
    } else if (arg == "--concurrency") {
      // Provider concurrency is at most 10,000 and the fake needs a thread
      // per connection: 6 per row in flight.
      opts.concurrency = int_flag(arg, value(), 1, 1'000);
    } else if (arg == "--latency-ms") {
      opts.latency_ms = int_flag(arg, value(), 0, 60'000);
    } else if (arg == "--rounds") {
      opts.rounds = int_flag(arg, value(), 1, 100);
    } else if (arg == "--timeout-s") {
      opts.timeout_s = int_flag(arg, value(), 1, 86'400);
    } else if (arg == "--no-python") {
      opts.python = false;
    } else if (arg == "--python-pool") {
      opts.python_pool = int_flag(arg, value(), 1, 100'000);
    } else if (arg == "--keep-dir") {
      opts.keep_dir = true;
    } else if (arg == "--store-off") {
      opts.store_off = true;
    } else if (arg == "--rss-curve") {
      opts.rss_curve = true;
    } else if (arg == "--tutti") {
      opts.tutti_bin = value();
    } else {
      return false;
    }
    return true;
  });
  return opts;
}

// --- machine facts ----------------------------------------------------------

std::string python_aiohttp_version(const std::string& python_bin) {
  auto line = first_line_of_command(
      python_bin + " -c 'import aiohttp, sys; print(aiohttp.__version__, "
                   "sys.version.split()[0])' 2>/dev/null");
  auto space = line.find(' ');
  return space == std::string::npos ? line
                                    : "aiohttp " + line.substr(0, space) +
                                          ", Python " + line.substr(space + 1);
}

void print_machine_facts(const bench_options& opts, bool python) {
  print_machine_head("batch_bench");
  auto* curl = curl_version_info(CURLVERSION_NOW);
  std::cout << "  loadavg   " << read_first_line("/proc/loadavg") << '\n'
            << "  build     " << TUTTI_BUILD_TYPE << ", libcurl "
            << curl->version << '\n'
            << "  tutti     " << opts.tutti_bin << '\n'
            << "  python    "
            << (python ? opts.python_bin + " (" +
                             python_aiohttp_version(opts.python_bin) + ")"
                       : std::string{"-"})
            << '\n'
            << "  settings  --rows " << opts.rows << " --concurrency "
            << opts.concurrency << " --latency-ms " << opts.latency_ms
            << " --rounds " << opts.rounds << " --timeout-s " << opts.timeout_s
            << (opts.python_pool > 0
                    ? " --python-pool " + std::to_string(opts.python_pool)
                    : std::string{})
            << '\n';
}

// --- the job: rows, the fake's script, tutti's config -----------------------

const std::vector<std::string> tutti_models = {"t-1", "t-2", "t-3"};
const std::vector<std::string> python_models = {"p-1", "p-2", "p-3"};

/// Row `id`'s question; the fake echoes it, so each answer names its row.
std::string question_of(int id) {
  return "Question " + std::to_string(id) + ": what is " + std::to_string(id) +
         " + " + std::to_string(id) + "?";
}

std::string expected_answer(int id) {
  return "echo: " + question_of(id);
}

/// Six models, scripted alike: an empty reply echoes the question. tutti asks
/// t-*, Python p-*, so the fake's log tells their requests apart.
std::string upstream_script(int latency_ms) {
  std::string yaml = "models:\n";
  for (auto* models : {&tutti_models, &python_models})
    for (auto& m : *models)
      yaml += "  " + m + ": {latency: " + std::to_string(latency_ms) + "ms}\n";
  return yaml;
}

void write_rows(const fs::path& path, int rows) {
  std::ofstream out{path};
  for (int id = 1; id <= rows; ++id)
    out << R"({"id": )" << id << R"(, "question": ")" << question_of(id)
        << "\"}\n";
  if (!out)
    throw std::runtime_error(path.string() + ": cannot write");
}

/// Three providers that never make a row wait for a permit and never retry
/// (a failure must fail the run, not add requests); an ensemble that waits
/// for all three and answers with the first success; a one-step pipeline.
void write_config(const fs::path& path, const std::string& base_url,
                  int concurrency) {
  auto provider_concurrency = std::to_string(std::max(256, concurrency));
  std::ofstream out{path};
  out << "providers:\n";
  for (auto& m : tutti_models)
    out << "  " << m << ": {kind: openai, model: " << m << ", base_url: \""
        << base_url
        << "\", api_key: sk-bench, concurrency: " << provider_concurrency
        << ", retry: {attempts: 1}}\n";
  out << "ensembles:\n"
      << "  trio: {members: [t-1, t-2, t-3], until: all, combine: first, "
         "deadline: 60s}\n"
      << "pipelines:\n"
      << "  answer:\n"
      << "    inputs: [question]\n"
      << "    steps:\n"
      << "      ask: {ensemble: trio, prompt: \"{{input.question}}\"}\n"
      << "    output: ask\n";
  if (!out)
    throw std::runtime_error(path.string() + ": cannot write");
}

// --- a child process, timed
// ---------------------------------------------------

struct child_run {
  int exit_code = -1; ///< 128 + N when signal N ended it
  bool timed_out = false;
  double wall_s = 0;
  double user_s = 0;
  double sys_s = 0;
  double peak_rss_mib = 0; ///< the last VmHWM read before it ended
  /// (seconds since the start, VmRSS in MiB), once a second.
  std::vector<std::pair<double, double>> rss_curve;

  double cpu_s() const { return user_s + sys_s; }
};

double seconds_of(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6;
}

/// Runs `args` in `cwd` with stdin from /dev/null and stdout and stderr to
/// files (`start_child`); waits for it, and kills its process group
/// (SIGKILL) after `timeout`. Its CPU time comes from wait4's rusage: the
/// child's own, not this process's.
child_run run_child(const std::vector<std::string>& args, const fs::path& cwd,
                    const fs::path& out_path, const fs::path& err_path,
                    std::chrono::seconds timeout) {
  using clock = std::chrono::steady_clock;
  auto start = clock::now();
  pid_t pid = start_child(args, {data_home_in(cwd)}, out_path, err_path, cwd);

  child_run run;
  int status = 0;
  rusage ru{};
  // Polled rather than blocked on, so the timeout needs no signal handling;
  // a 1 ms nap costs nothing the child would notice and bounds the wall
  // time's error. Its peak memory is read every 50 naps: VmHWM only grows,
  // so the last read misses at most what it took in its last 50 ms.
  // (wait4's ru_maxrss cannot give the child's own peak: it counts the copy
  // of this process that fork made before exec.)
  for (int nap = 0;; ++nap) {
    if (nap % 50 == 0)
      if (auto kib = proc_status_number(pid, "VmHWM"); kib > 0)
        run.peak_rss_mib = kib / 1024.0;
    if (nap % 1000 == 0)
      if (auto kib = proc_status_number(pid, "VmRSS"); kib > 0)
        run.rss_curve.emplace_back(
            std::chrono::duration<double>(clock::now() - start).count(),
            kib / 1024.0);
    pid_t done = wait4(pid, &status, WNOHANG, &ru);
    if (done == pid)
      break;
    if (done < 0 && errno != EINTR)
      throw std::runtime_error(std::string{"wait4 failed: "} +
                               std::strerror(errno));
    if (!run.timed_out && clock::now() - start > timeout) {
      run.timed_out = true;
      ::kill(-pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  run.wall_s = std::chrono::duration<double>(clock::now() - start).count();
  run.user_s = seconds_of(ru.ru_utime);
  run.sys_s = seconds_of(ru.ru_stime);
  if (WIFEXITED(status))
    run.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    run.exit_code = 128 + WTERMSIG(status);
  return run;
}

// --- checks -----------------------------------------------------------------

/// What is wrong with a side's results: empty when every input row has
/// exactly one result, status ok, the row's own answer, and three members
/// that each replied with it.
std::vector<std::string> check_results(const fs::path& path, int rows) {
  std::vector<std::string> problems;
  auto problem = [&](const std::string& text) {
    if (problems.size() < 5)
      problems.push_back(path.filename().string() + ": " + text);
    else if (problems.size() == 5)
      problems.push_back("... (more)");
  };
  std::vector<int> seen(static_cast<size_t>(rows) + 1, 0);
  std::ifstream in{path};
  if (!in) {
    problem("missing");
    return problems;
  }
  size_t number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    auto where = "line " + std::to_string(number) + ": ";
    rapidjson::Document doc;
    doc.Parse(line.data(), line.size());
    if (doc.HasParseError() || !doc.IsObject()) {
      problem(where + "not a JSON object");
      continue;
    }
    auto id = doc.FindMember("id");
    if (id == doc.MemberEnd() || !id->value.IsInt() || id->value.GetInt() < 1 ||
        id->value.GetInt() > rows) {
      problem(where + "no id from 1 to " + std::to_string(rows));
      continue;
    }
    int row = id->value.GetInt();
    if (seen[static_cast<size_t>(row)]++ > 0)
      problem(where + "a second result for id " + std::to_string(row));
    auto status = doc.FindMember("status");
    if (status == doc.MemberEnd() || !status->value.IsString() ||
        std::string{status->value.GetString()} != "ok") {
      problem(where + "status is not ok");
      continue;
    }
    auto expected = expected_answer(row);
    auto answer = doc.FindMember("answer");
    if (answer == doc.MemberEnd() || !answer->value.IsString() ||
        answer->value.GetString() != expected) {
      problem(where + "answer is not '" + expected + "'");
      continue;
    }
    auto members = doc.FindMember("members");
    if (members == doc.MemberEnd() || !members->value.IsArray() ||
        members->value.Size() != 3) {
      problem(where + "not three members");
      continue;
    }
    for (auto& m : members->value.GetArray()) {
      auto text = m.IsObject() ? m.FindMember("text") : m.MemberEnd();
      if (!m.IsObject() || text == m.MemberEnd() || !text->value.IsString() ||
          text->value.GetString() != expected) {
        problem(where + "a member without the reply");
        break;
      }
    }
  }
  int missing = 0;
  for (int row = 1; row <= rows; ++row)
    missing += seen[static_cast<size_t>(row)] == 0 ? 1 : 0;
  if (missing > 0)
    problem(std::to_string(missing) + " of " + std::to_string(rows) +
            " rows have no result");
  return problems;
}

/// Requests the fake finished for `models` since `from`, by outcome.
struct request_count {
  size_t ok = 0;
  size_t other = 0;
};

request_count count_requests(const tutti::fake::server& upstream, size_t from,
                             const std::vector<std::string>& models,
                             size_t expected) {
  // The fake logs a request after it wrote the reply, so the last entries
  // may land just after the child saw them; give them a moment (bounded).
  request_count count;
  for (int attempt = 0; attempt < 200; ++attempt) {
    auto log = upstream.arrivals();
    count = {};
    for (size_t i = from; i < log.size(); ++i) {
      if (std::find(models.begin(), models.end(), log[i].model) == models.end())
        continue;
      (log[i].outcome == "ok" && log[i].status == 200 ? count.ok
                                                      : count.other)++;
    }
    if (count.ok + count.other >= expected)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return count;
}

// --- one side, one round -----------------------------------------------------

struct side_run {
  std::string side; ///< "tutti" or "python"
  int round = 0;
  child_run child;
  double upstream_cpu_s = 0; ///< this process (the fake) while the child ran
  double own_s = 0; ///< the child's own figure for its run (0: not found)
  request_count requests;
  std::vector<std::string> problems;

  double rows_per_s(int rows) const { return rows / child.wall_s; }
};

/// tutti's summary line: "batch: N of N rows in 3.2 s (...)".
double tutti_own_seconds(const std::string& out) {
  auto at = out.find(" rows in ");
  return at == std::string::npos ? 0 : std::atof(out.c_str() + at + 9);
}

/// The baseline's line: "rows N ok N partial N failed N seconds S".
double python_own_seconds(const std::string& out) {
  auto at = out.find(" seconds ");
  return at == std::string::npos ? 0 : std::atof(out.c_str() + at + 9);
}

side_run run_side(const std::string& side, int round, const bench_options& opts,
                  const fs::path& dir, const tutti::fake::server& upstream) {
  side_run r;
  r.side = side;
  r.round = round;
  auto stem = dir / (side + "-" + std::to_string(round));
  auto results = fs::path{stem.string() + ".results.jsonl"};
  auto out = fs::path{stem.string() + ".stdout"};
  auto err = fs::path{stem.string() + ".stderr"};
  auto rows = (dir / "rows.jsonl").string();
  std::vector<std::string> args;
  bool is_tutti = side != "python";
  if (is_tutti)
    args = {opts.tutti_bin,
            "batch",
            "--config",
            (dir / "tutti.yaml").string(),
            "--pipeline",
            "answer",
            "--in",
            rows,
            "--out",
            results.string(),
            "--concurrency",
            std::to_string(opts.concurrency),
            "--progress-every",
            "1"};
  else
    args = {opts.python_bin, TUTTI_BENCH_DIR "/batch_baseline.py",
            "--base-url",    upstream.base_url(),
            "--models",      "p-1,p-2,p-3",
            "--in",          rows,
            "--out",         results.string(),
            "--concurrency", std::to_string(opts.concurrency)};
  if (side == "tutti-nostore") {
    args.push_back("--store");
    args.push_back("none");
  }
  if (!is_tutti && opts.python_pool > 0) {
    args.push_back("--pool");
    args.push_back(std::to_string(opts.python_pool));
  }
  auto log_before = upstream.arrivals().size();
  auto cpu_before = process_cpu_s();
  r.child =
      run_child(args, dir, out, err, std::chrono::seconds{opts.timeout_s});
  r.upstream_cpu_s = process_cpu_s() - cpu_before;
  auto stdout_text = read_file(out);
  r.own_s = is_tutti ? tutti_own_seconds(stdout_text)
                     : python_own_seconds(stdout_text);

  auto expected = static_cast<size_t>(opts.rows) * 3;
  r.requests = count_requests(
      upstream, log_before, is_tutti ? tutti_models : python_models, expected);
  if (r.child.timed_out)
    r.problems.push_back(side + ": killed after " +
                         std::to_string(opts.timeout_s) + " s");
  if (r.child.exit_code != 0)
    r.problems.push_back(side + ": exit code " +
                         std::to_string(r.child.exit_code) + "; stderr:\n" +
                         tail_of(err, 5) + "  stdout:\n" + tail_of(out, 5));
  for (auto& p : check_results(results, opts.rows))
    r.problems.push_back(side + ": " + p);
  if (r.requests.ok != expected || r.requests.other != 0)
    r.problems.push_back(
        side + ": the fake saw " + std::to_string(r.requests.ok) + " ok and " +
        std::to_string(r.requests.other) + " other requests, expected " +
        std::to_string(expected) + " ok");
  return r;
}

// --- the report
// ---------------------------------------------------------------

/// A table row: the label padded to 20 columns, then cells right-aligned in
/// 11 (this table has more columns than bench_support's `row` fits by
/// default).
void table_row(const std::string& label,
               const std::vector<std::string>& cells) {
  row(label, cells, 20, 11);
}

void print_run(const side_run& r, int rows) {
  auto& c = r.child;
  table_row(
      r.side + " (round " + std::to_string(r.round) + ")",
      {std::to_string(rows), fixed(c.wall_s, 2), fixed(r.rows_per_s(rows), 0),
       fixed(c.cpu_s(), 2), fixed(c.user_s, 2), fixed(c.sys_s, 2),
       fixed(c.cpu_s() * 1000 / rows, 3), r.own_s > 0 ? fixed(r.own_s, 2) : "-",
       fixed(c.peak_rss_mib, 0), fixed(r.upstream_cpu_s, 2)});
}

/// A run's resident memory over time, one line a second, with a bar.
void print_rss_curve(const side_run& r) {
  double top = 0;
  for (auto& [t, mib] : r.child.rss_curve)
    top = std::max(top, mib);
  std::cout << r.side << " (round " << r.round << "): VmRSS over time\n";
  for (auto& [t, mib] : r.child.rss_curve)
    std::cout << "  " << std::setw(6) << fixed(t, 1) << " s " << std::setw(7)
              << fixed(mib, 1) << " MiB  " << scaled_bar(mib, top) << '\n';
  std::cout << '\n';
}

/// Rows per CPU-second of tutti with its store (an SQLite file) and with
/// `--store none`: medians, and the median of each round's ratio.
void print_store_cost(const std::vector<double>& on_cpu,
                      const std::vector<double>& off_cpu, int rows,
                      const std::string& over) {
  auto on = nearest_rank_median(on_cpu);
  auto off = nearest_rank_median(off_cpu);
  std::vector<double> pairs;
  for (size_t i = 0; i < on_cpu.size() && i < off_cpu.size(); ++i)
    pairs.push_back(off_cpu[i] / on_cpu[i]);
  std::cout << "the store's cost" << over << '\n';
  table_row("rows per CPU-second", {"on", "off", "on / off"});
  table_row("  tutti batch", {fixed(rows / on, 0), fixed(rows / off, 0),
                              fixed(off / on, 3) + "x"});
  table_row("  median of rounds",
            {"", "", fixed(nearest_rank_median(pairs), 3) + "x"});
  table_row("CPU us per row",
            {fixed(on * 1e6 / rows, 1), fixed(off * 1e6 / rows, 1),
             signed_fixed((on - off) * 1e6 / rows, 1)});
  std::cout << "  on = tutti's default store, an SQLite file (in the work "
               "directory); off = --store none\n\n";
}

int run(const bench_options& opts) {
  bool python = opts.python;
  std::string python_skipped;
  if (!opts.python) {
    python_skipped = "skipped: --no-python";
  } else if (::access(opts.python_bin.c_str(), X_OK) != 0) {
    python = false;
    python_skipped = "skipped: " + opts.python_bin + " not found";
  } else if (std::system("dpkg -s python3-aiohttp >/dev/null 2>&1") != 0) {
    python = false;
    python_skipped = "skipped: python3-aiohttp not installed (apt-get install "
                     "python3-aiohttp)";
  }
  if (::access(opts.tutti_bin.c_str(), X_OK) != 0)
    throw std::runtime_error(opts.tutti_bin + ": not an executable");
  print_machine_facts(opts, python);

  // A connection holds a pool thread of the fake for as long as it is open
  // (cpp-httplib), and each side may open one per request in flight: rows in
  // flight x 3 members. Both sides' worth, in case one's connections are
  // still closing when the other starts, plus spares.
  int upstream_threads = 2 * 3 * opts.concurrency + 64;
  tutti::fake::server upstream{
      tutti::fake::parse_script(upstream_script(opts.latency_ms)), "",
      upstream_threads};
  upstream.start();
  std::cout << "  upstream  tutti::fake::server in-process, "
            << upstream_threads << " threads, " << upstream.base_url()
            << "; models t-1..t-3 (tutti), p-1..p-3 (python), "
            << opts.latency_ms << " ms each, echo\n";

  auto dir = make_work_dir("batch_bench");
  write_rows(dir / "rows.jsonl", opts.rows);
  write_config(dir / "tutti.yaml", upstream.base_url(), opts.concurrency);
  std::cout << "  workdir   " << dir.string() << "\n\n";

  std::cout << opts.rows << " rows, 3 members each (" << opts.rows * 3
            << " requests per side), " << opts.concurrency
            << " rows in flight, fake latency " << opts.latency_ms
            << " ms; the best possible wall time is about "
            << fixed(static_cast<double>(opts.rows) / opts.concurrency *
                         opts.latency_ms / 1000,
                     2)
            << " s\n"
            << "  tutti:  tutti batch --concurrency " << opts.concurrency
            << "; ensemble until: all, combine: first; no retries\n"
            << "  python: " << opts.python_bin
            << " batch_baseline.py; aiohttp, asyncio.gather, Semaphore("
            << opts.concurrency << "), "
            << (opts.python_pool > 0
                    ? "a pool of " + std::to_string(opts.python_pool) +
                          " connections"
                    : std::string{"aiohttp's default pool (100 connections)"})
            << '\n';
  if (!python)
    std::cout << "  python: " << python_skipped << '\n';
  std::cout << '\n';
  std::cout.flush();

  std::vector<side_run> runs;
  for (int round = 1; round <= opts.rounds; ++round) {
    // Alternate which side goes first, so neither always follows the other.
    std::vector<std::string> order{"tutti"};
    if (opts.store_off)
      order.insert(round % 2 == 1 ? order.end() : order.begin(),
                   "tutti-nostore");
    if (python)
      order.insert(round % 2 == 1 ? order.end() : order.begin(), "python");
    for (auto& side : order) {
      std::cout << "  running " << side << ", round " << round << " ..."
                << std::endl;
      runs.push_back(run_side(side, round, opts, dir, upstream));
    }
  }
  upstream.stop();
  // The machine is shared: what else ran shows here, after the runs.
  std::cout << "  loadavg   " << read_first_line("/proc/loadavg")
            << " (after the runs)\n\n";

  table_row("", {"rows", "wall s", "rows/s", "CPU s", "user s", "sys s",
                 "CPU ms/row", "own s", "RSS MiB", "fake CPU s"});
  for (auto& r : runs)
    print_run(r, opts.rows);
  std::cout << "  CPU s = the child's user + sys (wait4); own s = the child's "
               "own timing, without\n"
               "  process start and exit; RSS = the child's peak (VmHWM); "
               "fake CPU s = this process\n"
               "  (the fake upstream) while the child ran\n\n";
  if (opts.rss_curve)
    for (auto& r : runs)
      print_rss_curve(r);

  std::vector<double> tutti_rate, python_rate, tutti_cpu, python_cpu,
      nostore_cpu;
  for (auto& r : runs) {
    if (r.side == "tutti-nostore") {
      nostore_cpu.push_back(r.child.cpu_s());
      continue;
    }
    (r.side == "tutti" ? tutti_rate : python_rate)
        .push_back(r.rows_per_s(opts.rows));
    (r.side == "tutti" ? tutti_cpu : python_cpu).push_back(r.child.cpu_s());
  }
  std::string over = opts.rounds > 1 ? " (medians)" : "";
  if (opts.store_off)
    print_store_cost(tutti_cpu, nostore_cpu, opts.rows, over);
  if (python) {
    auto t_rate = nearest_rank_median(tutti_rate);
    auto p_rate = nearest_rank_median(python_rate);
    auto t_cpu = nearest_rank_median(tutti_cpu);
    auto p_cpu = nearest_rank_median(python_cpu);
    std::cout << "ratios" << over << '\n';
    table_row("rows/s: tutti / python",
              {fixed(t_rate / p_rate, 2) + "x", "",
               "(" + fixed(t_rate, 0) + " / " + fixed(p_rate, 0) + ")"});
    table_row("CPU s: python / tutti",
              {fixed(p_cpu / t_cpu, 2) + "x", "",
               "(" + fixed(p_cpu, 2) + " / " + fixed(t_cpu, 2) + ")"});
    if (opts.rounds > 1) {
      table_row("per round", {"rows/s", "CPU s"});
      for (size_t i = 0; i < tutti_rate.size() && i < python_rate.size(); ++i)
        table_row("  round " + std::to_string(i + 1),
                  {fixed(tutti_rate[i] / python_rate[i], 2) + "x",
                   fixed(python_cpu[i] / tutti_cpu[i], 2) + "x"});
    }
    auto max_rate = std::max(t_rate, p_rate);
    auto max_cpu = std::max(t_cpu, p_cpu) * 1000 / opts.rows;
    std::cout << "\n  rows/s" << over << '\n'
              << "  tutti   |" << scaled_bar(t_rate, max_rate) << ' '
              << fixed(t_rate, 0) << '\n'
              << "  python  |" << scaled_bar(p_rate, max_rate) << ' '
              << fixed(p_rate, 0) << '\n'
              << "  CPU ms per row" << over << '\n'
              << "  tutti   |" << scaled_bar(t_cpu * 1000 / opts.rows, max_cpu)
              << ' ' << fixed(t_cpu * 1000 / opts.rows, 3) << '\n'
              << "  python  |" << scaled_bar(p_cpu * 1000 / opts.rows, max_cpu)
              << ' ' << fixed(p_cpu * 1000 / opts.rows, 3) << "\n\n";
  }

  std::vector<std::string> problems;
  for (auto& r : runs)
    problems.insert(problems.end(), r.problems.begin(), r.problems.end());
  if (!problems.empty()) {
    std::cout << "FAILED: the figures above are not valid (results kept in "
              << dir.string() << ")\n";
    for (auto& p : problems)
      std::cout << "  " << p << '\n';
    return 1;
  }
  std::cout << "every run: " << opts.rows
            << " results, one per row, all ok with the row's own answer from "
               "3 of 3 members; the fake saw "
            << opts.rows * 3 << " ok requests per run\n";
  remove_work_dir(dir, opts.keep_dir);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  return tutti::bench::bench_main("batch_bench", argc, argv, parse_args, run,
                                  usage);
}
