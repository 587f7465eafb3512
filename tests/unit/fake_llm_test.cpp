// The fake upstream, spoken to over real HTTP on loopback.

#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
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
      BOOST_TEST(doc["format"].GetString() == std::string("openai"));
      BOOST_TEST(doc["api_key"].IsBool());
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
        contents[i] = res->body;
      }
    });
  }
  for (auto& t : clients) {
    t.join();
  }
  // Boost.Test assertions are not thread-safe: parse here, not in the threads.
  for (const auto& body : contents) {
    BOOST_REQUIRE(!body.empty());
    BOOST_TEST(concatenated_content(sse_data(body)) == "a b c d e");
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

// --- Anthropic, Gemini and the fault menu -----------------------------------

namespace {

// Non-ASCII on purpose: split_chunks must cut inside these characters.
const char* formats_script = R"(
models:
  fast:     {reply: "Paris is the capital of France."}
  intl:     {reply: "Grüße aus Köln — 東京 ✓ naïve café"}
  overload: {fail: 529}
  limited:  {fail: {status: 429, retry_after: 2, retry_after_ms: 1500}}
  denied:   {fail: 403}
  down:     {fail: {status: 503, times: 1}, reply: "back again"}
  blocked:  {safety_block: true}
  garbled:  {reply: "one two", malformed: true}
  split:    {reply: "Grüße aus Köln — 東京 ✓ naïve café", split_chunks: true}
  crlf:     {reply: "one two three", crlf: true, ping_comments: true}
  lf:       {reply: "one two three", crlf: false}
  noterm:   {reply: "one two three", end_without_terminator: true}
  cut:      {reply: "one two three", truncate_after_tokens: 1}
  errored:  {reply: "one two three four", error_event_after_tokens: 2}
  limited_mid: {reply: "one two three", error_event_after_tokens: 1,
                error_event_status: 429, error_event_message: "slow down"}
  drip:     {reply: "a b c", drip_ms: 40}
  reset:    {reply: "one two three four", reset_after_tokens: 2}
)";

/// One server-sent event: its `event:` name ("" when none) and its data.
struct sse_event {
  std::string name;
  std::string data;
};

/// Parses an SSE body the EventSource way (LF, CRLF or CR line ends; comment
/// lines skipped and counted). Events need their closing blank line.
std::vector<sse_event> parse_sse(const std::string& body,
                                 int* comments = nullptr) {
  std::vector<sse_event> out;
  sse_event current;
  bool has_data = false;
  size_t pos = 0;
  while (pos < body.size()) {
    auto end = body.find_first_of("\r\n", pos);
    BOOST_REQUIRE_MESSAGE(end != std::string::npos,
                          "unterminated line: " + body.substr(pos));
    auto line = body.substr(pos, end - pos);
    pos = end + (body.compare(end, 2, "\r\n") == 0 ? 2 : 1);
    if (line.empty()) {
      if (has_data) {
        out.push_back(current);
      }
      current = {};
      has_data = false;
    } else if (line[0] == ':') {
      if (comments != nullptr) {
        ++*comments;
      }
    } else if (line.rfind("event: ", 0) == 0) {
      current.name = line.substr(7);
    } else if (line.rfind("data: ", 0) == 0) {
      current.data += (has_data ? "\n" : "") + line.substr(6);
      has_data = true;
    } else {
      BOOST_FAIL("unexpected SSE line: " + line);
    }
  }
  BOOST_TEST(!has_data, "an event lacks its closing blank line");
  return out;
}

const char* anthropic_request =
    R"({"model":"%s","max_tokens":%d,"system":"be brief",)"
    R"("messages":[{"role":"user","content":"what is the capital"}]%s})";

std::string anthropic_body(const std::string& model, bool stream,
                           int max_tokens = 100) {
  std::string body = anthropic_request;
  body.replace(body.find("%s"), 2, model);
  body.replace(body.find("%d"), 2, std::to_string(max_tokens));
  body.replace(body.find("%s"), 2, stream ? R"(,"stream":true)" : "");
  return body;
}

httplib::Result post_anthropic(httplib::Client& c, const std::string& body) {
  httplib::Headers headers = {{"x-api-key", "test-key"},
                              {"anthropic-version", "2023-06-01"}};
  return c.Post("/v1/messages", headers, body, "application/json");
}

std::string gemini_body(int max_tokens = 0) {
  std::string body =
      R"({"systemInstruction":{"parts":[{"text":"be brief"}]},)"
      R"("contents":[{"role":"user","parts":[{"text":"what is the capital"}]}])";
  if (max_tokens > 0) {
    body += R"(,"generationConfig":{"maxOutputTokens":)" +
            std::to_string(max_tokens) + "}";
  }
  return body + "}";
}

std::string gemini_path(const std::string& model, bool stream) {
  return "/v1beta/models/" + model +
         (stream ? ":streamGenerateContent?alt=sse" : ":generateContent");
}

httplib::Result post_gemini(httplib::Client& c, const std::string& model,
                            bool stream, const std::string& body) {
  httplib::Headers headers = {{"x-goog-api-key", "test-key"}};
  return c.Post(gemini_path(model, stream).c_str(), headers, body,
                "application/json");
}

/// Sends a request and keeps every piece of the body as the client read it.
struct pieces_result {
  bool ok = false;
  int status = 0;
  std::vector<std::string> pieces;
  std::string body() const {
    std::string all;
    for (const auto& p : pieces) {
      all += p;
    }
    return all;
  }
};

pieces_result post_pieces(httplib::Client& c, const std::string& path,
                          const std::string& body) {
  pieces_result out;
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body;
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    out.pieces.emplace_back(data, n);
    return true;
  };
  auto res = c.send(req);
  out.ok = static_cast<bool>(res);
  out.status = res ? res->status : 0;
  return out;
}

bool is_continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

/// How many boundaries between pieces fall inside a UTF-8 character.
int splits_inside_characters(const std::vector<std::string>& pieces) {
  int n = 0;
  for (size_t i = 1; i < pieces.size(); ++i) {
    if (!pieces[i].empty() && is_continuation(pieces[i][0])) {
      ++n;
    }
  }
  return n;
}

/// What a raw TCP client saw: every byte, and how the connection ended
/// (0 for an orderly close, else the errno of the failed recv).
struct raw_result {
  std::string bytes;
  int end_errno = -1;
  /// The body after the headers, chunked framing removed; `clean_end` when
  /// the chunked terminator arrived.
  std::string body;
  bool clean_end = false;
  /// The body's HTTP chunks as the server wrote them.
  std::vector<std::string> chunks;
};

raw_result raw_post(int port, const std::string& path,
                    const std::string& body) {
  raw_result out;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  BOOST_REQUIRE(fd >= 0);
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  std::string request = "POST " + path +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Content-Type: application/json\r\n"
                        "Connection: close\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body;
  BOOST_REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
                static_cast<ssize_t>(request.size()));
  char buf[4096];
  for (;;) {
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      out.bytes.append(buf, static_cast<size_t>(n));
      continue;
    }
    out.end_errno = n == 0 ? 0 : errno;
    break;
  }
  ::close(fd);
  auto head_end = out.bytes.find("\r\n\r\n");
  if (head_end == std::string::npos) {
    return out;
  }
  size_t pos = head_end + 4;
  for (;;) {
    auto line_end = out.bytes.find("\r\n", pos);
    if (line_end == std::string::npos) {
      break;
    }
    auto size = std::stoul(out.bytes.substr(pos, line_end - pos), nullptr, 16);
    if (size == 0) {
      out.clean_end = out.bytes.compare(line_end, 4, "\r\n\r\n") == 0;
      break;
    }
    out.chunks.push_back(out.bytes.substr(line_end + 2, size));
    out.body += out.chunks.back();
    pos = line_end + 2 + size + 2;
  }
  return out;
}

/// The deltas of a stream of the given format, concatenated.
std::string streamed_text(const std::string& format,
                          const std::vector<sse_event>& events) {
  std::string text;
  for (const auto& e : events) {
    if (e.data == "[DONE]") {
      continue;
    }
    auto doc = parse_json(e.data);
    if (format == "openai" && doc.HasMember("choices")) {
      for (const auto& choice : doc["choices"].GetArray()) {
        if (choice["delta"].HasMember("content")) {
          text += choice["delta"]["content"].GetString();
        }
      }
    } else if (format == "anthropic" && e.name == "content_block_delta") {
      text += doc["delta"]["text"].GetString();
    } else if (format == "gemini" && doc.HasMember("candidates")) {
      text += doc["candidates"][0]["content"]["parts"][0]["text"].GetString();
    }
  }
  return text;
}

