#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <rapidjson/document.h>

#include "plugins/codecs/azure_openai/azure_openai_codec.hpp"
#include "tests/unit/codec_test_support.hpp"
#include "tutti/sse_decoder.hpp"

// `azure-openai` shares the `openai` codec's implementation; this file covers
// where Azure differs (tests/fixtures/azure_openai/).

using namespace tutti;
using namespace tutti::codec_test;

namespace {

std::string read_fixture(const std::string& name) {
  return codec_test::read_fixture("azure_openai", name);
}

const codec& azure() {
  static auto instance = make_azure_openai_codec();
  return *instance;
}

const std::string deployment_url =
    "https://contoso.openai.azure.com/openai/deployments/gpt-4o";

provider_settings settings() {
  provider_settings p;
  p.name = "azure";
  p.kind = "azure-openai";
  p.model = "gpt-4o";
  p.base_url = deployment_url;
  p.api_key = "0123456789abcdef0123456789abcdef";
  return p;
}

chat_request question() {
  chat_request req;
  req.id = "r1";
  req.messages = {{"user", "What is the capital of France?"}};
  return req;
}

codec_test::streamed_reply stream_through(std::string_view bytes,
                                          std::size_t chunk) {
  return codec_test::stream_through(azure(), bytes, chunk);
}

failure classify(int status, const std::string& fixture) {
  return azure().classify_error(status, read_fixture(fixture), {});
}

} // namespace

// --- encode ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(default_base_url_is_empty_so_config_must_give_one) {
  BOOST_TEST(azure().default_base_url() == "");
}

BOOST_AUTO_TEST_CASE(encode_posts_to_the_deployment_with_default_api_version) {
  auto req = azure().encode(question(), settings());
  BOOST_TEST(req.method == "POST");
  BOOST_TEST(req.url ==
             deployment_url + "/chat/completions?api-version=2024-10-21");
  BOOST_TEST(std::string{azure_openai_default_api_version} == "2024-10-21");
}

BOOST_AUTO_TEST_CASE(encode_uses_the_providers_api_version) {
  auto provider = settings();
  provider.base_url = deployment_url + "/";
  provider.options["api_version"] = "2025-01-01-preview";
  BOOST_TEST(azure().encode(question(), provider).url ==
             deployment_url +
                 "/chat/completions?api-version=2025-01-01-preview");
  provider.options["api_version"] = "a b&c";
  BOOST_TEST(azure().encode(question(), provider).url ==
             deployment_url + "/chat/completions?api-version=a%20b%26c");
}

BOOST_AUTO_TEST_CASE(encode_sends_the_key_in_api_key_not_authorization) {
  auto req = azure().encode(question(), settings());
  BOOST_TEST(header(req, "api-key") == "0123456789abcdef0123456789abcdef");
  BOOST_TEST(header(req, "authorization") == "<absent>");
  BOOST_TEST(header(req, "content-type") == "application/json");
}

BOOST_AUTO_TEST_CASE(encode_without_key_sends_no_key_header) {
  auto provider = settings();
  provider.api_key.clear();
  auto req = azure().encode(question(), provider);
  BOOST_TEST(header(req, "api-key") == "<absent>");
  BOOST_TEST(header(req, "authorization") == "<absent>");
}

BOOST_AUTO_TEST_CASE(encode_appends_custom_headers) {
  auto provider = settings();
  provider.extra_headers = {{"x-ms-client-request-id", "3f2a"}};
  auto req = azure().encode(question(), provider);
  BOOST_TEST(req.headers.back().first == "x-ms-client-request-id");
  BOOST_TEST(req.headers.back().second == "3f2a");
}

BOOST_AUTO_TEST_CASE(encode_body_is_openais) {
  auto req = question();
  req.stream = true;
  auto http = azure().encode(req, settings());
  rapidjson::Document doc;
  doc.Parse(http.body.c_str());
  BOOST_REQUIRE(!doc.HasParseError());
  BOOST_TEST(std::string{doc["model"].GetString()} == "gpt-4o");
  BOOST_TEST(doc["messages"].Size() == 1u);
  BOOST_TEST(doc["stream"].IsTrue());
  BOOST_TEST(doc["stream_options"]["include_usage"].IsTrue());
}

// --- whole replies --------------------------------------------------------

BOOST_AUTO_TEST_CASE(whole_reply_reads_text_usage_and_cached_tokens) {
  auto reply =
      as_completion(azure().decode_body(read_fixture("completion.json")));
  BOOST_TEST(reply.text == "Paris is the capital of France.");
  BOOST_TEST(reply.finish_reason == "stop");
  BOOST_TEST(reply.usage.input_tokens == 1342);
  BOOST_TEST(reply.usage.output_tokens == 8);
  BOOST_TEST(reply.usage.cached_input_tokens == 1280);
}

