// Config reload through `tutti serve` (POST /admin/reload, what SIGHUP
// does): under load no question is lost or answered with a half-old
// config (those in flight finish on theirs), a bad config is refused with
// its error while the old one goes on serving, and a provider whose
// definition did not change keeps its limiter (its rate-limit window)
// while a changed one starts afresh.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include <httplib.h>

#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/engine.hpp"
#include "tutti/server.hpp"

using namespace tutti;
using namespace std::chrono_literals;

namespace {

const char* upstream_script = R"(
models:
  m-old: {reply: "the old answer", latency: 400ms}
  m-new: {reply: "the new answer"}
  m-q: {reply: "q"}
)";

struct reload_fixture {
  fake::server upstream{fake::parse_script(upstream_script)};
  std::filesystem::path file;
  std::unique_ptr<engine> eng;
  std::unique_ptr<tutti::server> endpoint;

  reload_fixture() {
    upstream.start();
    file = std::filesystem::temp_directory_path() /
           ("tutti-reload-" + std::to_string(::getpid()) + ".yaml");
    write("m-old", "2");
    eng = std::make_unique<engine>(load_config(file.string()));
    server_options options;
    options.port = 0;
    options.reload_source = [path = file.string()] {
      return load_config(path);
    };
    endpoint = std::make_unique<tutti::server>(*eng, options);
    endpoint->start();
  }
  ~reload_fixture() {
    endpoint.reset();
    std::error_code ec;
    std::filesystem::remove(file, ec);
  }

  /// The config: provider p on `model`; q limited to 2 requests a minute
  /// whose queued requests give up after 500 ms (`q_rpm` changes its
  /// definition).
  void write(const std::string& model, const std::string& q_rpm) {
    std::ofstream out{file};
    out << "store: none\nproviders:\n"
        << "  p: {kind: openai, model: " << model << ", base_url: \""
        << upstream.base_url() << "\", api_key: sk-t, concurrency: 8}\n"
        << "  q: {kind: openai, model: m-q, base_url: \"" << upstream.base_url()
        << "\", api_key: sk-t, rpm: " << q_rpm
        << ", timeouts: {total: 500ms}, retry: {attempts: 1}}\n";
  }

  httplib::Client client() {
    httplib::Client c{"127.0.0.1", endpoint->port()};
    c.set_read_timeout(10s);
    return c;
  }

  httplib::Result ask(const std::string& model, bool stream = false) {
    return client().Post(
        "/v1/chat/completions",
        R"({"model": ")" + model +
            R"(", "messages": [{"role": "user", "content": "hi"}])" +
            (stream ? R"(, "stream": true)" : "") + "}",
        "application/json");
  }

  httplib::Result reload() {
    return client().Post("/admin/reload", "{}", "application/json");
  }
};

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(server_reload, reload_fixture)

BOOST_AUTO_TEST_CASE(
    questions_in_flight_finish_on_their_config_and_none_is_lost) {
  std::vector<std::future<httplib::Result>> in_flight;
  for (int i = 0; i < 12; ++i)
    in_flight.push_back(
        std::async(std::launch::async, [this, i] { return ask("p", i % 2); }));
  // Eight have reached the fake (it answers after 400 ms) and four wait
  // for a permit (p's concurrency is 8) when the config changes.
  for (int i = 0; i < 200 && upstream.arrivals().size() < 8; ++i)
    std::this_thread::sleep_for(5ms);
  BOOST_REQUIRE_EQUAL(upstream.arrivals().size(), 8u);
  write("m-new", "2");
  auto reloaded = reload();
  BOOST_REQUIRE(reloaded);
  BOOST_TEST(reloaded->status == 200, reloaded->body);
  BOOST_TEST(has(reloaded->body, "\"reloaded\":true"));
  for (auto& f : in_flight) {
    auto r = f.get();
    BOOST_REQUIRE(r);
    BOOST_TEST(r->status == 200);
    BOOST_TEST(has(r->body, "the old answer"), r->body);
    BOOST_TEST(!has(r->body, "the new answer"));
  }
  auto after = ask("p");
  BOOST_REQUIRE(after);
  BOOST_TEST(has(after->body, "the new answer"), after->body);
}

BOOST_AUTO_TEST_CASE(a_bad_config_is_refused_and_the_old_one_goes_on) {
  {
    std::ofstream out{file};
    out << "providers:\n  p: {kind: nope, model: m}\n  r: {kind: openai}\n";
  }
  auto refused = reload();
  BOOST_REQUIRE(refused);
  BOOST_TEST(refused->status == 400);
  BOOST_TEST(has(refused->body, "config_error"));
  // Both problems, each with its place.
  BOOST_TEST(has(refused->body, "unknown kind 'nope'"), refused->body);
  BOOST_TEST(has(refused->body, "missing required key 'model'"), refused->body);
  auto still = ask("p");
  BOOST_REQUIRE(still);
  BOOST_TEST(still->status == 200);
  BOOST_TEST(has(still->body, "the old answer"));
}

BOOST_AUTO_TEST_CASE(an_unchanged_provider_keeps_its_limits_a_changed_one_not) {
  for (int i = 0; i < 2; ++i) {
    auto r = ask("q");
    BOOST_REQUIRE(r);
    BOOST_REQUIRE_EQUAL(r->status, 200);
  }
  auto third = ask("q");
  BOOST_REQUIRE(third);
  BOOST_TEST(third->status != 200); // its minute's two are spent
  // p changes, q does not: q's window goes on.
  write("m-new", "2");
  BOOST_REQUIRE_EQUAL(reload()->status, 200);
  auto kept = ask("q");
  BOOST_REQUIRE(kept);
  BOOST_TEST(kept->status != 200);
  // q changes: a new limiter, a new window.
  write("m-new", "3");
  BOOST_REQUIRE_EQUAL(reload()->status, 200);
  auto fresh = ask("q");
  BOOST_REQUIRE(fresh);
  BOOST_TEST(fresh->status == 200, fresh->body);
}

BOOST_AUTO_TEST_CASE(
    a_removed_provider_is_gone_and_a_server_without_a_file_says_so) {
  {
    std::ofstream out{file};
    out << "store: none\nproviders:\n  only: {kind: openai, model: m-new, "
           "base_url: \""
        << upstream.base_url() << "\", api_key: sk-t}\n";
  }
  BOOST_REQUIRE_EQUAL(reload()->status, 200);
  BOOST_TEST(ask("p")->status == 404);
  BOOST_TEST(ask("only")->status == 200);
  server_options options;
  options.port = 0;
  tutti::server plain{*eng, options};
  plain.start();
  httplib::Client c{"127.0.0.1", plain.port()};
  auto r = c.Post("/admin/reload", "{}", "application/json");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 501);
}

BOOST_AUTO_TEST_SUITE_END()
