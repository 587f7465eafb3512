// hostile_bench: what idle and slow connections cost `tutti serve`
// (tests never assert speed; they only bound it far above these figures).
//
// The process hosts the fake upstream on loopback (whole OpenAI replies that
// echo the question, 1 ms latency) and starts `tutti serve` as a child with
// a one-provider config. It measures, on fresh connections one after
// another, the latency of GET /healthz and of a chat completion, and reads
// the server's thread count (/proc/PID/status); then it opens --idle
// connections that send nothing and --slow connections that trickle their
// request head one byte every --trickle-s seconds (slowloris), and measures
// again while they are all open. Every reply is checked (200, and the
// question's own echo for chat completions). Run it with --tutti pointing
// at an older binary for a side-by-side "before". See docs/benchmarks.md.

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <rapidjson/document.h>

#include "bench/bench_support.hpp"
#include "tools/fake_llm/fake_llm.hpp"

using namespace tutti::bench;
namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;

namespace {

struct bench_options {
  int idle = 2000;     ///< connections that send nothing
  int slow = 600;      ///< connections that trickle their head
  int trickle_s = 5;   ///< seconds between a slow connection's bytes
  int requests = 100;  ///< of each kind, per phase
  int hold_s = 20;     ///< the loaded phase lasts at least this long
  int timeout_s = 120; ///< one request's limit
  bool keep_dir = false;
  std::string tutti_bin = TUTTI_BIN;
};

void usage(std::ostream& out) {
  out << "usage: hostile_bench [--idle N] [--slow N] [--trickle-s N]\n"
         "                     [--requests N] [--hold-s N] [--timeout-s N]\n"
         "                     [--tutti PATH] [--keep-dir]\n"
         "  --idle N        connections that send nothing (default 2000)\n"
         "  --slow N        connections trickling a head byte by byte "
         "(default 600)\n"
         "  --trickle-s N   seconds between a slow connection's bytes "
         "(default 5)\n"
         "  --requests N    requests of each kind per phase (default 100)\n"
         "  --hold-s N      the loaded phase lasts at least N s, so that "
         "trickling\n"
         "                  goes on while it is measured (default 20)\n"
         "  --timeout-s N   one request's limit (default 120)\n"
         "  --tutti PATH    the tutti binary (default: the one built with "
         "this benchmark)\n"
         "  --keep-dir      keep the temporary directory (config, logs)\n";
}

bench_options parse_args(int argc, char** argv) {
  bench_options opts;
  parse_flags(argc, argv, usage, [&](const std::string& arg, auto& value) {
    if (arg == "--idle") {
      opts.idle = int_flag(arg, value(), 0, 8000);
    } else if (arg == "--slow") {
      opts.slow = int_flag(arg, value(), 0, 8000);
    } else if (arg == "--trickle-s") {
      opts.trickle_s = int_flag(arg, value(), 1, 60);
    } else if (arg == "--requests") {
      opts.requests = int_flag(arg, value(), 1, 100'000);
    } else if (arg == "--hold-s") {
      opts.hold_s = int_flag(arg, value(), 0, 3600);
    } else if (arg == "--timeout-s") {
      opts.timeout_s = int_flag(arg, value(), 1, 3600);
    } else if (arg == "--tutti") {
      opts.tutti_bin = value();
    } else if (arg == "--keep-dir") {
      opts.keep_dir = true;
    } else {
      return false;
    }
    return true;
  });
  return opts;
}

/// A TCP connection to 127.0.0.1:`port`; -1 when it cannot be made.
int connect_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 &&
      errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

struct timed {
  std::vector<double> ms; ///< requests that succeeded
  int failed = 0;
  std::string first_problem;
};

/// `n` requests, one after another, each on a fresh connection.
timed measure(const std::string& url, bool chat, int n, int timeout_s) {
  timed t;
  for (int i = 0; i < n; ++i) {
    CURL* easy = curl_easy_init();
    std::string body;
    std::string question = "hostile_bench " + std::to_string(i);
    std::string request;
    curl_slist* headers = nullptr;
    if (chat) {
      request = R"({"model":"bench","messages":[{"role":"user","content":")" +
                question + R"("}]})";
      headers = curl_slist_append(headers, "Content-Type: application/json");
      curl_easy_setopt(easy, CURLOPT_URL,
                       (url + "/v1/chat/completions").c_str());
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.c_str());
      curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    } else {
      curl_easy_setopt(easy, CURLOPT_URL, (url + "/healthz").c_str());
    }
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT, static_cast<long>(timeout_s));
    auto started = steady::now();
    auto code = curl_easy_perform(easy);
    auto ms = std::chrono::duration<double, std::milli>(steady::now() - started)
                  .count();
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
    bool ok = code == CURLE_OK && status == 200 &&
              (!chat || body.find("echo: " + question) != std::string::npos);
    if (ok) {
      t.ms.push_back(ms);
      continue;
    }
    ++t.failed;
    if (t.first_problem.empty())
      t.first_problem =
          code != CURLE_OK
              ? std::string{curl_easy_strerror(code)} + " after " +
                    fixed(ms, 0) + " ms"
              : "HTTP " + std::to_string(status) + ": " + body.substr(0, 120);
  }
  return t;
}

