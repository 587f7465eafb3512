// Ensembles a request defines (`tutti.ensemble`) through `tutti serve`:
// read and checked exactly as the YAML's are (a 400 naming the field), run
// like the config's (members, failures, strategy, streams with each
// member's progress), in each client API, and refused when the server says
// so.

#include <boost/test/unit_test.hpp>

#include <chrono>
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
  m-paris: {reply: "Paris"}
  m-paris2: {reply: "Paris"}
  m-rome: {reply: "Rome"}
  m-broken: {fail: {status: 500, message: "down"}}
)";

struct inline_fixture {
  fake::server upstream{fake::parse_script(upstream_script)};
  std::unique_ptr<engine> eng;
  std::unique_ptr<tutti::server> endpoint;
  std::unique_ptr<httplib::Client> client;

  explicit inline_fixture(bool allowed = true) {
    upstream.start();
    std::string yaml = "store: none\nproviders:\n";
    for (auto* m : {"paris", "paris2", "rome", "broken"})
      yaml += std::string{"  "} + m + ": {kind: openai, model: m-" + m +
              ", base_url: \"" + upstream.base_url() +
              "\", api_key: sk-t, retry: {attempts: 1}}\n";
    yaml += "ensembles:\n  duo: {members: [paris, rome], combine: first}\n";
    eng = std::make_unique<engine>(engine::from_yaml(yaml));
    server_options options;
    options.port = 0;
    options.inline_ensembles = allowed;
    endpoint = std::make_unique<tutti::server>(*eng, options);
    endpoint->start();
    client = std::make_unique<httplib::Client>("127.0.0.1", endpoint->port());
    client->set_read_timeout(10s);
  }

  httplib::Result chat(const std::string& model, const std::string& ensemble,
                       const std::string& extra = "") {
    return client->Post(
        "/v1/chat/completions",
        R"({"model": ")" + model +
            R"(", "messages": [{"role": "user", "content": "Capital of France?"}],
              "tutti": {"ensemble": )" +
            ensemble + "}" + extra + "}",
        "application/json");
  }
};

struct refusing_fixture : inline_fixture {
  refusing_fixture() : inline_fixture(false) {}
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

} // namespace

BOOST_FIXTURE_TEST_SUITE(server_inline_ensembles, inline_fixture)

BOOST_AUTO_TEST_CASE(a_vote_of_the_requests_own_runs_with_its_failures_listed) {
  auto r = chat("my-vote", R"({"members": ["paris", "rome", "paris2",
      "broken"], "combine": "vote", "until": "all", "deadline": "5s"})");
  BOOST_REQUIRE(r);
  BOOST_REQUIRE_EQUAL(r->status, 200);
  auto doc = parsed(r->body);
  BOOST_TEST(str(doc["choices"][0]["message"]["content"]) == "Paris");
  BOOST_TEST(str(doc["model"]) == "my-vote");
  auto& e = doc["ensemble"];
  BOOST_TEST(str(e["ensemble"]) == "my-vote");
  BOOST_TEST(str(e["status"]) == "partial");
  BOOST_TEST(str(e["combine"]) == "vote");
  BOOST_TEST(e["members"].Size() == 4u);
  BOOST_TEST(r->get_header_value("x-tutti-members-ok") == "3");
  BOOST_TEST(r->get_header_value("x-tutti-members-failed") == "1");
  BOOST_TEST(!r->get_header_value("x-tutti-run-id").empty());
}

BOOST_AUTO_TEST_CASE(a_streamed_one_sends_each_members_progress_when_asked) {
  auto plain = client->Post("/v1/chat/completions",
                            R"({"model": "mine", "stream": true,
          "messages": [{"role": "user", "content": "Capital of France?"}],
          "tutti": {"members": true, "ensemble": {"members": ["paris", "rome"],
                    "mode": "fallback", "combine": "first"}}})",
                            "application/json");
  BOOST_REQUIRE(plain);
  BOOST_REQUIRE_EQUAL(plain->status, 200);
  BOOST_TEST(has(plain->body, R"("member_done":{"member":"paris")"));
  BOOST_TEST(has(plain->body, R"("content":"Paris")"));
  BOOST_TEST(has(plain->body, "data: [DONE]"));
  // Fallback: rome was never needed, so never asked.
  BOOST_TEST(!has(plain->body, R"("member_done":{"member":"rome")"));
  for (auto& a : upstream.arrivals())
    BOOST_TEST(a.model != "m-rome");
}

