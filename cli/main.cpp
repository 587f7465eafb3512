// The `tutti` command: ask an ensemble or run a pipeline from the shell,
// validate a config.
//
// Exit codes: 0 an answer (status ok or partial), 1 no answer (status failed:
// every member failed, fewer than `min_success` succeeded, or the strategy
// found nothing to answer with; for a pipeline, its output step has no
// answer), 2 usage or config error. `batch`: 0 every row answered, 1 some
// rows failed or were invalid, 2 usage, config or file error, 130
// interrupted with rows left for `--resume`.

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include "engine/src/json_reader.hpp"
#include "engine/src/utf8.hpp"
#include "tutti/batch.hpp"
#include "tutti/config.hpp"
#include "tutti/engine.hpp"
#include "tutti/json.hpp"

#include "cli/batch.hpp"
#include "cli/format.hpp"
#include "cli/serve.hpp"

namespace {

using namespace tutti::cli;

constexpr int exit_answer = 0;
constexpr int exit_no_answer = 1;
constexpr int exit_usage = 2;

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

/// Width of the key column of the summary ("combiner: ").
constexpr size_t key_width = 10;

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
    std::cout << pad("ranking:", key_width) << join(answer.ranking, " > ")
              << '\n';
  if (!answer.note.empty())
    std::cout << pad("note:", key_width) << tutti::utf8::printable(answer.note)
              << '\n';
  print_combiner_calls(answer);
  std::cout << pad("totals:", key_width)
            << std::to_string(answer.usage.input_tokens) << "/"
            << std::to_string(answer.usage.output_tokens) << " tokens in/out";
  if (answer.usage.cached_input_tokens > 0)
    std::cout << " (" << answer.usage.cached_input_tokens << " cached)";
  std::cout << ", " << format_cost(answer.cost_usd) << '\n';
}

/// Prints a streamed ask as it happens: each member's tokens on lines
/// starting `[member] `, `[member done: how]` when one ends, and the
/// answer's own tokens (a synthesizer's, or the winner's text under
/// `combine: first`) on a line starting `answer: `.
class stream_printer {
public:
  void on_delta(const tutti::member_delta& delta) {
    if (delta.answer) {
      if (open_ != line::answer) {
        end_line();
        std::cout << "answer: ";
        open_ = line::answer;
      }
    } else if (open_ != line::member || member_ != delta.member) {
      end_line();
      std::cout << "[" << delta.member << "] ";
      open_ = line::member;
      member_ = delta.member;
    }
    // Model output goes to the terminal with its control characters
    // escaped. A delta is a whole JSON string, so it cuts no character in
    // two; bytes that are not UTF-8 (a hostile upstream's) show as escapes.
    std::cout << tutti::utf8::for_terminal(delta.text) << std::flush;
  }

  void on_done(const tutti::member_outcome& outcome) {
    end_line();
    std::cout << "[" << outcome.member << " done: "
              << (outcome.ok ? std::string{"ok"}
                             : std::string{to_string(outcome.error.kind)})
              << "]" << std::endl;
  }

  /// Prints `text` on a line of its own.
  void line_of(const std::string& text) {
    end_line();
    std::cout << text << std::endl;
  }

  /// Ends the streamed part with an empty line.
  void finish() {
    end_line();
    std::cout << '\n';
  }

private:
  enum class line { none, member, answer };

  void end_line() {
    if (open_ != line::none)
      std::cout << '\n';
    open_ = line::none;
  }

  line open_ = line::none;
  std::string member_;
};

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
  stream_printer printer;
  if (args.stream && !args.json) {
    options.on_delta = [&](const tutti::member_delta& delta) {
      printer.on_delta(delta);
    };
    options.on_member_done = [&](const tutti::member_outcome& outcome) {
      printer.on_done(outcome);
    };
  }
  auto answer = engine.ask(args.ensemble, args.prompt, options).get();
  if (args.json) {
    std::cout << tutti::to_json(answer, true) << '\n';
  } else {
    if (args.stream)
      printer.finish();
    print_table(answer);
    print_summary(answer);
  }
  return answer.status == tutti::answer_status::failed ? exit_no_answer
                                                       : exit_answer;
}

struct run_args {
  std::string config;
  std::string pipeline;
  std::vector<std::string> inputs; ///< "key=value"
  bool json = false;
  bool stream = false;
};

