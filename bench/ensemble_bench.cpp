// ensemble_bench: where tutti's speed is measured (tests never assert it).
//
// Against the fake upstream, in-process on loopback:
//   1. fan-out vs a serial loop: three members of 300 ms each, asked at once
//      by one ensemble and one after the other as single-member ensembles;
//   2. engine overhead: sequential questions to a 0-latency fake model, tutti
//      against plain libcurl to the same URL (1 member, then 5 members);
//   3. the Python asyncio baseline (asyncio.gather over aiohttp), when
//      Debian's python3-aiohttp is installed.
// Prints a plain table on stdout. See docs/benchmarks.md.

#include <curl/curl.h>
#include <sched.h>
#include <sys/utsname.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_support.hpp"
#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/config.hpp"
#include "tutti/engine.hpp"

using namespace tutti::bench;

#ifndef TUTTI_BENCH_DIR
#define TUTTI_BENCH_DIR "bench"
#endif
#ifndef TUTTI_BUILD_TYPE
#define TUTTI_BUILD_TYPE "unknown"
#endif

namespace {

// --- command line -----------------------------------------------------------

struct bench_options {
  int rounds = 10;     ///< fan-out rounds (and asyncio rounds)
  int questions = 500; ///< sequential questions per overhead case
  int warmup = 20;     ///< overhead questions thrown away first
  bool python = true;
  std::string python_bin = "/usr/bin/python3";
};

void usage(std::ostream& out) {
  out << "usage: ensemble_bench [--rounds N] [--questions N] [--no-python]\n"
         "  --rounds N     fan-out rounds, 3 x 300 ms members (default 10)\n"
         "  --questions N  sequential questions per overhead case "
         "(default 500)\n"
         "  --no-python    skip the Python asyncio baseline\n";
}

int positive_int(const std::string& flag, const char* text) {
  char* end = nullptr;
  long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < 1 || value > 1'000'000)
    throw std::invalid_argument(flag + ": expected a positive integer, got '" +
                                text + "'");
  return static_cast<int>(value);
}

bench_options parse_args(int argc, char** argv) {
  bench_options opts;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc)
        throw std::invalid_argument(arg + ": missing value");
      return argv[++i];
    };
    if (arg == "--rounds")
      opts.rounds = positive_int(arg, value());
    else if (arg == "--questions")
      opts.questions = positive_int(arg, value());
    else if (arg == "--no-python")
      opts.python = false;
    else if (arg == "--help" || arg == "-h") {
      usage(std::cout);
      std::exit(0);
    } else
      throw std::invalid_argument("unknown argument '" + arg + "'");
  }
  return opts;
}

// --- statistics
// ---------------------------------------------------------------

using clock_type = std::chrono::steady_clock;

double elapsed_us(clock_type::time_point start) {
  return std::chrono::duration<double, std::micro>(clock_type::now() - start)
      .count();
}

template <class F>
double time_us(F&& f) {
  auto start = clock_type::now();
  f();
  return elapsed_us(start);
}

// --- output
// -------------------------------------------------------------------

void row_ms(const std::string& label, const summary& s) {
  row(label,
      {fixed(s.p50 / 1000, 1), fixed(s.min / 1000, 1), fixed(s.max / 1000, 1)});
}

void row_us(const std::string& label, const summary& s) {
  row(label, {fixed(s.p50, 0), fixed(s.p99, 0), fixed(s.mean, 0)});
}

// --- machine facts
// --------------------------------------------------------------

void print_machine_facts(const bench_options& opts) {
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
  auto* curl = curl_version_info(CURLVERSION_NOW);
  std::cout << "tutti ensemble_bench\n"
            << "  date      " << date << '\n'
            << "  nproc     " << cores << " (" << uts.sysname << ' '
            << uts.release << ' ' << uts.machine << ")\n"
            << "  cpu       " << first_line_with("/proc/cpuinfo", "model name")
            << '\n'
            << "  loadavg   " << read_first_line("/proc/loadavg") << '\n'
            << "  build     " << TUTTI_BUILD_TYPE << ", libcurl "
            << curl->version << '\n'
            << "  settings  --rounds " << opts.rounds << " --questions "
            << opts.questions << '\n';
}

