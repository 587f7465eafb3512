// Tools and structured output through `tutti serve`, as OpenAI clients send
// them: a provider asked alone passes the tools on and answers with the
// model's calls, whole and streamed (arguments assembled from their
// pieces); a vote counts calls by name and canonical arguments and JSON
// answers by canonical JSON; a strategy that writes its own answer, or a
// member whose codec cannot send tools, is a 400 that says so.

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
  paris: {tool_calls: [{name: get_weather, arguments: '{"city": "Paris", "unit": "c"}'}]}
  paris2: {tool_calls: [{name: get_weather, arguments: '{"unit":"c","city":"Paris"}'}]}
  lyon: {tool_calls: [{name: get_weather, arguments: '{"city":"Lyon","unit":"c"}'}]}
  obj1: {reply: '{"city": "Paris", "population": 2.1e6}'}
  obj2: {reply: '{"population":2100000,"city":"Paris"}'}
  obj3: {reply: '{"city":"Rome","population":2800000}'}
  claude: {reply: "Paris"}
)";

const char* tools_json = R"("tools": [{"type": "function", "function": {
  "name": "get_weather", "description": "Weather in a city",
  "parameters": {"type": "object", "properties": {"city": {"type": "string"},
  "unit": {"type": "string"}}, "required": ["city"]}}}])";

struct tools_fixture {
  fake::server upstream{fake::parse_script(upstream_script)};
  std::unique_ptr<engine> eng;
  std::unique_ptr<tutti::server> endpoint;
  std::unique_ptr<httplib::Client> client;

  tools_fixture() {
    upstream.start();
    std::string yaml = "store: none\nproviders:\n";
    for (auto* m : {"paris", "paris2", "lyon", "obj1", "obj2", "obj3"})
      yaml += std::string{"  "} + m + ": {kind: openai, model: " + m +
              ", base_url: \"" + upstream.base_url() + "\", api_key: sk-t}\n";
    yaml += "  claude: {kind: anthropic, model: claude, base_url: \"" +
            upstream.base_url() + "\", api_key: sk-t}\n";
    yaml += "  llama: {kind: ollama, model: claude, base_url: \"" +
            upstream.base_url() + "\"}\n";
    yaml += "ensembles:\n"
            "  weather: {members: [paris, lyon, paris2], combine: vote}\n"
            "  objects: {members: [obj1, obj3, obj2], combine: vote}\n"
            "  merged: {members: [paris, lyon], combine: collect}\n"
            "  mixed: {members: [paris, claude], combine: first}\n"
            "  local: {members: [paris, llama], combine: first}\n";
    eng = std::make_unique<engine>(engine::from_yaml(yaml));
    server_options options;
    options.port = 0;
    endpoint = std::make_unique<tutti::server>(*eng, options);
    endpoint->start();
    client = std::make_unique<httplib::Client>("127.0.0.1", endpoint->port());
    client->set_read_timeout(10s);
  }

  httplib::Result chat(const std::string& model, const std::string& extra,
                       bool stream = false) {
    return client->Post(
        "/v1/chat/completions",
        R"({"model": ")" + model +
            R"(", "messages": [{"role": "user", "content": "Weather in Paris?"}],)" +
            (stream ? R"("stream": true, )" : "") + extra + "}",
        "application/json");
  }

  /// The last request the fake received for `model`, parsed.
  rapidjson::Document sent_to(const std::string& model) {
    rapidjson::Document doc;
    for (auto& a : upstream.arrivals())
      if (a.model == model)
        doc.Parse(a.body.c_str());
    return doc;
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

} // namespace

BOOST_FIXTURE_TEST_SUITE(server_tools, tools_fixture)

BOOST_AUTO_TEST_CASE(a_provider_alone_passes_tools_on_and_answers_with_calls) {
  auto r =
      chat("paris", std::string{tools_json} + R"(, "tool_choice": "required")");
  BOOST_REQUIRE(r);
  BOOST_REQUIRE_EQUAL(r->status, 200);
  auto doc = parsed(r->body);
  auto& choice = doc["choices"][0];
  BOOST_TEST(str(choice["finish_reason"]) == "tool_calls");
  BOOST_TEST(choice["message"]["content"].IsNull());
  auto& call = choice["message"]["tool_calls"][0];
  BOOST_TEST(str(call["type"]) == "function");
  BOOST_TEST(str(call["function"]["name"]) == "get_weather");
  BOOST_TEST(str(call["function"]["arguments"]) ==
             R"({"city": "Paris", "unit": "c"})");
  BOOST_TEST(!str(call["id"]).empty());
  // What the vendor was sent: the tools and the choice, as given.
  auto sent = sent_to("paris");
  BOOST_TEST(str(sent["tools"][0]["function"]["name"]) == "get_weather");
  BOOST_TEST(str(sent["tools"][0]["function"]["parameters"]["required"][0]) ==
             "city");
  BOOST_TEST(str(sent["tool_choice"]) == "required");
}

