// The fake upstream's Bedrock Converse wire (tools/fake_llm/wire_bedrock.cpp):
// its whole bodies, and its streams read back with tutti's own AWS
// event-stream decoder, which checks both checksums of every message.

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include <httplib.h>
#include <rapidjson/document.h>

#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/stream_decoder.hpp"

using namespace tutti;

namespace {

const char* script = R"(
models:
  "anthropic.claude-3-5-sonnet-20240620-v1:0": {reply: "Paris is the capital of France."}
  garbled: {reply: "one two", malformed: true}
  midfail: {reply: "one two three", error_event_after_tokens: 1}
  busy:    {fail: {status: 429}}
)";

const std::string model_path =
    "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0";

const std::string body =
    R"({"messages":[{"role":"user","content":[{"text":"what is the capital"}]}],)"
    R"("system":[{"text":"be brief"}],"inferenceConfig":{"maxTokens":3}})";

struct fixture {
  fake::server srv{fake::parse_script(script)};
  int port = srv.start();

  httplib::Result post(const std::string& path,
                       const std::string& text = body) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(10, 0);
    return c.Post(path.c_str(), {{"Authorization", "AWS4-HMAC-SHA256 x"}}, text,
                  "application/json");
  }
};

struct decoded {
  std::vector<stream_event> events;
  std::string error;
};

decoded decode(const std::string& bytes) {
  decoded out;
  auto decoder = make_stream_decoder(stream_framing::aws_event_stream);
  out.events = decoder->feed(bytes);
  for (auto& e : decoder->finish()) {
    out.events.push_back(e);
  }
  out.error = decoder->error();
  return out;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(fake_llm_bedrock_tests, fixture)

BOOST_AUTO_TEST_CASE(a_whole_reply_has_the_converse_shape) {
  auto res = post(model_path + "/converse");
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 200);
  rapidjson::Document doc;
  doc.Parse(res->body.c_str());
  BOOST_REQUIRE(!doc.HasParseError());
  // maxTokens 3 cuts the reply after three words.
  BOOST_TEST(doc["output"]["message"]["content"][0]["text"].GetString() ==
             std::string("Paris is the"));
  BOOST_TEST(doc["stopReason"].GetString() == std::string("max_tokens"));
  BOOST_TEST(doc["usage"]["inputTokens"].GetInt() == 6);
  BOOST_TEST(doc["usage"]["outputTokens"].GetInt() == 3);
  BOOST_TEST(doc["usage"]["totalTokens"].GetInt() == 9);
  srv.stop();
  auto log = srv.arrivals();
  BOOST_REQUIRE(log.size() == 1u);
  BOOST_TEST(log[0].format == "bedrock");
  BOOST_TEST(log[0].model == "anthropic.claude-3-5-sonnet-20240620-v1:0");
  BOOST_TEST(log[0].api_key);
  BOOST_TEST(!log[0].stream);
}

BOOST_AUTO_TEST_CASE(a_stream_is_checksummed_event_stream_messages) {
  auto res =
      post(model_path + "/converse-stream",
           R"({"messages":[{"role":"user","content":[{"text":"hi"}]}]})");
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 200);
  BOOST_TEST(res->get_header_value("Content-Type") ==
             "application/vnd.amazon.eventstream");
  auto got = decode(res->body);
  BOOST_TEST(got.error.empty(), got.error);
  std::vector<std::string> types;
  std::string text;
  for (const auto& e : got.events) {
    BOOST_TEST(e.message_type == "event");
    types.push_back(e.event);
    if (e.event == "contentBlockDelta") {
      rapidjson::Document doc;
      doc.Parse(e.data.c_str());
      text += doc["delta"]["text"].GetString();
    }
  }
  BOOST_REQUIRE(types.size() == 10u); // 6 tokens
  BOOST_TEST(types.front() == "messageStart");
  BOOST_TEST(types[7] == "contentBlockStop");
  BOOST_TEST(types[8] == "messageStop");
  BOOST_TEST(types.back() == "metadata");
  BOOST_TEST(text == "Paris is the capital of France.");
  BOOST_TEST(got.events.back().data.find("\"outputTokens\":6") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(malformed_is_a_message_with_a_bad_checksum) {
  auto res = post("/model/garbled/converse-stream");
  BOOST_REQUIRE(res);
  auto got = decode(res->body);
  BOOST_TEST(got.error.find("message checksum mismatch") == 0u, got.error);
  BOOST_REQUIRE(got.events.size() == 1u);
  BOOST_TEST(got.events[0].event == "messageStart");
}

BOOST_AUTO_TEST_CASE(an_error_event_is_an_exception_message) {
  auto res = post("/model/midfail/converse-stream");
  BOOST_REQUIRE(res);
  auto got = decode(res->body);
  BOOST_TEST(got.error.empty(), got.error);
  BOOST_REQUIRE(got.events.size() == 3u);
  BOOST_TEST(got.events[2].message_type == "exception");
  BOOST_TEST(got.events[2].event == "modelStreamErrorException");
  BOOST_TEST(got.events[2].data ==
             R"({"message":"Received error from the model."})");
}

BOOST_AUTO_TEST_CASE(errors_are_a_message_alone) {
  auto res = post("/model/busy/converse");
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 429);
  BOOST_TEST(
      res->body ==
      R"({"message":"Too many requests, please wait before trying again."})");
  BOOST_TEST(res->has_header("x-amzn-RequestId"));
  auto bad = post("/model/busy/converse", R"({"messages":[]})");
  BOOST_REQUIRE(bad);
  BOOST_TEST(bad->status == 400);
}

BOOST_AUTO_TEST_SUITE_END()