/// `--input key=value` flags as a map; a malformed or repeated one throws.
std::map<std::string, std::string>
inputs_from_flags(const std::vector<std::string>& flags) {
  std::map<std::string, std::string> inputs;
  for (auto& flag : flags) {
    auto eq = flag.find('=');
    if (eq == std::string::npos || eq == 0)
      throw std::invalid_argument("--input '" + flag +
                                  "': expected key=value, e.g. "
                                  "--input question='Why is the sky blue?'");
    auto key = flag.substr(0, eq);
    if (!inputs.emplace(key, flag.substr(eq + 1)).second)
      throw std::invalid_argument("--input '" + key + "' is given twice");
  }
  return inputs;
}

/// A JSON object of string values, e.g. {"question": "..."}, from `text`;
/// empty (or only white space) means no inputs.
std::map<std::string, std::string> inputs_from_json(const std::string& text) {
  std::map<std::string, std::string> inputs;
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    return inputs;
  const std::string expected = "expected a JSON object of string values, e.g. "
                               "{\"question\": \"Why is the sky blue?\"}";
  rapidjson::Document doc;
  auto parsed = tutti::json_reader::parse(
      doc, text, tutti::json_reader::utf8_check::validate);
  if (!parsed)
    throw std::invalid_argument("stdin: not valid JSON (" + parsed.message() +
                                "); " + expected);
  if (!doc.IsObject())
    throw std::invalid_argument("stdin: " + expected);
  for (auto& member : doc.GetObject()) {
    std::string key{member.name.GetString(), member.name.GetStringLength()};
    if (!member.value.IsString())
      throw std::invalid_argument("stdin: input '" + key +
                                  "' is not a string; " + expected);
    inputs[key] =
        std::string{member.value.GetString(), member.value.GetStringLength()};
  }
  return inputs;
}

/// A step's time cell: "-" when it never ran.
std::string step_time(const tutti::step_outcome& step) {
  return step.started_us < 0 ? "-" : format_ms(step.total_us);
}

/// The start of a step's answer, or why it has none.
std::string step_text(const tutti::step_outcome& step, size_t width) {
  return preview(step.reason.empty() || step.status == "partial"
                     ? step.answer.text
                     : step.reason,
                 width);
}

void print_steps(const tutti::pipeline_result& result) {
  size_t id_width = 8;
  for (auto& step : result.steps)
    id_width = std::max(id_width, width_of(step.id) + 2);
  std::cout << pad("step", id_width) << pad("status", 10) << pad("time", 10)
            << "answer\n";
  for (auto& step : result.steps)
    std::cout << pad(step.id, id_width) << pad(step.status, 10)
              << pad(step_time(step), 10) << step_text(step, 60) << '\n';
  size_t ok = 0;
  for (auto& step : result.steps)
    ok += step.status == "ok" || step.status == "partial" ? 1 : 0;
  std::cout << "\noutput (" << to_string(result.status) << ": " << ok << " of "
            << result.steps.size() << " steps answered, "
            << format_ms(result.total_us) << "):\n";
  if (result.status == tutti::answer_status::failed) {
    std::cout << "(none: the output step has no answer)\n";
  } else {
    std::cout << tutti::utf8::for_terminal(result.output) << '\n';
  }
  std::cout << '\n'
            << pad("totals:", key_width) << result.usage.input_tokens << "/"
            << result.usage.output_tokens << " tokens in/out";
  if (result.usage.cached_input_tokens > 0)
    std::cout << " (" << result.usage.cached_input_tokens << " cached)";
  std::cout << ", " << format_cost(result.cost_usd) << '\n';
}

