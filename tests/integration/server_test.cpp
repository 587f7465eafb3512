// `tutti serve` over real sockets: the endpoint in-process on a free
// loopback port, an engine asking the fake upstream, and cpp-httplib's
// client speaking to it as OpenAI clients do; plus the real binary as a
// subprocess for what only a process shows (the listening line, refusing a
// public address, exiting on SIGTERM).

#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <rapidjson/document.h>

#include "tests/integration/fake_upstream_fixture.hpp"
#include "tests/integration/raw_http.hpp"
#include "tests/integration/sse_client.hpp"
#include "tests/integration/tutti_process.hpp"
#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/engine.hpp"
#include "tutti/server.hpp"

using namespace tutti;
using namespace std::chrono_literals;
using tutti::testing::environment;
using tutti::testing::has_event;
using tutti::testing::raw_connection;
using tutti::testing::run_tutti;
using tutti::testing::sse_event;
using tutti::testing::sse_reader;
using tutti::testing::take_events;
using tutti::testing::tutti_process;

namespace {

const char* upstream_script = R"(
models:
  fast:    {reply: "Paris is the capital of France."}
  other:   {reply: "Lyon is not the capital."}
  streamy: {reply: "one two three four five six", tokens_per_second: 400}
  paced:   {reply: "a b c d e f g h", tokens_per_second: 20}
  broken:  {fail: {status: 500, message: "Internal failure in the model"}}
  stuck:   {reply: "one two three four five", stall_after_tokens: 2}
  careful: {refusal: "I'm very sorry, but I can't assist with that."}
)";

const std::string refusal_words =
    "I'm very sorry, but I can't assist with that.";

const std::vector<std::string> models = {"fast",   "other", "streamy", "paced",
                                         "broken", "stuck", "careful"};

const char* secret_key = "sk-server-test-secret-0042";

std::string config_yaml(const std::string& base_url) {
  std::string yaml = "providers:\n";
  for (auto& m : models) {
    yaml += "  " + m + ": {kind: openai, model: " + m + ", base_url: \"" +
            base_url + "\", api_key: " + secret_key +
            (m == "paced" ? ", concurrency: 100" : "") + "}\n";
  }
  // The same refusing model, asked in Anthropic's format.
  yaml += "  wary: {kind: anthropic, model: careful, base_url: \"" + base_url +
          "\", api_key: " + secret_key + "}\n";
  yaml += R"(ensembles:
  duo: {members: [fast, other], deadline: 10s}
  cautious: {members: [careful, wary], deadline: 10s}
  helped: {members: [careful, fast], combine: first, deadline: 10s}
  doomed: {members: [broken], deadline: 10s}
  merged: {members: [fast, other], combine: synthesize, synthesizer: streamy, deadline: 10s}
pipelines:
  chain:
    inputs: [question]
    steps:
      draft: {call: fast, prompt: "{{input.question}}"}
      polish: {call: streamy, prompt: "Polish: {{steps.draft.answer}}"}
    output: polish
)";
  return yaml;
}

rapidjson::Document parse(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  BOOST_REQUIRE_MESSAGE(!doc.HasParseError(), "not JSON: " << json);
  return doc;
}

std::string str(const rapidjson::Value& v) {
  BOOST_REQUIRE_MESSAGE(v.IsString(), "not a string");
  return {v.GetString(), v.GetStringLength()};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::vector<sse_event> events_of(std::string body) {
  return take_events(body);
}

/// Runs `fn` every 10 ms until it is true, for at most `timeout`.
bool eventually(const std::function<bool()>& fn,
                std::chrono::milliseconds timeout = 5s) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (!fn()) {
    if (std::chrono::steady_clock::now() >= until)
      return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

struct server_fixture {
  fake::server upstream{fake::parse_script(upstream_script), "", 256};
  std::unique_ptr<tutti::engine> engine;
  std::unique_ptr<tutti::server> endpoint;

  server_fixture() {
    upstream.start();
    engine = std::make_unique<tutti::engine>(tutti::engine::from_yaml(
        config_yaml(upstream.base_url()), {}, "server.yaml"));
    server_options options;
    options.port = 0;
    options.max_body_bytes = 64 * 1024;
    endpoint = std::make_unique<tutti::server>(*engine, options);
    endpoint->start();
  }

  ~server_fixture() {
    endpoint.reset();
    engine.reset();
    upstream.stop();
  }

  httplib::Client client(std::chrono::milliseconds read_timeout = 10s) {
    httplib::Client c{"127.0.0.1", endpoint->port()};
    c.set_read_timeout(read_timeout);
    c.set_connection_timeout(2s);
    return c;
  }

  httplib::Result post(const std::string& path, const std::string& body) {
    return client().Post(path.c_str(), body, "application/json");
  }

  httplib::Result get(const std::string& path) {
    return client().Get(path.c_str());
  }

  /// The upstream's record of `model`, once it has one with an outcome in
  /// `outcomes`.
  bool upstream_saw(const std::string& model,
                    const std::vector<std::string>& outcomes) {
    return eventually([&] {
      for (auto& a : fake_upstream::arrivals_of(upstream, model))
        for (auto& o : outcomes)
          if (a.outcome == o)
            return true;
      return false;
    });
  }

  int64_t in_flight_of(const std::string& provider) {
    auto res = get("/v1/providers");
    BOOST_REQUIRE(res);
    auto doc = parse(res->body);
    for (auto& p : doc["data"].GetArray())
      if (str(p["name"]) == provider)
        return p["in_flight"].GetInt64();
    BOOST_FAIL("no provider " + provider);
    return -1;
  }
};

std::string chat_body(const std::string& model, bool stream,
                      const std::string& extra = "") {
  return R"({"model":")" + model +
         R"(","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Capital of France?"}],"stream":)" +
         (stream ? "true" : "false") + extra + "}";
}

