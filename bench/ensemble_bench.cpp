// ensemble_bench: where tutti's speed is measured (tests never assert it).
//
// Against the fake upstream, in-process on loopback:
//   1. fan-out vs a serial loop: three members of 300 ms each, asked at once
//      by one ensemble and one after the other as single-member ensembles;
//   2. engine overhead: sequential questions to a 0-latency fake model, tutti
//      against plain libcurl to the same URL (1 member, then 5 members);
//   3. the Python asyncio baseline (asyncio.gather over aiohttp), when
//      Debian's python3-aiohttp is installed;
//   4. concurrent ensembles: 100 at once, 5 members of 50 ms each; each
//      ensemble's wall time over its slowest member's own time, against
//      plain libcurl doing the same.
// Prints a plain table on stdout. See docs/benchmarks.md.

#include <curl/curl.h>
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/utsname.h>

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <latch>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
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

namespace {

// --- command line -----------------------------------------------------------

struct bench_options {
  int rounds = 10;     ///< fan-out rounds (and asyncio rounds)
  int questions = 500; ///< sequential questions per overhead case
  int warmup = 20;     ///< overhead questions thrown away first
  bool python = true;
  std::string python_bin = "/usr/bin/python3";
  int ensembles = 100; ///< part 4: ensembles asked at once per burst
  int bursts = 20;     ///< part 4: bursts, after one warm-up burst
  int latency_ms = 50; ///< part 4: the fake's latency per member
  int workers = 0;     ///< part 4: CAF scheduler threads; 0: CAF default
  bool close = false;  ///< part 4: send `Connection: close`
  bool only_concurrent = false; ///< run part 4 alone
  /// part 4: one thread asks every ensemble through `start_ask`, instead of
  /// one thread per ensemble blocking on `ask`
  bool one_caller = false;
  /// part 4: the fake upstream's URL when it runs elsewhere (another
  /// process or host), serving `--concurrent-script`; empty: in-process
  std::string upstream;
  bool print_script = false; ///< print part 4's fake script and exit
};

void usage(std::ostream& out) {
  out << "usage: ensemble_bench [--rounds N] [--questions N] [--no-python]\n"
         "                      [--ensembles N] [--bursts N] [--latency-ms N]\n"
         "                      [--workers N] [--close] [--one-caller] "
         "[--concurrent-only]\n"
         "                      [--upstream URL] [--concurrent-script]\n"
         "  --rounds N        fan-out rounds, 3 x 300 ms members (default 10)\n"
         "  --questions N     sequential questions per overhead case "
         "(default 500)\n"
         "  --no-python       skip the Python asyncio baseline\n"
         "  --ensembles N     part 4: ensembles asked at once (default 100)\n"
         "  --bursts N        part 4: bursts of them (default 20)\n"
         "  --latency-ms N    part 4: fake latency per member (default 50)\n"
         "  --workers N       part 4: CAF scheduler threads (default: one "
         "per core, at least 4)\n"
         "  --close           part 4: send 'Connection: close' (a new "
         "connection per request)\n"
         "  --one-caller      part 4: one thread asks every ensemble "
         "(start_ask),\n"
         "                    not one thread per ensemble blocking on ask\n"
         "  --concurrent-only run part 4 alone\n"
         "  --upstream URL    part 4: use the fake upstream at URL (another "
         "process or\n"
         "                    host) instead of one in this process\n"
         "  --concurrent-script print the fake script part 4 needs (for "
         "tutti-fake-llm\n"
         "                    --script, with the same --latency-ms) and "
         "exit\n";
}

bench_options parse_args(int argc, char** argv) {
  bench_options opts;
  parse_flags(argc, argv, usage, [&](const std::string& arg, auto& value) {
    if (arg == "--rounds")
      opts.rounds = int_flag(arg, value(), 1, 1'000'000);
    else if (arg == "--questions")
      opts.questions = int_flag(arg, value(), 1, 1'000'000);
    else if (arg == "--no-python")
      opts.python = false;
    else if (arg == "--ensembles")
      opts.ensembles = int_flag(arg, value(), 1, 1'000'000);
    else if (arg == "--bursts")
      opts.bursts = int_flag(arg, value(), 1, 1'000'000);
    else if (arg == "--latency-ms")
      opts.latency_ms = int_flag(arg, value(), 1, 1'000'000);
    else if (arg == "--workers")
      opts.workers = int_flag(arg, value(), 1, 1'000'000);
    else if (arg == "--close")
      opts.close = true;
    else if (arg == "--one-caller")
      opts.one_caller = true;
    else if (arg == "--upstream")
      opts.upstream = value();
    else if (arg == "--concurrent-script")
      opts.print_script = true;
    else if (arg == "--concurrent-only")
      opts.only_concurrent = true;
    else
      return false;
    return true;
  });
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
  print_machine_head("ensemble_bench");
  auto* curl = curl_version_info(CURLVERSION_NOW);
  std::cout << "  loadavg   " << read_first_line("/proc/loadavg") << '\n'
            << "  build     " << TUTTI_BUILD_TYPE << ", libcurl "
            << curl->version << '\n'
            << "  settings  --rounds " << opts.rounds << " --questions "
            << opts.questions << " --ensembles " << opts.ensembles
            << " --bursts " << opts.bursts << " --latency-ms "
            << opts.latency_ms << " --workers " << opts.workers
            << (opts.close ? " --close" : "")
            << (opts.one_caller ? " --one-caller" : "")
            << (opts.upstream.empty() ? "" : " --upstream " + opts.upstream)
            << (opts.only_concurrent ? " --concurrent-only" : "") << '\n';
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
  /// `extra_header`, when not empty, is sent too ("Connection: close").
  curl_client(const std::string& base_url, const std::string& model,
              const std::string& extra_header = "")
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
    if (!extra_header.empty())
      headers_ = curl_slist_append(headers_, extra_header.c_str());
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

  /// The last transfer's own time, as libcurl measured it.
  double total_us() {
    curl_off_t us = 0;
    curl_easy_getinfo(easy_, CURLINFO_TOTAL_TIME_T, &us);
    return static_cast<double>(us);
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
               const std::vector<std::string>& models,
               const std::string& extra_header = "") {
    multi_ = curl_multi_init();
    for (auto& m : models)
      clients_.push_back(
          std::make_unique<curl_client>(base_url, m, extra_header));
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

  /// The longest of the last round's transfers, as libcurl measured them.
  double slowest_us() {
    double slowest = 0;
    for (auto& c : clients_)
      slowest = std::max(slowest, c->total_us());
    return slowest;
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
  auto ask_parallel = [&] { failures.check(eng.ask("fan_out", "Who?").get()); };
  auto ask_serial = [&] {
    for (auto& m : slow_models)
      failures.check(eng.ask("solo_" + m, "Who?").get());
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
    failures.check(eng.ask("one_fast", "What is the capital of France?").get());
  };
  auto curl_five = [&] { curl_failures += five.post_all() ? 0 : 1; };
  auto tutti_five = [&] {
    failures.check(
        eng.ask("five_fast", "What is the capital of France?").get());
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

// --- 4. concurrent ensembles: wall time over the slowest member
// ------------------------------------------------

constexpr int concurrent_members = 5;

/// tutti's providers use models `c-1` ... `c-5`, the libcurl baseline
/// `l-1` ... `l-5`, so the upstream's log tells their requests apart.
std::string concurrent_model(char who, int i) {
  return std::string{who} + "-" + std::to_string(i);
}

std::string concurrent_script(int latency_ms) {
  std::string yaml = "models:\n";
  for (char who : {'c', 'l'})
    for (int i = 1; i <= concurrent_members; ++i)
      yaml += "  " + concurrent_model(who, i) +
              ": {reply: \"Paris is the capital of France.\", latency: " +
              std::to_string(latency_ms) + "ms}\n";
  return yaml;
}

/// Providers c-1 ... c-5, each its own limit group with `concurrency`
/// permits (more than the ensembles asked at once, so the limiter never
/// makes a member wait) and no retries (a failure fails the run); the
/// ensemble `concurrent` asks all five, until all, combine collect.
tutti::config make_concurrent_config(const std::string& base_url,
                                     int concurrency, bool close) {
  std::string yaml = "providers:\n";
  std::vector<std::string> members;
  for (int i = 1; i <= concurrent_members; ++i) {
    auto model = concurrent_model('c', i);
    members.push_back(model);
    yaml +=
        "  " + model + ": {kind: openai, model: " + model + ", base_url: \"" +
        base_url +
        "\", api_key: sk-bench, concurrency: " + std::to_string(concurrency) +
        ", retry: {attempts: 1}" +
        (close ? ", headers: {Connection: close}" : "") + "}\n";
  }
  yaml += "ensembles:\n  concurrent: {members: " + members_list(members) +
          ", deadline: 30s}\n";
  return tutti::parse_config(yaml, "ensemble_bench_concurrent.yaml");
}

/// N threads that run a job all at once, burst after burst: each burst
/// starts when every thread is waiting at the start barrier, so the N calls
/// begin within the barrier's wake-up of each other.
class burst_runner {
public:
  explicit burst_runner(int threads) : start_(threads + 1), done_(threads + 1) {
    for (int i = 0; i < threads; ++i)
      threads_.emplace_back([this, i] { loop(i); });
  }

  ~burst_runner() {
    stop_ = true;
    start_.arrive_and_wait();
    for (auto& t : threads_)
      t.join();
  }

  burst_runner(const burst_runner&) = delete;
  burst_runner& operator=(const burst_runner&) = delete;

  /// Runs `job(i)` on thread i, every thread at once, and returns once
  /// every job has returned.
  void run(std::function<void(int)> job) {
    job_ = std::move(job);
    start_.arrive_and_wait();
    done_.arrive_and_wait();
  }

private:
  void loop(int i) {
    for (;;) {
      start_.arrive_and_wait();
      if (stop_)
        return;
      job_(i);
      done_.arrive_and_wait();
    }
  }

  std::barrier<> start_;
  std::barrier<> done_;
  // Written before the start barrier, read after it.
  std::function<void(int)> job_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

int64_t steady_us_of(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             t.time_since_epoch())
      .count();
}

// Every thread the process starts inherits its creator's name: naming the
// main thread before the fake and the engine start tells their threads apart
// below. CAF names its own ("caf.*").
constexpr const char* fake_thread_name = "fake";
constexpr const char* transport_thread_name = "transport";
constexpr const char* caller_thread_name = "caller";

/// CPU seconds by thread group between two `threads_cpu()` snapshots.
struct group_cpu {
  double transport = 0;
  double caf = 0;
  double callers = 0;
  double fake = 0;
  double other = 0;

  void add(const std::map<long, thread_cpu>& before,
           const std::map<long, thread_cpu>& after) {
    for (auto& [tid, now] : after) {
      auto then = before.find(tid);
      double s = now.cpu_s - (then == before.end() ? 0 : then->second.cpu_s);
      auto& name = now.name;
      if (name == transport_thread_name)
        transport += s;
      else if (name.rfind("caf.", 0) == 0)
        caf += s;
      else if (name == caller_thread_name)
        callers += s;
      else if (name == fake_thread_name)
        fake += s;
      else
        other += s;
    }
  }
};

/// One ensemble (or one libcurl fan-out) of a burst.
struct concurrent_sample {
  double skew_us = 0;    ///< burst released -> ask called
  double wall_us = 0;    ///< ask called -> answer returned
  double slowest_us = 0; ///< the slowest member's own total time
  // tutti only:
  double aggregator_us = 0;   ///< the answer's total_us (aggregator's time)
  double start_spread_us = 0; ///< latest minus earliest member start
  double first_start_us = 0;  ///< ask called -> first member started
  double last_start_us = 0;   ///< ask called -> last member started
  double after_last_us = 0;   ///< last member's outcome -> answer returned
  /// The slowest member's start after the ask, and its outcome's way back:
  /// together exactly `wall_us - slowest_us`.
  double slowest_start_us = 0;
  double slowest_after_us = 0;
  double call_us = 0;   ///< `ask` itself, until it returned the future
  double queued_us = 0; ///< longest permit wait of its members
};

struct concurrent_side {
  std::vector<concurrent_sample> samples;
  std::vector<double> reach_fake_us; ///< burst released -> request arrives
  std::vector<double> fake_extra_us; ///< fake's time per request - latency
  double cpu_s = 0;                  ///< whole process, over its bursts
  group_cpu threads;                 ///< the same by thread group
  int failures = 0;
  std::string first_failure;
};

struct concurrent_result {
  concurrent_side tutti;
  concurrent_side curl;
  double idle_cpu = 0;  ///< whole process, CPU s per s with nothing asked
  int concurrency = 0;  ///< permits per provider
  int fake_threads = 0; ///< the fake's request threads
};

/// A recorded burst: when it was released and when its last call returned.
struct burst_window {
  bool is_tutti = false;
  int64_t go_us = 0;
  int64_t end_us = 0;
};

/// The fake's view of one burst's requests (tutti's models start with 'c',
/// libcurl's with 'l').
void add_fake_view(concurrent_side& side,
                   const std::vector<tutti::fake::arrival>& log,
                   const burst_window& burst, int latency_ms) {
  const char who = burst.is_tutti ? 'c' : 'l';
  for (auto& a : log) {
    if (a.model.empty() || a.model[0] != who || a.steady_us < burst.go_us ||
        a.steady_us > burst.end_us)
      continue;
    side.reach_fake_us.push_back(
        static_cast<double>(a.steady_us - burst.go_us));
    side.fake_extra_us.push_back(
        static_cast<double>(a.finished_steady_us - a.steady_us) -
        latency_ms * 1000.0);
  }
}

concurrent_result bench_concurrent(const bench_options& opts) {
  concurrent_result result;
  const int n = opts.ensembles;
  const int connections = 2 * n * concurrent_members; // tutti's and curl's
  result.fake_threads = connections + 32;
  std::optional<tutti::fake::server> upstream;
  if (opts.upstream.empty()) {
    name_this_thread(fake_thread_name);
    upstream.emplace(
        tutti::fake::parse_script(concurrent_script(opts.latency_ms)), "",
        result.fake_threads);
    upstream->start();
  }
  auto base_url = upstream ? upstream->base_url() : opts.upstream;
  const int concurrency = std::max(500, n);
  result.concurrency = concurrency;
  tutti::engine_options engine_opts;
  engine_opts.worker_threads = static_cast<size_t>(opts.workers);
  name_this_thread(transport_thread_name);
  tutti::engine eng{make_concurrent_config(base_url, concurrency, opts.close),
                    engine_opts};
  name_this_thread(caller_thread_name);
  std::string extra_header = opts.close ? "Connection: close" : "";
  std::vector<std::string> curl_models;
  for (int i = 1; i <= concurrent_members; ++i)
    curl_models.push_back(concurrent_model('l', i));
  std::vector<std::unique_ptr<curl_fan_out>> fans;
  for (int i = 0; i < n; ++i)
    fans.push_back(
        std::make_unique<curl_fan_out>(base_url, curl_models, extra_header));

  burst_runner callers{n};
  name_this_thread("main");

  std::vector<concurrent_sample> slots(static_cast<size_t>(n));
  std::vector<tutti::ensemble_answer> answers(static_cast<size_t>(n));
  std::vector<bool> curl_ok(static_cast<size_t>(n));
  std::vector<burst_window> windows;

  clock_type::time_point go; ///< when the current burst was released
  auto record_sample = [&](int i, clock_type::time_point asked,
                           clock_type::time_point call_returned,
                           clock_type::time_point returned,
                           tutti::ensemble_answer answer) {
    auto& slot = slots[static_cast<size_t>(i)];
    slot = {};
    slot.call_us =
        std::chrono::duration<double, std::micro>(call_returned - asked)
            .count();
    slot.wall_us =
        std::chrono::duration<double, std::micro>(returned - asked).count();
    slot.skew_us =
        std::chrono::duration<double, std::micro>(asked - go).count();
    slot.aggregator_us = static_cast<double>(answer.total_us);
    auto asked_us = static_cast<double>(steady_us_of(asked));
    auto returned_us = static_cast<double>(steady_us_of(returned));
    double earliest_start = 1e300, latest_start = -1e300, last_done = 0;
    for (auto& m : answer.members) {
      auto& t = m.ok ? m.reply.timing : m.error.timing;
      if (static_cast<double>(t.total_us) >= slot.slowest_us) {
        auto started = static_cast<double>(t.started_us);
        slot.slowest_start_us = started - asked_us;
        slot.slowest_after_us =
            returned_us - (started + static_cast<double>(t.total_us));
      }
      slot.slowest_us =
          std::max(slot.slowest_us, static_cast<double>(m.total_us()));
      slot.queued_us =
          std::max(slot.queued_us, static_cast<double>(t.queued_us));
      auto started = static_cast<double>(t.started_us);
      earliest_start = std::min(earliest_start, started);
      latest_start = std::max(latest_start, started);
      last_done =
          std::max(last_done, started + static_cast<double>(t.total_us));
    }
    if (!answer.members.empty()) {
      slot.start_spread_us = latest_start - earliest_start;
      slot.first_start_us = earliest_start - asked_us;
      slot.last_start_us = latest_start - asked_us;
      slot.after_last_us = returned_us - last_done;
    }
    answers[static_cast<size_t>(i)] = std::move(answer);
  };
  auto prompt_of = [](int i) {
    return "What is the capital of France? (" + std::to_string(i) + ")";
  };
  // One thread per ensemble, each blocking on its answer.
  auto tutti_job = [&](int i) {
    // No callbacks: listening to member events costs the engine a message
    // and a call per member, which would be measured too. Each member's
    // timing says when its provider took the query, on the steady clock.
    auto asked = clock_type::now();
    auto future = eng.ask("concurrent", prompt_of(i));
    auto call_returned = clock_type::now();
    auto answer = future.get();
    record_sample(i, asked, call_returned, clock_type::now(),
                  std::move(answer));
  };
  // One thread asks them all, as an async host does (asyncio's gather): the
  // answer is there when its callback runs. The callback only keeps it; the
  // samples are made once every answer is in, on this thread.
  auto tutti_async_burst = [&] {
    auto count = static_cast<size_t>(n);
    std::latch left{n};
    std::vector<clock_type::time_point> asked(count), call_returned(count),
        returned(count);
    for (size_t k = 0; k < count; ++k) {
      asked[k] = clock_type::now();
      eng.start_ask(
          "concurrent",
          {tutti::chat_message{"user", prompt_of(static_cast<int>(k))}}, {},
          [&, k](tutti::ensemble_answer answer) {
            returned[k] = clock_type::now();
            answers[k] = std::move(answer);
            left.count_down();
          });
      call_returned[k] = clock_type::now();
    }
    left.wait();
    for (size_t k = 0; k < count; ++k)
      record_sample(static_cast<int>(k), asked[k], call_returned[k],
                    returned[k], std::move(answers[k]));
  };
  auto curl_job = [&](int i) {
    auto& slot = slots[static_cast<size_t>(i)];
    auto& fan = *fans[static_cast<size_t>(i)];
    auto asked = clock_type::now();
    bool ok = fan.post_all();
    slot = {};
    slot.wall_us = elapsed_us(asked);
    slot.skew_us =
        std::chrono::duration<double, std::micro>(asked - go).count();
    slot.slowest_us = fan.slowest_us();
    curl_ok[static_cast<size_t>(i)] = ok;
  };

  // Bursts are 150 ms apart, each starting from idle: tutti's and
  // libcurl's alternate which goes first.
  constexpr auto gap = std::chrono::milliseconds{150};
  auto run_burst = [&](bool is_tutti, bool record) {
    auto& side = is_tutti ? result.tutti : result.curl;
    std::this_thread::sleep_for(gap);
    auto threads_before = threads_cpu();
    auto cpu_before = process_cpu_s();
    go = clock_type::now();
    if (is_tutti && opts.one_caller) {
      tutti_async_burst();
    } else {
      callers.run([&](int i) {
        if (is_tutti)
          tutti_job(i);
        else
          curl_job(i);
      });
    }
    auto end = clock_type::now();
    auto cpu_burst = process_cpu_s() - cpu_before;
    if (!record)
      return;
    side.cpu_s += cpu_burst;
    side.threads.add(threads_before, threads_cpu());
    for (int i = 0; i < n; ++i) {
      side.samples.push_back(slots[static_cast<size_t>(i)]);
      bool ok = is_tutti ? answers[static_cast<size_t>(i)].status ==
                               tutti::answer_status::ok
                         : curl_ok[static_cast<size_t>(i)];
      if (!ok && side.failures++ == 0 && is_tutti) {
        std::ostringstream out;
        auto& answer = answers[static_cast<size_t>(i)];
        out << answer.status;
        for (auto& m : answer.members)
          if (!m.ok)
            out << "; " << m.member << ": " << m.error.kind << ": "
                << m.error.message;
        side.first_failure = out.str();
      }
    }
    windows.push_back({is_tutti, steady_us_of(go), steady_us_of(end)});
  };
  // Warm-up: starts the providers and opens every connection.
  run_burst(true, false);
  run_burst(false, false);
  // What the process burns with nothing asked: the fake's idle keep-alive
  // connections, CAF's and the transport's idle threads.
  {
    auto cpu_before = process_cpu_s();
    std::this_thread::sleep_for(std::chrono::seconds{1});
    result.idle_cpu = process_cpu_s() - cpu_before;
  }
  for (int b = 0; b < opts.bursts; ++b) {
    run_burst(b % 2 == 0, true);
    run_burst(b % 2 != 0, true);
  }
  if (upstream) {
    auto log = upstream->arrivals();
    for (auto& w : windows)
      add_fake_view(w.is_tutti ? result.tutti : result.curl, log, w,
                    opts.latency_ms);
  }
  return result;
}

// --- the report
// ---------------------------------------------------------------------

/// p50, p99 and max of `f` over the samples, in ms.
template <class F>
std::vector<std::string> ms_cells(const std::vector<concurrent_sample>& samples,
                                  F f) {
  std::vector<double> values;
  for (auto& x : samples)
    values.push_back(f(x));
  auto s = summarize(values);
  return {fixed(s.p50 / 1000, 2), fixed(s.p99 / 1000, 2),
          fixed(s.max / 1000, 2)};
}

std::vector<std::string> ms_cells(const std::vector<double>& values) {
  auto s = summarize(values);
  return {fixed(s.p50 / 1000, 2), fixed(s.p99 / 1000, 2),
          fixed(s.max / 1000, 2)};
}

summary ratio_summary(const std::vector<concurrent_sample>& samples) {
  std::vector<double> ratios;
  for (auto& x : samples)
    ratios.push_back(x.wall_us / x.slowest_us);
  return summarize(ratios);
}

void print_concurrent(const bench_options& opts, const concurrent_result& r) {
  auto& t = r.tutti.samples;
  auto& c = r.curl.samples;
  auto tr = ratio_summary(t);
  auto cr = ratio_summary(c);
  row("", {"p50", "p99", "max"});
  row("tutti: wall / slowest member",
      {fixed(tr.p50, 3), fixed(tr.p99, 3), fixed(tr.max, 3)});
  row("libcurl: wall / slowest transfer",
      {fixed(cr.p50, 3), fixed(cr.p99, 3), fixed(cr.max, 3)});
  std::cout << "  target: tutti's ratio at most 1.02 -- p50 "
            << (tr.p50 <= 1.02 ? "met" : "MISSED") << ", p99 "
            << (tr.p99 <= 1.02 ? "met" : "MISSED") << ", max "
            << (tr.max <= 1.02 ? "met" : "MISSED") << '\n';
  row("", {"p50 ms", "p99 ms", "max ms"});
  row("tutti: wall (ask -> answer)",
      ms_cells(t, [](auto& x) { return x.wall_us; }));
  row("tutti: slowest member's own time",
      ms_cells(t, [](auto& x) { return x.slowest_us; }));
  row("tutti: wall - slowest member",
      ms_cells(t, [](auto& x) { return x.wall_us - x.slowest_us; }));
  row("libcurl: wall (post_all)",
      ms_cells(c, [](auto& x) { return x.wall_us; }));
  row("libcurl: slowest transfer's own time",
      ms_cells(c, [](auto& x) { return x.slowest_us; }));
  row("libcurl: wall - slowest transfer",
      ms_cells(c, [](auto& x) { return x.wall_us - x.slowest_us; }));
  {
    std::vector<double> tw, cw;
    for (auto& x : t)
      tw.push_back(x.wall_us);
    for (auto& x : c)
      cw.push_back(x.wall_us);
    auto ts = summarize(tw);
    auto cs = summarize(cw);
    row("tutti wall / libcurl wall",
        {fixed(ts.p50 / cs.p50, 2) + "x", fixed(ts.p99 / cs.p99, 2) + "x",
         fixed(ts.max / cs.max, 2) + "x"});
  }
  std::cout << "  where tutti's extra time goes, per ensemble\n";
  row("  engine::ask outside the aggregator",
      ms_cells(t, [](auto& x) { return x.wall_us - x.aggregator_us; }));
  row("  aggregator time - slowest member",
      ms_cells(t, [](auto& x) { return x.aggregator_us - x.slowest_us; }));
  row("  ask called -> slowest member started",
      ms_cells(t, [](auto& x) { return x.slowest_start_us; }));
  row("  slowest member's end -> ask returned",
      ms_cells(t, [](auto& x) { return x.slowest_after_us; }));
  row("  ask called -> it returned the future",
      ms_cells(t, [](auto& x) { return x.call_us; }));
  row("  ask called -> first member started",
      ms_cells(t, [](auto& x) { return x.first_start_us; }));
  row("  ask called -> last member started",
      ms_cells(t, [](auto& x) { return x.last_start_us; }));
  row("  members' start spread",
      ms_cells(t, [](auto& x) { return x.start_spread_us; }));
  row("  last member's outcome -> ask returned",
      ms_cells(t, [](auto& x) { return x.after_last_us; }));
  row("  acquire -> permit, longest (queued)",
      ms_cells(t, [](auto& x) { return x.queued_us; }));
  std::cout << "  the harness\n";
  row("  tutti: release -> ask called",
      ms_cells(t, [](auto& x) { return x.skew_us; }));
  row("  libcurl: release -> post_all called",
      ms_cells(c, [](auto& x) { return x.skew_us; }));
  // The fake's own log: only when it runs in this process.
  if (!r.tutti.reach_fake_us.empty() && !r.curl.reach_fake_us.empty()) {
    row("  tutti: release -> request at the fake",
        ms_cells(r.tutti.reach_fake_us));
    row("  libcurl: release -> request at fake",
        ms_cells(r.curl.reach_fake_us));
    row("  tutti: fake's time - latency", ms_cells(r.tutti.fake_extra_us));
    row("  libcurl: fake's time - latency", ms_cells(r.curl.fake_extra_us));
  }
  auto bursts = static_cast<double>(opts.bursts);
  row("CPU per burst, ms (whole process)", {"tutti", "libcurl"});
  auto cpu_row = [&](const std::string& label, double tutti_s, double curl_s) {
    row(label,
        {fixed(tutti_s / bursts * 1000, 1), fixed(curl_s / bursts * 1000, 1)});
  };
  cpu_row("  transport thread", r.tutti.threads.transport,
          r.curl.threads.transport);
  cpu_row("  CAF threads (caf.*)", r.tutti.threads.caf, r.curl.threads.caf);
  cpu_row("  caller threads", r.tutti.threads.callers, r.curl.threads.callers);
  cpu_row("  fake upstream threads", r.tutti.threads.fake, r.curl.threads.fake);
  cpu_row("  other (main thread: /proc reads)", r.tutti.threads.other,
          r.curl.threads.other);
  cpu_row("  all (getrusage)", r.tutti.cpu_s, r.curl.cpu_s);
  std::cout << "  idle process CPU between bursts: " << fixed(r.idle_cpu, 3)
            << " s per s\n";
}

/// Part 4, printed; false when a question or request failed.
bool run_concurrent(const bench_options& opts) {
  std::cout << "4. Concurrent ensembles: " << opts.ensembles << " at once ("
            << (opts.one_caller ? "one thread asks them all"
                                : "one thread each")
            << "), " << concurrent_members << " members each, fake latency "
            << opts.latency_ms << " ms, " << opts.bursts
            << " bursts after a warm-up\n"
            << "   providers: concurrency " << std::max(500, opts.ensembles)
            << " each, so the limiter never makes a member wait; no "
               "retries; "
            << (opts.close ? "Connection: close" : "keep-alive") << '\n'
            << "   libcurl: " << opts.ensembles
            << " threads, each a multi handle over " << concurrent_members
            << " reused easy handles\n";
  std::cout.flush();
  auto r = bench_concurrent(opts);
  if (opts.upstream.empty())
    std::cout << "   fake: in this process, " << r.fake_threads
              << " request threads\n";
  else
    std::cout << "   fake: " << opts.upstream << " (it needs at least "
              << r.fake_threads << " request threads)\n";
  print_concurrent(opts, r);
  std::cout << '\n';
  if (r.tutti.failures > 0 || r.curl.failures > 0) {
    std::cout << "FAILED: " << r.tutti.failures << " tutti ensembles and "
              << r.curl.failures
              << " libcurl fan-outs did not succeed; the figures above are "
                 "not valid\n";
    if (!r.tutti.first_failure.empty())
      std::cout << "  first: " << r.tutti.first_failure << '\n';
    return false;
  }
  std::cout << "all " << opts.bursts * opts.ensembles
            << " concurrent ensembles (and as many libcurl fan-outs) after "
               "the warm-up answered ok\n";
  return true;
}

int run(const bench_options& opts) {
  if (opts.print_script) {
    std::cout << concurrent_script(opts.latency_ms);
    return 0;
  }
  print_machine_facts(opts);
  if (opts.only_concurrent) {
    std::cout << '\n';
    curl_global_init(CURL_GLOBAL_DEFAULT);
    bool ok = run_concurrent(opts);
    curl_global_cleanup();
    return ok ? 0 : 1;
  }

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
              << "   tutti fan-out  |"
              << scaled_bar(fan.parallel.p50, fan.serial.p50) << ' '
              << fixed(fan.parallel.p50 / 1000, 0) << " ms\n"
              << "   serial loop    |"
              << scaled_bar(fan.serial.p50, fan.serial.p50) << ' '
              << fixed(fan.serial.p50 / 1000, 0) << " ms\n\n";

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
  bool concurrent_ok = run_concurrent(opts);
  std::cout << '\n';
  curl_global_cleanup();

  if (!concurrent_ok)
    return 1;
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
  return tutti::bench::bench_main("ensemble_bench", argc, argv, parse_args, run,
                                  usage);
}
