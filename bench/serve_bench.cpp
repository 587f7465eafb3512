// serve_bench: the pass-through overhead of `tutti serve`'s
// /v1/chat/completions for one member, against calling the fake upstream
// directly, side by side in one run with the Portkey AI gateway pointed at
// the same upstream (tests never assert speed).
//
// The process hosts the fake upstream on loopback (whole OpenAI replies that
// echo the question, a small fixed latency, keep-alive) and starts, as child
// processes, `tutti serve` with a one-provider config and the Portkey gateway
// (`node bench/portkey/loopback.mjs .../@portkey-ai/gateway/build/
// start-server.js --port=N --headless`, on 127.0.0.1 only,
// told the upstream by its x-portkey-provider / x-portkey-custom-host
// headers). A libcurl multi handle is the load client: a closed loop over 1
// and over 64 keep-alive connections. Rounds interleave the three paths
// (direct, tutti, portkey, rotating which goes first). Every reply is
// checked (status 200, the question's own echo) and so is the fake's request
// log (one upstream request per request sent, no more, no less), so a broken
// path cannot look fast. Prints p50 and p99 latency, requests/s and the
// proxy's CPU per request, then overhead = path - direct and the ratios
// tutti / portkey. See docs/benchmarks.md.

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
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

// --- command line -----------------------------------------------------------

struct bench_options {
  int rounds = 3;
  int requests_1 = 1'000; ///< per path and round, over 1 connection
  int requests_n = 6'400; ///< per path and round, over `connections`
  int connections = 64;   ///< the concurrent level
  int latency_ms = 1;     ///< the fake's latency per request
  int warmup = 2'000;     ///< unmeasured requests per path before round 1
  int settle_s = 8;       ///< longest wait for idle upstream connections
  int fake_threads = 512; ///< the fake's request threads
  bool tutti = true;
  bool portkey = true;
  bool keep_dir = false;
  std::string tutti_bin = TUTTI_BIN;
  std::vector<std::string> tutti_args; ///< more flags for `tutti serve`
  std::string node_bin = "node";
  std::string portkey_dir = TUTTI_BENCH_DIR "/portkey";
};

void usage(std::ostream& out) {
  out << "usage: serve_bench [--rounds N] [--requests-1 N] [--requests-n N]\n"
         "                   [--connections N] [--latency-ms N] [--warmup N]\n"
         "                   [--settle-s N] [--fake-threads N] [--no-tutti]\n"
         "                   [--no-portkey] [--tutti PATH] [--node PATH]\n"
         "                   [--portkey-dir DIR] [--keep-dir]\n"

         "  --rounds N        rounds; each runs every path at both levels "
         "(default 3)\n"
         "  --requests-1 N    requests per path and round over 1 connection "
         "(default 1000)\n"
         "  --requests-n N    requests per path and round over --connections "
         "(default 6400)\n"
         "  --connections N   the concurrent level (default 64)\n"
         "  --latency-ms N    the fake's latency per request (default 1)\n"
         "  --warmup N        unmeasured requests per path over --connections "
         "before\n"
         "                    round 1 (default 2000)\n"
         "  --settle-s N      before each phase, wait up to N s for the "
         "fake's idle\n"
         "                    keep-alive connections to close (default 8)\n"
         "  --fake-threads N  the fake's request threads (default 512)\n"
         "  --no-tutti        skip tutti serve\n"
         "  --no-portkey      skip the Portkey gateway\n"
         "  --tutti PATH      the tutti binary (default: the one built with "
         "this benchmark)\n"
         "  --tutti-arg ARG   one more flag for `tutti serve` (repeatable), "
         "e.g.\n"
         "                    --tutti-arg --io-threads --tutti-arg 4\n"
         "  --node PATH       the node binary for Portkey (default: node on "
         "PATH)\n"
         "  --portkey-dir DIR where `npm ci --prefix DIR` installed the "
         "gateway\n"
         "                    (default: bench/portkey in the source tree)\n"
         "  --keep-dir        keep the temporary directory (config, logs)\n";
}

