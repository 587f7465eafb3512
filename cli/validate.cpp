#include "cli/validate.hpp"

#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/exit_codes.hpp"
#include "cli/format.hpp"
#include "tutti/config.hpp"

namespace tutti::cli {

CLI::App* add_validate_command(CLI::App& app, validate_args& args) {
  auto* cmd = app.add_subcommand(
      "validate", "Check a config file; report the first error with its "
                  "file:line:column.");
  cmd->add_option("file", args.config,
                  "Config file (default: $TUTTI_CONFIG, then "
                  "./tutti.yaml)");
  cmd->add_option("--config,-c", args.config,
                  "Config file, as the other subcommands spell it");
  return cmd;
}

int run_validate(const validate_args& args) {
  auto cfg = tutti::load_config(config_path(args.config));
  std::cout << cfg.file << ": ok (" << cfg.providers.size() << " providers, "
            << cfg.ensembles.size() << " ensembles";
  if (!cfg.pipelines.empty())
    std::cout << ", " << cfg.pipelines.size() << " pipelines";
  std::cout << ")\n";
  return exit_answer;
}

} // namespace tutti::cli
