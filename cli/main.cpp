// The `tutti` command: ask an ensemble from the shell, validate a config.
//
// Exit codes: 0 an answer, 1 every member failed, 2 usage or config error.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "tutti/config.hpp"
#include "tutti/engine.hpp"
#include "tutti/json.hpp"

namespace {

constexpr int exit_answer = 0;
constexpr int exit_all_failed = 1;
constexpr int exit_usage = 2;

/// `--config` when given, else $TUTTI_CONFIG, else ./tutti.yaml.
std::string config_path(const std::string& flag) {
  if (!flag.empty())
    return flag;
  if (auto* env = std::getenv("TUTTI_CONFIG"); env != nullptr && *env != 0)
    return env;
  return "tutti.yaml";
}

/// The first line of `text`, at most `width` characters (UTF-8 aware).
std::string preview(const std::string& text, size_t width) {
  std::string line = text.substr(0, text.find('\n'));
  size_t chars = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    if ((static_cast<unsigned char>(line[i]) & 0xC0) != 0x80 && ++chars > width)
      return line.substr(0, i) + "…";
  }
  return line;
}

std::string pad(std::string text, size_t width) {
  size_t chars = 0;
  for (unsigned char c : text)
    if ((c & 0xC0) != 0x80)
      ++chars;
  if (chars < width)
    text.append(width - chars, ' ');
  return text;
}

std::string format_ms(int64_t us) {
  return std::to_string((us + 500) / 1000) + " ms";
}

/// A member's status cell: "ok", or the failure's kind and HTTP status, and
/// how many tries it took when more than one.
std::string status_of(const tutti::member_outcome& m) {
  std::string status = "ok";
  auto attempts = m.ok ? m.reply.attempts : m.error.attempts;
  if (!m.ok) {
    status = "failed: " + std::string{to_string(m.error.kind)};
    if (m.error.http_status != 0)
      status += " " + std::to_string(m.error.http_status);
  }
  if (attempts > 1)
    status += " (" + std::to_string(attempts) + " tries)";
  return status;
}

void print_table(const tutti::ensemble_answer& answer) {
  size_t member_width = 14;
  size_t status_width = 24;
  for (auto& m : answer.members) {
    member_width = std::max(member_width, m.member.size() + 2);
    status_width = std::max(status_width, status_of(m).size() + 2);
  }
  std::cout << pad("member", member_width) << pad("status", status_width)
            << pad("latency", 10) << pad("tokens in/out", 15) << "answer\n";
  for (auto& m : answer.members) {
    std::string tokens = "-";
    std::string text;
    if (m.ok) {
      tokens = std::to_string(m.reply.usage.input_tokens) + "/" +
               std::to_string(m.reply.usage.output_tokens);
      text = preview(m.reply.text, 50);
    } else {
      text = preview(m.error.message, 50);
    }
    std::cout << pad(m.member, member_width) << pad(status_of(m), status_width)
              << pad(format_ms(m.total_us()), 10) << pad(tokens, 15) << text
              << '\n';
  }
  size_t ok = 0;
  for (auto& m : answer.members)
    ok += m.ok ? 1 : 0;
  std::cout << "\nanswer (" << answer.combine << ", "
            << to_string(answer.status) << ": " << ok << " of "
            << answer.members.size() << " members answered, "
            << format_ms(answer.total_us) << "):\n"
            << answer.text << '\n';
}

struct ask_args {
  std::string config;
  std::string ensemble;
  std::string prompt;
  bool json = false;
  bool stream = false;
  std::string system;
  std::optional<double> temperature;
  std::optional<int64_t> max_tokens;
};

