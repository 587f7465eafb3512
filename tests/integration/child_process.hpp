#pragma once

// A command as a child process of a test, with exactly the environment (plus
// the sanitizers' options, if set) and working directory the test gives it
// and /dev/null (or a file or FIFO the test names) as stdin; its stdout and
// stderr are collected while it runs so that it never blocks on a full pipe.
// tutti_process.hpp runs the `tutti` binary with it, postgres_server.hpp
// PostgreSQL's tools.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace tutti::testing {

/// What one run of the command left behind.
struct run_result {
  int exit_code = -1; ///< 128 + N when signal N ended it
  std::string out;
  std::string err;
  bool timed_out = false;
};

using environment = std::map<std::string, std::string>;

class child_process {
public:
  /// Starts `argv_text` (its first word a path) with `stdin_path` as its
  /// stdin (a FIFO's writer must open it for the child to start).
  child_process(std::vector<std::string> argv_text, const environment& env,
                const std::filesystem::path& cwd,
                const std::filesystem::path& stdin_path = "/dev/null") {
    // Everything the child needs is built before fork: after it, only
    // async-signal-safe calls.
    std::vector<char*> argv;
    for (auto& a : argv_text)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_text;
    for (auto& [name, value] : env)
      env_text.push_back(name + "=" + value);
    // The sanitizers' options belong to the run, not to the test: a
    // sanitizer build's child reports (and fails) as its parent does
    // (tools/ci/sanitizers.sh).
    for (const char* name :
         {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS"})
      if (const char* value = std::getenv(name);
          value != nullptr && env.count(name) == 0)
        env_text.push_back(std::string{name} + "=" + value);
    std::vector<char*> envp;
    for (auto& e : env_text)
      envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string dir = cwd.string();
    std::string in_path = stdin_path.string();

    int out_pipe[2];
    int err_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe2 failed");
    pid_ = fork();
    if (pid_ < 0)
      throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      int in = open(in_path.c_str(), O_RDONLY | O_CLOEXEC);
      if (in < 0 || dup2(in, 0) < 0 || dup2(out_pipe[1], 1) < 0 ||
          dup2(err_pipe[1], 2) < 0 || chdir(dir.c_str()) != 0)
        _exit(126);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    close(out_pipe[1]);
    close(err_pipe[1]);
    fds_[0] = {out_pipe[0], POLLIN, 0};
    fds_[1] = {err_pipe[0], POLLIN, 0};
  }

  ~child_process() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      reap();
    }
    for (auto& f : fds_)
      if (f.fd >= 0)
        close(f.fd);
  }

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  void signal(int sig) { ::kill(pid_, sig); }

  /// What the child has written to stdout so far (see `pump`).
  const std::string& out() const { return result_.out; }

  /// What the child has written to stderr so far (see `pump`).
  const std::string& err() const { return result_.err; }

  /// Collects output until `done()` holds, for at most `timeout`; false when
  /// it never did (or the child closed both pipes first).
  template <class Done>
  bool pump_until(Done done, std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= until || open_fds() == 0)
        return false;
      pump(std::chrono::milliseconds{10});
    }
    return true;
  }

  /// Collects output until stderr contains `text`, for at most `timeout`;
  /// false when it never came.
  bool pump_until_err(const std::string& text,
                      std::chrono::milliseconds timeout) {
    return pump_until(
        [&] { return result_.err.find(text) != std::string::npos; }, timeout);
  }

  /// Collects output for `duration`, or until the child closes both pipes.
  void pump(std::chrono::milliseconds duration) {
    auto until = std::chrono::steady_clock::now() + duration;
    while (open_fds() > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      until - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0)
        return;
      read_some(static_cast<int>(left));
    }
  }

  /// Collects output until the child ends; kills it (SIGKILL) when it has
  /// not ended after `timeout`.
  run_result wait(std::chrono::milliseconds timeout) {
    pump(timeout);
    if (open_fds() > 0) {
      result_.timed_out = true;
      ::kill(pid_, SIGKILL);
    }
    reap();
    return result_;
  }

private:
  int open_fds() const {
    return (fds_[0].fd >= 0 ? 1 : 0) + (fds_[1].fd >= 0 ? 1 : 0);
  }

  void read_some(int timeout_ms) {
    int ready = poll(fds_, 2, timeout_ms);
    if (ready < 0 && errno != EINTR)
      throw std::runtime_error("poll failed");
    std::string* sinks[2] = {&result_.out, &result_.err};
    for (int i = 0; i < 2 && ready > 0; ++i) {
      if (fds_[i].fd < 0 || fds_[i].revents == 0)
        continue;
      char buf[4096];
      ssize_t n = read(fds_[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds_[i].fd);
        fds_[i].fd = -1;
      }
    }
  }

  void reap() {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    if (WIFEXITED(status))
      result_.exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
      result_.exit_code = 128 + WTERMSIG(status);
  }

  pid_t pid_ = -1;
  bool reaped_ = false;
  pollfd fds_[2] = {{-1, POLLIN, 0}, {-1, POLLIN, 0}};
  run_result result_;
};

} // namespace tutti::testing