// --- the fake upstream and the engine's config
// --------------------------------

constexpr int fast_members = 5;

const char* upstream_script = R"(
models:
  slow-a: {reply: "Alpha answers.", latency: 300ms}
  slow-b: {reply: "Bravo answers.", latency: 300ms}
  slow-c: {reply: "Charlie answers.", latency: 300ms}
default: {reply: "Paris is the capital of France.", latency: 0ms}
)";

const std::vector<std::string> slow_models = {"slow-a", "slow-b", "slow-c"};

std::string fast_model(int i) {
  return "fast-" + std::to_string(i);
}

std::string members_list(const std::vector<std::string>& names) {
  std::string list = "[";
  for (size_t i = 0; i < names.size(); ++i)
    list += (i > 0 ? ", " : "") + names[i];
  return list + "]";
}

/// Providers named after their fake models; ensembles `fan_out` (the three
/// slow members), `solo_<model>` (one each), `one_fast` and `five_fast`.
tutti::config make_config(const std::string& base_url) {
  std::vector<std::string> fast;
  for (int i = 1; i <= fast_members; ++i)
    fast.push_back(fast_model(i));
  std::string yaml = "providers:\n";
  auto add_provider = [&](const std::string& model) {
    yaml += "  " + model + ": {kind: openai, model: " + model +
            ", base_url: \"" + base_url + "\", api_key: sk-bench}\n";
  };
  for (auto& m : slow_models)
    add_provider(m);
  for (auto& m : fast)
    add_provider(m);
  yaml += "ensembles:\n";
  auto add_ensemble = [&](const std::string& name,
                          const std::vector<std::string>& members) {
    yaml += "  " + name + ": {members: " + members_list(members) +
            ", deadline: 30s}\n";
  };
  add_ensemble("fan_out", slow_models);
  for (auto& m : slow_models)
    add_ensemble("solo_" + m, {m});
  add_ensemble("one_fast", {fast.front()});
  add_ensemble("five_fast", fast);
  return tutti::parse_config(yaml, "ensemble_bench.yaml");
}

/// Counts questions that did not come back ok: a benchmark that measures
/// failures would measure the wrong thing, so any failure fails the run.
struct failure_count {
  int count = 0;
  std::string first;

  void check(const tutti::ensemble_answer& answer) {
    if (answer.status == tutti::answer_status::ok)
      return;
    if (count++ == 0) {
      std::ostringstream out;
      out << answer.ensemble << ": " << answer.status;
      for (auto& m : answer.members)
        if (!m.ok)
          out << "; " << m.member << ": " << m.error.kind << ": "
              << m.error.message;
      first = out.str();
    }
  }
};

// --- plain libcurl baselines
// ---------------------------------------------------

size_t append_body(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

/// One easy handle, reused for every request, so the connection stays open:
/// the cheapest way a C++ program can ask the fake one question.
class curl_client {
public:
  curl_client(const std::string& base_url, const std::string& model)
      : url_(base_url + "/chat/completions"),
        body_(
            R"({"model":")" + model +
            R"(","messages":[{"role":"user","content":"What is the capital of France?"}]})") {
    easy_ = curl_easy_init();
    if (easy_ == nullptr)
      throw std::runtime_error("curl_easy_init failed");
    headers_ = curl_slist_append(headers_, "Content-Type: application/json");
    headers_ = curl_slist_append(headers_, "Authorization: Bearer sk-bench");
    headers_ = curl_slist_append(headers_, "Expect:");
    curl_easy_setopt(easy_, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, body_.data());
    curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(body_.size()));
    curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(easy_, CURLOPT_WRITEDATA, &response_);
    curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy_, CURLOPT_TCP_NODELAY, 1L);
  }

  ~curl_client() {
    curl_easy_cleanup(easy_);
    curl_slist_free_all(headers_);
  }

  curl_client(const curl_client&) = delete;
  curl_client& operator=(const curl_client&) = delete;

  CURL* handle() { return easy_; }

  void reset_response() { response_.clear(); }

  /// The transfer's HTTP status, or 0 on a transport error.
  long status() {
    long code = 0;
    curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &code);
    return code;
  }

  /// One blocking request; true on HTTP 200.
  bool post() {
    reset_response();
    if (curl_easy_perform(easy_) != CURLE_OK)
      return false;
    return status() == 200;
  }

