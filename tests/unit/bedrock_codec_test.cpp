// kind: bedrock (plugins/codecs/bedrock/bedrock_codec.cpp) against replies
// recorded in Bedrock's Converse and ConverseStream shapes: the streamed
// ones are AWS event-stream bytes (tests/fixtures/bedrock/make_streams.py).

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <rapidjson/document.h>

#include "plugins/codecs/bedrock/bedrock_codec.hpp"
#include "tests/unit/codec_test_support.hpp"
#include "tutti/registry.hpp"

using namespace tutti;
using namespace tutti::codec_test;

namespace {

std::string fixture(const std::string& name) {
  return read_fixture("bedrock", name);
}

const codec& bedrock() {
  static auto instance = make_bedrock_codec();
  return *instance;
}

/// The access key AWS's documentation uses in its examples.
const std::string access_key_id = "AKIAIOSFODNN7EXAMPLE";
const std::string secret_access_key =
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

provider_settings settings() {
  provider_settings p;
  p.name = "claude-bedrock";
  p.kind = "bedrock";
  p.model = "anthropic.claude-3-5-sonnet-20240620-v1:0";
  p.options = {{"region", "us-east-1"},
               {"access_key_id", access_key_id},
               {"secret_access_key", secret_access_key}};
  return p;
}

chat_request question() {
  chat_request req;
  req.id = "r1";
  req.messages = {{"system", "Answer briefly."},
                  {"user", "What is the capital of France?"},
                  {"assistant", "Paris."},
                  {"user", "And of Italy?"}};
  return req;
}

/// 2024-06-20T12:00:00Z.
constexpr int64_t pinned_ms = 1718884800000;

streamed_reply streamed(const std::string& name, std::size_t chunk = 5) {
  return stream_through(bedrock(), fixture(name), chunk);
}

header_list error_type(std::string type) {
  return {{"x-amzn-ErrorType",
           type + ":http://internal.amazon.com/coral/com.amazon.bedrock/"},
          {"x-amzn-RequestId", "4e1bd0c2-5f63-4a5e-9b0e-2f3c1a6d7e8f"}};
}

const codec_key* key_named(const std::string& name) {
  static const auto keys = bedrock().keys();
  for (const auto& key : keys) {
    if (key.name == name) {
      return &key;
    }
  }
  return nullptr;
}

} // namespace

// --- keys and base URL ------------------------------------------------------

BOOST_AUTO_TEST_CASE(bedrock_is_a_builtin_kind) {
  BOOST_TEST(registry::builtin().make_codec("bedrock") != nullptr);
}

BOOST_AUTO_TEST_CASE(keys_are_the_region_and_the_credentials) {
  auto* region = key_named("region");
  auto* id = key_named("access_key_id");
  auto* secret = key_named("secret_access_key");
  auto* token = key_named("session_token");
  BOOST_REQUIRE(region != nullptr);
  BOOST_REQUIRE(id != nullptr);
  BOOST_REQUIRE(secret != nullptr);
  BOOST_REQUIRE(token != nullptr);
  BOOST_TEST(region->required);
  BOOST_TEST(!region->secret);
  BOOST_TEST(id->required);
  BOOST_TEST(secret->required);
  BOOST_TEST(secret->secret);
  BOOST_TEST(!token->required);
  BOOST_TEST(token->secret);
  BOOST_REQUIRE(region->check != nullptr);
  for (auto good :
       {"us-east-1", "eu-central-1", "us-gov-west-1", "ap-southeast-2"}) {
    BOOST_TEST(region->check(good).empty(), good);
  }
  for (auto bad : {"", "US-EAST-1", "us-east", "us east 1", "evil.com/x-1",
                   "us--east-1", "1-us-east"}) {
    BOOST_TEST(region->check(bad) == "expected an AWS region such as us-east-1",
               bad);
  }
  BOOST_REQUIRE(id->check != nullptr);
  BOOST_TEST(id->check(access_key_id).empty());
  BOOST_TEST(!id->check("AKIA EXAMPLE").empty());
}

