#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <rapidjson/document.h>

#include "plugins/codecs/openai_compatible/openai_compatible_codec.hpp"
#include "tests/unit/codec_test_support.hpp"
#include "tutti/sse_decoder.hpp"

// `openai-compatible` shares the `openai` codec's implementation; this file
// covers what other servers really send (tests/fixtures/openai_compatible/).

using namespace tutti;
using namespace tutti::codec_test;

namespace {

std::string read_fixture(const std::string& name) {
  return codec_test::read_fixture("openai_compatible", name);
}

const codec& compatible() {
  static auto instance = make_openai_compatible_codec();
  return *instance;
}

provider_settings settings() {
  provider_settings p;
  p.name = "local";
  p.kind = "openai-compatible";
  p.model = "llama3.2";
  p.base_url = "http://localhost:11434/v1";
  return p;
}

chat_request question() {
  chat_request req;
  req.id = "r1";
  req.messages = {{"user", "What is the capital of France?"}};
  return req;
}

/// Whether the provider takes `reply` as whole: `[DONE]`, or a finish
/// reason when the codec accepts unterminated streams.
bool complete(const codec_test::streamed_reply& reply) {
  return !reply.error &&
         (reply.terminal || (compatible().accepts_unterminated_stream() &&
                             !reply.finish_reason.empty()));
}

codec_test::streamed_reply stream_through(std::string_view bytes,
                                          std::size_t chunk) {
  return codec_test::stream_through(compatible(), bytes, chunk);
}

const std::string answer = "Paris is the capital of France.";

const std::vector<std::size_t> chunk_sizes = {1, 7, 100, 1 << 20};

failure classify(int status, const std::string& fixture) {
  return compatible().classify_error(status, read_fixture(fixture), {});
}

} // namespace

// --- encode ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(default_base_url_is_empty_so_config_must_give_one) {
  BOOST_TEST(compatible().default_base_url() == "");
}

BOOST_AUTO_TEST_CASE(encode_posts_to_chat_completions_under_base_url) {
  auto req = compatible().encode(question(), settings());
  BOOST_TEST(req.method == "POST");
  BOOST_TEST(req.url == "http://localhost:11434/v1/chat/completions");
  auto groq = settings();
  groq.base_url = "https://api.groq.com/openai/v1/";
  BOOST_TEST(compatible().encode(question(), groq).url ==
             "https://api.groq.com/openai/v1/chat/completions");
}

BOOST_AUTO_TEST_CASE(encode_sends_bearer_key_only_when_set) {
  auto keyless = compatible().encode(question(), settings());
  BOOST_TEST(header(keyless, "authorization") == "<absent>");
  BOOST_TEST(keyless.headers.size() == 1u);

  auto keyed = settings();
  keyed.api_key = "gsk_test";
  BOOST_TEST(header(compatible().encode(question(), keyed), "authorization") ==
             "Bearer gsk_test");
}

BOOST_AUTO_TEST_CASE(encode_appends_custom_headers) {
  auto openrouter = settings();
  openrouter.base_url = "https://openrouter.ai/api/v1";
  openrouter.api_key = "sk-or-test";
  openrouter.extra_headers = {{"HTTP-Referer", "https://example.org"},
                              {"X-Title", "tutti"}};
  auto req = compatible().encode(question(), openrouter);
  BOOST_TEST(header(req, "http-referer") == "https://example.org");
  BOOST_TEST(header(req, "x-title") == "tutti");
  BOOST_TEST(header(req, "authorization") == "Bearer sk-or-test");
  BOOST_TEST(req.headers.back().first == "X-Title");
}

BOOST_AUTO_TEST_CASE(encode_body_is_openais_with_stream_options) {
  auto req = question();
  req.stream = true;
  req.params.temperature = 0.5;
  auto http = compatible().encode(req, settings());
  rapidjson::Document doc;
  doc.Parse(http.body.c_str());
  BOOST_REQUIRE(!doc.HasParseError());
  BOOST_TEST(std::string{doc["model"].GetString()} == "llama3.2");
  BOOST_TEST(doc["messages"].Size() == 1u);
  BOOST_TEST(doc["temperature"].GetDouble() == 0.5);
  BOOST_TEST(doc["stream"].IsTrue());
  BOOST_TEST(doc["stream_options"]["include_usage"].IsTrue());
  BOOST_TEST(header(http, "accept") == "text/event-stream");
}