/// The streamed content of a chat completion and its checks on the way.
struct streamed_chat {
  std::string content;
  int content_chunks = 0;
  std::string finish_reason;
  std::string ensemble_text;
  bool usage_chunk = false;
  bool done = false;
};

streamed_chat read_chat_stream(const std::string& body) {
  streamed_chat s;
  auto events = events_of(body);
  BOOST_REQUIRE(events.size() >= 3u);
  BOOST_TEST(events.back().data == "[DONE]");
  s.done = events.back().data == "[DONE]";
  auto first = parse(events.front().data);
  BOOST_TEST(str(first["object"]) == "chat.completion.chunk");
  BOOST_TEST(str(first["choices"][0]["delta"]["role"]) == "assistant");
  std::string id = str(first["id"]);
  BOOST_TEST(id.rfind("chatcmpl-", 0) == 0u);
  for (size_t i = 1; i + 1 < events.size(); ++i) {
    auto chunk = parse(events[i].data);
    BOOST_TEST(str(chunk["id"]) == id);
    BOOST_TEST(str(chunk["object"]) == "chat.completion.chunk");
    if (chunk["choices"].Empty()) {
      if (chunk.HasMember("usage") && chunk["usage"].IsObject()) {
        s.usage_chunk = true;
        BOOST_TEST(chunk["usage"]["total_tokens"].GetInt() > 0);
      }
      continue;
    }
    auto& choice = chunk["choices"][0];
    if (choice["delta"].HasMember("content")) {
      s.content += str(choice["delta"]["content"]);
      ++s.content_chunks;
    }
    if (!choice["finish_reason"].IsNull()) {
      s.finish_reason = str(choice["finish_reason"]);
      s.ensemble_text = str(chunk["ensemble"]["text"]);
    }
  }
  return s;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(server_tests, server_fixture)

BOOST_AUTO_TEST_CASE(healthz_answers) {
  auto res = get("/healthz");
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 200);
  BOOST_TEST(str(parse(res->body)["status"]) == "ok");
}

BOOST_AUTO_TEST_CASE(a_whole_reply_is_a_chat_completion_with_the_ensemble) {
  auto res = post("/v1/chat/completions", chat_body("ensemble/duo", false));
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 200);
  BOOST_TEST(
      contains(res->get_header_value("Content-Type"), "application/json"));
  auto doc = parse(res->body);
  BOOST_TEST(str(doc["object"]) == "chat.completion");
  BOOST_TEST(str(doc["id"]).rfind("chatcmpl-", 0) == 0u);
  BOOST_TEST(str(doc["model"]) == "ensemble/duo");
  BOOST_TEST(doc["created"].GetInt64() > 1600000000);
  auto& message = doc["choices"][0]["message"];
  BOOST_TEST(str(message["role"]) == "assistant");
  BOOST_TEST(contains(str(message["content"]), "Paris is the capital"));
  BOOST_TEST(contains(str(message["content"]), "Lyon is not"));
  BOOST_TEST(str(doc["choices"][0]["finish_reason"]) == "stop");
  BOOST_TEST(doc["usage"]["prompt_tokens"].GetInt() > 0);
  BOOST_TEST(doc["usage"]["total_tokens"].GetInt() ==
             doc["usage"]["prompt_tokens"].GetInt() +
                 doc["usage"]["completion_tokens"].GetInt());
  BOOST_TEST(str(doc["ensemble"]["status"]) == "ok");
  BOOST_TEST(doc["ensemble"]["members"].Size() == 2u);
  BOOST_TEST(str(doc["ensemble"]["text"]) == str(message["content"]));
}

BOOST_AUTO_TEST_CASE(a_request_may_choose_the_ensembles_strategy) {
  // duo collects; this request asks it to let streamy synthesize instead.
  auto res = post("/v1/chat/completions",
                  chat_body("ensemble/duo", false,
                            R"(,"tutti":{"combine":"synthesize",)"
                            R"("settings":{"synthesizer":"streamy"}})"));
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 200, res->body);
  auto doc = parse(res->body);
  BOOST_TEST(str(doc["ensemble"]["combine"]) == "synthesize");
  BOOST_TEST(doc["ensemble"]["combiner_calls"].Size() == 1u);
  // Checked against what the strategy declares, as the config is.
  struct bad {
    std::string tutti;
    std::string says;
  };
  std::vector<bad> cases = {
      {R"({"combine":"synthesize"})",
       "tutti: missing required key 'synthesizer' (the provider that writes "
       "the final answer) for combine strategy 'synthesize'"},
      {R"({"combine":"vote","settings":{"judge":"fast"}})",
       "tutti.judge: combine strategy 'vote' does not use 'judge'"},
      {R"({"combine":"judge","settings":{"judge":"oracle"}})",
       "tutti.judge: unknown provider 'oracle'"},
      {R"({"combine":"vot"})", "tutti.combine: unknown combine strategy 'vot'"},
      {R"({"combine":"vote","settings":{"extract":"("}})",
       "tutti: combine strategy 'vote': "},
      {R"({"settings":{"extract":"x"}})",
       "tutti.settings: goes with tutti.combine"},
  };
  for (auto& c : cases) {
    auto bad_res =
        post("/v1/chat/completions",
             chat_body("ensemble/duo", false, R"(,"tutti":)" + c.tutti));
    BOOST_REQUIRE(bad_res);
    BOOST_TEST(bad_res->status == 400, c.tutti);
    auto error = parse(bad_res->body);
    BOOST_TEST(contains(str(error["error"]["message"]), c.says),
               str(error["error"]["message"]));
  }
  auto provider =
      post("/v1/chat/completions",
           chat_body("fast", false, R"(,"tutti":{"combine":"vote"})"));
  BOOST_REQUIRE(provider);
  BOOST_TEST(provider->status == 400);
}

