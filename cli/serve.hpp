#pragma once

/// `tutti serve`: the local HTTP control endpoint (docs/http.md).

#include <cstddef>
#include <string>
#include <vector>

namespace CLI {
class App;
} // namespace CLI

namespace tutti::cli {

struct serve_args {
  std::string config;
  std::string store;
  std::string listen = "127.0.0.1:8700";
  std::string token;                     ///< empty: $TUTTI_TOKEN, else none
  std::vector<std::string> cors_origins; ///< --cors-origin
  bool no_inline_ensembles = false;      ///< --no-inline-ensembles
  size_t max_connections = 4096;
  size_t io_threads = 2;
  double header_timeout = 10;
  size_t max_body = 1 << 20;
  double read_timeout = 30;  ///< seconds
  double write_timeout = 30; ///< seconds
  double keep_runs = 900;    ///< seconds a finished run stays readable
  size_t keep_runs_max = 1000;
  size_t max_runs = 1000;
  std::string access_log; ///< file, "-" for standard error; empty: none
  /// --demo: serve against the fake upstream, in this process (demo.hpp).
  bool demo = false;
};

/// Registers the `serve` subcommand and its flags on `app`.
CLI::App* add_serve_command(CLI::App& app, serve_args& args);

/// Serves until SIGINT or SIGTERM. Exit code 0 after a signal, 2 when it
/// cannot start (config error, address in use, non-loopback without token).
int run_serve(const serve_args& args);

} // namespace tutti::cli