BOOST_AUTO_TEST_CASE(the_default_base_url_names_the_region) {
  BOOST_TEST(bedrock().default_base_url().empty());
  BOOST_TEST(bedrock().default_base_url_for({{"region", "eu-west-3"}}) ==
             "https://bedrock-runtime.eu-west-3.amazonaws.com");
  BOOST_TEST(bedrock().default_base_url_for({}).empty());
}

BOOST_AUTO_TEST_CASE(the_signature_headers_are_key_headers) {
  auto names = bedrock().key_headers();
  BOOST_TEST(names == (std::vector<std::string>{"authorization", "x-amz-date",
                                                "x-amz-security-token"}),
             boost::test_tools::per_element());
}

// --- encode -----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(encode_posts_to_converse_with_the_model_id_encoded) {
  auto req = bedrock().encode(question(), settings());
  BOOST_TEST(req.method == "POST");
  BOOST_TEST(req.url == "https://bedrock-runtime.us-east-1.amazonaws.com/"
                        "model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/"
                        "converse");
  BOOST_TEST(header(req, "content-type") == "application/json");
  BOOST_TEST(header(req, "authorization") == "<absent>");
}

BOOST_AUTO_TEST_CASE(encode_streams_from_converse_stream_at_the_base_url) {
  auto p = settings();
  p.base_url = "http://127.0.0.1:8080";
  p.model = "us.anthropic.claude-3-5-haiku-20241022-v1:0";
  auto ask = question();
  ask.stream = true;
  auto req = bedrock().encode(ask, p);
  BOOST_TEST(req.url == "http://127.0.0.1:8080/model/"
                        "us.anthropic.claude-3-5-haiku-20241022-v1%3A0/"
                        "converse-stream");
  BOOST_TEST(header(req, "accept") == "application/vnd.amazon.eventstream");
  // The stream is chosen by the path alone.
  BOOST_TEST(req.body.find("stream") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(encode_writes_messages_system_and_inference_config) {
  auto ask = question();
  ask.params.max_tokens = 256;
  ask.params.temperature = 0.25;
  ask.params.stop = {"\n\nHuman:"};
  auto p = settings();
  p.defaults.top_p = 0.5;
  p.defaults.temperature = 0.9; // the request's own wins
  auto doc = parse(bedrock().encode(ask, p).body);
  BOOST_TEST(!doc.HasMember("model"));
  const auto& messages = doc["messages"];
  BOOST_REQUIRE(messages.Size() == 3u);
  BOOST_TEST(str(messages[0]["role"]) == "user");
  BOOST_TEST(str(messages[0]["content"][0]["text"]) ==
             "What is the capital of France?");
  BOOST_TEST(str(messages[1]["role"]) == "assistant");
  BOOST_TEST(str(messages[2]["content"][0]["text"]) == "And of Italy?");
  BOOST_REQUIRE(doc["system"].Size() == 1u);
  BOOST_TEST(str(doc["system"][0]["text"]) == "Answer briefly.");
  const auto& config = doc["inferenceConfig"];
  BOOST_TEST(config["maxTokens"].GetInt64() == 256);
  BOOST_TEST(config["temperature"].GetDouble() == 0.25);
  BOOST_TEST(config["topP"].GetDouble() == 0.5);
  BOOST_TEST(str(config["stopSequences"][0]) == "\n\nHuman:");
}

BOOST_AUTO_TEST_CASE(encode_sends_no_inference_config_when_nothing_is_set) {
  chat_request ask;
  ask.messages = {{"user", "Hi"}};
  auto doc = parse(bedrock().encode(ask, settings()).body);
  BOOST_TEST(!doc.HasMember("inferenceConfig"));
  BOOST_TEST(!doc.HasMember("system"));
}

// --- sign -------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(sign_adds_a_sigv4_authorization_for_the_pinned_time) {
  chat_request ask;
  ask.messages = {{"user", "Hi"}};
  auto req = bedrock().encode(ask, settings());
  BOOST_TEST(req.body ==
             R"({"messages":[{"role":"user","content":[{"text":"Hi"}]}]})");
  bedrock().sign(req, settings(), pinned_ms + 999);
  BOOST_TEST(header(req, "x-amz-date") == "20240620T120000Z");
  BOOST_TEST(header(req, "x-amz-security-token") == "<absent>");
  // Computed apart from sigv4.cpp (Python's hmac and hashlib, following
  // AWS's steps), over the path encoded twice: %253A.
  BOOST_TEST(
      header(req, "authorization") ==
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240620/"
      "us-east-1/bedrock/aws4_request, "
      "SignedHeaders=accept;content-type;host;x-amz-date, "
      "Signature="
      "12d316b9d5a3b128fa115e2b6d8c29c20e27db50f3ff8c565b6a0978f02258b2");
  // The same request at the same time signs the same.
  auto again = bedrock().encode(ask, settings());
  bedrock().sign(again, settings(), pinned_ms);
  BOOST_TEST(header(again, "authorization") == header(req, "authorization"));
}

BOOST_AUTO_TEST_CASE(sign_sends_and_signs_a_session_token) {
  auto p = settings();
  p.options["session_token"] = "FwoGZXIvYXdzEXAMPLETOKEN";
  auto req = bedrock().encode(question(), p);
  bedrock().sign(req, p, pinned_ms);
  BOOST_TEST(header(req, "x-amz-security-token") == "FwoGZXIvYXdzEXAMPLETOKEN");
  BOOST_TEST(header(req, "authorization")
                 .find("SignedHeaders=accept;content-type;host;x-amz-date;"
                       "x-amz-security-token, ") != std::string::npos);
  auto later = bedrock().encode(question(), p);
  bedrock().sign(later, p, pinned_ms + 1000);
  BOOST_TEST(header(later, "authorization") != header(req, "authorization"));
}

// --- whole replies
// ------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_converse_reply_is_its_text_and_usage) {
  auto done_result = bedrock().decode_body(fixture("converse.json"));
  auto& done = as_completion(done_result);
  BOOST_TEST(done.text == "Hello! How can I help you today?");
  BOOST_TEST(done.finish_reason == "stop");
  // inputTokens leaves out what was read from the cache.
  BOOST_TEST(done.usage.input_tokens == 2060);
  BOOST_TEST(done.usage.cached_input_tokens == 2048);
  BOOST_TEST(done.usage.output_tokens == 10);
}

