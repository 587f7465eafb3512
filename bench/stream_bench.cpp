// stream_bench: many concurrent streamed questions through one engine.
//
// Against the fake upstream, in-process on loopback: --requests questions
// (default 2,000) to a one-member ensemble, each asking for a token stream of
// --tokens distinct numbered tokens ("t0001 t0002 ...") paced at
// --tokens-per-second. The questions start evenly over --ramp-ms and every
// stream lasts longer than that, so all of them are open at the same time.
// `engine::ask` blocks its caller, so there is one caller thread per question
// (all started, and waiting, before the clock starts).
//
// Checks that nothing is lost (every answer ok, the upstream saw exactly one
// request per question), that every question's deltas, concatenated, equal
// the reply (so every chunk arrived, once and in order), and prints
// throughput, CPU per 1,000 chunks by thread group, peak memory and latency
// percentiles. Prints FAILED and exits 1 when a check fails. See
// docs/benchmarks.md, which also says why the defaults are what they are.

#include <curl/curl.h>
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/utsname.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <latch>
#include <map>
#include <mutex>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
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
  int requests = 2000;          ///< questions in flight at once
  int tokens = 50;              ///< tokens per streamed reply
  double tokens_per_second = 2; ///< pacing of every stream
  int ramp_ms = 2000;           ///< questions start evenly over this time
  bool keep_alive = false;      ///< leave out `Connection: close`
};

void usage(std::ostream& out) {
  out << R"(usage: stream_bench [--requests N] [--tokens N] [--tokens-per-second X]
                    [--ramp-ms N] [--keep-alive]
  --requests N           concurrent streamed questions, 1-10000 (default 2000)
  --tokens N             tokens per reply, 1-9999 (default 50)
  --tokens-per-second X  pacing of every stream (default 2: a 25 s stream)
  --ramp-ms N            start the questions evenly over N ms; 0 starts them
                         all at once (default 2000)
  --keep-alive           do not send 'Connection: close'; the fake's
                         cpp-httplib then polls every idle connection about
                         90 times a second for 5 s
)";
}

double positive_double(const std::string& flag, const char* text) {
  char* end = nullptr;
  double value = std::strtod(text, &end);
  if (end == text || *end != '\0' || !(value > 0) || value > 1e6)
    throw std::invalid_argument(flag + ": expected a positive number, got '" +
                                text + "'");
  return value;
}

