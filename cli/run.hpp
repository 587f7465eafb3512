#pragma once

/// `tutti run`: one pipeline run; each step's outcome and the output.

#include <string>
#include <vector>

namespace CLI {
class App;
} // namespace CLI

namespace tutti::cli {

struct run_args {
  std::string config;
  std::string store;
  std::string pipeline;
  std::vector<std::string> inputs; ///< "key=value"
  bool json = false;
  bool stream = false;
  bool no_cache = false;
  /// Set by `tutti demo`: with --json, the result's first field is
  /// `"demo": json_notice`.
  std::string json_notice;
};

/// Registers the `run` subcommand and its flags on `app`.
CLI::App* add_run_command(CLI::App& app, run_args& args);

/// Runs the pipeline on the `--input` flags, or without any on a JSON
/// object read from stdin when it is not a terminal. Prints the steps as a
/// table and the output, or the result as JSON. Exit code 0: the output
/// step has an answer; 1: it has none. A malformed input throws.
int run_pipeline(const run_args& args);

} // namespace tutti::cli