BOOST_AUTO_TEST_CASE(a_provider_model_is_asked_alone) {
  auto res = post("/v1/chat/completions", chat_body("fast", false));
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 200);
  auto doc = parse(res->body);
  BOOST_TEST(str(doc["choices"][0]["message"]["content"]) ==
             "Paris is the capital of France.");
  BOOST_TEST(doc["ensemble"]["members"].Size() == 1u);
  BOOST_TEST(fake_upstream::arrivals_of(upstream, "other").empty());
}

BOOST_AUTO_TEST_CASE(a_streamed_provider_reply_sends_its_tokens_as_chunks) {
  auto res = post("/v1/chat/completions",
                  chat_body("streamy", true,
                            R"(,"stream_options":{"include_usage":true})"));
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 200);
  BOOST_TEST(
      contains(res->get_header_value("Content-Type"), "text/event-stream"));
  auto s = read_chat_stream(res->body);
  BOOST_TEST(s.content == "one two three four five six");
  BOOST_TEST(s.content_chunks > 1);
  BOOST_TEST(s.finish_reason == "stop");
  BOOST_TEST(s.usage_chunk);
  BOOST_TEST(s.done);
}

BOOST_AUTO_TEST_CASE(a_streamed_ensemble_sends_its_answer) {
  // collect does not stream its answer: it comes in one piece at the end.
  auto res = post("/v1/chat/completions", chat_body("ensemble/duo", true));
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 200);
  auto s = read_chat_stream(res->body);
  BOOST_TEST(s.content == s.ensemble_text);
  BOOST_TEST(contains(s.content, "Lyon is not"));
  BOOST_TEST(!s.usage_chunk);
  // synthesize streams the synthesizer's tokens as the answer's own.
  auto merged =
      post("/v1/chat/completions", chat_body("ensemble/merged", true));
  BOOST_REQUIRE(merged);
  auto m = read_chat_stream(merged->body);
  BOOST_TEST(m.content == "one two three four five six");
  BOOST_TEST(m.content == m.ensemble_text);
  BOOST_TEST(m.content_chunks > 1);
}

BOOST_AUTO_TEST_CASE(member_tokens_come_only_when_asked_for) {
  auto res =
      post("/v1/chat/completions",
           chat_body("ensemble/merged", true, R"(,"tutti":{"members":true})"));
  BOOST_REQUIRE(res);
  int member_chunks = 0;
  for (auto& e : events_of(res->body)) {
    if (e.data == "[DONE]")
      continue;
    auto chunk = parse(e.data);
    if (chunk.HasMember("tutti")) {
      ++member_chunks;
      BOOST_TEST(chunk["choices"].Empty());
    }
  }
  BOOST_TEST(member_chunks >= 2); // at least both members' outcomes
}

BOOST_AUTO_TEST_CASE(a_providers_refusal_passes_through_as_openai_sends_it) {
  auto res = post("/v1/chat/completions", chat_body("careful", false));
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 200);
  auto doc = parse(res->body);
  auto& choice = doc["choices"][0];
  BOOST_TEST(choice["message"]["content"].IsNull());
  BOOST_TEST(str(choice["message"]["refusal"]) == refusal_words);
  BOOST_TEST(str(choice["finish_reason"]) == "stop");
  BOOST_TEST(doc["usage"]["completion_tokens"].GetInt() > 0);
  auto& member = doc["ensemble"]["members"][0];
  BOOST_TEST(str(member["status"]) == "failed");
  BOOST_TEST(str(member["error"]["kind"]) == "refused");
  BOOST_TEST(str(member["error"]["message"]) == refusal_words);
}

BOOST_AUTO_TEST_CASE(a_streamed_refusal_is_a_refusal_delta) {
  auto res = post("/v1/chat/completions",
                  chat_body("careful", true,
                            R"(,"stream_options":{"include_usage":true})"));
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 200);
  auto events = events_of(res->body);
  BOOST_REQUIRE(events.size() >= 4u);
  BOOST_TEST(events.back().data == "[DONE]");
  std::string refusal, content, finish;
  bool usage = false;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    auto chunk = parse(events[i].data);
    if (chunk["choices"].Empty()) {
      usage = usage || chunk["usage"].IsObject();
      continue;
    }
    auto& choice = chunk["choices"][0];
    if (choice["delta"].HasMember("refusal"))
      refusal += str(choice["delta"]["refusal"]);
    if (choice["delta"].HasMember("content"))
      content += str(choice["delta"]["content"]);
    if (!choice["finish_reason"].IsNull())
      finish = str(choice["finish_reason"]);
  }
  BOOST_TEST(refusal == refusal_words);
  BOOST_TEST(content == "");
  BOOST_TEST(finish == "stop");
  BOOST_TEST(usage);
}

