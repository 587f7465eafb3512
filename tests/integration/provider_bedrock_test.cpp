// kind: bedrock end to end: the engine against the fake upstream speaking
// Bedrock's Converse wire (whole bodies and binary AWS event streams),
// through its faults, and against a recording server that checks the SigV4
// signature of what really arrived.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "plugins/codecs/bedrock/sigv4.hpp"
#include "tests/integration/fake_upstream_fixture.hpp"
#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/config.hpp"
#include "tutti/engine.hpp"

using namespace tutti;

namespace {

const std::string secret_access_key =
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const std::string session_token = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN";

const char* upstream_script = R"(
models:
  "anthropic.claude-3-5-sonnet-20240620-v1:0": {reply: "Paris is the capital of France."}
  ragged:    {reply: "Grüße aus Köln — 東京 🌸 done.", split_chunks: true, split_seed: 7}
  cut:       {reply: "one two three four five", truncate_after_tokens: 2}
  open-end:  {reply: "one two three", end_without_terminator: true}
  garbled:   {reply: "Paris.", malformed: true}
  midfail:   {reply: "one two three four", error_event_after_tokens: 2}
  throttled: {reply: "after the pause", fail: {status: 429, times: 1}}
  denied:    {fail: {status: 403}}
  leaky:     {fail: {status: 400, message: "signature for wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY and FwoGZXIvYXdzEXAMPLESESSIONTOKEN does not match"}}
)";

struct bedrock_fixture {
  fake::server upstream{fake::parse_script(upstream_script)};

  bedrock_fixture() {
    upstream.start();
    ::setenv("TUTTI_TEST_AWS_KEY_ID", "AKIDEXAMPLE", 1);
    ::setenv("TUTTI_TEST_AWS_SECRET", secret_access_key.c_str(), 1);
    ::setenv("TUTTI_TEST_AWS_TOKEN", session_token.c_str(), 1);
  }

  ~bedrock_fixture() {
    ::unsetenv("TUTTI_TEST_AWS_KEY_ID");
    ::unsetenv("TUTTI_TEST_AWS_SECRET");
    ::unsetenv("TUTTI_TEST_AWS_TOKEN");
  }

  /// One bedrock provider `p` on `model` at `base_url`, alone in `e`.
  static config make_config(const std::string& model,
                            const std::string& base_url) {
    std::string yaml =
        "providers:\n"
        "  p:\n"
        "    kind: bedrock\n"
        "    model: \"" +
        model +
        "\"\n"
        "    base_url: \"" +
        base_url +
        "\"\n"
        "    region: us-east-1\n"
        "    access_key_id: ${TUTTI_TEST_AWS_KEY_ID}\n"
        "    secret_access_key: ${TUTTI_TEST_AWS_SECRET}\n"
        "    session_token: ${TUTTI_TEST_AWS_TOKEN}\n"
        "    max_tokens: 256\n"
        "    retry: {attempts: 3, backoff: 20ms, max_backoff: 100ms}\n"
        "ensembles:\n"
        "  e: {members: [p], deadline: 10s}\n";
    return parse_config(yaml, "bedrock.yaml");
  }

  struct result {
    member_outcome outcome;
    std::string streamed;
  };

  result ask(const std::string& model, bool stream, bool watch = true) {
    engine eng{make_config(model, upstream.root_url())};
    result r;
    ask_options options;
    options.stream = stream;
    if (watch) {
      options.on_delta = [&](const member_delta& d) { r.streamed += d.text; };
    }
    auto answer = eng.ask("e", "hello", options).get();
    BOOST_REQUIRE(answer.members.size() == 1u);
    r.outcome = answer.members[0];
    return r;
  }

  std::vector<fake::arrival> arrivals_of(const std::string& model) {
    return fake_upstream::arrivals_of(upstream, model);
  }
};

const std::string model_id = "anthropic.claude-3-5-sonnet-20240620-v1:0";

} // namespace

BOOST_FIXTURE_TEST_SUITE(provider_bedrock_tests, bedrock_fixture)