bench_options parse_args(int argc, char** argv) {
  bench_options opts;
  parse_flags(argc, argv, usage, [&](const std::string& arg, auto& value) {
    if (arg == "--rounds") {
      opts.rounds = int_flag(arg, value(), 1, 100);
    } else if (arg == "--requests-1") {
      opts.requests_1 = int_flag(arg, value(), 1, 1'000'000);
    } else if (arg == "--requests-n") {
      opts.requests_n = int_flag(arg, value(), 1, 1'000'000);
    } else if (arg == "--connections") {
      opts.connections = int_flag(arg, value(), 2, 1'000);
    } else if (arg == "--latency-ms") {
      opts.latency_ms = int_flag(arg, value(), 0, 10'000);
    } else if (arg == "--warmup") {
      opts.warmup = int_flag(arg, value(), 0, 1'000'000);
    } else if (arg == "--settle-s") {
      opts.settle_s = int_flag(arg, value(), 0, 600);
    } else if (arg == "--fake-threads") {
      opts.fake_threads = int_flag(arg, value(), 8, 4'096);
    } else if (arg == "--no-tutti") {
      opts.tutti = false;
    } else if (arg == "--no-portkey") {
      opts.portkey = false;
    } else if (arg == "--tutti") {
      opts.tutti_bin = value();
    } else if (arg == "--tutti-arg") {
      opts.tutti_args.emplace_back(value());
    } else if (arg == "--node") {
      opts.node_bin = value();
    } else if (arg == "--portkey-dir") {
      opts.portkey_dir = value();
    } else if (arg == "--keep-dir") {
      opts.keep_dir = true;
    } else {
      return false;
    }
    return true;
  });
  if (opts.fake_threads < 3 * opts.connections + 16)
    throw std::invalid_argument(
        "--fake-threads: at least 3 x --connections + 16 (each path may hold "
        "a connection, and so a thread of the fake, per request in flight)");
  return opts;
}

// --- small helpers ----------------------------------------------------------

/// The "version" of a package.json, or "unknown".
std::string package_version(const fs::path& package_json) {
  rapidjson::Document doc;
  auto text = read_file(package_json);
  doc.Parse(text.c_str());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("version") ||
      !doc["version"].IsString())
    return "unknown";
  return doc["version"].GetString();
}

/// A port no one listens on right now (the kernel's pick for port 0). Another
/// process could take it before the gateway binds it; the gateway then fails
/// to start and the benchmark says so.
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
bool accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

/// Established TCP connections whose local port is `port` (IPv4 and IPv6),
/// from /proc/net/tcp*: on a server's port, the connections it holds open.
int established_on(int port) {
  int count = 0;
  for (auto* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in{table};
    std::string line;
    std::getline(in, line); // the header
    while (std::getline(in, line)) {
      // "  sl  local_address rem_address   st ..."; the address is HEX:PORT.
      std::istringstream fields{line};
      std::string sl, local, remote, state;
      fields >> sl >> local >> remote >> state;
      auto colon = local.rfind(':');
      if (colon == std::string::npos || state != "01") // 01: ESTABLISHED
        continue;
      if (std::stoi(local.substr(colon + 1), nullptr, 16) == port)
        ++count;
    }
  }
  return count;
}

// --- the paths
// ----------------------------------------------------------------

/// One way to the fake upstream: its URL, headers and the model it asks,
/// which the fake's script names after the path, so the fake's log tells the
/// paths' requests apart.
struct path_spec {
  std::string name;       ///< "direct", "tutti", "portkey"
  std::string label;      ///< for the tables
  std::string url;        ///< POST target
  std::string model;      ///< `model` in the request body
  std::string fake_model; ///< the model the fake sees
  std::vector<std::string> headers;
  pid_t server_pid = -1; ///< the proxy's process, for its CPU; -1: none
};

std::string upstream_script(int latency_ms) {
  std::string latency = std::to_string(latency_ms) + "ms";
  // No reply: each model echoes the question ("echo: <question>").
  return "models:\n"
         "  direct-model: {latency: " +
         latency +
         "}\n"
         "  tutti-model: {latency: " +
         latency +
         "}\n"
         "  portkey-model: {latency: " +
         latency + "}\n";
}

/// One provider, never a wait for a permit, never a retry (a failure must
/// fail the run, not add requests).
void write_tutti_config(const fs::path& path, const std::string& base_url,
                        int connections) {
  std::ofstream out{path};
  out << "# serve_bench: one provider in front of the fake upstream\n"
         "providers:\n"
         "  bench:\n"
         "    kind: openai\n"
         "    model: tutti-model\n"
         "    base_url: \""
      << base_url
      << "\"\n"
         "    api_key: sk-bench\n"
         "    concurrency: "
      << std::max(1024, 4 * connections)
      << "\n"
         "    retry: {attempts: 1}\n";
  if (!out)
    throw std::runtime_error(path.string() + ": cannot write");
}

// --- the load client: a closed loop over a libcurl multi handle
// ---------------

struct transfer {
  CURL* easy = nullptr;
  int id = -1;
  std::string expected;
  std::string reply;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  static_cast<transfer*>(user)->reply.append(data, size * count);
  return size * count;
}

/// What is wrong with a reply: empty when it is an OpenAI chat.completion
/// whose first choice's message content is `expected`.
std::string check_reply(const std::string& body, const std::string& expected) {
  rapidjson::Document doc;
  doc.Parse(body.c_str());
  if (doc.HasParseError() || !doc.IsObject())
    return "not a JSON object: " + body.substr(0, 200);
  auto choices = doc.FindMember("choices");
  if (choices == doc.MemberEnd() || !choices->value.IsArray() ||
      choices->value.Empty() || !choices->value[0].IsObject())
    return "no choices: " + body.substr(0, 200);
  auto& choice = choices->value[0];
  auto message = choice.FindMember("message");
  if (message == choice.MemberEnd() || !message->value.IsObject())
    return "no message: " + body.substr(0, 200);
  auto content = message->value.FindMember("content");
  if (content == message->value.MemberEnd() || !content->value.IsString())
    return "no content: " + body.substr(0, 200);
  if (content->value.GetString() != expected)
    return "content '" + std::string{content->value.GetString()} +
           "', expected '" + expected + "'";
  return {};
}

struct phase_result {
  std::string path;
  int connections = 0;
  int round = 0;
  int requests = 0;
  std::vector<double> latency_ms; ///< measured requests only
  double wall_s = 0;              ///< from the first measured request's start
  double server_cpu_s = -1;       ///< the proxy's CPU over the same span
  size_t upstream_ok = 0;         ///< the fake's log: its model, 200 ok
  size_t upstream_other = 0;      ///< the fake's log: its model, anything else
  double settle_s = 0;            ///< waited for idle connections before it
  std::vector<std::string> problems;

  double per_s() const { return wall_s > 0 ? requests / wall_s : 0; }
};

/// Runs `warmup` then `requests` requests to `path` over `connections`
/// keep-alive connections, each starting its next request as soon as its
/// last one ended. Every reply is checked. Bounded: each request times out
/// after 30 s and the phase after `phase_timeout`.
phase_result run_phase(const path_spec& path, int connections, int warmup,
                       int requests, int round,
                       std::chrono::seconds phase_timeout) {
  phase_result r;
  r.path = path.name;
  r.connections = connections;
  r.round = round;
  r.requests = requests;
  r.latency_ms.reserve(static_cast<size_t>(requests));
  auto problem = [&](const std::string& text) {
    if (r.problems.size() < 5)
      r.problems.push_back(path.name + " x" + std::to_string(connections) +
                           " round " + std::to_string(round) + ": " + text);
  };

  curl_slist* headers = nullptr;
  for (auto& h : path.headers)
    headers = curl_slist_append(headers, h.c_str());
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Expect:");
  CURLM* multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                    static_cast<long>(connections));
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS,
                    static_cast<long>(connections));
  std::vector<transfer> transfers(static_cast<size_t>(connections));
  for (auto& t : transfers) {
    t.easy = curl_easy_init();
    curl_easy_setopt(t.easy, CURLOPT_URL, path.url.c_str());
    curl_easy_setopt(t.easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(t.easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(t.easy, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(t.easy, CURLOPT_PRIVATE, &t);
    curl_easy_setopt(t.easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t.easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(t.easy, CURLOPT_TIMEOUT_MS, 30'000L);
  }

  int total = warmup + requests;
  int next = 0;
  int finished = 0;
  steady::time_point measured_start{};
  double cpu_start = 0;
  std::string tag = path.name + " " + std::to_string(connections) + " " +
                    std::to_string(round);
  auto start = [&](transfer& t) {
    t.id = next++;
    if (t.id == warmup) {
      measured_start = steady::now();
      if (path.server_pid > 0)
        cpu_start = child_cpu_s(path.server_pid);
    }
    auto question = "serve_bench " + tag + " " + std::to_string(t.id);
    t.expected = "echo: " + question;
    t.reply.clear();
    auto body = R"({"model":")" + path.model +
                R"(","messages":[{"role":"user","content":")" + question +
                R"("}]})";
    curl_easy_setopt(t.easy, CURLOPT_COPYPOSTFIELDS, body.c_str());
    curl_multi_add_handle(multi, t.easy);
  };
  for (auto& t : transfers)
    if (next < total)
      start(t);

  auto deadline = steady::now() + phase_timeout;
  bool timed_out = false;
  while (finished < total) {
    if (steady::now() > deadline) {
      timed_out = true;
      break;
    }
    int running = 0;
    curl_multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      transfer* t = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
      long status = 0;
      curl_off_t total_us = 0;
      curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
      curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME_T, &total_us);
      CURLcode code = msg->data.result;
      curl_multi_remove_handle(multi, t->easy);
      ++finished;
      if (code != CURLE_OK) {
        problem("request " + std::to_string(t->id) + ": " +
                curl_easy_strerror(code));
      } else if (status != 200) {
        problem("request " + std::to_string(t->id) + ": HTTP " +
                std::to_string(status) + ": " + t->reply.substr(0, 200));
      } else if (auto wrong = check_reply(t->reply, t->expected);
                 !wrong.empty()) {
        problem("request " + std::to_string(t->id) + ": " + wrong);
      } else if (t->id >= warmup) {
        r.latency_ms.push_back(static_cast<double>(total_us) / 1000.0);
      }
      if (next < total)
        start(*t);
    }
    if (finished < total)
      curl_multi_poll(multi, nullptr, 0, 100, nullptr);
  }
  auto end = steady::now();
  r.wall_s = std::chrono::duration<double>(end - measured_start).count();
  if (path.server_pid > 0)
    r.server_cpu_s = child_cpu_s(path.server_pid) - cpu_start;
  if (timed_out)
    problem("only " + std::to_string(finished) + " of " +
            std::to_string(total) + " requests finished within " +
            std::to_string(phase_timeout.count()) + " s");
  if (static_cast<int>(r.latency_ms.size()) != requests)
    problem(std::to_string(r.latency_ms.size()) + " of " +
            std::to_string(requests) + " measured requests succeeded");

  // Closing the client's connections here means none stays idle on the
  // servers (cpp-httplib polls an idle keep-alive connection ~90 times a
  // second) while the next path runs.
  for (auto& t : transfers) {
    curl_multi_remove_handle(multi, t.easy);
    curl_easy_cleanup(t.easy);
  }
  curl_multi_cleanup(multi);
  curl_slist_free_all(headers);
  return r;
}