BOOST_AUTO_TEST_CASE(an_ensemble_that_only_refused_passes_the_refusal_on) {
  // One member in OpenAI's format, one in Anthropic's: both say refused.
  auto res =
      post("/v1/chat/completions", chat_body("ensemble/cautious", false));
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 200);
  auto doc = parse(res->body);
  BOOST_TEST(str(doc["choices"][0]["message"]["refusal"]) == refusal_words);
  auto& members = doc["ensemble"]["members"];
  BOOST_REQUIRE(members.Size() == 2u);
  BOOST_TEST(str(members[0]["error"]["kind"]) == "refused");
  BOOST_TEST(str(members[1]["error"]["kind"]) == "refused");
  BOOST_TEST(str(members[1]["error"]["message"]) ==
             "the model declined to answer (stop_reason refusal: " +
                 refusal_words + ")");
  // A member that answers is the answer: a refusal never wins.
  auto helped =
      post("/v1/chat/completions", chat_body("ensemble/helped", false));
  BOOST_REQUIRE(helped);
  BOOST_TEST(helped->status == 200);
  auto answer = parse(helped->body);
  BOOST_TEST(str(answer["choices"][0]["message"]["content"]) ==
             "Paris is the capital of France.");
  BOOST_TEST(answer["choices"][0]["message"]["refusal"].IsNull());
}

BOOST_AUTO_TEST_CASE(a_failed_ensemble_is_a_502_with_the_ensemble) {
  for (bool stream : {false, true}) {
    auto res =
        post("/v1/chat/completions", chat_body("ensemble/doomed", stream));
    BOOST_REQUIRE(res);
    BOOST_TEST(res->status == 502);
    auto doc = parse(res->body);
    BOOST_TEST(str(doc["error"]["type"]) == "upstream_error");
    BOOST_TEST(str(doc["error"]["code"]) == "ensemble_failed");
    BOOST_TEST(contains(str(doc["error"]["message"]), "broken"));
    BOOST_TEST(str(doc["ensemble"]["status"]) == "failed");
    BOOST_TEST(str(doc["ensemble"]["members"][0]["error"]["kind"]) == "server");
  }
}

BOOST_AUTO_TEST_CASE(an_unknown_model_is_a_404) {
  auto res = post("/v1/chat/completions", chat_body("gpt-9", false));
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 404);
  auto doc = parse(res->body);
  BOOST_TEST(str(doc["error"]["code"]) == "model_not_found");
  BOOST_TEST(str(doc["error"]["param"]) == "model");
  BOOST_TEST(contains(str(doc["error"]["message"]), "ensemble/duo"));
}

BOOST_AUTO_TEST_CASE(bad_bodies_get_a_400_naming_the_field) {
  struct bad {
    std::string body;
    std::string param;
    std::string says;
  };
  std::vector<bad> cases = {
      {"not json", "", "request body: not valid JSON at offset 1"},
      {R"({"model":"fast"})", "messages", "messages: required"},
      {R"({"model":"fast","messages":"hi"})", "messages",
       "messages: expected an array of messages, got a string"},
      {R"({"model":"fast","messages":[{"role":"user","content":"a"},{"role":"robot","content":"b"}]})",
       "messages[1].role",
       "messages[1].role: expected one of system, user, assistant"},
      {R"({"model":"fast","messages":[{"role":"user","content":"a"}],"max_tokens":"ten"})",
       "max_tokens", "max_tokens: expected an integer, got a string"},
      {R"({"model":"fast","messages":[{"role":"user","content":"a"}],"n":0})",
       "n", "n: expected 1 to 128, got 0"},
  };
  for (auto& c : cases) {
    auto res = post("/v1/chat/completions", c.body);
    BOOST_REQUIRE(res);
    BOOST_TEST(res->status == 400, c.body);
    auto doc = parse(res->body);
    BOOST_TEST(str(doc["error"]["type"]) == "invalid_request_error");
    BOOST_TEST(contains(str(doc["error"]["message"]), c.says),
               str(doc["error"]["message"]));
    if (c.param.empty())
      BOOST_TEST(doc["error"]["param"].IsNull());
    else
      BOOST_TEST(str(doc["error"]["param"]) == c.param);
  }
}

BOOST_AUTO_TEST_CASE(a_body_over_the_limit_is_a_413) {
  std::string big(100 * 1024, 'x');
  auto res = post("/v1/chat/completions",
                  R"({"model":"fast","messages":[{"role":"user","content":")" +
                      big + R"("}]})");
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 413);
  auto doc = parse(res->body);
  BOOST_TEST(str(doc["error"]["code"]) == "request_too_large");
  BOOST_TEST(fake_upstream::arrivals_of(upstream, "fast").empty());
}

BOOST_AUTO_TEST_CASE(an_unknown_route_is_a_404_in_openai_format) {
  auto res = get("/v1/nothing");
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 404);
  BOOST_TEST(str(parse(res->body)["error"]["code"]) == "not_found");
}

