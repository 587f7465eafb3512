// tutti-fake-llm: a fake OpenAI / Anthropic / Gemini upstream for tests,
// benchmarks and demos, with scripted faults. See docs/fake_llm.md.

#include <csignal>
#include <exception>
#include <iostream>
#include <string>

#include <pthread.h>

#include <CLI/CLI.hpp>

#include "tools/fake_llm/fake_llm.hpp"

namespace {

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"tutti-fake-llm: a fake upstream speaking the OpenAI chat "
               "completions, Anthropic Messages and Gemini generateContent "
               "wire formats, with behaviour and faults scripted per model"};
  std::string script_path;
  std::string host = "127.0.0.1";
  int port = 0;
  std::string log_path;
  int threads = 128;
  bool allow_remote = false;
  app.add_option("--script", script_path,
                 "YAML script of per-model behaviour (default: every model "
                 "echoes the last user message)");
  app.add_option("--host", host, "address to bind")->capture_default_str();
  app.add_option("--port", port, "port to bind; 0 picks a free port")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("--log", log_path,
                 "append one JSON line per request to this file");
  app.add_option("--threads", threads,
                 "request threads (how many requests at once)")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_flag("--allow-remote", allow_remote,
               "allow binding an address that is not loopback");
  CLI11_PARSE(app, argc, argv);

  if (!allow_remote && !is_loopback(host)) {
    std::cerr << "tutti-fake-llm: refusing to bind non-loopback host '" << host
              << "' without --allow-remote\n";
    return 2;
  }

  tutti::fake::script script;
  if (script_path.empty()) {
    script.fallback = tutti::fake::model_script{};
  } else {
    try {
      script = tutti::fake::load_script(script_path);
    } catch (const std::exception& e) {
      std::cerr << "tutti-fake-llm: " << e.what() << '\n';
      return 2;
    }
  }

  // Block the stop signals in every thread (the server's threads inherit the
  // mask) and take them synchronously in main below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  try {
    tutti::fake::server server(std::move(script), log_path, threads);
    int bound = server.start(host, port);
    auto url_host =
        host.find(':') != std::string::npos ? "[" + host + "]" : host;
    std::cout << "tutti-fake-llm listening on http://" << url_host << ":"
              << bound << std::endl;
    int signal = 0;
    sigwait(&stop_signals, &signal);
    server.stop();
  } catch (const std::exception& e) {
    std::cerr << "tutti-fake-llm: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
