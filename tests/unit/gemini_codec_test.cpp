#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <rapidjson/document.h>

#include "plugins/codecs/gemini/gemini_codec.hpp"
#include "tests/unit/codec_test_support.hpp"
#include "tutti/sse_decoder.hpp"

using namespace tutti;
using namespace tutti::codec_test;

namespace {

std::string read_fixture(const std::string& name) {
  return codec_test::read_fixture("gemini", name);
}

/// The codec under test, shared by every case.
const codec& gemini() {
  static auto instance = make_gemini_codec();
  return *instance;
}

provider_settings settings() {
  provider_settings p;
  p.name = "gem";
  p.kind = "gemini";
  p.model = "gemini-2.0-flash";
  p.base_url = "https://generativelanguage.googleapis.com/v1beta";
  p.api_key = "AIzaSyTest-key_123";
  return p;
}

chat_request question(std::string text = "What is the capital of France?") {
  chat_request req;
  req.id = "r1";
  req.messages = {{"system", "Answer briefly."}, {"user", std::move(text)}};
  return req;
}

codec_test::streamed_reply stream_through(std::string_view bytes,
                                          std::size_t chunk) {
  return codec_test::stream_through(gemini(), bytes, chunk);
}

const std::string expected_text =
    "Paris is the capital of France.\nIt\xE2\x80\x99s called \xC2\xAB"
    "la Ville Lumi\xC3\xA8re\xC2\xBB \xF0\x9F\x97\xBC \xE2\x80\x94 \"City of "
    "Light\".";

} // namespace

// --- encode ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(default_base_url_is_generativelanguage_v1beta) {
  BOOST_TEST(gemini().default_base_url() ==
             "https://generativelanguage.googleapis.com/v1beta");
}

BOOST_AUTO_TEST_CASE(encode_posts_whole_request_to_generate_content) {
  auto req = gemini().encode(question(), settings());
  BOOST_TEST(req.method == "POST");
  BOOST_TEST(req.url == "https://generativelanguage.googleapis.com/v1beta/"
                        "models/gemini-2.0-flash:generateContent");
}

BOOST_AUTO_TEST_CASE(encode_posts_streamed_request_to_stream_as_sse) {
  auto streamed = question();
  streamed.stream = true;
  auto req = gemini().encode(streamed, settings());
  BOOST_TEST(req.method == "POST");
  BOOST_TEST(req.url ==
             "https://generativelanguage.googleapis.com/v1beta/"
             "models/gemini-2.0-flash:streamGenerateContent?alt=sse");
}

BOOST_AUTO_TEST_CASE(encode_uses_base_url_without_its_trailing_slash) {
  auto local = settings();
  local.base_url = "http://127.0.0.1:8089/v1beta/";
  BOOST_TEST(gemini().encode(question(), local).url ==
             "http://127.0.0.1:8089/v1beta/models/"
             "gemini-2.0-flash:generateContent");
  local.base_url.clear();
  BOOST_TEST(gemini().encode(question(), local).url ==
             "https://generativelanguage.googleapis.com/v1beta/"
             "models/gemini-2.0-flash:generateContent");
}

BOOST_AUTO_TEST_CASE(encode_drops_a_models_prefix_and_escapes_the_model) {
  auto provider = settings();
  provider.model = "models/gemini-2.5-flash";
  BOOST_TEST(gemini().encode(question(), provider).url ==
             "https://generativelanguage.googleapis.com/v1beta/"
             "models/gemini-2.5-flash:generateContent");
  provider.model = "odd model?x=1";
  BOOST_TEST(gemini().encode(question(), provider).url ==
             "https://generativelanguage.googleapis.com/v1beta/"
             "models/odd%20model%3Fx%3D1:generateContent");
}