BOOST_AUTO_TEST_CASE(every_client_api_takes_one) {
  auto responses =
      client->Post("/v1/responses",
                   R"({"model": "pair", "input": "Capital of France?",
          "tutti": {"ensemble": {"members": ["paris", "paris2"],
                                 "combine": "vote"}}})",
                   "application/json");
  BOOST_REQUIRE(responses);
  BOOST_REQUIRE_EQUAL(responses->status, 200);
  auto r = parsed(responses->body);
  BOOST_TEST(str(r["output"][0]["content"][0]["text"]) == "Paris");
  BOOST_TEST(r["ensemble"]["agreement"].GetDouble() == 1.0);
  auto messages = client->Post("/v1/messages",
                               R"({"model": "pair", "max_tokens": 20,
          "messages": [{"role": "user", "content": "Capital of France?"}],
          "tutti": {"ensemble": {"members": ["rome"]}}})",
                               "application/json");
  BOOST_REQUIRE(messages);
  BOOST_REQUIRE_EQUAL(messages->status, 200);
  BOOST_TEST(has(messages->body, "Rome"));
}

BOOST_AUTO_TEST_CASE(it_is_checked_as_the_yaml_is_and_a_400_names_the_field) {
  struct row {
    const char* model;
    const char* ensemble;
    const char* says;
    const char* param;
  } rows[] = {
      {"x", R"({"members": ["paris", "nobody"]})",
       "tutti.ensemble.members[1]: unknown provider 'nobody'",
       "tutti.ensemble"},
      {"x", R"({"members": ["paris"], "combine": "judge"})",
       "missing required key 'judge'", "tutti.ensemble"},
      {"x", R"({"members": ["paris"], "until": {"quorum": 3}})", "quorum",
       "tutti.ensemble"},
      {"x", R"({"members": ["paris"], "colour": "red"})", "colour",
       "tutti.ensemble"},
      {"x", R"({"members": ["paris"], "budget": {"day": 1}})",
       "tutti.ensemble.budget: an ensemble defined in a request",
       "tutti.ensemble"},
      {"x", R"(["paris"])", "tutti.ensemble: expected an object",
       "tutti.ensemble"},
      {"duo", R"({"members": ["paris"]})", "is the name of the config's",
       "model"},
      {"ensemble/duo", R"({"members": ["paris"]})",
       "is the name of the config's", "model"},
  };
  for (auto& row : rows) {
    auto r = chat(row.model, row.ensemble);
    BOOST_REQUIRE(r);
    BOOST_TEST_CONTEXT(row.ensemble << " -> " << r->body) {
      BOOST_TEST(r->status == 400);
      BOOST_TEST(has(r->body, row.says));
      BOOST_TEST(has(r->body, std::string{"\"param\":\""} + row.param));
    }
  }
  auto again = client->Post(
      "/v1/chat/completions",
      R"({"model": "x", "messages": [{"role": "user", "content": "?"}],
          "tutti": {"combine": "vote", "ensemble": {"members": ["paris"]}}})",
      "application/json");
  BOOST_REQUIRE(again);
  BOOST_TEST(again->status == 400);
  BOOST_TEST(has(again->body, "give the strategy inside tutti.ensemble"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(server_inline_ensembles_refused, refusing_fixture)

BOOST_AUTO_TEST_CASE(a_server_that_takes_none_answers_403_and_asks_nothing) {
  auto before = upstream.arrivals().size();
  auto r = chat("x", R"({"members": ["paris"]})");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 403);
  BOOST_TEST(has(r->body, "inline_ensembles_disabled"));
  BOOST_TEST(upstream.arrivals().size() == before);
  // Its own ensembles still answer.
  auto own = client->Post(
      "/v1/chat/completions",
      R"({"model": "ensemble/duo", "messages": [{"role": "user", "content": "?"}]})",
      "application/json");
  BOOST_REQUIRE(own);
  BOOST_TEST(own->status == 200);
}

BOOST_AUTO_TEST_SUITE_END()