BOOST_AUTO_TEST_CASE(max_tokens_is_a_length_finish) {
  auto done_result = bedrock().decode_body(fixture("converse_max_tokens.json"));
  auto& done = as_completion(done_result);
  BOOST_TEST(done.text == "The capital of France is");
  BOOST_TEST(done.finish_reason == "length");
}

BOOST_AUTO_TEST_CASE(a_guardrail_keeps_its_words_with_a_content_filter_finish) {
  auto done_result = bedrock().decode_body(fixture("converse_guardrail.json"));
  auto& done = as_completion(done_result);
  BOOST_TEST(done.text == "Sorry, the model cannot answer this question.");
  BOOST_TEST(done.finish_reason == "content_filter");
}

BOOST_AUTO_TEST_CASE(a_filtered_reply_without_text_is_a_content_filter) {
  auto error_result =
      bedrock().decode_body(fixture("converse_content_filtered.json"));
  auto& error = as_failure(error_result);
  BOOST_TEST(error.kind == failure_kind::content_filter);
  BOOST_TEST(error.usage.input_tokens == 18);
}

BOOST_AUTO_TEST_CASE(a_tool_use_block_is_a_tool_call) {
  auto result = bedrock().decode_body(fixture("converse_tool_use.json"));
  auto& reply = std::get<completion>(result);
  BOOST_REQUIRE(reply.tool_calls.size() == 1u);
  BOOST_TEST(reply.tool_calls[0].name == "get_weather");
  BOOST_TEST(!reply.tool_calls[0].id.empty());
  BOOST_TEST(reply.finish_reason == "tool_calls");
}