int run_pipeline(const run_args& args) {
  auto inputs = inputs_from_flags(args.inputs);
  if (args.inputs.empty() && isatty(STDIN_FILENO) == 0)
    inputs = inputs_from_json(
        std::string{std::istreambuf_iterator<char>{std::cin}, {}});
  auto cfg = tutti::load_config(config_path(args.config));
  auto output_step = [&] {
    auto p = cfg.pipelines.find(args.pipeline);
    return p == cfg.pipelines.end() ? std::string{} : p->second.output;
  }();
  tutti::engine engine{std::move(cfg)};
  tutti::run_options options;
  options.stream = args.stream;
  stream_printer printer;
  if (args.stream && !args.json) {
    options.on_step_started = [&](const std::string& step) {
      printer.line_of("[step " + step + " started]");
    };
    options.on_delta = [&](const std::string& step,
                           const tutti::member_delta& delta) {
      if (step == output_step)
        printer.on_delta(delta);
    };
    options.on_step_done = [&](const tutti::step_outcome& step) {
      auto line = "[step " + step.id + " " + step.status;
      if (step.started_us >= 0)
        line += ", " + format_ms(step.total_us);
      if (step.status != "ok" && !step.reason.empty())
        line += ": " + preview(step.reason, 80);
      printer.line_of(line + "]");
    };
  }
  auto result = engine.run(args.pipeline, inputs, options).get();
  if (args.json) {
    std::cout << tutti::to_json(result, true) << '\n';
  } else {
    if (args.stream)
      printer.finish();
    print_steps(result);
  }
  return result.status == tutti::answer_status::failed ? exit_no_answer
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
            << cfg.ensembles.size() << " ensembles";
  if (!cfg.pipelines.empty())
    std::cout << ", " << cfg.pipelines.size() << " pipelines";
  std::cout << ")\n";
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

  run_args run;
  auto* run_cmd = app.add_subcommand(
      "run", "Run a pipeline: its steps as soon as their inputs exist, "
             "independent ones in parallel; print each step and the output.");
  run_cmd->add_option(
      "--config,-c", run.config,
      "Config file (default: $TUTTI_CONFIG, then ./tutti.yaml)");
  run_cmd->add_option("--pipeline,-p", run.pipeline, "Pipeline to run")
      ->required();
  run_cmd->add_option("--input,-i", run.inputs,
                      "An input as key=value; repeat for each. Without any, "
                      "a JSON object of strings is read from stdin when it "
                      "is not a terminal");
  run_cmd->add_flag("--json", run.json,
                    "Print the full pipeline result as JSON");
  run_cmd->add_flag("--stream", run.stream,
                    "Print steps as they start and finish, and the output "
                    "step's tokens as they arrive");

  batch_args batch;
  auto* batch_cmd = app.add_subcommand(
      "batch",
      "Run a pipeline over every row of a JSONL file: one result row per "
      "input row, appended as each finishes; --resume completes a batch "
      "that was stopped or killed.");
  batch_cmd->add_option(
      "--config,-c", batch.config,
      "Config file (default: $TUTTI_CONFIG, then ./tutti.yaml)");
  batch_cmd->add_option("--pipeline,-p", batch.pipeline, "Pipeline to run")
      ->required();
  batch_cmd
      ->add_option("--in", batch.in,
                   "Input rows, one JSON object per line, e.g. {\"id\": 1, "
                   "\"question\": \"...\"}")
      ->required();
  batch_cmd->add_option("--out", batch.out, "Results file (JSONL)")->required();
  batch_cmd
      ->add_option("--concurrency", batch.concurrency,
                   "Rows running at once (default 16); the providers' "
                   "limits still hold")
      ->check(CLI::Range(1, 100000));
  batch_cmd
      ->add_option("--max-row-bytes", batch.max_row_bytes,
                   "Longest input row in bytes; a longer line is an invalid "
                   "row (default 8388608)")
      ->check(CLI::Range(size_t{16}, size_t{1} << 30));
  batch_cmd->add_flag("--resume", batch.resume,
                      "Complete an existing results file: skip the rows "
                      "it has, redo a torn last line");
  batch_cmd
      ->add_option("--progress-every", batch.progress_every,
                   "Seconds between progress lines when stderr is not a "
                   "terminal (default 10)")
      ->check(CLI::PositiveNumber);

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

  serve_args serve;
  auto* serve_cmd = add_serve_command(app, serve);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    auto code = app.exit(e);
    return code == 0 ? exit_answer : exit_usage;
  }
  try {
    if (*ask_cmd)
      return run_ask(ask);
    if (*run_cmd)
      return run_pipeline(run);
    if (*batch_cmd)
      return run_batch(batch);
    if (*providers_cmd)
      return run_providers(providers_file);
    if (*serve_cmd)
      return run_serve(serve);
    return run_validate(validate_file);
  } catch (const tutti::config_error& e) {
    std::cerr << "tutti: " << e.what() << '\n';
    return exit_usage;
  } catch (const tutti::batch_error& e) {
    std::cerr << "tutti batch: " << e.what() << '\n';
    return exit_usage;
  } catch (const std::exception& e) {
    std::cerr << "tutti: " << e.what() << '\n';
    return exit_usage;
  }
}