const fake::arrival& last_arrival(const std::vector<fake::arrival>& log) {
  BOOST_REQUIRE(!log.empty());
  return log.back();
}

} // namespace

BOOST_AUTO_TEST_CASE(anthropic_whole_reply_has_the_messages_shape) {
  fixture f(formats_script);
  auto c = f.client();
  auto res = post_anthropic(c, anthropic_body("fast", false));
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 200);
  auto doc = parse_json(res->body);
  BOOST_TEST(std::string(doc["id"].GetString()).rfind("msg_", 0) == 0u);
  BOOST_TEST(doc["type"].GetString() == std::string("message"));
  BOOST_TEST(doc["role"].GetString() == std::string("assistant"));
  BOOST_TEST(doc["model"].GetString() == std::string("fast"));
  BOOST_REQUIRE(doc["content"].Size() == 1u);
  BOOST_TEST(doc["content"][0]["type"].GetString() == std::string("text"));
  BOOST_TEST(doc["content"][0]["text"].GetString() ==
             std::string("Paris is the capital of France."));
  BOOST_TEST(doc["stop_reason"].GetString() == std::string("end_turn"));
  BOOST_TEST(doc["stop_sequence"].IsNull());
  // system "be brief" + "what is the capital"
  BOOST_TEST(doc["usage"]["input_tokens"].GetInt() == 6);
  BOOST_TEST(doc["usage"]["output_tokens"].GetInt() == 6);
  BOOST_TEST(doc["usage"]["cache_read_input_tokens"].GetInt() == 0);
  BOOST_TEST(doc["usage"]["cache_creation_input_tokens"].GetInt() == 0);

  auto cut = post_anthropic(c, anthropic_body("fast", false, 2));
  auto cut_doc = parse_json(cut->body);
  BOOST_TEST(cut_doc["content"][0]["text"].GetString() ==
             std::string("Paris is"));
  BOOST_TEST(cut_doc["stop_reason"].GetString() == std::string("max_tokens"));
  // The path without /v1 works too, and a request without a key is served.
  BOOST_TEST(
      c.Post("/messages", anthropic_body("fast", false), "application/json")
          ->status == 200);

  f.srv.stop();
  auto log = f.srv.arrivals();
  BOOST_REQUIRE(log.size() == 3u);
  BOOST_TEST(log[0].format == "anthropic");
  BOOST_TEST(log[0].path == "/v1/messages");
  BOOST_TEST(log[0].api_key);
  BOOST_TEST(log[0].api_version == "2023-06-01");
  BOOST_TEST(!log[2].api_key);
  BOOST_TEST(log[2].api_version == "");
}

BOOST_AUTO_TEST_CASE(anthropic_stream_sends_the_events_in_order) {
  fixture f(formats_script);
  auto c = f.client();
  auto res = post_anthropic(c, anthropic_body("fast", true));
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 200);
  BOOST_TEST(res->get_header_value("Content-Type") == "text/event-stream");
  BOOST_TEST(res->body.find('\r') == std::string::npos);
  auto events = parse_sse(res->body);
  std::vector<std::string> names;
  for (const auto& e : events) {
    names.push_back(e.name);
    // Every data payload's type repeats the event name.
    BOOST_TEST(parse_json(e.data)["type"].GetString() == e.name);
  }
  std::vector<std::string> expected = {"message_start", "content_block_start",
                                       "ping"};
  expected.insert(expected.end(), 6, "content_block_delta");
  expected.insert(expected.end(),
                  {"content_block_stop", "message_delta", "message_stop"});
  BOOST_TEST(names == expected, boost::test_tools::per_element());
  auto start = parse_json(events[0].data);
  BOOST_TEST(start["message"]["usage"]["input_tokens"].GetInt() == 6);
  BOOST_TEST(start["message"]["stop_reason"].IsNull());
  BOOST_TEST(start["message"]["content"].Empty());
  auto block = parse_json(events[1].data);
  BOOST_TEST(block["content_block"]["type"].GetString() == std::string("text"));
  auto delta = parse_json(events[3].data);
  BOOST_TEST(delta["delta"]["type"].GetString() == std::string("text_delta"));
  BOOST_TEST(streamed_text("anthropic", events) ==
             "Paris is the capital of France.");
  auto message_delta = parse_json(events[events.size() - 2].data);
  BOOST_TEST(message_delta["delta"]["stop_reason"].GetString() ==
             std::string("end_turn"));
  BOOST_TEST(message_delta["usage"]["output_tokens"].GetInt() == 6);
}

BOOST_AUTO_TEST_CASE(anthropic_errors_have_the_anthropic_shape) {
  fixture f(formats_script);
  auto c = f.client();
  auto check = [&](const std::string& body, int status, const char* type) {
    auto res = post_anthropic(c, body);
    BOOST_REQUIRE(res);
    BOOST_TEST(res->status == status);
    auto doc = parse_json(res->body);
    BOOST_TEST(doc["type"].GetString() == std::string("error"));
    BOOST_TEST(doc["error"]["type"].GetString() == std::string(type));
    BOOST_TEST(doc["error"]["message"].IsString());
    BOOST_TEST(std::string(doc["request_id"].GetString()).rfind("req_", 0) ==
               0u);
    BOOST_TEST(res->has_header("request-id"));
  };
  check(anthropic_body("overload", true), 529, "overloaded_error");
  check(anthropic_body("limited", false), 429, "rate_limit_error");
  check(anthropic_body("denied", false), 403, "permission_error");
  check(anthropic_body("nope", false), 404, "not_found_error");
  check(R"({"model":"fast","messages":[{"role":"user","content":"x"}]})", 400,
        "invalid_request_error");
  check("{not json", 400, "invalid_request_error");
  // First request fails, the retry succeeds.
  check(anthropic_body("down", false), 503, "api_error");
  auto retry = post_anthropic(c, anthropic_body("down", false));
  BOOST_TEST(retry->status == 200);
}

BOOST_AUTO_TEST_CASE(gemini_whole_reply_has_the_generate_content_shape) {
  fixture f(formats_script);
  auto c = f.client();
  auto res = post_gemini(c, "fast", false, gemini_body());
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 200);
  auto doc = parse_json(res->body);
  const auto& candidate = doc["candidates"][0];
  BOOST_TEST(candidate["content"]["role"].GetString() == std::string("model"));
  BOOST_TEST(candidate["content"]["parts"][0]["text"].GetString() ==
             std::string("Paris is the capital of France."));
  BOOST_TEST(candidate["finishReason"].GetString() == std::string("STOP"));
  BOOST_TEST(candidate["index"].GetInt() == 0);
  BOOST_TEST(doc["usageMetadata"]["promptTokenCount"].GetInt() == 6);
  BOOST_TEST(doc["usageMetadata"]["candidatesTokenCount"].GetInt() == 6);
  BOOST_TEST(doc["usageMetadata"]["totalTokenCount"].GetInt() == 12);
  BOOST_TEST(doc["modelVersion"].GetString() == std::string("fast"));

  auto cut = parse_json(post_gemini(c, "fast", false, gemini_body(3))->body);
  BOOST_TEST(cut["candidates"][0]["content"]["parts"][0]["text"].GetString() ==
             std::string("Paris is the"));
  BOOST_TEST(cut["candidates"][0]["finishReason"].GetString() ==
             std::string("MAX_TOKENS"));
  // The v1 path and a key in the query work too.
  BOOST_TEST(c.Post("/v1/models/fast:generateContent?key=k", gemini_body(),
                    "application/json")
                 ->status == 200);

  f.srv.stop();
  auto log = f.srv.arrivals();
  BOOST_REQUIRE(log.size() == 3u);
  for (const auto& a : log) {
    BOOST_TEST(a.format == "gemini");
    BOOST_TEST(a.model == "fast");
    BOOST_TEST(a.api_key);
    BOOST_TEST(!a.stream);
  }
}

