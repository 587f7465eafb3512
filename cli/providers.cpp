#include "cli/providers.hpp"

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <string>
#include <utility>

#include <CLI/CLI.hpp>

#include "cli/exit_codes.hpp"
#include "cli/format.hpp"
#include "tutti/config.hpp"
#include "tutti/engine.hpp"

namespace tutti::cli {

namespace {

std::string budget(int64_t used, int64_t limit) {
  return limit > 0 ? std::to_string(used) + "/" + std::to_string(limit) : "-";
}

} // namespace

CLI::App* add_providers_command(CLI::App& app, providers_args& args) {
  auto* cmd = app.add_subcommand(
      "providers",
      "Show each provider's limit group, budgets in use, queue and "
      "circuit breaker.");
  add_config_option(*cmd, args.config);
  return cmd;
}

int run_providers(const providers_args& args) {
  auto cfg = tutti::load_config(config_path(args.config));
  tutti::engine engine{std::move(cfg)};
  auto states = engine.provider_states();
  size_t width = 10;
  for (auto& st : states)
    width = std::max(width, st.name.size() + 2);
  std::cout << pad("provider", width) << pad("kind", 19)
            << pad("limit group", 14) << pad("in flight", 11)
            << pad("queued", 8) << pad("requests", 13) << pad("tokens", 15)
            << pad("cooldown", 10) << "breaker\n";
  for (auto& st : states) {
    std::cout << pad(st.name, width) << pad(st.kind, 19)
              << pad(st.limit_group, 14);
    if (!st.note.empty()) {
      std::cout << st.note << '\n';
      continue;
    }
    std::cout << pad(std::to_string(st.in_flight) + "/" +
                         std::to_string(st.concurrency),
                     11)
              << pad(std::to_string(st.queued), 8)
              << pad(budget(st.requests_in_window, st.requests_limit), 13)
              << pad(budget(st.tokens_in_window, st.tokens_limit), 15)
              << pad(st.cooldown_left_ms > 0
                         ? std::to_string(st.cooldown_left_ms) + " ms"
                         : "-",
                     10)
              << st.breaker
              << (st.consecutive_failures > 0
                      ? " (" + std::to_string(st.consecutive_failures) +
                            " failures)"
                      : "")
              << '\n';
  }
  return exit_answer;
}

} // namespace tutti::cli
