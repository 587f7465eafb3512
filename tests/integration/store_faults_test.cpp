// The run store when things go wrong around it: a PostgreSQL server that
// stops mid-load and comes back, `tutti serve` killed (-9) while it writes an
// SQLite file, a store that cannot be created, a disk that fills up, a
// directory that turns read-only; and what a store must never hold: an API
// key or a bearer token. Answers flow through all of it; the store says
// what is wrong. The PostgreSQL cases fail (never skip) when the server
// cannot be started: `./setup.sh test` installs it.

#include <boost/test/unit_test.hpp>

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "store/sql_db.hpp"
#include "tests/integration/postgres_server.hpp"
#include "tests/integration/raw_http.hpp"
#include "tests/integration/tutti_process.hpp"
#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/engine.hpp"
#include "tutti/store.hpp"

namespace fs = std::filesystem;
using namespace tutti;
using namespace std::chrono_literals;
using tutti::testing::child_process;
using tutti::testing::environment;
using tutti::testing::postgres_server;
using tutti::testing::raw_connection;
using tutti::testing::tutti_process;

namespace {

// The secrets of case 4; `denied` answers 401 with a message that echoes
// the key it was sent, as some vendors do.
const std::string key_a = "sk-faults-secret-alpha-7f3a9c";
const std::string key_b = "sk-faults-secret-bravo-51d0e2";
const std::string bearer = "tok-faults-bearer-c0ffee-9931";

std::string upstream_script() {
  return R"(
models:
  fast:   {reply: "Paris is the capital of France."}
  other:  {reply: "Lyon is not."}
  denied: {fail: {status: 401, message: "Incorrect API key provided: )" +
         key_b + R"(. You can find your API key at the vendor."}}
)";
}

/// Providers `fast`, `other` (key A) and `denied` (key B) on `base_url`,
/// the keys as `${VAR}`s; the ensemble `e` of `fast` and `other`, and `mixed`
/// of `fast` and `denied`; then `store`.
std::string config_yaml(const std::string& base_url, const std::string& store) {
  std::string yaml = "providers:\n";
  for (const char* m : {"fast", "other"})
    yaml += std::string{"  "} + m + ": {kind: openai, model: " + m +
            ", base_url: \"" + base_url +
            "\", api_key: \"${TUTTI_FAULTS_KEY_A}\"}\n";
  yaml += "  denied: {kind: openai, model: denied, base_url: \"" + base_url +
          "\", api_key: \"${TUTTI_FAULTS_KEY_B}\"}\n";
  yaml += "ensembles:\n"
          "  e: {members: [fast, other], deadline: 10s}\n"
          "  mixed: {members: [fast, denied], deadline: 10s}\n";
  yaml += "store: " + store + "\n";
  return yaml;
}

/// The environment a `tutti serve` child gets.
environment serve_env() {
  return {{"PATH", "/usr/bin:/bin:/usr/sbin:/sbin"},
          {"TUTTI_FAULTS_KEY_A", key_a},
          {"TUTTI_FAULTS_KEY_B", key_b}};
}

/// The keys for an engine in this process.
void export_keys() {
  setenv("TUTTI_FAULTS_KEY_A", key_a.c_str(), 1);
  setenv("TUTTI_FAULTS_KEY_B", key_b.c_str(), 1);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

size_t count_of(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos;
       at = text.find(part, at + part.size()))
    ++n;
  return n;
}

template <class Fn>
bool wait_for(Fn fn, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (!fn()) {
    if (std::chrono::steady_clock::now() >= until)
      return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

int64_t ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now() - start)
      .count();
}