private:
  std::string url_;
  std::string body_;
  std::string response_;
  CURL* easy_ = nullptr;
  curl_slist* headers_ = nullptr;
};

/// Several reused easy handles on one multi handle: the plain libcurl way to
/// send N requests at once and wait for all of them.
class curl_fan_out {
public:
  curl_fan_out(const std::string& base_url,
               const std::vector<std::string>& models) {
    multi_ = curl_multi_init();
    for (auto& m : models)
      clients_.push_back(std::make_unique<curl_client>(base_url, m));
  }

  ~curl_fan_out() {
    clients_.clear();
    curl_multi_cleanup(multi_);
  }

  curl_fan_out(const curl_fan_out&) = delete;
  curl_fan_out& operator=(const curl_fan_out&) = delete;

  /// All requests at once; true when every one answered HTTP 200.
  bool post_all() {
    for (auto& c : clients_) {
      c->reset_response();
      curl_multi_add_handle(multi_, c->handle());
    }
    int running = 1;
    bool ok = true;
    while (running > 0) {
      if (curl_multi_perform(multi_, &running) != CURLM_OK) {
        ok = false;
        break;
      }
      if (running > 0)
        curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
    }
    int left = 0;
    while (auto* msg = curl_multi_info_read(multi_, &left))
      if (msg->msg == CURLMSG_DONE && msg->data.result != CURLE_OK)
        ok = false;
    for (auto& c : clients_) {
      ok = ok && c->status() == 200;
      curl_multi_remove_handle(multi_, c->handle());
    }
    return ok;
  }

private:
  CURLM* multi_ = nullptr;
  std::vector<std::unique_ptr<curl_client>> clients_;
};

// --- 1. fan-out vs a serial loop
// -------------------------------------------------

struct fan_out_result {
  summary parallel;
  summary serial;
};

fan_out_result bench_fan_out(tutti::engine& eng, int rounds,
                             failure_count& failures) {
  auto ask_parallel = [&] { failures.check(eng.ask("fan_out", "Who?")); };
  auto ask_serial = [&] {
    for (auto& m : slow_models)
      failures.check(eng.ask("solo_" + m, "Who?"));
  };
  // Warm-up: starts the providers and opens the connections.
  ask_parallel();
  ask_serial();
  std::vector<double> parallel;
  std::vector<double> serial;
  for (int r = 0; r < rounds; ++r) {
    // Alternate which goes first, so that neither always runs right after
    // the other.
    if (r % 2 == 0) {
      parallel.push_back(time_us(ask_parallel));
      serial.push_back(time_us(ask_serial));
    } else {
      serial.push_back(time_us(ask_serial));
      parallel.push_back(time_us(ask_parallel));
    }
  }
  return {summarize(parallel), summarize(serial)};
}

// --- 2. engine overhead
// ------------------------------------------------------------

struct overhead_result {
  summary curl_one;
  summary tutti_one;
  summary curl_five;
  summary tutti_five;
};