BOOST_AUTO_TEST_CASE(encode_ignores_api_version) {
  auto provider = settings();
  provider.options["api_version"] = "2024-10-21";
  BOOST_TEST(compatible().encode(question(), provider).url ==
             "http://localhost:11434/v1/chat/completions");
}

// --- whole replies --------------------------------------------------------

BOOST_AUTO_TEST_CASE(ollama_whole_reply_reads_text_and_usage) {
  auto reply = as_completion(
      compatible().decode_body(read_fixture("ollama_completion.json")));
  BOOST_TEST(reply.text == answer);
  BOOST_TEST(reply.finish_reason == "stop");
  BOOST_TEST(reply.usage.input_tokens == 31);
  BOOST_TEST(reply.usage.output_tokens == 8);
  BOOST_TEST(reply.usage.cached_input_tokens == 0);
}

BOOST_AUTO_TEST_CASE(deepseek_whole_reply_leaves_reasoning_out_of_the_text) {
  auto reply = as_completion(
      compatible().decode_body(read_fixture("deepseek_completion.json")));
  BOOST_TEST(reply.text == answer);
  BOOST_TEST(reply.usage.input_tokens == 80);
  BOOST_TEST(reply.usage.output_tokens == 31);
  BOOST_TEST(reply.usage.cached_input_tokens == 64);
}

BOOST_AUTO_TEST_CASE(deepseek_cache_hit_tokens_count_without_details) {
  auto reply = as_completion(compatible().decode_body(
      R"({"choices":[{"message":{"content":"hi"},"finish_reason":"stop"}],
          "usage":{"prompt_tokens":80,"completion_tokens":2,
          "prompt_cache_hit_tokens":64,"prompt_cache_miss_tokens":16}})"));
  BOOST_TEST(reply.usage.cached_input_tokens == 64);
}

BOOST_AUTO_TEST_CASE(finish_reason_eos_is_stop) {
  auto reply = as_completion(
      compatible().decode_body(read_fixture("together_completion_eos.json")));
  BOOST_TEST(reply.text == answer);
  BOOST_TEST(reply.finish_reason == "stop");
  for (auto* reason : {"eos", "eos_token", "stop_sequence"}) {
    auto update = compatible().decode_event(
        data_event(std::string{R"({"choices":[{"delta":{},"finish_reason":")"} +
                   reason + "\"}]}"));
    BOOST_TEST(update.finish_reason == "stop");
  }
}

BOOST_AUTO_TEST_CASE(whole_reply_without_usage_counts_zero_tokens) {
  auto reply = as_completion(compatible().decode_body(
      R"({"choices":[{"message":{"role":"assistant","content":"hi"},)"
      R"("finish_reason":"stop"}]})"));
  BOOST_TEST(reply.usage.input_tokens == 0);
  BOOST_TEST(reply.usage.output_tokens == 0);
}

BOOST_AUTO_TEST_CASE(groq_whole_reply_usage_with_timings_is_read) {
  auto reply = as_completion(compatible().decode_body(
      R"({"choices":[{"message":{"content":"hi"},"finish_reason":"stop"}],
          "usage":{"queue_time":0.02,"prompt_tokens":45,"prompt_time":0.003,
          "completion_tokens":9,"completion_time":0.01,"total_tokens":54,
          "total_time":0.013},"x_groq":{"id":"req_01j"}})"));
  BOOST_TEST(reply.usage.input_tokens == 45);
  BOOST_TEST(reply.usage.output_tokens == 9);
}

BOOST_AUTO_TEST_CASE(content_as_parts_keeps_the_text_parts_only) {
  auto reply = as_completion(compatible().decode_body(
      R"({"choices":[{"message":{"role":"assistant","content":[
          {"type":"thinking","thinking":[{"type":"text","text":"hmm"}]},
          {"type":"text","text":"Paris"},{"type":"text","text":"."}]},
          "finish_reason":"stop"}]})"));
  BOOST_TEST(reply.text == "Paris.");
}

