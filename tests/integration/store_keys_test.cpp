// API keys end to end, on both backends: `tutti keys create` prints a
// secret once and the store keeps its hash only; `tutti serve` accepts the
// key beside its own token, holds the key to its targets and its own runs,
// records its name with each run, and refuses it from the request after
// `tutti keys revoke`.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <httplib.h>

#include "tests/integration/fake_upstream_fixture.hpp"
#include "tests/integration/store_place.hpp"
#include "tests/integration/tutti_process.hpp"
#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/engine.hpp"
#include "tutti/server.hpp"

using namespace tutti;
using namespace std::chrono_literals;
using tutti::testing::backends;
using tutti::testing::run_tutti;
using tutti::testing::store_place;

namespace {

const char* upstream_script = R"(
models:
  alpha: {reply: "Paris.", latency: 5ms}
  bravo: {reply: "Paris.", latency: 5ms}
)";

const std::string admin_token = "admin-token-for-the-keys-test";

struct keys_fixture {
  fake::server upstream{fake::parse_script(upstream_script)};
  std::filesystem::path dir;

  keys_fixture() {
    upstream.start();
    dir =
        std::filesystem::temp_directory_path() / ("tutti-keys-" + new_run_id());
    std::filesystem::create_directories(dir);
  }
  ~keys_fixture() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  std::string yaml(const std::string& url) {
    return "store: \"" + url + "\"\nproviders:\n" +
           fake_upstream::providers_yaml({"alpha", "bravo"},
                                         upstream.base_url(),
                                         ", api_key: sk-keys-test") +
           "ensembles:\n  e: {members: [alpha, bravo], combine: vote}\n";
  }

  /// `tutti keys ARGS --store URL`; fails the test unless it exits `code`.
  testing::run_result keys(std::vector<std::string> args,
                           const std::string& url, int code = 0) {
    args.insert(args.begin(), "keys");
    args.push_back("--store");
    args.push_back(url);
    auto r = run_tutti(args, {{"PATH", "/usr/bin:/bin"}}, dir);
    BOOST_REQUIRE_MESSAGE(r.exit_code == code,
                          "tutti keys exited " << r.exit_code << ": " << r.err);
    return r;
  }
};

std::string first_line(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

httplib::Headers bearer(const std::string& secret) {
  return {{"Authorization", "Bearer " + secret}};
}

const char* chat_body(const char* model) {
  return model[0] == 'e'
             ? R"({"model": "ensemble/e", "messages": [{"role": "user", "content": "Capital?"}]})"
             : R"({"model": "alpha", "messages": [{"role": "user", "content": "Capital?"}]})";
}

} // namespace

BOOST_AUTO_TEST_SUITE(store_keys)