overhead_result bench_overhead(tutti::engine& eng, const std::string& base_url,
                               const bench_options& opts,
                               failure_count& failures, int& curl_failures) {
  curl_client one{base_url, fast_model(1)};
  std::vector<std::string> models;
  for (int i = 1; i <= fast_members; ++i)
    models.push_back(fast_model(i));
  curl_fan_out five{base_url, models};

  auto curl_one = [&] { curl_failures += one.post() ? 0 : 1; };
  auto tutti_one = [&] {
    failures.check(eng.ask("one_fast", "What is the capital of France?"));
  };
  auto curl_five = [&] { curl_failures += five.post_all() ? 0 : 1; };
  auto tutti_five = [&] {
    failures.check(eng.ask("five_fast", "What is the capital of France?"));
  };
  for (int i = 0; i < opts.warmup; ++i) {
    curl_one();
    tutti_one();
    curl_five();
    tutti_five();
  }
  // Interleaved, so that a noisy neighbour hits every column alike.
  std::vector<double> s_curl_one, s_tutti_one, s_curl_five, s_tutti_five;
  for (int i = 0; i < opts.questions; ++i) {
    s_curl_one.push_back(time_us(curl_one));
    s_tutti_one.push_back(time_us(tutti_one));
    s_curl_five.push_back(time_us(curl_five));
    s_tutti_five.push_back(time_us(tutti_five));
  }
  return {summarize(s_curl_one), summarize(s_tutti_one), summarize(s_curl_five),
          summarize(s_tutti_five)};
}

// --- 3. the Python asyncio baseline
// --------------------------------------------

struct python_result {
  std::string skipped; ///< why it did not run; empty when it ran
  summary gather;      ///< asyncio.gather over the three slow models
  summary sequential;  ///< one aiohttp post at a time to the fast model
};

python_result bench_python(const bench_options& opts,
                           const std::string& base_url) {
  python_result result;
  if (!opts.python) {
    result.skipped = "skipped: --no-python";
    return result;
  }
  if (std::system(("test -x " + opts.python_bin).c_str()) != 0) {
    result.skipped = "skipped: " + opts.python_bin + " not found";
    return result;
  }
  if (std::system("dpkg -s python3-aiohttp >/dev/null 2>&1") != 0) {
    result.skipped = "skipped: python3-aiohttp not installed";
    return result;
  }
  std::string script = TUTTI_BENCH_DIR "/asyncio_baseline.py";
  std::string command = opts.python_bin + " " + script + " --base-url " +
                        base_url + " --models slow-a,slow-b,slow-c" +
                        " --rounds " + std::to_string(opts.rounds) +
                        " --fast-model " + fast_model(1) + " --questions " +
                        std::to_string(opts.questions) + " 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe{popen(command.c_str(), "r"),
                                             pclose};
  if (!pipe) {
    result.skipped = "skipped: cannot run " + command;
    return result;
  }
  std::vector<double> gather;
  std::vector<double> sequential;
  std::string other;
  char buf[512];
  while (std::fgets(buf, sizeof buf, pipe.get()) != nullptr) {
    std::istringstream line{buf};
    std::string key;
    double value = 0;
    if (line >> key >> value && key == "gather_us")
      gather.push_back(value);
    else if (key == "fast_us")
      sequential.push_back(value);
    else if (other.size() < 2000)
      other += buf;
  }
  int status = pclose(pipe.release());
  if (status != 0 || gather.empty()) {
    while (!other.empty() && other.back() == '\n')
      other.pop_back();
    result.skipped = "failed: " + (other.empty() ? command : other);
    return result;
  }
  result.gather = summarize(gather);
  result.sequential = summarize(sequential);
  return result;
}

// --- the report
// ---------------------------------------------------------------------

/// "####...." scaled so that `max_value` fills `width` columns.
std::string bar(double value, double max_value, int width = 40) {
  int n = max_value > 0 ? static_cast<int>(value / max_value * width + 0.5) : 0;
  return std::string(static_cast<size_t>(std::clamp(n, 1, width)), '#');
}

