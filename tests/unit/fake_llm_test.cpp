// The fake upstream, spoken to over real HTTP on loopback.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <httplib.h>
#include <rapidjson/document.h>

#include "tools/fake_llm/fake_llm.hpp"

namespace fake = tutti::fake;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

const char* test_script = R"(
models:
  fast:    {reply: "Paris is the capital of France.", tokens_per_second: 500}
  slow:    {reply: "late but right", latency: 300ms}
  broken:  {fail: {status: 503, message: "The server is overloaded"}}
  limited: {fail: {status: 429, retry_after: 2}}
  flaky:   {reply: "third time lucky", fail: {status: 500, times: 2}}
  stuck:   {reply: "one two three four", stall_after_tokens: 2}
  cut:     {reply: "one two three four", truncate_after_tokens: 2}
  garbled: {reply: "one two", malformed: true}
  echo:    {}
)";

/// A started server on a free loopback port, stopped at scope exit.
struct fixture {
  explicit fixture(const std::string& yaml = test_script,
                   std::string log_path = "")
      : srv(fake::parse_script(yaml), std::move(log_path)) {
    port = srv.start();
  }

  httplib::Client client(int read_timeout_s = 10) const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(read_timeout_s, 0);
    c.set_tcp_nodelay(true);
    return c;
  }

  fake::server srv;
  int port = 0;
};

std::string request_body(const std::string& model, bool stream,
                         bool include_usage = false,
                         const std::string& extra = "") {
  std::string body = R"({"model":")" + model +
                     R"(","messages":[{"role":"system","content":"be brief"},)"
                     R"({"role":"user","content":"what is the capital"}])";
  if (stream) {
    body += R"(,"stream":true)";
  }
  if (include_usage) {
    body += R"(,"stream_options":{"include_usage":true})";
  }
  return body + extra + "}";
}

httplib::Result post(httplib::Client& c, const std::string& body) {
  return c.Post("/v1/chat/completions", body, "application/json");
}

rapidjson::Document parse_json(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  BOOST_REQUIRE_MESSAGE(!doc.HasParseError(), "not JSON: " + text);
  return doc;
}

/// The payloads of the `data:` events of an SSE body, in order.
std::vector<std::string> sse_data(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < body.size()) {
    auto end = body.find("\n\n", pos);
    BOOST_REQUIRE_MESSAGE(end != std::string::npos,
                          "unterminated event: " + body.substr(pos));
    auto event = body.substr(pos, end - pos);
    BOOST_REQUIRE_EQUAL(event.rfind("data: ", 0), 0u);
    out.push_back(event.substr(6));
    pos = end + 2;
  }
  return out;
}

std::string concatenated_content(const std::vector<std::string>& events) {
  std::string text;
  for (const auto& data : events) {
    if (data == "[DONE]") {
      continue;
    }
    auto chunk = parse_json(data);
    for (const auto& choice : chunk["choices"].GetArray()) {
      const auto& delta = choice["delta"];
      if (delta.HasMember("content")) {
        text += delta["content"].GetString();
      }
    }
  }
  return text;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          (name + "-" + std::to_string(::getpid()) + ".jsonl"))
      .string();
}

int64_t ms_since(steady_clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(steady_clock::now() - start)
      .count();
}

} // namespace

BOOST_AUTO_TEST_CASE(whole_reply_has_openai_shape_and_usage) {
  fixture f;
  auto c = f.client();
  auto res = post(c, request_body("fast", false));
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 200);
  BOOST_TEST(res->get_header_value("Content-Type") == "application/json");
  auto doc = parse_json(res->body);
  BOOST_TEST(std::string(doc["id"].GetString()).rfind("chatcmpl-", 0) == 0u);
  BOOST_TEST(doc["object"].GetString() == std::string("chat.completion"));
  BOOST_TEST(doc["model"].GetString() == std::string("fast"));
  BOOST_TEST(doc["created"].IsInt64());
  const auto& choice = doc["choices"][0];
  BOOST_TEST(choice["index"].GetInt() == 0);
  BOOST_TEST(choice["message"]["role"].GetString() == std::string("assistant"));
  BOOST_TEST(choice["message"]["content"].GetString() ==
             std::string("Paris is the capital of France."));
  BOOST_TEST(choice["finish_reason"].GetString() == std::string("stop"));
  BOOST_TEST(choice["logprobs"].IsNull());
  // Tokens are whitespace-separated words: "be brief what is the capital".
  BOOST_TEST(doc["usage"]["prompt_tokens"].GetInt() == 6);
  BOOST_TEST(doc["usage"]["completion_tokens"].GetInt() == 6);
  BOOST_TEST(doc["usage"]["total_tokens"].GetInt() == 12);
}

