// `tutti serve` against hostile clients, over real sockets: what a client
// sends (bodies, heads, lengths, encodings, how fast it sends, how many
// connections it opens) may cost it an error, never the server's life or
// everyone else's service. Each case is a regression test: it failed on the
// thread-per-connection server this one replaced.

#include <boost/test/unit_test.hpp>

#include <dirent.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <rapidjson/document.h>

#include "tests/integration/fake_upstream_fixture.hpp"
#include "tests/integration/raw_http.hpp"
#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/engine.hpp"
#include "tutti/server.hpp"

using namespace tutti;
using namespace std::chrono_literals;
using tutti::testing::raw_connection;
using steady = std::chrono::steady_clock;

namespace {

const char* upstream_script = R"(
models:
  fast:    {reply: "Paris is the capital of France."}
  paced:   {reply: "a b c d e f g h i j k l", tokens_per_second: 10}
)";

std::string config_yaml(const std::string& base_url) {
  return "providers:\n"
         "  fast: {kind: openai, model: fast, base_url: \"" +
         base_url +
         "\", api_key: sk-hostile-test}\n"
         "  paced: {kind: openai, model: paced, base_url: \"" +
         base_url +
         "\", api_key: sk-hostile-test}\n"
         "ensembles:\n"
         "  duo: {members: [fast, paced], deadline: 10s}\n";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

int status_of(const std::string& response) {
  if (response.size() < 12 || response.rfind("HTTP/1.1 ", 0) != 0)
    return 0;
  return std::stoi(response.substr(9, 3));
}

std::string body_of(const std::string& response) {
  auto end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

double seconds_since(steady::time_point started) {
  return std::chrono::duration<double>(steady::now() - started).count();
}

/// Threads of this process now.
size_t thread_count() {
  size_t n = 0;
  if (DIR* dir = opendir("/proc/self/task")) {
    while (auto* entry = readdir(dir))
      if (entry->d_name[0] != '.')
        ++n;
    closedir(dir);
  }
  return n;
}

std::string chat_body(const std::string& model, bool stream = false) {
  return R"({"model":")" + model +
         R"(","messages":[{"role":"user","content":"Capital of France?"}],"stream":)" +
         (stream ? "true" : "false") + "}";
}

struct hostile_fixture {
  fake::server upstream{fake::parse_script(upstream_script), "", 64};
  std::unique_ptr<tutti::engine> engine;
  std::unique_ptr<tutti::server> endpoint;
  server_options options;

  hostile_fixture() {
    upstream.start();
    engine = std::make_unique<tutti::engine>(tutti::engine::from_yaml(
        config_yaml(upstream.base_url()), {}, "hostile.yaml"));
    options.port = 0;
    options.max_body_bytes = 64 * 1024;
    options.header_timeout = 1500ms;
    options.read_timeout = 1500ms;
  }

  ~hostile_fixture() {
    endpoint.reset();
    engine.reset();
    upstream.stop();
  }

  void start() {
    endpoint = std::make_unique<tutti::server>(*engine, options);
    endpoint->start();
  }

  int port() const { return endpoint->port(); }

  /// One request on a fresh connection; its whole response ("" if none
  /// came within `timeout`).
  std::string exchange(const std::string& request,
                       std::chrono::milliseconds timeout = 5s) {
    raw_connection c{port()};
    c.send(request);
    return c.read_response(timeout);
  }

