// What the store keeps of real work, on both backends: an ask, a pipeline
// run, a batch and HTTP requests against the fake upstream, each read back
// whole (every member call with its status, failure kind, timings, usage
// and texts), through run_store and over GET /v1/runs and /v1/stats.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <httplib.h>

#include "tests/integration/fake_upstream_fixture.hpp"
#include "tests/integration/store_place.hpp"
#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/batch.hpp"
#include "tutti/engine.hpp"
#include "tutti/json.hpp"
#include "tutti/server.hpp"

using namespace tutti;
using namespace std::chrono_literals;
using tutti::testing::backends;
using tutti::testing::store_place;

namespace {

const char* upstream_script = R"(
models:
  alpha: {reply: "Paris.", latency: 10ms}
  bravo: {reply: "Paris.", latency: 20ms}
  oops:  {fail: {status: 500, message: "Internal failure in the model"}}
  echo:  {}
)";

struct records_fixture {
  fake::server upstream{fake::parse_script(upstream_script)};

  records_fixture() { upstream.start(); }

  std::string yaml(const std::string& store, const std::string& extra = "") {
    return "store: " + store + "\n" + extra + "providers:\n" +
           fake_upstream::providers_yaml({"alpha", "bravo", "oops", "echo"},
                                         upstream.base_url(),
                                         ", api_key: sk-records-test, retry: "
                                         "{attempts: 1}") +
           R"(ensembles:
  e:
    members: [alpha, bravo, oops]
    combine: vote
  judged:
    members: [alpha, bravo]
    combine: judge
    judge: alpha
pipelines:
  two:
    inputs: [q]
    steps:
      first:
        ensemble: e
        prompt: "{{input.q}}"
      second:
        call: bravo
        prompt: "Check: {{steps.first.answer}}"
    output: second
)";
  }
};

const stored_call* call_of(const stored_run& run, const std::string& member,
                           const std::string& step = "") {
  for (auto& c : run.calls)
    if (c.member == member && c.step == step)
      return &c;
  return nullptr;
}

} // namespace

BOOST_AUTO_TEST_SUITE(store_records)

BOOST_FIXTURE_TEST_CASE_TEMPLATE(an_ask_is_kept_with_every_member, B, backends,
                                 records_fixture) {
  store_place place{B::name};
  auto eng = engine::from_yaml(yaml("\"" + place.url() + "\""));
  ask_options options;
  options.record.run_id = new_run_id();
  options.record.key = "team-a";
  options.record.session = "s-42";
  auto answer = eng.ask("e", "What is the capital of France?", options).get();
  BOOST_REQUIRE(eng.flush_store(10s));
  BOOST_CHECK_EQUAL(eng.store_status().state, "ok");
  BOOST_CHECK_EQUAL(eng.store_status().written, 1u);

  auto run = place.open()->find(options.record.run_id);
  BOOST_REQUIRE(run);
  BOOST_CHECK_EQUAL(run->kind, "ask");
  BOOST_CHECK_EQUAL(run->target_kind, "ensemble");
  BOOST_CHECK_EQUAL(run->target, "e");
  BOOST_CHECK_EQUAL(run->status, "partial");
  BOOST_CHECK_EQUAL(run->key, "team-a");
  BOOST_CHECK_EQUAL(run->session, "s-42");
  BOOST_CHECK_EQUAL(run->combine, "vote");
  // How the vote went, for the answer view of a stored run.
  auto shown = tutti::to_json(*run);
  BOOST_CHECK(shown.find(R"("winner":")" + answer.winner + "\"") !=
              std::string::npos);
  BOOST_CHECK(shown.find(R"("votes":[{"answer":)") != std::string::npos);
  BOOST_CHECK(shown.find(R"("agreement":)") != std::string::npos);
  BOOST_CHECK_EQUAL(run->answer, answer.text);
  BOOST_CHECK_EQUAL(run->wall_us, answer.total_us);
  BOOST_CHECK_EQUAL(run->usage.input_tokens, answer.usage.input_tokens);
  BOOST_CHECK_EQUAL(run->usage.output_tokens, answer.usage.output_tokens);
  BOOST_CHECK(run->prompt.find("What is the capital of France?") !=
              std::string::npos);
  BOOST_CHECK(run->finished_ms >= run->started_ms);
  BOOST_REQUIRE_EQUAL(run->calls.size(), 3u);

  auto* alpha = call_of(*run, "alpha");
  BOOST_REQUIRE(alpha);
  BOOST_CHECK(alpha->ok);
  BOOST_CHECK_EQUAL(alpha->role, "member");
  BOOST_CHECK_EQUAL(alpha->provider, "alpha");
  BOOST_CHECK_EQUAL(alpha->model, "alpha");
  BOOST_CHECK_EQUAL(alpha->text, "Paris.");
  BOOST_CHECK_EQUAL(alpha->finish_reason, "stop");
  BOOST_CHECK_EQUAL(alpha->attempts, 1);
  BOOST_CHECK(alpha->total_us >= 10'000);
  BOOST_CHECK(alpha->usage.output_tokens > 0);

  auto* oops = call_of(*run, "oops");
  BOOST_REQUIRE(oops);
  BOOST_CHECK(!oops->ok);
  BOOST_CHECK_EQUAL(oops->failure_kind, "server");
  BOOST_CHECK_EQUAL(oops->http_status, 500);
  BOOST_CHECK(oops->error.find("Internal failure") != std::string::npos);
  // Both answers were "Paris.", the vote's winner; the failed member had
  // none to compare.
  BOOST_CHECK(alpha->agreed == std::optional<bool>{true});
  BOOST_CHECK(call_of(*run, "bravo")->agreed == std::optional<bool>{true});
  BOOST_CHECK(!oops->agreed);

  // The stats count the calls by provider, failures by kind.
  stats_query q;
  q.since_ms = run->started_ms - 3'600'000;
  auto rows = place.open()->stats(q);
  int64_t calls = 0;
  int64_t server_failures = 0;
  int64_t voted = 0;
  int64_t agreed = 0;
  for (auto& r : rows) {
    calls += r.calls;
    voted += r.voted;
    agreed += r.agreed;
    if (auto k = r.failures_by_kind.find("server");
        k != r.failures_by_kind.end())
      server_failures += k->second;
  }
  BOOST_CHECK_EQUAL(calls, 3);
  BOOST_CHECK_EQUAL(server_failures, 1);
  BOOST_CHECK_EQUAL(voted, 2);
  BOOST_CHECK_EQUAL(agreed, 2);
}

