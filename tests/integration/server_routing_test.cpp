// Routed models (`models:`) through `tutti serve`, against two fake
// deployments, one failing: the public name is served by a deployment at a
// time, a failure falls over to the next within the deadline, a deployment
// whose breaker opened is skipped, weights share the traffic, and a
// wildcard passes the rest of the name on as the model.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <map>
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
  m-east: {reply: "from east"}
  m-west: {fail: {status: 500, message: "west is down"}}
  m-north: {reply: "from north"}
  m-south: {reply: "from south"}
)";

struct routing_fixture {
  fake::server upstream{fake::parse_script(upstream_script)};
  std::unique_ptr<engine> eng;
  std::unique_ptr<tutti::server> endpoint;
  std::unique_ptr<httplib::Client> client;

  routing_fixture() {
    upstream.start();
    auto provider = [&](const char* name, const char* model,
                        const char* extra = "") {
      return std::string{"  "} + name + ": {kind: openai, model: " + model +
             ", base_url: \"" + upstream.base_url() +
             "\", api_key: sk-t, retry: {attempts: 1}" + extra + "}\n";
    };
    auto yaml =
        "store: none\nproviders:\n" + provider("east", "m-east") +
        provider("west", "m-west", ", breaker: {failures: 2, cooldown: 60s}") +
        provider("north", "m-north") + provider("south", "m-south") +
        "models:\n"
        "  gpt-4o:\n"
        "    deployments: [{provider: west, weight: 100}, east]\n"
        "  shared:\n"
        "    deployments: [{provider: north, weight: 3}, south]\n"
        "  \"fake/*\":\n"
        "    deployments: [north]\n"
        "    strategy: least_busy\n";
    eng = std::make_unique<engine>(engine::from_yaml(yaml));
    server_options options;
    options.port = 0;
    endpoint = std::make_unique<tutti::server>(*eng, options);
    endpoint->start();
    client = std::make_unique<httplib::Client>("127.0.0.1", endpoint->port());
    client->set_read_timeout(10s);
  }

  httplib::Result chat(const std::string& model) {
    return client->Post(
        "/v1/chat/completions",
        R"({"model": ")" + model +
            R"(", "messages": [{"role": "user", "content": "hi"}]})",
        "application/json");
  }

  int arrivals_for(const std::string& model) {
    int n = 0;
    for (auto& a : upstream.arrivals())
      n += a.model == model;
    return n;
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

} // namespace

BOOST_FIXTURE_TEST_SUITE(server_routing, routing_fixture)

BOOST_AUTO_TEST_CASE(
    a_failed_deployment_falls_over_and_an_open_breaker_is_skipped) {
  // west has weight 100 of 101: nearly always tried first, and it fails.
  for (int i = 0; i < 6; ++i) {
    auto r = chat("gpt-4o");
    BOOST_REQUIRE(r);
    BOOST_REQUIRE_EQUAL(r->status, 200);
    auto doc = parsed(r->body);
    BOOST_TEST(str(doc["choices"][0]["message"]["content"]) == "from east");
    BOOST_TEST(str(doc["model"]) == "gpt-4o");
  }
  // After two failures west's breaker opened: it went last from then on
  // and was not called again, whatever its weight.
  BOOST_TEST(arrivals_for("m-west") <= 2);
  BOOST_TEST(arrivals_for("m-east") == 6);
  auto last = parsed(chat("gpt-4o")->body);
  BOOST_TEST(str(last["ensemble"]["members"][0]["member"]) == "east");
  BOOST_TEST(str(last["ensemble"]["status"]) == "ok");
}

BOOST_AUTO_TEST_CASE(weights_share_the_traffic) {
  const int asks = 60;
  for (int i = 0; i < asks; ++i) {
    auto r = chat("shared");
    BOOST_REQUIRE(r);
    BOOST_REQUIRE_EQUAL(r->status, 200);
  }
  auto north = arrivals_for("m-north");
  BOOST_TEST(north + arrivals_for("m-south") == asks);
  // 3:1, so 45 expected; the standard deviation is 3.4.
  BOOST_TEST(north > 30);
  BOOST_TEST(north < 58);
}

BOOST_AUTO_TEST_CASE(a_wildcard_passes_the_rest_of_the_name_as_the_model) {
  auto r = chat("fake/m-south");
  BOOST_REQUIRE(r);
  BOOST_REQUIRE_EQUAL(r->status, 200);
  auto doc = parsed(r->body);
  // north's deployment was asked for m-south, which the fake answers so.
  BOOST_TEST(str(doc["choices"][0]["message"]["content"]) == "from south");
  BOOST_TEST(str(doc["ensemble"]["members"][0]["provider"]) == "north");
  BOOST_TEST(str(doc["ensemble"]["members"][0]["model"]) == "m-south");
  auto unknown = chat("nope/m-south");
  BOOST_REQUIRE(unknown);
  BOOST_TEST(unknown->status == 404);
  BOOST_TEST(unknown->body.find("or a routed model (fake/*, gpt-4o, shared)") !=
             std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