struct phase {
  std::string name;
  long open = 0; ///< hostile connections open while measured
  long threads = 0;
  long fds = 0;
  timed healthz;
  timed chat;
};

void print_phase(const phase& p) {
  auto cells = [](const timed& t) {
    auto s = summarize(t.ms);
    return std::vector<std::string>{fixed(s.p50, 2), fixed(s.p99, 2),
                                    fixed(s.max, 1), std::to_string(t.failed)};
  };
  auto h = cells(p.healthz);
  auto c = cells(p.chat);
  std::vector<std::string> all{
      std::to_string(p.open), std::to_string(p.threads), std::to_string(p.fds)};
  all.insert(all.end(), h.begin(), h.end());
  all.insert(all.end(), c.begin(), c.end());
  row(p.name, all, 12, 10);
}

int run(const bench_options& opts) {
  if (::access(opts.tutti_bin.c_str(), X_OK) != 0)
    throw std::runtime_error(opts.tutti_bin + ": not an executable");
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  print_machine_head("hostile_bench");
  std::cout << "  loadavg   " << read_first_line("/proc/loadavg") << '\n'
            << "  build     " << TUTTI_BUILD_TYPE << '\n'
            << "  tutti     " << opts.tutti_bin << '\n'
            << "  settings  --idle " << opts.idle << " --slow " << opts.slow
            << " --trickle-s " << opts.trickle_s << " --requests "
            << opts.requests << " --hold-s " << opts.hold_s << '\n';

  curl_global_init(CURL_GLOBAL_DEFAULT);
  tutti::fake::server fake{
      tutti::fake::parse_script("models:\n  bench-model: {latency: 1ms}\n"), "",
      64};
  fake.start();
  auto dir = make_work_dir("hostile_bench");
  {
    std::ofstream out{dir / "tutti.yaml"};
    out << "providers:\n  bench:\n    kind: openai\n    model: bench-model\n"
           "    base_url: \""
        << fake.base_url()
        << "\"\n    api_key: sk-bench\n    retry: {attempts: 1}\n";
  }
  // The head deadline is raised when the binary knows the flag, so that
  // the hostile connections stay open while they are measured against.
  std::vector<std::string> args{opts.tutti_bin, "serve",
                                "--config",     (dir / "tutti.yaml").string(),
                                "--listen",     "127.0.0.1:0"};
  auto help =
      first_line_of_command(opts.tutti_bin + " serve --help 2>&1 | grep -c "
                                             "header-timeout");
  bool new_server = help != "0" && help != "unknown";
  // An older binary (thread per connection) runs with its own defaults.
  if (new_server)
    for (auto* a : {"--header-timeout", "600", "--max-connections", "16000"})
      args.emplace_back(a);
  child_process serve{
      args, {data_home_in(dir)}, dir / "tutti.stdout", dir / "tutti.stderr"};
  auto url = wait_for_banner(serve, "tutti serve listening on",
                             std::chrono::seconds{30});
  auto port = std::stoi(url.substr(url.rfind(':') + 1));
  std::cout << "  serve     " << url << " (" << (new_server ? "" : "old, ")
            << "pid " << serve.pid() << ")\n  workdir   " << dir.string()
            << "\n\n";
  std::cout.flush();

  std::vector<phase> phases;
  auto measure_phase = [&](const std::string& name, long open) {
    phase p;
    p.name = name;
    p.open = open;
    p.threads = proc_status_number(serve.pid(), "Threads");
    p.fds = open_fds(serve.pid());
    p.healthz = measure(url, false, opts.requests, opts.timeout_s);
    p.chat = measure(url, true, opts.requests, opts.timeout_s);
    p.threads = std::max(p.threads, proc_status_number(serve.pid(), "Threads"));
    std::cout << "  " << name << ": healthz p50 "
              << fixed(summarize(p.healthz.ms).p50, 2) << " ms, chat p50 "
              << fixed(summarize(p.chat.ms).p50, 2) << " ms\n"
              << std::flush;
    phases.push_back(p);
  };
  measure(url, true, 20, opts.timeout_s); // warm-up
  measure_phase("quiet", 0);

  std::vector<int> idle;
  std::vector<int> slow;
  for (int i = 0; i < opts.idle; ++i)
    if (int fd = connect_to(port); fd >= 0)
      idle.push_back(fd);
  const std::string head = "POST /v1/chat/completions HTTP/1.1\r\nHost: "
                           "127.0.0.1\r\nContent-Type: application/json\r\n";
  for (int i = 0; i < opts.slow; ++i)
    if (int fd = connect_to(port); fd >= 0)
      slow.push_back(fd);
  std::atomic<bool> trickling{true};
  std::thread trickler{[&] {
    size_t sent = 0;
    while (trickling) {
      for (int fd : slow)
        ::send(fd, head.data() + sent % head.size(), 1,
               MSG_NOSIGNAL | MSG_DONTWAIT);
      ++sent;
      for (int s = 0; s < opts.trickle_s * 10 && trickling; ++s)
        std::this_thread::sleep_for(std::chrono::milliseconds{100});
    }
  }};
  std::this_thread::sleep_for(std::chrono::seconds{1});
  auto loaded_from = steady::now();
  measure_phase("hostile", static_cast<long>(idle.size() + slow.size()));
  while (steady::now() - loaded_from < std::chrono::seconds{opts.hold_s})
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
  measure_phase("hostile+" + std::to_string(opts.hold_s) + "s",
                static_cast<long>(idle.size() + slow.size()));
  trickling = false;
  trickler.join();
  for (int fd : idle)
    ::close(fd);
  for (int fd : slow)
    ::close(fd);
  std::this_thread::sleep_for(std::chrono::seconds{1});
  measure_phase("after", 0);
  std::cout << "  loadavg   " << read_first_line("/proc/loadavg")
            << " (after the runs)\n\n";

  std::cout << "fresh connection per request, " << opts.requests
            << " of each kind per phase; ms\n";
  row("",
      {"open", "threads", "fds", "hz p50", "hz p99", "hz max", "hz fail",
       "chat p50", "chat p99", "chat max", "chat fail"},
      12, 10);
  for (auto& p : phases)
    print_phase(p);
  std::cout << "  open = hostile connections held open (idle + slowloris); "
               "threads, fds = tutti serve's own\n  (/proc/PID); hz = GET "
               "/healthz; chat = POST /v1/chat/completions, one member, "
               "1 ms upstream\n\n";

  bool running = serve.running();
  serve.stop();
  fake.stop();
  curl_global_cleanup();
  int failures = 0;
  for (auto& p : phases)
    failures += p.healthz.failed + p.chat.failed;
  if (!running || failures > 0) {
    std::cout << "FAILED: " << failures << " requests failed"
              << (running ? "" : "; tutti serve exited") << '\n';
    for (auto& p : phases)
      for (auto* t : {&p.healthz, &p.chat})
        if (!t->first_problem.empty())
          std::cout << "  " << p.name << ": " << t->first_problem << '\n';
    remove_work_dir(dir, true);
    return 1;
  }
  remove_work_dir(dir, opts.keep_dir);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  return tutti::bench::bench_main("hostile_bench", argc, argv, parse_args, run,
                                  usage);
}
