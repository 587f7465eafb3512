#pragma once

// The real `tutti` binary (TUTTI_BIN) as a child process (child_process.hpp).

#include "tests/integration/child_process.hpp"

namespace tutti::testing {

class tutti_process : public child_process {
public:
  tutti_process(const std::vector<std::string>& args, const environment& env,
                const std::filesystem::path& cwd,
                const std::filesystem::path& stdin_path = "/dev/null")
      : child_process(with_binary(args), env, cwd, stdin_path) {}

private:
  static std::vector<std::string>
  with_binary(const std::vector<std::string>& args) {
    std::vector<std::string> argv{TUTTI_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
};

/// Runs `tutti args...` to its end; kills it after `timeout`.
inline run_result
run_tutti(const std::vector<std::string>& args, const environment& env,
          const std::filesystem::path& cwd,
          std::chrono::milliseconds timeout = std::chrono::seconds{10}) {
  tutti_process child{args, env, cwd};
  return child.wait(timeout);
}

} // namespace tutti::testing