/// A directory of its own under /tmp, removed with the object.
class temp_dir {
public:
  temp_dir() {
    char pattern[] = "/tmp/tutti-store-faults-XXXXXX";
    if (mkdtemp(pattern) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const fs::path& path() const { return path_; }

private:
  fs::path path_;
};

/// The raw bytes of `path`; "" when it does not exist.
std::string bytes_of(const fs::path& path) {
  std::ifstream in{path, std::ios::binary};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// The module's one PostgreSQL server, started by the first case that
/// needs it; a failure to start is thrown again in every such case.
struct shared_server {
  std::unique_ptr<postgres_server> server;
  std::string failure;
  bool tried = false;
};

shared_server& shared() {
  static shared_server s;
  return s;
}

postgres_server& pg_server() {
  auto& s = shared();
  if (!s.tried) {
    s.tried = true;
    try {
      s.server = std::make_unique<postgres_server>();
    } catch (const std::exception& e) {
      s.failure = e.what();
    }
  }
  if (!s.server)
    throw std::runtime_error("no PostgreSQL server for the test: " + s.failure);
  return *s.server;
}

struct server_teardown {
  ~server_teardown() { shared().server.reset(); }
};
BOOST_TEST_GLOBAL_FIXTURE(server_teardown);

/// A fresh database `name` on the shared server; its URL.
std::string fresh_database(const std::string& name) {
  auto& server = pg_server();
  store_detail::open_postgres(server.url())->run("CREATE DATABASE " + name);
  return server.url(name);
}

/// Every run the store at `url` holds (paging through all of them).
size_t runs_in(const std::string& url) {
  auto store = open_store(store_config{url}, false);
  size_t n = 0;
  run_filter filter;
  filter.limit = run_filter::max_page;
  for (int page = 0; page < 100; ++page) {
    auto got = store->list(filter);
    n += got.runs.size();
    if (got.next_cursor.empty())
      return n;
    filter.cursor = got.next_cursor;
  }
  throw std::runtime_error("more than 100 pages of runs");
}

/// The lines the engine's store writer logged, kept for a case to read.
struct log_lines {
  std::mutex mutex;
  std::vector<std::string> lines;

  std::function<void(const std::string&)> sink() {
    return [this](const std::string& line) {
      std::lock_guard<std::mutex> guard{mutex};
      lines.push_back(line);
    };
  }
  std::string all() {
    std::lock_guard<std::mutex> guard{mutex};
    std::string text;
    for (auto& l : lines)
      text += l + "\n";
    return text;
  }
};

/// `tutti serve` as a child, listening on a free loopback port.
class served {
public:
  /// `launcher`: shell text the quoted command line follows (it ends in
  /// `exec`, or in a command that execs its arguments); "": the binary
  /// itself.
  served(const fs::path& dir, const std::string& config_file,
         const std::vector<std::string>& extra = {},
         const std::string& launcher = "") {
    std::vector<std::string> serve_args{"serve", "--config", config_file,
                                        "--listen", "127.0.0.1:0"};
    serve_args.insert(serve_args.end(), extra.begin(), extra.end());
    if (launcher.empty()) {
      process_ = std::make_unique<tutti_process>(serve_args, serve_env(), dir);
    } else {
      // `exec` keeps the process id: a signal reaches tutti itself.
      std::string script = launcher + " '" + TUTTI_BIN + "'";
      for (auto& a : serve_args)
        script += " '" + a + "'";
      process_ = std::make_unique<child_process>(
          std::vector<std::string>{"/bin/sh", "-c", script}, serve_env(), dir);
    }
    const std::regex listening{
        R"(tutti serve listening on http://127\.0\.0\.1:(\d+)\n)"};
    std::smatch banner;
    BOOST_REQUIRE_MESSAGE(
        process_->pump_until(
            [&] {
              return std::regex_search(process_->out(), banner, listening);
            },
            15s),
        "tutti serve did not start: " << process_->out() << process_->err());
    port_ = std::stoi(banner[1].str());
  }

  int port() const { return port_; }
  child_process& process() { return *process_; }

private:
  std::unique_ptr<child_process> process_;
  int port_ = 0;
};

/// One HTTP exchange's outcome; status 0 when none came.
struct http_reply {
  int status = 0;
  std::string run_id;
  std::string body;
};

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

http_reply exchange(int port, const std::string& method,
                    const std::string& path, const std::string& body = "",
                    const std::string& token = "",
                    std::chrono::milliseconds timeout = 10s) {
  http_reply reply;
  try {
    raw_connection c{port};
    std::string request = method + " " + path +
                          " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: "
                          "close\r\nContent-Type: application/json\r\n";
    if (!token.empty())
      request += "Authorization: Bearer " + token + "\r\n";
    request +=
        "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    if (!c.send(request))
      return reply;
    auto response = c.read_response(timeout);
    if (response.size() < 12)
      return reply;
    reply.status = std::stoi(response.substr(9, 3));
    auto end = response.find("\r\n\r\n");
    auto head = lower(response.substr(0, end));
    auto at = head.find("\r\nx-tutti-run-id:");
    if (at != std::string::npos) {
      auto from = at + 17;
      auto to = head.find("\r\n", from);
      reply.run_id = response.substr(from, to - from);
      reply.run_id.erase(0, reply.run_id.find_first_not_of(' '));
    }
    reply.body = response.substr(end + 4);
  } catch (const std::exception&) {
    // Refused or cut: no reply.
  }
  return reply;
}

std::string chat_body(const std::string& model, const std::string& prompt) {
  return R"({"model":")" + model +
         R"(","messages":[{"role":"user","content":")" + prompt + R"("}]})";
}

