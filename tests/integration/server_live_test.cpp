// GET /v1/live over real sockets: the endpoint in-process on a free loopback
// port, an engine asking the fake upstream, and readers of the live feed
// watching questions asked through the client APIs and /v1/runs.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>
#include <vector>

#include <httplib.h>
#include <rapidjson/document.h>

#include "tests/integration/endpoint_fixture.hpp"
#include "tests/integration/raw_http.hpp"
#include "tests/integration/sse_client.hpp"

using namespace tutti;
using namespace std::chrono_literals;
using tutti::testing::parse_json;
using tutti::testing::raw_connection;
using tutti::testing::sse_event;
using tutti::testing::sse_reader;
using tutti::testing::text_of;

namespace {

const char* upstream_script = R"(
models:
  fast:   {reply: "Paris is the capital of France.", tokens_per_second: 400}
  paced:  {reply: "Paris is the capital", tokens_per_second: 40}
  broken: {fail: {status: 500, message: "Internal failure in the model"}}
  flaky:  {reply: "Paris.", fail: {status: 500, times: 1}}
  stuck:  {reply: "one two three four five", stall_after_tokens: 2}
)";

std::string config_yaml(const std::string& base_url) {
  std::string yaml = "providers:\n";
  for (std::string m : {"fast", "paced", "broken", "flaky", "stuck"})
    yaml += "  " + m + ": {kind: openai, model: " + m + ", base_url: \"" +
            base_url +
            "\", api_key: sk-live-test, retry: {attempts: 2, backoff: 20ms, "
            "max_backoff: 20ms}}\n";
  yaml += R"(ensembles:
  trio: {members: [fast, paced, broken], combine: vote, deadline: 10s}
  retried: {members: [flaky], deadline: 10s}
  hanging: {members: [stuck], deadline: 10s}
pipelines:
  chain:
    inputs: [question]
    steps:
      draft: {call: fast, prompt: "{{input.question}}"}
      polish: {call: paced, prompt: "Polish: {{steps.draft.answer}}"}
    output: polish
)";
  return yaml;
}

struct live_fixture : tutti::testing::endpoint_fixture {
  live_fixture()
      : endpoint_fixture(upstream_script, config_yaml, "live.yaml") {}

  httplib::Result post(const std::string& path, const std::string& body) {
    httplib::Client c{"127.0.0.1", endpoint->port()};
    c.set_read_timeout(10s);
    return c.Post(path.c_str(), body, "application/json");
  }
};

std::string chat_body(const std::string& model, bool stream) {
  return R"({"model":")" + model +
         R"(","messages":[{"role":"user","content":"Capital of France?"}],"stream":)" +
         (stream ? "true" : "false") + "}";
}

/// The events of `run` named `name`.
std::vector<rapidjson::Document> named(const std::vector<sse_event>& events,
                                       const std::string& name,
                                       const std::string& run = "") {
  std::vector<rapidjson::Document> found;
  for (auto& e : events) {
    if (e.event != name)
      continue;
    auto doc = parse_json(e.data);
    if (!run.empty() && text_of(doc["run"]) != run)
      continue;
    found.push_back(std::move(doc));
  }
  return found;
}

