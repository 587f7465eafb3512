#pragma once

/// `tutti ask`: one question to an ensemble; each member's outcome and the
/// combined answer.

#include <cstdint>
#include <optional>
#include <string>

namespace CLI {
class App;
} // namespace CLI

namespace tutti::cli {

struct ask_args {
  std::string config;
  std::string store;
  std::string ensemble;
  std::string provider; ///< --provider: one provider alone
  std::string prompt;   ///< "-": read from standard input
  bool json = false;
  bool stream = false;
  std::string system;
  std::string session;
  bool no_cache = false;
  std::optional<double> temperature;
  std::optional<int64_t> max_tokens;
  /// Set by `tutti demo`: with --json, the answer's first field is
  /// `"demo": json_notice`.
  std::string json_notice;
};

/// Registers the `ask` subcommand and its flags on `app`.
CLI::App* add_ask_command(CLI::App& app, ask_args& args);

/// Prints the answer as a table and a summary, or as JSON. Exit code 0: an
/// answer (status ok or partial); 1: none (status failed).
int run_ask(const ask_args& args);

} // namespace tutti::cli