BOOST_AUTO_TEST_CASE(encode_writes_tool_config_and_tool_turns) {
  auto ask = question();
  chat_message asked{"assistant", ""};
  asked.tool_calls.push_back(
      {"tooluse_1", "get_weather", R"({"city":"Oslo"})"});
  chat_message result{"tool", "-3 C"};
  result.tool_call_id = "tooluse_1";
  ask.messages.push_back(asked);
  ask.messages.push_back(result);
  ask.params.tools.push_back(
      {"get_weather", "Weather now", R"({"type":"object"})", false});
  ask.params.tool_choice = {"function", "get_weather"};
  auto doc = parse(bedrock().encode(ask, settings()).body);
  auto& spec = doc["toolConfig"]["tools"][0]["toolSpec"];
  BOOST_TEST(str(spec["name"]) == "get_weather");
  BOOST_TEST(str(spec["inputSchema"]["json"]["type"]) == "object");
  BOOST_TEST(str(doc["toolConfig"]["toolChoice"]["tool"]["name"]) ==
             "get_weather");
  auto& messages = doc["messages"];
  auto last = messages.Size() - 1;
  BOOST_TEST(
      str(messages[last - 1]["content"][0]["toolUse"]["input"]["city"]) ==
      "Oslo");
  BOOST_TEST(str(messages[last]["content"][0]["toolResult"]["toolUseId"]) ==
             "tooluse_1");
  // Converse has no "none": no tools are sent.
  ask.params.tool_choice = {"none", ""};
  BOOST_TEST(
      !parse(bedrock().encode(ask, settings()).body).HasMember("toolConfig"));
}

BOOST_AUTO_TEST_CASE(
    a_body_that_is_not_a_converse_reply_is_a_protocol_failure) {
  auto empty = bedrock().decode_body("{\"output\":{}}");
  BOOST_TEST(as_failure(empty).kind == failure_kind::protocol);
  auto garbage = bedrock().decode_body("not json");
  BOOST_TEST(as_failure(garbage).kind == failure_kind::protocol);
}

// --- streamed replies
// -----------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_converse_stream_is_its_deltas_and_its_metadata) {
  for (std::size_t chunk : {1, 3, 17, 4096}) {
    auto reply = streamed("stream.bin", chunk);
    BOOST_TEST(reply.text == "Hello! How can I help you today?");
    BOOST_TEST(reply.finish_reason == "stop");
    BOOST_TEST(reply.terminal);
    BOOST_TEST(reply.updates_after_terminal == 0);
    BOOST_REQUIRE(reply.tokens.has_value());
    BOOST_TEST(reply.tokens->input_tokens == 2060);
    BOOST_TEST(reply.tokens->cached_input_tokens == 2048);
    BOOST_TEST(reply.tokens->output_tokens == 10);
    BOOST_TEST(std::holds_alternative<completion>(reply.outcome));
  }
}

BOOST_AUTO_TEST_CASE(a_stream_cut_before_its_end_is_incomplete) {
  for (auto name : {"stream_truncated.bin", "stream_no_metadata.bin"}) {
    auto reply = streamed(name);
    BOOST_TEST(!reply.terminal, name);
    auto& error = as_failure(reply.outcome);
    BOOST_TEST(error.kind == failure_kind::protocol);
    BOOST_TEST(error.message.find("without its end marker") !=
               std::string::npos);
    BOOST_TEST(!error.partial_text.empty());
  }
}

BOOST_AUTO_TEST_CASE(a_stream_cut_inside_a_message_breaks_the_framing) {
  auto bytes = fixture("stream.bin");
  auto reply =
      stream_pieces(bedrock(), {std::string_view{bytes}.substr(0, 200)});
  BOOST_TEST(as_failure(reply.outcome).kind == failure_kind::protocol);
}

BOOST_AUTO_TEST_CASE(a_bad_checksum_is_a_protocol_failure) {
  auto bytes = fixture("stream.bin");
  bytes[bytes.size() / 2] ^= 0x20;
  auto reply = stream_pieces(bedrock(), {bytes});
  BOOST_TEST(as_failure(reply.outcome).kind == failure_kind::protocol);
}

BOOST_AUTO_TEST_CASE(a_throttling_exception_in_the_stream_is_rate_limited) {
  auto reply = streamed("stream_throttling.bin");
  BOOST_REQUIRE(reply.error.has_value());
  BOOST_TEST(reply.error->kind == failure_kind::rate_limited);
  BOOST_TEST(reply.error->message ==
             "throttlingException: Too many requests, please wait before "
             "trying again.");
  BOOST_TEST(reply.text == "Hello");
}