  std::string post_json(const std::string& path, const std::string& body,
                        const std::string& extra_headers = "") {
    return exchange("POST " + path +
                    " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                    "application/json\r\n" +
                    extra_headers + "Content-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body);
  }

  std::string get(const std::string& path,
                  const std::string& extra_headers = "") {
    return exchange("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                    extra_headers + "\r\n");
  }

  /// The server still answers a normal request.
  void still_serves() {
    auto r = post_json("/v1/chat/completions", chat_body("fast"));
    BOOST_TEST(status_of(r) == 200, "response: " << r.substr(0, 300));
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(server_hostile_tests, hostile_fixture)

// --- bodies
// --------------------------------------------------------------------

// Regression: 300 KB of `[` overflowed the stack of the thread that parsed
// it and killed `tutti serve`.
BOOST_AUTO_TEST_CASE(deep_json_is_a_400_and_the_server_lives) {
  start();
  for (auto* path : {"/v1/chat/completions", "/v1/runs"}) {
    auto r = post_json(path, std::string(60'000, '['));
    BOOST_TEST(status_of(r) == 400);
    BOOST_TEST(contains(r, "nested deeper than 64 levels"));
  }
  still_serves();
}

// Regression: `--max-body` did not apply to chunked bodies (300 MB were
// read whole, RSS 465 MB), and bodies were read before the token check.
BOOST_AUTO_TEST_CASE(a_chunked_body_over_the_limit_is_refused_early) {
  start();
  raw_connection c{port()};
  c.send(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
  std::string chunk(16 * 1024, 'x');
  char size[16];
  std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
  size_t sent = 0;
  // Far more than the 64 KiB limit, unless the server stops reading first.
  for (int i = 0; i < 2000 && c.send(size + chunk + "\r\n"); ++i)
    sent += chunk.size();
  auto r = c.read_response(5s);
  BOOST_TEST(status_of(r) == 413, "response: " << r);
  BOOST_TEST(contains(r, "request_too_large"));
  BOOST_TEST(sent < 16u * 1024 * 1024); // it stopped taking bytes
  still_serves();
}

BOOST_AUTO_TEST_CASE(a_declared_length_over_the_limit_is_refused_unread) {
  start();
  raw_connection c{port()};
  auto started = steady::now();
  c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         "Content-Type: application/json\r\nContent-Length: 300000000\r\n\r\n");
  auto r = c.read_response(5s);
  BOOST_TEST(status_of(r) == 413);
  BOOST_TEST(seconds_since(started) < 1.0); // no body was waited for
}

BOOST_AUTO_TEST_CASE(the_token_is_checked_before_the_body_is_read) {
  options.token = "s3cret-hostile";
  start();
  raw_connection c{port()};
  auto started = steady::now();
  // The head promises 100 MB that never come: the answer must not wait.
  c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         "Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n");
  auto r = c.read_response(5s);
  BOOST_TEST(status_of(r) == 401);
  BOOST_TEST(contains(r, "WWW-Authenticate: Bearer"));
  BOOST_TEST(seconds_since(started) < 1.0);
}

// Regression: `Content-Length: -1` got its answer only after 30 s.
BOOST_AUTO_TEST_CASE(a_bad_content_length_is_a_400_at_once) {
  start();
  for (auto* length : {"-1", "12abc", "99999999999999999999999"}) {
    BOOST_TEST_CONTEXT("Content-Length: " << length) {
      auto started = steady::now();
      auto r = exchange(std::string{"POST /v1/chat/completions HTTP/1.1\r\n"
                                    "Host: 127.0.0.1\r\nContent-Type: "
                                    "application/json\r\nContent-Length: "} +
                        length + "\r\n\r\n{}");
      BOOST_TEST((status_of(r) == 400 || status_of(r) == 413), r);
      BOOST_TEST(seconds_since(started) < 1.0);
    }
  }
  still_serves();
}

// Regression: invalid UTF-8 in a request was echoed raw into the error body,
// which was then not JSON text.
BOOST_AUTO_TEST_CASE(invalid_utf8_gets_an_error_that_is_valid_json) {
  start();
  auto r = post_json("/v1/chat/completions",
                     "{\"model\":\"f\xC3\x28st\",\"messages\":[]}");
  BOOST_TEST(status_of(r) == 400);
  rapidjson::Document doc;
  auto body = body_of(r);
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(body.c_str());
  BOOST_TEST(!doc.HasParseError(), "body: " << body);
}

// --- heads and connections
// -------------------------------------------------------

// Regression: the read timeout applied per read, so a client trickling one
// byte at a time held its connection (and a thread) for ever.
BOOST_AUTO_TEST_CASE(a_head_trickled_byte_by_byte_meets_one_deadline) {
  start();
  raw_connection c{port()};
  std::string head =
      "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
  auto started = steady::now();
  for (char byte : head) {
    if (!c.send(std::string(1, byte)) || c.server_spoke(100ms) ||
        steady::now() - started > 5s)
      break;
  }
  BOOST_TEST(c.read_until_closed(3s));
  BOOST_TEST(contains(c.received(), "408"), "received: " << c.received());
  BOOST_TEST(seconds_since(started) < 4.0); // 1.5 s head timeout
}

BOOST_AUTO_TEST_CASE(a_body_trickled_byte_by_byte_meets_one_deadline) {
  start();
  raw_connection c{port()};
  auto body = chat_body("fast");
  c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         "Content-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n");
  auto started = steady::now();
  for (char byte : body) {
    if (!c.send(std::string(1, byte)) || c.server_spoke(100ms) ||
        steady::now() - started > 5s)
      break;
  }
  BOOST_TEST(c.read_until_closed(3s));
  BOOST_TEST(contains(c.received(), "408"));
  BOOST_TEST(seconds_since(started) < 4.0);
}

// Regression: 600 connections trickling a header byte every 5 s left
// /healthz unanswered for 90 s; with 2,000 idle connections a normal
// request took 14 s. Each connection cost a thread. (The latencies here are
// bounds no thread-per-connection server meets; docs/reliability.md has the
// figures from bench/serve_bench --hostile.)
BOOST_AUTO_TEST_CASE(
    slow_and_idle_connections_cost_no_thread_and_block_no_one) {
  options.header_timeout = 60s;
  options.keep_alive_timeout = 60s;
  start();
  still_serves();
  auto threads_before = thread_count();
  std::vector<std::unique_ptr<raw_connection>> idle;
  std::vector<std::unique_ptr<raw_connection>> slow;
  for (int i = 0; i < 2000; ++i)
    idle.push_back(std::make_unique<raw_connection>(port()));
  for (int i = 0; i < 600; ++i) {
    slow.push_back(std::make_unique<raw_connection>(port()));
    slow.back()->send("G");
  }
  std::this_thread::sleep_for(200ms);
  for (auto& c : slow)
    c->send("E"); // still trickling
  BOOST_TEST(thread_count() == threads_before);
  for (int i = 0; i < 5; ++i) {
    auto started = steady::now();
    auto health = get("/healthz");
    auto health_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         steady::now() - started)
                         .count();
    BOOST_TEST(status_of(health) == 200);
    BOOST_TEST(health_ms < 1000);
    started = steady::now();
    still_serves();
    BOOST_TEST(seconds_since(started) < 2.0);
  }
}

BOOST_AUTO_TEST_CASE(connections_beyond_the_limit_get_a_503_and_are_closed) {
  options.max_connections = 50;
  options.header_timeout = 30s;
  start();
  std::vector<std::unique_ptr<raw_connection>> open;
  for (int i = 0; i < 50; ++i)
    open.push_back(std::make_unique<raw_connection>(port()));
  std::this_thread::sleep_for(200ms);
  raw_connection extra{port()};
  BOOST_TEST(extra.read_until_closed(3s));
  BOOST_TEST(contains(extra.received(), "503"));
  BOOST_TEST(contains(extra.received(), "too_many_connections"));
  open.clear(); // their slots come back
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {
    std::this_thread::sleep_for(20ms);
    served = status_of(get("/healthz")) == 200;
  }
  BOOST_TEST(served);
}

// Regression: requests pipelined after the first were not answered.
BOOST_AUTO_TEST_CASE(pipelined_requests_are_answered_in_order) {
  start();
  raw_connection c{port()};
  auto body = chat_body("fast");
  c.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
         "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         "Content-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body +
         "GET /v1/nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  auto first = c.read_response(5s);
  auto second = c.read_response(5s);
  auto third = c.read_response(5s);
  BOOST_TEST(status_of(first) == 200);
  BOOST_TEST(contains(first, R"("status":"ok")"));
  BOOST_TEST(status_of(second) == 200);
  BOOST_TEST(contains(second, "chat.completion"));
  BOOST_TEST(status_of(third) == 404);
}

BOOST_AUTO_TEST_CASE(expect_100_continue_is_answered_before_the_body) {
  start();
  raw_connection c{port()};
  auto body = chat_body("fast");
  c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         "Content-Type: application/json\r\nExpect: 100-continue\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n\r\n");
  BOOST_TEST(c.read_until("HTTP/1.1 100 Continue\r\n\r\n", 2s));
  c.send(body);
  BOOST_TEST(c.read_until("chat.completion", 5s));
}

// --- the tokenless loopback mode: what a web page could do
// -----------------------

// Regression: a text/plain POST with a foreign Origin and Host (which any
// page can send) was served and reached the upstream; a GET with a
// rebinding Host answered.
BOOST_AUTO_TEST_CASE(browsers_on_other_origins_cannot_use_the_endpoint) {
  start();
  auto body = chat_body("fast");
  auto plain =
      exchange("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Content-Type: text/plain\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body);
  BOOST_TEST(status_of(plain) == 415);
  auto foreign = post_json("/v1/chat/completions", body,
                           "Origin: https://evil.example\r\n");
  BOOST_TEST(status_of(foreign) == 403);
  BOOST_TEST(contains(foreign, "forbidden_origin"));
  auto rebound = exchange("GET /v1/providers HTTP/1.1\r\n"
                          "Host: evil.example:8700\r\n\r\n");
  BOOST_TEST(status_of(rebound) == 403);
  BOOST_TEST(contains(rebound, "forbidden_host"));
  auto null_origin =
      post_json("/v1/chat/completions", body, "Origin: null\r\n");
  BOOST_TEST(status_of(null_origin) == 403);
  BOOST_TEST(upstream.arrivals().empty()); // nothing reached the upstream
  // The same origin (a page served by tutti itself) is fine.
  auto own =
      post_json("/v1/chat/completions", body,
                "Origin: http://localhost:" + std::to_string(port()) + "\r\n");
  BOOST_TEST(status_of(own) == 200);
  BOOST_TEST(status_of(get("/v1/providers", "")) == 200);
}

BOOST_AUTO_TEST_CASE(with_a_token_the_host_is_not_checked) {
  options.token = "s3cret-hostile";
  start();
  auto r = exchange("GET /v1/models HTTP/1.1\r\nHost: tutti.internal\r\n"
                    "Authorization: Bearer s3cret-hostile\r\n\r\n");
  BOOST_TEST(status_of(r) == 200);
}

// --- metrics and logs
// ----------------------------------------------------------------

// Regression: the request line's method became a metrics label, so 400
// requests grew /metrics from 0.5 MB to 2.6 MB.
BOOST_AUTO_TEST_CASE(metric_labels_stay_a_fixed_set) {
  start();
  auto size_of_metrics = [&] { return body_of(get("/metrics")).size(); };
  get("/healthz");
  auto before = size_of_metrics();
  for (int i = 0; i < 400; ++i)
    exchange("M" + std::to_string(i) + "X /healthz/" + std::to_string(i) +
             " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  auto metrics = body_of(get("/metrics"));
  BOOST_TEST(metrics.size() < before + 4096);
  BOOST_TEST(contains(metrics, "method=\"other\",route=\"unmatched\""));
  BOOST_TEST(!contains(metrics, "M1X"));
}

// Regression: streams abandoned by their client were logged as 200.
BOOST_AUTO_TEST_CASE(an_abandoned_stream_is_logged_as_499) {
  auto log = std::filesystem::temp_directory_path() /
             ("tutti-hostile-" + std::to_string(getpid()) + ".log");
  std::filesystem::remove(log);
  options.access_log = log.string();
  start();
  {
    raw_connection c{port()};
    c.send_post("/v1/chat/completions", chat_body("paced", true));
    BOOST_REQUIRE(c.read_until(R"("content":"a ")", 5s));
  } // the client leaves mid-stream
  std::string text;
  for (int i = 0; i < 100 && !contains(text, "\"status\":499"); ++i) {
    std::this_thread::sleep_for(20ms);
    std::ifstream in{log};
    text.assign(std::istreambuf_iterator<char>{in}, {});
  }
  BOOST_TEST(contains(text, "\"status\":499"), "log: " << text);
  BOOST_TEST(contains(text, "\"stream\":true"));
  std::filesystem::remove(log);
}

// Regression: a Last-Event-ID of -1 or of 20 digits was taken as some
// number.
BOOST_AUTO_TEST_CASE(a_bad_last_event_id_is_a_400) {
  start();
  auto created =
      post_json("/v1/runs", R"({"ensemble":"duo","prompt":"Capital?"})");
  BOOST_REQUIRE(status_of(created) == 202);
  auto body = body_of(created);
  auto at = body.find("run_");
  BOOST_REQUIRE(at != std::string::npos);
  auto id = body.substr(at, 28);
  for (auto* bad : {"-1", "123456789012345678901", "12x"}) {
    auto r = get("/v1/runs/" + id + "/events",
                 std::string{"Last-Event-ID: "} + bad + "\r\n");
    BOOST_TEST(status_of(r) == 400, "Last-Event-ID " << bad);
  }
}

// Regression: POST /v1/runs answers before its run ends, so one client
// could start any number of runs at once.
BOOST_AUTO_TEST_CASE(runs_beyond_max_runs_get_a_429) {
  options.max_running_runs = 2;
  start();
  auto body = R"({"provider":"paced","prompt":"Count"})";
  BOOST_TEST(status_of(post_json("/v1/runs", body)) == 202);
  BOOST_TEST(status_of(post_json("/v1/runs", body)) == 202);
  auto refused = post_json("/v1/runs", body);
  BOOST_TEST(status_of(refused) == 429);
  BOOST_TEST(contains(refused, "too_many_runs"));
  BOOST_TEST(contains(refused, "Retry-After: 1"));
  // Chat completions are not runs.
  BOOST_TEST(status_of(post_json("/v1/chat/completions", chat_body("fast"))) ==
             200);
  // Once the paced runs (1.2 s) have finished, runs start again.
  auto started = steady::now();
  int status = 0;
  while (status != 202 && seconds_since(started) < 10) {
    std::this_thread::sleep_for(100ms);
    status = status_of(post_json("/v1/runs", body));
  }
  BOOST_TEST(status == 202);
}

BOOST_AUTO_TEST_SUITE_END()
