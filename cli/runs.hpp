#pragma once

/// `tutti runs list|show|stats` and `tutti store migrate|prune`: reading the
/// run store (docs/store.md), and `--store` for the commands that write to it.

#include <cstdint>
#include <string>

#include "tutti/config.hpp"

namespace CLI {
class App;
class Option;
} // namespace CLI

namespace tutti::cli {

struct runs_args {
  std::string config;
  std::string store;
  bool json = false;
  // list
  std::string since;
  std::string until;
  std::string kind;
  std::string target_kind;
  std::string target;
  std::string status;
  std::string key;
  std::string session;
  size_t limit = 20;
  std::string cursor;
  // show
  std::string id;
  // stats
  std::string by = "provider";
  std::string per = "day";
  // store prune
  std::string before;
};

struct runs_commands {
  CLI::App* list = nullptr;
  CLI::App* show = nullptr;
  CLI::App* stats = nullptr;
  CLI::App* migrate = nullptr;
  CLI::App* prune = nullptr;
};

/// Registers `runs` (list, show, stats) and `store` (migrate, prune) on
/// `app`.
runs_commands add_runs_commands(CLI::App& app, runs_args& args);

/// Runs whichever of `commands` was given. Exit code 0; 1 when `show`
/// finds no such run; 2 when the store cannot be read.
int run_runs(const runs_commands& commands, const runs_args& args);

/// The store `tutti runs` and `tutti keys` use: `--store`, else the
/// config's (when a config is given or ./tutti.yaml exists), else the
/// default file. Throws `store_error` for `store: none`.
store_config store_to_read(const std::string& config_flag,
                           const std::string& store_flag);

/// Registers `--store URL` on a command that asks.
CLI::Option* add_store_option(CLI::App& cmd, std::string& store);

/// `--no-cache` on ask, run and batch.
CLI::Option* add_no_cache_flag(CLI::App& cmd, bool& no_cache);

/// `cfg.store` with `--store` (when given) in place of the config's.
void apply_store_flag(tutti::config& cfg, const std::string& flag);

/// "24h", "7d", "30m" (that long ago) or "2026-12-01" (UTC midnight) as Unix
/// milliseconds; throws `std::invalid_argument` naming the flag.
int64_t parse_time_flag(const std::string& flag, const std::string& text,
                        int64_t now_ms);

} // namespace tutti::cli