BOOST_AUTO_TEST_CASE(gemini_stream_sends_crlf_chunks_without_an_end_marker) {
  fixture f(formats_script);
  auto c = f.client();
  auto raw = raw_post(f.port, gemini_path("fast", true), gemini_body());
  BOOST_TEST(raw.end_errno == 0);
  BOOST_TEST(raw.clean_end);
  // Every line ends in CRLF, as Gemini sends.
  BOOST_TEST(raw.body.find("\r\n\r\n") != std::string::npos);
  for (size_t i = 0; i < raw.body.size(); ++i) {
    if (raw.body[i] == '\n') {
      BOOST_REQUIRE(i > 0);
      BOOST_TEST(raw.body[i - 1] == '\r');
    }
  }
  auto events = parse_sse(raw.body);
  BOOST_REQUIRE(events.size() == 6u); // one per word, no [DONE]
  BOOST_TEST(streamed_text("gemini", events) ==
             "Paris is the capital of France.");
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    auto doc = parse_json(events[i].data);
    BOOST_TEST(!doc["candidates"][0].HasMember("finishReason"));
    BOOST_TEST(!doc.HasMember("usageMetadata"));
  }
  auto last = parse_json(events.back().data);
  BOOST_TEST(last["candidates"][0]["finishReason"].GetString() ==
             std::string("STOP"));
  BOOST_TEST(last["usageMetadata"]["candidatesTokenCount"].GetInt() == 6);
  BOOST_TEST(last["usageMetadata"]["totalTokenCount"].GetInt() == 12);
  // Without alt=sse the fake refuses rather than answer in another framing.
  auto no_sse = c.Post("/v1beta/models/fast:streamGenerateContent",
                       gemini_body(), "application/json");
  BOOST_TEST(no_sse->status == 400);
  f.srv.stop();
  BOOST_TEST(f.srv.arrivals()[0].stream);
  BOOST_TEST(f.srv.arrivals()[0].outcome == "ok");
}

BOOST_AUTO_TEST_CASE(gemini_errors_have_the_google_rpc_shape) {
  fixture f(formats_script);
  auto c = f.client();
  auto check = [&](const std::string& model, const std::string& body,
                   int status, const char* rpc_status) {
    auto res = post_gemini(c, model, false, body);
    BOOST_REQUIRE(res);
    BOOST_TEST(res->status == status);
    auto doc = parse_json(res->body);
    BOOST_TEST(doc["error"]["code"].GetInt() == status);
    BOOST_TEST(doc["error"]["status"].GetString() == std::string(rpc_status));
    BOOST_TEST(doc["error"]["message"].IsString());
    return doc;
  };
  auto limited = check("limited", gemini_body(), 429, "RESOURCE_EXHAUSTED");
  BOOST_TEST(limited["error"]["details"][0]["retryDelay"].GetString() ==
             std::string("2s"));
  check("down", gemini_body(), 503, "UNAVAILABLE");
  check("overload", gemini_body(), 529, "UNAVAILABLE");
  check("denied", gemini_body(), 403, "PERMISSION_DENIED");
  check("nope", gemini_body(), 404, "NOT_FOUND");
  check("fast", R"({"contents":[]})", 400, "INVALID_ARGUMENT");
  check("fast", "{not json", 400, "INVALID_ARGUMENT");
  BOOST_TEST(post_gemini(c, "down", false, gemini_body())->status == 200);
}

BOOST_AUTO_TEST_CASE(gemini_safety_block_answers_without_candidates) {
  fixture f(formats_script);
  auto c = f.client();
  auto whole =
      parse_json(post_gemini(c, "blocked", false, gemini_body())->body);
  BOOST_TEST(!whole.HasMember("candidates"));
  BOOST_TEST(whole["promptFeedback"]["blockReason"].GetString() ==
             std::string("SAFETY"));
  auto res = post_gemini(c, "blocked", true, gemini_body());
  BOOST_REQUIRE(res);
  auto events = parse_sse(res->body);
  BOOST_REQUIRE(events.size() == 1u);
  auto only = parse_json(events[0].data);
  BOOST_TEST(!only.HasMember("candidates"));
  BOOST_TEST(only["promptFeedback"]["blockReason"].GetString() ==
             std::string("SAFETY"));
  f.srv.stop();
  BOOST_TEST(f.srv.arrivals()[0].outcome == "blocked");
  BOOST_TEST(f.srv.arrivals()[1].outcome == "blocked");
}

/// An Ollama /api/chat body for `model`; `extra` adds fields
/// (",\"stream\":false").
std::string ollama_body(const std::string& model,
                        const std::string& extra = "") {
  return R"({"model":")" + model +
         R"(","messages":[{"role":"system","content":"be brief"},)"
         R"({"role":"user","content":"what is the capital"}])" +
         extra + "}";
}

/// The lines of an NDJSON body, each without its "\n".
std::vector<std::string> ndjson_lines(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < body.size()) {
    auto end = body.find('\n', pos);
    BOOST_REQUIRE_MESSAGE(end != std::string::npos,
                          "unended line: " + body.substr(pos));
    out.push_back(body.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

BOOST_AUTO_TEST_CASE(ollama_whole_reply_has_the_api_chat_shape) {
  fixture f(formats_script);
  auto c = f.client();
  auto res = c.Post("/api/chat", ollama_body("fast", R"(,"stream":false)"),
                    "application/json");
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 200);
  auto doc = parse_json(res->body);
  BOOST_TEST(doc["model"].GetString() == std::string("fast"));
  BOOST_TEST(doc["message"]["role"].GetString() == std::string("assistant"));
  BOOST_TEST(doc["message"]["content"].GetString() ==
             std::string("Paris is the capital of France."));
  BOOST_TEST(doc["done"].GetBool());
  BOOST_TEST(doc["done_reason"].GetString() == std::string("stop"));
  BOOST_TEST(doc["prompt_eval_count"].GetInt() == 6);
  BOOST_TEST(doc["eval_count"].GetInt() == 6);
  BOOST_TEST(doc["created_at"].IsString());

  // options.num_predict cuts the reply; options.seed is logged.
  auto cut = parse_json(
      c.Post("/api/chat",
             ollama_body("fast", R"(,"stream":false,"options":)"
                                 R"({"num_predict":3,"seed":9,"num_ctx":4096},)"
                                 R"("keep_alive":"10m")"),
             "application/json")
          ->body);
  BOOST_TEST(cut["message"]["content"].GetString() ==
             std::string("Paris is the"));
  BOOST_TEST(cut["done_reason"].GetString() == std::string("length"));
  BOOST_TEST(cut["eval_count"].GetInt() == 3);

  f.srv.stop();
  auto log = f.srv.arrivals();
  BOOST_REQUIRE(log.size() == 2u);
  BOOST_TEST(log[0].format == "ollama");
  BOOST_TEST(log[0].path == "/api/chat");
  BOOST_TEST(!log[0].stream);
  BOOST_TEST(!log[0].api_key);
  BOOST_TEST(log[0].seed == -1);
  BOOST_TEST(log[1].seed == 9);
  BOOST_TEST(log[1].output_tokens == 3);
}

BOOST_AUTO_TEST_CASE(ollama_streams_ndjson_by_default_ending_with_done) {
  fixture f(formats_script);
  // No "stream" field: Ollama streams.
  auto raw = raw_post(f.port, "/api/chat", ollama_body("fast"));
  BOOST_TEST(raw.clean_end);
  BOOST_TEST(raw.bytes.find("Content-Type: application/x-ndjson") !=
             std::string::npos);
  BOOST_TEST(raw.body.find("data:") == std::string::npos);
  BOOST_TEST(raw.body.find('\r') == std::string::npos);
  auto lines = ndjson_lines(raw.body);
  BOOST_REQUIRE(lines.size() == 7u); // one per word, then the done line
  std::string text;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    auto chunk = parse_json(lines[i]);
    BOOST_TEST(!chunk["done"].GetBool());
    BOOST_TEST(!chunk.HasMember("eval_count"));
    text += chunk["message"]["content"].GetString();
  }
  BOOST_TEST(text == "Paris is the capital of France.");
  auto last = parse_json(lines.back());
  BOOST_TEST(last["done"].GetBool());
  BOOST_TEST(last["done_reason"].GetString() == std::string("stop"));
  BOOST_TEST(last["message"]["content"].GetString() == std::string(""));
  BOOST_TEST(last["prompt_eval_count"].GetInt() == 6);
  BOOST_TEST(last["eval_count"].GetInt() == 6);

  auto errored =
      ndjson_lines(raw_post(f.port, "/api/chat", ollama_body("errored")).body);
  BOOST_REQUIRE(errored.size() == 3u);
  BOOST_TEST(parse_json(errored[2])["error"].IsString());
  auto garbled =
      ndjson_lines(raw_post(f.port, "/api/chat", ollama_body("garbled")).body);
  BOOST_REQUIRE(!garbled.empty());
  rapidjson::Document bad;
  bad.Parse(garbled[0].c_str());
  BOOST_TEST(bad.HasParseError());
  f.srv.stop();
  auto log = f.srv.arrivals();
  BOOST_REQUIRE(log.size() == 3u);
  BOOST_TEST(log[0].stream);
  BOOST_TEST(log[0].outcome == "ok");
  BOOST_TEST(log[0].input_tokens == 6);
  BOOST_TEST(log[0].output_tokens == 6);
}

