// Images through `tutti serve`: a question with a picture reaches every
// member of an ensemble in its own vendor's shape (OpenAI, Anthropic,
// Gemini, Ollama and Bedrock behind one request), by URL only to vendors
// that fetch one (else a 400 naming the member), from each client API; and
// the store keeps how many images a prompt had, never their bytes.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include <httplib.h>
#include <rapidjson/document.h>

#include "tests/integration/store_place.hpp"
#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/engine.hpp"
#include "tutti/server.hpp"

using namespace tutti;
using namespace std::chrono_literals;

namespace {

const char* bedrock_model = "anthropic.claude-3-5-sonnet-20240620-v1:0";

const char* upstream_script = R"(
models:
  seer: {reply: "A cat."}
  claude: {reply: "A cat."}
  gem: {reply: "A cat."}
  llama: {reply: "A cat."}
  "anthropic.claude-3-5-sonnet-20240620-v1:0": {reply: "A cat."}
)";

// Base64 of a PNG's first eight bytes: a picture as far as tutti can tell.
const std::string png = "iVBORw0KGgo=";
const std::string data_url = "data:image/png;base64," + png;

struct images_fixture {
  fake::server upstream{fake::parse_script(upstream_script)};
  tutti::testing::store_place place{"sqlite"};
  std::unique_ptr<engine> eng;
  std::unique_ptr<tutti::server> endpoint;
  std::unique_ptr<httplib::Client> client;

  images_fixture() {
    ::setenv("TUTTI_TEST_AWS_KEY_ID", "AKIDEXAMPLE", 1);
    ::setenv("TUTTI_TEST_AWS_SECRET", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLE",
             1);
    upstream.start();
    auto root = upstream.root_url();
    std::string yaml =
        "store: \"" + place.url() +
        "\"\n"
        "providers:\n"
        "  seer: {kind: openai, model: seer, base_url: \"" +
        root +
        "/v1\", api_key: sk-img}\n"
        "  claude: {kind: anthropic, model: claude, base_url: \"" +
        root +
        "/v1\", api_key: a-key}\n"
        "  gem: {kind: gemini, model: gem, base_url: \"" +
        root +
        "/v1beta\", api_key: g-key}\n"
        "  llama: {kind: ollama, model: llama, base_url: \"" +
        root +
        "\"}\n"
        "  br:\n"
        "    kind: bedrock\n"
        "    model: " +
        bedrock_model +
        "\n"
        "    base_url: \"" +
        root +
        "\"\n"
        "    region: us-east-1\n"
        "    access_key_id: ${TUTTI_TEST_AWS_KEY_ID}\n"
        "    secret_access_key: ${TUTTI_TEST_AWS_SECRET}\n"
        "ensembles:\n"
        "  look: {members: [seer, claude, gem, llama, br], combine: vote}\n"
        "  fetchers: {members: [seer, claude], combine: vote}\n";
    eng = std::make_unique<engine>(engine::from_yaml(yaml));
    server_options options;
    options.port = 0;
    endpoint = std::make_unique<tutti::server>(*eng, options);
    endpoint->start();
    client = std::make_unique<httplib::Client>("127.0.0.1", endpoint->port());
    client->set_read_timeout(10s);
  }

  httplib::Result chat(const std::string& model, const std::string& image) {
    return client->Post("/v1/chat/completions",
                        R"({"model": ")" + model +
                            R"(", "messages": [{"role": "user", "content": [
              {"type": "text", "text": "What is this?"},
              {"type": "image_url", "image_url": {"url": ")" +
                            image + R"("}}]}]})",
                        "application/json");
  }

  /// The last request the fake received for `model`, parsed.
  rapidjson::Document sent_to(const std::string& model) {
    rapidjson::Document doc;
    for (auto& a : upstream.arrivals())
      if (a.model == model)
        doc.Parse(a.body.c_str());
    BOOST_REQUIRE_MESSAGE(doc.IsObject(), "nothing sent to " << model);
    return doc;
  }
};

