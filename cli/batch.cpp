// `tutti batch`: runs a pipeline over every row of a JSONL file with a
// progress display, a closing summary, and Ctrl-C handling: the first stops
// taking rows and lets those in flight finish, the second cancels them, the
// third exits at once. Every way out leaves a results file that `--resume`
// completes. `--in -` reads the rows from stdin and `--out -` writes the
// results to stdout, and then every other word goes to stderr.

#include "cli/batch.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/format.hpp"
#include "cli/runs.hpp"
#include "tutti/batch.hpp"
#include "tutti/config.hpp"
#include "tutti/engine.hpp"

namespace tutti::cli {

namespace {

constexpr int exit_all_answered = 0;
constexpr int exit_rows_failed = 1;
constexpr int exit_interrupted = 130;

std::atomic<int> interrupts{0};

extern "C" void on_interrupt(int) {
  if (interrupts.fetch_add(1) >= 2)
    ::_exit(exit_interrupted); // the third: at once; --resume redoes the rest
}

void catch_interrupts() {
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

/// `arg` as a shell word.
std::string shell_word(const std::string& arg) {
  if (!arg.empty() &&
      arg.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                            "abcdefghijklmnopqrstuvwxyz"
                            "0123456789_./:=@+,-") == std::string::npos)
    return arg;
  std::string quoted = "'";
  for (char c : arg)
    quoted += c == '\'' ? std::string{"'\\''"} : std::string(1, c);
  return quoted + "'";
}

std::string resume_command(const batch_args& args, const std::string& config) {
  std::vector<std::string> words{
      "tutti",   "batch",         "--config",
      config,    "--pipeline",    args.pipeline,
      "--in",    args.in,         "--out",
      args.out,  "--concurrency", std::to_string(args.concurrency),
      "--resume"};
  std::string command;
  for (auto& word : words)
    command += (command.empty() ? "" : " ") + shell_word(word);
  return command;
}

/// 1234 -> "1234", 123456 -> "123.5k", 1234567 -> "1.2M".
std::string short_count(int64_t n) {
  char buf[32];
  if (n < 10'000)
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
  else if (n < 1'000'000)
    std::snprintf(buf, sizeof buf, "%.1fk", n / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.1fM", n / 1e6);
  return buf;
}

/// "0:18", "1:02:03"; "-" when unknown.
std::string clock_time(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0)
    return "-";
  auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60,
                  s % 60);
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  return buf;
}

/// Rows finished in this run per second.
double rate_of(const batch_progress& p) {
  return p.rows_per_second();
}

double eta_of(const batch_progress& p) {
  auto rate = rate_of(p);
  return rate > 0 ? p.left() / rate : NAN;
}

size_t failed_rows(const batch_tally& t) {
  return t.failed + t.invalid;
}

int64_t tokens_of(const batch_tally& t) {
  return t.usage.input_tokens + t.usage.output_tokens;
}

/// The live line on a terminal for rows from a stream: how many there
/// are is not known until its end.
std::string stream_progress_bar(const batch_progress& p) {
  char rate[32];
  std::snprintf(rate, sizeof rate, "%.0f rows/s", rate_of(p));
  std::ostringstream line;
  line << p.tally.rows << " rows done, " << p.total << " read | ok "
       << p.tally.ok + p.tally.partial << " failed " << failed_rows(p.tally)
       << " | in flight " << p.in_flight << " | " << rate << " | "
       << short_count(tokens_of(p.tally)) << " tokens | "
       << format_cost(p.tally.cost_usd);
  if (p.cancelling)
    line << " | cancelling";
  else if (p.stopping)
    line << " | stopping";
  return line.str();
}

/// The live line on a terminal.
std::string progress_bar(const batch_progress& p) {
  if (!p.total_known)
    return stream_progress_bar(p);
  constexpr size_t width = 24;
  auto fraction = p.total == 0 ? 1.0 : double(p.tally.rows) / p.total;
  auto filled = static_cast<size_t>(fraction * width);
  std::string bar;
  for (size_t i = 0; i < width; ++i)
    bar += i < filled ? "█" : "░";
  char pct[16];
  std::snprintf(pct, sizeof pct, "%3.0f%%", fraction * 100);
  char rate[32];
  std::snprintf(rate, sizeof rate, "%.0f rows/s", rate_of(p));
  std::ostringstream line;
  line << bar << ' ' << pct << ' ' << p.tally.rows << '/' << p.total << " | ok "
       << p.tally.ok + p.tally.partial << " failed " << failed_rows(p.tally)
       << " | in flight " << p.in_flight << " | " << rate << " | ETA "
       << clock_time(eta_of(p)) << " | " << short_count(tokens_of(p.tally))
       << " tokens | " << format_cost(p.tally.cost_usd);
  if (p.cancelling)
    line << " | cancelling";
  else if (p.stopping)
    line << " | stopping";
  return line.str();
}

/// The plain line when stderr is not a terminal.
std::string progress_line(const batch_progress& p) {
  char rate[32];
  std::snprintf(rate, sizeof rate, "%.1f rows/s", rate_of(p));
  std::ostringstream line;
  line << "batch: " << p.tally.rows << '/' << p.total;
  if (p.total_known)
    line << " rows (" << (p.total == 0 ? 100 : p.tally.rows * 100 / p.total)
         << "%), ";
  else
    line << " rows (read so far), ";
  line << p.tally.ok + p.tally.partial << " answered, " << failed_rows(p.tally)
       << " failed, " << p.in_flight << " in flight, " << rate;
  if (p.total_known)
    line << ", ETA " << clock_time(eta_of(p));
  line << ", " << tokens_of(p.tally) << " tokens, "
       << format_cost(p.tally.cost_usd);
  return line.str();
}

bool is_stdio(const std::string& path) {
  return path == "-";
}

void print_summary(const batch_progress& p, const batch_args& args,
                   std::ostream& out) {
  auto& t = p.tally;
  char head[160];
  std::snprintf(
      head, sizeof head, "batch: %zu of %zu rows in %.1f s (%.1f rows/s)",
      t.rows - p.done_before, p.total, p.elapsed_us / 1e6, rate_of(p));
  out << head;
  if (p.done_before > 0)
    out << ", " << p.done_before << " done before";
  out << "; results " << (is_stdio(args.out) ? "on stdout" : "in " + args.out)
      << '\n';
  out << "  answered  " << t.ok + t.partial << " (" << t.ok << " ok, "
      << t.partial << " partial)\n";
  out << "  failed    " << t.failed;
  std::string kinds;
  for (auto& [kind, count] : t.failures_by_kind)
    if (kind != "bad_input")
      kinds += (kinds.empty() ? "" : ", ") + kind + " " + std::to_string(count);
  if (!kinds.empty())
    out << " (" << kinds << ")";
  out << '\n';
  out << "  invalid   " << t.invalid << " (input lines that are not rows)\n";
  out << "  tokens    " << t.usage.input_tokens << " in, "
      << t.usage.output_tokens << " out";
  if (t.usage.cached_input_tokens > 0)
    out << " (" << t.usage.cached_input_tokens << " cached)";
  out << "\n  cost      " << format_cost(t.cost_usd) << '\n';
}

/// What to say when a batch stopped with rows left.
void print_stopped(const batch_progress& p, const batch_args& args,
                   const std::string& config, std::ostream& out) {
  if (!is_stdio(args.in) && !is_stdio(args.out)) {
    out << "stopped with " << p.left() << " rows left; to finish, run:\n  "
        << resume_command(args, config) << '\n';
    return;
  }
  out << "stopped: " << p.left() << " rows read have no result";
  if (!p.total_known)
    out << ", and the rest of stdin was not read";
  out << ".\n";
  if (is_stdio(args.out)) {
    out << "results on stdout cannot be resumed: to finish, keep the rows "
           "of the result lines you have and run the others again, or run "
           "with --out FILE, which --resume completes.\n";
  } else {
    auto from_file = args;
    from_file.in = "ROWS.jsonl";
    out << "to finish, save the same rows to ROWS.jsonl and run:\n  "
        << resume_command(from_file, config) << '\n';
  }
}

} // namespace

CLI::App* add_batch_command(CLI::App& app, batch_args& args) {
  auto* cmd = app.add_subcommand(
      "batch",
      "Run a pipeline over every row of a JSONL file: one result row per "
      "input row, appended as each finishes; --resume completes a batch "
      "that was stopped or killed.");
  add_config_option(*cmd, args.config);
  add_store_option(*cmd, args.store);
  add_no_cache_flag(*cmd, args.no_cache);
  cmd->add_option("--pipeline,-p", args.pipeline, "Pipeline to run")
      ->required();
  cmd->add_option("--in", args.in,
                  "Input rows, one JSON object per line, e.g. {\"id\": 1, "
                  "\"question\": \"...\"}; - reads them from stdin")
      ->required();
  cmd->add_option("--out", args.out,
                  "Results file (JSONL); - writes the result lines to "
                  "stdout, and every other message to stderr")
      ->required();
  cmd->add_option("--concurrency", args.concurrency,
                  "Rows running at once (default 16); the providers' "
                  "limits still hold")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--max-row-bytes", args.max_row_bytes,
                  "Longest input row in bytes; a longer line is an invalid "
                  "row (default 8388608)")
      ->check(CLI::Range(size_t{16}, size_t{1} << 30));
  cmd->add_flag("--resume", args.resume,
                "Complete an existing results file: skip the rows "
                "it has, redo a torn last line");
  cmd->add_flag("--retry-failed", args.retry_failed,
                "Redo the rows whose result is failed, once each, and "
                "complete the file as --resume does");
  cmd->add_option("--progress-every", args.progress_every,
                  "Seconds between progress lines when stderr is not a "
                  "terminal (default 10)")
      ->check(CLI::PositiveNumber);
  return cmd;
}