int run(const bench_options& opts) {
  print_machine_facts(opts);

  // Enough threads for every connection the engine, the libcurl baselines
  // and Python keep open at once (each idle keep-alive connection holds one).
  constexpr int upstream_threads = 64;
  tutti::fake::server upstream{tutti::fake::parse_script(upstream_script), "",
                               upstream_threads};
  upstream.start();
  auto base_url = upstream.base_url();
  std::cout << "  upstream  tutti::fake::server in-process, "
            << upstream_threads << " threads, " << base_url << "\n\n";

  curl_global_init(CURL_GLOBAL_DEFAULT);
  failure_count failures;
  int curl_failures = 0;
  fan_out_result fan;
  overhead_result over;
  {
    tutti::engine eng{make_config(base_url)};

    std::cout << "1. Fan-out vs a serial loop: 3 members, fake latency 300 ms "
                 "each, "
              << opts.rounds << " rounds\n";
    std::cout.flush();
    fan = bench_fan_out(eng, opts.rounds, failures);
    row("", {"p50 ms", "min ms", "max ms"});
    row_ms("tutti ensemble, 3 members at once", fan.parallel);
    row_ms("serial loop, 3 single-member asks", fan.serial);
    row("serial / parallel (p50)",
        {fixed(fan.serial.p50 / fan.parallel.p50, 2) + "x"});
    row("parallel - 300 ms (p50)",
        {signed_fixed((fan.parallel.p50 - 300'000) / 1000, 1) + " ms"});
    std::cout << '\n';
    std::cout << "   p50 wall time per round\n"
              << "   tutti fan-out  |" << bar(fan.parallel.p50, fan.serial.p50)
              << ' ' << fixed(fan.parallel.p50 / 1000, 0) << " ms\n"
              << "   serial loop    |" << bar(fan.serial.p50, fan.serial.p50)
              << ' ' << fixed(fan.serial.p50 / 1000, 0) << " ms\n\n";

    std::cout << "2. Engine overhead: fake latency 0 ms, " << opts.questions
              << " sequential questions each (after " << opts.warmup
              << " warm-up), interleaved\n";
    std::cout.flush();
    over = bench_overhead(eng, base_url, opts, failures, curl_failures);
    row("", {"p50 us", "p99 us", "mean us"});
    row_us("libcurl easy, reused handle", over.curl_one);
    row_us("tutti, 1-member ensemble", over.tutti_one);
    row("overhead, 1 member",
        {signed_fixed(over.tutti_one.p50 - over.curl_one.p50, 0),
         signed_fixed(over.tutti_one.p99 - over.curl_one.p99, 0),
         signed_fixed(over.tutti_one.mean - over.curl_one.mean, 0)});
    row_us("libcurl multi, 5 reused handles", over.curl_five);
    row_us("tutti, 5-member ensemble", over.tutti_five);
    row("overhead, 5 members",
        {signed_fixed(over.tutti_five.p50 - over.curl_five.p50, 0),
         signed_fixed(over.tutti_five.p99 - over.curl_five.p99, 0),
         signed_fixed(over.tutti_five.mean - over.curl_five.mean, 0)});
    std::cout << '\n';
  }

  std::cout << "3. Python asyncio baseline (asyncio.gather over aiohttp, "
               "/usr/bin/python3)\n";
  std::cout.flush();
  auto py = bench_python(opts, base_url);
  if (!py.skipped.empty()) {
    std::cout << "  " << py.skipped << '\n';
  } else {
    row("", {"p50 ms", "min ms", "max ms"});
    row_ms("asyncio.gather, 3 x 300 ms", py.gather);
    row_ms("tutti ensemble (from 1.)", fan.parallel);
    row("", {"p50 us", "p99 us", "mean us"});
    row_us("aiohttp, 1 post at a time, 0 ms", py.sequential);
    row_us("tutti, 1-member ensemble (from 2.)", over.tutti_one);
  }
  std::cout << '\n';
  curl_global_cleanup();

  if (failures.count > 0 || curl_failures > 0) {
    std::cout << "FAILED: " << failures.count << " tutti questions and "
              << curl_failures
              << " libcurl requests did not succeed; the figures above are "
                 "not valid\n";
    if (!failures.first.empty())
      std::cout << "  first: " << failures.first << '\n';
    return 1;
  }
  std::cout << "all "
            << (opts.rounds + 1) * 4 + (opts.questions + opts.warmup) * 2
            << " tutti questions answered ok\n";
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  try {
    return run(parse_args(argc, argv));
  } catch (const std::invalid_argument& e) {
    std::cerr << "ensemble_bench: " << e.what() << '\n';
    usage(std::cerr);
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "ensemble_bench: " << e.what() << '\n';
    return 1;
  }
}