BOOST_AUTO_TEST_CASE(max_tokens_cuts_the_reply_with_finish_reason_length) {
  fixture f;
  auto c = f.client();
  auto res = post(c, request_body("fast", false, false, R"(,"max_tokens":2)"));
  BOOST_REQUIRE(res);
  auto doc = parse_json(res->body);
  const auto& choice = doc["choices"][0];
  BOOST_TEST(choice["message"]["content"].GetString() ==
             std::string("Paris is"));
  BOOST_TEST(choice["finish_reason"].GetString() == std::string("length"));
  BOOST_TEST(doc["usage"]["completion_tokens"].GetInt() == 2);
}

BOOST_AUTO_TEST_CASE(empty_reply_echoes_the_last_user_message) {
  fixture f;
  auto c = f.client();
  auto res = post(c, request_body("echo", false));
  BOOST_REQUIRE(res);
  auto doc = parse_json(res->body);
  BOOST_TEST(doc["choices"][0]["message"]["content"].GetString() ==
             std::string("echo: what is the capital"));
}

BOOST_AUTO_TEST_CASE(streamed_deltas_concatenate_to_the_reply_and_end_done) {
  fixture f;
  auto c = f.client();
  auto res = post(c, request_body("fast", true));
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 200);
  BOOST_TEST(res->get_header_value("Content-Type") == "text/event-stream");
  auto events = sse_data(res->body);
  BOOST_REQUIRE(events.size() >= 3u);
  BOOST_TEST(events.back() == "[DONE]");
  auto first = parse_json(events.front());
  BOOST_TEST(first["object"].GetString() ==
             std::string("chat.completion.chunk"));
  BOOST_TEST(first["choices"][0]["delta"]["role"].GetString() ==
             std::string("assistant"));
  BOOST_TEST(concatenated_content(events) == "Paris is the capital of France.");
  // One chunk per token: role, 6 words, finish, [DONE].
  BOOST_TEST(events.size() == 9u);
  auto last = parse_json(events[events.size() - 2]);
  BOOST_TEST(last["choices"][0]["finish_reason"].GetString() ==
             std::string("stop"));
  BOOST_TEST(last["choices"][0]["delta"].ObjectEmpty());
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    BOOST_TEST(!parse_json(events[i]).HasMember("usage"));
  }
}

BOOST_AUTO_TEST_CASE(usage_chunk_comes_only_when_include_usage_is_asked) {
  fixture f;
  auto c = f.client();
  auto res = post(c, request_body("fast", true, true));
  BOOST_REQUIRE(res);
  auto events = sse_data(res->body);
  BOOST_REQUIRE(events.size() == 10u);
  BOOST_TEST(events.back() == "[DONE]");
  auto usage = parse_json(events[events.size() - 2]);
  BOOST_TEST(usage["choices"].Empty());
  BOOST_TEST(usage["usage"]["prompt_tokens"].GetInt() == 6);
  BOOST_TEST(usage["usage"]["completion_tokens"].GetInt() == 6);
  BOOST_TEST(usage["usage"]["total_tokens"].GetInt() == 12);
  // Every other chunk says "usage": null.
  BOOST_TEST(parse_json(events.front())["usage"].IsNull());
}

BOOST_AUTO_TEST_CASE(scripted_failure_answers_with_an_openai_error_body) {
  fixture f;
  auto c = f.client();
  auto res = post(c, request_body("broken", true));
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 503);
  auto doc = parse_json(res->body);
  BOOST_TEST(doc["error"]["message"].GetString() ==
             std::string("The server is overloaded"));
  BOOST_TEST(doc["error"]["type"].GetString() == std::string("server_error"));
  BOOST_TEST(doc["error"]["param"].IsNull());
  BOOST_TEST(!res->has_header("Retry-After"));
}