BOOST_AUTO_TEST_CASE(listings_show_state_and_never_a_secret) {
  auto providers = get("/v1/providers");
  BOOST_REQUIRE(providers);
  BOOST_TEST(providers->status == 200);
  BOOST_TEST(!contains(providers->body, secret_key));
  BOOST_TEST(!contains(providers->body, upstream.base_url()));
  auto doc = parse(providers->body);
  const auto provider_count = models.size() + 1; // and wary
  BOOST_TEST(doc["data"].Size() == provider_count);
  auto& first = doc["data"][0];
  BOOST_TEST(first.HasMember("limit_group"));
  BOOST_TEST(str(first["breaker"]["state"]) == "closed");
  BOOST_TEST(first["in_flight"].GetInt64() == 0);

  auto ensembles = parse(get("/v1/ensembles")->body);
  BOOST_TEST(ensembles["data"].Size() == 5u);
  BOOST_TEST(str(ensembles["data"][0]["model"]) ==
             "ensemble/" + str(ensembles["data"][0]["name"]));
  auto pipelines = parse(get("/v1/pipelines")->body);
  BOOST_TEST(str(pipelines["data"][0]["name"]) == "chain");
  BOOST_TEST(str(pipelines["data"][0]["output"]) == "polish");
  auto listed = parse(get("/v1/models")->body);
  BOOST_TEST(listed["data"].Size() == provider_count + 5);
  // Each model on its own, an ensemble's slash escaped or not.
  auto name = str(ensembles["data"][0]["name"]);
  for (auto path :
       {"/v1/models/ensemble/" + name, "/v1/models/ensemble%2F" + name,
        "/v1/models/" + str(first["name"])}) {
    BOOST_TEST_CONTEXT(path) {
      auto one = get(path);
      BOOST_REQUIRE(one);
      BOOST_TEST(one->status == 200);
      BOOST_TEST(str(parse(one->body)["object"]) == "model");
    }
  }
  auto unknown = get("/v1/models/no-such-model");
  BOOST_REQUIRE(unknown);
  BOOST_TEST(unknown->status == 404);
  BOOST_TEST(contains(unknown->body, "model_not_found"));
  // The root says what this server is.
  auto root = get("/");
  BOOST_REQUIRE(root);
  BOOST_TEST(root->status == 200);
  auto about = parse(root->body);
  BOOST_TEST(str(about["object"]) == "tutti.server");
  BOOST_TEST(!str(about["version"]).empty());
  BOOST_TEST(about["models"].Size() == provider_count + 5);
  BOOST_TEST(contains(root->body, "POST /v1/chat/completions"));
  BOOST_TEST(contains(root->body, "POST /admin/reload"));
  BOOST_TEST(!contains(root->body, secret_key));
}

BOOST_AUTO_TEST_CASE(metrics_has_the_engine_and_the_http_counters) {
  BOOST_REQUIRE(get("/healthz"));
  BOOST_REQUIRE(post("/v1/chat/completions", chat_body("fast", false)));
  // An exchange is counted once its last byte is written, which the client
  // may see first: read again (briefly) until the chat completion is in.
  auto res = get("/metrics");
  for (int i = 0;
       i < 200 && res &&
       !contains(res->body, "route=\"/v1/chat/completions\",status=\"200\"} 1");
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    res = get("/metrics");
  }
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 200);
  BOOST_TEST(contains(res->get_header_value("Content-Type"), "text/plain"));
  BOOST_TEST(contains(res->body, "tutti_http_requests_total{method=\"GET\","
                                 "route=\"/healthz\",status=\"200\"} 1"));
  BOOST_TEST(
      contains(res->body, "route=\"/v1/chat/completions\",status=\"200\"} 1"));
  BOOST_TEST(contains(res->body, "tutti_http_request_duration_seconds_bucket"));
  BOOST_TEST(contains(res->body, "tutti_http_open_streams 0"));
  BOOST_TEST(contains(res->body, "# TYPE tutti_"));
  BOOST_TEST(!contains(res->body, secret_key));
}

BOOST_AUTO_TEST_CASE(a_run_streams_its_events_and_replays_them_to_late_comers) {
  auto created = post("/v1/runs",
                      R"({"ensemble":"merged","prompt":"Capital of France?"})");
  BOOST_REQUIRE(created);
  BOOST_TEST(created->status == 202);
  auto doc = parse(created->body);
  auto id = str(doc["id"]);
  BOOST_TEST(id.rfind("run_", 0) == 0u);
  BOOST_TEST(created->get_header_value("Location") == "/v1/runs/" + id);

  sse_reader live{endpoint->port(), "GET", "/v1/runs/" + id + "/events"};
  BOOST_REQUIRE(live.wait_end());
  BOOST_TEST(live.status() == 200);
  BOOST_TEST(contains(live.content_type(), "text/event-stream"));
  auto events = live.events();
  BOOST_REQUIRE(!events.empty());
  BOOST_TEST(events.front().event == "run.started");
  BOOST_TEST(events.back().event == "run.done");
  BOOST_TEST(has_event(events, "member.delta"));
  BOOST_TEST(has_event(events, "member.done"));
  for (size_t i = 0; i < events.size(); ++i)
    BOOST_TEST(events[i].id == std::to_string(i + 1));
  auto done = parse(events.back().data);
  BOOST_TEST(str(done["status"]) == "ok");
  BOOST_TEST(str(done["answer"]["text"]) == "one two three four five six");

  auto got = parse(get("/v1/runs/" + id)->body);
  BOOST_TEST(str(got["status"]) == "ok");
  BOOST_TEST(str(got["answer"]["text"]) == "one two three four five six");

  // A late client gets every event again, in order; with Last-Event-ID only
  // those after it.
  auto replay = get("/v1/runs/" + id + "/events");
  BOOST_REQUIRE(replay);
  auto replayed = events_of(replay->body);
  BOOST_REQUIRE(replayed.size() == events.size());
  for (size_t i = 0; i < events.size(); ++i)
    BOOST_TEST(replayed[i].data == events[i].data);
  auto tail =
      client().Get(("/v1/runs/" + id + "/events").c_str(),
                   {{"Last-Event-ID", std::to_string(events.size() - 1)}});
  BOOST_REQUIRE(tail);
  auto rest = events_of(tail->body);
  BOOST_REQUIRE(rest.size() == 1u);
  BOOST_TEST(rest[0].event == "run.done");
}