http_reply chat(int port, const std::string& model,
                const std::string& prompt = "Capital of France?",
                const std::string& token = "") {
  return exchange(port, "POST", "/v1/chat/completions",
                  chat_body(model, prompt), token);
}

std::string healthz(int port) {
  return exchange(port, "GET", "/healthz").body;
}

/// What `PRAGMA integrity_check` says of the SQLite file at `path`.
std::string integrity_of(const fs::path& path) {
  std::string result;
  auto db = store_detail::open_sqlite(path.string());
  db->query("PRAGMA integrity_check", {},
            [&](const store_detail::sql_row& r) { result += r.text(0); });
  return result;
}

} // namespace

BOOST_AUTO_TEST_SUITE(store_faults)

BOOST_AUTO_TEST_CASE(postgresql_stopped_mid_load_loses_only_what_overflowed) {
  export_keys();
  fake::server upstream{fake::parse_script(upstream_script())};
  upstream.start();
  auto url = fresh_database("faults_restart");
  auto& pg = pg_server();
  log_lines log;
  engine_options options;
  options.log = log.sink();
  auto eng = engine::from_yaml(
      config_yaml(upstream.base_url(), "{url: \"" + url + "\", queue: 20}"),
      options, "faults.yaml");

  int asked = 0;
  int64_t slowest_ms = 0;
  auto ask_once = [&] {
    auto start = std::chrono::steady_clock::now();
    auto answer = eng.ask("e", "Capital of France?");
    BOOST_REQUIRE(answer.wait_for(10s) == std::future_status::ready);
    BOOST_TEST(answer.get().status == answer_status::ok);
    slowest_ms = std::max(slowest_ms, ms_since(start));
    ++asked;
  };
  for (int i = 0; i < 10; ++i)
    ask_once();
  BOOST_REQUIRE(eng.flush_store(10s));
  BOOST_TEST(eng.store_status().written == 10u);
  BOOST_TEST(eng.store_status().state == "ok");

  pg.stop();
  slowest_ms = 0;
  for (int i = 0; i < 60; ++i)
    ask_once();
  BOOST_TEST_MESSAGE("slowest ask while the server was down: " << slowest_ms
                                                               << " ms");
  BOOST_TEST(slowest_ms < 1000);
  BOOST_TEST(
      wait_for([&] { return eng.store_status().state == "degraded"; }, 10s));
  auto down = eng.store_status();
  BOOST_TEST(down.dropped > 0u);
  BOOST_TEST(down.queued <= 20u);
  BOOST_TEST(!down.problem.empty());

  pg.start();
  BOOST_REQUIRE(eng.flush_store(20s));
  auto up = eng.store_status();
  BOOST_TEST_MESSAGE("written " << up.written << ", dropped " << up.dropped
                                << "; the log:\n"
                                << log.all());
  BOOST_TEST(up.state == "ok");
  BOOST_TEST(up.queued == 0u);
  BOOST_TEST(up.written + up.dropped == static_cast<uint64_t>(asked));
  BOOST_TEST(runs_in(url) == up.written);
  // The log tells each change once, not once per run.
  BOOST_TEST(log.lines.size() <= 6u);
  upstream.stop();
}