BOOST_AUTO_TEST_CASE(stream_exceptions_map_to_their_kinds) {
  auto kind_of = [](std::string type) {
    stream_event event{type, R"({"message":"it failed"})", {}, "exception"};
    auto update = bedrock().decode_event(event);
    BOOST_REQUIRE(update.error.has_value());
    return update.error->kind;
  };
  BOOST_TEST(kind_of("throttlingException") == failure_kind::rate_limited);
  BOOST_TEST(kind_of("modelStreamErrorException") == failure_kind::server);
  BOOST_TEST(kind_of("validationException") == failure_kind::bad_request);
  BOOST_TEST(kind_of("internalServerException") == failure_kind::server);
  BOOST_TEST(kind_of("serviceUnavailableException") ==
             failure_kind::overloaded);
  BOOST_TEST(kind_of("somethingNewException") == failure_kind::server);
  auto model = streamed("stream_model_error.bin");
  BOOST_REQUIRE(model.error.has_value());
  BOOST_TEST(model.error->kind == failure_kind::server);
  stream_event error{
      "InternalFailure", "An internal error occurred.", {}, "error"};
  auto update = bedrock().decode_event(error);
  BOOST_REQUIRE(update.error.has_value());
  BOOST_TEST(update.error->kind == failure_kind::server);
  BOOST_TEST(update.error->message ==
             "InternalFailure: An internal error occurred.");
}

// --- errors
// -----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(errors_are_classified_by_their_error_type) {
  struct row {
    int status;
    const char* type;
    const char* file;
    failure_kind kind;
  };
  const std::vector<row> rows = {
      {429, "ThrottlingException", "error_429_throttling.json",
       failure_kind::rate_limited},
      {400, "ValidationException", "error_400_validation.json",
       failure_kind::bad_request},
      {400, "ValidationException", "error_400_too_long.json",
       failure_kind::context_length},
      {403, "AccessDeniedException", "error_403_access_denied.json",
       failure_kind::auth},
      {403, "UnrecognizedClientException", "error_403_unrecognized_client.json",
       failure_kind::auth},
      {404, "ResourceNotFoundException", "error_404_not_found.json",
       failure_kind::bad_request},
      {424, "ModelErrorException", "error_424_model_error.json",
       failure_kind::server},
      {408, "ModelTimeoutException", "error_424_model_error.json",
       failure_kind::timeout_total},
      {500, "InternalServerException", "error_503_unavailable.json",
       failure_kind::server},
      {503, "ServiceUnavailableException", "error_503_unavailable.json",
       failure_kind::overloaded},
      {503, "ModelNotReadyException", "error_503_unavailable.json",
       failure_kind::overloaded},
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT(r.status << " " << r.type) {
      auto body = fixture(r.file);
      auto error = bedrock().classify_error(r.status, body, error_type(r.type));
      BOOST_TEST(error.kind == r.kind);
      BOOST_TEST(error.http_status == r.status);
      auto doc = parse(body);
      BOOST_TEST(error.message ==
                 std::string{r.type} + ": " + str(doc["message"]));
    }
  }
}

BOOST_AUTO_TEST_CASE(errors_without_a_type_header_go_by_status) {
  auto body = fixture("error_429_throttling.json");
  auto error = bedrock().classify_error(429, body, {});
  BOOST_TEST(error.kind == failure_kind::rate_limited);
  BOOST_TEST(error.message ==
             "Too many requests, please wait before trying again.");
  BOOST_TEST(bedrock().classify_error(424, "{}", {}).kind ==
             failure_kind::server);
  BOOST_TEST(bedrock().classify_error(404, "", {}).kind ==
             failure_kind::bad_request);
  BOOST_TEST(
      bedrock().classify_error(502, "<html>bad gateway</html>", {}).kind ==
      failure_kind::server);
  // A type in the body, as AWS's JSON protocols also write it.
  auto typed = bedrock().classify_error(
      400,
      R"({"__type":"com.amazon.coral.validate#ValidationException",)"
      R"("message":"Malformed input request"})",
      {});
  BOOST_TEST(typed.kind == failure_kind::bad_request);
  BOOST_TEST(typed.message == "ValidationException: Malformed input request");
}