bool has(const std::vector<sse_event>& events, const std::string& name,
         const std::string& run = "") {
  return !named(events, name, run).empty();
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(server_live, live_fixture)

BOOST_AUTO_TEST_CASE(a_streamed_ensemble_is_seen_from_its_start_to_its_answer) {
  sse_reader live{endpoint->port(), "GET", "/v1/live"};
  BOOST_REQUIRE(live.wait_for([](auto& ev) { return has(ev, "snapshot"); }));
  auto snapshot = parse_json(live.events().front().data);
  BOOST_TEST(live.events().front().event == "snapshot");
  BOOST_TEST(snapshot["questions"].GetArray().Size() == 0u);

  auto res = post("/v1/chat/completions", chat_body("ensemble/trio", true));
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 200);
  auto run = res->get_header_value("x-tutti-run-id");
  BOOST_REQUIRE(!run.empty());
  BOOST_REQUIRE(
      live.wait_for([&](auto& ev) { return has(ev, "question.done", run); }));
  auto events = live.events();

  auto started = named(events, "question.started", run);
  BOOST_REQUIRE_EQUAL(started.size(), 1u);
  BOOST_TEST(text_of(started[0]["api"]) == "chat_completions");
  BOOST_TEST(text_of(started[0]["kind"]) == "ensemble");
  BOOST_TEST(text_of(started[0]["target"]) == "trio");
  BOOST_TEST(text_of(started[0]["combine"]) == "vote");
  BOOST_TEST(started[0]["stream"].GetBool());
  std::vector<std::string> members;
  for (auto& m : started[0]["members"].GetArray())
    members.push_back(text_of(m));
  BOOST_TEST((members == std::vector<std::string>{"fast", "paced", "broken"}));

  // Each member was queued, then sent, before its outcome.
  for (auto& member : members) {
    std::vector<std::string> states;
    for (auto& doc : named(events, "member.state", run))
      if (text_of(doc["member"]) == member)
        states.push_back(text_of(doc["state"]));
    BOOST_TEST_CONTEXT(member) {
      BOOST_REQUIRE(states.size() >= 2u);
      BOOST_TEST(states[0] == "queued");
      BOOST_TEST(states[1] == "sent");
    }
  }
  // The paced member's tokens arrive as deltas that add up to its reply.
  std::string paced;
  for (auto& doc : named(events, "member.delta", run))
    if (text_of(doc["member"]) == "paced" && !doc["answer"].GetBool())
      paced += text_of(doc["text"]);
  BOOST_TEST(paced == "Paris is the capital");

  // The broken one failed with its kind and the vendor's message.
  bool broken_seen = false;
  for (auto& doc : named(events, "member.done", run)) {
    if (text_of(doc["member"]) != "broken")
      continue;
    broken_seen = true;
    BOOST_TEST(text_of(doc["state"]) == "failed");
    BOOST_TEST(text_of(doc["outcome"]["kind"]) == "server");
    BOOST_TEST(text_of(doc["outcome"]["message"]).find("Internal failure") !=
               std::string::npos);
    BOOST_TEST(doc["outcome"]["http_status"].GetInt() == 500);
  }
  BOOST_TEST(broken_seen);

  // The answer comes whole, with its vote table.
  auto done = named(events, "question.done", run);
  BOOST_REQUIRE_EQUAL(done.size(), 1u);
  BOOST_TEST(text_of(done[0]["status"]) == "partial");
  BOOST_REQUIRE(done[0]["result"].IsObject());
  BOOST_TEST(done[0]["result"]["votes"].IsArray());
  BOOST_TEST(done[0]["result"]["members"].GetArray().Size() == 3u);

  // Order: started first, done last.
  size_t first = events.size(), last = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].data.find("\"run\":\"" + run + "\"") == std::string::npos)
      continue;
    first = std::min(first, i);
    last = i;
  }
  BOOST_TEST(events[first].event == "question.started");
  BOOST_TEST(events[last].event == "question.done");
}

BOOST_AUTO_TEST_CASE(a_reader_that_comes_late_gets_the_question_so_far) {
  // A question whose member stalls after two tokens stays in flight; an
  // early reader sees its tokens arrive.
  sse_reader early{endpoint->port(), "GET", "/v1/live"};
  BOOST_REQUIRE(early.wait_for([](auto& ev) { return has(ev, "snapshot"); }));
  raw_connection asker{endpoint->port()};
  asker.send_post("/v1/chat/completions", chat_body("ensemble/hanging", true));
  BOOST_REQUIRE(early.wait_for([](auto& ev) {
    std::string text;
    for (auto& doc : named(ev, "member.delta"))
      text += text_of(doc["text"]);
    return text.find("two") != std::string::npos;
  }));
  sse_reader live{endpoint->port(), "GET", "/v1/live"};
  BOOST_REQUIRE(live.wait_for([](auto& ev) { return has(ev, "snapshot"); }));
  auto snapshot = parse_json(live.events().front().data);
  auto questions = snapshot["questions"].GetArray();
  BOOST_REQUIRE_EQUAL(questions.Size(), 1u);
  BOOST_TEST(text_of(questions[0]["target"]) == "hanging");
  auto& member = questions[0]["members"][0];
  BOOST_TEST(text_of(member["member"]) == "stuck");
  BOOST_TEST(text_of(member["state"]) == "streaming");
  BOOST_TEST(text_of(member["text"]).find("one") == 0u);
  BOOST_TEST(member["queued_ms"].IsInt64());
  BOOST_TEST(member["first_token_ms"].IsInt64());
  BOOST_TEST(member["done_ms"].IsNull());
  auto run = text_of(questions[0]["run"]);

  // The asker leaves: the question is cancelled and leaves the feed.
  asker.close();
  BOOST_REQUIRE(
      live.wait_for([&](auto& ev) { return has(ev, "question.done", run); }));
  for (auto& doc : named(live.events(), "member.done", run))
    BOOST_TEST(text_of(doc["state"]) == "cancelled");
}