BOOST_AUTO_TEST_CASE(serve_killed_mid_write_leaves_a_sound_file_without_holes) {
  fake::server upstream{fake::parse_script(upstream_script())};
  upstream.start();
  temp_dir dir;
  auto db = dir.path() / "runs.db";
  auto url = "sqlite:" + db.string();
  auto config_file = (dir.path() / "tutti.yaml").string();
  std::ofstream{config_file}
      << config_yaml(upstream.base_url(), "\"" + url + "\"");

  std::mt19937 rng{20261206};
  std::uniform_int_distribution<int> kill_after_ms{50, 500};
  std::vector<std::string> stored_before;
  size_t stored_total = 0;
  for (int round = 0; round < 5; ++round) {
    BOOST_TEST_CONTEXT("round " << round) {
      served serve{dir.path(), config_file};
      auto delay = std::chrono::milliseconds{kill_after_ms(rng)};
      std::mutex mutex;
      std::condition_variable stop;
      bool client_done = false;
      std::thread killer{[&] {
        std::unique_lock<std::mutex> lock{mutex};
        stop.wait_for(lock, delay, [&] { return client_done; });
        serve.process().signal(SIGKILL);
      }};
      std::vector<std::string> delivered;
      auto started = std::chrono::steady_clock::now();
      for (int i = 0; i < 5000 && ms_since(started) < 5000; ++i) {
        auto reply = chat(serve.port(), i % 2 ? "fast" : "ensemble/e");
        if (reply.status == 0)
          break; // killed
        BOOST_REQUIRE(reply.status == 200);
        BOOST_REQUIRE(!reply.run_id.empty());
        delivered.push_back(reply.run_id);
      }
      {
        std::lock_guard<std::mutex> guard{mutex};
        client_done = true;
        stop.notify_all();
      }
      killer.join();
      auto ended = serve.process().wait(5s);
      BOOST_TEST(ended.exit_code == 128 + SIGKILL);

      BOOST_TEST(integrity_of(db) == "ok");
      auto store = open_store(store_config{url});
      size_t stored = 0;
      size_t first_missing = delivered.size();
      for (size_t i = 0; i < delivered.size(); ++i) {
        bool found = store->find(delivered[i]).has_value();
        if (!found && first_missing == delivered.size())
          first_missing = i;
        BOOST_TEST_CONTEXT("run " << i << " of " << delivered.size()) {
          BOOST_TEST(!(found && first_missing < i),
                     "stored after an earlier run that is missing");
        }
        stored += found;
      }
      for (auto& id : stored_before)
        BOOST_TEST(store->find(id).has_value(), id << " was lost");
      for (size_t i = 0; i < first_missing; ++i)
        stored_before.push_back(delivered[i]);
      BOOST_TEST_MESSAGE("round " << round << ": killed after " << delay.count()
                                  << " ms, delivered " << delivered.size()
                                  << ", stored " << stored);
      stored_total += stored;
    }
  }
  BOOST_TEST(stored_total > 0u);
  upstream.stop();
}