BOOST_FIXTURE_TEST_CASE_TEMPLATE(a_judge_call_is_kept_as_a_combiner_call, B,
                                 backends, records_fixture) {
  store_place place{B::name};
  auto eng = engine::from_yaml(yaml("\"" + place.url() + "\""));
  ask_options options;
  options.record.run_id = new_run_id();
  auto answer = eng.ask("judged", "Capital of France?", options).get();
  BOOST_REQUIRE(eng.flush_store(10s));
  auto run = place.open()->find(options.record.run_id);
  BOOST_REQUIRE(run);
  int combiners = 0;
  for (auto& c : run->calls) {
    combiners += c.role == "combiner" ? 1 : 0;
    // The judge (alpha) answers "Paris.", naming no candidate, so a vote
    // settles it: the members agreed with it; the judge's call is none.
    BOOST_TEST_CONTEXT(c.role << " " << c.member) {
      if (c.role == "combiner")
        BOOST_CHECK(!c.agreed);
      else
        BOOST_CHECK(c.agreed == std::optional<bool>{!answer.votes.empty()});
    }
  }
  BOOST_CHECK(answer.note.find("fell back to vote") != std::string::npos);
  BOOST_CHECK_EQUAL(combiners, 1);
  BOOST_CHECK_EQUAL(run->calls.size(), 3u);
}

BOOST_FIXTURE_TEST_CASE_TEMPLATE(a_pipeline_run_is_kept_with_its_steps, B,
                                 backends, records_fixture) {
  store_place place{B::name};
  auto eng = engine::from_yaml(yaml("\"" + place.url() + "\""));
  run_options options;
  options.record.run_id = new_run_id();
  auto result = eng.run("two", {{"q", "Capital?"}}, options).get();
  BOOST_REQUIRE(eng.flush_store(10s));
  auto run = place.open()->find(options.record.run_id);
  BOOST_REQUIRE(run);
  BOOST_CHECK_EQUAL(run->kind, "run");
  BOOST_CHECK_EQUAL(run->target_kind, "pipeline");
  BOOST_CHECK_EQUAL(run->target, "two");
  BOOST_CHECK_EQUAL(run->answer, result.output);
  BOOST_CHECK(run->prompt.find("Capital?") != std::string::npos);
  BOOST_REQUIRE_EQUAL(run->steps.size(), 2u);
  BOOST_CHECK_EQUAL(run->steps[0].id, "first");
  BOOST_CHECK_EQUAL(run->steps[0].target, "e");
  BOOST_CHECK_EQUAL(run->steps[0].status, "partial");
  BOOST_CHECK_EQUAL(run->steps[1].id, "second");
  BOOST_REQUIRE_EQUAL(run->calls.size(), 4u);
  BOOST_CHECK(call_of(*run, "oops", "first"));
  BOOST_CHECK(call_of(*run, "bravo", "second"));
  // Each step's calls against its own answer: the vote of `first`, and a
  // single call, which no vote settled.
  BOOST_CHECK(call_of(*run, "alpha", "first")->agreed ==
              std::optional<bool>{true});
  BOOST_CHECK(!call_of(*run, "oops", "first")->agreed);
  BOOST_CHECK(!call_of(*run, "bravo", "second")->agreed);
}