BOOST_AUTO_TEST_CASE(ollama_errors_are_one_string) {
  fixture f(formats_script);
  auto c = f.client();
  auto check = [&](const std::string& body, int status,
                   const std::string& message) {
    auto res = c.Post("/api/chat", body, "application/json");
    BOOST_REQUIRE(res);
    BOOST_TEST(res->status == status);
    auto doc = parse_json(res->body);
    BOOST_REQUIRE(doc["error"].IsString());
    BOOST_TEST(doc.MemberCount() == 1u);
    if (!message.empty())
      BOOST_TEST(doc["error"].GetString() == message);
  };
  check(ollama_body("nope"), 404,
        "model \"nope\" not found, try pulling it first");
  check(ollama_body("down", R"(,"stream":false)"), 503,
        "server busy, please try again.  maximum pending requests exceeded");
  check(ollama_body("limited"), 429, "too many requests");
  check(R"({"messages":[]})", 400, "model is required");
  check("{not json", 400, "");
  check(ollama_body("fast", R"(,"keep_alive":"5 minutes")"), 400,
        "time: invalid duration \"5 minutes\"");
  check(ollama_body("fast", R"(,"options":{"num_predict":"many"})"), 400,
        "option \"num_predict\" must be of type integer");
  // A number of seconds and a negative duration are fine.
  BOOST_TEST(c.Post("/api/chat",
                    ollama_body("fast", R"(,"stream":false,"keep_alive":-1)"),
                    "application/json")
                 ->status == 200);
  BOOST_TEST(
      c.Post("/api/chat",
             ollama_body("fast", R"(,"stream":false,"keep_alive":"-1s")"),
             "application/json")
          ->status == 200);
}

BOOST_AUTO_TEST_CASE(malformed_streams_of_every_format_carry_bad_json) {
  fixture f(formats_script);
  auto c = f.client();
  auto bad_events = [](const std::vector<sse_event>& events) {
    int bad = 0;
    for (const auto& e : events) {
      rapidjson::Document doc;
      doc.Parse(e.data.c_str());
      bad += e.data != "[DONE]" && doc.HasParseError() ? 1 : 0;
    }
    return bad;
  };
  auto anthropic =
      parse_sse(post_anthropic(c, anthropic_body("garbled", true))->body);
  BOOST_TEST(bad_events(anthropic) == 1);
  BOOST_TEST(anthropic.back().name == "message_stop");
  auto gemini = parse_sse(post_gemini(c, "garbled", true, gemini_body())->body);
  BOOST_TEST(bad_events(gemini) == 1);
  auto whole = post_anthropic(c, anthropic_body("garbled", false));
  rapidjson::Document doc;
  doc.Parse(whole->body.c_str());
  BOOST_TEST(doc.HasParseError());
}

BOOST_AUTO_TEST_CASE(split_chunks_cut_events_inside_utf8_characters) {
  fixture f(formats_script);
  const std::string reply = "Grüße aus Köln — 東京 ✓ naïve café";
  struct format_case {
    std::string format;
    std::string path;
    std::string body;
  };
  const std::vector<format_case> cases = {
      {"openai", "/v1/chat/completions", request_body("split", true)},
      {"anthropic", "/v1/messages", anthropic_body("split", true)},
      {"gemini", gemini_path("split", true), gemini_body()}};
  auto chunk_sizes = [](const raw_result& r) {
    std::vector<size_t> sizes;
    for (const auto& chunk : r.chunks) {
      sizes.push_back(chunk.size());
    }
    return sizes;
  };
  for (const auto& fc : cases) {
    BOOST_TEST_CONTEXT(fc.format) {
      auto first = raw_post(f.port, fc.path, fc.body);
      BOOST_TEST(first.clean_end);
      // Chunks of 1-7 bytes, some of them ending inside a character.
      BOOST_TEST(first.chunks.size() > first.body.size() / 7);
      for (const auto& chunk : first.chunks) {
        BOOST_TEST(chunk.size() <= 7u);
      }
      BOOST_TEST(splits_inside_characters(first.chunks) > 0);
      BOOST_TEST(streamed_text(fc.format, parse_sse(first.body)) == reply);
      // The same cuts on every request: they come from split_seed. (Only the
      // first events: ids and timestamps differ between requests.)
      auto again = raw_post(f.port, fc.path, fc.body);
      auto a = chunk_sizes(first);
      auto b = chunk_sizes(again);
      BOOST_REQUIRE(a.size() >= 8u);
      BOOST_REQUIRE(b.size() >= 8u);
      BOOST_TEST(std::vector<size_t>(a.begin(), a.begin() + 8) ==
                     std::vector<size_t>(b.begin(), b.begin() + 8),
                 boost::test_tools::per_element());
      // An ordinary client reassembles the pieces.
      auto c = f.client();
      auto res = post_pieces(c, fc.path, fc.body);
      BOOST_TEST(res.ok);
      BOOST_TEST(streamed_text(fc.format, parse_sse(res.body())) == reply);
    }
  }
  // A whole reply is split too (sent chunked) and still parses.
  auto whole = raw_post(f.port, "/v1/messages", anthropic_body("split", false));
  BOOST_TEST(whole.clean_end);
  BOOST_TEST(whole.chunks.size() > 10u);
  BOOST_TEST(splits_inside_characters(whole.chunks) > 0);
  BOOST_TEST(parse_json(whole.body)["content"][0]["text"].GetString() == reply);
}

BOOST_AUTO_TEST_CASE(crlf_and_ping_comments_change_only_the_framing) {
  fixture f(formats_script);
  auto c = f.client();
  auto res = post(c, request_body("crlf", true));
  BOOST_REQUIRE(res);
  for (size_t i = 0; i < res->body.size(); ++i) {
    if (res->body[i] == '\n') {
      BOOST_TEST(res->body[i - 1] == '\r');
    }
  }
  int comments = 0;
  auto events = parse_sse(res->body, &comments);
  BOOST_REQUIRE(events.size() == 6u); // role, 3 words, finish, [DONE]
  BOOST_TEST(comments == 5);          // one between every two events
  BOOST_TEST(res->body.find(": ping\r\n\r\n") != std::string::npos);
  BOOST_TEST(streamed_text("openai", events) == "one two three");
  BOOST_TEST(events.back().data == "[DONE]");
  // crlf: false gives Gemini plain LF line ends.
  auto lf = post_gemini(c, "lf", true, gemini_body());
  BOOST_TEST(lf->body.find('\r') == std::string::npos);
  BOOST_TEST(streamed_text("gemini", parse_sse(lf->body)) == "one two three");
}

BOOST_AUTO_TEST_CASE(end_without_terminator_ends_the_body_cleanly) {
  fixture f(formats_script);
  auto openai =
      raw_post(f.port, "/v1/chat/completions", request_body("noterm", true));
  BOOST_TEST(openai.end_errno == 0);
  BOOST_TEST(openai.clean_end); // the chunked terminator arrived
  auto events = parse_sse(openai.body);
  BOOST_TEST(streamed_text("openai", events) == "one two three");
  BOOST_TEST(openai.body.find("[DONE]") == std::string::npos);
  BOOST_TEST(parse_json(events.back().data)["choices"][0]["finish_reason"]
                 .GetString() == std::string("stop"));

  auto anthropic =
      raw_post(f.port, "/v1/messages", anthropic_body("noterm", true));
  BOOST_TEST(anthropic.clean_end);
  auto a_events = parse_sse(anthropic.body);
  BOOST_TEST(a_events.back().name == "message_delta");
  BOOST_TEST(anthropic.body.find("message_stop") == std::string::npos);

  // Truncation, by contrast, never sends the chunked terminator.
  auto cut =
      raw_post(f.port, "/v1/chat/completions", request_body("cut", true));
  BOOST_TEST(!cut.clean_end);
  BOOST_TEST(cut.end_errno == 0);
  f.srv.stop();
  auto log = f.srv.arrivals();
  BOOST_TEST(log[0].outcome == "no_terminator");
  BOOST_TEST(log[1].outcome == "no_terminator");
  BOOST_TEST(log[2].outcome == "truncated");
}