BOOST_AUTO_TEST_CASE(rate_limited_reply_carries_retry_after) {
  fixture f;
  auto c = f.client();
  auto res = post(c, request_body("limited", false));
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 429);
  BOOST_TEST(res->get_header_value("Retry-After") == "2");
  auto doc = parse_json(res->body);
  BOOST_TEST(doc["error"]["code"].GetString() ==
             std::string("rate_limit_exceeded"));
}

BOOST_AUTO_TEST_CASE(fail_times_fails_the_first_requests_then_succeeds) {
  fixture f;
  auto c = f.client();
  BOOST_TEST(post(c, request_body("flaky", false))->status == 500);
  BOOST_TEST(post(c, request_body("flaky", false))->status == 500);
  auto res = post(c, request_body("flaky", false));
  BOOST_TEST(res->status == 200);
  BOOST_TEST(
      parse_json(res->body)["choices"][0]["message"]["content"].GetString() ==
      std::string("third time lucky"));
}

BOOST_AUTO_TEST_CASE(bad_requests_and_unknown_models_get_openai_errors) {
  fixture f;
  auto c = f.client();
  auto bad_json = post(c, "{not json");
  BOOST_TEST(bad_json->status == 400);
  BOOST_TEST(parse_json(bad_json->body)["error"]["type"].GetString() ==
             std::string("invalid_request_error"));
  auto no_messages = post(c, R"({"model":"fast"})");
  BOOST_TEST(no_messages->status == 400);
  BOOST_TEST(parse_json(no_messages->body)["error"]["param"].GetString() ==
             std::string("messages"));
  BOOST_TEST(
      post(c, R"({"messages":[{"role":"user","content":"x"}]})")->status ==
      400);
  auto unknown = post(c, request_body("nope", false));
  BOOST_TEST(unknown->status == 404);
  BOOST_TEST(parse_json(unknown->body)["error"]["code"].GetString() ==
             std::string("model_not_found"));
  // The path without /v1 works too.
  BOOST_TEST(c.Post("/chat/completions", request_body("fast", false),
                    "application/json")
                 ->status == 200);
  BOOST_TEST(c.Get("/healthz")->body == "ok");
}

BOOST_AUTO_TEST_CASE(scripted_latency_delays_the_reply) {
  fixture f;
  auto c = f.client();
  auto start = steady_clock::now();
  BOOST_TEST(post(c, request_body("slow", false))->status == 200);
  BOOST_TEST(ms_since(start) >= 300);
  start = steady_clock::now();
  BOOST_TEST(post(c, request_body("slow", true))->status == 200);
  BOOST_TEST(ms_since(start) >= 300);
}

BOOST_AUTO_TEST_CASE(tokens_per_second_paces_whole_and_streamed_replies) {
  fixture f("models: {paced: {reply: 'a b c d e f g h i j', "
            "tokens_per_second: 50}}");
  auto c = f.client();
  auto start = steady_clock::now();
  BOOST_TEST(post(c, request_body("paced", false))->status == 200);
  BOOST_TEST(ms_since(start) >= 200); // 10 tokens at 50/s
  start = steady_clock::now();
  BOOST_TEST(post(c, request_body("paced", true))->status == 200);
  BOOST_TEST(ms_since(start) >= 200);
}

BOOST_AUTO_TEST_CASE(stalled_stream_lets_the_client_give_up_and_stop_is_fast) {
  fixture f;
  // This client gives up after 1 s of silence.
  auto c = f.client(1);
  auto start = steady_clock::now();
  auto res = post(c, request_body("stuck", true));
  BOOST_TEST(!res);
  BOOST_TEST(ms_since(start) >= 1000);

  // Another stalled request is still open, and a stalled whole one too, when
  // the server stops.
  std::thread patient_stream([&] {
    auto p = f.client(30);
    post(p, request_body("stuck", true));
  });
  std::thread patient_whole([&] {
    auto p = f.client(30);
    post(p, request_body("stuck", false));
  });
  std::this_thread::sleep_for(milliseconds(300));
  start = steady_clock::now();
  f.srv.stop();
  BOOST_TEST(ms_since(start) < 5000); // the stall itself would last 60 s
  patient_stream.join();
  patient_whole.join();

  auto log = f.srv.arrivals();
  BOOST_REQUIRE(log.size() == 3u);
  BOOST_TEST(log[0].outcome == "stalled");
  BOOST_TEST(log[1].outcome == "stopped");
  BOOST_TEST(log[2].outcome == "stopped");
}

