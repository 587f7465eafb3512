// The `tutti` command: ask an ensemble or run a pipeline from the shell,
// validate a config. Each subcommand is in a file of its own; this one
// builds the command line and dispatches.
//
// Exit codes: 0 an answer (status ok or partial), 1 no answer (status failed:
// every member failed, fewer than `min_success` succeeded, or the strategy
// found nothing to answer with; for a pipeline, its output step has no
// answer), 2 usage or config error. `batch`: 0 every row answered, 1 some
// rows failed or were invalid, 2 usage, config or file error, 130
// interrupted with rows left for `--resume`. `eval`: 0 every row scored,
// 1 some rows could not be scored, 2 and 130 as for `batch`.

#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>

#include "tutti/batch.hpp"
#include "tutti/config.hpp"

#include "cli/ask.hpp"
#include "cli/batch.hpp"
#include "cli/demo.hpp"
#include "cli/eval.hpp"
#include "cli/exit_codes.hpp"
#include "cli/keys.hpp"
#include "cli/providers.hpp"
#include "cli/run.hpp"
#include "cli/runs.hpp"
#include "cli/serve.hpp"
#include "cli/validate.hpp"

int main(int argc, char** argv) {
  using namespace tutti::cli;

  CLI::App app{"tutti: ask several language models at once and combine their "
               "replies, failures included, into one answer."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tutti 0.1.0");

  ask_args ask;
  auto* ask_cmd = add_ask_command(app, ask);
  run_args run;
  auto* run_cmd = add_run_command(app, run);
  batch_args batch;
  auto* batch_cmd = add_batch_command(app, batch);
  eval_args eval;
  auto* eval_cmd = add_eval_command(app, eval);
  demo_args demo;
  auto* demo_cmd = add_demo_command(app, demo);
  validate_args validate;
  add_validate_command(app, validate);
  providers_args providers;
  auto* providers_cmd = add_providers_command(app, providers);
  serve_args serve;
  auto* serve_cmd = add_serve_command(app, serve);
  runs_args runs;
  auto runs_cmds = add_runs_commands(app, runs);
  keys_args keys;
  auto keys_cmds = add_keys_commands(app, keys);

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
    if (*eval_cmd)
      return run_eval(eval);
    if (*demo_cmd)
      return run_demo(demo);
    if (*providers_cmd)
      return run_providers(providers);
    if (*serve_cmd)
      return run_serve(serve);
    if (*runs_cmds.list || *runs_cmds.show || *runs_cmds.stats ||
        *runs_cmds.migrate || *runs_cmds.prune)
      return run_runs(runs_cmds, runs);
    if (*keys_cmds.create || *keys_cmds.list || *keys_cmds.revoke)
      return run_keys(keys_cmds, keys);
    return run_validate(validate);
  } catch (const tutti::config_error& e) {
    std::cerr << "tutti: " << e.what() << '\n';
    return exit_usage;
  } catch (const tutti::store_error& e) {
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