/// The fake's requests for `model` logged since entry `from`, by outcome.
void count_upstream(const tutti::fake::server& fake, size_t from,
                    const std::string& model, phase_result& r) {
  auto log = fake.arrivals();
  for (size_t i = from; i < log.size(); ++i) {
    if (log[i].model != model)
      continue;
    (log[i].status == 200 && log[i].outcome == "ok" ? r.upstream_ok
                                                    : r.upstream_other)++;
  }
}

/// Waits until no connection to the fake is open (each path's proxy keeps
/// its upstream connections alive; the fake closes them after 5 s idle), at
/// most `limit`. Returns the seconds waited.
double settle(int fake_port, std::chrono::seconds limit) {
  auto begin = steady::now();
  while (established_on(fake_port) > 0 && steady::now() - begin < limit)
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  return std::chrono::duration<double>(steady::now() - begin).count();
}

// --- the report
// ---------------------------------------------------------------

/// A table row: the label padded to 34 columns, then cells right-aligned in
/// 11 (more columns than bench_support's `row` fits by default).
void table_row(const std::string& label,
               const std::vector<std::string>& cells) {
  row(label, cells, 34, 11);
}

struct level_figures {
  summary latency;    ///< pooled over the rounds
  double per_s = 0;   ///< median over the rounds
  double cpu_us = -1; ///< the proxy's CPU per request, pooled; -1: none
};