bench_options parse_args(int argc, char** argv) {
  bench_options opts;
  parse_flags(argc, argv, usage, [&](const std::string& arg, auto& value) {
    if (arg == "--requests")
      // A provider's `concurrency` is at most 10000.
      opts.requests = int_flag(arg, value(), 1, 10'000);
    else if (arg == "--tokens")
      opts.tokens = int_flag(arg, value(), 1, 9'999);
    else if (arg == "--tokens-per-second")
      opts.tokens_per_second = positive_double(arg, value());
    else if (arg == "--keep-alive")
      opts.keep_alive = true;
    else if (arg == "--ramp-ms")
      opts.ramp_ms = int_flag(arg, value(), 0, 600'000);
    else
      return false;
    return true;
  });
  return opts;
}

// --- statistics
// ---------------------------------------------------------------

using clock_type = std::chrono::steady_clock;

double us_between(clock_type::time_point from, clock_type::time_point to) {
  return std::chrono::duration<double, std::micro>(to - from).count();
}

// --- output
// -------------------------------------------------------------------

void row_ms(const std::string& label, const summary& s) {
  row(label,
      {fixed(s.p50 / 1000, 1), fixed(s.p99 / 1000, 1), fixed(s.max / 1000, 1)});
}

// --- machine facts and process figures
// ----------------------------------------

/// A "NAME: 1234 kB" field of /proc/self/status as a number (kB, or a count).
long status_field(const std::string& key) {
  return std::atol(first_line_with("/proc/self/status", key + ":").c_str());
}

void print_machine_facts(const bench_options& opts) {
  print_machine_head("stream_bench");
  auto* curl = curl_version_info(CURLVERSION_NOW);
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  rlimit procs{};
  getrlimit(RLIMIT_NPROC, &procs);
  auto limit = [](rlim_t v) {
    return v == RLIM_INFINITY ? std::string{"unlimited"} : std::to_string(v);
  };
  std::cout << "  memory    " << first_line_with("/proc/meminfo", "MemTotal")
            << '\n'
            << "  loadavg   " << read_first_line("/proc/loadavg") << '\n'
            << "  limits    open files " << limit(files.rlim_cur)
            << ", user processes " << limit(procs.rlim_cur)
            << ", kernel threads-max "
            << read_first_line("/proc/sys/kernel/threads-max") << '\n'
            << "  build     " << TUTTI_BUILD_TYPE << ", libcurl "
            << curl->version << '\n'
            << "  settings  --requests " << opts.requests << " --tokens "
            << opts.tokens << " --tokens-per-second "
            << fixed(opts.tokens_per_second, 1) << " --ramp-ms " << opts.ramp_ms
            << (opts.keep_alive ? " --keep-alive" : "") << '\n';
}

/// Every question holds two descriptors (the engine's socket and the fake's);
/// raises the soft limit up to the hard one when that is not enough.
void ensure_descriptors(int requests) {
  rlim_t need = static_cast<rlim_t>(requests) * 2 + 256;
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur >= need)
    return;
  if (files.rlim_max != RLIM_INFINITY && files.rlim_max < need)
    throw std::runtime_error(std::to_string(requests) + " requests need " +
                             std::to_string(need) +
                             " open files; the hard limit is " +
                             std::to_string(files.rlim_max) + " (ulimit -Hn)");
  files.rlim_cur = need;
  if (setrlimit(RLIMIT_NOFILE, &files) != 0)
    throw std::runtime_error("cannot raise the open files limit to " +
                             std::to_string(need));
  std::cout << "  (raised the open files soft limit to " << need << ")\n";
}

double this_thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// --- the fake upstream and the engine's config
// --------------------------------

constexpr const char* fake_thread_name = "fake-upstream";
constexpr const char* engine_thread_name = "tutti-engine";
constexpr const char* caller_thread_name = "caller";

/// "t0001 t0002 ... tNNNN": distinct numbered tokens, so a lost, repeated or
/// reordered chunk changes the concatenation.
std::string numbered_reply(int tokens) {
  std::string text;
  char buf[16];
  for (int i = 1; i <= tokens; ++i) {
    std::snprintf(buf, sizeof buf, "t%04d", i);
    if (i > 1)
      text += ' ';
    text += buf;
  }
  return text;
}

std::string upstream_script(const std::string& reply, double tps) {
  return "models:\n  numbered: {reply: \"" + reply +
         "\", tokens_per_second: " + fixed(tps, 3) + "}\n";
}

/// One provider allowed `requests` transfers at once, with no retries (so
/// the upstream must see exactly one request per question), and an ensemble
/// `stream` with that one member.
///
/// Unless `keep_alive`, every request says `Connection: close`. cpp-httplib
/// 0.11 waits for a connection's next request by polling it every ~11 ms for
/// up to 5 s; after 2,000 streams end together that is ~180,000 wake-ups a
/// second in the fake, which on two cores starves the engine. A real
/// upstream keeps idle connections for free, so closing them measures tutti
/// rather than the fake. No connection could be reused here anyway: all
/// requests are in flight at once.
tutti::config make_config(const std::string& base_url, int requests,
                          int deadline_s, bool keep_alive) {
  std::string yaml = "providers:\n"
                     "  fake: {kind: openai, model: numbered, base_url: \"" +
                     base_url + "\", api_key: sk-bench, concurrency: " +
                     std::to_string(requests) +
                     ", retry: {attempts: 1}, timeouts: {connect: 30s}" +
                     (keep_alive ? "" : ", headers: {Connection: close}") +
                     "}\n"
                     "ensembles:\n"
                     "  stream: {members: [fake], deadline: " +
                     std::to_string(deadline_s) + "s}\n";
  return tutti::parse_config(yaml, "stream_bench.yaml");
}

// --- one question
// -----------------------------------------------------------------

/// What one question saw, keyed by question (its index) and, for the deltas,
/// by member. Today the engine runs a question's callbacks one at a time
/// inside `ask`, on the calling thread; the mutex keeps this correct should
/// it run them on one of its own threads instead.
struct question_record {
  std::mutex mtx;
  std::map<std::string, std::string> text_by_member; ///< deltas, concatenated
  long deltas = 0;
  clock_type::time_point asked;
  clock_type::time_point first_delta;
  clock_type::time_point answered;
  bool got_delta = false;
  double cpu_s = 0; ///< this caller thread's CPU while in ask
  tutti::ensemble_answer answer;
  std::string error; ///< an exception from ask, if any
};

void ask_one(tutti::engine& eng, question_record& rec) {
  tutti::ask_options ask;
  ask.stream = true;
  ask.on_delta = [&rec](const tutti::member_delta& d) {
    auto now = clock_type::now();
    std::lock_guard<std::mutex> guard{rec.mtx};
    if (!rec.got_delta) {
      rec.got_delta = true;
      rec.first_delta = now;
    }
    rec.text_by_member[d.member] += d.text;
    ++rec.deltas;
  };
  auto cpu_before = this_thread_cpu_s();
  rec.asked = clock_type::now();
  try {
    auto answer = eng.ask("stream", "Count for me.", ask).get();
    rec.answered = clock_type::now();
    std::lock_guard<std::mutex> guard{rec.mtx};
    rec.answer = std::move(answer);
  } catch (const std::exception& e) {
    rec.answered = clock_type::now();
    std::lock_guard<std::mutex> guard{rec.mtx};
    rec.error = e.what();
  }
  rec.cpu_s = this_thread_cpu_s() - cpu_before;
}

/// Collects the first few problems and counts them all.
struct problems {
  int count = 0;
  std::vector<std::string> first;

  void add(const std::string& what) {
    if (count++ < 5)
      first.push_back(what);
  }
};

std::string describe_answer(const tutti::ensemble_answer& a) {
  std::ostringstream out;
  out << a.status;
  for (auto& m : a.members)
    if (!m.ok)
      out << "; " << m.member << ": " << m.error.kind << ": "
          << m.error.message;
  return out.str();
}

// --- the run
// ------------------------------------------------------------------

int run(const bench_options& opts) {
  print_machine_facts(opts);
  const int n = opts.requests;
  ensure_descriptors(n);

  const auto reply = numbered_reply(opts.tokens);
  if (tutti::fake::count_tokens(reply) != opts.tokens)
    throw std::logic_error("the numbered reply does not have --tokens tokens");
  const double stream_s = opts.tokens / opts.tokens_per_second;
  const int deadline_s = static_cast<int>(std::ceil(stream_s)) + 120;

  // cpp-httplib serves each connection on a pool thread for as long as it
  // is open (a paced stream sleeps on it), so the pool needs one thread per
  // stream; the spare ones cover stragglers in keep-alive.
  const int upstream_threads = n + 16;
  name_this_thread(fake_thread_name);
  tutti::fake::server upstream{
      tutti::fake::parse_script(upstream_script(reply, opts.tokens_per_second)),
      "", upstream_threads};
  const long threads_before_fake = status_field("Threads");
  upstream.start();
  // start() returns once the accept loop runs; the pool's threads are still
  // being created then. Wait for them, so that none is created while the
  // questions run.
  const long fake_threads = upstream_threads + 1; // the pool and the listener
  for (int i = 0;
       i < 3000 && status_field("Threads") < threads_before_fake + fake_threads;
       ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (status_field("Threads") < threads_before_fake + fake_threads)
    std::cout << "  (the fake's " << upstream_threads
              << " pool threads were not all running after 30 s)\n";
  auto base_url = upstream.base_url();
  std::cout << "  upstream  tutti::fake::server in-process, "
            << upstream_threads << " pool threads (one per open connection), "
            << base_url << "\n\n";

  curl_global_init(CURL_GLOBAL_DEFAULT);
  name_this_thread(engine_thread_name);
  auto eng = std::make_unique<tutti::engine>(
      make_config(base_url, n, deadline_s, opts.keep_alive));
  name_this_thread("stream_bench");

  std::cout << n << " streamed questions, started over " << opts.ramp_ms
            << " ms: 1-member ensemble, " << opts.tokens << " tokens each at "
            << fixed(opts.tokens_per_second, 1) << " tokens/s (a "
            << fixed(stream_s, 1) << " s stream), one caller thread each\n";
  std::cout.flush();

  // Samples the process's thread count while the questions run.
  std::atomic<bool> sampling{true};
  std::atomic<long> peak_threads{status_field("Threads")};
  std::thread sampler{[&] {
    name_this_thread("sampler");
    while (sampling) {
      long t = status_field("Threads");
      long seen = peak_threads;
      while (t > seen && !peak_threads.compare_exchange_weak(seen, t)) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }};

  std::vector<question_record> records(static_cast<size_t>(n));
  std::latch ready{n};
  std::latch go{1};
  clock_type::time_point started; // set before `go` opens
  const auto ramp = std::chrono::milliseconds{opts.ramp_ms};
  std::vector<std::thread> callers;
  callers.reserve(static_cast<size_t>(n));
  std::string spawn_error;
  for (int i = 0; i < n; ++i) {
    try {
      callers.emplace_back([&, i] {
        name_this_thread(caller_thread_name);
        ready.count_down();
        go.wait();
        std::this_thread::sleep_until(started + ramp * i / n);
        ask_one(*eng, records[static_cast<size_t>(i)]);
      });
    } catch (const std::system_error& e) {
      spawn_error = e.what();
      break;
    }
  }
  if (!spawn_error.empty()) {
    // Let the threads that did start run against a satisfied latch.
    ready.count_down(n - static_cast<int>(callers.size()));
    go.count_down();
    for (auto& t : callers)
      t.join();
    sampling = false;
    sampler.join();
    std::cout << "FAILED: could start only " << callers.size() << " of " << n
              << " caller threads (" << spawn_error
              << "); try a smaller --requests\n";
    return 1;
  }
  ready.wait();
  const long hwm_idle_kb = status_field("VmHWM");
  const long threads_idle = status_field("Threads");
  auto tasks_before = threads_cpu();
  const double cpu_before = process_cpu_s();
  started = clock_type::now();
  go.count_down();
  for (auto& t : callers)
    t.join();
  const auto finished = clock_type::now();
  const double cpu_s = process_cpu_s() - cpu_before;
  auto tasks_after = threads_cpu();
  sampling = false;
  sampler.join();
  const long hwm_kb = status_field("VmHWM");

  // CPU by thread group. The fake's pool and listener threads and the
  // engine's transport thread inherited the main thread's name of the time;
  // CAF names its own threads "caf.*" (an engine thread that named nothing
  // would count as transport: there is none today). Caller threads measured
  // their own time in ask.
  double fake_cpu_s = 0, transport_cpu_s = 0, caf_cpu_s = 0;
  for (auto& [tid, after] : tasks_after) {
    auto before = tasks_before.find(tid);
    double s =
        after.cpu_s - (before == tasks_before.end() ? 0 : before->second.cpu_s);
    if (after.name == fake_thread_name)
      fake_cpu_s += s;
    else if (after.name == engine_thread_name)
      transport_cpu_s += s;
    else if (after.name.rfind("caf.", 0) == 0)
      caf_cpu_s += s;
  }
  const double engine_cpu_s = transport_cpu_s + caf_cpu_s;
  double caller_cpu_s = 0;
  for (auto& r : records)
    caller_cpu_s += r.cpu_s;

  // --- checks ---
  problems bad;
  long total_deltas = 0;
  std::vector<double> ttft, total, engine_ttft, skew;
  for (int i = 0; i < n; ++i) {
    auto& r = records[static_cast<size_t>(i)];
    std::lock_guard<std::mutex> guard{r.mtx};
    auto q = "question " + std::to_string(i + 1) + ": ";
    total_deltas += r.deltas;
    skew.push_back(us_between(started, r.asked));
    total.push_back(us_between(r.asked, r.answered));
    if (!r.error.empty()) {
      bad.add(q + "ask threw: " + r.error);
      continue;
    }
    if (r.answer.status != tutti::answer_status::ok ||
        r.answer.members.size() != 1 || !r.answer.members[0].ok) {
      bad.add(q + "not ok: " + describe_answer(r.answer));
      continue;
    }
    auto& member = r.answer.members[0];
    if (member.reply.text != reply)
      bad.add(q + "the reply text differs from the scripted reply");
    if (r.text_by_member.size() != 1 ||
        r.text_by_member.begin()->first != member.member) {
      bad.add(q + "deltas from " + std::to_string(r.text_by_member.size()) +
              " members, expected only '" + member.member + "'");
      continue;
    }
    if (r.text_by_member.begin()->second != reply) {
      auto& got = r.text_by_member.begin()->second;
      bad.add(q + "deltas concatenated differ from the reply (" +
              std::to_string(got.size()) + " bytes, expected " +
              std::to_string(reply.size()) + "; starts '" + got.substr(0, 24) +
              "')");
      continue;
    }
    if (!r.got_delta) {
      bad.add(q + "no delta");
      continue;
    }
    ttft.push_back(us_between(r.asked, r.first_delta));
    if (member.reply.timing.first_token_us >= 0)
      engine_ttft.push_back(
          static_cast<double>(member.reply.timing.first_token_us));
  }
  eng.reset(); // stops the engine's threads before the fake's
  upstream.stop();
  auto log = upstream.arrivals();
  int upstream_ok = 0;
  for (auto& a : log)
    if (a.outcome == "ok" && a.status == 200 && a.stream &&
        a.model == "numbered")
      ++upstream_ok;
  if (static_cast<int>(log.size()) != n)
    bad.add("the upstream saw " + std::to_string(log.size()) +
            " requests, expected " + std::to_string(n));
  if (upstream_ok != static_cast<int>(log.size()))
    bad.add(std::to_string(log.size() - upstream_ok) +
            " upstream requests were not streamed ok");
  const int peak_open = tutti::fake::peak_concurrency(log);
  // When each request reached the fake's handler, counted from the go.
  const auto started_us = std::chrono::duration_cast<std::chrono::microseconds>(
                              started.time_since_epoch())
                              .count();
  std::vector<double> arrived;
  for (auto& a : log)
    arrived.push_back(static_cast<double>(a.steady_us - started_us));
  curl_global_cleanup();

  // --- report ---
  const double wall_s = us_between(started, finished) / 1e6;
  const double per_k = total_deltas > 0 ? 1000.0 / total_deltas : 0;
  row("", {"value"});
  row("wall time, all questions", {fixed(wall_s, 2) + " s"});
  row("questions/s (wall)", {fixed(n / wall_s, 1)});
  row("chunks (deltas) received", {std::to_string(total_deltas)});
  row("  tokens scripted (requests x tokens)",
      {std::to_string(static_cast<long>(n) * opts.tokens)});
  row("chunks/s (wall)", {fixed(total_deltas / wall_s, 0)});
  row("upstream requests (expected " + std::to_string(n) + ")",
      {std::to_string(log.size())});
  row("upstream streams open at once, peak", {std::to_string(peak_open)});
  std::cout << '\n';
  row("CPU (user+sys)", {"s", "ms/1k chk"});
  row("whole process (getrusage)",
      {fixed(cpu_s, 2), fixed(cpu_s * 1000 * per_k, 1)});
  row("  engine: transport thread",
      {fixed(transport_cpu_s, 2), fixed(transport_cpu_s * 1000 * per_k, 1)});
  row("  engine: CAF threads (caf.*)",
      {fixed(caf_cpu_s, 2), fixed(caf_cpu_s * 1000 * per_k, 1)});
  row("  caller threads (inside ask)",
      {fixed(caller_cpu_s, 2), fixed(caller_cpu_s * 1000 * per_k, 1)});
  row("  fake upstream threads",
      {fixed(fake_cpu_s, 2), fixed(fake_cpu_s * 1000 * per_k, 1)});
  const double other_cpu_s =
      std::max(0.0, cpu_s - engine_cpu_s - caller_cpu_s - fake_cpu_s);
  row("  other (main thread, sampler)",
      {fixed(other_cpu_s, 2), fixed(other_cpu_s * 1000 * per_k, 1)});
  row("tutti alone (engine + callers)",
      {fixed(engine_cpu_s + caller_cpu_s, 2),
       fixed((engine_cpu_s + caller_cpu_s) * 1000 * per_k, 1)});
  std::cout << '\n';
  row("memory and threads", {"value"});
  row("peak RSS (VmHWM), whole process", {fixed(hwm_kb / 1024.0, 0) + " MiB"});
  row("  VmHWM with every thread started, idle",
      {fixed(hwm_idle_kb / 1024.0, 0) + " MiB"});
  row("threads in the process, peak", {std::to_string(peak_threads)});
  row("  fake upstream pool (assumed: n + 16)",
      {std::to_string(upstream_threads)});
  row("  caller threads", {std::to_string(n)});
  row("  all threads, before the questions", {std::to_string(threads_idle)});
  std::cout << '\n';
  row("per question", {"p50 ms", "p99 ms", "max ms"});
  row_ms("start skew (go -> ask called)", summarize(skew));
  row_ms("request reaches the fake (from go)", summarize(arrived));
  row_ms("time to first token (ask -> 1st delta)", summarize(ttft));
  row_ms("  engine: sent -> first content byte", summarize(engine_ttft));
  row("  scripted: first token after",
      {fixed(1000 / opts.tokens_per_second, 1)});
  row_ms("total (ask -> answer)", summarize(total));
  row("  scripted: stream length", {fixed(stream_s * 1000, 1)});
  std::cout << '\n';

  if (bad.count > 0) {
    std::cout << "FAILED: " << bad.count
              << " problems; the figures above are not valid\n";
    bool empty_reply = false;
    for (auto& p : bad.first) {
      std::cout << "  " << p << '\n';
      empty_reply = empty_reply || p.find("Empty reply") != std::string::npos;
    }
    if (empty_reply)
      std::cout << "  (cpp-httplib closes a connection whose request has not "
                   "arrived 5 s after the connect: the engine was that slow "
                   "to send; is the machine overloaded? see loadavg)\n";
    return 1;
  }
  std::cout << "all " << n << " questions answered ok, every stream complete "
            << "and in order; the upstream saw " << log.size() << " requests\n";
  if (peak_open < n)
    std::cout << "note: only " << peak_open << " of " << n
              << " streams were open at the upstream at once; raise --tokens, "
                 "lower --tokens-per-second or shorten --ramp-ms for full "
                 "overlap\n";
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  return tutti::bench::bench_main("stream_bench", argc, argv, parse_args, run,
                                  usage);
}