int run_ask(const ask_args& args) {
  auto cfg = tutti::load_config(config_path(args.config));
  tutti::engine engine{std::move(cfg)};
  tutti::ask_options options;
  options.stream = args.stream;
  options.system = args.system;
  options.params.temperature = args.temperature;
  options.params.max_tokens = args.max_tokens;
  std::string last_member;
  if (args.stream && !args.json) {
    options.on_delta = [&](const tutti::member_delta& delta) {
      if (delta.member != last_member) {
        std::cout << (last_member.empty() ? "" : "\n") << "[" << delta.member
                  << "] ";
        last_member = delta.member;
      }
      std::cout << delta.text << std::flush;
    };
    options.on_member_done = [&](const tutti::member_outcome& outcome) {
      std::cout << (last_member.empty() ? "" : "\n") << "[" << outcome.member
                << " done: "
                << (outcome.ok ? std::string{"ok"}
                               : std::string{to_string(outcome.error.kind)})
                << "]" << std::endl;
      last_member.clear();
    };
  }
  auto answer = engine.ask(args.ensemble, args.prompt, options);
  if (args.json) {
    std::cout << tutti::to_json(answer, true) << '\n';
  } else {
    if (args.stream)
      std::cout << '\n';
    print_table(answer);
  }
  return answer.status == tutti::answer_status::failed ? exit_all_failed
                                                       : exit_answer;
}

std::string budget(int64_t used, int64_t limit) {
  return limit > 0 ? std::to_string(used) + "/" + std::to_string(limit) : "-";
}

int run_providers(const std::string& file) {
  auto cfg = tutti::load_config(config_path(file));
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

int run_validate(const std::string& file) {
  auto cfg = tutti::load_config(config_path(file));
  std::cout << cfg.file << ": ok (" << cfg.providers.size() << " providers, "
            << cfg.ensembles.size() << " ensembles)\n";
  return exit_answer;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"tutti: ask several language models at once and combine their "
               "replies, failures included, into one answer."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tutti 0.1.0");

  ask_args ask;
  auto* ask_cmd = app.add_subcommand(
      "ask",
      "Ask an ensemble one question; print each member's outcome and the "
      "combined answer.");
  ask_cmd->add_option(
      "--config,-c", ask.config,
      "Config file (default: $TUTTI_CONFIG, then ./tutti.yaml)");
  ask_cmd->add_option("--ensemble,-e", ask.ensemble, "Ensemble to ask")
      ->required();
  ask_cmd->add_flag("--json", ask.json,
                    "Print the full ensemble answer as JSON");
  ask_cmd->add_flag("--stream", ask.stream,
                    "Print each member's tokens as they arrive");
  ask_cmd->add_option("--system", ask.system,
                      "A system prompt sent before the question");
  ask_cmd
      ->add_option("--temperature", ask.temperature,
                   "Sampling temperature for every member (overrides the "
                   "config)")
      ->check(CLI::Range(0.0, 2.0));
  ask_cmd
      ->add_option("--max-tokens", ask.max_tokens,
                   "Longest reply, in tokens, for every member (overrides "
                   "the config)")
      ->check(CLI::PositiveNumber);
  ask_cmd->add_option("prompt", ask.prompt, "The question")->required();

  std::string validate_file;
  auto* validate_cmd = app.add_subcommand(
      "validate", "Check a config file; report the first error with its "
                  "file:line:column.");
  validate_cmd->add_option("file", validate_file,
                           "Config file (default: $TUTTI_CONFIG, then "
                           "./tutti.yaml)");
  validate_cmd->add_option("--config,-c", validate_file,
                           "Config file, as the other subcommands spell it");

  std::string providers_file;
  auto* providers_cmd = app.add_subcommand(
      "providers",
      "Show each provider's limit group, budgets in use, queue and "
      "circuit breaker.");
  providers_cmd->add_option("--config,-c", providers_file,
                            "Config file (default: $TUTTI_CONFIG, then "
                            "./tutti.yaml)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    auto code = app.exit(e);
    return code == 0 ? exit_answer : exit_usage;
  }
  try {
    if (*ask_cmd)
      return run_ask(ask);
    if (*providers_cmd)
      return run_providers(providers_file);
    return run_validate(validate_file);
  } catch (const tutti::config_error& e) {
    std::cerr << "tutti: " << e.what() << '\n';
    return exit_usage;
  } catch (const std::exception& e) {
    std::cerr << "tutti: " << e.what() << '\n';
    return exit_usage;
  }
}