BOOST_AUTO_TEST_CASE(reasoning_that_ran_out_of_tokens_is_an_empty_reply) {
  // Every token went to reasoning: billed, and no answer.
  auto error = as_failure(compatible().decode_body(
      R"({"choices":[{"message":{"role":"assistant","content":null,
          "reasoning_content":"Let me think about"},"finish_reason":"length"}],
          "usage":{"prompt_tokens":10,"completion_tokens":64}})"));
  BOOST_TEST(error.kind == failure_kind::empty_reply);
  BOOST_TEST(error.message ==
             "the reply holds no text (finish reason \"length\")");
  BOOST_TEST(error.usage.output_tokens == 64);
}

// --- streams --------------------------------------------------------------

BOOST_AUTO_TEST_CASE(compatible_streams_may_end_without_done) {
  BOOST_TEST(compatible().accepts_unterminated_stream());
}

BOOST_AUTO_TEST_CASE(ollama_stream_without_usage_completes_at_done) {
  auto bytes = read_fixture("ollama_stream.sse");
  for (auto chunk : chunk_sizes) {
    BOOST_TEST_CONTEXT("chunks of " << chunk << " bytes") {
      auto reply = stream_through(bytes, chunk);
      BOOST_TEST(reply.text == answer);
      BOOST_TEST(reply.finish_reason == "stop");
      BOOST_TEST(!reply.tokens.has_value());
      BOOST_TEST(reply.terminal);
      BOOST_TEST(complete(reply));
    }
  }
}

BOOST_AUTO_TEST_CASE(llamacpp_stream_without_done_is_complete) {
  auto bytes = read_fixture("llamacpp_stream_no_done.sse");
  for (auto chunk : chunk_sizes) {
    BOOST_TEST_CONTEXT("chunks of " << chunk << " bytes") {
      auto reply = stream_through(bytes, chunk);
      BOOST_TEST(reply.text == answer);
      BOOST_TEST(reply.finish_reason == "stop");
      BOOST_TEST(!reply.terminal);
      BOOST_TEST(complete(reply));
      BOOST_REQUIRE(reply.tokens.has_value());
      BOOST_TEST(reply.tokens->input_tokens == 24);
      BOOST_TEST(reply.tokens->output_tokens == 8);
      BOOST_TEST(reply.tokens->cached_input_tokens == 0);
    }
  }
}

BOOST_AUTO_TEST_CASE(stream_cut_before_its_finish_reason_is_incomplete) {
  auto bytes = read_fixture("llamacpp_stream_no_done.sse");
  auto last_event = bytes.rfind("data: ");
  auto reply = stream_through(bytes.substr(0, last_event), 64);
  BOOST_TEST(reply.text == answer);
  BOOST_TEST(reply.finish_reason.empty());
  BOOST_TEST(!complete(reply));
}

BOOST_AUTO_TEST_CASE(vllm_stream_reads_the_usage_chunk_and_cached_tokens) {
  auto bytes = read_fixture("vllm_stream_with_usage.sse");
  for (auto chunk : chunk_sizes) {
    BOOST_TEST_CONTEXT("chunks of " << chunk << " bytes") {
      auto reply = stream_through(bytes, chunk);
      BOOST_TEST(reply.text == answer);
      BOOST_TEST(reply.finish_reason == "stop");
      BOOST_TEST(reply.terminal);
      BOOST_REQUIRE(reply.tokens.has_value());
      BOOST_TEST(reply.tokens->input_tokens == 2071);
      BOOST_TEST(reply.tokens->output_tokens == 8);
      BOOST_TEST(reply.tokens->cached_input_tokens == 2048);
    }
  }
}

BOOST_AUTO_TEST_CASE(deepseek_stream_leaves_reasoning_out_of_the_text) {
  auto bytes = read_fixture("deepseek_reasoner_stream.sse");
  for (auto chunk : chunk_sizes) {
    BOOST_TEST_CONTEXT("chunks of " << chunk << " bytes") {
      auto reply = stream_through(bytes, chunk);
      BOOST_TEST(reply.text == answer);
      BOOST_TEST(reply.text.find("Okay") == std::string::npos);
      BOOST_TEST(reply.finish_reason == "stop");
      BOOST_TEST(reply.terminal);
      BOOST_TEST(!reply.error.has_value());
      BOOST_REQUIRE(reply.tokens.has_value());
      BOOST_TEST(reply.tokens->input_tokens == 80);
      BOOST_TEST(reply.tokens->output_tokens == 31);
      BOOST_TEST(reply.tokens->cached_input_tokens == 64);
    }
  }
}