BOOST_FIXTURE_TEST_CASE_TEMPLATE(each_batch_row_is_a_run, B, backends,
                                 records_fixture) {
  store_place place{B::name};
  auto eng = engine::from_yaml(yaml("\"" + place.url() + "\""));
  auto dir = std::filesystem::temp_directory_path() /
             ("tutti-records-" + std::string{B::name} + "-" + new_run_id());
  std::filesystem::create_directories(dir);
  {
    std::ofstream rows{dir / "in.jsonl"};
    for (int i = 0; i < 5; ++i)
      rows << "{\"q\": \"question " << i << "\"}\n";
  }
  batch_options options;
  options.pipeline = "two";
  options.input_path = (dir / "in.jsonl").string();
  options.output_path = (dir / "out.jsonl").string();
  batch_runner runner{eng, options};
  runner.run([](const batch_progress&) {});
  BOOST_REQUIRE(eng.flush_store(10s));
  run_filter filter;
  filter.kind = "batch";
  auto page = place.open()->list(filter);
  BOOST_CHECK_EQUAL(page.runs.size(), 5u);
  for (auto& r : page.runs)
    BOOST_CHECK_EQUAL(r.target, "two");
  std::filesystem::remove_all(dir);
}

BOOST_FIXTURE_TEST_CASE_TEMPLATE(http_requests_are_kept_and_read_back, B,
                                 backends, records_fixture) {
  store_place place{B::name};
  auto eng = engine::from_yaml(yaml("\"" + place.url() + "\""));
  server_options server_opts;
  server_opts.port = 0;
  tutti::server endpoint{eng, server_opts};
  endpoint.start();
  httplib::Client client{"127.0.0.1", endpoint.port()};
  client.set_read_timeout(10s);
  httplib::Headers headers{{"X-Tutti-Session", "chat-7"}};
  auto posted = client.Post(
      "/v1/chat/completions", headers,
      R"({"model": "ensemble/e", "messages": [{"role": "user", "content": "Capital of France?"}]})",
      "application/json");
  BOOST_REQUIRE(posted);
  BOOST_CHECK_EQUAL(posted->status, 200);
  auto id = posted->get_header_value("x-tutti-run-id");
  BOOST_REQUIRE(id.rfind("run_", 0) == 0);
  BOOST_REQUIRE(eng.flush_store(10s));

  auto got = client.Get(("/v1/runs/" + id).c_str());
  BOOST_REQUIRE(got);
  BOOST_CHECK_EQUAL(got->status, 200);
  BOOST_CHECK(got->body.find("\"kind\":\"http\"") != std::string::npos);
  BOOST_CHECK(got->body.find("\"session\":\"chat-7\"") != std::string::npos);
  BOOST_CHECK(got->body.find("\"failure_kind\":\"server\"") !=
              std::string::npos);

  auto listed = client.Get("/v1/runs?session=chat-7&limit=5");
  BOOST_REQUIRE(listed);
  BOOST_CHECK_EQUAL(listed->status, 200);
  BOOST_CHECK(listed->body.find(id) != std::string::npos);
  // By the kind of target: an ensemble's run, not a pipeline's.
  auto of_ensembles = client.Get("/v1/runs?target_kind=ensemble");
  BOOST_REQUIRE(of_ensembles);
  BOOST_CHECK_EQUAL(of_ensembles->status, 200);
  BOOST_CHECK(of_ensembles->body.find(id) != std::string::npos);
  auto of_pipelines = client.Get("/v1/runs?target_kind=pipeline");
  BOOST_REQUIRE(of_pipelines);
  BOOST_CHECK_EQUAL(of_pipelines->status, 200);
  BOOST_CHECK(of_pipelines->body.find(id) == std::string::npos);

  auto stats = client.Get("/v1/stats?by=ensemble&per=hour&since=0");
  BOOST_REQUIRE(stats);
  BOOST_CHECK_EQUAL(stats->status, 200);
  BOOST_CHECK(stats->body.find("\"group\":\"e\"") != std::string::npos);
  BOOST_CHECK(stats->body.find("\"calls\":3") != std::string::npos);
  BOOST_CHECK(stats->body.find("\"voted\":2,\"agreed\":2") !=
              std::string::npos);

  // Hostile query strings are 400s that say what is wrong.
  for (auto* query :
       {"/v1/runs?cursor=nonsense", "/v1/runs?limit=0", "/v1/runs?limit=1001",
        "/v1/runs?limit=abc", "/v1/runs?since=-5", "/v1/runs?target=%zz",
        "/v1/runs?target=%4", "/v1/runs?kind=a&kind=b", "/v1/runs?nope=1",
        "/v1/runs?target_kind=team", "/v1/stats?by=nope", "/v1/stats?per=week",
        "/v1/stats?since=1e9"}) {
    auto bad = client.Get(query);
    BOOST_REQUIRE(bad);
    BOOST_CHECK_MESSAGE(bad->status == 400, query << ": " << bad->status);
    BOOST_CHECK(bad->body.find("invalid_query") != std::string::npos);
  }
  // Escapes are decoded: %65 is "e".
  auto decoded = client.Get("/v1/runs?target=%65&session=chat%2D7");
  BOOST_REQUIRE(decoded);
  BOOST_CHECK_EQUAL(decoded->status, 200);
  BOOST_CHECK(decoded->body.find(id) != std::string::npos);
  auto missing = client.Get("/v1/runs/run_000000000000000000000000");
  BOOST_REQUIRE(missing);
  BOOST_CHECK_EQUAL(missing->status, 404);
  auto health = client.Get("/healthz");
  BOOST_REQUIRE(health);
  BOOST_CHECK(health->body.find("\"state\":\"ok\"") != std::string::npos);
  endpoint.stop();
}