BOOST_AUTO_TEST_CASE(a_pipeline_run_reports_its_steps) {
  auto created = post(
      "/v1/runs", R"({"pipeline":"chain","inputs":{"question":"Capital?"}})");
  BOOST_REQUIRE(created);
  BOOST_TEST(created->status == 202);
  auto id = str(parse(created->body)["id"]);
  auto res = get("/v1/runs/" + id + "/events");
  BOOST_REQUIRE(res);
  auto events = events_of(res->body);
  std::vector<std::string> steps;
  for (auto& e : events)
    if (e.event == "step.started" || e.event == "member.done" ||
        e.event == "step.done") {
      auto data = parse(e.data);
      auto line =
          e.event + " " + str(data[e.event == "step.done" ? "id" : "step"]);
      if (e.event == "member.done")
        line += " " + str(data["member"]) + " " + str(data["status"]);
      steps.push_back(line);
    }
  // Each step's one member reports its outcome between the step's start and
  // its end.
  std::vector<std::string> expected = {"step.started draft",
                                       "member.done draft fast ok",
                                       "step.done draft",
                                       "step.started polish",
                                       "member.done polish streamy ok",
                                       "step.done polish"};
  BOOST_TEST(steps == expected, boost::test_tools::per_element());
  BOOST_TEST(has_event(events, "member.delta"));
  BOOST_TEST(events.back().event == "run.done");
  auto got = parse(get("/v1/runs/" + id)->body);
  BOOST_TEST(str(got["status"]) == "ok");
  BOOST_TEST(str(got["result"]["output"]) == "one two three four five six");
  // A missing input is a 400 naming it.
  auto bad = post("/v1/runs", R"({"pipeline":"chain","inputs":{}})");
  BOOST_TEST(bad->status == 400);
  BOOST_TEST(str(parse(bad->body)["error"]["param"]) == "inputs.question");
  BOOST_TEST(get("/v1/runs/run_nope")->status == 404);
}

BOOST_AUTO_TEST_CASE(delete_cancels_a_run_and_closes_its_upstream_call) {
  auto created = post("/v1/runs", R"({"provider":"stuck","prompt":"count"})");
  BOOST_REQUIRE(created);
  auto id = str(parse(created->body)["id"]);
  sse_reader events{endpoint->port(), "GET", "/v1/runs/" + id + "/events"};
  // Both tokens before the stall have arrived.
  BOOST_REQUIRE(events.wait_for([](auto& es) {
    std::string text;
    for (auto& e : es)
      if (e.event == "member.delta")
        text += str(parse(e.data)["text"]);
    return text == "one two ";
  }));
  BOOST_TEST(str(parse(get("/v1/runs/" + id)->body)["status"]) == "running");
  auto deleted = client().Delete(("/v1/runs/" + id).c_str());
  BOOST_REQUIRE(deleted);
  BOOST_TEST(deleted->status == 200);
  BOOST_TEST(str(parse(deleted->body)["status"]) == "cancelled");
  BOOST_REQUIRE(events.wait_end(5s));
  BOOST_TEST(events.events().back().event == "run.done");
  BOOST_TEST(upstream_saw("stuck", {"stalled", "client_gone"}));
  BOOST_TEST(eventually([&] { return in_flight_of("stuck") == 0; }));
}

BOOST_AUTO_TEST_CASE(a_stream_client_that_leaves_cancels_the_upstream_call) {
  raw_connection chat{endpoint->port()};
  chat.send_post("/v1/chat/completions", chat_body("stuck", true));
  // Both tokens before the stall have arrived.
  BOOST_REQUIRE(chat.read_until(R"("content":"two ")", 5s));
  BOOST_TEST(in_flight_of("stuck") == 1);
  chat.close();
  BOOST_TEST(upstream_saw("stuck", {"stalled", "client_gone"}));
  BOOST_TEST(eventually([&] { return in_flight_of("stuck") == 0; }));
}

