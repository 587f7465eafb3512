// `tutti demo` and `tutti serve --demo`: the fake upstream runs in this
// process (it is a small library, and in-process it needs no second binary
// found beside this one, no port read from a child's output and no child
// to clean up), and every config the command loads is pointed at it: each
// provider's address keeps its path and loses its host, its API key and
// secret headers become a placeholder, its price goes (so every cost is
// $0), and nothing is stored. No request
// can leave the machine, and no real key is sent anywhere.

#include "cli/demo.hpp"

#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/ask.hpp"
#include "cli/format.hpp"
#include "cli/run.hpp"
#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/config.hpp"

namespace tutti::cli {

// Generated from configs/demo.yaml and configs/demo-upstream.yaml
// (cli/CMakeLists.txt): the demo works from any folder, installed too.
extern const char demo_config_yaml[];
extern const char demo_upstream_yaml[];

const char* const builtin_demo_config = "demo.yaml (built in)";

namespace {

/// What every model the demo's script does not name answers: it says what
/// it is, names a candidate (for a judge) and a letter (for a council's
/// reviewer), and ends in a GSM8K-style answer line (for a vote or a debate
/// that extracts one).
constexpr const char* scripted_reply =
    "[scripted demo reply from tutti's fake upstream; no real model was "
    "asked] Choice: 1. Ranking: A. #### 1";

/// The placeholder for API keys and secret header values.
constexpr const char* placeholder_key = "demo-key-not-secret";

/// `url` (a provider's address, or its codec's default) moved to `root`:
/// its path kept, its scheme, host and port replaced. A `${VAR}` prefix
/// counts as the host. What is kept starts with '/' or is dropped, so that
/// nothing after `root` can name another host ("${X}@elsewhere").
std::string moved_to(const std::string& url, const std::string& root) {
  std::string path = url;
  if (auto var_end = url.rfind('}');
      url.rfind("${", 0) == 0 && var_end != std::string::npos)
    path = url.substr(var_end + 1);
  else if (auto scheme = url.find("://"); scheme != std::string::npos) {
    auto slash = url.find('/', scheme + 3);
    path = slash == std::string::npos ? "" : url.substr(slash);
  }
  if (!path.empty() && path.front() != '/')
    path.clear();
  return root + path;
}

/// `cfg` pointed at the fake upstream at `root`.
void point_at(tutti::config& cfg, const std::string& root) {
  for (auto& [name, p] : cfg.providers) {
    // ${TUTTI_FAKE_URL} (the shipped demo configs) is set to the fake's
    // OpenAI address; every other address moves to the fake.
    if (p.base_url.rfind("${TUTTI_FAKE_URL}", 0) != 0)
      p.base_url = moved_to(p.base_url, root);
    p.api_key = placeholder_key;
    for (auto& [header, value] : p.headers)
      if (value.find("${") != std::string::npos)
        value = placeholder_key;
    p.ca_file.clear();
    // Scripted tokens cost nothing: no price, so every cost shown is $0.
    p.price = {};
  }
  // Demo runs are not real runs: none goes into the run store, and the
  // response cache stays in memory.
  cfg.store.url = "none";
}

tutti::fake::script demo_script() {
  auto script = tutti::fake::parse_script(demo_upstream_yaml);
  tutti::fake::model_script fallback;
  fallback.reply = scripted_reply;
  fallback.latency_ms = 40;
  fallback.tokens_per_second = 200;
  script.fallback = fallback;
  return script;
}

/// The name of the only ensemble, or of the one called `demo`.
std::string default_ensemble(const tutti::config& cfg) {
  if (cfg.ensembles.size() == 1)
    return cfg.ensembles.begin()->first;
  if (cfg.ensembles.count("demo") > 0)
    return "demo";
  std::string names;
  for (auto& [name, e] : cfg.ensembles)
    names += (names.empty() ? "" : ", ") + name;
  throw std::runtime_error(
      names.empty() ? "this config has no ensemble: name a --provider or a "
                      "--pipeline to ask"
                    : "which ensemble? give --ensemble NAME (one of: " + names +
                          "), --provider NAME or --pipeline NAME");
}

} // namespace

demo_upstream::demo_upstream()
    : fake_(std::make_unique<tutti::fake::server>(demo_script(), "", 16)) {
  fake_->start("127.0.0.1", 0);
  auto root = fake_->root_url();
  ::setenv("TUTTI_FAKE_URL", (root + "/v1").c_str(), 1);
  set_config_source([root](const std::string& path) {
    auto cfg = path == builtin_demo_config
                   ? tutti::parse_config(demo_config_yaml, path)
                   : tutti::load_config(path);
    point_at(cfg, root);
    return cfg;
  });
}

demo_upstream::~demo_upstream() {
  set_config_source({});
  fake_->stop();
}

std::string demo_upstream::root_url() const {
  return fake_->root_url();
}

std::string demo_upstream::notice() const {
  return "DEMO: every model here is a scripted fake (tutti's fake upstream "
         "on " +
         root_url() +
         "), not a real model; their replies are fixed text. Nothing is "
         "sent off this machine and nothing is stored.";
}

CLI::App* add_demo_command(CLI::App& app, demo_args& args) {
  auto* cmd = app.add_subcommand(
      "demo",
      "Ask an ensemble one question against tutti's fake upstream, started "
      "in this process: scripted models, not real ones; no network, no API "
      "keys. Any config runs this way, its providers pointed at the fake.");
  cmd->add_option("--config,-c", args.config,
                  "Config file (default: the demo's own, configs/demo.yaml)");
  auto* ensemble = cmd->add_option("--ensemble,-e", args.ensemble,
                                   "Ensemble to ask (default: the config's "
                                   "only one, or `demo`)");
  auto* provider = cmd->add_option("--provider,-p", args.provider,
                                   "One provider to ask alone");
  auto* pipeline = cmd->add_option("--pipeline", args.pipeline,
                                   "A pipeline to run; the question is its "
                                   "one input");
  ensemble->excludes(provider)->excludes(pipeline);
  provider->excludes(ensemble)->excludes(pipeline);
  pipeline->excludes(ensemble)->excludes(provider);
  cmd->add_flag("--json", args.json,
                "Print the full answer as JSON; its first field, \"demo\", "
                "is the notice that the models are fakes (also on stderr)");
  cmd->add_flag("--stream", args.stream,
                "Print each member's tokens as they arrive");
  cmd->add_option("prompt", args.prompt,
                  "The question (default: \"What is the capital of "
                  "France?\"); '-' reads it from standard input");
  return cmd;
}

int run_demo(const demo_args& args) {
  demo_upstream upstream;
  auto config =
      args.config.empty() ? std::string{builtin_demo_config} : args.config;
  // Before and after the answer, so that no part of the output can be
  // taken for a real model's; on stderr when stdout is JSON, which then
  // carries it as its first field, "demo".
  auto& notice_to = args.json ? std::cerr : std::cout;
  auto cfg = load_cli_config(config); // its errors come before the notice
  auto ensemble = args.ensemble;
  if (args.pipeline.empty() && args.provider.empty() && ensemble.empty())
    ensemble = default_ensemble(cfg);
  int code = 0;
  if (!args.pipeline.empty()) {
    auto p = cfg.pipelines.find(args.pipeline);
    if (p == cfg.pipelines.end())
      throw std::runtime_error("unknown pipeline '" + args.pipeline + "'");
    if (p->second.inputs.size() != 1)
      throw std::runtime_error("pipeline '" + args.pipeline + "' takes " +
                               std::to_string(p->second.inputs.size()) +
                               " inputs; the demo fills one: use `tutti "
                               "run` with TUTTI_FAKE_URL for more");
    run_args run;
    run.config = config;
    run.pipeline = args.pipeline;
    run.inputs.push_back(p->second.inputs.front() + "=" + args.prompt);
    run.json = args.json;
    run.json_notice = upstream.notice();
    run.stream = args.stream;
    notice_to << upstream.notice() << "\n\n" << std::flush;
    code = run_pipeline(run);
  } else {
    ask_args ask;
    ask.config = config;
    ask.provider = args.provider;
    ask.ensemble = ensemble;
    ask.prompt = args.prompt;
    ask.json = args.json;
    ask.json_notice = upstream.notice();
    ask.stream = args.stream;
    notice_to << upstream.notice() << "\n\n" << std::flush;
    code = run_ask(ask);
  }
  notice_to << '\n' << upstream.notice() << '\n';
  return code;
}

} // namespace tutti::cli