BOOST_AUTO_TEST_CASE(whole_reply_filtered_before_any_text_is_content_filter) {
  auto error = as_failure(
      azure().decode_body(read_fixture("completion_content_filter.json")));
  BOOST_TEST(error.kind == failure_kind::content_filter);
  BOOST_TEST(error.usage.output_tokens == 57);
}

// --- streams --------------------------------------------------------------

BOOST_AUTO_TEST_CASE(azure_streams_are_complete_only_with_done) {
  BOOST_TEST(!azure().accepts_unterminated_stream());
}

BOOST_AUTO_TEST_CASE(prompt_filter_results_chunk_adds_nothing) {
  auto bytes = read_fixture("stream.sse");
  auto first = bytes.substr(6, bytes.find("\n\n") - 6);
  BOOST_REQUIRE(first.find("prompt_filter_results") != std::string::npos);
  auto update = azure().decode_event(data_event(first));
  BOOST_TEST(update.text.empty());
  BOOST_TEST(update.finish_reason.empty());
  BOOST_TEST(!update.usage.has_value());
  BOOST_TEST(!update.error.has_value());
  BOOST_TEST(!update.terminal);
}

BOOST_AUTO_TEST_CASE(recorded_stream_reproduces_text_and_usage) {
  auto bytes = read_fixture("stream.sse");
  for (std::size_t chunk : {std::size_t{1}, std::size_t{9}, bytes.size()}) {
    BOOST_TEST_CONTEXT("chunks of " << chunk << " bytes") {
      auto reply = stream_through(bytes, chunk);
      BOOST_TEST(reply.text == "Paris is the capital of France.");
      BOOST_TEST(reply.finish_reason == "stop");
      BOOST_TEST(reply.terminal);
      BOOST_TEST(!reply.error.has_value());
      BOOST_REQUIRE(reply.tokens.has_value());
      BOOST_TEST(reply.tokens->input_tokens == 1342);
      BOOST_TEST(reply.tokens->output_tokens == 8);
      BOOST_TEST(reply.tokens->cached_input_tokens == 1280);
    }
  }
}

BOOST_AUTO_TEST_CASE(stream_cut_by_the_filter_ends_with_that_reason) {
  auto reply = stream_through(read_fixture("stream_content_filter.sse"), 50);
  BOOST_TEST(reply.text == "Here is how");
  BOOST_TEST(reply.finish_reason == "content_filter");
  BOOST_TEST(reply.terminal);
  BOOST_TEST(!reply.error.has_value());
}

// --- errors (non-2xx) -----------------------------------------------------

BOOST_AUTO_TEST_CASE(content_filter_400_is_content_filter_naming_categories) {
  auto error = classify(400, "error_400_content_filter.json");
  BOOST_TEST(error.kind == failure_kind::content_filter);
  BOOST_TEST(error.http_status == 400);
  BOOST_TEST(error.message.rfind("The response was filtered due to the prompt "
                                 "triggering Azure OpenAI's content "
                                 "management policy.",
                                 0) == 0u);
  BOOST_TEST(error.message.find("(filtered: violence)") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(inner_policy_violation_alone_is_content_filter) {
  auto error = azure().classify_error(
      400,
      R"({"error":{"message":"blocked","code":"invalid_prompt",)"
      R"("innererror":{"code":"ResponsibleAIPolicyViolation"}}})",
      {});
  BOOST_TEST(error.kind == failure_kind::content_filter);
  BOOST_TEST(error.message == "blocked");
}

BOOST_AUTO_TEST_CASE(context_length_400_is_context_length) {
  auto error = classify(400, "error_400_context_length.json");
  BOOST_TEST(error.kind == failure_kind::context_length);
}

BOOST_AUTO_TEST_CASE(access_denied_401_is_auth) {
  auto error = classify(401, "error_401.json");
  BOOST_TEST(error.kind == failure_kind::auth);
  BOOST_TEST(error.message.rfind("Access denied due to invalid subscription "
                                 "key",
                                 0) == 0u);
}

BOOST_AUTO_TEST_CASE(deployment_not_found_404_is_bad_request) {
  auto error = classify(404, "error_404_deployment.json");
  BOOST_TEST(error.kind == failure_kind::bad_request);
  BOOST_TEST(error.message.rfind("The API deployment for this resource does "
                                 "not exist.",
                                 0) == 0u);
}

BOOST_AUTO_TEST_CASE(token_rate_limit_429_is_rate_limited) {
  auto error = classify(429, "error_429.json");
  BOOST_TEST(error.kind == failure_kind::rate_limited);
  BOOST_TEST(error.message.find("Please retry after 6 seconds") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(status_in_an_error_code_inside_a_stream_decides_kind) {
  auto update = azure().decode_event(
      data_event(R"({"error":{"code":"429","message":"Too many requests"}})"));
  BOOST_REQUIRE(update.error.has_value());
  BOOST_TEST(update.error->kind == failure_kind::rate_limited);
}
