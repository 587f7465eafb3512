#include "cli/keys.hpp"

#include <chrono>
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/exit_codes.hpp"
#include "cli/format.hpp"
#include "cli/runs.hpp"
#include "engine/src/config_yaml.hpp"
#include "tutti/config.hpp"
#include "tutti/store.hpp"

namespace tutti::cli {

namespace {

int create_key(const keys_args& args) {
  if (!config_detail::is_valid_name(args.name))
    throw store_error("a key's name: " + config_detail::invalid_name("key"));
  for (auto& t : args.targets)
    if (!config_detail::is_valid_name(t))
      throw store_error("--targets: '" + t + "' is not a valid name");
  auto store = open_store(store_to_read(args.config, args.store));
  auto secret = new_key_secret();
  api_key key;
  key.name = args.name;
  key.hint = secret.substr(0, 13);
  key.targets = args.targets;
  key.rpm = args.rpm;
  key.tpm = args.tpm;
  for (auto& budget : args.budgets) {
    std::string why;
    if (!parse_spend_limit(budget, key.budget, why))
      throw store_error("--budget: " + why);
  }
  key.created_ms = unix_now_ms();
  store->create_key(key, key_hash(secret));
  std::cerr << "key '" << args.name
            << "' created; its secret is shown this once, keep it now:\n";
  std::cout << secret << '\n';
  return exit_answer;
}

/// "$10.00/day, $200.00/month", or "-".
std::string budget_text(const spend_limit& budget) {
  std::string text;
  auto add = [&](double usd, const char* per) {
    if (usd <= 0)
      return;
    char amount[48];
    std::snprintf(amount, sizeof amount, "$%.2f/%s", usd, per);
    text += (text.empty() ? "" : ", ") + std::string{amount};
  };
  add(budget.day_usd, "day");
  add(budget.month_usd, "month");
  return text.empty() ? "-" : text;
}

int list_keys(const keys_args& args) {
  auto store = open_store(store_to_read(args.config, args.store));
  std::cout << pad("name", 24) << pad("secret starts", 16) << pad("state", 10)
            << pad("rpm", 10) << pad("tpm", 14) << pad("budget", 22)
            << "targets\n";
  for (auto& key : store->list_keys()) {
    std::string targets;
    for (auto& t : key.targets)
      targets += (targets.empty() ? "" : ", ") + t;
    std::cout << pad(key.name, 24) << pad(key.hint + "…", 16)
              << pad(key.revoked_ms > 0 ? "revoked" : "in use", 10)
              << pad(key.rpm > 0 ? std::to_string(key.rpm) : "-", 10)
              << pad(key.tpm > 0 ? std::to_string(key.tpm) : "-", 14)
              << pad(budget_text(key.budget), 22)
              << (targets.empty() ? "all" : targets) << '\n';
  }
  return exit_answer;
}

int revoke_key(const keys_args& args) {
  auto store = open_store(store_to_read(args.config, args.store));
  if (!store->revoke_key(args.name, unix_now_ms())) {
    std::cerr << "tutti keys revoke: no key '" << args.name << "' in use\n";
    return exit_no_answer;
  }
  std::cout << "key '" << args.name << "' revoked\n";
  return exit_answer;
}

} // namespace

keys_commands add_keys_commands(CLI::App& app, keys_args& args) {
  auto* keys = app.add_subcommand(
      "keys", "API keys for tutti serve: create (the secret is shown once), "
              "list, revoke.");
  keys->require_subcommand(1);
  auto common = [&](CLI::App& cmd) {
    add_config_option(cmd, args.config);
    cmd.add_option("--store", args.store,
                   "The store holding the keys (default: the config's "
                   "store:, else the default SQLite file)");
  };
  keys_commands commands;
  commands.create = keys->add_subcommand("create", "Make a key; print its "
                                                   "secret once.");
  common(*commands.create);
  commands.create->add_option("name", args.name, "The key's name")->required();
  commands.create
      ->add_option("--targets", args.targets,
                   "The ensembles, providers and pipelines it may ask "
                   "(default: all)")
      ->delimiter(',');
  commands.create
      ->add_option("--rpm", args.rpm,
                   "Requests per minute it may make (default: no limit of "
                   "its own)")
      ->check(CLI::Range(int64_t{0}, int64_t{1'000'000'000}));
  commands.create
      ->add_option("--tpm", args.tpm,
                   "Tokens (input and output) per minute it may use "
                   "(default: no limit of its own)")
      ->check(CLI::Range(int64_t{0}, int64_t{1'000'000'000'000}));
  commands.create->add_option(
      "--budget", args.budgets,
      "What its requests may cost in US dollars: 10/day, 200/month (give "
      "both as two options; default: no budget of its own)");
  commands.list = keys->add_subcommand("list", "Every key, in use or "
                                               "revoked (never a secret).");
  common(*commands.list);
  commands.revoke = keys->add_subcommand(
      "revoke", "Revoke a key: tutti serve refuses it from its next request.");
  common(*commands.revoke);
  commands.revoke->add_option("name", args.name, "The key's name")->required();
  return commands;
}

int run_keys(const keys_commands& commands, const keys_args& args) {
  if (*commands.create)
    return create_key(args);
  if (*commands.list)
    return list_keys(args);
  return revoke_key(args);
}

} // namespace tutti::cli