BOOST_AUTO_TEST_CASE(reasoning_only_chunk_gives_no_text_and_no_error) {
  auto update = compatible().decode_event(
      data_event(R"({"choices":[{"index":0,"delta":{"content":null,)"
                 R"("reasoning_content":"Okay"},"finish_reason":null}]})"));
  BOOST_TEST(update.text.empty());
  BOOST_TEST(!update.error.has_value());
  BOOST_TEST(!update.usage.has_value());
}

BOOST_AUTO_TEST_CASE(groq_stream_reads_x_groq_usage) {
  auto bytes = read_fixture("groq_stream.sse");
  for (auto chunk : chunk_sizes) {
    BOOST_TEST_CONTEXT("chunks of " << chunk << " bytes") {
      auto reply = stream_through(bytes, chunk);
      BOOST_TEST(reply.text == answer);
      BOOST_TEST(reply.finish_reason == "stop");
      BOOST_TEST(reply.terminal);
      BOOST_REQUIRE(reply.tokens.has_value());
      BOOST_TEST(reply.tokens->input_tokens == 45);
      BOOST_TEST(reply.tokens->output_tokens == 8);
    }
  }
}

BOOST_AUTO_TEST_CASE(openrouter_processing_comments_are_ignored) {
  auto bytes = read_fixture("openrouter_stream.sse");
  BOOST_REQUIRE(bytes.rfind(": OPENROUTER PROCESSING", 0) == 0u);
  for (auto chunk : chunk_sizes) {
    BOOST_TEST_CONTEXT("chunks of " << chunk << " bytes") {
      auto reply = stream_through(bytes, chunk);
      BOOST_TEST(reply.text == answer);
      BOOST_TEST(reply.finish_reason == "stop");
      BOOST_TEST(reply.terminal);
      BOOST_TEST(!reply.error.has_value());
      BOOST_REQUIRE(reply.tokens.has_value());
      BOOST_TEST(reply.tokens->input_tokens == 27);
      BOOST_TEST(reply.tokens->output_tokens == 8);
    }
  }
}

BOOST_AUTO_TEST_CASE(openrouter_mid_stream_error_is_a_server_error) {
  auto reply = stream_through(read_fixture("openrouter_stream_error.sse"), 32);
  BOOST_TEST(reply.text == "Paris is");
  BOOST_REQUIRE(reply.error.has_value());
  BOOST_TEST(reply.error->kind == failure_kind::server);
  BOOST_TEST(reply.error->message == "Provider disconnected unexpectedly");
  BOOST_TEST(!complete(reply));
}

