#include "cli/serve.hpp"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <thread>

#include <CLI/CLI.hpp>

#include "cli/demo.hpp"
#include "cli/format.hpp"
#include "cli/runs.hpp"
#include "tutti/config.hpp"
#include "tutti/engine.hpp"
#include "tutti/server.hpp"

namespace tutti::cli {

namespace {

/// "HOST:PORT", "[V6ADDR]:PORT" or just "PORT" (on 127.0.0.1).
void parse_listen(const std::string& text, std::string& host, int& port) {
  auto fail = [&] {
    throw std::invalid_argument(
        "--listen '" + text +
        "': expected HOST:PORT, e.g. 127.0.0.1:8700, [::1]:8700 or "
        "127.0.0.1:0 for any free port");
  };
  std::string port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() ||
        text[close + 1] != ':')
      fail();
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else if (auto colon = text.rfind(':'); colon != std::string::npos) {
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  } else {
    host = "127.0.0.1";
    port_text = text;
  }
  if (host.empty() || port_text.empty() ||
      port_text.find_first_not_of("0123456789") != std::string::npos ||
      port_text.size() > 5)
    fail();
  port = std::stoi(port_text);
  if (port > 65535)
    fail();
}

std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds{static_cast<int64_t>(seconds * 1000)};
}

/// Says at start which providers will fail for an unset `${VAR}` (the
/// engine starts a provider on first use, so its request would be the first
/// to tell): one line each, naming the variable, never a value.
void warn_unset_variables(const tutti::config& cfg) {
  auto copy = cfg;
  for (auto& [name, provider] : cfg.providers) {
    try {
      resolve_env(copy, {name});
    } catch (const config_error& e) {
      std::cerr << "tutti serve: warning: provider '" << name
                << "' cannot start until this is fixed: " << e.what() << '\n';
    }
  }
}

} // namespace

CLI::App* add_serve_command(CLI::App& app, serve_args& args) {
  auto* cmd = app.add_subcommand(
      "serve", "Serve the HTTP control endpoint: OpenAI-compatible chat "
               "completions, runs with live events, provider state and "
               "metrics (see docs/http.md).");
  add_config_option(*cmd, args.config);
  add_store_option(*cmd, args.store);
  cmd->add_option("--listen", args.listen,
                  "Address and port, e.g. 127.0.0.1:8700 (the default); "
                  "port 0 picks a free one. Anything but loopback needs "
                  "--token");
  cmd->add_option("--token", args.token,
                  "Bearer token every route but /healthz requires "
                  "(default: $TUTTI_TOKEN; none on loopback)");
  cmd->add_option("--max-connections,--workers", args.max_connections,
                  "Most connections open at once, streams included; one "
                  "more gets a 503 (default 4096). A connection costs no "
                  "thread")
      ->check(CLI::Range(size_t{1}, size_t{1000000}));
  cmd->add_option("--io-threads", args.io_threads,
                  "Threads serving the connections (default 2)")
      ->check(CLI::Range(size_t{1}, size_t{64}));
  cmd->add_option("--header-timeout", args.header_timeout,
                  "Seconds a client may take to send a request's head "
                  "(default 10)")
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--max-body", args.max_body,
                  "Largest request body in bytes; larger ones get 413 "
                  "(default 1048576)")
      ->check(CLI::Range(size_t{1024}, size_t{1} << 30));
  cmd->add_option("--read-timeout", args.read_timeout,
                  "Seconds a client may take to send a request's body "
                  "(default 30)")
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--write-timeout", args.write_timeout,
                  "Seconds a client may take to read what is sent to it "
                  "(default 30)")
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--keep-runs", args.keep_runs,
                  "Seconds a finished run stays readable at /v1/runs/{id} "
                  "(default 900)")
      ->check(CLI::Range(0.0, 7.0 * 24 * 3600));
  cmd->add_option("--keep-runs-max", args.keep_runs_max,
                  "Most finished runs kept (default 1000)");
  cmd->add_option("--max-runs", args.max_runs,
                  "Most runs running at once; one more POST /v1/runs gets "
                  "429 (default 1000)")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20));
  cmd->add_option("--cors-origin", args.cors_origins,
                  "A web origin whose pages may call this server from a "
                  "browser, e.g. https://app.example.com (repeat for more; "
                  "'*' for any, with --token only)");
  cmd->add_flag("--no-inline-ensembles", args.no_inline_ensembles,
                "Refuse requests that define their own ensemble "
                "(tutti.ensemble) with 403");
  cmd->add_flag("--demo", args.demo,
                "Serve against tutti's fake upstream, started in this "
                "process: scripted models, not real ones, and nothing "
                "stored. Without --config: the demo's own config");
  cmd->add_option("--access-log", args.access_log,
                  "Append one JSON line per answered request to this file "
                  "('-': standard error); no headers, bodies or tokens");
  return cmd;
}