BOOST_AUTO_TEST_CASE(error_event_mid_stream_uses_the_vendor_format) {
  fixture f(formats_script);
  auto c = f.client();
  auto openai = post(c, request_body("errored", true));
  BOOST_REQUIRE(openai); // the body ends cleanly
  auto events = parse_sse(openai->body);
  BOOST_TEST(streamed_text("openai", events) == "one two ");
  auto error = parse_json(events.back().data);
  BOOST_TEST(error["error"]["type"].GetString() == std::string("server_error"));
  BOOST_TEST(openai->body.find("[DONE]") == std::string::npos);

  auto anthropic = post_anthropic(c, anthropic_body("errored", true));
  BOOST_REQUIRE(anthropic);
  auto a_events = parse_sse(anthropic->body);
  BOOST_TEST(streamed_text("anthropic", a_events) == "one two ");
  BOOST_TEST(a_events.back().name == "error");
  auto a_error = parse_json(a_events.back().data);
  BOOST_TEST(a_error["type"].GetString() == std::string("error"));
  BOOST_TEST(a_error["error"]["type"].GetString() ==
             std::string("overloaded_error"));

  auto gemini = post_gemini(c, "errored", true, gemini_body());
  BOOST_REQUIRE(gemini);
  auto g_events = parse_sse(gemini->body);
  BOOST_TEST(streamed_text("gemini", g_events) == "one two ");
  auto g_error = parse_json(g_events.back().data);
  BOOST_TEST(g_error["error"]["code"].GetInt() == 503);
  BOOST_TEST(g_error["error"]["status"].GetString() ==
             std::string("UNAVAILABLE"));

  auto limited = post(c, request_body("limited_mid", true));
  auto l_error = parse_json(parse_sse(limited->body).back().data);
  BOOST_TEST(l_error["error"]["code"].GetString() ==
             std::string("rate_limit_exceeded"));
  BOOST_TEST(l_error["error"]["message"].GetString() ==
             std::string("slow down"));
  f.srv.stop();
  for (const auto& a : f.srv.arrivals()) {
    BOOST_TEST(a.outcome == "error_event");
    BOOST_TEST(a.status == 200);
  }
}

BOOST_AUTO_TEST_CASE(drip_ms_waits_between_chunks) {
  fixture f(formats_script);
  auto c = f.client();
  auto start = steady_clock::now();
  auto res = post_pieces(c, "/v1/chat/completions", request_body("drip", true));
  BOOST_TEST(res.ok);
  // role, 3 words, finish, [DONE]: 6 chunks, 5 gaps of 40 ms.
  BOOST_TEST(ms_since(start) >= 200);
  BOOST_TEST(streamed_text("openai", parse_sse(res.body())) == "a b c");
}

BOOST_AUTO_TEST_CASE(reset_after_tokens_resets_the_connection) {
  fixture f(formats_script);
  auto stream =
      raw_post(f.port, "/v1/chat/completions", request_body("reset", true));
  BOOST_TEST(stream.end_errno == ECONNRESET, std::strerror(stream.end_errno));
  BOOST_TEST(stream.bytes.find("\"content\":\"two \"") != std::string::npos);
  BOOST_TEST(stream.bytes.find("three") == std::string::npos);
  BOOST_TEST(!stream.clean_end);

  auto anthropic =
      raw_post(f.port, "/v1/messages", anthropic_body("reset", true));
  BOOST_TEST(anthropic.end_errno == ECONNRESET);
  BOOST_TEST(anthropic.bytes.find("\"text\":\"two \"") != std::string::npos);

  auto whole =
      raw_post(f.port, "/v1/chat/completions", request_body("reset", false));
  BOOST_TEST(whole.end_errno == ECONNRESET, std::strerror(whole.end_errno));
  BOOST_TEST(whole.bytes.empty());

  // An ordinary client sees a failed request, and the server keeps serving.
  auto c = f.client();
  BOOST_TEST(!post(c, request_body("reset", false)));
  BOOST_TEST(post(c, request_body("fast", false))->status == 200);
  f.srv.stop();
  auto log = f.srv.arrivals();
  BOOST_REQUIRE(log.size() == 5u);
  for (size_t i = 0; i < 4; ++i) {
    BOOST_TEST(log[i].outcome == "reset");
  }
}

BOOST_AUTO_TEST_CASE(rate_limits_carry_retry_after_and_retry_after_ms) {
  fixture f(formats_script);
  auto c = f.client();
  auto openai = post(c, request_body("limited", false));
  BOOST_TEST(openai->status == 429);
  BOOST_TEST(openai->get_header_value("Retry-After") == "2");
  BOOST_TEST(openai->get_header_value("retry-after-ms") == "1500");
  auto anthropic = post_anthropic(c, anthropic_body("limited", true));
  BOOST_TEST(anthropic->status == 429);
  BOOST_TEST(anthropic->get_header_value("retry-after-ms") == "1500");
  f.srv.stop();
  BOOST_TEST(last_arrival(f.srv.arrivals()).outcome == "rate_limited");
  BOOST_TEST(last_arrival(f.srv.arrivals()).format == "anthropic");
}

BOOST_AUTO_TEST_CASE(fault_keys_are_read_and_checked) {
  auto s = fake::parse_script(R"(
models:
  a: {split_chunks: true, split_seed: 7, crlf: false, ping_comments: yes,
      end_without_terminator: true, drip_ms: 15ms, safety_block: true}
  b: {error_event_after_tokens: 3, error_event_status: 529,
      error_event_message: busy, reset_after_tokens: 1,
      fail: {status: 429, retry_after_ms: 1.5s}}
)");
  const auto& a = s.models["a"];
  BOOST_TEST(a.split_chunks);
  BOOST_TEST(a.split_seed == 7u);
  BOOST_REQUIRE(a.crlf.has_value());
  BOOST_TEST(!*a.crlf);
  BOOST_TEST(a.ping_comments);
  BOOST_TEST(a.end_without_terminator);
  BOOST_TEST(a.drip_ms == 15);
  BOOST_TEST(a.safety_block);
  const auto& b = s.models["b"];
  BOOST_TEST(b.error_event_after_tokens == 3);
  BOOST_TEST(b.error_event_status == 529);
  BOOST_TEST(b.error_event_message == "busy");
  BOOST_TEST(b.reset_after_tokens == 1);
  BOOST_TEST(b.retry_after_ms == 1500);
  BOOST_TEST(!fake::parse_script("models: {x: {}}").models["x"].crlf);

  for (const char* bad :
       {"models: {a: {crlf: maybe}}", "models: {a: {error_event_status: 200}}",
        "models: {a: {reset_after_tokens: -1}}", "models: {a: {drip_ms: soon}}",
        "models: {a: {fail: {status: 429, retry_after_ms: "
        "x}}}"}) {
    BOOST_CHECK_THROW(fake::parse_script(bad), std::runtime_error);
  }
}

// --- usage in the request log and server-side rate limits -------------------

namespace {

const char* limits_script = R"(
models:
  fast:    {reply: "Paris is the capital of France."}
  cut:     {reply: "one two three", truncate_after_tokens: 1}
  broken:  {fail: 503}
  rl:      {reply: "one two three", server_limit: {requests: 3, tokens: 100, window: 60s}}
  tok:     {reply: "a b", server_limit: {tokens: 20, window: 60s}}
  tenps:   {reply: "ok", server_limit: {requests: 10, window: 1s}}
  fixed:   {reply: "one two three", server_limit: {requests: 3, tokens: 100, window: 60s, refill: window}}
  short:   {reply: "ok", server_limit: {requests: 1, window: 300ms, refill: window}}
  m20ms:   {server_limit: {requests: 1, window: 20ms}}
  m90s:    {server_limit: {requests: 1, window: 90.5s}}
  m6m:     {server_limit: {tokens: 1000, window: 360s, refill: window}}
  m1h:     {server_limit: {requests: 5, window: 3600s, refill: window}}
)";

/// An OpenAI reset duration ("20ms", "1s", "1m30.5s", ...) in milliseconds;
/// -1 when it is not in that syntax.
int64_t go_duration_ms(const std::string& text) {
  double total = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t used = 0;
    double value = 0;
    try {
      value = std::stod(text.substr(pos), &used);
    } catch (const std::exception&) {
      return -1;
    }
    pos += used;
    if (text.compare(pos, 2, "ms") == 0) {
      total += value;
      pos += 2;
    } else if (text.compare(pos, 1, "h") == 0) {
      total += value * 3'600'000;
      pos += 1;
    } else if (text.compare(pos, 1, "m") == 0) {
      total += value * 60'000;
      pos += 1;
    } else if (text.compare(pos, 1, "s") == 0) {
      total += value * 1000;
      pos += 1;
    } else {
      return -1;
    }
  }
  return text.empty() ? -1 : static_cast<int64_t>(total + 0.5);
}

/// An RFC 3339 UTC time ("2026-11-25T02:30:05Z", "...05.250Z") in Unix
/// milliseconds; -1 when it is not in that form.
int64_t rfc3339_ms(const std::string& text) {
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == nullptr) {
    return -1;
  }
  int64_t ms = static_cast<int64_t>(timegm(&tm)) * 1000;
  if (*end == '.') {
    int64_t scale = 100;
    for (++end; *end >= '0' && *end <= '9'; ++end, scale /= 10) {
      ms += (*end - '0') * scale;
    }
  }
  return std::string(end) == "Z" ? ms : -1;
}