// Regression: opening a second connection made tutti close a descriptor of
// the database file, and POSIX drops every lock a process holds on a file
// when any descriptor of it closes. The next `tutti` command to close then
// found itself the last user, checkpointed and deleted the WAL that `tutti
// serve` was still writing to: serve's later runs went where no other
// process could read them, and its reader answered from a stale snapshot.
BOOST_AUTO_TEST_CASE(a_command_beside_serve_loses_none_of_its_runs) {
  fake::server upstream{fake::parse_script(upstream_script())};
  upstream.start();
  temp_dir dir;
  auto db = dir.path() / "runs.db";
  auto url = "sqlite:" + db.string();
  auto config_file = (dir.path() / "tutti.yaml").string();
  std::ofstream{config_file}
      << config_yaml(upstream.base_url(), "\"" + url + "\"");
  served serve{dir.path(), config_file};
  auto command = [&](std::vector<std::string> args) {
    args.push_back("--store");
    args.push_back(url);
    return tutti::testing::run_tutti(args, serve_env(), dir.path());
  };
  std::vector<std::string> delivered;
  for (int round = 0; round < 3; ++round) {
    BOOST_TEST_CONTEXT("round " << round) {
      auto reply = chat(serve.port(), "fast");
      BOOST_REQUIRE_EQUAL(reply.status, 200);
      delivered.push_back(reply.run_id);
      // Serve reads its store (a connection of its own), then a command
      // beside it opens the file, reads and exits.
      BOOST_REQUIRE_EQUAL(
          exchange(serve.port(), "GET", "/v1/runs/" + reply.run_id).status,
          200);
      BOOST_REQUIRE_EQUAL(command({"runs", "list"}).exit_code, 0);
      // What serve writes next is where every reader finds it.
      auto next = chat(serve.port(), "fast");
      BOOST_REQUIRE_EQUAL(next.status, 200);
      delivered.push_back(next.run_id);
      BOOST_REQUIRE_EQUAL(
          exchange(serve.port(), "GET", "/v1/runs/" + next.run_id).status, 200);
      auto shown = command({"runs", "show", next.run_id});
      BOOST_TEST(shown.exit_code == 0, "tutti runs show: " << shown.err);
    }
  }
  serve.process().signal(SIGTERM);
  serve.process().wait(10s);
  BOOST_TEST(integrity_of(db) == "ok");
  auto store = open_store(store_config{url}, false);
  for (auto& id : delivered)
    BOOST_TEST(store->find(id).has_value(), id << " was lost");
  upstream.stop();
}

BOOST_AUTO_TEST_CASE(store_under_a_regular_file_is_named_and_answers_flow) {
  export_keys();
  fake::server upstream{fake::parse_script(upstream_script())};
  upstream.start();
  temp_dir dir;
  auto file = dir.path() / "file";
  std::ofstream{file} << "not a directory";
  auto db = (file / "tutti.db").string();
  log_lines log;
  engine_options options;
  options.log = log.sink();
  {
    auto eng =
        engine::from_yaml(config_yaml(upstream.base_url(), "\"" + db + "\""),
                          options, "faults.yaml");
    for (int i = 0; i < 5; ++i) {
      auto answer = eng.ask("e", "Capital of France?");
      BOOST_REQUIRE(answer.wait_for(10s) == std::future_status::ready);
      BOOST_TEST(answer.get().status == answer_status::ok);
    }
    BOOST_TEST(
        wait_for([&] { return eng.store_status().state == "degraded"; }, 10s));
    auto health = eng.store_status();
    BOOST_TEST_MESSAGE("problem: " << health.problem);
    BOOST_TEST(contains(health.problem, db));
  }
  BOOST_TEST(contains(log.all(), db));
  BOOST_TEST(fs::is_regular_file(file));
  upstream.stop();
}