int run_batch(const batch_args& args) {
  // A closed stdin or stdout would be the number of the next file the
  // engine opens: refuse it before anything is opened.
  if (is_stdio(args.in) && ::fcntl(STDIN_FILENO, F_GETFD) < 0)
    throw batch_error("stdin: is closed; give the rows on stdin, or --in "
                      "FILE");
  if (is_stdio(args.out) && ::fcntl(STDOUT_FILENO, F_GETFD) < 0)
    throw batch_error("stdout: is closed; give --out FILE");
  auto config = config_path(args.config);
  auto cfg = load_cli_config(args.config);
  apply_store_flag(cfg, args.store);
  tutti::engine engine{std::move(cfg)};
  batch_options options;
  options.pipeline = args.pipeline;
  options.input_path = args.in;
  options.output_path = args.out;
  if (is_stdio(args.in)) {
    options.input_fd = STDIN_FILENO;
    options.input_path = "stdin";
  }
  if (is_stdio(args.out)) {
    options.output_fd = STDOUT_FILENO;
    options.output_path = "stdout";
  }
  // With the results on stdout, the summary goes where the progress goes.
  std::ostream& report = is_stdio(args.out) ? std::cerr : std::cout;
  options.concurrency = args.concurrency;
  options.resume = args.resume || args.retry_failed;
  options.retry_failed = args.retry_failed;
  options.no_cache = args.no_cache;
  options.max_row_bytes = args.max_row_bytes;
  batch_runner runner{engine, options};
  auto before = runner.progress();
  if (args.retry_failed)
    std::cerr << "retrying " << before.retried << " failed row"
              << (before.retried == 1 ? "" : "s") << '\n';
  if (before.done_before > 0)
    std::cerr << "resuming: " << before.done_before << " of " << before.total
              << " rows already have a result\n";
  if (is_stdio(args.in) && ::isatty(STDIN_FILENO) != 0)
    std::cerr << "reading rows from the terminal, one JSON object a line; "
                 "Ctrl-D ends them\n";

  // No live bar when the result lines go to the same terminal: they would
  // land on the bar's line. Plain progress lines instead.
  bool terminal = ::isatty(STDERR_FILENO) != 0 &&
                  !(is_stdio(args.out) && ::isatty(STDOUT_FILENO) != 0);
  bool bar_shown = false;
  int seen_interrupts = 0;
  auto every_us = static_cast<int64_t>(args.progress_every * 1e6);
  int64_t next_line_us = every_us;
  catch_interrupts();
  auto notice = [&](const std::string& text) {
    if (bar_shown)
      std::cerr << "\r\033[K";
    std::cerr << text << '\n';
  };
  auto progress = runner.run([&](const batch_progress& p) {
    auto n = interrupts.load();
    if (n >= 1 && seen_interrupts < 1) {
      runner.stop();
      notice("stopping: no new rows; waiting for the " +
             std::to_string(p.in_flight) +
             " in flight (Ctrl-C again cancels them)");
    }
    if (n >= 2 && seen_interrupts < 2) {
      runner.cancel();
      notice("cancelling the " + std::to_string(p.in_flight) +
             " rows in flight; --resume runs them again");
    }
    seen_interrupts = n;
    if (terminal) {
      std::cerr << "\r\033[K" << progress_bar(p) << std::flush;
      bar_shown = true;
    } else if (p.elapsed_us >= next_line_us) {
      std::cerr << progress_line(p) << '\n';
      next_line_us = p.elapsed_us + every_us;
    }
  });
  if (terminal && bar_shown)
    std::cerr << "\r\033[K" << progress_bar(progress) << '\n';
  print_summary(progress, args, report);
  if (progress.left() > 0 || !progress.total_known) {
    print_stopped(progress, args, config, report);
    return exit_interrupted;
  }
  return failed_rows(progress.tally) > 0 ? exit_rows_failed : exit_all_answered;
}

} // namespace tutti::cli