BOOST_AUTO_TEST_CASE(
    a_client_that_leaves_a_whole_reply_cancels_the_upstream_call) {
  raw_connection chat{endpoint->port()};
  chat.send_post("/v1/chat/completions", chat_body("stuck", false));
  BOOST_REQUIRE(eventually([&] { return in_flight_of("stuck") == 1; }));
  // The upstream has the request in hand: a call cancelled before it was
  // sent would leave no trace there to look for.
  BOOST_REQUIRE(
      eventually([&] { return upstream.open_requests("stuck") == 1; }));
  chat.close();
  BOOST_TEST(upstream_saw("stuck", {"stalled", "client_gone"}));
  BOOST_TEST(eventually([&] { return in_flight_of("stuck") == 0; }));
  // The endpoint still serves.
  BOOST_TEST(post("/v1/chat/completions", chat_body("fast", false))->status ==
             200);
}

BOOST_AUTO_TEST_CASE(sixty_four_streams_progress_at_once) {
  // Each stream takes ~0.4 s upstream (8 tokens at 20/s); one after
  // another they would take 25 s, eight at a time (cpp-httplib's default
  // pool) over 3 s.
  constexpr int streams = 64;
  auto started = std::chrono::steady_clock::now();
  // The threads only fetch: Boost.Test's checks (in read_chat_stream) are
  // not thread-safe, so the bodies are checked here, one after another.
  std::vector<std::future<std::optional<std::string>>> replies;
  for (int i = 0; i < streams; ++i)
    replies.push_back(std::async(std::launch::async, [this] {
      auto res = client().Post("/v1/chat/completions", chat_body("paced", true),
                               "application/json");
      if (!res || res->status != 200)
        return std::optional<std::string>{};
      return std::optional<std::string>{res->body};
    }));
  std::vector<std::optional<std::string>> bodies;
  for (auto& r : replies)
    bodies.push_back(r.get());
  auto took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - started)
                     .count();
  int complete = 0;
  for (auto& body : bodies)
    complete +=
        body && read_chat_stream(*body).content == "a b c d e f g h" ? 1 : 0;
  BOOST_TEST(complete == streams);
  BOOST_TEST(took_ms < 2500);
  auto metrics = get("/metrics")->body;
  BOOST_TEST(contains(metrics, "tutti_http_open_streams 0"));
}

BOOST_AUTO_TEST_CASE(with_a_token_every_route_but_healthz_needs_it) {
  server_options options;
  options.port = 0;
  options.token = "t0ken-for-tests";
  tutti::server guarded{*engine, options};
  guarded.start();
  httplib::Client c{"127.0.0.1", guarded.port()};
  c.set_read_timeout(10s);
  BOOST_TEST(c.Get("/healthz")->status == 200);
  for (auto& path :
       {"/v1/providers", "/v1/ensembles", "/metrics", "/v1/runs/run_x"}) {
    auto res = c.Get(path);
    BOOST_REQUIRE(res);
    BOOST_TEST(res->status == 401, path);
    BOOST_TEST(str(parse(res->body)["error"]["code"]) == "invalid_api_key");
  }
  auto none = c.Post("/v1/chat/completions", chat_body("fast", false),
                     "application/json");
  BOOST_TEST(none->status == 401);
  auto wrong = c.Post("/v1/chat/completions",
                      {{"Authorization", "Bearer t0ken-for-test"}},
                      chat_body("fast", false), "application/json");
  BOOST_TEST(wrong->status == 401);
  BOOST_TEST(!contains(wrong->body, "t0ken-for-tests"));
  auto right = c.Post("/v1/chat/completions",
                      {{"Authorization", "Bearer t0ken-for-tests"}},
                      chat_body("fast", false), "application/json");
  BOOST_TEST(right->status == 200);
  BOOST_TEST(fake_upstream::arrivals_of(upstream, "fast").size() == 1u);
}