BOOST_AUTO_TEST_CASE(encode_sends_key_in_a_header_never_in_the_url) {
  for (bool stream : {false, true}) {
    BOOST_TEST_CONTEXT("stream " << stream) {
      auto q = question();
      q.stream = stream;
      auto req = gemini().encode(q, settings());
      BOOST_TEST(header(req, "x-goog-api-key") == "AIzaSyTest-key_123");
      BOOST_TEST(header(req, "content-type") == "application/json");
      BOOST_TEST(header(req, "authorization") == "<absent>");
      BOOST_TEST(req.url.find("AIzaSy") == std::string::npos);
      BOOST_TEST(req.url.find("key=") == std::string::npos);
      BOOST_TEST(req.body.find("AIzaSy") == std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(encode_omits_the_key_header_when_key_is_empty) {
  auto keyless = settings();
  keyless.api_key.clear();
  auto req = gemini().encode(question(), keyless);
  BOOST_TEST(header(req, "x-goog-api-key") == "<absent>");
  BOOST_REQUIRE(req.headers.size() == 1u);
  BOOST_TEST(req.headers[0].first == "Content-Type");
}

BOOST_AUTO_TEST_CASE(encode_sends_extra_headers_after_its_own) {
  auto provider = settings();
  provider.extra_headers = {{"x-goog-user-project", "my-project"},
                            {"X-Trace", "abc"}};
  auto req = gemini().encode(question(), provider);
  BOOST_REQUIRE(req.headers.size() == 4u);
  BOOST_TEST(req.headers[0].first == "x-goog-api-key");
  BOOST_TEST(req.headers[1].first == "Content-Type");
  BOOST_TEST(req.headers[2].first == "x-goog-user-project");
  BOOST_TEST(req.headers[2].second == "my-project");
  BOOST_TEST(req.headers[3].first == "X-Trace");
  BOOST_TEST(req.headers[3].second == "abc");
}

BOOST_AUTO_TEST_CASE(encode_lets_a_custom_header_replace_one_of_ours) {
  auto provider = settings();
  provider.extra_headers = {
      {"content-type", "application/json; charset=utf-8"}};
  auto req = gemini().encode(question(), provider);
  BOOST_REQUIRE(req.headers.size() == 2u);
  BOOST_TEST(header(req, "Content-Type") == "application/json; charset=utf-8");
}

BOOST_AUTO_TEST_CASE(encode_sends_function_declarations_config_and_turns) {
  auto req = question();
  chat_message asked{"assistant", ""};
  asked.tool_calls.push_back({"call_0", "get_weather", R"({"city":"Paris"})"});
  asked.tool_calls.push_back({"call_1", "get_time", "{}"});
  chat_message weather{"tool", "18 C"};
  weather.tool_call_id = "call_0";
  chat_message time{"tool", "noon"};
  time.tool_call_id = "call_1";
  req.messages.push_back(asked);
  req.messages.push_back(weather);
  req.messages.push_back(time);
  req.params.tools.push_back(
      {"get_weather", "Weather now",
       R"({"type":"object","additionalProperties":false})", true});
  req.params.tool_choice = {"function", "get_weather"};
  req.params.response_format = {"json_schema", "w", R"({"type":"object"})",
                                true};
  auto doc = parse(gemini().encode(req, settings()).body);
  auto& declaration = doc["tools"][0]["functionDeclarations"][0];
  BOOST_TEST(str(declaration["name"]) == "get_weather");
  BOOST_TEST(
      !declaration["parametersJsonSchema"]["additionalProperties"].GetBool());
  auto& calling = doc["toolConfig"]["functionCallingConfig"];
  BOOST_TEST(str(calling["mode"]) == "ANY");
  BOOST_TEST(str(calling["allowedFunctionNames"][0]) == "get_weather");
  BOOST_TEST(str(doc["generationConfig"]["responseMimeType"]) ==
             "application/json");
  BOOST_TEST(str(doc["generationConfig"]["responseJsonSchema"]["type"]) ==
             "object");
  auto& contents = doc["contents"];
  // user, model with two calls, one user turn with both results.
  BOOST_REQUIRE(contents.Size() == 3u);
  BOOST_TEST(str(contents[1]["role"]) == "model");
  BOOST_REQUIRE(contents[1]["parts"].Size() == 2u);
  BOOST_TEST(str(contents[1]["parts"][0]["functionCall"]["args"]["city"]) ==
             "Paris");
  auto& results = contents[2]["parts"];
  BOOST_REQUIRE(results.Size() == 2u);
  BOOST_TEST(str(results[1]["functionResponse"]["name"]) == "get_time");
  BOOST_TEST(str(results[1]["functionResponse"]["response"]["content"]) ==
             "noon");
}

BOOST_AUTO_TEST_CASE(function_calls_are_tool_calls_whole_and_streamed) {
  auto whole = gemini().decode_body(read_fixture("function_call.json"));
  auto& reply = std::get<completion>(whole);
  BOOST_REQUIRE(reply.tool_calls.size() == 1u);
  BOOST_TEST(reply.tool_calls[0].name == "get_weather");
  BOOST_TEST(reply.tool_calls[0].arguments ==
             R"({"location":"Paris, France"})");
  // Calls in two events are two calls: each comes whole.
  std::string two =
      "data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":"
      "{\"name\":\"f\",\"args\":{\"a\":1}}}]}}]}\r\n\r\n"
      "data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":"
      "{\"name\":\"g\",\"args\":{}}}]},\"finishReason\":\"STOP\"}]}\r\n\r\n";
  auto streamed = codec_test::stream_through(gemini(), two, 5).outcome;
  auto& calls = std::get<completion>(streamed).tool_calls;
  BOOST_REQUIRE(calls.size() == 2u);
  BOOST_TEST(calls[0].arguments == R"({"a":1})");
  BOOST_TEST(calls[1].name == "g");
  BOOST_TEST(calls[1].id == "call_1");
}

BOOST_AUTO_TEST_CASE(encode_sends_turns_as_contents_with_assistant_as_model) {
  auto req = question();
  req.messages = {{"user", "Hi"},
                  {"assistant", "Hello! How can I help?"},
                  {"user", "Capital of France?"}};
  auto doc = parse(gemini().encode(req, settings()).body);
  const auto& contents = doc["contents"];
  BOOST_REQUIRE(contents.IsArray());
  BOOST_REQUIRE(contents.Size() == 3u);
  const char* roles[] = {"user", "model", "user"};
  for (rapidjson::SizeType i = 0; i < 3; ++i) {
    BOOST_TEST_CONTEXT("turn " << i) {
      BOOST_TEST(str(contents[i]["role"]) == roles[i]);
      BOOST_REQUIRE(contents[i]["parts"].IsArray());
      BOOST_REQUIRE(contents[i]["parts"].Size() == 1u);
      BOOST_TEST(str(contents[i]["parts"][0]["text"]) ==
                 req.messages[i].content);
    }
  }
  BOOST_TEST(!doc.HasMember("systemInstruction"));
  BOOST_TEST(!doc.HasMember("model"));
}

BOOST_AUTO_TEST_CASE(encode_joins_system_turns_into_system_instruction) {
  auto req = question();
  req.messages = {{"system", "Answer briefly."},
                  {"user", "Capital of France?"},
                  {"system", "Use French names."}};
  auto doc = parse(gemini().encode(req, settings()).body);
  const auto& contents = doc["contents"];
  BOOST_REQUIRE(contents.Size() == 1u);
  BOOST_TEST(str(contents[0]["role"]) == "user");
  const auto& system = doc["systemInstruction"];
  BOOST_REQUIRE(system.IsObject());
  BOOST_TEST(!system.HasMember("role"));
  BOOST_REQUIRE(system["parts"].Size() == 1u);
  BOOST_TEST(str(system["parts"][0]["text"]) ==
             "Answer briefly.\n\nUse French names.");
}

BOOST_AUTO_TEST_CASE(encode_omits_generation_config_when_nothing_is_set) {
  for (bool stream : {false, true}) {
    auto req = question();
    req.stream = stream;
    auto doc = parse(gemini().encode(req, settings()).body);
    BOOST_TEST(!doc.HasMember("generationConfig"));
    BOOST_TEST(doc.HasMember("contents"));
    BOOST_TEST(doc.HasMember("systemInstruction"));
    BOOST_TEST(doc.MemberCount() == 2u);
  }
}

BOOST_AUTO_TEST_CASE(encode_generation_config_holds_only_the_set_values) {
  auto req = question();
  req.params.temperature = 0.2;
  req.params.max_tokens = 64;
  auto doc = parse(gemini().encode(req, settings()).body);
  const auto& config = doc["generationConfig"];
  BOOST_REQUIRE(config.IsObject());
  BOOST_TEST(config.MemberCount() == 2u);
  BOOST_TEST(config["temperature"].GetDouble() == 0.2);
  BOOST_TEST(config["maxOutputTokens"].GetInt64() == 64);
}

BOOST_AUTO_TEST_CASE(encode_takes_request_params_over_provider_defaults) {
  auto req = question();
  req.params.temperature = 0.2;
  req.params.max_tokens = 64;
  req.params.stop = {"\n\n"};
  auto provider = settings();
  provider.defaults.temperature = 0.9;
  provider.defaults.top_p = 0.5;
  provider.defaults.max_tokens = 1024;
  provider.defaults.seed = 42;
  provider.defaults.stop = {"END", "STOP"};

  auto doc = parse(gemini().encode(req, provider).body);
  const auto& config = doc["generationConfig"];
  BOOST_TEST(config.MemberCount() == 5u);
  BOOST_TEST(config["temperature"].GetDouble() == 0.2);
  BOOST_TEST(config["topP"].GetDouble() == 0.5);
  BOOST_TEST(config["maxOutputTokens"].GetInt64() == 64);
  BOOST_TEST(config["seed"].GetInt64() == 42);
  BOOST_REQUIRE(config["stopSequences"].IsArray());
  BOOST_REQUIRE(config["stopSequences"].Size() == 1u);
  BOOST_TEST(str(config["stopSequences"][0]) == "\n\n");
}

BOOST_AUTO_TEST_CASE(encode_fills_unset_params_from_provider_defaults) {
  auto provider = settings();
  provider.defaults.top_p = 0.95;
  provider.defaults.stop = {"END", "STOP"};
  auto doc = parse(gemini().encode(question(), provider).body);
  const auto& config = doc["generationConfig"];
  BOOST_TEST(config.MemberCount() == 2u);
  BOOST_TEST(config["topP"].GetDouble() == 0.95);
  BOOST_REQUIRE(config["stopSequences"].Size() == 2u);
  BOOST_TEST(str(config["stopSequences"][0]) == "END");
  BOOST_TEST(str(config["stopSequences"][1]) == "STOP");
}

BOOST_AUTO_TEST_CASE(encode_writes_numbers_exactly) {
  auto req = question();
  req.params.temperature = 0.0;
  req.params.top_p = 0.95;
  req.params.seed = 7;
  auto body = gemini().encode(req, settings()).body;
  BOOST_TEST(body.find("\"temperature\":0.0") != std::string::npos);
  BOOST_TEST(body.find("\"topP\":0.95") != std::string::npos);
  BOOST_TEST(body.find("\"seed\":7") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(encode_leaves_out_non_finite_numbers) {
  auto req = question();
  req.params.temperature = std::numeric_limits<double>::quiet_NaN();
  auto provider = settings();
  provider.defaults.top_p = std::numeric_limits<double>::infinity();
  auto doc = parse(gemini().encode(req, provider).body);
  BOOST_TEST(!doc.HasMember("generationConfig"));
}

BOOST_AUTO_TEST_CASE(encode_escapes_quotes_newlines_controls_and_unicode) {
  using namespace std::string_literals;
  const auto tricky =
      "She said \"hi\"\\ \n\ttab\r \x01 caf\xC3\xA9 \xF0\x9F\x97\xBC"
      " </script> \0end"s;
  auto req = question(tricky);
  req.params.stop = {"\"", "\n"};
  auto body = gemini().encode(req, settings()).body;
  for (char c : body) {
    BOOST_TEST_REQUIRE(static_cast<unsigned char>(c) >= 0x20u);
  }
  auto doc = parse(body);
  BOOST_TEST(str(doc["contents"][0]["parts"][0]["text"]) == tricky);
  BOOST_TEST(str(doc["generationConfig"]["stopSequences"][0]) == "\"");
  BOOST_TEST(str(doc["generationConfig"]["stopSequences"][1]) == "\n");
}

// --- decode_body ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(decode_body_reads_text_finish_reason_and_cached_usage) {
  auto reply =
      as_completion(gemini().decode_body(read_fixture("completion.json")));
  BOOST_TEST(reply.text == expected_text);
  BOOST_TEST(reply.finish_reason == "stop");
  BOOST_TEST(reply.usage.input_tokens == 2061); // the cached part included
  BOOST_TEST(reply.usage.cached_input_tokens == 2048);
  BOOST_TEST(reply.usage.output_tokens == 21);
}

BOOST_AUTO_TEST_CASE(decode_body_skips_thoughts_and_bills_them_as_output) {
  auto reply = as_completion(
      gemini().decode_body(read_fixture("completion_thinking.json")));
  BOOST_TEST(reply.text == "The capital of France is Paris.");
  BOOST_TEST(reply.finish_reason == "stop");
  BOOST_TEST(reply.usage.input_tokens == 12);
  BOOST_TEST(reply.usage.cached_input_tokens == 0);
  BOOST_TEST(reply.usage.output_tokens == 8 + 301);
}

// Regression (found by codec_fuzz): candidate and thought counts near 2^63
// overflowed their sum (undefined behaviour).
BOOST_AUTO_TEST_CASE(decode_body_usage_sums_saturate) {
  auto reply = as_completion(gemini().decode_body(
      R"({"candidates":[{"content":{"parts":[{"text":"hi"}]},)"
      R"("finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1,)"
      R"("candidatesTokenCount":9223372036854775807,)"
      R"("thoughtsTokenCount":9223372036854775807}})"));
  BOOST_TEST(reply.text == "hi");
  BOOST_TEST(reply.usage.output_tokens == std::numeric_limits<int64_t>::max());
}

BOOST_AUTO_TEST_CASE(decode_body_max_tokens_is_length) {
  auto reply = as_completion(
      gemini().decode_body(read_fixture("completion_max_tokens.json")));
  BOOST_TEST(reply.text == "Paris is the capital");
  BOOST_TEST(reply.finish_reason == "length");
  BOOST_TEST(reply.usage.output_tokens == 4);
}

BOOST_AUTO_TEST_CASE(decode_body_maps_every_finish_reason) {
  struct row {
    std::string_view wire;
    std::string_view ours;
  };
  for (const auto& [wire, ours] : {
           row{"STOP", "stop"},
           row{"MAX_TOKENS", "length"},
           row{"SAFETY", "content_filter"},
           row{"RECITATION", "content_filter"},
           row{"BLOCKLIST", "content_filter"},
           row{"PROHIBITED_CONTENT", "content_filter"},
           row{"SPII", "content_filter"},
           row{"IMAGE_SAFETY", "content_filter"},
           row{"LANGUAGE", "language"},
           row{"MALFORMED_FUNCTION_CALL", "malformed_function_call"},
           row{"OTHER", "other"},
       }) {
    BOOST_TEST_CONTEXT(wire) {
      auto body = R"({"candidates":[{"content":{"parts":[{"text":"Hi"}],)"
                  R"("role":"model"},"finishReason":")" +
                  std::string{wire} + "\"}]}";
      auto reply = as_completion(gemini().decode_body(body));
      BOOST_TEST(reply.text == "Hi");
      BOOST_TEST(reply.finish_reason == ours);
    }
  }
}

BOOST_AUTO_TEST_CASE(decode_body_blocked_prompt_is_a_content_filter_failure) {
  auto error =
      as_failure(gemini().decode_body(read_fixture("blocked_prompt.json")));
  BOOST_TEST(error.kind == failure_kind::content_filter);
  BOOST_TEST(error.message.find("prompt was blocked") != std::string::npos);
  BOOST_TEST(error.message.find("SAFETY") != std::string::npos);
  BOOST_TEST(error.usage.input_tokens == 14);
  BOOST_TEST(error.usage.output_tokens == 0);
}

BOOST_AUTO_TEST_CASE(decode_body_blocked_prompt_names_any_block_reason) {
  auto error = as_failure(gemini().decode_body(
      R"({"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"}})"));
  BOOST_TEST(error.kind == failure_kind::content_filter);
  BOOST_TEST(error.message.find("PROHIBITED_CONTENT") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(decode_body_reply_blocked_before_any_text_is_failure) {
  auto error =
      as_failure(gemini().decode_body(read_fixture("blocked_reply.json")));
  BOOST_TEST(error.kind == failure_kind::content_filter);
  BOOST_TEST(error.message.find("reply was blocked") != std::string::npos);
  BOOST_TEST(error.message.find("SAFETY") != std::string::npos);
  BOOST_TEST(error.usage.input_tokens == 17);
}

BOOST_AUTO_TEST_CASE(decode_body_reply_cut_by_a_filter_keeps_its_text) {
  auto reply = as_completion(gemini().decode_body(
      R"({"candidates":[{"content":{"parts":[{"text":"Step one: "}],)"
      R"("role":"model"},"finishReason":"RECITATION"}]})"));
  BOOST_TEST(reply.text == "Step one: ");
  BOOST_TEST(reply.finish_reason == "content_filter");
}

BOOST_AUTO_TEST_CASE(decode_body_without_usage_counts_zero_tokens) {
  auto reply = as_completion(gemini().decode_body(
      R"({"candidates":[{"content":{"parts":[{"text":"hi"}]},)"
      R"("finishReason":"STOP"}],"x_vendor":{"anything":[1,2]}})"));
  BOOST_TEST(reply.text == "hi");
  BOOST_TEST(reply.usage.input_tokens == 0);
  BOOST_TEST(reply.usage.output_tokens == 0);
  BOOST_TEST(reply.usage.cached_input_tokens == 0);
}

BOOST_AUTO_TEST_CASE(decode_body_that_is_not_json_is_protocol_with_a_quote) {
  std::string html = "<html><body>" + std::string(1000, 'x') + "</body></html>";
  auto error = as_failure(gemini().decode_body(html));
  BOOST_TEST(error.kind == failure_kind::protocol);
  BOOST_TEST(error.message.find("not JSON") != std::string::npos);
  BOOST_TEST(error.message.find("<html><body>xxx") != std::string::npos);
  BOOST_TEST(error.message.size() < 320u);
  BOOST_TEST(error.message.find("</body>") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(decode_body_quote_never_splits_a_utf8_character) {
  std::string body = "x";
  for (int i = 0; i < 300; ++i) {
    body += "\xC3\xA9";
  }
  auto error = as_failure(gemini().decode_body(body));
  BOOST_TEST(is_valid_utf8(error.message));
}

BOOST_AUTO_TEST_CASE(decode_body_without_candidates_is_protocol) {
  for (std::string_view body :
       {R"({"modelVersion":"gemini-2.0-flash"})", R"({"candidates":[]})",
        R"({"candidates":null})", R"({"promptFeedback":{}})", R"([1,2])",
        R"({"candidates":[{"index":0}]})"}) {
    BOOST_TEST_CONTEXT(body) {
      auto error = as_failure(gemini().decode_body(body));
      BOOST_TEST(error.kind == failure_kind::protocol);
      BOOST_TEST(error.message.find(std::string{body}) != std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(decode_body_with_an_error_object_is_that_failure) {
  auto error = as_failure(gemini().decode_body(read_fixture("error_503.json")));
  BOOST_TEST(error.kind == failure_kind::overloaded);
  BOOST_TEST(error.message ==
             "The model is overloaded. Please try again later.");
  auto wrapped =
      as_failure(gemini().decode_body(read_fixture("error_429_array.json")));
  BOOST_TEST(wrapped.kind == failure_kind::rate_limited);
  auto coded = as_failure(
      gemini().decode_body(R"({"error":{"code":500,"message":"boom"}})"));
  BOOST_TEST(coded.kind == failure_kind::server);
}

// --- decode_event ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(event_with_empty_data_is_ignored) {
  auto update = gemini().decode_event(data_event(" \r\n"));
  BOOST_TEST(!update.terminal);
  BOOST_TEST(update.text.empty());
  BOOST_TEST(!update.usage.has_value());
  BOOST_TEST(!update.error.has_value());
}

BOOST_AUTO_TEST_CASE(chunk_gives_its_text_and_running_usage) {
  auto update = gemini().decode_event(data_event(
      R"({"candidates": [{"content": {"parts": [{"text": " caf\u00e9"}],)"
      R"("role": "model"}}],"usageMetadata": {"promptTokenCount": 9,)"
      R"("totalTokenCount": 9}})"));
  BOOST_TEST(update.text == " caf\xC3\xA9");
  BOOST_TEST(update.finish_reason.empty());
  BOOST_TEST(!update.terminal);
  BOOST_REQUIRE(update.usage.has_value());
  BOOST_TEST(reported(update.usage->input_tokens) == 9);
  BOOST_TEST(reported(update.usage->output_tokens) == 0);
}

BOOST_AUTO_TEST_CASE(chunk_with_a_finish_reason_is_terminal) {
  auto update = gemini().decode_event(data_event(
      R"({"candidates": [{"content": {"parts": [{"text": "."}],)"
      R"("role": "model"},"finishReason": "MAX_TOKENS"}],)"
      R"("usageMetadata": {"promptTokenCount": 9,"candidatesTokenCount": 5,)"
      R"("thoughtsTokenCount": 40,"cachedContentTokenCount": 4}})"));
  BOOST_TEST(update.text == ".");
  BOOST_TEST(update.finish_reason == "length");
  BOOST_TEST(update.terminal);
  BOOST_REQUIRE(update.usage.has_value());
  BOOST_TEST(reported(update.usage->input_tokens) == 9);
  BOOST_TEST(reported(update.usage->cached_input_tokens) == 4);
  BOOST_TEST(reported(update.usage->output_tokens) == 45);
}

BOOST_AUTO_TEST_CASE(chunk_thought_parts_give_no_text) {
  auto update = gemini().decode_event(
      data_event(R"({"candidates":[{"content":{"parts":[{"text":"thinking...",)"
                 R"("thought":true},{"text":"Answer"}],"role":"model"}}]})"));
  BOOST_TEST(update.text == "Answer");
  BOOST_TEST(!update.error.has_value());
}

BOOST_AUTO_TEST_CASE(chunk_without_text_gives_none) {
  for (
      std::string_view data :
      {R"({"candidates":[{"content":{"parts":[],"role":"model"}}]})",
       R"({"candidates":[{"content":{"role":"model"}}]})",
       R"({"usageMetadata":{"promptTokenCount":3}})",
       R"({"candidates":[{"content":{"parts":[{"thoughtSignature":"EjQK"}]}}]})"}) {
    BOOST_TEST_CONTEXT(data) {
      auto update = gemini().decode_event(data_event(std::string{data}));
      BOOST_TEST(update.text.empty());
      BOOST_TEST(!update.terminal);
      BOOST_TEST(!update.error.has_value());
    }
  }
}

BOOST_AUTO_TEST_CASE(blocked_prompt_event_is_a_content_filter_error) {
  auto update = gemini().decode_event(data_event(
      R"({"promptFeedback": {"blockReason": "SAFETY"},"usageMetadata": )"
      R"({"promptTokenCount": 14,"totalTokenCount": 14}})"));
  BOOST_REQUIRE(update.error.has_value());
  BOOST_TEST(update.error->kind == failure_kind::content_filter);
  BOOST_TEST(update.error->message.find("SAFETY") != std::string::npos);
  BOOST_TEST(update.error->usage.input_tokens == 14);
}

BOOST_AUTO_TEST_CASE(safety_finish_in_a_stream_is_content_filter_and_final) {
  auto update = gemini().decode_event(
      data_event(R"({"candidates":[{"finishReason":"SAFETY","index":0}]})"));
  BOOST_TEST(update.finish_reason == "content_filter");
  BOOST_TEST(update.terminal);
  BOOST_TEST(!update.error.has_value());
}

BOOST_AUTO_TEST_CASE(error_object_in_stream_is_an_error_by_its_status) {
  struct row {
    std::string_view data;
    failure_kind kind;
  };
  for (const auto& [data, kind] : {
           row{R"({"error":{"code":503,"message":"The model is overloaded.",)"
               R"("status":"UNAVAILABLE"}})",
               failure_kind::overloaded},
           row{R"({"error":{"code":500,"message":"An internal error.",)"
               R"("status":"INTERNAL"}})",
               failure_kind::server},
           row{R"({"error":{"code":429,"message":"Resource exhausted.",)"
               R"("status":"RESOURCE_EXHAUSTED"}})",
               failure_kind::rate_limited},
           row{R"([{"error":{"code":504,"message":"Deadline expired.",)"
               R"("status":"DEADLINE_EXCEEDED"}}])",
               failure_kind::timeout_total},
           row{R"({"error":{"message":"mystery"}})", failure_kind::server},
       }) {
    BOOST_TEST_CONTEXT(data) {
      auto update = gemini().decode_event(data_event(std::string{data}));
      BOOST_REQUIRE(update.error.has_value());
      BOOST_TEST(update.error->kind == kind);
      BOOST_TEST(!update.error->message.empty());
      BOOST_TEST(update.error->message.find("{") == std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(malformed_event_is_a_protocol_error_quoting_it) {
  auto update = gemini().decode_event(
      data_event(R"({"candidates": [{"content": {"parts": [{"text": "Par)"));
  BOOST_REQUIRE(update.error.has_value());
  BOOST_TEST(update.error->kind == failure_kind::protocol);
  BOOST_TEST(update.error->message.find(R"("text": "Par)") !=
             std::string::npos);
  BOOST_TEST(!update.terminal);
}

BOOST_AUTO_TEST_CASE(gemini_streams_need_no_end_marker) {
  BOOST_TEST(gemini().accepts_unterminated_stream());
}

// --- recorded streams -----------------------------------------------------

BOOST_AUTO_TEST_CASE(recorded_stream_reproduces_text_finish_reason_usage) {
  auto bytes = read_fixture("stream.sse");
  BOOST_REQUIRE(bytes.find("\r\n\r\n") != std::string::npos);
  for (std::size_t chunk : {bytes.size(), std::size_t{1}, std::size_t{2},
                            std::size_t{7}, std::size_t{100}}) {
    BOOST_TEST_CONTEXT("chunks of " << chunk << " bytes") {
      auto reply = stream_through(bytes, chunk);
      BOOST_TEST(reply.text == expected_text);
      BOOST_TEST(reply.finish_reason == "stop");
      BOOST_REQUIRE(reply.tokens.has_value());
      BOOST_TEST(reply.tokens->input_tokens == 2061);
      BOOST_TEST(reply.tokens->cached_input_tokens == 2048);
      BOOST_TEST(reply.tokens->output_tokens == 21);
      BOOST_TEST(reply.terminal);
      BOOST_TEST(reply.updates_after_terminal == 0);
      BOOST_TEST(!reply.error.has_value());
    }
  }
}

BOOST_AUTO_TEST_CASE(recorded_stream_reads_the_same_with_lf_line_ends) {
  auto bytes = read_fixture("stream.sse");
  std::string lf;
  for (char c : bytes) {
    if (c != '\r') {
      lf += c;
    }
  }
  auto reply = stream_through(lf, 5);
  BOOST_TEST(reply.text == expected_text);
  BOOST_TEST(reply.terminal);
}

BOOST_AUTO_TEST_CASE(streamed_text_matches_the_whole_body_reply) {
  auto streamed = stream_through(read_fixture("stream.sse"), 13);
  auto whole =
      as_completion(gemini().decode_body(read_fixture("completion.json")));
  BOOST_TEST(streamed.text == whole.text);
  BOOST_TEST(streamed.finish_reason == whole.finish_reason);
  BOOST_REQUIRE(streamed.tokens.has_value());
  BOOST_TEST(streamed.tokens->input_tokens == whole.usage.input_tokens);
  BOOST_TEST(streamed.tokens->output_tokens == whole.usage.output_tokens);
}

BOOST_AUTO_TEST_CASE(recorded_blocked_prompt_stream_is_content_filter) {
  auto reply = stream_through(read_fixture("stream_blocked_prompt.sse"), 32);
  BOOST_TEST(reply.text.empty());
  BOOST_REQUIRE(reply.error.has_value());
  BOOST_TEST(reply.error->kind == failure_kind::content_filter);
  BOOST_TEST(reply.error->message.find("SAFETY") != std::string::npos);
  BOOST_TEST(!reply.terminal);
}

BOOST_AUTO_TEST_CASE(recorded_stream_error_event_keeps_partial_text) {
  auto reply = stream_through(read_fixture("stream_error_event.sse"), 64);
  BOOST_TEST(reply.text == "The answer is");
  BOOST_REQUIRE(reply.error.has_value());
  BOOST_TEST(reply.error->kind == failure_kind::overloaded);
  BOOST_TEST(reply.error->message ==
             "The model is overloaded. Please try again later.");
  BOOST_TEST(!reply.terminal);
}

BOOST_AUTO_TEST_CASE(stream_that_stops_before_its_last_chunk_is_unfinished) {
  auto bytes = read_fixture("stream.sse");
  auto last = bytes.rfind("data: ");
  BOOST_REQUIRE(last != std::string::npos);
  auto reply = stream_through(bytes.substr(0, last), 50);
  BOOST_TEST(reply.text == "Paris is the capital of France.\nIt\xE2\x80\x99s "
                           "called \xC2\xABla Ville");
  BOOST_TEST(!reply.terminal);
  BOOST_TEST(reply.finish_reason.empty());
  BOOST_TEST(!reply.error.has_value());
}

BOOST_AUTO_TEST_CASE(stream_cut_mid_event_ends_in_a_protocol_error) {
  auto bytes = read_fixture("stream.sse");
  bytes.resize(bytes.size() - 40); // the connection dropped mid-chunk
  auto reply = stream_through(bytes, 50);
  BOOST_REQUIRE(reply.error.has_value());
  BOOST_TEST(reply.error->kind == failure_kind::protocol);
  BOOST_TEST(!reply.terminal);
}

// --- usage as billed, replies without text --------------------------------

BOOST_AUTO_TEST_CASE(streamed_usage_is_the_last_chunks_even_when_lower) {
  // promptTokenCount runs 15, 15, 13: the last chunk is Gemini's final word.
  for (std::size_t chunk : {std::size_t{1}, std::size_t{40}}) {
    auto reply =
        stream_through(read_fixture("stream_usage_going_down.sse"), chunk);
    auto& done = as_completion(reply.outcome);
    BOOST_TEST(done.text == "The capital of France is Paris.");
    BOOST_TEST(done.usage.input_tokens == 13);
    BOOST_TEST(done.usage.output_tokens == 8);
  }
}

// --- classify_error -------------------------------------------------------

namespace {

failure classify(int status, const std::string& fixture) {
  return gemini().classify_error(status, read_fixture(fixture), {});
}

} // namespace

BOOST_AUTO_TEST_CASE(invalid_key_400_is_auth) {
  auto error = classify(400, "error_400_invalid_key.json");
  BOOST_TEST(error.kind == failure_kind::auth);
  BOOST_TEST(error.http_status == 400);
  BOOST_TEST(error.message ==
             "API key not valid. Please pass a valid API key.");
}

BOOST_AUTO_TEST_CASE(bad_key_is_auth_by_reason_or_by_message) {
  auto by_reason = gemini().classify_error(
      400,
      R"({"error":{"code":400,"message":"Something new.",)"
      R"("status":"INVALID_ARGUMENT","details":[{"@type":)"
      R"("type.googleapis.com/google.rpc.ErrorInfo",)"
      R"("reason":"API_KEY_INVALID"}]}})",
      {});
  BOOST_TEST(by_reason.kind == failure_kind::auth);
  auto expired = gemini().classify_error(
      400,
      R"({"error":{"code":400,"message":"API key expired. Please renew )"
      R"(the API key.","status":"INVALID_ARGUMENT"}})",
      {});
  BOOST_TEST(expired.kind == failure_kind::auth);
}

BOOST_AUTO_TEST_CASE(too_many_tokens_400_is_context_length) {
  auto error = classify(400, "error_400_too_many_tokens.json");
  BOOST_TEST(error.kind == failure_kind::context_length);
  BOOST_TEST(error.http_status == 400);
  BOOST_TEST(
      error.message.rfind("The input token count (1200293) exceeds", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(other_invalid_arguments_are_bad_request) {
  for (std::string_view status :
       {"INVALID_ARGUMENT", "FAILED_PRECONDITION", "NOT_FOUND"}) {
    BOOST_TEST_CONTEXT(status) {
      auto body = std::string{R"({"error":{"code":400,"message":)"
                              R"("models/gemini-9 is not found.","status":")"} +
                  std::string{status} + "\"}}";
      auto error = gemini().classify_error(400, body, {});
      BOOST_TEST(error.kind == failure_kind::bad_request);
      BOOST_TEST(error.message == "models/gemini-9 is not found.");
    }
  }
}

BOOST_AUTO_TEST_CASE(permission_denied_403_is_auth) {
  auto error = classify(403, "error_403.json");
  BOOST_TEST(error.kind == failure_kind::auth);
  BOOST_TEST(error.http_status == 403);
  BOOST_TEST(error.message.rfind("Method doesn't allow unregistered callers",
                                 0) == 0u);
  BOOST_TEST(gemini()
                 .classify_error(401,
                                 R"({"error":{"code":401,"message":"Request )"
                                 R"(had invalid authentication credentials.",)"
                                 R"("status":"UNAUTHENTICATED"}})",
                                 {})
                 .kind == failure_kind::auth);
}

BOOST_AUTO_TEST_CASE(resource_exhausted_429_is_rate_limited) {
  auto error = classify(429, "error_429.json");
  BOOST_TEST(error.kind == failure_kind::rate_limited);
  BOOST_TEST(error.http_status == 429);
  BOOST_TEST(error.message.rfind("You exceeded your current quota", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(error_wrapped_in_an_array_is_read) {
  auto error = classify(429, "error_429_array.json");
  BOOST_TEST(error.kind == failure_kind::rate_limited);
  BOOST_TEST(error.message ==
             "Resource has been exhausted (e.g. check quota).");
}

BOOST_AUTO_TEST_CASE(internal_500_is_server) {
  auto error = classify(500, "error_500.json");
  BOOST_TEST(error.kind == failure_kind::server);
  BOOST_TEST(error.http_status == 500);
  BOOST_TEST(error.message.rfind("An internal error has occurred.", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(unavailable_503_is_overloaded) {
  auto error = classify(503, "error_503.json");
  BOOST_TEST(error.kind == failure_kind::overloaded);
  BOOST_TEST(error.http_status == 503);
  BOOST_TEST(error.message ==
             "The model is overloaded. Please try again later.");
}

BOOST_AUTO_TEST_CASE(deadline_exceeded_504_is_timeout_total) {
  auto error = gemini().classify_error(
      504,
      R"({"error":{"code":504,"message":"Deadline expired before operation )"
      R"(could complete.","status":"DEADLINE_EXCEEDED"}})",
      {});
  BOOST_TEST(error.kind == failure_kind::timeout_total);
  BOOST_TEST(error.http_status == 504);
}

BOOST_AUTO_TEST_CASE(the_status_word_wins_over_the_http_status) {
  auto error = gemini().classify_error(
      500, R"({"error":{"code":503,"message":"busy","status":"UNAVAILABLE"}})",
      {});
  BOOST_TEST(error.kind == failure_kind::overloaded);
  BOOST_TEST(error.http_status == 500);
}

BOOST_AUTO_TEST_CASE(without_a_status_word_the_http_status_decides) {
  struct row {
    int status;
    failure_kind kind;
  };
  for (const auto& [status, kind] : {
           row{400, failure_kind::bad_request},
           row{401, failure_kind::auth},
           row{403, failure_kind::auth},
           row{404, failure_kind::bad_request},
           row{408, failure_kind::timeout_total},
           row{429, failure_kind::rate_limited},
           row{500, failure_kind::server},
           row{502, failure_kind::server},
           row{503, failure_kind::overloaded},
           row{504, failure_kind::server},
           row{301, failure_kind::protocol},
           row{418, failure_kind::protocol},
       }) {
    BOOST_TEST_CONTEXT(status) {
      auto error = gemini().classify_error(status, "", {});
      BOOST_TEST(error.kind == kind);
      BOOST_TEST(error.http_status == status);
      BOOST_TEST(error.message == "HTTP " + std::to_string(status));
    }
  }
  auto unknown_word = gemini().classify_error(
      429, R"({"error":{"code":429,"message":"slow","status":"NEW_WORD"}})",
      {});
  BOOST_TEST(unknown_word.kind == failure_kind::rate_limited);
  auto too_long = gemini().classify_error(
      400, R"({"error":{"message":"The prompt is too long."}})", {});
  BOOST_TEST(too_long.kind == failure_kind::context_length);
}

BOOST_AUTO_TEST_CASE(html_502_is_server_quoting_the_start_of_the_body) {
  std::string body = "<html><head><title>502 Bad Gateway</title></head><body>" +
                     std::string(400, '.') + "</body></html>";
  auto error = gemini().classify_error(502, body, {});
  BOOST_TEST(error.kind == failure_kind::server);
  BOOST_TEST(error.message.rfind("<html>", 0) == 0u);
  BOOST_TEST(error.message.find("502 Bad Gateway") != std::string::npos);
  BOOST_TEST(error.message.size() <= 203u);
}

BOOST_AUTO_TEST_CASE(classify_error_never_echoes_headers) {
  header_list headers = {{"x-goog-api-key", "AIzaSy-secret-should-not-leak"},
                         {"retry-after", "7"}};
  auto error = gemini().classify_error(429, "", headers);
  BOOST_TEST(error.message.find("AIzaSy") == std::string::npos);
  BOOST_TEST(error.message == "HTTP 429");
}

// --- several candidates and log probabilities -------------------------------

BOOST_AUTO_TEST_CASE(n_and_logprobs_are_candidate_count_and_response_logprobs) {
  auto req = question();
  req.params.n = 2;
  req.params.logprobs = true;
  req.params.top_logprobs = 1;
  auto sent = parse(gemini().encode(req, settings()).body);
  auto& config = sent["generationConfig"];
  BOOST_TEST(config["candidateCount"].GetInt() == 2);
  BOOST_TEST(config["responseLogprobs"].GetBool());
  BOOST_TEST(config["logprobs"].GetInt() == 1);
  BOOST_TEST(gemini().takes_param("n"));
  BOOST_TEST(gemini().takes_param("logprobs"));
}

BOOST_AUTO_TEST_CASE(candidates_and_logprobs_result_read_alike_both_ways) {
  // Gemini's logprobsResult becomes OpenAI's logprobs.content entries.
  auto expected =
      R"({"content":[{"token":"Pa","logprob":-0.5,"bytes":[80,97],)"
      R"("top_logprobs":[{"token":"Pa","logprob":-0.5,"bytes":[80,97]},)"
      R"({"token":"Ro","logprob":-2.0,"bytes":[82,111]}]},)"
      R"({"token":"ris","logprob":-0.25,"bytes":[114,105,115],"top_logprobs":[]}]})";
  auto check = [&](const completion& reply) {
    BOOST_TEST(reply.text == "Paris");
    BOOST_TEST(reply.finish_reason == "stop");
    BOOST_TEST(reply.logprobs == expected);
    BOOST_REQUIRE(reply.more_choices.size() == 1u);
    BOOST_TEST(reply.more_choices[0].text == "Rome");
    BOOST_TEST(reply.more_choices[0].finish_reason == "length");
  };
  check(as_completion(gemini().decode_body(R"({"candidates":[
    {"index":1,"content":{"role":"model","parts":[{"text":"Rome"}]},"finishReason":"MAX_TOKENS"},
    {"index":0,"content":{"role":"model","parts":[{"text":"Paris"}]},"finishReason":"STOP",
     "logprobsResult":{
       "topCandidates":[{"candidates":[{"token":"Pa","logProbability":-0.5},{"token":"Ro","logProbability":-2}]},{"candidates":[]}],
       "chosenCandidates":[{"token":"Pa","tokenId":1,"logProbability":-0.5},{"token":"ris","tokenId":2,"logProbability":-0.25}]}}],
    "usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":3}})")));

  std::string stream;
  for (
      auto* data :
      {R"({"candidates":[{"index":0,"content":{"parts":[{"text":"Pa"}]},"logprobsResult":{"topCandidates":[{"candidates":[{"token":"Pa","logProbability":-0.5},{"token":"Ro","logProbability":-2}]}],"chosenCandidates":[{"token":"Pa","logProbability":-0.5}]}},{"index":1,"content":{"parts":[{"text":"Ro"}]}}]})",
       R"({"candidates":[{"index":1,"content":{"parts":[{"text":"me"}]},"finishReason":"MAX_TOKENS"}]})",
       R"({"candidates":[{"index":0,"content":{"parts":[{"text":"ris"}]},"finishReason":"STOP","logprobsResult":{"chosenCandidates":[{"token":"ris","logProbability":-0.25}]}}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":3}})"})
    stream += std::string{"data: "} + data + "\r\n\r\n";
  for (std::size_t cut : {1u, 9u, 4096u})
    check(std::get<completion>(stream_through(stream, cut).outcome));
}
