#pragma once

/// `tutti eval`: every row of a labelled JSONL file through each listed
/// ensemble and provider, each answer scored against the row's expected
/// one, and a table of accuracy, cost, latency and failures per target
/// (docs/eval.md).

#include <cstddef>
#include <string>
#include <vector>

namespace CLI {
class App;
} // namespace CLI

namespace tutti::cli {

struct eval_args {
  std::string config;
  std::string store;
  std::string data;
  std::string expected;
  std::string question = "question";
  std::string extract;
  std::string judge;
  std::string rubric;
  std::vector<std::string> ensembles;
  std::vector<std::string> providers;
  std::string out;
  std::string chart;
  size_t concurrency = 8;
  bool weights = false;
  bool resume = false;
  size_t limit = 0; ///< 0: every row
  bool no_cache = false;
  size_t max_row_bytes = 1 << 20;
  /// Seconds between progress lines when stderr is not a terminal.
  double progress_every = 10;
};

/// Registers the `eval` subcommand and its flags on `app`.
CLI::App* add_eval_command(CLI::App& app, eval_args& args);

/// Exit code 0: every row scored for every target; 1: some rows could not
/// be scored (not a row, or the judge gave no verdict); 2: a usage, config
/// or file error; 130: interrupted, rows left for `--resume`.
int run_eval(const eval_args& args);

} // namespace tutti::cli
