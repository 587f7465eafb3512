#pragma once

/// `tutti providers`: each provider's limit group, budgets in use, queue and
/// circuit breaker.

#include <string>

namespace CLI {
class App;
} // namespace CLI

namespace tutti::cli {

struct providers_args {
  std::string config;
};

/// Registers the `providers` subcommand and its flags on `app`.
CLI::App* add_providers_command(CLI::App& app, providers_args& args);

/// Prints one line per configured provider. Exit code 0.
int run_providers(const providers_args& args);

} // namespace tutti::cli
