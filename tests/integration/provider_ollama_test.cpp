// The ollama kind end to end: the engine against the fake upstream speaking
// Ollama's native /api/chat (whole replies and NDJSON streams) through its
// faults, and against a bare recording server for what goes over the wire.

#include <boost/test/unit_test.hpp>

#include <httplib.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <rapidjson/document.h>

#include "tests/integration/fake_upstream_fixture.hpp"
#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/config.hpp"
#include "tutti/engine.hpp"

using namespace tutti;

namespace {

const char* upstream_script = R"(
models:
  llama3.2:  {reply: "Paris is the capital of France."}
  long:      {reply: "one two three four five six seven eight"}
  cut:       {reply: "one two three four five", truncate_after_tokens: 2}
  garbled:   {reply: "Paris.", malformed: true}
  midfail:   {reply: "one two three four", error_event_after_tokens: 2}
  busy:      {reply: "back again", fail: {status: 503, times: 1}}
  limited:   {reply: "after the pause", fail: {status: 429, retry_after_ms: 200, times: 1}}
  broken:    {fail: {status: 500, message: "model runner has unexpectedly stopped"}}
)";

struct ollama_fixture {
  fake::server upstream{fake::parse_script(upstream_script)};

  ollama_fixture() { upstream.start(); }

  /// One ollama provider `p` on `model`, alone in ensemble `e`; `fields`
  /// adds keys to the provider (", keep_alive: 5m").
  config make_config(const std::string& model, const std::string& fields = "",
                     const std::string& base_url = "") {
    auto url = base_url.empty()
                   ? fake_upstream::base_url_for(upstream, "ollama")
                   : base_url;
    std::string yaml =
        "providers:\n  p: {kind: ollama, model: " + model + ", base_url: \"" +
        url + "\"" + fields +
        ", retry: {attempts: 3, backoff: 20ms, max_backoff: 100ms}}\n" +
        "ensembles:\n  e: {members: [p], deadline: 10s}\n";
    return parse_config(yaml, "ollama.yaml");
  }

  std::string streamed; ///< what the last streaming ask showed its caller

  member_outcome ask(config cfg, bool stream) {
    engine eng{std::move(cfg)};
    ask_options options;
    options.stream = stream;
    streamed.clear();
    if (stream)
      options.on_delta = [this](const member_delta& d) { streamed += d.text; };
    auto answer = eng.ask("e", "hello", options).get();
    BOOST_REQUIRE(answer.members.size() == 1u);
    return answer.members[0];
  }

  member_outcome ask(const std::string& model, bool stream,
                     const std::string& fields = "") {
    return ask(make_config(model, fields), stream);
  }

  std::vector<fake::arrival> arrivals_of(const std::string& model) {
    return fake_upstream::arrivals_of(upstream, model);
  }
};

/// A bare HTTP server on /api/chat that keeps every request body and
/// answers one whole Ollama reply.
struct recording_server {
  httplib::Server http;
  std::thread thread;
  int port = 0;
  std::mutex mtx;
  std::vector<std::string> bodies;
  std::vector<std::string> authorization;

  recording_server() {
    http.Post("/api/chat", [this](const httplib::Request& req,
                                  httplib::Response& res) {
      {
        std::lock_guard<std::mutex> lock{mtx};
        bodies.push_back(req.body);
        authorization.push_back(req.get_header_value("Authorization"));
      }
      res.set_content(
          R"({"model":"llama3.2","created_at":"2025-06-11T09:14:27.318524Z",)"
          R"("message":{"role":"assistant","content":"Paris."},)"
          R"("done_reason":"stop","done":true,"prompt_eval_count":12,)"
          R"("eval_count":2})",
          "application/json");
    });
    port = http.bind_to_any_port("127.0.0.1");
    thread = std::thread{[this] { http.listen_after_bind(); }};
    while (!http.is_running())
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }

  ~recording_server() {
    http.stop();
    thread.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(provider_ollama_tests, ollama_fixture)

BOOST_AUTO_TEST_CASE(answers_whole_and_streamed_with_usage) {
  for (bool stream : {false, true}) {
    BOOST_TEST_CONTEXT("stream " << stream) {
      auto outcome = ask("llama3.2", stream);
      BOOST_REQUIRE(outcome.ok);
      BOOST_TEST(outcome.reply.text == "Paris is the capital of France.");
      BOOST_TEST(outcome.reply.finish_reason == "stop");
      BOOST_TEST(outcome.reply.attempts == 1);
      if (stream)
        BOOST_TEST(streamed == outcome.reply.text);
      auto seen = arrivals_of("llama3.2");
      BOOST_REQUIRE(!seen.empty());
      auto& last = seen.back();
      BOOST_TEST(last.format == "ollama");
      BOOST_TEST(last.path == "/api/chat");
      BOOST_TEST(last.stream == stream);
      BOOST_TEST(!last.api_key);
      BOOST_TEST(last.outcome == "ok");
      BOOST_TEST(last.input_tokens > 0);
      BOOST_TEST(last.output_tokens > 0);
      BOOST_TEST(outcome.reply.usage.input_tokens == last.input_tokens);
      BOOST_TEST(outcome.reply.usage.output_tokens == last.output_tokens);
    }
  }
}

BOOST_AUTO_TEST_CASE(max_tokens_and_seed_reach_the_fake_as_options) {
  for (bool stream : {false, true}) {
    BOOST_TEST_CONTEXT("stream " << stream) {
      auto outcome = ask("long", stream,
                         ", max_tokens: 3, seed: 7, keep_alive: 10m, "
                         "num_ctx: 4096");
      BOOST_REQUIRE(outcome.ok);
      BOOST_TEST(outcome.reply.text == "one two three");
      BOOST_TEST(outcome.reply.finish_reason == "length");
      BOOST_TEST(outcome.reply.usage.output_tokens == 3);
      auto seen = arrivals_of("long");
      BOOST_REQUIRE(!seen.empty());
      BOOST_TEST(seen.back().seed == 7);
      BOOST_TEST(seen.back().status == 200);
    }
  }
}

BOOST_AUTO_TEST_CASE(keep_alive_and_options_go_over_the_wire) {
  recording_server recorder;
  auto outcome = ask(make_config("llama3.2",
                                 ", api_key: proxy-key, keep_alive: 10m, "
                                 "num_ctx: 8192, temperature: 0.25, "
                                 "max_tokens: 64, seed: 11, stop: [\"END\"]",
                                 recorder.url()),
                     false);
  BOOST_REQUIRE(outcome.ok);
  BOOST_TEST(outcome.reply.text == "Paris.");
  BOOST_TEST(outcome.reply.usage.input_tokens == 12);
  auto pinned =
      ask(make_config("llama3.2", ", keep_alive: -1", recorder.url()), true);
  // The recorder answers whole even to a stream request: a body of one
  // done line is a one-line NDJSON stream.
  BOOST_REQUIRE(pinned.ok);
  std::lock_guard<std::mutex> lock{recorder.mtx};
  BOOST_REQUIRE(recorder.bodies.size() == 2u);
  rapidjson::Document doc;
  doc.Parse(recorder.bodies[0].c_str());
  BOOST_REQUIRE(!doc.HasParseError());
  BOOST_TEST(std::string{doc["model"].GetString()} == "llama3.2");
  BOOST_TEST(doc["stream"].IsFalse());
  BOOST_TEST(std::string{doc["keep_alive"].GetString()} == "10m");
  BOOST_REQUIRE(doc["options"].IsObject());
  BOOST_TEST(doc["options"]["num_ctx"].GetInt() == 8192);
  BOOST_TEST(doc["options"]["temperature"].GetDouble() == 0.25);
  BOOST_TEST(doc["options"]["num_predict"].GetInt() == 64);
  BOOST_TEST(doc["options"]["seed"].GetInt() == 11);
  BOOST_TEST(std::string{doc["options"]["stop"][0].GetString()} == "END");
  BOOST_TEST(recorder.authorization[0] == "Bearer proxy-key");
  rapidjson::Document second;
  second.Parse(recorder.bodies[1].c_str());
  BOOST_REQUIRE(!second.HasParseError());
  BOOST_TEST(second["stream"].IsTrue());
  BOOST_TEST(second["keep_alive"].GetInt() == -1);
  BOOST_TEST(!second.HasMember("options"));
  BOOST_TEST(recorder.authorization[1].empty());
}

BOOST_AUTO_TEST_CASE(a_truncated_stream_is_a_failure_not_a_success) {
  auto outcome = ask("cut", true);
  BOOST_TEST(!outcome.ok);
  BOOST_TEST(outcome.error.kind == failure_kind::network);
  BOOST_TEST(outcome.error.partial_text == "one two ");
  BOOST_TEST(outcome.error.attempts == 1);
  BOOST_TEST(streamed == "one two ");
  auto seen = arrivals_of("cut");
  BOOST_REQUIRE(seen.size() == 1u);
  BOOST_TEST(seen[0].outcome == "truncated");
}

BOOST_AUTO_TEST_CASE(a_malformed_line_or_body_is_a_protocol_failure) {
  for (bool stream : {false, true}) {
    BOOST_TEST_CONTEXT("stream " << stream) {
      auto outcome = ask("garbled", stream);
      BOOST_TEST(!outcome.ok);
      BOOST_TEST(outcome.error.kind == failure_kind::protocol);
      BOOST_TEST(outcome.error.http_status == 200);
    }
  }
}

BOOST_AUTO_TEST_CASE(an_error_line_mid_stream_fails_keeping_the_text) {
  auto outcome = ask("midfail", true);
  BOOST_TEST(!outcome.ok);
  BOOST_TEST(outcome.error.kind == failure_kind::server);
  BOOST_TEST(outcome.error.partial_text == "one two ");
  BOOST_TEST(outcome.error.attempts == 1);
  BOOST_TEST(outcome.error.message.find("inside the stream") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_model_not_pulled_is_a_bad_request_not_retried) {
  for (bool stream : {false, true}) {
    BOOST_TEST_CONTEXT("stream " << stream) {
      auto outcome = ask("mistral-nemo", stream);
      BOOST_TEST(!outcome.ok);
      BOOST_TEST(outcome.error.kind == failure_kind::bad_request);
      BOOST_TEST(outcome.error.http_status == 404);
      BOOST_TEST(outcome.error.attempts == 1);
      BOOST_TEST(outcome.error.message ==
                 "model \"mistral-nemo\" not found, try pulling it first");
    }
  }
  BOOST_TEST(arrivals_of("mistral-nemo").size() == 2u);
}

BOOST_AUTO_TEST_CASE(busy_and_rate_limited_are_retried_then_succeed) {
  auto busy = ask("busy", true);
  BOOST_REQUIRE(busy.ok);
  BOOST_TEST(busy.reply.text == "back again");
  BOOST_TEST(busy.reply.attempts == 2);
  auto seen = arrivals_of("busy");
  BOOST_REQUIRE(seen.size() == 2u);
  BOOST_TEST(seen[0].status == 503);

  auto limited = ask("limited", false);
  BOOST_REQUIRE(limited.ok);
  BOOST_TEST(limited.reply.text == "after the pause");
  BOOST_TEST(limited.reply.attempts == 2);
  auto waited = arrivals_of("limited");
  BOOST_REQUIRE(waited.size() == 2u);
  BOOST_TEST(waited[0].status == 429);
  BOOST_TEST(waited[1].steady_us - waited[0].steady_us >= 200'000);
}

BOOST_AUTO_TEST_CASE(a_server_error_keeps_ollamas_words) {
  auto outcome = ask("broken", false);
  BOOST_TEST(!outcome.ok);
  BOOST_TEST(outcome.error.kind == failure_kind::server);
  BOOST_TEST(outcome.error.http_status == 500);
  BOOST_TEST(outcome.error.message.find(
                 "model runner has unexpectedly stopped") != std::string::npos);
  BOOST_TEST(outcome.error.attempts == 3);
}

BOOST_AUTO_TEST_SUITE_END()