BOOST_AUTO_TEST_CASE(full_disk_degrades_the_store_and_says_why_once) {
  fake::server upstream{fake::parse_script(upstream_script())};
  upstream.start();
  temp_dir dir;
  auto url = "sqlite:" + (dir.path() / "runs.db").string();
  auto config_file = (dir.path() / "tutti.yaml").string();
  std::ofstream{config_file}
      << config_yaml(upstream.base_url(), "\"" + url + "\"");
  // 200 blocks of 512 bytes (dash) or 1 KiB (bash): the file stops growing
  // at 100 or 200 KiB, and a write past it fails with EFBIG.
  served serve{
      dir.path(), config_file, {}, "trap '' XFSZ; ulimit -f 200; exec"};
  const std::string prompt(16 * 1024, 'x');
  int ok = 0;
  for (int i = 0; i < 40; ++i)
    ok += chat(serve.port(), "fast", prompt + std::to_string(i)).status == 200;
  BOOST_TEST(ok == 40);
  std::string health;
  BOOST_TEST(wait_for(
      [&] {
        health = healthz(serve.port());
        return contains(health, R"("status":"degraded")");
      },
      10s));
  BOOST_TEST_MESSAGE("healthz: " << health);
  for (int i = 0; i < 10; ++i)
    ok += chat(serve.port(), "fast", prompt).status == 200;
  BOOST_TEST(ok == 50);
  serve.process().pump(200ms);
  auto err = serve.process().err();
  BOOST_TEST_MESSAGE("stderr:\n" << err);
  BOOST_TEST(count_of(err, "answers go on") == 1u);
  // Says why: the limit this test set (or, on a real disk, that it is full).
  BOOST_TEST((contains(err, "ulimit -f") || contains(err, "disk is full")));
  BOOST_TEST(count_of(err, "\n") < 10u);
  serve.process().signal(SIGTERM);
  auto ended = serve.process().wait(15s);
  BOOST_TEST(!ended.timed_out);
  upstream.stop();
}

BOOST_AUTO_TEST_CASE(read_only_directory_degrades_the_store_and_answers_flow) {
  fake::server upstream{fake::parse_script(upstream_script())};
  upstream.start();
  temp_dir dir;
  auto store_dir = dir.path() / "store";
  fs::create_directories(store_dir);
  auto url = "sqlite:" + (store_dir / "runs.db").string();
  // The store exists and is current; then its directory turns read-only.
  open_store(store_config{url});
  auto config_file = (dir.path() / "tutti.yaml").string();
  std::ofstream{config_file}
      << config_yaml(upstream.base_url(), "\"" + url + "\"");
  std::unique_ptr<served> serve;
  if (geteuid() == 0) {
    // Root writes through permissions: a read-only bind mount, in a mount
    // namespace of the server's own. unshare execs the shell, which execs
    // tutti: one process id.
    auto probe = testing::run_command({"/usr/bin/unshare", "-m", "/bin/true"},
                                      dir.path(), 10s);
    BOOST_REQUIRE_MESSAGE(probe.exit_code == 0,
                          "unshare -m does not work here: " << probe.err);
    serve = std::make_unique<served>(
        dir.path(), config_file, std::vector<std::string>{},
        "exec unshare -m sh -c 'mount --bind -o ro \"$0\" \"$0\" && exec "
        "\"$@\"' '" +
            store_dir.string() + "'");
  } else {
    fs::permissions(store_dir / "runs.db", fs::perms::owner_read |
                                               fs::perms::group_read |
                                               fs::perms::others_read);
    fs::permissions(store_dir,
                    fs::perms::owner_read | fs::perms::owner_exec |
                        fs::perms::group_read | fs::perms::group_exec |
                        fs::perms::others_read | fs::perms::others_exec);
    serve = std::make_unique<served>(dir.path(), config_file);
  }
  int ok = 0;
  for (int i = 0; i < 5; ++i)
    ok += chat(serve->port(), i % 2 ? "fast" : "ensemble/e").status == 200;
  BOOST_TEST(ok == 5);
  std::string health;
  BOOST_TEST(wait_for(
      [&] {
        health = healthz(serve->port());
        return contains(health, R"("status":"degraded")");
      },
      10s));
  BOOST_TEST_MESSAGE("healthz: " << health);
  serve->process().pump(200ms);
  auto err = serve->process().err();
  BOOST_TEST_MESSAGE("stderr:\n" << err);
  BOOST_TEST(count_of(err, "answers go on") == 1u);
  BOOST_TEST(
      (contains(lower(err), "read-only") || contains(lower(err), "readonly")));
  serve->process().signal(SIGTERM);
  auto ended = serve->process().wait(15s);
  BOOST_TEST(!ended.timed_out);
  upstream.stop();
}