const char* openai_limit_headers[] = {
    "x-ratelimit-limit-requests",   "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",   "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"};

} // namespace

BOOST_AUTO_TEST_CASE(arrivals_record_the_usage_each_reply_reported) {
  const auto path = temp_path("fake_llm_usage_log");
  std::filesystem::remove(path);
  {
    fixture f(limits_script, path);
    auto c = f.client();
    // "be brief what is the capital": 6 prompt tokens in every format.
    post(c, request_body("fast", false));
    post(c, request_body("fast", true, true));
    post(c, request_body("fast", true)); // no include_usage: none reported
    post(c, request_body("fast", false, false, R"(,"max_tokens":2)"));
    post_anthropic(c, anthropic_body("fast", false));
    post_anthropic(c, anthropic_body("fast", true));
    post_anthropic(c, anthropic_body("cut", true)); // only message_start went
    post_gemini(c, "fast", false, gemini_body());
    post_gemini(c, "fast", true, gemini_body());
    post_gemini(c, "cut", true, gemini_body()); // cut before the usage
    post(c, request_body("broken", false));
    f.srv.stop();

    auto log = f.srv.arrivals();
    BOOST_REQUIRE(log.size() == 11u);
    const std::vector<std::pair<int, int>> expected = {
        {6, 6}, {6, 6}, {0, 0}, {6, 2}, {6, 6}, {6, 6},
        {6, 1}, {6, 6}, {6, 6}, {0, 0}, {0, 0}};
    for (size_t i = 0; i < log.size(); ++i) {
      BOOST_TEST_CONTEXT("request " << i << " " << log[i].format << " "
                                    << log[i].model) {
        BOOST_TEST(log[i].input_tokens == expected[i].first);
        BOOST_TEST(log[i].output_tokens == expected[i].second);
        BOOST_TEST(log[i].limit_window_steady_us == 0);
        BOOST_TEST(log[i].limit_requests_left == -1);
        BOOST_TEST(log[i].limit_tokens_left == -1);
      }
    }
    std::ifstream in(path);
    std::string line;
    size_t i = 0;
    while (std::getline(in, line)) {
      BOOST_REQUIRE(i < log.size());
      auto doc = parse_json(line);
      BOOST_TEST(doc["input_tokens"].GetInt() == log[i].input_tokens);
      BOOST_TEST(doc["output_tokens"].GetInt() == log[i].output_tokens);
      BOOST_TEST(doc["limit_window_steady_us"].GetInt64() == 0);
      BOOST_TEST(doc["limit_requests_left"].GetDouble() == -1);
      BOOST_TEST(doc["limit_tokens_left"].GetDouble() == -1);
      ++i;
    }
    BOOST_TEST(i == log.size());
  }
  std::filesystem::remove(path);
}

