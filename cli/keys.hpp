#pragma once

/// `tutti keys create|list|revoke`: the API keys `tutti serve` accepts
/// (docs/store.md#api-keys). A secret is printed once; the store keeps its
/// hash.

#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
} // namespace CLI

namespace tutti::cli {

struct keys_args {
  std::string config;
  std::string store;
  std::string name;
  std::vector<std::string> targets;
  int64_t rpm = 0;
  int64_t tpm = 0;
  std::vector<std::string> budgets; ///< "10/day", "200/month"
  bool json = false;
};

struct keys_commands {
  CLI::App* create = nullptr;
  CLI::App* list = nullptr;
  CLI::App* revoke = nullptr;
};

keys_commands add_keys_commands(CLI::App& app, keys_args& args);

/// Exit code 0; 1 when `revoke` finds no such key in use; 2 when the store
/// cannot be used.
int run_keys(const keys_commands& commands, const keys_args& args);

} // namespace tutti::cli