BOOST_AUTO_TEST_CASE(no_key_or_token_reaches_the_store) {
  export_keys();
  fake::server upstream{fake::parse_script(upstream_script())};
  upstream.start();
  temp_dir dir;
  auto db = dir.path() / "runs.db";
  auto pg_url = fresh_database("faults_secrets");
  const std::vector<std::string> secrets = {key_a, key_b, bearer};
  auto ask_everything = [&](engine& eng) {
    for (const char* to : {"e", "mixed"}) {
      auto answer = eng.ask(to, "Capital of France?");
      BOOST_REQUIRE(answer.wait_for(10s) == std::future_status::ready);
      answer.get();
    }
    auto denied = eng.ask(target::provider("denied"), "Capital of France?");
    BOOST_REQUIRE(denied.wait_for(10s) == std::future_status::ready);
    auto answer = denied.get();
    BOOST_REQUIRE(answer.members.size() == 1u);
    BOOST_TEST(!answer.members[0].ok);
    BOOST_REQUIRE(eng.flush_store(10s));
    BOOST_TEST(eng.store_status().written == 3u);
  };
  auto files_of = [&] {
    return bytes_of(db) + bytes_of(db.string() + "-wal") +
           bytes_of(db.string() + "-shm");
  };
  {
    auto eng = engine::from_yaml(
        config_yaml(upstream.base_url(), "\"sqlite:" + db.string() + "\""), {},
        "faults.yaml");
    ask_everything(eng);
    // The failed call is stored, its error with it, the key not.
    auto store = open_store(store_config{"sqlite:" + db.string()});
    // By target, not "the newest": runs started in the same millisecond
    // are ordered by their random ids.
    run_filter only_denied;
    only_denied.target = "denied";
    auto page = store->list(only_denied);
    BOOST_REQUIRE(page.runs.size() == 1u);
    auto denied = store->find(page.runs.front().id);
    BOOST_REQUIRE(denied.has_value());
    BOOST_REQUIRE(!denied->calls.empty());
    BOOST_TEST_MESSAGE("stored error: " << denied->calls.front().error);
    BOOST_TEST(contains(denied->calls.front().error, "Incorrect API key"));
    auto bytes = files_of();
    for (auto& s : secrets)
      BOOST_TEST(!contains(bytes, s), s << " is in the SQLite files");
  }
  {
    auto config_file = (dir.path() / "tutti.yaml").string();
    std::ofstream{config_file}
        << config_yaml(upstream.base_url(), "\"sqlite:" + db.string() + "\"");
    served serve{dir.path(), config_file, {"--token", bearer}};
    auto reply =
        chat(serve.port(), "ensemble/mixed", "Capital of France?", bearer);
    BOOST_TEST(reply.status == 200);
    BOOST_TEST(!reply.run_id.empty());
    reply = chat(serve.port(), "denied", "Capital of France?", bearer);
    BOOST_TEST(reply.run_id.size() > 0u);
    serve.process().signal(SIGTERM);
    auto ended = serve.process().wait(15s);
    BOOST_TEST(!ended.timed_out);
    auto store = open_store(store_config{"sqlite:" + db.string()});
    BOOST_TEST(store->find(reply.run_id).has_value());
    auto bytes = files_of();
    BOOST_TEST(bytes.size() > 0u);
    for (auto& s : secrets)
      BOOST_TEST(!contains(bytes, s), s << " is in the SQLite files");
  }
  {
    auto eng = engine::from_yaml(
        config_yaml(upstream.base_url(), "\"" + pg_url + "\""), {},
        "faults.yaml");
    ask_everything(eng);
    auto dump = pg_server().dump("faults_secrets");
    BOOST_TEST(contains(dump, "Incorrect API key"));
    for (auto& s : secrets)
      BOOST_TEST(!contains(dump, s), s << " is in the pg_dump");
  }
  upstream.stop();
}

BOOST_AUTO_TEST_SUITE_END()