level_figures figures_of(const std::vector<phase_result>& phases,
                         const std::string& path, int connections) {
  level_figures f;
  std::vector<double> samples;
  std::vector<double> rates;
  double cpu = 0;
  long requests = 0;
  bool has_cpu = false;
  for (auto& p : phases) {
    if (p.path != path || p.connections != connections)
      continue;
    samples.insert(samples.end(), p.latency_ms.begin(), p.latency_ms.end());
    rates.push_back(p.per_s());
    if (p.server_cpu_s >= 0) {
      has_cpu = true;
      cpu += p.server_cpu_s;
      requests += p.requests;
    }
  }
  f.latency = summarize(std::move(samples));
  f.per_s = nearest_rank_median(std::move(rates));
  if (has_cpu && requests > 0)
    f.cpu_us = cpu * 1e6 / static_cast<double>(requests);
  return f;
}

/// "0.42x"; "-" unless both are above 0 (an overhead lost in the noise
/// can come out at or below 0, and its ratio means nothing).
std::string ratio(double numerator, double denominator) {
  return numerator > 0 && denominator > 0
             ? fixed(numerator / denominator, 2) + "x"
             : "-";
}

void print_level(const std::vector<phase_result>& phases,
                 const std::vector<path_spec>& paths, int connections,
                 int requests, const bench_options& opts) {
  std::cout << connections
            << (connections == 1 ? " connection" : " connections") << ": "
            << opts.rounds << " rounds x " << requests
            << " requests per path (pooled), fake latency " << opts.latency_ms
            << " ms\n";
  table_row("",
            {"p50 ms", "p99 ms", "mean ms", "max ms", "req/s", "CPU us/req"});
  std::map<std::string, level_figures> by_path;
  for (auto& p : paths) {
    auto f = figures_of(phases, p.name, connections);
    by_path[p.name] = f;
    table_row(p.label,
              {fixed(f.latency.p50, 3), fixed(f.latency.p99, 3),
               fixed(f.latency.mean, 3), fixed(f.latency.max, 2),
               fixed(f.per_s, 0), f.cpu_us >= 0 ? fixed(f.cpu_us, 0) : "-"});
  }
  auto& direct = by_path["direct"];
  for (auto& p : paths) {
    if (p.name == "direct")
      continue;
    auto& f = by_path[p.name];
    table_row("overhead " + p.name + " (- direct)",
              {signed_fixed(f.latency.p50 - direct.latency.p50, 3),
               signed_fixed(f.latency.p99 - direct.latency.p99, 3),
               signed_fixed(f.latency.mean - direct.latency.mean, 3)});
  }
  if (by_path.count("tutti") != 0 && by_path.count("portkey") != 0) {
    auto& t = by_path["tutti"];
    auto& k = by_path["portkey"];
    auto over = [&](const level_figures& f, double summary::*field) {
      return f.latency.*field - direct.latency.*field;
    };
    table_row("tutti / portkey, latency",
              {ratio(t.latency.p50, k.latency.p50),
               ratio(t.latency.p99, k.latency.p99),
               ratio(t.latency.mean, k.latency.mean)});
    table_row("tutti / portkey, overhead",
              {ratio(over(t, &summary::p50), over(k, &summary::p50)),
               ratio(over(t, &summary::p99), over(k, &summary::p99)),
               ratio(over(t, &summary::mean), over(k, &summary::mean))});
    std::cout << "  req/s tutti / portkey " << ratio(t.per_s, k.per_s)
              << "; CPU per request tutti / portkey "
              << ratio(t.cpu_us, k.cpu_us) << '\n';
  }
  std::cout << "  per round, p50 ms:";
  for (auto& p : paths) {
    std::cout << "  " << p.name;
    for (auto& ph : phases)
      if (ph.path == p.name && ph.connections == connections)
        std::cout << ' ' << fixed(summarize(ph.latency_ms).p50, 3);
  }
  std::cout << "\n\n";
}