BOOST_AUTO_TEST_CASE(whole_and_streamed_answers_carry_text_and_usage) {
  for (bool stream : {false, true}) {
    BOOST_TEST_CONTEXT("stream " << stream) {
      auto r = ask(model_id, stream);
      BOOST_TEST(r.outcome.ok, r.outcome.error.message);
      BOOST_TEST(r.outcome.reply.text == "Paris is the capital of France.");
      BOOST_TEST(r.outcome.reply.finish_reason == "stop");
      BOOST_TEST(r.outcome.reply.usage.input_tokens > 0);
      BOOST_TEST(r.outcome.reply.usage.output_tokens > 0);
      if (stream) {
        BOOST_TEST(r.streamed == r.outcome.reply.text);
      }
    }
  }
  auto seen = arrivals_of(model_id);
  BOOST_REQUIRE(seen.size() == 2u);
  for (const auto& a : seen) {
    BOOST_TEST(a.format == "bedrock");
    BOOST_TEST(a.api_key); // the Authorization header
    BOOST_TEST(a.outcome == "ok");
  }
  BOOST_TEST(!seen[0].stream);
  BOOST_TEST(seen[1].stream);
  BOOST_TEST(seen[1].path == "/model/" + model_id + "/converse-stream");
}

BOOST_AUTO_TEST_CASE(an_event_stream_cut_anywhere_decodes_exactly) {
  auto r = ask("ragged", true);
  BOOST_TEST(r.outcome.ok, r.outcome.error.message);
  BOOST_TEST(r.outcome.reply.text == "Grüße aus Köln — 東京 🌸 done.");
  BOOST_TEST(r.streamed == r.outcome.reply.text);
}

BOOST_AUTO_TEST_CASE(a_stream_cut_after_text_fails_keeping_it) {
  auto r = ask("cut", true);
  BOOST_TEST(!r.outcome.ok);
  BOOST_TEST(r.outcome.error.partial_text == "one two ");
  BOOST_TEST(r.outcome.error.attempts == 1);
}

BOOST_AUTO_TEST_CASE(a_stream_without_its_metadata_event_is_incomplete) {
  auto r = ask("open-end", true);
  BOOST_TEST(!r.outcome.ok);
  BOOST_TEST(r.outcome.error.kind == failure_kind::protocol);
  BOOST_TEST(r.outcome.error.message.find("end marker") != std::string::npos,
             r.outcome.error.message);
}

BOOST_AUTO_TEST_CASE(a_bad_checksum_is_a_protocol_failure) {
  auto r = ask("garbled", true);
  BOOST_TEST(!r.outcome.ok);
  BOOST_TEST(r.outcome.error.kind == failure_kind::protocol);
  BOOST_TEST(r.outcome.error.message.find("checksum") != std::string::npos,
             r.outcome.error.message);
  auto whole = ask("garbled", false);
  BOOST_TEST(!whole.outcome.ok);
  BOOST_TEST(whole.outcome.error.kind == failure_kind::protocol);
}

BOOST_AUTO_TEST_CASE(an_exception_inside_the_stream_fails_keeping_text) {
  auto r = ask("midfail", true);
  BOOST_TEST(!r.outcome.ok);
  BOOST_TEST(r.outcome.error.kind == failure_kind::server);
  BOOST_TEST(r.outcome.error.message.find("modelStreamErrorException") !=
                 std::string::npos,
             r.outcome.error.message);
  BOOST_TEST(r.outcome.error.partial_text == "one two ");
  BOOST_TEST(r.outcome.error.attempts == 1);
}

BOOST_AUTO_TEST_CASE(throttling_is_retried_until_an_attempt_succeeds) {
  auto r = ask("throttled", false);
  BOOST_TEST(r.outcome.ok, r.outcome.error.message);
  BOOST_TEST(r.outcome.reply.text == "after the pause");
  BOOST_TEST(r.outcome.reply.attempts == 2);
  auto seen = arrivals_of("throttled");
  BOOST_REQUIRE(seen.size() == 2u);
  BOOST_TEST(seen[0].status == 429);
  BOOST_TEST(seen[1].status == 200);
}

BOOST_AUTO_TEST_CASE(refused_credentials_are_an_auth_failure_not_retried) {
  auto r = ask("denied", false);
  BOOST_TEST(!r.outcome.ok);
  BOOST_TEST(r.outcome.error.kind == failure_kind::auth);
  BOOST_TEST(r.outcome.error.http_status == 403);
  BOOST_TEST(r.outcome.error.attempts == 1);
}