BOOST_FIXTURE_TEST_CASE_TEMPLATE(keys_are_hashed_scoped_and_revoked_at_once, B,
                                 backends, keys_fixture) {
  store_place place{B::name};
  auto a =
      first_line(keys({"create", "team-a", "--targets", "e"}, place.url()).out);
  auto b = first_line(keys({"create", "team-b"}, place.url()).out);
  BOOST_REQUIRE(looks_like_key_secret(a));
  BOOST_REQUIRE(looks_like_key_secret(b));
  BOOST_CHECK(a != b);
  // A name is a key's once, even after it is revoked.
  keys({"create", "team-a"}, place.url(), 2);

  auto eng = engine::from_yaml(yaml(place.url()));
  server_options options;
  options.port = 0;
  options.token = admin_token;
  tutti::server endpoint{eng, options};
  endpoint.start();
  httplib::Client client{"127.0.0.1", endpoint.port()};
  client.set_read_timeout(10s);

  auto as_a = client.Post("/v1/chat/completions", bearer(a), chat_body("e"),
                          "application/json");
  BOOST_REQUIRE(as_a);
  BOOST_CHECK_EQUAL(as_a->status, 200);
  auto run_a = as_a->get_header_value("x-tutti-run-id");
  // team-a may ask the ensemble, not the provider alone.
  auto outside = client.Post("/v1/chat/completions", bearer(a),
                             chat_body("alpha"), "application/json");
  BOOST_REQUIRE(outside);
  BOOST_CHECK_EQUAL(outside->status, 403);
  BOOST_CHECK(outside->body.find("target_not_allowed") != std::string::npos);
  // Nor an ensemble of its own that calls the provider.
  auto composed = client.Post(
      "/v1/chat/completions", bearer(a),
      R"({"model": "mine", "messages": [{"role": "user", "content": "Capital?"}],
          "tutti": {"ensemble": {"members": ["alpha"]}}})",
      "application/json");
  BOOST_REQUIRE(composed);
  BOOST_CHECK_EQUAL(composed->status, 403);
  BOOST_CHECK(composed->body.find("'alpha', which tutti.ensemble calls") !=
              std::string::npos);
  // Anthropic's SDK sends the key as x-api-key.
  auto as_anthropic = client.Post("/v1/messages", {{"x-api-key", a}},
                                  R"({"model": "ensemble/e", "max_tokens": 50,
          "messages": [{"role": "user", "content": "Capital?"}]})",
                                  "application/json");
  BOOST_REQUIRE(as_anthropic);
  BOOST_CHECK_EQUAL(as_anthropic->status, 200);
  BOOST_CHECK(as_anthropic->body.find("\"type\":\"message\"") !=
              std::string::npos);
  auto as_b = client.Post("/v1/chat/completions", bearer(b), chat_body("alpha"),
                          "application/json");
  BOOST_REQUIRE(as_b);
  BOOST_CHECK_EQUAL(as_b->status, 200);
  auto unknown = client.Post("/v1/chat/completions",
                             bearer("tutti-sk-" + std::string(48, '0')),
                             chat_body("e"), "application/json");
  BOOST_REQUIRE(unknown);
  BOOST_CHECK_EQUAL(unknown->status, 401);
  BOOST_REQUIRE(eng.flush_store(10s));

  // Each run carries its key's name; a key sees its own runs only.
  auto stored = place.open()->find(run_a);
  BOOST_REQUIRE(stored);
  BOOST_CHECK_EQUAL(stored->key, "team-a");
  auto mine = client.Get("/v1/runs", bearer(a));
  BOOST_REQUIRE(mine);
  BOOST_CHECK_EQUAL(mine->status, 200);
  BOOST_CHECK(mine->body.find(run_a) != std::string::npos);
  BOOST_CHECK(mine->body.find("team-b") == std::string::npos);
  auto theirs = client.Get("/v1/runs?key=team-b", bearer(a));
  BOOST_REQUIRE(theirs);
  BOOST_CHECK_EQUAL(theirs->status, 403);
  auto stats_as_key = client.Get("/v1/stats", bearer(a));
  BOOST_REQUIRE(stats_as_key);
  BOOST_CHECK_EQUAL(stats_as_key->status, 403);
  auto all = client.Get("/v1/runs?limit=10", bearer(admin_token));
  BOOST_REQUIRE(all);
  BOOST_CHECK(all->body.find("\"key\":\"team-b\"") != std::string::npos);
  BOOST_CHECK(all->body.find("\"key\":\"team-a\"") != std::string::npos);
  auto by_key = client.Get("/v1/stats?by=key&since=0", bearer(admin_token));
  BOOST_REQUIRE(by_key);
  BOOST_CHECK(by_key->body.find("\"group\":\"team-a\"") != std::string::npos);

  // A key's own per-minute budget: two requests, then a 429 that says when.
  auto c =
      first_line(keys({"create", "team-c", "--rpm", "2"}, place.url()).out);
  for (int i = 0; i < 2; ++i) {
    auto ok = client.Post("/v1/chat/completions", bearer(c), chat_body("e"),
                          "application/json");
    BOOST_REQUIRE(ok);
    BOOST_CHECK_EQUAL(ok->status, 200);
  }
  auto limited = client.Post("/v1/chat/completions", bearer(c), chat_body("e"),
                             "application/json");
  BOOST_REQUIRE(limited);
  BOOST_CHECK_EQUAL(limited->status, 429);
  BOOST_CHECK(limited->body.find("key_rate_limited") != std::string::npos);
  auto retry_after = std::stoi(limited->get_header_value("Retry-After"));
  BOOST_CHECK(retry_after >= 1 && retry_after <= 60);
  // The other keys are not held back by it.
  auto still_b = client.Post("/v1/chat/completions", bearer(b),
                             chat_body("alpha"), "application/json");
  BOOST_REQUIRE(still_b);
  BOOST_CHECK_EQUAL(still_b->status, 200);

  // Revoked: refused from the next request on.
  keys({"revoke", "team-a"}, place.url());
  auto after = client.Post("/v1/chat/completions", bearer(a), chat_body("e"),
                           "application/json");
  BOOST_REQUIRE(after);
  BOOST_CHECK_EQUAL(after->status, 401);
  keys({"revoke", "team-a"}, place.url(), 1);
  auto listed = keys({"list"}, place.url()).out;
  BOOST_CHECK(listed.find("team-a") != std::string::npos);
  BOOST_CHECK(listed.find("revoked") != std::string::npos);
  BOOST_CHECK(listed.find(a) == std::string::npos);
  endpoint.stop();

  // The store holds each secret's hash, never the secret.
  if (std::string{B::name} == "sqlite") {
    auto db = place.url().substr(7);
    for (auto* suffix : {"", "-wal", "-shm"}) {
      std::ifstream in{db + suffix, std::ios::binary};
      std::string bytes{std::istreambuf_iterator<char>{in}, {}};
      BOOST_CHECK(bytes.find(a.substr(9)) == std::string::npos);
      BOOST_CHECK(bytes.find(b.substr(9)) == std::string::npos);
    }
  }
  auto keys_now = place.open()->list_keys();
  BOOST_REQUIRE_EQUAL(keys_now.size(), 3u);
  BOOST_CHECK_EQUAL(keys_now[2].name, "team-c");
  BOOST_CHECK_EQUAL(keys_now[2].rpm, 2);
  BOOST_CHECK(place.open()->key_by_hash(key_hash(b)));
  BOOST_CHECK(!place.open()->key_by_hash(key_hash(a)));
}

BOOST_AUTO_TEST_SUITE_END()