BOOST_FIXTURE_TEST_CASE_TEMPLATE(texts_false_keeps_no_text, B, backends,
                                 records_fixture) {
  store_place place{B::name};
  auto eng =
      engine::from_yaml(yaml("{url: \"" + place.url() + "\", texts: false}"));
  ask_options options;
  options.record.run_id = new_run_id();
  eng.ask("e", "A private question", options).get();
  BOOST_REQUIRE(eng.flush_store(10s));
  auto run = place.open()->find(options.record.run_id);
  BOOST_REQUIRE(run);
  BOOST_CHECK(run->prompt.empty());
  BOOST_CHECK(run->answer.empty());
  BOOST_CHECK(run->verdict.empty()); // its vote table quotes the replies
  for (auto& c : run->calls)
    BOOST_CHECK(c.text.empty());
  BOOST_CHECK_EQUAL(run->calls.size(), 3u);
  // Agreement is a figure, not a text: kept.
  BOOST_CHECK(call_of(*run, "alpha")->agreed == std::optional<bool>{true});
}

// A conversation: each question of a session goes with the earlier turns
// (the user's messages and the answers), which the fake counts as prompt
// tokens: "alpha beta" (2), "echo: alpha beta" (3), then "gamma" (1).
BOOST_FIXTURE_TEST_CASE_TEMPLATE(a_session_sends_its_history, B, backends,
                                 records_fixture) {
  store_place place{B::name};
  auto eng = engine::from_yaml(yaml("\"" + place.url() + "\""));
  auto ask_in_session = [&](const std::string& question) {
    ask_options options;
    options.record.run_id = new_run_id();
    options.record.session = "conv-1";
    options.history = eng.session_history("conv-1");
    auto answer = eng.ask(target::provider("echo"), question, options).get();
    BOOST_CHECK(answer.status == answer_status::ok);
    return options.record.run_id;
  };
  ask_in_session("alpha beta");
  auto second = ask_in_session("gamma");
  // Another session's turn and a failed run are no part of it.
  ask_options other;
  other.record.session = "conv-2";
  eng.ask(target::provider("echo"), "delta", other).get();
  ask_options failed;
  failed.record.session = "conv-1";
  eng.ask(target::provider("oops"), "lost", failed).get();

  auto seen = fake_upstream::arrivals_of(upstream, "echo");
  BOOST_REQUIRE_EQUAL(seen.size(), 3u);
  BOOST_CHECK_EQUAL(seen[0].input_tokens, 2);
  BOOST_CHECK_EQUAL(seen[1].input_tokens, 6);

  auto history = eng.session_history("conv-1");
  BOOST_REQUIRE_EQUAL(history.size(), 4u);
  BOOST_CHECK_EQUAL(history[0].role, "user");
  BOOST_CHECK_EQUAL(history[0].content, "alpha beta");
  BOOST_CHECK_EQUAL(history[1].role, "assistant");
  BOOST_CHECK_EQUAL(history[1].content, "echo: alpha beta");
  BOOST_CHECK_EQUAL(history[2].content, "gamma");
  BOOST_CHECK_EQUAL(history[3].content, "echo: gamma");
  // The second run keeps only its own question, not the history again.
  auto run = place.open()->find(second);
  BOOST_REQUIRE(run);
  BOOST_CHECK_EQUAL(run->prompt, R"([{"role":"user","content":"gamma"}])");
  // history.turns bounds it: the newest turn only.
  BOOST_CHECK_EQUAL(place.open()->session_history("conv-1", 1, 8000).size(),
                    2u);
  // So does history.tokens (4 bytes a token): "gamma" and "echo: gamma"
  // are 16 bytes, both turns 42.
  BOOST_CHECK_EQUAL(place.open()->session_history("conv-1", 20, 5).size(), 2u);
  BOOST_CHECK_EQUAL(place.open()->session_history("conv-1", 20, 3).size(), 0u);
}

