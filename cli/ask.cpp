#include "cli/ask.hpp"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/exit_codes.hpp"
#include "cli/format.hpp"
#include "cli/runs.hpp"
#include "cli/stream_printer.hpp"
#include "engine/src/utf8.hpp"
#include "tutti/config.hpp"
#include "tutti/engine.hpp"
#include "tutti/json.hpp"

namespace tutti::cli {

namespace {

/// Whether the ensemble itself stopped this member (`until`, `fallback`,
/// a cancel) rather than the member failing on its own.
bool stopped(const tutti::member_outcome& m) {
  return !m.ok && m.error.kind == tutti::failure_kind::cancelled;
}

/// A member's status cell: "ok", "cancelled", or the failure's kind and HTTP
/// status, and how many tries it took when more than one.
std::string status_of(const tutti::member_outcome& m) {
  std::string status = "ok";
  auto attempts = m.ok ? m.reply.attempts : m.error.attempts;
  if (stopped(m)) {
    status = "cancelled";
  } else if (!m.ok) {
    status = "failed: " + std::string{to_string(m.error.kind)};
    if (m.error.http_status != 0)
      status += " " + std::to_string(m.error.http_status);
  }
  if (attempts > 1)
    status += " (" + std::to_string(attempts) + " tries)";
  return status;
}

/// "-" for an outcome the aggregator wrote for a member that never reached
/// its provider, or was stopped before it reported (no time was measured).
std::string latency_of(const tutti::member_outcome& m) {
  if (!m.ok && m.error.attempts == 0 && m.total_us() == 0)
    return "-";
  return format_ms(m.total_us());
}

std::string tokens_of(const tutti::member_outcome& m) {
  // A failure shows what it used before it failed, if anything.
  auto& used = m.ok ? m.reply.usage : m.error.usage;
  if (!m.ok && used.input_tokens == 0 && used.output_tokens == 0)
    return "-";
  return std::to_string(used.input_tokens) + "/" +
         std::to_string(used.output_tokens);
}

/// The start of the reply, or of the failure's message.
std::string text_of(const tutti::member_outcome& m, size_t width) {
  return preview(m.ok ? m.reply.text : m.error.message, width);
}

/// A weight as written in YAML: "2", "0.5".
std::string format_weight(double weight) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", weight);
  return buf;
}

std::string join(const std::vector<std::string>& items,
                 const std::string& separator) {
  std::string text;
  for (auto& item : items)
    text += (text.empty() ? "" : separator) + item;
  return text;
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
  for (auto& m : answer.members)
    std::cout << pad(m.member, member_width) << pad(status_of(m), status_width)
              << pad(latency_of(m), 10) << pad(tokens_of(m), 15)
              << text_of(m, 50) << '\n';
  size_t ok = 0;
  for (auto& m : answer.members)
    ok += m.ok ? 1 : 0;
  std::cout << "\nanswer (" << answer.combine << ", "
            << to_string(answer.status) << ": " << ok << " of "
            << answer.members.size() << " members answered, "
            << format_ms(answer.total_us) << "):\n"
            << tutti::utf8::for_terminal(answer.text) << '\n';
}

/// The vote table: one line per answer, winner first.
void print_votes(const tutti::ensemble_answer& answer) {
  std::cout << pad("votes:", key_width) << "agreement "
            << static_cast<int>(answer.agreement * 100 + 0.5) << "%\n";
  size_t text_width = 8;
  for (auto& row : answer.votes)
    text_width = std::max(text_width, width_of(preview(row.text, 40)) + 2);
  for (auto& row : answer.votes)
    std::cout << pad("", key_width) << pad(preview(row.text, 40), text_width)
              << pad("weight " + format_weight(row.weight), 12)
              << join(row.members, ", ") << '\n';
}

/// The ranking (with each member's mean rank, for a council), then each
/// reviewer's letters and ranking.
void print_ranking(const tutti::ensemble_answer& answer) {
  std::string line;
  for (size_t i = 0; i < answer.ranking.size(); ++i) {
    line += (i == 0 ? "" : " > ") + answer.ranking[i];
    if (i < answer.mean_ranks.size()) {
      char mean[32];
      std::snprintf(mean, sizeof mean, " (%.2f)", answer.mean_ranks[i]);
      line += mean;
    }
  }
  std::cout << pad("ranking:", key_width) << line << '\n';
  bool first = true;
  for (auto& review : answer.reviews) {
    std::string letters;
    for (size_t i = 0; i < review.letters.size(); ++i)
      letters += (i == 0 ? "" : " ") + std::string(1, char('A' + i)) + "=" +
                 review.letters[i];
    std::cout << pad(first ? "reviews:" : "", key_width) << review.reviewer
              << " saw " << letters << ": "
              << (review.ranking.empty() ? std::string{"(no ranking)"}
                                         : join(review.ranking, " > "))
              << '\n';
    first = false;
  }
}

/// The extra model calls a strategy made (judge, synthesizer), one a line.
void print_combiner_calls(const tutti::ensemble_answer& answer) {
  size_t label_width = 8;
  size_t provider_width = 10;
  size_t status_width = 8;
  for (auto& call : answer.combiner_calls) {
    label_width = std::max(label_width, call.member.size() + 2);
    provider_width = std::max(provider_width, call.provider.size() + 2);
    status_width = std::max(status_width, status_of(call).size() + 2);
  }
  bool first = true;
  for (auto& call : answer.combiner_calls) {
    std::cout << pad(first ? "combiner:" : "", key_width)
              << pad(call.member, label_width)
              << pad(call.provider, provider_width)
              << pad(status_of(call), status_width) << pad(latency_of(call), 10)
              << text_of(call, 40) << '\n';
    first = false;
  }
}

/// Beneath the answer: how it came about and what it cost.
void print_summary(const tutti::ensemble_answer& answer) {
  std::cout << '\n'
            << pad("status:", key_width) << to_string(answer.status)
            << " (until " << answer.until << ", mode " << answer.mode
            << ", combine " << answer.combine << ")\n";
  if (!answer.winner.empty())
    std::cout << pad("winner:", key_width) << answer.winner << '\n';
  if (!answer.votes.empty())
    print_votes(answer);
  if (!answer.ranking.empty())
    print_ranking(answer);
  if (answer.rounds > 0)
    std::cout << pad("rounds:", key_width) << answer.rounds << '\n';
  if (!answer.note.empty())
    std::cout << pad("note:", key_width) << tutti::utf8::printable(answer.note)
              << '\n';
  print_combiner_calls(answer);
  std::cout << format_totals(answer.usage, answer.cost_usd) << '\n';
}

/// The largest question read from standard input.
constexpr size_t max_stdin_prompt = 8 * 1024 * 1024;

/// `prompt`, or for "-" standard input to its end (at most 8 MiB).
std::string prompt_of(const std::string& prompt) {
  if (prompt != "-")
    return prompt;
  std::string text;
  char buffer[65536];
  while (std::cin.read(buffer, sizeof buffer) || std::cin.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(std::cin.gcount()));
    if (text.size() > max_stdin_prompt)
      throw std::runtime_error("the question on standard input is over 8 MiB");
  }
  if (text.empty())
    throw std::runtime_error("the question on standard input is empty");
  return text;
}

} // namespace

