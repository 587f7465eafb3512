#include "cli/run.hpp"

#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <rapidjson/document.h>

#include "cli/exit_codes.hpp"
#include "cli/format.hpp"
#include "cli/runs.hpp"
#include "cli/stream_printer.hpp"
#include "engine/src/json_reader.hpp"
#include "engine/src/utf8.hpp"
#include "tutti/config.hpp"
#include "tutti/engine.hpp"
#include "tutti/json.hpp"

namespace tutti::cli {

namespace {

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
  return preview(step.reason.empty() || step.status == step_status::partial
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
    std::cout << pad(step.id, id_width)
              << pad(std::string{to_string(step.status)}, 10)
              << pad(step_time(step), 10) << step_text(step, 60) << '\n';
  size_t ok = 0;
  for (auto& step : result.steps)
    ok += step.status == step_status::ok || step.status == step_status::partial
              ? 1
              : 0;
  std::cout << "\noutput (" << to_string(result.status) << ": " << ok << " of "
            << result.steps.size() << " steps answered, "
            << format_ms(result.total_us) << "):\n";
  if (result.status == tutti::answer_status::failed) {
    std::cout << "(none: the output step has no answer)\n";
  } else {
    std::cout << tutti::utf8::for_terminal(result.output) << '\n';
  }
  std::cout << '\n' << format_totals(result.usage, result.cost_usd) << '\n';
}

} // namespace

CLI::App* add_run_command(CLI::App& app, run_args& args) {
  auto* cmd = app.add_subcommand(
      "run", "Run a pipeline: its steps as soon as their inputs exist, "
             "independent ones in parallel; print each step and the output.");
  add_config_option(*cmd, args.config);
  add_store_option(*cmd, args.store);
  add_no_cache_flag(*cmd, args.no_cache);
  cmd->add_option("--pipeline,-p", args.pipeline, "Pipeline to run")
      ->required();
  cmd->add_option("--input,-i", args.inputs,
                  "An input as key=value; repeat for each. Without any, "
                  "a JSON object of strings is read from stdin when it "
                  "is not a terminal");
  cmd->add_flag("--json", args.json, "Print the full pipeline result as JSON");
  cmd->add_flag("--stream", args.stream,
                "Print steps as they start and finish, and the output "
                "step's tokens as they arrive");
  return cmd;
}

int run_pipeline(const run_args& args) {
  auto inputs = inputs_from_flags(args.inputs);
  if (args.inputs.empty() && isatty(STDIN_FILENO) == 0)
    inputs = inputs_from_json(
        std::string{std::istreambuf_iterator<char>{std::cin}, {}});
  auto cfg = load_cli_config(args.config);
  apply_store_flag(cfg, args.store);
  auto output_step = [&] {
    auto p = cfg.pipelines.find(args.pipeline);
    return p == cfg.pipelines.end() ? std::string{} : p->second.output;
  }();
  tutti::engine engine{std::move(cfg)};
  tutti::run_options options;
  options.stream = args.stream;
  options.no_cache = args.no_cache;
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
      auto line =
          "[step " + step.id + " " + std::string{to_string(step.status)};
      if (step.started_us >= 0)
        line += ", " + format_ms(step.total_us);
      if (step.status != step_status::ok && !step.reason.empty())
        line += ": " + preview(step.reason, 80);
      printer.line_of(line + "]");
    };
  }
  auto result = engine.run(args.pipeline, inputs, options).get();
  if (args.json) {
    std::cout << with_demo_field(tutti::to_json(result, true), args.json_notice)
              << '\n';
  } else {
    if (args.stream)
      printer.finish();
    print_steps(result);
  }
  return result.status == tutti::answer_status::failed ? exit_no_answer
                                                       : exit_answer;
}

} // namespace tutti::cli
