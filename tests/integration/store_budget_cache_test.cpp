// Spend budgets and the response cache end to end against the fake
// upstream: members asked in parallel cannot overspend an ensemble's
// budget together; spend survives a restart through the store; a key's
// `--budget` holds over HTTP (429 budget_exceeded, no client retry); a
// cached reply is a member outcome marked cached that costs nothing,
// streams as a stream, persists in the store on both backends and is
// skipped by `no_cache` and `Cache-Control: no-cache`; sampled requests
// are cached only when the rule says so.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "tests/integration/fake_upstream_fixture.hpp"
#include "tests/integration/store_place.hpp"
#include "tests/integration/tutti_process.hpp"
#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/engine.hpp"
#include "tutti/server.hpp"

using namespace tutti;
using namespace std::chrono_literals;
using tutti::fake_upstream::arrivals_of;
using tutti::testing::backends;
using tutti::testing::run_tutti;
using tutti::testing::store_place;

namespace {

const char* upstream_script = R"(
models:
  alpha: {reply: "Paris.", latency: 250ms}
  bravo: {reply: "Paris.", latency: 250ms}
  charlie: {reply: "Paris.", latency: 250ms}
  delta: {reply: "Lyon.", latency: 250ms}
  echo: {reply: "Paris.", latency: 250ms}
  streamy: {reply: "The capital is Paris.", latency: 5ms}
)";

// Replies take 250 ms: every member has reserved long before any ends,
// even on a loaded machine under a sanitizer.
const std::vector<std::string> five = {"alpha", "bravo", "charlie", "delta",
                                       "echo"};

/// $1 a token in and out, and replies of at most 10 tokens: a call to
/// "Capital of France?" (18 bytes, about 4 tokens) is estimated at $14.
const char* priced =
    ", api_key: sk-budget-test, max_tokens: 10, temperature: 0, price: "
    "{input_per_mtok: 1000000, output_per_mtok: 1000000}";

struct upstream_fixture {
  fake::server upstream{fake::parse_script(upstream_script)};
  upstream_fixture() { upstream.start(); }

  size_t asked(const std::string& model) const {
    return arrivals_of(upstream, model).size();
  }
};

double cost_of(const ensemble_answer& a) {
  double total = 0;
  for (auto& m : a.members)
    total += m.ok ? m.reply.cost_usd : m.error.cost_usd;
  return total;
}

size_t over_budget(const ensemble_answer& a) {
  size_t n = 0;
  for (auto& m : a.members)
    n += !m.ok && m.error.kind == failure_kind::budget_exceeded;
  return n;
}

ensemble_answer ask(engine& eng, const target& to, ask_options options = {},
                    const std::string& prompt = "Capital of France?") {
  auto answer = eng.ask(to, prompt, std::move(options));
  BOOST_REQUIRE(answer.wait_for(10s) == std::future_status::ready);
  return answer.get();
}

} // namespace

BOOST_AUTO_TEST_SUITE(budgets)

BOOST_FIXTURE_TEST_CASE(parallel_members_cannot_overspend_an_ensemble,
                        upstream_fixture) {
  store_place place{"sqlite"};
  auto yaml = "store: \"" + place.url() + "\"\nproviders:\n" +
              fake_upstream::providers_yaml(five, upstream.base_url(), priced) +
              "ensembles:\n  e: {members: [alpha, bravo, charlie, delta, "
              "echo], budget: {day: 40}}\n";
  double spent = 0;
  {
    auto eng = engine::from_yaml(yaml);
    // All five are asked at once and each may cost $14: two fit in $40,
    // and the other three fail before they are sent.
    auto first = ask(eng, "e");
    BOOST_CHECK_EQUAL(over_budget(first), 3u);
    size_t sent = 0;
    for (auto& m : five)
      sent += asked(m);
    BOOST_CHECK_EQUAL(sent, 2u);
    for (auto& m : first.members)
      if (!m.ok) {
        BOOST_CHECK_EQUAL(m.error.attempts, 0);
        BOOST_CHECK(m.error.message.find("ensemble 'e' ($40.00 a day)") !=
                    std::string::npos);
      }
    spent += cost_of(first);
    BOOST_CHECK_GT(spent, 0);
    // Real costs replace the estimates: what is left goes on being used,
    // and never more than the budget.
    for (int round = 0; round < 10; ++round) {
      auto next = ask(eng, "e");
      spent += cost_of(next);
      if (over_budget(next) == five.size())
        break;
    }
    BOOST_CHECK_LE(spent, 40.0);
    BOOST_CHECK_GT(spent, 40.0 - 14.0 * 2);
    BOOST_REQUIRE(eng.flush_store(10s));
  }
  // A new engine starts from the store's spend: nothing more fits.
  size_t sent_before = 0;
  for (auto& m : five)
    sent_before += asked(m);
  auto eng = engine::from_yaml(yaml);
  auto after = ask(eng, "e");
  BOOST_CHECK_EQUAL(over_budget(after), five.size());
  size_t sent_after = 0;
  for (auto& m : five)
    sent_after += asked(m);
  BOOST_CHECK_EQUAL(sent_after, sent_before);
  // A provider asked alone is held by its own budget, not the ensemble's.
  auto alone = ask(eng, target::provider("alpha"));
  BOOST_CHECK(alone.members.at(0).ok);
}