BOOST_AUTO_TEST_CASE(a_retry_shows_its_reason_and_its_wait) {
  sse_reader live{endpoint->port(), "GET", "/v1/live"};
  BOOST_REQUIRE(live.wait_for([](auto& ev) { return has(ev, "snapshot"); }));
  auto res = post("/v1/chat/completions", chat_body("ensemble/retried", false));
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 200);
  auto run = res->get_header_value("x-tutti-run-id");
  BOOST_REQUIRE(
      live.wait_for([&](auto& ev) { return has(ev, "question.done", run); }));
  std::vector<std::string> states;
  for (auto& doc : named(live.events(), "member.state", run)) {
    states.push_back(text_of(doc["state"]));
    if (text_of(doc["state"]) == "retrying") {
      BOOST_TEST(text_of(doc["reason"]) == "server");
      BOOST_TEST(doc["attempt"].GetInt() == 1);
      BOOST_TEST(doc["wait_ms"].GetInt64() >= 0);
      BOOST_TEST(doc["wait_ms"].GetInt64() <= 20);
    }
  }
  BOOST_TEST((states == std::vector<std::string>{"queued", "sent", "retrying",
                                                 "queued", "sent"}));
  auto done = named(live.events(), "member.done", run);
  BOOST_REQUIRE_EQUAL(done.size(), 1u);
  // Not streamed: the reply comes whole with its outcome.
  BOOST_TEST(text_of(done[0]["text"]) == "Paris.");
  BOOST_TEST(done[0]["outcome"]["attempts"].GetInt() == 2);
}

BOOST_AUTO_TEST_CASE(a_pipeline_run_shows_its_steps) {
  sse_reader live{endpoint->port(), "GET", "/v1/live"};
  BOOST_REQUIRE(live.wait_for([](auto& ev) { return has(ev, "snapshot"); }));
  auto res = post("/v1/runs",
                  R"({"pipeline":"chain","inputs":{"question":"Capital?"}})");
  BOOST_REQUIRE(res);
  BOOST_REQUIRE_EQUAL(res->status, 202);
  auto run = text_of(parse_json(res->body)["id"]);
  BOOST_REQUIRE(
      live.wait_for([&](auto& ev) { return has(ev, "question.done", run); }));
  auto events = live.events();
  auto started = named(events, "question.started", run);
  BOOST_REQUIRE_EQUAL(started.size(), 1u);
  BOOST_TEST(text_of(started[0]["kind"]) == "pipeline");
  BOOST_TEST(started[0]["steps"].GetArray().Size() == 2u);
  std::vector<std::string> steps;
  for (auto& doc : named(events, "step.done", run))
    steps.push_back(text_of(doc["step"]));
  BOOST_TEST((steps == std::vector<std::string>{"draft", "polish"}));
  bool polished = false;
  for (auto& doc : named(events, "member.delta", run))
    polished = polished || text_of(doc["step"]) == "polish";
  BOOST_TEST(polished);
  auto done = named(events, "question.done", run);
  BOOST_TEST(text_of(done[0]["status"]) == "ok");
}

BOOST_AUTO_TEST_SUITE_END()
