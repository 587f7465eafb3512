#pragma once

// What every benchmark here prints with: nearest-rank summaries, fixed-width
// table rows, the machine facts read from /proc, and CPU time per thread;
// and what they run with: their command line, files, child processes.

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ctime>
#include <thread>

// Set by bench/CMakeLists.txt; these stand in for a build outside it.
#ifndef TUTTI_BENCH_DIR
#define TUTTI_BENCH_DIR "bench"
#endif
#ifndef TUTTI_BUILD_TYPE
#define TUTTI_BUILD_TYPE "unknown"
#endif
#ifndef TUTTI_BIN
#define TUTTI_BIN "tutti"
#endif

namespace tutti::bench {

struct summary {
  size_t n = 0;
  double min = 0;
  double p50 = 0;
  double p99 = 0;
  double max = 0;
  double mean = 0;
};

/// Nearest-rank percentile of sorted samples, `p` in (0, 100]; 0 if empty.
inline double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty())
    return 0;
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * sorted.size()));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

inline summary summarize(std::vector<double> samples) {
  summary s;
  if (samples.empty())
    return s;
  std::sort(samples.begin(), samples.end());
  s.n = samples.size();
  s.min = samples.front();
  s.max = samples.back();
  s.p50 = percentile(samples, 50);
  s.p99 = percentile(samples, 99);
  s.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / s.n;
  return s;
}

/// The nearest-rank median (`summarize`'s p50); 0 if empty.
inline double nearest_rank_median(std::vector<double> samples) {
  return samples.empty() ? 0 : summarize(std::move(samples)).p50;
}

inline std::string fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

inline std::string signed_fixed(double value, int decimals) {
  return (value >= 0 ? "+" : "") + fixed(value, decimals);
}

/// One row, indented by 2: a label padded to `label_width` columns, then
/// cells right-aligned in `cell_width` each.
inline void row(const std::string& label, const std::vector<std::string>& cells,
                size_t label_width = 40, size_t cell_width = 10) {
  std::string line = "  " + label;
  if (line.size() < label_width + 2)
    line.resize(label_width + 2, ' ');
  for (auto& cell : cells) {
    std::string padded = cell;
    if (padded.size() < cell_width)
      padded.insert(0, cell_width - padded.size(), ' ');
    line += padded;
  }
  std::cout << line << '\n';
}

/// "####...." scaled so that `max_value` fills `width` columns; at least one
/// '#'.
inline std::string scaled_bar(double value, double max_value, int width = 40) {
  int n = max_value > 0 ? static_cast<int>(value / max_value * width + 0.5) : 0;
  return std::string(static_cast<size_t>(std::clamp(n, 1, width)), '#');
}

/// The value after "key:" on the first line of `path` starting with `key`.
inline std::string first_line_with(const std::string& path,
                                   const std::string& key) {
  std::ifstream in{path};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) {
      auto colon = line.find(':');
      if (colon == std::string::npos)
        return line;
      auto value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      return value;
    }
  return "unknown";
}

/// A number of a process's /proc/PID/status ("VmRSS" and "VmHWM" in KiB,
/// "Threads"); 0 once the process is gone.
inline long proc_status_number(pid_t pid, const std::string& field) {
  return std::atol(
      first_line_with("/proc/" + std::to_string(pid) + "/status", field + ":")
          .c_str());
}

/// A process's open file descriptors now (/proc/PID/fd); 0 once it is gone.
inline long open_fds(pid_t pid) {
  long n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(
           "/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

inline std::string read_first_line(const std::string& path) {
  std::ifstream in{path};
  std::string line;
  std::getline(in, line);
  return line;
}

/// The whole of a file; empty when it cannot be read.
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, {}};
}

/// The last `n` lines of a file, each indented by 4, for a failure message.
inline std::string tail_of(const std::filesystem::path& path, size_t n) {
  std::vector<std::string> lines;
  std::istringstream in{read_file(path)};
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  std::string out;
  for (size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size();
       ++i)
    out += "    " + lines[i] + '\n';
  return out;
}

/// The first line of `command`'s stdout (run by the shell), or "unknown".
inline std::string first_line_of_command(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe{popen(command.c_str(), "r"),
                                             pclose};
  char buf[256] = {0};
  if (!pipe || std::fgets(buf, sizeof buf, pipe.get()) == nullptr)
    return "unknown";
  std::string line = buf;
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
    line.pop_back();
  return line.empty() ? "unknown" : line;
}

/// A new directory /tmp/`name`.XXXXXX for a run's files.
inline std::filesystem::path make_work_dir(const std::string& name) {
  std::string path = "/tmp/" + name + ".XXXXXX";
  if (mkdtemp(path.data()) == nullptr)
    throw std::runtime_error("mkdtemp failed");
  return path;
}