BOOST_AUTO_TEST_CASE(server_limit_bucket_counts_down_then_429_in_openai_form) {
  fixture f(limits_script);
  auto c = f.client();
  // 3 requests and 100 tokens per 60 s: refills of 0.05 requests and 1.7
  // tokens a second, too little to show in whole units within this test.
  // No max_tokens: each request is charged 6 prompt + 3 reply tokens.
  for (int i = 1; i <= 3; ++i) {
    BOOST_TEST_CONTEXT("request " << i) {
      auto res = post(c, request_body("rl", false));
      BOOST_REQUIRE(res);
      BOOST_TEST(res->status == 200);
      BOOST_TEST(res->get_header_value("x-ratelimit-limit-requests") == "3");
      BOOST_TEST(res->get_header_value("x-ratelimit-remaining-requests") ==
                 std::to_string(3 - i));
      BOOST_TEST(res->get_header_value("x-ratelimit-limit-tokens") == "100");
      BOOST_TEST(res->get_header_value("x-ratelimit-remaining-tokens") ==
                 std::to_string(100 - 9 * i));
      // Reset: until the bucket is full again, i requests (20 s each) and
      // 9 i tokens (0.6 s each) at the refill rate, less what came back.
      auto requests_reset =
          go_duration_ms(res->get_header_value("x-ratelimit-reset-requests"));
      BOOST_TEST(requests_reset <= 20'000 * i);
      BOOST_TEST(requests_reset > 20'000 * i - 1000);
      auto tokens_reset =
          go_duration_ms(res->get_header_value("x-ratelimit-reset-tokens"));
      BOOST_TEST(tokens_reset <= 5400 * i);
      BOOST_TEST(tokens_reset > 5400 * i - 1000);
      BOOST_TEST(!res->has_header("Retry-After"));
    }
  }
  auto refused = post(c, request_body("rl", true));
  BOOST_REQUIRE(refused);
  BOOST_TEST(refused->status == 429);
  BOOST_TEST(refused->get_header_value("x-ratelimit-remaining-requests") ==
             "0");
  // Nothing was taken for the refused request.
  BOOST_TEST(refused->get_header_value("x-ratelimit-remaining-tokens") == "73");
  // One request comes back 20 s after the bucket ran dry.
  auto retry_ms = std::stoll(refused->get_header_value("retry-after-ms"));
  BOOST_TEST(retry_ms <= 20'000);
  BOOST_TEST(retry_ms > 19'000);
  BOOST_TEST(refused->get_header_value("Retry-After") == "20");
  // Full again only after all three came back.
  auto reset =
      go_duration_ms(refused->get_header_value("x-ratelimit-reset-requests"));
  BOOST_TEST(reset > 59'000);
  BOOST_TEST(reset <= 60'000);
  auto doc = parse_json(refused->body);
  BOOST_TEST(doc["error"]["type"].GetString() == std::string("requests"));
  BOOST_TEST(doc["error"]["code"].GetString() ==
             std::string("rate_limit_exceeded"));
  BOOST_TEST(std::string(doc["error"]["message"].GetString())
                 .find("Limit 3, Used 3") != std::string::npos);
  // A model without a server_limit sends no rate-limit headers.
  auto plain = post(c, request_body("fast", false));
  for (const char* name : openai_limit_headers) {
    BOOST_TEST(!plain->has_header(name), name);
  }
  f.srv.stop();
  auto log = f.srv.arrivals();
  BOOST_REQUIRE(log.size() == 5u);
  BOOST_TEST(log[3].outcome == "rate_limited");
  BOOST_TEST(log[3].status == 429);
  BOOST_TEST(log[3].input_tokens == 0);
  BOOST_TEST(log[3].output_tokens == 0);
  // The bucket is full at the first request: exactly one request and its
  // charge gone. Later levels carry what refilled since.
  BOOST_TEST(log[0].limit_requests_left == 2.0);
  BOOST_TEST(log[0].limit_tokens_left == 91.0);
  BOOST_TEST(log[3].limit_requests_left >= 0.0);
  BOOST_TEST(log[3].limit_requests_left < 0.05);
  BOOST_TEST(log[3].limit_tokens_left >= 73.0);
  for (size_t i = 0; i < 4; ++i) {
    BOOST_TEST(log[i].limit_window_steady_us == 0); // no windows here
  }
  BOOST_TEST(log[4].limit_requests_left == -1);
  BOOST_TEST(log[4].limit_tokens_left == -1);
}

BOOST_AUTO_TEST_CASE(server_limit_bucket_refills_in_proportion_to_time) {
  fixture f(limits_script);
  auto c = f.client();
  // 10 requests a second: one comes back every 100 ms, up to 10 banked.
  // Empty the bucket: the 10 banked and whatever refilled meanwhile.
  std::vector<httplib::Result> replies;
  while (replies.size() < 40) {
    replies.push_back(post(c, request_body("tenps", false)));
    BOOST_REQUIRE(replies.back());
    if (replies.back()->status == 429) {
      break;
    }
  }
  BOOST_REQUIRE(replies.back()->status == 429);
  BOOST_TEST(replies.size() >= 11u);
  const auto& refused = replies.back();
  auto retry_ms = std::stoll(refused->get_header_value("retry-after-ms"));
  BOOST_TEST(retry_ms >= 1);
  BOOST_TEST(retry_ms <= 100);
  BOOST_TEST(refused->get_header_value("Retry-After") == "1"); // rounded up
  BOOST_TEST(refused->get_header_value("x-ratelimit-remaining-requests") ==
             "0");
  // Waiting as long as the server said is enough.
  std::this_thread::sleep_for(milliseconds(retry_ms));
  replies.push_back(post(c, request_body("tenps", false)));
  BOOST_REQUIRE(replies.back());
  BOOST_TEST(replies.back()->status == 200);
  // 350 ms later three and a half more came back; one is taken.
  std::this_thread::sleep_for(milliseconds(350));
  replies.push_back(post(c, request_body("tenps", false)));
  BOOST_REQUIRE(replies.back());
  BOOST_TEST(replies.back()->status == 200);
  auto remaining = std::stoi(
      replies.back()->get_header_value("x-ratelimit-remaining-requests"));
  BOOST_TEST(remaining >= 2);
  BOOST_TEST(remaining <= 9);
  f.srv.stop();

  // Every level in the log is the previous one plus 10 per second since,
  // capped at 10, less 1 when admitted; a request is refused exactly when
  // less than 1 was there. The headers say the same as the log.
  auto log = f.srv.arrivals();
  BOOST_REQUIRE(log.size() == replies.size());
  double level = 10;
  for (size_t i = 0; i < log.size(); ++i) {
    BOOST_TEST_CONTEXT("request " << i) {
      if (i > 0) {
        BOOST_REQUIRE(log[i].steady_us >= log[i - 1].steady_us);
        level = std::min(10.0,
                         level + 10.0 *
                                     static_cast<double>(log[i].steady_us -
                                                         log[i - 1].steady_us) /
                                     1e6);
      }
      const bool admitted = log[i].status == 200;
      BOOST_TEST(admitted == (replies[i]->status == 200));
      if (std::abs(level - 1) > 1e-6) {
        BOOST_TEST(admitted == (level > 1));
      }
      if (admitted) {
        level -= 1;
      }
      BOOST_TEST(std::abs(log[i].limit_requests_left - level) < 1e-6,
                 log[i].limit_requests_left << " vs " << level);
      level = log[i].limit_requests_left;
      BOOST_TEST(log[i].limit_tokens_left == -1);
      const auto& res = replies[i];
      BOOST_TEST(res->get_header_value("x-ratelimit-remaining-requests") ==
                 std::to_string(static_cast<int>(std::floor(level + 1e-9))));
      // Reset: time to full at 100 ms a request, rounded up.
      auto reset =
          go_duration_ms(res->get_header_value("x-ratelimit-reset-requests"));
      BOOST_TEST(std::abs(static_cast<double>(reset) - (10 - level) * 100) <=
                     1.0,
                 reset << " ms at level " << level);
      if (!admitted) {
        auto retry = std::stoll(res->get_header_value("retry-after-ms"));
        BOOST_TEST(std::abs(static_cast<double>(retry) - (1 - level) * 100) <=
                       1.0,
                   retry << " ms at level " << level);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(server_limit_token_budget_charges_prompt_and_max_tokens) {
  fixture f(limits_script);
  auto c = f.client();
  // 20 tokens per 60 s: one every 3 s. 6 prompt tokens + max_tokens 10 = 16.
  auto first =
      post(c, request_body("tok", false, false, R"(,"max_tokens":10)"));
  BOOST_REQUIRE(first);
  BOOST_TEST(first->status == 200);
  BOOST_TEST(first->get_header_value("x-ratelimit-limit-tokens") == "20");
  BOOST_TEST(first->get_header_value("x-ratelimit-remaining-tokens") == "4");
  // From full: 16 tokens to come back, 3 s each.
  BOOST_TEST(first->get_header_value("x-ratelimit-reset-tokens") == "48s");
  // No request budget: no request headers.
  BOOST_TEST(!first->has_header("x-ratelimit-limit-requests"));
  BOOST_TEST(!first->has_header("x-ratelimit-remaining-requests"));
  BOOST_TEST(!first->has_header("x-ratelimit-reset-requests"));
  // 6 + 1 = 7 does not fit in 4: 3 more must come back, 9 s.
  auto refused =
      post(c, request_body("tok", false, false, R"(,"max_tokens":1)"));
  BOOST_REQUIRE(refused);
  BOOST_TEST(refused->status == 429);
  BOOST_TEST(refused->get_header_value("x-ratelimit-remaining-tokens") == "4");
  auto retry_ms = std::stoll(refused->get_header_value("retry-after-ms"));
  BOOST_TEST(retry_ms <= 9000);
  BOOST_TEST(retry_ms > 8000);
  BOOST_TEST(refused->get_header_value("Retry-After") == "9");
  auto doc = parse_json(refused->body);
  BOOST_TEST(doc["error"]["type"].GetString() == std::string("tokens"));
  BOOST_TEST(
      std::string(doc["error"]["message"].GetString()).find("Requested 7") !=
      std::string::npos);
  // 6 + 100 never fits in 20: it is told the time until the bucket is full.
  auto too_big =
      post(c, request_body("tok", false, false, R"(,"max_tokens":100)"));
  BOOST_REQUIRE(too_big);
  BOOST_TEST(too_big->status == 429);
  BOOST_TEST(
      std::stoll(too_big->get_header_value("retry-after-ms")) ==
      go_duration_ms(too_big->get_header_value("x-ratelimit-reset-tokens")));
}

BOOST_AUTO_TEST_CASE(server_limit_window_counts_down_without_refill) {
  fixture f(limits_script);
  auto c = f.client();
  // refill: window — 3 requests and 100 tokens per fixed 60 s window.
  for (int i = 1; i <= 3; ++i) {
    BOOST_TEST_CONTEXT("request " << i) {
      auto res = post(c, request_body("fixed", false));
      BOOST_REQUIRE(res);
      BOOST_TEST(res->status == 200);
      BOOST_TEST(res->get_header_value("x-ratelimit-remaining-requests") ==
                 std::to_string(3 - i));
      BOOST_TEST(res->get_header_value("x-ratelimit-remaining-tokens") ==
                 std::to_string(100 - 9 * i));
      // Both budgets reset at the window's end.
      auto reset =
          go_duration_ms(res->get_header_value("x-ratelimit-reset-requests"));
      BOOST_TEST(reset > 59'000);
      BOOST_TEST(reset <= 60'000);
      BOOST_TEST(res->get_header_value("x-ratelimit-reset-tokens") ==
                 res->get_header_value("x-ratelimit-reset-requests"));
    }
  }
  auto refused = post(c, request_body("fixed", true));
  BOOST_REQUIRE(refused);
  BOOST_TEST(refused->status == 429);
  BOOST_TEST(refused->get_header_value("x-ratelimit-remaining-tokens") == "73");
  // Nothing comes back before the window's end.
  auto retry_ms = std::stoll(refused->get_header_value("retry-after-ms"));
  BOOST_TEST(retry_ms > 59'000);
  BOOST_TEST(go_duration_ms(refused->get_header_value(
                 "x-ratelimit-reset-requests")) == retry_ms);
  BOOST_TEST(refused->get_header_value("Retry-After") == "60");
  f.srv.stop();
  auto log = f.srv.arrivals();
  BOOST_REQUIRE(log.size() == 4u);
  // All four in one window, which starts at the first request.
  for (size_t i = 0; i < 4; ++i) {
    BOOST_TEST(log[i].limit_window_steady_us == log[0].steady_us);
  }
  BOOST_TEST(log[2].limit_requests_left == 0.0);
  BOOST_TEST(log[3].limit_requests_left == 0.0);
  BOOST_TEST(log[3].limit_tokens_left == 73.0);
}

BOOST_AUTO_TEST_CASE(server_limit_window_resets_after_its_length) {
  fixture f(limits_script);
  auto c = f.client();
  auto first = post(c, request_body("short", false));
  BOOST_TEST(first->status == 200);
  BOOST_TEST(first->get_header_value("x-ratelimit-remaining-requests") == "0");
  BOOST_TEST(go_duration_ms(
                 first->get_header_value("x-ratelimit-reset-requests")) == 300);
  auto refused = post(c, request_body("short", false));
  BOOST_REQUIRE(refused);
  BOOST_TEST(refused->status == 429);
  BOOST_TEST(refused->get_header_value("Retry-After") == "1"); // rounded up
  auto retry_ms = std::stoll(refused->get_header_value("retry-after-ms"));
  BOOST_TEST(retry_ms <= 300);
  // Waiting as long as the server said is enough.
  std::this_thread::sleep_for(milliseconds(retry_ms));
  auto again = post(c, request_body("short", false));
  BOOST_REQUIRE(again);
  BOOST_TEST(again->status == 200);
  BOOST_TEST(again->get_header_value("x-ratelimit-remaining-requests") == "0");
  f.srv.stop();
  auto log = f.srv.arrivals();
  BOOST_REQUIRE(log.size() == 3u);
  BOOST_TEST(log[1].outcome == "rate_limited");
  BOOST_TEST(log[1].limit_window_steady_us == log[0].limit_window_steady_us);
  // Fixed windows: the next one starts exactly one length later (or a
  // multiple of it), not at the request that opened it.
  auto gap = log[2].limit_window_steady_us - log[0].limit_window_steady_us;
  BOOST_TEST(gap >= 300'000);
  BOOST_TEST(gap % 300'000 == 0);
  BOOST_TEST(log[2].steady_us >= log[2].limit_window_steady_us);
}

BOOST_AUTO_TEST_CASE(server_limit_resets_use_openai_duration_syntax) {
  fixture f(limits_script);
  auto c = f.client();
  // A model's first request: a bucket of one request is empty for a whole
  // window; a fixed window has just opened.
  auto reset_of = [&](const std::string& model, const char* header) {
    auto res = post(c, request_body(model, false));
    BOOST_REQUIRE(res);
    return res->get_header_value(header);
  };
  BOOST_TEST(reset_of("m20ms", "x-ratelimit-reset-requests") == "20ms");
  BOOST_TEST(reset_of("m90s", "x-ratelimit-reset-requests") == "1m30.5s");
  BOOST_TEST(reset_of("m6m", "x-ratelimit-reset-tokens") == "6m0s");
  BOOST_TEST(reset_of("m1h", "x-ratelimit-reset-requests") == "1h0m0s");
  // One request of 3 per minute: 20 s; 6 + 2 tokens of 20 per minute: 24 s.
  BOOST_TEST(reset_of("rl", "x-ratelimit-reset-requests") == "20s");
  BOOST_TEST(reset_of("tok", "x-ratelimit-reset-tokens") == "24s");
}

BOOST_AUTO_TEST_CASE(server_limit_in_anthropic_form_resets_at_an_rfc3339_time) {
  fixture f(limits_script);
  auto c = f.client();
  // max_tokens 10: charged 6 + 10 = 16 of 100 tokens (per 60 s).
  auto first = post_anthropic(c, anthropic_body("rl", false, 10));
  BOOST_REQUIRE(first);
  BOOST_TEST(first->status == 200);
  BOOST_TEST(first->get_header_value("anthropic-ratelimit-requests-limit") ==
             "3");
  BOOST_TEST(
      first->get_header_value("anthropic-ratelimit-requests-remaining") == "2");
  BOOST_TEST(first->get_header_value("anthropic-ratelimit-tokens-limit") ==
             "100");
  BOOST_TEST(first->get_header_value("anthropic-ratelimit-tokens-remaining") ==
             "84");
  for (const char* name : openai_limit_headers) {
    BOOST_TEST(!first->has_header(name), name);
  }
  auto requests_text =
      first->get_header_value("anthropic-ratelimit-requests-reset");
  auto tokens_text =
      first->get_header_value("anthropic-ratelimit-tokens-reset");
  BOOST_TEST(rfc3339_ms(requests_text) > 0, requests_text);
  BOOST_TEST(rfc3339_ms(tokens_text) > 0, tokens_text);

  // max_tokens 100: charged 106, more than the whole budget: refused, told
  // the time until the token bucket is full.
  auto too_big = post_anthropic(c, anthropic_body("rl", true, 100));
  BOOST_REQUIRE(too_big);
  BOOST_TEST(too_big->status == 429);
  auto doc = parse_json(too_big->body);
  BOOST_TEST(doc["type"].GetString() == std::string("error"));
  BOOST_TEST(doc["error"]["type"].GetString() ==
             std::string("rate_limit_error"));
  BOOST_TEST(too_big->get_header_value(
                 "anthropic-ratelimit-requests-remaining") == "2");
  auto retry_ms = std::stoll(too_big->get_header_value("retry-after-ms"));
  BOOST_TEST(retry_ms <= 9600);
  BOOST_TEST(retry_ms > 8600);
  f.srv.stop();
  auto log = f.srv.arrivals();
  BOOST_REQUIRE(log.size() == 2u);
  // Full again at the refill rate, from the request's wall-clock time,
  // rounded up to the ms: 1 request at 20 s each, 16 tokens at 0.6 s each.
  BOOST_TEST(rfc3339_ms(requests_text) ==
             (log[0].unix_us + 20'000'000 + 999) / 1000);
  BOOST_TEST(rfc3339_ms(tokens_text) ==
             (log[0].unix_us + 9'600'000 + 999) / 1000);
  // Nothing taken since: the bucket is full at the same time (to the
  // millisecond the two clocks were read in).
  auto later =
      rfc3339_ms(too_big->get_header_value("anthropic-ratelimit-tokens-reset"));
  BOOST_TEST(std::abs(later - rfc3339_ms(tokens_text)) <= 1);
  BOOST_TEST(log[1].outcome == "rate_limited");
  BOOST_TEST(log[1].format == "anthropic");
}

BOOST_AUTO_TEST_CASE(server_limit_window_in_anthropic_form_resets_once) {
  fixture f(limits_script);
  auto c = f.client();
  auto first = post_anthropic(c, anthropic_body("fixed", false, 10));
  auto second = post_anthropic(c, anthropic_body("fixed", false, 10));
  BOOST_REQUIRE(first);
  BOOST_REQUIRE(second);
  f.srv.stop();
  auto log = f.srv.arrivals();
  BOOST_REQUIRE(log.size() == 2u);
  // Every reply of the window has its end, both budgets alike.
  const auto end_ms = (log[0].unix_us + 60'000'000 + 999) / 1000;
  for (const auto* res : {&first, &second}) {
    for (const char* name : {"anthropic-ratelimit-requests-reset",
                             "anthropic-ratelimit-tokens-reset"}) {
      BOOST_TEST(rfc3339_ms((*res)->get_header_value(name)) == end_ms, name);
    }
  }
}

BOOST_AUTO_TEST_CASE(server_limit_in_gemini_form_sends_no_headers_but_holds) {
  fixture f(limits_script);
  auto c = f.client();
  for (int i = 0; i < 3; ++i) {
    auto res = post_gemini(c, "rl", false, gemini_body(5));
    BOOST_REQUIRE(res);
    BOOST_TEST(res->status == 200);
    for (const auto& [name, value] : res->headers) {
      BOOST_TEST(name.find("ratelimit") == std::string::npos, name);
    }
  }
  auto refused = post_gemini(c, "rl", true, gemini_body(5));
  BOOST_REQUIRE(refused);
  BOOST_TEST(refused->status == 429);
  auto doc = parse_json(refused->body);
  BOOST_TEST(doc["error"]["status"].GetString() ==
             std::string("RESOURCE_EXHAUSTED"));
  // One request of 3 per minute comes back in 20 s.
  BOOST_TEST(doc["error"]["details"][0]["retryDelay"].GetString() ==
             std::string("20s"));
  f.srv.stop();
  BOOST_TEST(last_arrival(f.srv.arrivals()).outcome == "rate_limited");
}

BOOST_AUTO_TEST_CASE(server_limit_keys_are_read_and_checked) {
  auto s = fake::parse_script(R"(
models:
  a: {server_limit: {requests: 10, tokens: 5000, window: 1.5s}}
  b: {server_limit: {tokens: 7}}
  c: {}
  d: {server_limit: {requests: 1, refill: window}}
  e: {server_limit: {requests: 1, refill: continuous}}
)");
  BOOST_REQUIRE(s.models["a"].limit.has_value());
  BOOST_TEST(s.models["a"].limit->requests == 10);
  BOOST_TEST(s.models["a"].limit->tokens == 5000);
  BOOST_TEST(s.models["a"].limit->window_ms == 1500);
  BOOST_TEST((s.models["a"].limit->refill == fake::limit_refill::continuous));
  BOOST_REQUIRE(s.models["b"].limit.has_value());
  BOOST_TEST(s.models["b"].limit->requests == 0);
  BOOST_TEST(s.models["b"].limit->tokens == 7);
  BOOST_TEST(s.models["b"].limit->window_ms == 60'000); // a vendor's minute
  BOOST_TEST(!s.models["c"].limit.has_value());
  BOOST_TEST((s.models["d"].limit->refill == fake::limit_refill::window));
  BOOST_TEST((s.models["e"].limit->refill == fake::limit_refill::continuous));
  for (const char* bad :
       {"models: {a: {server_limit: {}}}",
        "models: {a: {server_limit: {window: 1s}}}",
        "models: {a: {server_limit: {requests: 0}}}",
        "models: {a: {server_limit: {requests: 1, window: 0ms}}}",
        "models: {a: {server_limit: {requests: 1, window: soon}}}",
        "models: {a: {server_limit: {requests: 1, per: 1s}}}",
        "models: {a: {server_limit: {requests: 1, refill: sliding}}}",
        "models: {a: {server_limit: {requests: 1, refill: [window]}}}",
        "models: {a: {server_limit: 10}}"}) {
    BOOST_CHECK_THROW(fake::parse_script(bad), std::runtime_error);
  }
}