BOOST_AUTO_TEST_CASE(the_access_log_has_a_line_per_request_and_no_secrets) {
  auto path = std::filesystem::temp_directory_path() /
              ("tutti-access-" + std::to_string(getpid()) + ".log");
  std::filesystem::remove(path);
  server_options options;
  options.port = 0;
  options.token = "t0ken-never-logged";
  options.access_log = path.string();
  tutti::server logged{*engine, options};
  logged.start();
  httplib::Client c{"127.0.0.1", logged.port()};
  c.set_read_timeout(10s);
  httplib::Headers auth{{"Authorization", "Bearer t0ken-never-logged"}};
  auto whole = chat_body("fast", false);
  BOOST_TEST(c.Get("/healthz")->status == 200);
  BOOST_TEST(
      c.Post("/v1/chat/completions", auth, whole, "application/json")->status ==
      200);
  BOOST_TEST(c.Post("/v1/chat/completions", auth,
                    chat_body("ensemble/duo", true), "application/json")
                 ->status == 200);
  BOOST_TEST(c.Get("/v1/nowhere", auth)->status == 404);
  BOOST_TEST(
      c.Post("/v1/chat/completions", whole, "application/json")->status == 401);

  // A line is written once its answer is, so the last may lag the client.
  std::vector<std::string> lines;
  auto until = std::chrono::steady_clock::now() + 5s;
  while (lines.size() < 5 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(10ms);
    lines.clear();
    std::ifstream in{path};
    for (std::string line; std::getline(in, line);)
      lines.push_back(line);
  }
  BOOST_REQUIRE(lines.size() == 5u);
  // By "METHOD path status"; the whole and the streamed completion share
  // one, and are told apart below.
  std::map<std::string, rapidjson::Document> by_key;
  for (auto& line : lines) {
    BOOST_TEST(!contains(line, "t0ken-never-logged"));
    BOOST_TEST(!contains(line, "Paris"));
    auto doc = parse(line);
    BOOST_TEST(str(doc["remote"]) == "127.0.0.1");
    BOOST_TEST(str(doc["time"]).size() == 24u); // 2026-11-25T12:34:56.789Z
    BOOST_TEST(str(doc["time"]).back() == 'Z');
    BOOST_TEST(doc["ms"].GetDouble() >= 0);
    auto key = str(doc["method"]) + " " + str(doc["path"]) + " " +
               std::to_string(doc["status"].GetInt());
    by_key.emplace(key, std::move(doc));
  }
  auto& health = by_key.at("GET /healthz 200");
  BOOST_TEST(str(health["route"]) == "/healthz");
  BOOST_TEST(!health.HasMember("target"));
  auto& denied = by_key.at("POST /v1/chat/completions 401");
  BOOST_TEST(!denied.HasMember("target")); // refused before it was read
  BOOST_TEST(denied["bytes_in"].GetUint64() == 0u); // its body too
  BOOST_TEST(str(by_key.at("GET /v1/nowhere 404")["route"]) == "unmatched");
  int streams = 0;
  for (auto& line : lines) {
    auto doc = parse(line);
    if (str(doc["path"]) != "/v1/chat/completions" ||
        doc["status"].GetInt() != 200)
      continue;
    if (doc["stream"].GetBool()) {
      ++streams;
      BOOST_TEST(str(doc["target"]) == "ensemble/duo");
      BOOST_TEST(doc["bytes_out"].GetUint64() > 0u); // the events' bytes
    } else {
      BOOST_TEST(str(doc["target"]) == "fast");
      BOOST_TEST(doc["bytes_in"].GetUint64() == whole.size());
      BOOST_TEST(doc["bytes_out"].GetUint64() > 0u);
    }
  }
  BOOST_TEST(streams == 1);
  std::filesystem::remove(path);
}

BOOST_AUTO_TEST_CASE(an_access_log_that_cannot_be_opened_stops_the_start) {
  server_options options;
  options.port = 0;
  options.access_log = "/nonexistent-dir/access.log";
  BOOST_CHECK_EXCEPTION(
      tutti::server(*engine, options), server_error, [](const server_error& e) {
        return contains(e.what(), "cannot open the access log "
                                  "/nonexistent-dir/access.log: No such file");
      });
}

BOOST_AUTO_TEST_CASE(a_public_address_needs_a_token) {
  server_options options;
  options.host = "0.0.0.0";
  options.port = 0;
  BOOST_CHECK_EXCEPTION(tutti::server(*engine, options), server_error,
                        [](const server_error& e) {
                          return contains(e.what(), "not a loopback address");
                        });
  options.token = "t0ken";
  tutti::server open{*engine, options};
  BOOST_TEST(open.port() > 0);
}

BOOST_AUTO_TEST_CASE(a_server_that_never_ran_frees_its_port) {
  server_options options;
  options.port = 0;
  int port = 0;
  {
    tutti::server idle{*engine, options};
    port = idle.port();
  }
  // Nothing listens there any more: the same port binds again.
  options.port = port;
  BOOST_CHECK_NO_THROW(tutti::server(*engine, options));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(tutti_serve_prints_its_port_serves_and_exits_on_sigterm) {
  fake::server upstream{fake::parse_script(upstream_script)};
  upstream.start();
  auto dir = std::filesystem::temp_directory_path() /
             ("tutti-serve-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto config_file = (dir / "tutti.yaml").string();
  std::ofstream{config_file} << config_yaml(upstream.base_url());

  const environment env{{"PATH", "/usr/bin:/bin"}};
  tutti_process serve{
      {"serve", "--config", config_file, "--listen", "127.0.0.1:0"}, env, dir};
  const std::regex listening{
      R"(tutti serve listening on http://127\.0\.0\.1:(\d+)\n)"};
  std::smatch banner;
  BOOST_REQUIRE_MESSAGE(
      serve.pump_until(
          [&] { return std::regex_search(serve.out(), banner, listening); },
          10s),
      serve.out() + serve.err());
  int port = std::stoi(banner[1].str());
  httplib::Client c{"127.0.0.1", port};
  c.set_read_timeout(10s);
  auto res = c.Post("/v1/chat/completions", chat_body("fast", false),
                    "application/json");
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 200);
  // A stream in flight does not hold the exit up.
  raw_connection open_stream{port};
  open_stream.send_post("/v1/chat/completions", chat_body("stuck", true));
  BOOST_REQUIRE(open_stream.read_until(R"("content":"two ")", 5s));
  auto signalled = std::chrono::steady_clock::now();
  serve.signal(SIGTERM);
  auto stopped = serve.wait(5s);
  BOOST_TEST(!stopped.timed_out);
  BOOST_TEST(stopped.exit_code == 0);
  BOOST_TEST(std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - signalled)
                 .count() < 3000);
  BOOST_TEST(!contains(stopped.out + stopped.err, secret_key));

  auto refused = run_tutti(
      {"serve", "--config", config_file, "--listen", "0.0.0.0:0"}, env, dir);
  BOOST_TEST(refused.exit_code == 2);
  BOOST_TEST(contains(refused.out + refused.err, "not a loopback address"));
  std::filesystem::remove_all(dir);
}