BOOST_FIXTURE_TEST_CASE_TEMPLATE(a_session_over_http_sends_its_history, B,
                                 backends, records_fixture) {
  store_place place{B::name};
  auto eng = engine::from_yaml(yaml("\"" + place.url() + "\""));
  server_options server_opts;
  server_opts.port = 0;
  tutti::server endpoint{eng, server_opts};
  endpoint.start();
  httplib::Client client{"127.0.0.1", endpoint.port()};
  client.set_read_timeout(10s);
  auto first = client.Post(
      "/v1/chat/completions",
      R"({"model": "echo", "messages": [{"role": "user", "content": "alpha beta"}], "tutti": {"session": "web-1"}})",
      "application/json");
  BOOST_REQUIRE(first);
  BOOST_CHECK_EQUAL(first->status, 200);
  // The header names the same session.
  auto second = client.Post(
      "/v1/chat/completions", httplib::Headers{{"X-Tutti-Session", "web-1"}},
      R"({"model": "echo", "stream": true, "messages": [{"role": "user", "content": "gamma"}]})",
      "application/json");
  BOOST_REQUIRE(second);
  BOOST_CHECK_EQUAL(second->status, 200);
  auto seen = fake_upstream::arrivals_of(upstream, "echo");
  BOOST_REQUIRE_EQUAL(seen.size(), 2u);
  BOOST_CHECK_EQUAL(seen[0].input_tokens, 2);
  BOOST_CHECK_EQUAL(seen[1].input_tokens, 6);
  auto bad = client.Post(
      "/v1/chat/completions",
      R"({"model": "echo", "messages": [{"role": "user", "content": "x"}], "tutti": {"session": "has space"}})",
      "application/json");
  BOOST_REQUIRE(bad);
  BOOST_CHECK_EQUAL(bad->status, 400);
  endpoint.stop();
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(store_none)

BOOST_FIXTURE_TEST_CASE(store_none_keeps_nothing, records_fixture) {
  auto eng = engine::from_yaml(yaml("none"));
  BOOST_CHECK_EQUAL(eng.store_status().state, "off");
  auto answer = eng.ask("e", "Capital?").get();
  BOOST_CHECK(answer.status == answer_status::partial);
  BOOST_CHECK(eng.flush_store(1s));
}

BOOST_FIXTURE_TEST_CASE(a_provider_asked_alone_is_kept_as_such,
                        records_fixture) {
  store_place place{"sqlite"};
  auto eng = engine::from_yaml(yaml("\"" + place.url() + "\""));
  ask_options options;
  options.record.run_id = new_run_id();
  eng.ask(target::provider("alpha"), "Capital?", options).get();
  BOOST_REQUIRE(eng.flush_store(10s));
  auto run = place.open()->find(options.record.run_id);
  BOOST_REQUIRE(run);
  BOOST_CHECK_EQUAL(run->target_kind, "provider");
  BOOST_CHECK_EQUAL(run->target, "alpha");
  BOOST_CHECK_EQUAL(run->status, "ok");
}

BOOST_AUTO_TEST_SUITE_END()