BOOST_AUTO_TEST_CASE(finish_reason_error_without_error_object_is_a_failure) {
  auto update = compatible().decode_event(
      data_event(R"({"choices":[{"delta":{},"finish_reason":"error"}]})"));
  BOOST_REQUIRE(update.error.has_value());
  BOOST_TEST(update.error->kind == failure_kind::server);
  BOOST_TEST(update.error->message.find("finish_reason") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(error_shapes_inside_a_stream_are_errors) {
  struct row {
    std::string_view data;
    failure_kind kind;
    std::string_view message;
  };
  for (const auto& [data, kind, message] : {
           row{R"({"error":"model crashed"})", failure_kind::server,
               "model crashed"},
           row{R"({"object":"error","message":"This model's maximum context )"
               R"(length is 4096 tokens.","type":"BadRequestError",)"
               R"("param":null,"code":400})",
               failure_kind::context_length,
               "This model's maximum context length is 4096 tokens."},
           row{R"({"object":"error","message":"bad","type":"BadRequestError",)"
               R"("code":400})",
               failure_kind::bad_request, "bad"},
           row{R"({"error":{"code":503,"message":"Loading model"}})",
               failure_kind::overloaded, "Loading model"},
           row{R"({"detail":"Internal error"})", failure_kind::server,
               "Internal error"},
       }) {
    BOOST_TEST_CONTEXT(data) {
      auto update = compatible().decode_event(data_event(std::string{data}));
      BOOST_REQUIRE(update.error.has_value());
      BOOST_TEST(update.error->kind == kind);
      BOOST_TEST(update.error->message == message);
    }
  }
}

// --- errors (non-2xx) -----------------------------------------------------

BOOST_AUTO_TEST_CASE(vllm_top_level_error_400_is_context_length) {
  auto error = classify(400, "vllm_error_400_context_length.json");
  BOOST_TEST(error.kind == failure_kind::context_length);
  BOOST_TEST(error.http_status == 400);
  BOOST_TEST(error.message.rfind("This model's maximum context length is 8192",
                                 0) == 0u);
}

BOOST_AUTO_TEST_CASE(llamacpp_exceed_context_size_is_context_length) {
  auto error = classify(400, "llamacpp_error_400_context_size.json");
  BOOST_TEST(error.kind == failure_kind::context_length);
  BOOST_TEST(error.message ==
             "the request exceeds the available context size, try "
             "increasing it");
}

BOOST_AUTO_TEST_CASE(fastapi_detail_list_names_field_and_problem) {
  auto error = classify(422, "fastapi_error_422_detail.json");
  BOOST_TEST(error.kind == failure_kind::bad_request);
  BOOST_TEST(error.message == "body.messages: Field required");
}

BOOST_AUTO_TEST_CASE(fastapi_detail_string_is_the_message) {
  auto error = classify(404, "fastapi_error_404_detail.json");
  BOOST_TEST(error.kind == failure_kind::bad_request);
  BOOST_TEST(error.message == "Not Found");
}

BOOST_AUTO_TEST_CASE(ollama_missing_model_404_is_bad_request) {
  auto error = classify(404, "ollama_error_404_model.json");
  BOOST_TEST(error.kind == failure_kind::bad_request);
  BOOST_TEST(error.message ==
             "model \"llama9\" not found, try pulling it first");
}

BOOST_AUTO_TEST_CASE(mistral_top_level_message_401_is_auth) {
  auto error = classify(401, "mistral_error_401.json");
  BOOST_TEST(error.kind == failure_kind::auth);
  BOOST_TEST(error.message == "Unauthorized");
}

BOOST_AUTO_TEST_CASE(groq_invalid_key_401_is_auth) {
  auto error = classify(401, "groq_error_401.json");
  BOOST_TEST(error.kind == failure_kind::auth);
  BOOST_TEST(error.message == "Invalid API Key");
}

BOOST_AUTO_TEST_CASE(string_error_500_is_server_with_its_text) {
  auto error = classify(500, "string_error_500.json");
  BOOST_TEST(error.kind == failure_kind::server);
  BOOST_TEST(error.message == "Internal Server Error");
}

BOOST_AUTO_TEST_CASE(mistral_message_object_with_detail_is_read) {
  auto error = compatible().classify_error(
      422,
      R"({"object":"error","message":{"detail":[{"type":"missing",)"
      R"("loc":["body","model"],"msg":"Field required"}]},)"
      R"("type":"invalid_request_message_error","param":null,"code":null})",
      {});
  BOOST_TEST(error.kind == failure_kind::bad_request);
  BOOST_TEST(error.message == "body.model: Field required");
}

BOOST_AUTO_TEST_CASE(whole_body_with_an_error_shape_is_that_failure) {
  auto error = as_failure(compatible().decode_body(
      read_fixture("vllm_error_400_context_length.json")));
  BOOST_TEST(error.kind == failure_kind::context_length);
  auto detail = as_failure(compatible().decode_body(R"({"detail":"boom"})"));
  BOOST_TEST(detail.kind == failure_kind::server);
  BOOST_TEST(detail.message == "boom");
}

BOOST_AUTO_TEST_CASE(ollama_native_reply_is_protocol_not_an_error) {
  // base_url without /v1 reaches Ollama's own API, whose replies have a
  // `message` object: that is the wrong format, not an error message.
  auto error = as_failure(compatible().decode_body(
      R"({"model":"llama3.2","message":{"role":"assistant","content":"hi"},)"
      R"("done":true})"));
  BOOST_TEST(error.kind == failure_kind::protocol);
  BOOST_TEST(error.message.find("no choices") != std::string::npos);
}