BOOST_AUTO_TEST_CASE(credentials_echoed_by_the_upstream_are_redacted) {
  auto r = ask("leaky", false);
  BOOST_TEST(!r.outcome.ok);
  BOOST_TEST(r.outcome.error.kind == failure_kind::bad_request);
  const auto& message = r.outcome.error.message;
  BOOST_TEST(message.find(secret_access_key) == std::string::npos, message);
  BOOST_TEST(message.find("wJalrXUtnFEMI") == std::string::npos, message);
  BOOST_TEST(message.find(session_token) == std::string::npos, message);
  BOOST_TEST(message.find("does not match") != std::string::npos, message);
}

// A server that keeps what arrived and answers with a Converse reply, so the
// test can check the signature against the request as sent on the wire.
BOOST_AUTO_TEST_CASE(requests_arrive_signed_with_sigv4) {
  struct seen_request {
    std::string method;
    std::string target;
    httplib::Headers headers;
    std::string body;
  };
  std::mutex mtx;
  std::vector<seen_request> seen;
  httplib::Server recorder;
  recorder.Post(R"(/model/.+)", [&](const httplib::Request& req,
                                    httplib::Response& res) {
    {
      std::lock_guard<std::mutex> lock{mtx};
      seen.push_back({req.method, req.target, req.headers, req.body});
    }
    res.set_content(
        R"({"output":{"message":{"role":"assistant","content":[{"text":"ok"}]}},)"
        R"("stopReason":"end_turn","usage":{"inputTokens":3,"outputTokens":1,)"
        R"("totalTokens":4},"metrics":{"latencyMs":5}})",
        "application/json");
  });
  int port = recorder.bind_to_any_port("127.0.0.1");
  std::thread serving{[&] { recorder.listen_after_bind(); }};
  for (int i = 0; i < 1000 && !recorder.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  auto base = "http://127.0.0.1:" + std::to_string(port);
  member_outcome outcome;
  {
    engine eng{make_config(model_id, base)};
    auto answer = eng.ask("e", "What is the capital of France?").get();
    BOOST_REQUIRE(answer.members.size() == 1u);
    outcome = answer.members[0];
  }
  recorder.stop();
  serving.join();
  BOOST_TEST(outcome.ok, outcome.error.message);
  BOOST_REQUIRE(seen.size() == 1u);
  const auto& req = seen[0];
  BOOST_TEST(req.target ==
             "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse");
  auto value = [&](const std::string& name) {
    auto found = req.headers.find(name);
    return found == req.headers.end() ? std::string{} : found->second;
  };
  auto authorization = value("Authorization");
  auto date = value("X-Amz-Date");
  BOOST_REQUIRE(date.size() == 16u);
  BOOST_TEST(value("X-Amz-Security-Token") == session_token);
  auto prefix = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + date.substr(0, 8) +
                "/us-east-1/bedrock/aws4_request, SignedHeaders=";
  BOOST_TEST(authorization.rfind(prefix, 0) == 0u, authorization);
  BOOST_TEST(authorization.find(secret_access_key) == std::string::npos);
  // Sign what arrived again, with the signed headers only, at the time it
  // names: the signatures agree, so nothing signed changed on the way.
  auto names_at = authorization.find("SignedHeaders=") + 14;
  auto names = authorization.substr(
      names_at, authorization.find(',', names_at) - names_at);
  http_request again;
  again.method = req.method;
  again.url = base + req.target;
  again.body = req.body;
  std::size_t start = 0;
  while (start <= names.size()) {
    auto end = names.find(';', start);
    auto name = names.substr(start, end - start);
    if (name != "x-amz-date" && name != "x-amz-security-token") {
      again.headers.emplace_back(name, value(name));
    }
    if (end == std::string::npos) {
      break;
    }
    start = end + 1;
  }
  std::tm utc{};
  strptime(date.c_str(), "%Y%m%dT%H%M%SZ", &utc);
  sigv4::sign(again, {"AKIDEXAMPLE", secret_access_key, session_token},
              {"us-east-1", "bedrock"}, static_cast<int64_t>(timegm(&utc)));
  auto* expected = find_header(again.headers, "Authorization");
  BOOST_REQUIRE(expected != nullptr);
  BOOST_TEST(*expected == authorization);
}

BOOST_AUTO_TEST_SUITE_END()