BOOST_FIXTURE_TEST_CASE(a_provider_budget_holds_across_ensembles,
                        upstream_fixture) {
  auto yaml = std::string{"store: none\nproviders:\n"} +
              fake_upstream::providers_yaml({"alpha"}, upstream.base_url(),
                                            std::string{priced} +
                                                ", budget: 15/month") +
              "ensembles:\n  e: {members: [alpha]}\n"
              "  f: {members: [alpha]}\n";
  auto eng = engine::from_yaml(yaml);
  auto one = ask(eng, "e");
  BOOST_CHECK(one.members.at(0).ok);
  // The first call cost a few dollars: $14 more would pass $15.
  auto two = ask(eng, "f");
  BOOST_REQUIRE(!two.members.at(0).ok);
  BOOST_CHECK(two.members.at(0).error.kind == failure_kind::budget_exceeded);
  BOOST_CHECK(two.members.at(0).error.message.find(
                  "provider 'alpha' ($15.00 a month)") != std::string::npos);
  BOOST_CHECK_EQUAL(asked("alpha"), 1u);
}

BOOST_FIXTURE_TEST_CASE(a_key_budget_holds_over_http, upstream_fixture) {
  store_place place{"sqlite"};
  auto dir =
      std::filesystem::temp_directory_path() / ("tutti-budget-" + new_run_id());
  std::filesystem::create_directories(dir);
  auto made = run_tutti({"keys", "create", "team-a", "--budget", "20/day",
                         "--store", place.url()},
                        {{"PATH", "/usr/bin:/bin"}}, dir);
  BOOST_REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  auto secret = made.out.substr(0, made.out.find('\n'));
  auto listed = run_tutti({"keys", "list", "--store", place.url()}, {}, dir);
  BOOST_CHECK(listed.out.find("$20.00/day") != std::string::npos);

  auto eng = engine::from_yaml(
      "store: \"" + place.url() + "\"\nproviders:\n" +
      fake_upstream::providers_yaml({"alpha"}, upstream.base_url(), priced));
  server_options options;
  options.port = 0;
  options.token = "admin-token-for-the-budget-test";
  tutti::server endpoint{eng, options};
  endpoint.start();
  httplib::Client client{"127.0.0.1", endpoint.port()};
  client.set_read_timeout(10s);
  httplib::Headers as_key = {{"Authorization", "Bearer " + secret}};
  const char* body =
      R"({"model": "alpha", "messages": [{"role": "user", "content": "Capital of France?"}]})";
  int ok = 0;
  int status = 0;
  std::string last_body;
  std::string should_retry;
  for (int i = 0; i < 6 && status != 429; ++i) {
    auto r =
        client.Post("/v1/chat/completions", as_key, body, "application/json");
    BOOST_REQUIRE(r);
    status = r->status;
    last_body = r->body;
    should_retry = r->get_header_value("x-should-retry");
    ok += status == 200;
  }
  // $20 a day takes a call estimated at $14, then one more once the first
  // has cost its real few dollars, and then no third.
  BOOST_CHECK_EQUAL(ok, 2);
  BOOST_CHECK_EQUAL(status, 429);
  BOOST_CHECK(last_body.find("budget_exceeded") != std::string::npos);
  BOOST_CHECK(last_body.find("key 'team-a' ($20.00 a day)") !=
              std::string::npos);
  BOOST_CHECK_EQUAL(should_retry, "false");
  BOOST_CHECK_EQUAL(asked("alpha"), 2u);
  // The admin token has no budget of its own.
  auto admin =
      client.Post("/v1/chat/completions",
                  {{"Authorization", "Bearer admin-token-for-the-budget-test"}},
                  body, "application/json");
  BOOST_REQUIRE(admin);
  BOOST_CHECK_EQUAL(admin->status, 200);
  endpoint.stop();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(cache)

BOOST_FIXTURE_TEST_CASE_TEMPLATE(a_cached_reply_costs_nothing_and_persists, B,
                                 backends, upstream_fixture) {
  store_place place{B::name};
  auto yaml =
      "store: \"" + place.url() + "\"\nproviders:\n" +
      fake_upstream::providers_yaml({"alpha"}, upstream.base_url(),
                                    std::string{priced} + ", cache: {ttl: 1h}");
  ensemble_answer first;
  {
    auto eng = engine::from_yaml(yaml);
    first = ask(eng, target::provider("alpha"));
    BOOST_REQUIRE(first.members.at(0).ok);
    BOOST_CHECK(!first.members.at(0).reply.cached);
    BOOST_CHECK_GT(first.members.at(0).reply.cost_usd, 0);
    auto second = ask(eng, target::provider("alpha"));
    auto& hit = second.members.at(0);
    BOOST_REQUIRE(hit.ok);
    BOOST_CHECK(hit.reply.cached);
    BOOST_CHECK_EQUAL(hit.reply.cost_usd, 0);
    BOOST_CHECK_EQUAL(hit.reply.attempts, 0);
    BOOST_CHECK_EQUAL(hit.reply.text, first.members.at(0).reply.text);
    BOOST_CHECK_EQUAL(hit.reply.usage.input_tokens,
                      first.members.at(0).reply.usage.input_tokens);
    BOOST_CHECK_EQUAL(asked("alpha"), 1u);
    // Another question is another key.
    ask(eng, target::provider("alpha"), {}, "Capital of Italy?");
    BOOST_CHECK_EQUAL(asked("alpha"), 2u);
    // The asker may skip the cache.
    ask_options fresh;
    fresh.no_cache = true;
    auto skipped = ask(eng, target::provider("alpha"), fresh);
    BOOST_CHECK(!skipped.members.at(0).reply.cached);
    BOOST_CHECK_EQUAL(asked("alpha"), 3u);
    // A streamed question is answered from the cache as a stream.
    ask_options streamed;
    streamed.stream = true;
    std::string deltas;
    streamed.on_delta = [&](const member_delta& d) {
      if (!d.answer)
        deltas += d.text;
    };
    auto from_cache = ask(eng, target::provider("alpha"), streamed);
    BOOST_CHECK(from_cache.members.at(0).reply.cached);
    BOOST_CHECK_EQUAL(deltas, first.members.at(0).reply.text);
    BOOST_CHECK_EQUAL(asked("alpha"), 3u);
    BOOST_REQUIRE(eng.flush_store(10s));
  }
  // Written through to the store: a new engine finds it there.
  auto eng = engine::from_yaml(yaml);
  auto again = ask(eng, target::provider("alpha"));
  BOOST_CHECK(again.members.at(0).reply.cached);
  BOOST_CHECK_EQUAL(asked("alpha"), 3u);
  BOOST_REQUIRE(eng.flush_store(10s));
  // The stats count the hits and the tokens they saved, at no cost.
  stats_query q;
  auto rows = place.open()->stats(q);
  BOOST_REQUIRE_EQUAL(rows.size(), 1u);
  BOOST_CHECK_EQUAL(rows[0].calls, 6);
  BOOST_CHECK_EQUAL(rows[0].cached, 3);
  BOOST_CHECK_EQUAL(rows[0].saved_input_tokens,
                    3 * first.members.at(0).reply.usage.input_tokens);
  BOOST_CHECK_CLOSE(rows[0].cost_usd, 3 * first.members.at(0).reply.cost_usd,
                    1e-6);
  // The store holds a hash of the request, never its text.
  auto raw = place.raw();
  raw->query("SELECT key, text FROM response_cache", {},
             [](const store_detail::sql_row& r) {
               BOOST_CHECK_EQUAL(r.text(0).size(), 64u);
               BOOST_CHECK(r.text(1).find("France") == std::string::npos);
             });
}

BOOST_FIXTURE_TEST_CASE(sampled_requests_are_cached_only_when_asked_to,
                        upstream_fixture) {
  auto yaml =
      std::string{"store: none\nproviders:\n"} +
      "  alpha: {kind: openai, model: alpha, base_url: \"" +
      upstream.base_url() +
      "\", api_key: k, temperature: 0.7, cache: {ttl: 1h}}\n"
      "  bravo: {kind: openai, model: bravo, base_url: \"" +
      upstream.base_url() +
      "\", api_key: k, temperature: 0.7, cache: {ttl: 1h, sampled: true}}\n"
      "  charlie: {kind: openai, model: charlie, base_url: \"" +
      upstream.base_url() +
      "\", api_key: k, temperature: 0.7, seed: 7, cache: {ttl: 1h}}\n"
      "  delta: {kind: openai, model: delta, base_url: \"" +
      upstream.base_url() +
      "\", api_key: k}\n"
      "ensembles:\n  e: {members: [delta], cache: {ttl: 200ms}}\n";
  auto eng = engine::from_yaml(yaml);
  for (int i = 0; i < 2; ++i)
    for (auto* p : {"alpha", "bravo", "charlie"})
      ask(eng, target::provider(p));
  BOOST_CHECK_EQUAL(asked("alpha"), 2u);   // sampled: a new draw each time
  BOOST_CHECK_EQUAL(asked("bravo"), 1u);   // sampled, and the rule says so
  BOOST_CHECK_EQUAL(asked("charlie"), 1u); // a seed makes it repeatable
  // An ensemble's rule covers its members (delta has none of its own; an
  // unset temperature is the vendor's default, which samples).
  ask_options zero;
  zero.params.temperature = 0.0;
  ask(eng, "e", zero);
  auto hit = ask(eng, "e", zero);
  BOOST_CHECK(hit.members.at(0).reply.cached);
  BOOST_CHECK_EQUAL(asked("delta"), 1u);
  // Asked alone, delta is not cached: the rule was the ensemble's.
  ask(eng, target::provider("delta"), zero);
  BOOST_CHECK_EQUAL(asked("delta"), 2u);
  // After its ttl a reply is asked again.
  std::this_thread::sleep_for(300ms);
  auto expired = ask(eng, "e", zero);
  BOOST_CHECK(!expired.members.at(0).reply.cached);
  BOOST_CHECK_EQUAL(asked("delta"), 3u);
}

BOOST_FIXTURE_TEST_CASE(http_clients_stream_from_the_cache_and_may_skip_it,
                        upstream_fixture) {
  auto eng = engine::from_yaml(
      std::string{"store: none\nproviders:\n"} +
      "  streamy: {kind: openai, model: streamy, base_url: \"" +
      upstream.base_url() +
      "\", api_key: k, temperature: 0, cache: {ttl: 1h}}\n");
  server_options options;
  options.port = 0;
  tutti::server endpoint{eng, options};
  endpoint.start();
  httplib::Client client{"127.0.0.1", endpoint.port()};
  client.set_read_timeout(10s);
  const char* whole =
      R"({"model": "streamy", "messages": [{"role": "user", "content": "Capital?"}]})";
  const char* streamed =
      R"({"model": "streamy", "stream": true, "messages": [{"role": "user", "content": "Capital?"}]})";
  auto made = client.Post("/v1/chat/completions", whole, "application/json");
  BOOST_REQUIRE(made);
  BOOST_CHECK_EQUAL(made->status, 200);
  auto stream =
      client.Post("/v1/chat/completions", streamed, "application/json");
  BOOST_REQUIRE(stream);
  BOOST_CHECK_EQUAL(stream->status, 200);
  BOOST_CHECK(
      stream->get_header_value("Content-Type").find("text/event-stream") !=
      std::string::npos);
  BOOST_CHECK(stream->body.find("The capital is Paris.") != std::string::npos);
  BOOST_CHECK(stream->body.find("data: [DONE]") != std::string::npos);
  BOOST_CHECK_EQUAL(asked("streamy"), 1u);
  auto skipped =
      client.Post("/v1/chat/completions", {{"Cache-Control", "no-cache"}},
                  whole, "application/json");
  BOOST_REQUIRE(skipped);
  BOOST_CHECK_EQUAL(skipped->status, 200);
  BOOST_CHECK_EQUAL(asked("streamy"), 2u);
  endpoint.stop();
}

BOOST_FIXTURE_TEST_CASE(a_reply_cached_by_one_command_serves_the_next,
                        upstream_fixture) {
  store_place place{"sqlite"};
  auto dir = std::filesystem::temp_directory_path() /
             ("tutti-cache-cli-" + new_run_id());
  std::filesystem::create_directories(dir);
  {
    std::ofstream config{dir / "tutti.yaml"};
    config << "store: \"" << place.url() << "\"\nproviders:\n"
           << "  streamy: {kind: openai, model: streamy, base_url: \""
           << upstream.base_url()
           << "\", api_key: k, temperature: 0, cache: {ttl: 1h}}\n"
           << "ensembles:\n  e: {members: [streamy]}\n";
  }
  auto ask_cli = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"ask", "--config", "tutti.yaml", "-e",
                                     "e",   "--json",   "Capital?"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = run_tutti(args, {}, dir);
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return r.out;
  };
  BOOST_CHECK(ask_cli({}).find("\"cached\": false") != std::string::npos);
  // The first process exited right after its answer: its fill was written.
  BOOST_CHECK(ask_cli({}).find("\"cached\": true") != std::string::npos);
  BOOST_CHECK_EQUAL(asked("streamy"), 1u);
  BOOST_CHECK(ask_cli({"--no-cache"}).find("\"cached\": false") !=
              std::string::npos);
  BOOST_CHECK_EQUAL(asked("streamy"), 2u);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

BOOST_AUTO_TEST_SUITE_END()