int run_serve(const serve_args& args) {
  // Block SIGINT, SIGTERM and SIGHUP before the engine and the server
  // start their threads, so that every thread inherits the mask and one
  // thread below takes the signals with sigwait, outside any signal
  // handler.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  server_options options;
  parse_listen(args.listen, options.host, options.port);
  options.token = args.token;
  if (options.token.empty())
    if (const char* env = std::getenv("TUTTI_TOKEN"))
      options.token = env;
  options.max_connections = args.max_connections;
  options.io_threads = args.io_threads;
  options.header_timeout = millis(args.header_timeout);
  options.max_body_bytes = args.max_body;
  options.read_timeout = millis(args.read_timeout);
  options.write_timeout = millis(args.write_timeout);
  options.keep_runs_for = millis(args.keep_runs);
  options.keep_runs_max = args.keep_runs_max;
  options.max_running_runs = args.max_runs;
  options.cors_origins = args.cors_origins;
  options.inline_ensembles = !args.no_inline_ensembles;
  options.access_log = args.access_log;

  std::unique_ptr<demo_upstream> demo;
  auto config = args.config;
  if (args.demo) {
    demo = std::make_unique<demo_upstream>();
    if (config.empty())
      config = builtin_demo_config;
  }
  auto cfg = load_cli_config(config);
  apply_store_flag(cfg, args.store);
  warn_unset_variables(cfg);
  // SIGHUP and POST /admin/reload read the file again, as at start.
  options.reload_source = [config, store = args.store] {
    auto next = load_cli_config(config);
    apply_store_flag(next, store);
    warn_unset_variables(next);
    return next;
  };
  tutti::engine engine{std::move(cfg)};
  std::unique_ptr<tutti::server> endpoint;
  try {
    endpoint = std::make_unique<tutti::server>(engine, options);
  } catch (const server_error& e) {
    std::cerr << "tutti serve: " << e.what() << '\n';
    return 2;
  }
  std::cout << "tutti serve listening on " << endpoint->url() << std::endl;
  if (demo)
    std::cout << demo->notice() << std::endl;

  std::atomic<bool> serving_ended{false};
  std::thread signal_waiter{[&] {
    int sig = 0;
    for (;;) {
      sigwait(&stop_signals, &sig);
      if (sig != SIGHUP || serving_ended)
        break;
      try {
        auto serving = endpoint->reload();
        std::cerr << "tutti serve: SIGHUP, config reloaded: " << serving
                  << std::endl;
      } catch (const std::exception& e) {
        std::cerr << "tutti serve: SIGHUP, config NOT reloaded (the one in "
                     "use goes on):\n"
                  << e.what() << std::endl;
      }
    }
    if (!serving_ended)
      std::cerr << "tutti serve: " << (sig == SIGINT ? "SIGINT" : "SIGTERM")
                << ", stopping" << std::endl;
    endpoint->stop();
  }};
  endpoint->run();
  serving_ended = true;
  // Wake the waiter when serving ended on its own.
  pthread_kill(signal_waiter.native_handle(), SIGTERM);
  signal_waiter.join();
  endpoint.reset();
  return 0;
}

} // namespace tutti::cli
