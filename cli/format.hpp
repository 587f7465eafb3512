#pragma once

/// Formatting and lookup helpers shared by the `tutti` subcommands.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "tutti/messages.hpp"

namespace tutti {
struct config;
} // namespace tutti

namespace CLI {
class App;
class Option;
} // namespace CLI

namespace tutti::cli {

/// `--config` when given, else $TUTTI_CONFIG, else ./tutti.yaml.
std::string config_path(const std::string& flag);

/// How the subcommands that run questions load their config: from a path
/// to a config. `tutti demo` puts one in that points every config at its
/// fake upstream; by default it is `tutti::load_config`.
using config_source = std::function<tutti::config(const std::string& path)>;

/// Replaces the config source; an empty one restores the default.
void set_config_source(config_source source);

/// The config at `config_path(flag)`, loaded through the config source.
tutti::config load_cli_config(const std::string& flag);

/// `json_object` (a JSON object's text) with `"demo": notice` as its first
/// field, or as it is when `notice` is empty: how `tutti demo --json`
/// marks its answer as the fake's.
std::string with_demo_field(const std::string& json_object,
                            const std::string& notice);

/// Registers `--config,-c` on a subcommand, its help saying where
/// `config_path` looks without it.
CLI::Option* add_config_option(CLI::App& cmd, std::string& config);

/// The first line of `text`, at most `width` characters (UTF-8 aware),
/// control characters and stray bytes shown as escapes (`\x1b`).
std::string preview(const std::string& text, size_t width);

/// Characters, not bytes, of UTF-8 `text`.
size_t width_of(const std::string& text);

/// `text` padded with spaces to `width` characters.
std::string pad(std::string text, size_t width);

/// "12 ms"
std::string format_ms(int64_t us);

/// "$0", "$0.000123", "$1.5": six decimals at most, no trailing zeros.
std::string format_cost(double usd);

/// Width of the key column of a summary beneath an answer ("combiner: ").
constexpr size_t key_width = 10;

/// "totals:   120/45 tokens in/out (100 cached), $0.0012": the summary's
/// last line, without its line break.
std::string format_totals(const tutti::usage& used, double cost_usd);

} // namespace tutti::cli