BOOST_AUTO_TEST_CASE(a_streamed_call_arrives_whole_before_the_finish) {
  auto r = chat("paris", tools_json, true);
  BOOST_REQUIRE(r);
  BOOST_REQUIRE_EQUAL(r->status, 200);
  // The upstream streamed the arguments in pieces of 4 bytes; the client
  // gets them assembled, in one tool_calls delta, then finish_reason.
  auto at = r->body.find(R"("tool_calls":[{"index":0)");
  BOOST_REQUIRE(at != std::string::npos);
  BOOST_TEST(
      has(r->body, R"("arguments":"{\"city\": \"Paris\", \"unit\": \"c\"}")"));
  auto finish = r->body.find(R"("finish_reason":"tool_calls")");
  BOOST_TEST((finish != std::string::npos && finish > at));
  BOOST_TEST(has(r->body, "data: [DONE]"));
}

BOOST_AUTO_TEST_CASE(a_tool_turn_goes_back_to_the_vendor) {
  auto r = client->Post("/v1/chat/completions",
                        R"({"model": "paris",
    "messages": [{"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "call_9",
        "type": "function", "function": {"name": "get_weather",
        "arguments": "{\"city\":\"Paris\"}"}}]},
      {"role": "tool", "tool_call_id": "call_9", "content": "18 C"}],)" +
                            std::string{tools_json} + "}",
                        "application/json");
  BOOST_REQUIRE(r);
  BOOST_REQUIRE_EQUAL(r->status, 200);
  auto sent = sent_to("paris");
  auto& turns = sent["messages"];
  BOOST_REQUIRE(turns.Size() == 3u);
  BOOST_TEST(str(turns[1]["tool_calls"][0]["id"]) == "call_9");
  BOOST_TEST(str(turns[2]["role"]) == "tool");
  BOOST_TEST(str(turns[2]["tool_call_id"]) == "call_9");
}

BOOST_AUTO_TEST_CASE(a_vote_counts_calls_by_name_and_canonical_arguments) {
  auto r = chat("ensemble/weather", tools_json);
  BOOST_REQUIRE(r);
  BOOST_REQUIRE_EQUAL(r->status, 200);
  auto doc = parsed(r->body);
  auto& message = doc["choices"][0]["message"];
  // paris and paris2 spell the same call differently; they outvote lyon.
  BOOST_TEST(str(message["tool_calls"][0]["function"]["arguments"]) ==
             R"({"city": "Paris", "unit": "c"})");
  auto& votes = doc["ensemble"]["votes"];
  BOOST_REQUIRE(votes.Size() == 2u);
  BOOST_TEST(votes[0]["members"].Size() == 2u);
  BOOST_TEST(str(doc["choices"][0]["finish_reason"]) == "tool_calls");
}

BOOST_AUTO_TEST_CASE(a_vote_counts_json_answers_by_canonical_json) {
  auto r =
      chat("ensemble/objects", R"("response_format": {"type": "json_object"})");
  BOOST_REQUIRE(r);
  BOOST_REQUIRE_EQUAL(r->status, 200);
  auto doc = parsed(r->body);
  BOOST_TEST(str(doc["choices"][0]["message"]["content"]) ==
             R"({"city": "Paris", "population": 2.1e6})");
  BOOST_TEST(doc["ensemble"]["agreement"].GetDouble() > 0.6);
  auto sent = sent_to("obj3");
  BOOST_TEST(str(sent["response_format"]["type"]) == "json_object");
}

BOOST_AUTO_TEST_CASE(what_a_target_cannot_honour_is_a_400_that_says_why) {
  auto merged = chat("ensemble/merged", tools_json);
  BOOST_REQUIRE(merged);
  BOOST_TEST(merged->status == 400);
  BOOST_TEST(
      has(merged->body, "combine 'collect' writes an answer of its own"));
  // Anthropic takes tools but no response format.
  auto mixed =
      chat("ensemble/mixed", R"("response_format": {"type": "json_object"})");
  BOOST_REQUIRE(mixed);
  BOOST_TEST(mixed->status == 400);
  BOOST_TEST(has(mixed->body, "provider 'claude' (kind anthropic) cannot be "
                              "sent a JSON response_format"));
  BOOST_TEST(has(mixed->body, R"("param":"response_format")"));
  // Ollama takes tools, but cannot be made to call one.
  auto forced = chat("ensemble/local", std::string{tools_json} +
                                           R"(, "tool_choice": "required")");
  BOOST_REQUIRE(forced);
  BOOST_TEST(forced->status == 400);
  BOOST_TEST(has(forced->body, "provider 'llama' (kind ollama) cannot be sent "
                               "a tool_choice that forces a call"));
  // A field the vendor has no place for is named.
  auto penalty = chat("ensemble/mixed", R"("frequency_penalty": 0.5)");
  BOOST_REQUIRE(penalty);
  BOOST_TEST(penalty->status == 400);
  BOOST_TEST(has(penalty->body, R"("param":"frequency_penalty")"));
  BOOST_TEST(has(penalty->body, "provider 'claude' (kind anthropic) cannot "
                                "be sent frequency_penalty"));
  // Nothing went upstream for any of them.
  for (auto& a : upstream.arrivals())
    BOOST_TEST(a.model != "claude");
}

BOOST_AUTO_TEST_CASE(penalties_and_reasoning_effort_reach_an_openai_vendor) {
  auto r = client->Post("/v1/chat/completions", R"({"model": "obj1",
    "messages": [{"role": "user", "content": "Hi"}], "frequency_penalty": 0.5,
    "presence_penalty": -1, "reasoning_effort": "high"})",
                        "application/json");
  BOOST_REQUIRE(r);
  BOOST_REQUIRE_EQUAL(r->status, 200);
  auto sent = sent_to("obj1");
  BOOST_TEST(sent["frequency_penalty"].GetDouble() == 0.5);
  BOOST_TEST(sent["presence_penalty"].GetDouble() == -1.0);
  BOOST_TEST(str(sent["reasoning_effort"]) == "high");
}

BOOST_AUTO_TEST_SUITE_END()
