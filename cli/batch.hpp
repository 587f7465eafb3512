#pragma once

/// `tutti batch`: a pipeline over every row of a JSONL file.

#include <cstddef>
#include <string>

namespace CLI {
class App;
} // namespace CLI

namespace tutti::cli {

struct batch_args {
  std::string config;
  std::string store;
  std::string pipeline;
  std::string in;
  std::string out;
  size_t concurrency = 16;
  bool resume = false;
  bool retry_failed = false;
  bool no_cache = false;
  size_t max_row_bytes = 8 << 20;
  /// Seconds between progress lines when stderr is not a terminal.
  double progress_every = 10;
};

/// Registers the `batch` subcommand and its flags on `app`.
CLI::App* add_batch_command(CLI::App& app, batch_args& args);

/// Exit code 0: every row has an answer; 1: some rows failed or were
/// invalid; 130: interrupted, rows left for `--resume`.
int run_batch(const batch_args& args);

} // namespace tutti::cli