BOOST_AUTO_TEST_CASE(truncated_stream_closes_without_done) {
  fixture f;
  auto c = f.client();
  std::string received;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.body = request_body("cut", true);
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    received.append(data, n);
    return true;
  };
  auto res = c.send(req);
  BOOST_TEST(!res); // the chunked body never ends properly
  BOOST_TEST(received.find("\"content\":\"one \"") != std::string::npos);
  BOOST_TEST(received.find("\"content\":\"two \"") != std::string::npos);
  BOOST_TEST(received.find("three") == std::string::npos);
  BOOST_TEST(received.find("[DONE]") == std::string::npos);
  f.srv.stop();
  BOOST_REQUIRE(f.srv.arrivals().size() == 1u);
  BOOST_TEST(f.srv.arrivals()[0].outcome == "truncated");
}

BOOST_AUTO_TEST_CASE(malformed_stream_carries_a_line_that_is_not_json) {
  fixture f;
  auto c = f.client();
  auto res = post(c, request_body("garbled", true));
  BOOST_REQUIRE(res);
  auto events = sse_data(res->body);
  rapidjson::Document doc;
  doc.Parse(events[1].c_str());
  BOOST_TEST(doc.HasParseError());
  BOOST_TEST(events.back() == "[DONE]");
}

BOOST_AUTO_TEST_CASE(every_request_is_logged_in_memory_and_to_the_file) {
  const auto path = temp_path("fake_llm_test_log");
  std::filesystem::remove(path);
  {
    fixture f(test_script, path);
    auto c = f.client();
    post(c, request_body("fast", false));
    post(c, request_body("fast", true));
    post(c, request_body("limited", false));
    post(c, request_body("broken", false));
    post(c, request_body("nope", false));
    post(c, "{bad");
    f.srv.stop();

    auto log = f.srv.arrivals();
    BOOST_REQUIRE(log.size() == 6u);
    const std::vector<std::string> outcomes = {
        "ok", "ok", "rate_limited", "failed", "not_found", "bad_request"};
    const std::vector<int> statuses = {200, 200, 429, 503, 404, 400};
    for (size_t i = 0; i < log.size(); ++i) {
      BOOST_TEST(log[i].outcome == outcomes[i]);
      BOOST_TEST(log[i].status == statuses[i]);
      BOOST_TEST(log[i].path == "/v1/chat/completions");
      BOOST_TEST(log[i].finished_steady_us >= log[i].steady_us);
      BOOST_TEST(log[i].unix_us > 0);
    }
    BOOST_TEST(log[0].model == "fast");
    BOOST_TEST(!log[0].stream);
    BOOST_TEST(log[1].stream);

    std::ifstream in(path);
    std::string line;
    size_t i = 0;
    while (std::getline(in, line)) {
      BOOST_REQUIRE(i < log.size());
      auto doc = parse_json(line);
      BOOST_TEST(doc["outcome"].GetString() == log[i].outcome);
      BOOST_TEST(doc["status"].GetInt() == log[i].status);
      BOOST_TEST(doc["model"].GetString() == log[i].model);
      BOOST_TEST(doc["stream"].GetBool() == log[i].stream);
      BOOST_TEST(doc["arrival_steady_us"].GetInt64() == log[i].steady_us);
      BOOST_TEST(doc["arrival_unix_us"].GetInt64() == log[i].unix_us);
      BOOST_TEST(doc["finished_steady_us"].GetInt64() ==
                 log[i].finished_steady_us);
      ++i;
    }
    BOOST_TEST(i == log.size());
  }
  std::filesystem::remove(path);
}

