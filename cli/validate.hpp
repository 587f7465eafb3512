#pragma once

/// `tutti validate`: checks a config file without starting anything.

#include <string>

namespace CLI {
class App;
} // namespace CLI

namespace tutti::cli {

struct validate_args {
  std::string config; ///< the positional `file` or `--config`
};

/// Registers the `validate` subcommand, its file argument and its flags on
/// `app`.
CLI::App* add_validate_command(CLI::App& app, validate_args& args);

/// Prints a summary of a valid config. Exit code 0; an invalid config
/// throws its `config_error` (file:line:column).
int run_validate(const validate_args& args);

} // namespace tutti::cli