int run(const bench_options& opts) {
  bool tutti = opts.tutti;
  bool portkey = opts.portkey;
  std::string portkey_note;
  fs::path portkey_root =
      fs::path{opts.portkey_dir} / "node_modules/@portkey-ai/gateway";
  fs::path portkey_script = portkey_root / "build/start-server.js";
  std::string node_version;
  if (!opts.portkey) {
    portkey_note = "skipped: --no-portkey";
  } else if (!fs::exists(portkey_script)) {
    portkey = false;
    portkey_note = "skipped: " + portkey_script.string() +
                   " not found (npm ci --prefix bench/portkey)";
  } else {
    node_version = first_line_of_command(opts.node_bin + " --version 2>&1");
    if (node_version.rfind('v', 0) != 0) {
      portkey = false;
      portkey_note = "skipped: '" + opts.node_bin + " --version' failed (" +
                     node_version + ")";
    }
  }
  if (tutti && ::access(opts.tutti_bin.c_str(), X_OK) != 0)
    throw std::runtime_error(opts.tutti_bin + ": not an executable");

  print_machine_head("serve_bench");
  auto* curl_info = curl_version_info(CURLVERSION_NOW);
  std::cout << "  loadavg   " << read_first_line("/proc/loadavg") << '\n'
            << "  build     " << TUTTI_BUILD_TYPE << ", libcurl "
            << curl_info->version << '\n'
            << "  tutti     " << (tutti ? opts.tutti_bin : "skipped");
  for (auto& arg : opts.tutti_args)
    std::cout << ' ' << arg;
  std::cout << '\n'
            << "  portkey   "
            << (portkey ? "@portkey-ai/gateway " +
                              package_version(portkey_root / "package.json") +
                              ", node " + node_version
                        : portkey_note)
            << '\n'
            << "  settings  --rounds " << opts.rounds << " --requests-1 "
            << opts.requests_1 << " --requests-n " << opts.requests_n
            << " --connections " << opts.connections << " --latency-ms "
            << opts.latency_ms << " --warmup " << opts.warmup << " --settle-s "
            << opts.settle_s << '\n';

  curl_global_init(CURL_GLOBAL_DEFAULT);
  // The fake's threads inherit this name, which tells them apart in top.
  name_this_thread("fake");
  tutti::fake::server fake{
      tutti::fake::parse_script(upstream_script(opts.latency_ms)), "",
      opts.fake_threads};
  fake.start();
  name_this_thread("serve_bench");
  std::cout << "  upstream  tutti::fake::server in-process, "
            << opts.fake_threads << " threads, " << fake.base_url()
            << ", echo, " << opts.latency_ms << " ms\n";

  auto dir = make_work_dir("serve_bench");

  std::vector<path_spec> paths;
  paths.push_back({"direct",
                   "direct (fake upstream)",
                   fake.base_url() + "/chat/completions",
                   "direct-model",
                   "direct-model",
                   {"Authorization: Bearer sk-bench"}});

  std::unique_ptr<child_process> serve;
  if (tutti) {
    write_tutti_config(dir / "tutti.yaml", fake.base_url(), opts.connections);
    std::vector<std::string> serve_args{
        opts.tutti_bin, "serve",      "--config", (dir / "tutti.yaml").string(),
        "--listen",     "127.0.0.1:0"};
    serve_args.insert(serve_args.end(), opts.tutti_args.begin(),
                      opts.tutti_args.end());
    serve = std::make_unique<child_process>(
        serve_args, std::vector<std::string>{data_home_in(dir)},
        dir / "tutti.stdout", dir / "tutti.stderr");
    auto url = wait_for_banner(*serve, "tutti serve listening on",
                               std::chrono::seconds{30});
    paths.push_back({"tutti",
                     "tutti serve",
                     url + "/v1/chat/completions",
                     "bench",
                     "tutti-model",
                     {"Authorization: Bearer sk-bench"},
                     serve->pid()});
    std::cout << "  tutti     serve on " << url
              << ", provider 'bench' (kind openai, model tutti-model, "
                 "no retries)\n";
  }

  std::unique_ptr<child_process> gateway;
  if (portkey) {
    int port = free_port();
    gateway = std::make_unique<child_process>(
        std::vector<std::string>{
            opts.node_bin, TUTTI_BENCH_DIR "/portkey/loopback.mjs",
            portkey_script.string(), "--port=" + std::to_string(port),
            "--headless"},
        std::vector<std::string>{}, dir / "portkey.stdout",
        dir / "portkey.stderr");
    auto until = steady::now() + std::chrono::seconds{30};
    while (!accepts(port)) {
      if (!gateway->running())
        throw std::runtime_error(
            gateway->describe_failure("the Portkey gateway exited"));
      if (steady::now() > until)
        throw std::runtime_error(gateway->describe_failure(
            "the Portkey gateway did not listen within 30 s"));
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
    auto url = "http://127.0.0.1:" + std::to_string(port);
    paths.push_back(
        {"portkey",
         "portkey gateway",
         url + "/v1/chat/completions",
         "portkey-model",
         "portkey-model",
         {"Authorization: Bearer sk-bench", "x-portkey-provider: openai",
          "x-portkey-custom-host: " + fake.base_url()},
         gateway->pid()});
    std::cout << "  portkey   gateway on " << url
              << " (node, --headless), x-portkey-provider: openai, "
                 "x-portkey-custom-host: "
              << fake.base_url() << '\n';
  } else {
    std::cout << "  portkey   " << portkey_note << '\n';
  }
  std::cout << "  workdir   " << dir.string() << "\n\n";
  std::cout << "each request: POST /v1/chat/completions, not streamed, a "
               "question of its own;\nthe reply must be 200 with the "
               "question's echo, and the fake must log one request for it\n\n";
  std::cout.flush();

  std::vector<phase_result> phases;
  std::vector<std::string> problems;
  double settled_s = 0;
  auto phase_timeout = std::chrono::seconds{300};
  // One phase, checked: every reply (run_phase) and the fake's log, which
  // must hold exactly one ok request per request sent.
  auto run_checked = [&](const path_spec& path, int connections, int warmup,
                         int requests, int round) {
    auto waited = settle(fake.port(), std::chrono::seconds{opts.settle_s});
    settled_s += waited;
    auto log_before = fake.arrivals().size();
    auto r =
        run_phase(path, connections, warmup, requests, round, phase_timeout);
    r.settle_s = waited;
    count_upstream(fake, log_before, path.fake_model, r);
    auto expected = static_cast<size_t>(warmup + requests);
    if (r.upstream_ok != expected || r.upstream_other != 0)
      r.problems.push_back(
          path.name + " x" + std::to_string(connections) + " round " +
          std::to_string(round) + ": the fake logged " +
          std::to_string(r.upstream_ok) + " ok and " +
          std::to_string(r.upstream_other) + " other requests, expected " +
          std::to_string(expected) + " ok");
    problems.insert(problems.end(), r.problems.begin(), r.problems.end());
    return r;
  };

  // Round 0: a warm-up for every path (node's JIT, tutti's and the fake's
  // connection pools), not measured.
  for (auto& path : paths) {
    if (opts.warmup == 0)
      break;
    std::cout << "  warm-up, " << opts.connections << " conn, " << path.name
              << " ..." << std::flush;
    auto r = run_checked(path, opts.connections, 0, opts.warmup, 0);
    std::cout << ' ' << fixed(r.per_s(), 0) << " req/s\n";
  }
  for (int round = 1; round <= opts.rounds; ++round) {
    for (int connections : {1, opts.connections}) {
      int requests = connections == 1 ? opts.requests_1 : opts.requests_n;
      int warmup = std::max(50, 4 * connections);
      for (size_t i = 0; i < paths.size(); ++i) {
        // Rotate which path goes first, so none always follows another.
        auto& path = paths[(i + static_cast<size_t>(round - 1)) % paths.size()];
        std::cout << "  round " << round << ", " << connections << " conn, "
                  << path.name << " ..." << std::flush;
        auto r = run_checked(path, connections, warmup, requests, round);
        std::cout << " p50 " << fixed(summarize(r.latency_ms).p50, 3) << " ms, "
                  << fixed(r.per_s(), 0) << " req/s (settled "
                  << fixed(r.settle_s, 1) << " s)\n";
        phases.push_back(std::move(r));
      }
    }
  }
  std::cout << "  loadavg   " << read_first_line("/proc/loadavg")
            << " (after the runs); waited " << fixed(settled_s, 1)
            << " s in all for idle upstream connections to close\n\n";

  if (serve && !serve->running())
    problems.push_back(serve->describe_failure("tutti serve exited early"));
  if (gateway && !gateway->running())
    problems.push_back(
        gateway->describe_failure("the Portkey gateway exited early"));

  print_level(phases, paths, 1, opts.requests_1, opts);
  print_level(phases, paths, opts.connections, opts.requests_n, opts);
  std::cout << "  latency: libcurl's CURLINFO_TOTAL_TIME per request, "
               "nearest-rank percentiles over\n"
               "  all rounds; req/s: the median round; CPU us/req: the "
               "proxy process's user + sys\n"
               "  (/proc/PID/stat) over the measured requests; overhead: "
               "the path's figure minus\n"
               "  direct's; a latency, overhead or CPU ratio below 1 means "
               "tutti is faster, adds\n"
               "  less or costs less; a req/s ratio above 1 means it serves "
               "more\n\n";

  // A picture of the p50 overhead at both levels.
  std::vector<std::pair<std::string, double>> bars;
  for (int connections : {1, opts.connections}) {
    auto direct = figures_of(phases, "direct", connections);
    for (auto& p : paths) {
      if (p.name == "direct")
        continue;
      auto f = figures_of(phases, p.name, connections);
      bars.emplace_back(p.name + " x" + std::to_string(connections),
                        f.latency.p50 - direct.latency.p50);
    }
  }
  if (!bars.empty()) {
    double most = 0;
    for (auto& b : bars)
      most = std::max(most, b.second);
    std::cout << "  p50 overhead over direct, ms\n";
    for (auto& [label, value] : bars) {
      std::string name = label;
      name.resize(14, ' ');
      std::cout << "  " << name << '|' << scaled_bar(std::max(value, 0.0), most)
                << ' ' << fixed(value, 3) << '\n';
    }
    std::cout << '\n';
  }

  if (serve)
    serve->stop();
  if (gateway)
    gateway->stop();
  fake.stop();
  curl_global_cleanup();

  if (!problems.empty()) {
    std::cout << "FAILED: the figures above are not valid (logs kept in "
              << dir.string() << ")\n";
    for (auto& p : problems)
      std::cout << "  " << p << '\n';
    return 1;
  }
  std::cout << "every request: 200 with its own echo; the fake logged one ok "
               "request per request sent, on every path\n";
  remove_work_dir(dir, opts.keep_dir);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  return tutti::bench::bench_main("serve_bench", argc, argv, parse_args, run,
                                  usage);
}
