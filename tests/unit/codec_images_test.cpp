// Images in a user turn reach each vendor in its own shape: OpenAI's
// image_url parts (inline bytes as a data: URL), Anthropic's image blocks,
// Gemini's inlineData, Bedrock's image blocks and Ollama's images list,
// with the text around them kept in order.

#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>

#include <rapidjson/document.h>

#include "tests/unit/codec_test_support.hpp"
#include "tutti/codec.hpp"
#include "tutti/registry.hpp"

using namespace tutti;
using namespace tutti::codec_test;

namespace {

const std::string png = "iVBORw0KGgo=";
const std::string cat_url = "https://example.com/cat.jpg";

std::unique_ptr<codec> make(const std::string& kind) {
  auto c = registry::builtin().make_codec(kind);
  BOOST_REQUIRE_MESSAGE(c != nullptr, "no codec " << kind);
  return c;
}

provider_settings settings(const std::string& kind) {
  provider_settings p;
  p.name = "p";
  p.kind = kind;
  p.model = "m";
  p.base_url = "http://127.0.0.1:1";
  p.api_key = "sk-test";
  if (kind == "bedrock") {
    p.options["region"] = "us-east-1";
    p.options["access_key_id"] = "AKIDEXAMPLE";
    p.options["secret_access_key"] = "secret";
  }
  return p;
}

content_part text_part(std::string text) {
  content_part part;
  part.text = std::move(text);
  return part;
}

content_part inline_png(std::string detail = {}) {
  content_part part;
  part.image.media_type = "image/png";
  part.image.data = png;
  part.image.detail = std::move(detail);
  return part;
}

content_part url_image() {
  content_part part;
  part.image.url = cat_url;
  return part;
}

/// A system turn, then a user turn of text, an image and more text.
chat_request with_image(content_part image) {
  chat_request req;
  req.messages.emplace_back("system", "Be brief.");
  chat_message user{"user", "What is this?\nAnswer in one word."};
  user.parts = {text_part("What is this?"), std::move(image),
                text_part("Answer in one word.")};
  req.messages.push_back(std::move(user));
  return req;
}

rapidjson::Document body_of(const std::string& kind, const chat_request& req) {
  auto c = make(kind);
  return parse(c->encode(req, settings(kind)).body);
}

} // namespace

BOOST_AUTO_TEST_CASE(every_builtin_codec_sends_inline_images) {
  for (const auto& name : registry::builtin().codec_names())
    BOOST_CHECK_MESSAGE(make(name)->takes_images(), name);
  // URLs only where the vendor fetches them itself.
  for (auto kind : {"openai", "openai-compatible", "azure-openai", "anthropic"})
    BOOST_CHECK_MESSAGE(make(kind)->takes_image_urls(), kind);
  for (auto kind : {"gemini", "bedrock", "ollama"})
    BOOST_CHECK_MESSAGE(!make(kind)->takes_image_urls(), kind);
}

BOOST_AUTO_TEST_CASE(openai_wire_codecs_send_image_url_parts) {
  for (auto kind : {"openai", "openai-compatible", "azure-openai"}) {
    auto doc = body_of(kind, with_image(inline_png("low")));
    auto& content = doc["messages"][1]["content"];
    BOOST_REQUIRE_MESSAGE(content.IsArray(), kind);
    BOOST_REQUIRE_EQUAL(content.Size(), 3u);
    BOOST_CHECK_EQUAL(str(content[0]["type"]), "text");
    BOOST_CHECK_EQUAL(str(content[0]["text"]), "What is this?");
    BOOST_CHECK_EQUAL(str(content[1]["type"]), "image_url");
    BOOST_CHECK_EQUAL(str(content[1]["image_url"]["url"]),
                      "data:image/png;base64," + png);
    BOOST_CHECK_EQUAL(str(content[1]["image_url"]["detail"]), "low");
    BOOST_CHECK_EQUAL(str(content[2]["text"]), "Answer in one word.");
    // The system turn stays a string.
    BOOST_CHECK(doc["messages"][0]["content"].IsString());
  }
  auto by_url = body_of("openai", with_image(url_image()));
  auto& image = by_url["messages"][1]["content"][1]["image_url"];
  BOOST_CHECK_EQUAL(str(image["url"]), cat_url);
  BOOST_CHECK(!image.HasMember("detail"));
}

BOOST_AUTO_TEST_CASE(anthropic_sends_image_blocks) {
  auto doc = body_of("anthropic", with_image(inline_png()));
  auto& content = doc["messages"][0]["content"];
  BOOST_REQUIRE(content.IsArray());
  BOOST_REQUIRE_EQUAL(content.Size(), 3u);
  BOOST_CHECK_EQUAL(str(content[0]["type"]), "text");
  BOOST_CHECK_EQUAL(str(content[1]["type"]), "image");
  BOOST_CHECK_EQUAL(str(content[1]["source"]["type"]), "base64");
  BOOST_CHECK_EQUAL(str(content[1]["source"]["media_type"]), "image/png");
  BOOST_CHECK_EQUAL(str(content[1]["source"]["data"]), png);
  BOOST_CHECK_EQUAL(str(content[2]["text"]), "Answer in one word.");
  BOOST_CHECK_EQUAL(str(doc["system"]), "Be brief.");
  auto by_url = body_of("anthropic", with_image(url_image()));
  auto& source = by_url["messages"][0]["content"][1]["source"];
  BOOST_CHECK_EQUAL(str(source["type"]), "url");
  BOOST_CHECK_EQUAL(str(source["url"]), cat_url);
}

BOOST_AUTO_TEST_CASE(gemini_sends_inline_data_parts) {
  auto doc = body_of("gemini", with_image(inline_png()));
  auto& parts = doc["contents"][0]["parts"];
  BOOST_REQUIRE_EQUAL(parts.Size(), 3u);
  BOOST_CHECK_EQUAL(str(parts[0]["text"]), "What is this?");
  BOOST_CHECK_EQUAL(str(parts[1]["inlineData"]["mimeType"]), "image/png");
  BOOST_CHECK_EQUAL(str(parts[1]["inlineData"]["data"]), png);
  BOOST_CHECK_EQUAL(str(parts[2]["text"]), "Answer in one word.");
}

BOOST_AUTO_TEST_CASE(bedrock_sends_image_blocks_with_their_format) {
  auto doc = body_of("bedrock", with_image(inline_png()));
  auto& content = doc["messages"][0]["content"];
  BOOST_REQUIRE_EQUAL(content.Size(), 3u);
  BOOST_CHECK_EQUAL(str(content[0]["text"]), "What is this?");
  BOOST_CHECK_EQUAL(str(content[1]["image"]["format"]), "png");
  BOOST_CHECK_EQUAL(str(content[1]["image"]["source"]["bytes"]), png);
  BOOST_CHECK_EQUAL(str(content[2]["text"]), "Answer in one word.");
}

BOOST_AUTO_TEST_CASE(ollama_sends_a_turns_images_beside_its_text) {
  auto doc = body_of("ollama", with_image(inline_png()));
  auto& user = doc["messages"][1];
  BOOST_CHECK_EQUAL(str(user["content"]), "What is this?\nAnswer in one word.");
  BOOST_REQUIRE(user["images"].IsArray());
  BOOST_REQUIRE_EQUAL(user["images"].Size(), 1u);
  BOOST_CHECK_EQUAL(str(user["images"][0]), png);
  BOOST_CHECK(!doc["messages"][0].HasMember("images"));
}