/// Removes a run's directory, or says where it is when `keep`.
inline void remove_work_dir(const std::filesystem::path& dir, bool keep) {
  if (keep) {
    std::cout << "kept " << dir.string() << '\n';
  } else {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
}

/// "Paris is the capital of France." repeated to `words` words: a model's
/// reply of a chosen length (an answer of a few paragraphs is 200 to 500
/// words).
inline std::string reply_of_words(int words) {
  static const char* sentence[] = {"Paris",   "is", "the",
                                   "capital", "of", "France."};
  std::string text;
  for (int i = 0; i < words; ++i)
    text += (i > 0 ? " " : "") + std::string{sentence[i % 6]};
  return text;
}

/// The environment entry that gives a `tutti` child its default store (and
/// any other data) under `dir`, the benchmark's own work directory, rather
/// than in the user's $XDG_DATA_HOME: the child still runs with the store
/// on, as users do, and its records go with the directory.
inline std::string data_home_in(const std::filesystem::path& dir) {
  return "XDG_DATA_HOME=" + (dir / "data").string();
}

/// Starts `args` as a child process in a process group of its own (so that
/// stopping the group stops whatever it starts), with stdin from /dev/null,
/// stdout and stderr to `out_path` and `err_path`, this process's
/// environment after `extra_env` ("NAME=value"), and `cwd` as its working
/// directory unless empty. `args[0]` is looked up on PATH unless it holds a
/// '/'. Returns its pid.
inline pid_t start_child(const std::vector<std::string>& args,
                         const std::vector<std::string>& extra_env,
                         const std::filesystem::path& out_path,
                         const std::filesystem::path& err_path,
                         const std::filesystem::path& cwd = {}) {
  // Everything the child needs is made before fork: a benchmark runs many
  // threads, so the child may only make async-signal-safe calls.
  std::vector<std::string> argv_text = args;
  std::vector<char*> argv;
  for (auto& a : argv_text)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_text = extra_env;
  for (char** e = environ; *e != nullptr; ++e)
    env_text.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& e : env_text)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string dir = cwd.string();
  int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out =
      ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err =
      ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  auto close_all = [&] {
    for (int fd : {in, out, err})
      if (fd >= 0)
        ::close(fd);
  };
  if (in < 0 || out < 0 || err < 0) {
    close_all();
    throw std::runtime_error("cannot open the child's stdin/stdout/stderr (" +
                             out_path.string() + ", " + err_path.string() +
                             ")");
  }
  pid_t pid = fork();
  if (pid < 0) {
    close_all();
    throw std::runtime_error(std::string{"fork failed: "} +
                             std::strerror(errno));
  }
  if (pid == 0) {
    setpgid(0, 0);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0 ||
        (!dir.empty() && chdir(dir.c_str()) != 0))
      _exit(126);
    execvpe(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  setpgid(pid, pid); // as the child does: whichever runs first
  close_all();
  return pid;
}

/// User + system CPU seconds of process `pid` so far, all its threads
/// (/proc/PID/stat, in clock ticks); 0 when it is gone.
inline double child_cpu_s(pid_t pid) {
  std::string text = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto paren = text.rfind(')'); // the command name may hold spaces
  if (paren == std::string::npos)
    return 0;
  std::istringstream fields{text.substr(paren + 2)};
  std::string field;
  double ticks = 0;
  // After the name: state (3) ... utime (14), stime (15).
  for (int i = 3; i <= 15 && fields >> field; ++i)
    if (i == 14 || i == 15)
      ticks += std::atof(field.c_str());
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

/// A child process started with its stdout and stderr going to files, in a
/// process group of its own; stopped (SIGTERM, then SIGKILL after 5 s) by
/// `stop` or the destructor.
class child_process {
public:
  child_process(const std::vector<std::string>& args,
                const std::vector<std::string>& extra_env,
                const std::filesystem::path& out_path,
                const std::filesystem::path& err_path)
      : pid_{start_child(args, extra_env, out_path, err_path)},
        out_path_{out_path}, err_path_{err_path} {
    // nop
  }

  ~child_process() { stop(); }

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }

  /// Whether it is still running (reaps it when it is not).
  bool running() {
    if (pid_ <= 0)
      return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      note_exit(status);
      return false;
    }
    return true;
  }

  /// How it ended: its exit code, 128 + N after signal N; -1 while it runs
  /// (or when it was killed by `stop` after its grace).
  int exit_code() const { return exit_code_; }

  std::string errors() const { return read_file(err_path_); }

  /// Stops its process group: SIGTERM, then SIGKILL after 5 s.
  void stop() {
    if (!running())
      return;
    ::kill(-pid_, SIGTERM);
    for (int nap = 0; nap < 500; ++nap) {
      if (!running())
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    ::kill(-pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

private:
  void note_exit(int status) {
    pid_ = -1;
    if (WIFEXITED(status))
      exit_code_ = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
      exit_code_ = 128 + WTERMSIG(status);
  }

public:
  std::string output() const { return read_file(out_path_); }

  /// Why it is not usable: its stderr and stdout, last lines.
  std::string describe_failure(const std::string& what) const {
    return what + "\n  stderr:\n" + tail_of(err_path_, 8) + "  stdout:\n" +
           tail_of(out_path_, 8);
  }

private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::filesystem::path out_path_;
  std::filesystem::path err_path_;
};

/// Waits (at most `timeout`) for `child` to print a line starting with
/// `banner` followed by a URL; returns the URL.
inline std::string wait_for_banner(child_process& child,
                                   const std::string& banner,
                                   std::chrono::seconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    std::istringstream lines{child.output()};
    for (std::string line; std::getline(lines, line);)
      if (line.rfind(banner, 0) == 0) {
        auto url = line.substr(banner.size());
        url.erase(0, url.find_first_not_of(' '));
        while (!url.empty() && (url.back() == '\r' || url.back() == ' '))
          url.pop_back();
        return url;
      }
    if (!child.running())
      throw std::runtime_error(
          child.describe_failure("exited before printing '" + banner + "'"));
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  throw std::runtime_error(
      child.describe_failure("did not print '" + banner + "' within " +
                             std::to_string(timeout.count()) + " s"));
}

/// Renames the calling thread; threads it starts afterwards inherit the name
/// (Linux copies it on clone), which is how CPU time is told apart by
/// `threads_cpu`.
inline void name_this_thread(const char* name) {
  pthread_setname_np(pthread_self(), name);
}

/// One live thread's name and CPU time.
struct thread_cpu {
  std::string name;
  double cpu_s = 0;
};

/// CPU time of every live thread, by thread id, with its name. From
/// /proc/self/task/TID/schedstat (nanoseconds on a CPU): the utime and stime
/// of .../stat are sampled at the clock tick and miss most of the time of
/// threads that run briefly and often, as these do.
inline std::map<long, thread_cpu> threads_cpu() {
  std::map<long, thread_cpu> out;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr)
    return out;
  while (auto* entry = readdir(dir)) {
    if (entry->d_name[0] == '.')
      continue;
    std::string task = std::string{"/proc/self/task/"} + entry->d_name;
    thread_cpu t;
    t.name = read_first_line(task + "/comm");
    std::ifstream in{task + "/schedstat"};
    double ns = 0;
    if (!(in >> ns))
      continue;
    t.cpu_s = ns / 1e9;
    out.emplace(std::atol(entry->d_name), std::move(t));
  }
  closedir(dir);
  return out;
}

/// CPU seconds of the whole process so far.
inline double process_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

/// The first lines every benchmark prints: its name, the date, the cores
/// it may run on and the CPU. Each adds its own lines (load, build,
/// settings) after them.
inline void print_machine_head(const std::string& bench) {
  cpu_set_t set;
  CPU_ZERO(&set);
  int cores = sched_getaffinity(0, sizeof set, &set) == 0
                  ? CPU_COUNT(&set)
                  : static_cast<int>(std::thread::hardware_concurrency());
  char date[64];
  std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
  utsname uts{};
  uname(&uts);
  std::cout << "tutti " << bench << "\n"
            << "  date      " << date << '\n'
            << "  nproc     " << cores << " (" << uts.sysname << ' '
            << uts.release << ' ' << uts.machine << ")\n"
            << "  cpu       " << first_line_with("/proc/cpuinfo", "model name")
            << '\n';
}

/// Reads the command line flag by flag: `take(arg, value)` handles flag
/// `arg` and returns false when it does not know it; `value()` takes the
/// argument after the flag (a missing one is an error). `--help` or `-h`
/// prints `usage` and exits 0. Errors are `std::invalid_argument`, which
/// `bench_main` reports with the usage.
template <class Usage, class Take>
void parse_flags(int argc, char** argv, Usage usage, Take take) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc)
        throw std::invalid_argument(arg + ": missing value");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      usage(std::cout);
      std::exit(0);
    }
    if (!take(arg, value))
      throw std::invalid_argument("unknown argument '" + arg + "'");
  }
}

/// `text` as an integer from `low` to `high`; `flag` names it in the error.
inline int int_flag(const std::string& flag, const char* text, long low,
                    long high) {
  char* end = nullptr;
  long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < low || value > high)
    throw std::invalid_argument(flag + ": expected an integer from " +
                                std::to_string(low) + " to " +
                                std::to_string(high) + ", got '" + text + "'");
  return static_cast<int>(value);
}

/// The `main` of every benchmark: `run(parse(argc, argv))`; a bad flag
/// (`std::invalid_argument`) prints the usage and exits 2, any other error
/// exits 1 with a `FAILED:` line, as a failed check does.
template <class Parse, class Run, class Usage>
int bench_main(const char* name, int argc, char** argv, Parse parse, Run run,
               Usage usage) {
  try {
    return run(parse(argc, argv));
  } catch (const std::invalid_argument& e) {
    std::cerr << name << ": " << e.what() << '\n';
    usage(std::cerr);
    return 2;
  } catch (const std::exception& e) {
    std::cerr << name << ": " << e.what() << '\n';
    std::cout << "FAILED: " << e.what() << '\n';
    return 1;
  }
}

} // namespace tutti::bench
