// Log probabilities and several choices through `tutti serve`: an
// OpenAI-format provider asked with `logprobs` returns each token's, whole
// and streamed (in the finish chunk), and asked with `n` returns n choices;
// an ensemble whose answer is a member's returns the winner's; a strategy
// that cannot, or a member whose vendor has no such field, is a 400 naming
// it. The legacy text completions answer in their own shape.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <memory>
#include <string>

#include <httplib.h>
#include <rapidjson/document.h>

#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/engine.hpp"
#include "tutti/server.hpp"

using namespace tutti;
using namespace std::chrono_literals;

namespace {

const char* upstream_script = R"(
models:
  alpha: {reply: "Paris is the capital."}
  bravo: {reply: "Paris is the capital."}
  rome: {reply: "Rome."}
  claude: {reply: "Paris is the capital."}
)";

struct logprobs_fixture {
  fake::server upstream{fake::parse_script(upstream_script)};
  std::unique_ptr<engine> eng;
  std::unique_ptr<tutti::server> endpoint;
  std::unique_ptr<httplib::Client> client;

  logprobs_fixture() {
    upstream.start();
    std::string yaml = "store: none\nproviders:\n";
    for (auto* m : {"alpha", "bravo", "rome"})
      yaml += std::string{"  "} + m + ": {kind: openai, model: " + m +
              ", base_url: \"" + upstream.base_url() + "\", api_key: sk-t}\n";
    yaml += "  claude: {kind: anthropic, model: claude, base_url: \"" +
            upstream.base_url() + "\", api_key: sk-t}\n";
    yaml += "ensembles:\n"
            "  poll: {members: [rome, alpha, bravo], combine: vote}\n"
            "  merged: {members: [alpha, bravo], combine: collect}\n"
            "  mixed: {members: [alpha, claude], combine: first}\n"
            "  quick: {members: [alpha, bravo], combine: first}\n";
    eng = std::make_unique<engine>(engine::from_yaml(yaml));
    server_options options;
    options.port = 0;
    endpoint = std::make_unique<tutti::server>(*eng, options);
    endpoint->start();
    client = std::make_unique<httplib::Client>("127.0.0.1", endpoint->port());
    client->set_read_timeout(10s);
  }

  httplib::Result
  chat(const std::string& model, bool stream = false,
       const std::string& asked = R"("logprobs": true, "top_logprobs": 2)") {
    return client->Post(
        "/v1/chat/completions",
        R"({"model": ")" + model +
            R"(", "messages": [{"role": "user", "content": "Capital of France?"}], )" +
            asked + (stream ? R"(, "stream": true)" : "") + "}",
        "application/json");
  }
};

rapidjson::Document parsed(const std::string& body) {
  rapidjson::Document doc;
  doc.Parse(body.c_str());
  BOOST_REQUIRE_MESSAGE(!doc.HasParseError(), body);
  return doc;
}