BOOST_AUTO_TEST_CASE(many_concurrent_streams_all_complete) {
  fixture f("default: {reply: 'a b c d e', latency: 100ms, "
            "tokens_per_second: 50}");
  std::vector<std::thread> clients;
  std::vector<std::string> contents(32);
  for (size_t i = 0; i < contents.size(); ++i) {
    clients.emplace_back([&, i] {
      auto c = f.client();
      auto res = post(c, request_body("any" + std::to_string(i), true));
      if (res && res->status == 200) {
        contents[i] = concatenated_content(sse_data(res->body));
      }
    });
  }
  for (auto& t : clients) {
    t.join();
  }
  for (const auto& content : contents) {
    BOOST_TEST(content == "a b c d e");
  }
}

BOOST_AUTO_TEST_CASE(split_tokens_reproduces_the_text_exactly) {
  for (std::string text :
       {"Paris is  the capital.\n", "  leading", "one", "", "   "}) {
    std::string joined;
    for (const auto& t : fake::split_tokens(text)) {
      joined += t;
    }
    BOOST_TEST(joined == text);
  }
  BOOST_TEST(fake::split_tokens("a  b c").size() == 3u);
  BOOST_TEST(fake::count_tokens(" a  b\tc\n") == 3);
}

BOOST_AUTO_TEST_CASE(script_keys_and_durations_are_read) {
  auto s = fake::parse_script(R"(
models:
  a: {reply: hi, latency: 1.5s, tokens_per_second: 20}
  b: {latency: 250ms, fail: {status: 429, retry_after: 3, message: slow down}}
  c: {latency: 40, stall_after_tokens: 1, truncate_after_tokens: 2}
  d: {fail: 401, finish_reason: content_filter}
default: {latency: 0ms}
)");
  BOOST_REQUIRE(s.models.size() == 4u);
  BOOST_TEST(s.models["a"].reply == "hi");
  BOOST_TEST(s.models["a"].latency_ms == 1500);
  BOOST_TEST(s.models["a"].tokens_per_second == 20.0);
  BOOST_TEST(s.models["b"].latency_ms == 250);
  BOOST_TEST(s.models["b"].fail_status == 429);
  BOOST_TEST(s.models["b"].retry_after_s == 3);
  BOOST_TEST(s.models["b"].fail_message == "slow down");
  BOOST_TEST(s.models["c"].latency_ms == 40);
  BOOST_TEST(s.models["c"].stall_after_tokens == 1);
  BOOST_TEST(s.models["c"].truncate_after_tokens == 2);
  BOOST_TEST(s.models["d"].fail_status == 401);
  BOOST_TEST(s.models["d"].finish_reason == "content_filter");
  BOOST_TEST(s.fallback.has_value());
  BOOST_TEST(!fake::parse_script("models: {x: {}}").fallback.has_value());
}

BOOST_AUTO_TEST_CASE(bad_script_names_the_line_and_column) {
  auto message_of = [](const std::string& yaml) {
    try {
      fake::parse_script(yaml);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  auto unknown = message_of("models:\n  a: {reply: x}\n  b: {replly: y}\n");
  BOOST_TEST(unknown.find("<script>:3:7") != std::string::npos, unknown);
  BOOST_TEST(unknown.find("replly") != std::string::npos, unknown);
  auto duration = message_of("models:\n  a: {latency: soon}\n");
  BOOST_TEST(duration.find(":2:16") != std::string::npos, duration);
  BOOST_TEST(duration.find("latency") != std::string::npos, duration);
  auto top = message_of("modles: {}\n");
  BOOST_TEST(top.find(":1:1") != std::string::npos, top);
  auto syntax = message_of("models: {a: [\n");
  BOOST_TEST(syntax.find("<script>:") != std::string::npos, syntax);

  const auto path = temp_path("fake_llm_bad_script");
  {
    std::ofstream out(path);
    out << "models:\n  a:\n    fail: {status: 200}\n";
  }
  try {
    fake::load_script(path);
    BOOST_FAIL("expected an error");
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    BOOST_TEST(what.find(path + ":3:") != std::string::npos, what);
  }
  std::filesystem::remove(path);
}

BOOST_AUTO_TEST_CASE(example_script_loads) {
  auto s = fake::load_script(std::string(TUTTI_SOURCE_DIR) +
                             "/configs/fake_llm.yaml");
  BOOST_TEST(!s.models.empty());
}
