#pragma once

/// `tutti demo` and `tutti serve --demo`: the fake upstream
/// (tools/fake_llm) in this process on a free loopback port, and every
/// config the command loads pointed at it, so that any config, the shipped
/// ones included, runs offline. Its models are scripted: what they answer
/// is fixed text, and the output says so.

#include <memory>
#include <string>

namespace CLI {
class App;
} // namespace CLI

namespace tutti::fake {
class server;
} // namespace tutti::fake

namespace tutti::cli {

/// The name `--config` takes for the demo's own config (configs/demo.yaml,
/// built into the binary), its default.
extern const char* const builtin_demo_config;

/// The fake upstream of a demo, and the config source that points every
/// config at it, for as long as it lives.
class demo_upstream {
public:
  /// Starts the fake (the demo's scripted models, and a scripted reply
  /// that says it is one for every other model name) on 127.0.0.1 and a
  /// free port, and puts in the config source.
  demo_upstream();
  /// Restores the config source and stops the fake.
  ~demo_upstream();

  demo_upstream(const demo_upstream&) = delete;
  demo_upstream& operator=(const demo_upstream&) = delete;

  /// "http://127.0.0.1:PORT".
  std::string root_url() const;

  /// The words that say the models are fakes, naming where they run.
  std::string notice() const;

private:
  std::unique_ptr<tutti::fake::server> fake_;
};

struct demo_args {
  std::string config;
  std::string ensemble;
  std::string provider;
  std::string pipeline;
  std::string prompt = "What is the capital of France?";
  bool json = false;
  bool stream = false;
};

/// Registers the `demo` subcommand and its flags on `app`.
CLI::App* add_demo_command(CLI::App& app, demo_args& args);

/// Asks the demo's ensemble (or the one named, of the config given) one
/// question against the fake upstream. Exit codes as for `ask`. With
/// --json the answer's first field is "demo", the notice.
int run_demo(const demo_args& args);

} // namespace tutti::cli