std::string str(const rapidjson::Value& v) {
  return v.IsString() ? std::string{v.GetString(), v.GetStringLength()}
                      : std::string{"<not a string>"};
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(server_images, images_fixture)

BOOST_AUTO_TEST_CASE(every_member_gets_the_picture_in_its_vendors_shape) {
  auto r = chat("ensemble/look", data_url);
  BOOST_REQUIRE(r);
  BOOST_REQUIRE_MESSAGE(r->status == 200, r->body);
  BOOST_CHECK(has(r->body, "A cat."));
  BOOST_CHECK_EQUAL(r->get_header_value("x-tutti-members-ok"), "5");

  auto openai = sent_to("seer");
  auto& part = openai["messages"][0]["content"][1];
  BOOST_CHECK_EQUAL(str(part["type"]), "image_url");
  BOOST_CHECK_EQUAL(str(part["image_url"]["url"]), data_url);

  auto anthropic = sent_to("claude");
  auto& block = anthropic["messages"][0]["content"][1];
  BOOST_CHECK_EQUAL(str(block["type"]), "image");
  BOOST_CHECK_EQUAL(str(block["source"]["media_type"]), "image/png");
  BOOST_CHECK_EQUAL(str(block["source"]["data"]), png);

  auto gemini = sent_to("gem");
  auto& inline_data = gemini["contents"][0]["parts"][1]["inlineData"];
  BOOST_CHECK_EQUAL(str(inline_data["mimeType"]), "image/png");
  BOOST_CHECK_EQUAL(str(inline_data["data"]), png);

  auto ollama = sent_to("llama");
  BOOST_CHECK_EQUAL(str(ollama["messages"][0]["content"]), "What is this?");
  BOOST_CHECK_EQUAL(str(ollama["messages"][0]["images"][0]), png);

  auto bedrock = sent_to(bedrock_model);
  auto& image = bedrock["messages"][0]["content"][1]["image"];
  BOOST_CHECK_EQUAL(str(image["format"]), "png");
  BOOST_CHECK_EQUAL(str(image["source"]["bytes"]), png);
}

BOOST_AUTO_TEST_CASE(a_url_goes_only_to_vendors_that_fetch_it) {
  auto url = std::string{"https://example.com/cat.jpg"};
  auto ok = chat("ensemble/fetchers", url);
  BOOST_REQUIRE(ok);
  BOOST_REQUIRE_MESSAGE(ok->status == 200, ok->body);
  BOOST_CHECK_EQUAL(
      str(sent_to("seer")["messages"][0]["content"][1]["image_url"]["url"]),
      url);
  BOOST_CHECK_EQUAL(
      str(sent_to("claude")["messages"][0]["content"][1]["source"]["url"]),
      url);

  auto before = upstream.arrivals().size();
  auto refused = chat("ensemble/look", url);
  BOOST_REQUIRE(refused);
  BOOST_CHECK_EQUAL(refused->status, 400);
  BOOST_CHECK(has(refused->body, R"("param":"messages")"));
  BOOST_CHECK(has(refused->body, "provider 'gem' (kind gemini) cannot be "
                                 "sent an image by URL"));
  // Refused before anything was sent.
  BOOST_CHECK_EQUAL(upstream.arrivals().size(), before);
}

BOOST_AUTO_TEST_CASE(the_messages_and_responses_apis_carry_images_too) {
  auto messages = client->Post(
      "/v1/messages",
      R"({"model": "claude", "max_tokens": 50, "messages": [{"role": "user",
          "content": [{"type": "image", "source": {"type": "base64",
          "media_type": "image/png", "data": ")" +
          png + R"("}}, {"type": "text", "text": "What is this?"}]}]})",
      "application/json");
  BOOST_REQUIRE(messages);
  BOOST_REQUIRE_MESSAGE(messages->status == 200, messages->body);
  auto sent = sent_to("claude");
  BOOST_CHECK_EQUAL(str(sent["messages"][0]["content"][0]["source"]["data"]),
                    png);
  BOOST_CHECK_EQUAL(str(sent["messages"][0]["content"][1]["text"]),
                    "What is this?");

  auto responses =
      client->Post("/v1/responses",
                   R"({"model": "gem", "input": [{"role": "user", "content": [
          {"type": "input_text", "text": "What is this?"},
          {"type": "input_image", "image_url": ")" +
                       data_url + R"("}]}]})",
                   "application/json");
  BOOST_REQUIRE(responses);
  BOOST_REQUIRE_MESSAGE(responses->status == 200, responses->body);
  BOOST_CHECK_EQUAL(
      str(sent_to("gem")["contents"][0]["parts"][1]["inlineData"]["data"]),
      png);
}

BOOST_AUTO_TEST_CASE(the_store_keeps_how_many_images_not_their_bytes) {
  auto r = chat("seer", data_url);
  BOOST_REQUIRE(r);
  BOOST_REQUIRE_EQUAL(r->status, 200);
  auto id = r->get_header_value("x-tutti-run-id");
  BOOST_REQUIRE(eng->flush_store(10s));
  auto got = client->Get(("/v1/runs/" + id).c_str());
  BOOST_REQUIRE(got);
  BOOST_REQUIRE_EQUAL(got->status, 200);
  BOOST_CHECK(has(got->body, "What is this?"));
  BOOST_CHECK(has(got->body, R"(\"images\":1)"));
  BOOST_CHECK(!has(got->body, png));
  // Nor does the database hold them anywhere: not in its file, not in its
  // write-ahead log.
  auto path = place.url().substr(std::string{"sqlite:"}.size());
  for (auto* suffix : {"", "-wal"}) {
    std::ifstream in{path + suffix, std::ios::binary};
    std::string bytes{std::istreambuf_iterator<char>{in},
                      std::istreambuf_iterator<char>{}};
    BOOST_CHECK_MESSAGE(!has(bytes, png), path + suffix);
  }
}

BOOST_AUTO_TEST_SUITE_END()
