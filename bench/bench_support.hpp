#pragma once

// What every benchmark here prints with: nearest-rank summaries, fixed-width
// table rows, the machine facts read from /proc, and CPU time per thread.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/utsname.h>

#include <ctime>
#include <thread>

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

inline std::string fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

inline std::string signed_fixed(double value, int decimals) {
  return (value >= 0 ? "+" : "") + fixed(value, decimals);
}

/// One row: a label padded to 40 columns, then right-aligned cells.
inline void row(const std::string& label,
                const std::vector<std::string>& cells) {
  std::string line = "  " + label;
  if (line.size() < 42)
    line.resize(42, ' ');
  for (auto& cell : cells) {
    std::string padded = cell;
    if (padded.size() < 10)
      padded.insert(0, 10 - padded.size(), ' ');
    line += padded;
  }
  std::cout << line << '\n';
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

inline std::string read_first_line(const std::string& path) {
  std::ifstream in{path};
  std::string line;
  std::getline(in, line);
  return line;
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