std::string str(const rapidjson::Value& v) {
  return v.IsString() ? std::string{v.GetString(), v.GetStringLength()}
                      : std::string{"<not a string>"};
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// The tokens of a `logprobs.content` array joined: the reply's text.
std::string joined_tokens(const rapidjson::Value& content) {
  std::string text;
  for (auto& entry : content.GetArray()) {
    text += str(entry["token"]);
    BOOST_CHECK(entry["logprob"].GetDouble() < 0);
    BOOST_CHECK_EQUAL(entry["top_logprobs"].Size(), 2u);
  }
  return text;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(server_sampling, logprobs_fixture)

BOOST_AUTO_TEST_CASE(a_provider_returns_each_tokens_log_probability) {
  auto r = chat("alpha");
  BOOST_REQUIRE(r);
  BOOST_REQUIRE_MESSAGE(r->status == 200, r->body);
  auto doc = parsed(r->body);
  auto& choice = doc["choices"][0];
  BOOST_REQUIRE(choice["logprobs"].IsObject());
  BOOST_CHECK_EQUAL(joined_tokens(choice["logprobs"]["content"]),
                    str(choice["message"]["content"]));
  // Asked of the vendor as the client asked.
  for (auto& a : upstream.arrivals())
    if (a.model == "alpha") {
      auto sent = parsed(a.body);
      BOOST_CHECK(sent["logprobs"].GetBool());
      BOOST_CHECK_EQUAL(sent["top_logprobs"].GetInt(), 2);
    }
}

BOOST_AUTO_TEST_CASE(a_stream_carries_them_in_its_finish_chunk) {
  auto r = chat("alpha", true);
  BOOST_REQUIRE(r);
  BOOST_REQUIRE_MESSAGE(r->status == 200, r->body);
  std::string text;
  std::string tokens;
  size_t at = 0;
  while ((at = r->body.find("data: {", at)) != std::string::npos) {
    auto end = r->body.find("\n\n", at);
    auto chunk = parsed(r->body.substr(at + 6, end - at - 6));
    at = end;
    if (!chunk["choices"].IsArray() || chunk["choices"].Empty())
      continue;
    auto& choice = chunk["choices"][0];
    if (choice["delta"].HasMember("content"))
      text += str(choice["delta"]["content"]);
    if (choice["logprobs"].IsObject())
      tokens += joined_tokens(choice["logprobs"]["content"]);
  }
  BOOST_CHECK_EQUAL(text, "Paris is the capital.");
  BOOST_CHECK_EQUAL(tokens, text);
}

BOOST_AUTO_TEST_CASE(an_ensemble_returns_the_winners) {
  auto r = chat("ensemble/poll");
  BOOST_REQUIRE(r);
  BOOST_REQUIRE_MESSAGE(r->status == 200, r->body);
  auto doc = parsed(r->body);
  auto& choice = doc["choices"][0];
  BOOST_CHECK_EQUAL(str(choice["message"]["content"]), "Paris is the capital.");
  BOOST_REQUIRE(choice["logprobs"].IsObject());
  BOOST_CHECK_EQUAL(joined_tokens(choice["logprobs"]["content"]),
                    "Paris is the capital.");
}

BOOST_AUTO_TEST_CASE(what_cannot_return_them_is_a_400) {
  auto merged = chat("ensemble/merged");
  BOOST_REQUIRE(merged);
  BOOST_CHECK_EQUAL(merged->status, 400);
  BOOST_CHECK(has(merged->body, R"("param":"logprobs")"));
  BOOST_CHECK(has(merged->body, "combine 'collect' writes an answer"));
  auto mixed = chat("ensemble/mixed");
  BOOST_REQUIRE(mixed);
  BOOST_CHECK_EQUAL(mixed->status, 400);
  BOOST_CHECK(has(mixed->body, R"("param":"logprobs")"));
  BOOST_CHECK(has(mixed->body, "provider 'claude' (kind anthropic)"));
}

BOOST_AUTO_TEST_CASE(n_choices_come_back_whole) {
  auto r = chat("alpha", false, R"("n": 3, "logprobs": true)");
  BOOST_REQUIRE(r);
  BOOST_REQUIRE_MESSAGE(r->status == 200, r->body);
  auto doc = parsed(r->body);
  auto& choices = doc["choices"];
  BOOST_REQUIRE_EQUAL(choices.Size(), 3u);
  const char* texts[] = {"Paris is the capital.", "Paris is the capital. [1]",
                         "Paris is the capital. [2]"};
  for (rapidjson::SizeType i = 0; i < 3; ++i) {
    BOOST_CHECK_EQUAL(choices[i]["index"].GetInt(), static_cast<int>(i));
    BOOST_CHECK_EQUAL(str(choices[i]["message"]["content"]), texts[i]);
    BOOST_CHECK_EQUAL(str(choices[i]["finish_reason"]), "stop");
    BOOST_REQUIRE(choices[i]["logprobs"].IsObject());
  }
  for (auto& a : upstream.arrivals())
    if (a.model == "alpha" && has(a.body, "\"n\""))
      BOOST_CHECK_EQUAL(parsed(a.body)["n"].GetInt(), 3);
}

BOOST_AUTO_TEST_CASE(n_choices_stream_by_index) {
  auto r = chat("alpha", true, R"("n": 2)");
  BOOST_REQUIRE(r);
  BOOST_REQUIRE_MESSAGE(r->status == 200, r->body);
  std::string text[2];
  std::string finish[2];
  size_t at = 0;
  while ((at = r->body.find("data: {", at)) != std::string::npos) {
    auto end = r->body.find("\n\n", at);
    auto chunk = parsed(r->body.substr(at + 6, end - at - 6));
    at = end;
    if (!chunk.HasMember("choices") || !chunk["choices"].IsArray())
      continue;
    for (auto& choice : chunk["choices"].GetArray()) {
      auto i = choice["index"].GetInt();
      BOOST_REQUIRE(i == 0 || i == 1);
      if (choice["delta"].HasMember("content"))
        text[i] += str(choice["delta"]["content"]);
      if (choice["finish_reason"].IsString())
        finish[i] = str(choice["finish_reason"]);
    }
  }
  BOOST_CHECK_EQUAL(text[0], "Paris is the capital.");
  BOOST_CHECK_EQUAL(text[1], "Paris is the capital. [1]");
  BOOST_CHECK_EQUAL(finish[0], "stop");
  BOOST_CHECK_EQUAL(finish[1], "stop");
  BOOST_CHECK(has(r->body, "data: [DONE]"));
}

BOOST_AUTO_TEST_CASE(n_goes_only_where_one_model_answers) {
  auto voted = chat("ensemble/poll", false, R"("n": 2)");
  BOOST_REQUIRE(voted);
  BOOST_CHECK_EQUAL(voted->status, 400);
  BOOST_CHECK(has(voted->body, R"("param":"n")"));
  BOOST_CHECK(has(voted->body, "combine 'vote' answers with one"));
  auto claude = chat("claude", false, R"("n": 2)");
  BOOST_REQUIRE(claude);
  BOOST_CHECK_EQUAL(claude->status, 400);
  BOOST_CHECK(has(claude->body, R"("param":"n")"));
  BOOST_CHECK(has(claude->body, "provider 'claude' (kind anthropic)"));
  // A first-answer ensemble passes them through from its winner.
  auto first = chat("ensemble/quick", false, R"("n": 2)");
  BOOST_REQUIRE(first);
  BOOST_REQUIRE_MESSAGE(first->status == 200, first->body);
  BOOST_CHECK_EQUAL(parsed(first->body)["choices"].Size(), 2u);
}

BOOST_AUTO_TEST_CASE(legacy_text_completions_answer_in_their_shape) {
  auto whole = client->Post(
      "/v1/completions",
      R"({"model": "alpha", "prompt": "Capital of France?", "n": 2})",
      "application/json");
  BOOST_REQUIRE(whole);
  BOOST_REQUIRE_MESSAGE(whole->status == 200, whole->body);
  BOOST_CHECK_EQUAL(whole->get_header_value("x-tutti-status"), "ok");
  auto doc = parsed(whole->body);
  BOOST_CHECK_EQUAL(str(doc["object"]), "text_completion");
  BOOST_CHECK(str(doc["id"]).rfind("cmpl-", 0) == 0);
  BOOST_REQUIRE_EQUAL(doc["choices"].Size(), 2u);
  BOOST_CHECK_EQUAL(str(doc["choices"][0]["text"]), "Paris is the capital.");
  BOOST_CHECK_EQUAL(str(doc["choices"][1]["text"]),
                    "Paris is the capital. [1]");
  BOOST_CHECK_EQUAL(doc["choices"][1]["index"].GetInt(), 1);
  BOOST_CHECK(doc["usage"]["completion_tokens"].GetInt() > 0);
  // The prompt reached the model as one user turn.
  for (auto& a : upstream.arrivals())
    if (a.model == "alpha" && has(a.body, "\"n\":2"))
      BOOST_CHECK_EQUAL(str(parsed(a.body)["messages"][0]["content"]),
                        "Capital of France?");

  auto streamed = client->Post(
      "/v1/completions",
      R"({"model": "ensemble/poll", "prompt": ["Capital of France?"],
          "stream": true, "stream_options": {"include_usage": true}})",
      "application/json");
  BOOST_REQUIRE(streamed);
  BOOST_REQUIRE_MESSAGE(streamed->status == 200, streamed->body);
  std::string text;
  std::string finish;
  bool usage = false;
  size_t at = 0;
  while ((at = streamed->body.find("data: {", at)) != std::string::npos) {
    auto end = streamed->body.find("\n\n", at);
    auto chunk = parsed(streamed->body.substr(at + 6, end - at - 6));
    at = end;
    BOOST_CHECK_EQUAL(str(chunk["object"]), "text_completion");
    if (chunk["choices"].Empty()) {
      usage = chunk["usage"]["total_tokens"].GetInt() > 0;
      continue;
    }
    text += str(chunk["choices"][0]["text"]);
    if (chunk["choices"][0]["finish_reason"].IsString())
      finish = str(chunk["choices"][0]["finish_reason"]);
  }
  BOOST_CHECK_EQUAL(text, "Paris is the capital.");
  BOOST_CHECK_EQUAL(finish, "stop");
  BOOST_CHECK(usage);
  BOOST_CHECK(has(streamed->body, "data: [DONE]"));

  struct refused {
    const char* body;
    const char* param;
  } rows[] = {
      {R"({"model": "alpha", "prompt": ["a", "b"]})", "prompt"},
      {R"({"model": "alpha", "prompt": [1, 2, 3]})", "prompt"},
      {R"({"model": "alpha"})", "prompt"},
      {R"({"model": "alpha", "prompt": "a", "logprobs": 2})", "logprobs"},
      {R"({"model": "alpha", "prompt": "a", "echo": true})", "echo"},
      {R"({"model": "alpha", "prompt": "a", "suffix": "b"})", "suffix"},
      {R"({"model": "alpha", "prompt": "a", "best_of": 3})", "best_of"},
      {R"({"model": "alpha", "prompt": "a", "tools": []})", "tools"},
  };
  for (auto& r : rows) {
    auto res = client->Post("/v1/completions", r.body, "application/json");
    BOOST_REQUIRE(res);
    BOOST_CHECK_MESSAGE(res->status == 400, r.body << ": " << res->status);
    BOOST_CHECK_MESSAGE(
        has(res->body, std::string{R"("param":")"} + r.param + '"'),
        r.body << ": " << res->body);
  }
}

BOOST_AUTO_TEST_SUITE_END()