CLI::App* add_ask_command(CLI::App& app, ask_args& args) {
  auto* cmd = app.add_subcommand(
      "ask",
      "Ask an ensemble (or one provider) one question; print each member's "
      "outcome and the combined answer.");
  add_config_option(*cmd, args.config);
  add_store_option(*cmd, args.store);
  add_no_cache_flag(*cmd, args.no_cache);
  auto* ensemble =
      cmd->add_option("--ensemble,-e", args.ensemble, "Ensemble to ask");
  auto* provider = cmd->add_option("--provider,-p", args.provider,
                                   "One provider to ask alone, instead of "
                                   "an ensemble");
  ensemble->excludes(provider);
  provider->excludes(ensemble);
  cmd->add_flag("--json", args.json, "Print the full ensemble answer as JSON");
  cmd->add_flag("--stream", args.stream,
                "Print each member's tokens as they arrive");
  cmd->add_option("--session", args.session,
                  "Continue conversation ID: its earlier turns (from the "
                  "store) go with the question, and this one is kept for the "
                  "next")
      ->check([](const std::string& id) {
        return tutti::is_session_id(id)
                   ? std::string{}
                   : std::string{"a session id is 1 to 128 printable ASCII "
                                 "characters without spaces"};
      });
  cmd->add_option("--system", args.system,
                  "A system prompt sent before the question");
  cmd->add_option("--temperature", args.temperature,
                  "Sampling temperature for every member (overrides the "
                  "config)")
      ->check(CLI::Range(0.0, 2.0));
  cmd->add_option("--max-tokens", args.max_tokens,
                  "Longest reply, in tokens, for every member (overrides "
                  "the config)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("prompt", args.prompt,
                  "The question; '-' reads it from standard input")
      ->required();
  return cmd;
}

int run_ask(const ask_args& args) {
  auto cfg = load_cli_config(args.config);
  apply_store_flag(cfg, args.store);
  tutti::engine engine{std::move(cfg)};
  tutti::ask_options options;
  bool stored = engine.store_status().state != "off";
  if (stored)
    options.record.run_id = tutti::new_run_id();
  if (!args.session.empty()) {
    if (!stored)
      throw tutti::store_error("--session needs a store to keep the "
                               "conversation in, and store: is none");
    options.history = engine.session_history(args.session);
    options.record.session = args.session;
  }
  options.stream = args.stream;
  options.no_cache = args.no_cache;
  options.system = args.system;
  options.params.temperature = args.temperature;
  options.params.max_tokens = args.max_tokens;
  stream_printer printer;
  if (args.stream && !args.json) {
    options.on_delta = [&](const tutti::member_delta& delta) {
      printer.on_delta(delta);
    };
    options.on_member_done = [&](const tutti::member_outcome& outcome) {
      printer.on_done(outcome);
    };
  }
  if (args.ensemble.empty() && args.provider.empty())
    throw std::runtime_error(
        "ask whom? give --ensemble NAME or --provider NAME");
  auto to = args.provider.empty() ? tutti::target::ensemble(args.ensemble)
                                  : tutti::target::provider(args.provider);
  auto answer = engine.ask(to, prompt_of(args.prompt), options).get();
  if (args.json) {
    std::cout << with_demo_field(tutti::to_json(answer, true), args.json_notice)
              << '\n';
  } else {
    if (args.stream)
      printer.finish();
    print_table(answer);
    print_summary(answer);
    if (stored)
      std::cout << pad("run:", key_width) << options.record.run_id
                << " (tutti runs show " << options.record.run_id << ")\n";
  }
  return answer.status == tutti::answer_status::failed ? exit_no_answer
                                                       : exit_answer;
}

} // namespace tutti::cli
