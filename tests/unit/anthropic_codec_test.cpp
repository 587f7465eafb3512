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

#include "plugins/codecs/anthropic/anthropic_codec.hpp"
#include "tests/unit/codec_test_support.hpp"
#include "tutti/sse_decoder.hpp"

using namespace tutti;
using namespace tutti::codec_test;

namespace {

std::string read_fixture(const std::string& name) {
  return codec_test::read_fixture("anthropic", name);
}

/// The codec under test, shared by every case.
const codec& anthropic() {
  static auto instance = make_anthropic_codec();
  return *instance;
}

provider_settings settings() {
  provider_settings p;
  p.name = "claude";
  p.kind = "anthropic";
  p.model = "claude-sonnet-4-5";
  p.base_url = "https://api.anthropic.com/v1";
  p.api_key = "sk-ant-test-123";
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
  return codec_test::stream_through(anthropic(), bytes, chunk);
}

const std::string expected_text =
    "Paris is the capital of France.\nIt\xE2\x80\x99s called \xC2\xAB"
    "la Ville Lumi\xC3\xA8re\xC2\xBB \xF0\x9F\x97\xBC \xE2\x80\x94 \"City of "
    "Light\".";

// The recorded fixtures' token counts: 27 fresh input tokens, 512 written to
// the prompt cache, 2048 read from it; 22 output tokens.
constexpr int64_t expected_input = 27 + 512 + 2048;
constexpr int64_t expected_cached = 2048;
constexpr int64_t expected_output = 22;

} // namespace

// --- encode ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(default_base_url_is_anthropic_v1) {
  BOOST_TEST(anthropic().default_base_url() == "https://api.anthropic.com/v1");
}

BOOST_AUTO_TEST_CASE(encode_posts_to_messages_under_base_url) {
  auto req = anthropic().encode(question(), settings());
  BOOST_TEST(req.method == "POST");
  BOOST_TEST(req.url == "https://api.anthropic.com/v1/messages");

  auto local = settings();
  local.base_url = "http://127.0.0.1:8089/v1/";
  BOOST_TEST(anthropic().encode(question(), local).url ==
             "http://127.0.0.1:8089/v1/messages");
}

BOOST_AUTO_TEST_CASE(encode_sends_api_key_version_and_content_type) {
  auto req = anthropic().encode(question(), settings());
  BOOST_TEST(header(req, "x-api-key") == "sk-ant-test-123");
  BOOST_TEST(header(req, "anthropic-version") == "2023-06-01");
  BOOST_TEST(header(req, "content-type") == "application/json");
  BOOST_TEST(header(req, "authorization") == "<absent>");
  BOOST_TEST(req.headers.size() == 3u);
}

BOOST_AUTO_TEST_CASE(encode_omits_api_key_header_when_key_is_empty) {
  auto keyless = settings();
  keyless.api_key.clear();
  auto req = anthropic().encode(question(), keyless);
  BOOST_TEST(header(req, "x-api-key") == "<absent>");
  BOOST_TEST(header(req, "anthropic-version") == "2023-06-01");
  BOOST_TEST(req.headers.size() == 2u);
}

BOOST_AUTO_TEST_CASE(encode_appends_extra_headers_and_lets_them_override) {
  auto provider = settings();
  provider.extra_headers = {{"anthropic-beta", "prompt-caching-2024-07-31"},
                            {"Anthropic-Version", "2024-01-01"},
                            {"X-Team", "search"}};
  auto req = anthropic().encode(question(), provider);
  BOOST_TEST(header(req, "anthropic-beta") == "prompt-caching-2024-07-31");
  BOOST_TEST(header(req, "anthropic-version") == "2024-01-01");
  BOOST_TEST(header(req, "x-team") == "search");
  BOOST_REQUIRE(req.headers.size() == 5u);
  BOOST_TEST(req.headers[0].first == "x-api-key");
  BOOST_TEST(req.headers[3].first == "anthropic-beta");
  BOOST_TEST(req.headers[4].first == "X-Team");
}

BOOST_AUTO_TEST_CASE(encode_moves_system_turns_to_the_top_level_system) {
  chat_request req;
  req.messages = {{"system", "Answer briefly."},
                  {"user", "Hi"},
                  {"assistant", "Hello."},
                  {"system", "Use French."},
                  {"user", "Capital of France?"}};
  auto doc = parse(anthropic().encode(req, settings()).body);
  BOOST_TEST(str(doc["model"]) == "claude-sonnet-4-5");
  BOOST_TEST(str(doc["system"]) == "Answer briefly.\n\nUse French.");
  const auto& messages = doc["messages"];
  BOOST_REQUIRE(messages.IsArray());
  BOOST_REQUIRE(messages.Size() == 3u);
  BOOST_TEST(str(messages[0]["role"]) == "user");
  BOOST_TEST(str(messages[0]["content"]) == "Hi");
  BOOST_TEST(str(messages[1]["role"]) == "assistant");
  BOOST_TEST(str(messages[1]["content"]) == "Hello.");
  BOOST_TEST(str(messages[2]["role"]) == "user");
  BOOST_TEST(str(messages[2]["content"]) == "Capital of France?");
}

BOOST_AUTO_TEST_CASE(encode_without_system_turns_sends_no_system) {
  chat_request req;
  req.messages = {{"user", "Hi"}};
  auto doc = parse(anthropic().encode(req, settings()).body);
  BOOST_TEST(!doc.HasMember("system"));
  BOOST_TEST(doc["messages"].Size() == 1u);
}

BOOST_AUTO_TEST_CASE(encode_always_sends_max_tokens_defaulting_to_4096) {
  auto doc = parse(anthropic().encode(question(), settings()).body);
  BOOST_TEST(doc["max_tokens"].GetInt64() == 4096);
  for (auto* name :
       {"temperature", "top_p", "stop_sequences", "stream", "seed", "stop"}) {
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST(!doc.HasMember(name));
    }
  }
  BOOST_TEST(doc.MemberCount() == 4u); // model, max_tokens, system, messages

  auto provider = settings();
  provider.defaults.max_tokens = 1024;
  BOOST_TEST(parse(anthropic().encode(question(), provider).body)["max_tokens"]
                 .GetInt64() == 1024);
  auto req = question();
  req.params.max_tokens = 64;
  BOOST_TEST(
      parse(anthropic().encode(req, provider).body)["max_tokens"].GetInt64() ==
      64);
}

BOOST_AUTO_TEST_CASE(encode_takes_request_params_over_provider_defaults) {
  auto req = question();
  req.params.temperature = 0.2;
  req.params.stop = {"\n\nHuman:"};
  req.params.seed = 7;
  auto provider = settings();
  provider.defaults.temperature = 0.9;
  provider.defaults.top_p = 0.5;
  provider.defaults.seed = 42;
  provider.defaults.stop = {"END", "STOP"};

  auto doc = parse(anthropic().encode(req, provider).body);
  BOOST_TEST(doc["temperature"].GetDouble() == 0.2);
  BOOST_TEST(doc["top_p"].GetDouble() == 0.5);
  BOOST_REQUIRE(doc["stop_sequences"].IsArray());
  BOOST_REQUIRE(doc["stop_sequences"].Size() == 1u);
  BOOST_TEST(str(doc["stop_sequences"][0]) == "\n\nHuman:");
  BOOST_TEST(!doc.HasMember("seed")); // no Anthropic equivalent
  BOOST_TEST(!doc.HasMember("stop"));
}

BOOST_AUTO_TEST_CASE(encode_fills_stop_sequences_from_provider_defaults) {
  auto provider = settings();
  provider.defaults.stop = {"END", "STOP"};
  auto doc = parse(anthropic().encode(question(), provider).body);
  BOOST_REQUIRE(doc["stop_sequences"].Size() == 2u);
  BOOST_TEST(str(doc["stop_sequences"][0]) == "END");
  BOOST_TEST(str(doc["stop_sequences"][1]) == "STOP");
}

BOOST_AUTO_TEST_CASE(encode_leaves_out_non_finite_numbers) {
  auto req = question();
  req.params.temperature = std::numeric_limits<double>::quiet_NaN();
  auto provider = settings();
  provider.defaults.top_p = std::numeric_limits<double>::infinity();
  auto doc = parse(anthropic().encode(req, provider).body);
  BOOST_TEST(!doc.HasMember("temperature"));
  BOOST_TEST(!doc.HasMember("top_p"));
}

BOOST_AUTO_TEST_CASE(encode_streamed_sets_stream_true) {
  auto req = question();
  req.stream = true;
  auto doc = parse(anthropic().encode(req, settings()).body);
  BOOST_TEST(doc["stream"].IsTrue());
}

BOOST_AUTO_TEST_CASE(encode_escapes_quotes_newlines_controls_and_unicode) {
  using namespace std::string_literals;
  const auto tricky =
      "She said \"hi\"\\ \n\ttab\r \x01 caf\xC3\xA9 \xF0\x9F\x97\xBC"
      " </script> \0end"s;
  auto req = question(tricky);
  req.messages.insert(req.messages.begin(), {"system", "Be \"terse\"\n"});
  req.params.stop = {"\"", "\n"};
  auto provider = settings();
  provider.model = "my \"model\"";
  auto body = anthropic().encode(req, provider).body;

  // One line of JSON: raw control characters never reach the wire.
  for (char c : body) {
    BOOST_TEST_REQUIRE(static_cast<unsigned char>(c) >= 0x20u);
  }
  BOOST_TEST(body.find(R"(She said \"hi\"\\ \n\ttab\r \u0001 )") !=
             std::string::npos);
  BOOST_TEST(body.find("\\u0000end") != std::string::npos);
  auto doc = parse(body);
  BOOST_TEST(str(doc["messages"][0]["content"]) == tricky);
  BOOST_TEST(str(doc["system"]) == "Be \"terse\"\n\n\nAnswer briefly.");
  BOOST_TEST(str(doc["model"]) == "my \"model\"");
  BOOST_TEST(str(doc["stop_sequences"][0]) == "\"");
  BOOST_TEST(str(doc["stop_sequences"][1]) == "\n");
}

// --- decode_body ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(decode_body_reads_text_finish_reason_and_cache_usage) {
  auto reply =
      as_completion(anthropic().decode_body(read_fixture("message.json")));
  BOOST_TEST(reply.text == expected_text);
  BOOST_TEST(reply.finish_reason == "stop");
  BOOST_TEST(reply.usage.input_tokens == expected_input);
  BOOST_TEST(reply.usage.cached_input_tokens == expected_cached);
  BOOST_TEST(reply.usage.output_tokens == expected_output);
}

BOOST_AUTO_TEST_CASE(decode_body_concatenates_text_blocks_only) {
  auto reply = as_completion(anthropic().decode_body(
      R"({"type":"message","role":"assistant","content":[)"
      R"({"type":"thinking","thinking":"hmm","signature":"x"},)"
      R"({"type":"text","text":"Paris"},)"
      R"({"type":"tool_use","id":"t1","name":"f","input":{}},)"
      R"({"type":"text","text":" it is."}],)"
      R"("stop_reason":"tool_use","usage":{"input_tokens":5,"output_tokens":3}})"));
  BOOST_TEST(reply.text == "Paris it is.");
  BOOST_TEST(reply.finish_reason == "tool_calls");
  BOOST_TEST(reply.usage.input_tokens == 5);
  BOOST_TEST(reply.usage.cached_input_tokens == 0);
  BOOST_TEST(reply.usage.output_tokens == 3);
}

BOOST_AUTO_TEST_CASE(decode_body_tool_use_blocks_are_tool_calls) {
  auto reply = as_completion(anthropic().decode_body(
      R"({"type":"message","role":"assistant","content":[)"
      R"({"type":"text","text":"Looking it up."},)"
      R"({"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris","days":2}},)"
      R"({"type":"tool_use","id":"toolu_2","name":"get_time","input":{}}],)"
      R"("stop_reason":"tool_use","usage":{"input_tokens":5,"output_tokens":3}})"));
  BOOST_TEST(reply.text == "Looking it up.");
  BOOST_REQUIRE(reply.tool_calls.size() == 2u);
  BOOST_TEST(reply.tool_calls[0].id == "toolu_1");
  BOOST_TEST(reply.tool_calls[0].name == "get_weather");
  BOOST_TEST(reply.tool_calls[0].arguments == R"({"city":"Paris","days":2})");
  BOOST_TEST(reply.tool_calls[1].arguments == "{}");
}

BOOST_AUTO_TEST_CASE(streamed_tool_use_blocks_are_assembled_from_json_deltas) {
  std::string bytes;
  auto event = [&](const char* type, const std::string& data) {
    bytes += std::string{"event: "} + type + "\ndata: " + data + "\n\n";
  };
  event(
      "message_start",
      R"({"type":"message_start","message":{"usage":{"input_tokens":9,"output_tokens":1}}})");
  event(
      "content_block_start",
      R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})");
  event(
      "content_block_delta",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking."}})");
  event(
      "content_block_start",
      R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}})");
  event(
      "content_block_delta",
      R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": "}})");
  event(
      "content_block_delta",
      R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}})");
  event(
      "message_delta",
      R"({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":12}})");
  event("message_stop", R"({"type":"message_stop"})");
  for (std::size_t chunk : {bytes.size(), std::size_t{3}}) {
    auto outcome = stream_through(bytes, chunk).outcome;
    auto& reply = std::get<completion>(outcome);
    BOOST_TEST(reply.text == "Checking.");
    BOOST_REQUIRE(reply.tool_calls.size() == 1u);
    BOOST_TEST(reply.tool_calls[0].id == "toolu_1");
    BOOST_TEST(reply.tool_calls[0].arguments == R"({"city": "Paris"})");
    BOOST_TEST(reply.finish_reason == "tool_calls");
  }
}

BOOST_AUTO_TEST_CASE(encode_sends_tools_choice_and_tool_turns_as_blocks) {
  auto req = question();
  chat_message asked{"assistant", "Let me check."};
  asked.tool_calls.push_back({"toolu_1", "get_weather", R"({"city":"Paris"})"});
  asked.tool_calls.push_back({"toolu_2", "get_time", "not json"});
  chat_message weather{"tool", "18 C"};
  weather.tool_call_id = "toolu_1";
  chat_message time{"tool", "noon"};
  time.tool_call_id = "toolu_2";
  req.messages.push_back(asked);
  req.messages.push_back(weather);
  req.messages.push_back(time);
  req.params.tools.push_back({"get_weather", "Weather now",
                              R"({"type":"object","properties":{}})", false});
  req.params.tool_choice = {"required", ""};
  req.params.parallel_tool_calls = false;
  auto doc = parse(anthropic().encode(req, settings()).body);
  BOOST_TEST(str(doc["tools"][0]["name"]) == "get_weather");
  BOOST_TEST(str(doc["tools"][0]["input_schema"]["type"]) == "object");
  BOOST_TEST(str(doc["tool_choice"]["type"]) == "any");
  BOOST_TEST(doc["tool_choice"]["disable_parallel_tool_use"].GetBool());
  auto& turns = doc["messages"];
  // user, assistant with its calls, one user turn with both results.
  BOOST_REQUIRE(turns.Size() == 3u);
  auto& calls = turns[1]["content"];
  BOOST_TEST(str(calls[0]["type"]) == "text");
  BOOST_TEST(str(calls[1]["type"]) == "tool_use");
  BOOST_TEST(str(calls[1]["input"]["city"]) == "Paris");
  BOOST_TEST(calls[2]["input"].IsObject()); // arguments that are not JSON
  auto& results = turns[2]["content"];
  BOOST_TEST(str(turns[2]["role"]) == "user");
  BOOST_REQUIRE(results.Size() == 2u);
  BOOST_TEST(str(results[0]["type"]) == "tool_result");
  BOOST_TEST(str(results[1]["tool_use_id"]) == "toolu_2");
  BOOST_TEST(str(results[1]["content"]) == "noon");
}

// Regression (found by codec_fuzz): input, cache-read and cache-creation
// counts near 2^63 overflowed their sum (undefined behaviour).
BOOST_AUTO_TEST_CASE(decode_body_usage_sums_saturate) {
  auto reply = as_completion(anthropic().decode_body(
      R"({"type":"message","content":[{"type":"text","text":"hi"}],)"
      R"("stop_reason":"end_turn","usage":{)"
      R"("input_tokens":9223372036854775807,)"
      R"("cache_read_input_tokens":9223372036854775807,)"
      R"("cache_creation_input_tokens":1,"output_tokens":1}})"));
  BOOST_TEST(reply.usage.input_tokens == std::numeric_limits<int64_t>::max());
  BOOST_TEST(reply.usage.cached_input_tokens ==
             std::numeric_limits<int64_t>::max());
}

BOOST_AUTO_TEST_CASE(decode_body_maps_every_stop_reason) {
  struct row {
    std::string_view stop_reason;
    std::string_view finish_reason;
  };
  for (const auto& [stop_reason, finish_reason] : {
           row{"end_turn", "stop"},
           row{"stop_sequence", "stop"},
           row{"max_tokens", "length"},
           row{"tool_use", "tool_calls"},
           row{"pause_turn", "pause_turn"},
       }) {
    BOOST_TEST_CONTEXT(stop_reason) {
      auto body = std::string{R"({"content":[{"type":"text","text":"x"}],)"} +
                  R"("stop_reason":")" + std::string{stop_reason} + "\"}";
      auto reply = as_completion(anthropic().decode_body(body));
      BOOST_TEST(reply.finish_reason == finish_reason);
      BOOST_TEST(reply.text == "x");
    }
  }
  auto reply = as_completion(anthropic().decode_body(
      R"({"content":[{"type":"text","text":"x"}],"stop_reason":null})"));
  BOOST_TEST(reply.finish_reason == "");
}

BOOST_AUTO_TEST_CASE(decode_body_without_text_is_an_empty_reply) {
  auto error = as_failure(anthropic().decode_body(
      R"({"content":[{"type":"thinking","thinking":"Hmm","signature":"s"}],)"
      R"("stop_reason":"max_tokens","usage":{"input_tokens":5,)"
      R"("output_tokens":64}})"));
  BOOST_TEST(error.kind == failure_kind::empty_reply);
  BOOST_TEST(error.message ==
             "the reply holds no text (finish reason \"length\")");
  BOOST_TEST(error.usage.output_tokens == 64);
}

BOOST_AUTO_TEST_CASE(decode_body_error_object_is_that_failure) {
  auto error = as_failure(anthropic().decode_body(
      R"({"type":"error","error":{"type":"overloaded_error",)"
      R"("message":"Overloaded"},"request_id":"req_1"})"));
  BOOST_TEST(error.kind == failure_kind::overloaded);
  BOOST_TEST(error.message == "Overloaded");
  BOOST_TEST(error.http_status == 0);
}

BOOST_AUTO_TEST_CASE(decode_body_that_is_not_json_is_protocol_with_a_quote) {
  std::string html = "<html><body>" + std::string(1000, 'x') + "</body></html>";
  auto error = as_failure(anthropic().decode_body(html));
  BOOST_TEST(error.kind == failure_kind::protocol);
  BOOST_TEST(error.message.find("not JSON") != std::string::npos);
  BOOST_TEST(error.message.find("<html><body>xxx") != std::string::npos);
  BOOST_TEST(error.message.size() < 320u);
  BOOST_TEST(error.message.find("</body>") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(decode_body_without_content_array_is_protocol) {
  for (std::string_view body :
       {R"({"id":"msg_1","type":"message"})", R"({"content":"text"})",
        R"({"content":null})", R"([1,2])"}) {
    BOOST_TEST_CONTEXT(body) {
      auto error = as_failure(anthropic().decode_body(body));
      BOOST_TEST(error.kind == failure_kind::protocol);
      BOOST_TEST(error.message.find(std::string{body}) != std::string::npos);
    }
  }
}

// --- decode_event ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(message_start_gives_input_usage_only) {
  auto update = anthropic().decode_event(named_event(
      "message_start",
      R"({"type":"message_start","message":{"id":"msg_1","type":"message",)"
      R"("role":"assistant","content":[],"stop_reason":null,"usage":)"
      R"({"input_tokens":25,"cache_creation_input_tokens":10,)"
      R"("cache_read_input_tokens":100,"output_tokens":1}}})"));
  BOOST_REQUIRE(update.usage.has_value());
  BOOST_TEST(reported(update.usage->input_tokens) == 135);
  BOOST_TEST(reported(update.usage->cached_input_tokens) == 100);
  BOOST_TEST(reported(update.usage->output_tokens) == not_reported);
  BOOST_TEST(update.text.empty());
  BOOST_TEST(!update.terminal);
}

BOOST_AUTO_TEST_CASE(text_delta_gives_text_other_deltas_none) {
  auto text = anthropic().decode_event(
      named_event("content_block_delta",
                  R"({"type":"content_block_delta","index":0,)"
                  R"("delta":{"type":"text_delta","text":" caf\u00e9"}})"));
  BOOST_TEST(text.text == " caf\xC3\xA9");
  BOOST_TEST(!text.usage.has_value());

  for (std::string_view delta :
       {R"({"type":"input_json_delta","partial_json":"{\"a\":"})",
        R"({"type":"thinking_delta","thinking":"Let me think"})",
        R"({"type":"signature_delta","signature":"EqQBCgIYAhIM"})"}) {
    BOOST_TEST_CONTEXT(delta) {
      auto update = anthropic().decode_event(
          named_event("content_block_delta",
                      R"({"type":"content_block_delta","index":1,"delta":)" +
                          std::string{delta} + "}"));
      BOOST_TEST(update.text.empty());
      BOOST_TEST(!update.error.has_value());
    }
  }
}

BOOST_AUTO_TEST_CASE(content_block_start_gives_initial_text_of_text_blocks) {
  auto text = anthropic().decode_event(
      named_event("content_block_start",
                  R"({"type":"content_block_start","index":0,)"
                  R"("content_block":{"type":"text","text":"Once"}})"));
  BOOST_TEST(text.text == "Once");
  auto tool = anthropic().decode_event(named_event(
      "content_block_start",
      R"({"type":"content_block_start","index":1,"content_block":)"
      R"({"type":"tool_use","id":"t1","name":"f","input":{},"text":"no"}})"));
  BOOST_TEST(tool.text.empty());
}

BOOST_AUTO_TEST_CASE(message_delta_gives_finish_reason_and_output_usage) {
  auto update = anthropic().decode_event(named_event(
      "message_delta",
      R"({"type":"message_delta","delta":{"stop_reason":"max_tokens",)"
      R"("stop_sequence":null},"usage":{"output_tokens":15}})"));
  BOOST_TEST(update.finish_reason == "length");
  BOOST_REQUIRE(update.usage.has_value());
  BOOST_TEST(reported(update.usage->output_tokens) == 15);
  BOOST_TEST(reported(update.usage->input_tokens) == not_reported);
  BOOST_TEST(!update.terminal);
}

BOOST_AUTO_TEST_CASE(message_delta_with_cumulative_input_usage_counts_it) {
  // Newer API versions repeat the input counts in message_delta.
  auto update = anthropic().decode_event(named_event(
      "message_delta",
      R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},)"
      R"("usage":{"input_tokens":27,"cache_creation_input_tokens":512,)"
      R"("cache_read_input_tokens":2048,"output_tokens":22}})"));
  BOOST_REQUIRE(update.usage.has_value());
  BOOST_TEST(reported(update.usage->input_tokens) == expected_input);
  BOOST_TEST(reported(update.usage->cached_input_tokens) == expected_cached);
  BOOST_TEST(reported(update.usage->output_tokens) == expected_output);
}

BOOST_AUTO_TEST_CASE(message_stop_is_terminal) {
  auto update = anthropic().decode_event(
      named_event("message_stop", R"({"type":"message_stop"})"));
  BOOST_TEST(update.terminal);
  BOOST_TEST(update.text.empty());
  BOOST_TEST(!update.error.has_value());
}

BOOST_AUTO_TEST_CASE(ping_block_stop_and_unknown_events_say_nothing) {
  for (const auto& event : {
           named_event("ping", R"({"type": "ping"})"),
           named_event("content_block_stop",
                       R"({"type":"content_block_stop","index":0})"),
           named_event("future_event", R"({"type":"future_event","x":1})"),
           named_event("", ""),
       }) {
    BOOST_TEST_CONTEXT(event.event) {
      auto update = anthropic().decode_event(event);
      BOOST_TEST(update.text.empty());
      BOOST_TEST(update.finish_reason.empty());
      BOOST_TEST(!update.usage.has_value());
      BOOST_TEST(!update.terminal);
      BOOST_TEST(!update.error.has_value());
    }
  }
}

BOOST_AUTO_TEST_CASE(data_type_decides_when_the_event_name_is_missing) {
  auto update = anthropic().decode_event(
      named_event("", R"({"type":"content_block_delta","index":0,)"
                      R"("delta":{"type":"text_delta","text":"Hi"}})"));
  BOOST_TEST(update.text == "Hi");
  BOOST_TEST(anthropic()
                 .decode_event(named_event("", R"({"type":"message_stop"})"))
                 .terminal);
}

BOOST_AUTO_TEST_CASE(error_event_is_an_error_by_its_type) {
  struct row {
    std::string_view type;
    failure_kind kind;
  };
  for (const auto& [type, kind] : {
           row{"overloaded_error", failure_kind::overloaded},
           row{"api_error", failure_kind::server},
           row{"rate_limit_error", failure_kind::rate_limited},
           row{"invalid_request_error", failure_kind::bad_request},
           row{"something_new", failure_kind::server},
       }) {
    BOOST_TEST_CONTEXT(type) {
      auto update = anthropic().decode_event(named_event(
          "error", R"({"type":"error","error":{"type":")" + std::string{type} +
                       R"(","message":"It broke"}})"));
      BOOST_REQUIRE(update.error.has_value());
      BOOST_TEST(update.error->kind == kind);
      BOOST_TEST(update.error->message == "It broke");
      BOOST_TEST(!update.terminal);
    }
  }
}

BOOST_AUTO_TEST_CASE(malformed_event_is_a_protocol_error_quoting_it) {
  auto update = anthropic().decode_event(named_event(
      "content_block_delta", R"({"type":"content_block_delta","delta":{"te)"));
  BOOST_REQUIRE(update.error.has_value());
  BOOST_TEST(update.error->kind == failure_kind::protocol);
  BOOST_TEST(update.error->message.find(
                 R"({"type":"content_block_delta","delta":{"te)") !=
             std::string::npos);
  BOOST_TEST(!update.terminal);

  auto array = anthropic().decode_event(named_event("message_delta", "[1]"));
  BOOST_REQUIRE(array.error.has_value());
  BOOST_TEST(array.error->kind == failure_kind::protocol);
}

// --- recorded streams -----------------------------------------------------

BOOST_AUTO_TEST_CASE(recorded_stream_reproduces_text_finish_reason_usage) {
  for (std::string fixture : {"stream.sse", "stream_crlf.sse"}) {
    auto bytes = read_fixture(fixture);
    for (std::size_t chunk : {bytes.size(), std::size_t{1}, std::size_t{2},
                              std::size_t{7}, std::size_t{100}}) {
      BOOST_TEST_CONTEXT(fixture << " in chunks of " << chunk << " bytes") {
        auto reply = stream_through(bytes, chunk);
        BOOST_TEST(reply.text == expected_text);
        BOOST_TEST(reply.finish_reason == "stop");
        BOOST_REQUIRE(reply.tokens.has_value());
        BOOST_TEST(reply.tokens->input_tokens == expected_input);
        BOOST_TEST(reply.tokens->cached_input_tokens == expected_cached);
        BOOST_TEST(reply.tokens->output_tokens == expected_output);
        BOOST_TEST(reply.terminal);
        BOOST_TEST(reply.updates_after_terminal == 0);
        BOOST_TEST(!reply.error.has_value());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(streamed_reply_matches_the_whole_body_reply) {
  auto streamed = stream_through(read_fixture("stream.sse"), 13);
  auto whole =
      as_completion(anthropic().decode_body(read_fixture("message.json")));
  BOOST_TEST(streamed.text == whole.text);
  BOOST_TEST(streamed.finish_reason == whole.finish_reason);
  BOOST_REQUIRE(streamed.tokens.has_value());
  BOOST_TEST(streamed.tokens->input_tokens == whole.usage.input_tokens);
  BOOST_TEST(streamed.tokens->cached_input_tokens ==
             whole.usage.cached_input_tokens);
  BOOST_TEST(streamed.tokens->output_tokens == whole.usage.output_tokens);
}

BOOST_AUTO_TEST_CASE(recorded_stream_error_event_keeps_partial_text) {
  auto reply = stream_through(read_fixture("stream_error_event.sse"), 64);
  BOOST_TEST(reply.text == "The answer is");
  BOOST_REQUIRE(reply.error.has_value());
  BOOST_TEST(reply.error->kind == failure_kind::overloaded);
  BOOST_TEST(reply.error->message == "Overloaded");
  BOOST_TEST(!reply.terminal);
  BOOST_REQUIRE(reply.tokens.has_value());
  BOOST_TEST(reply.tokens->input_tokens == 14);
}

BOOST_AUTO_TEST_CASE(recorded_truncated_stream_never_reaches_terminal) {
  auto reply = stream_through(read_fixture("stream_truncated.sse"), 50);
  BOOST_TEST(reply.text == "Once upon a time");
  BOOST_TEST(!reply.terminal);
  BOOST_TEST(reply.finish_reason.empty());
  BOOST_TEST(!reply.error.has_value());
  BOOST_TEST(!anthropic().accepts_unterminated_stream());
}

BOOST_AUTO_TEST_CASE(stream_cut_mid_event_ends_in_a_protocol_error) {
  auto bytes = read_fixture("stream_truncated.sse");
  bytes.resize(bytes.size() - 40); // the connection dropped mid-event
  auto reply = stream_through(bytes, 50);
  BOOST_TEST(reply.text == "Once upon");
  BOOST_REQUIRE(reply.error.has_value());
  BOOST_TEST(reply.error->kind == failure_kind::protocol);
  BOOST_TEST(!reply.terminal);
}

// --- refusals, usage as billed, replies without text ---------------------

const std::string refusal_message =
    "the model declined to answer (stop_reason refusal, category cyber: The "
    "request asks for help defeating a specific security system.)";

BOOST_AUTO_TEST_CASE(refusal_is_refused_keeping_the_text_before_it) {
  auto whole =
      as_failure(anthropic().decode_body(read_fixture("refusal.json")));
  BOOST_TEST(whole.kind == failure_kind::refused);
  BOOST_TEST(whole.message == refusal_message);
  BOOST_TEST(whole.partial_text == "I can explain how locks work in general. ");
  BOOST_TEST(whole.usage.output_tokens == 9);
  for (std::size_t chunk : {std::size_t{1}, std::size_t{17}}) {
    auto reply = stream_through(read_fixture("refusal_stream.sse"), chunk);
    auto streamed = as_failure(reply.outcome);
    BOOST_TEST(streamed.kind == failure_kind::refused);
    BOOST_TEST(streamed.message == refusal_message);
    BOOST_TEST(streamed.partial_text == whole.partial_text);
  }
}

BOOST_AUTO_TEST_CASE(refusal_without_details_says_the_model_declined) {
  auto error = as_failure(anthropic().decode_body(
      R"({"content":[],"stop_reason":"refusal","usage":{"input_tokens":10,)"
      R"("output_tokens":0}})"));
  BOOST_TEST(error.kind == failure_kind::refused);
  BOOST_TEST(error.message ==
             "the model declined to answer (stop_reason refusal)");
}

BOOST_AUTO_TEST_CASE(usage_with_iterations_is_their_sum) {
  // Compaction: the top-level counts cover the last pass only.
  auto reply =
      as_completion(anthropic().decode_body(read_fixture("compaction.json")));
  BOOST_TEST(reply.text == "Done: the limiter now drains its queue in order.");
  BOOST_TEST(reply.usage.input_tokens == 55377);
  BOOST_TEST(reply.usage.cached_input_tokens == 55096);
  BOOST_TEST(reply.usage.output_tokens == 91);
  auto streamed = stream_through(read_fixture("compaction_stream.sse"), 3);
  auto& tokens = as_completion(streamed.outcome).usage;
  BOOST_TEST(tokens.input_tokens == 55377);
  BOOST_TEST(tokens.cached_input_tokens == 55096);
  BOOST_TEST(tokens.output_tokens == 91);
}

/// The usage of a stream whose message_start and message_delta report
/// `start` and `delta`.
usage streamed_usage(std::string_view start, std::string_view delta) {
  auto bytes =
      "event: message_start\ndata: "
      R"({"type":"message_start","message":{"content":[],"usage":)" +
      std::string{start} +
      "}}\n\nevent: content_block_delta\ndata: "
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta",)"
      R"("text":"OK"}})"
      "\n\nevent: message_delta\ndata: "
      R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":)" +
      std::string{delta} +
      "}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  return as_completion(stream_through(bytes, 5).outcome).usage;
}

BOOST_AUTO_TEST_CASE(message_delta_counts_replace_message_start_ones) {
  // The final counts correct the first ones, even downwards.
  auto corrected =
      streamed_usage(R"({"input_tokens":1200,"output_tokens":1})",
                     R"({"input_tokens":100,"cache_read_input_tokens":900,)"
                     R"("output_tokens":10})");
  BOOST_TEST(corrected.input_tokens == 1000);
  BOOST_TEST(corrected.cached_input_tokens == 900);
  BOOST_TEST(corrected.output_tokens == 10);
  // Counts message_delta leaves out keep what message_start said.
  auto kept = streamed_usage(
      R"({"input_tokens":100,"cache_read_input_tokens":900,"output_tokens":1})",
      R"({"output_tokens":10})");
  BOOST_TEST(kept.input_tokens == 1000);
  BOOST_TEST(kept.cached_input_tokens == 900);
  BOOST_TEST(kept.output_tokens == 10);
}

// --- classify_error -------------------------------------------------------

namespace {

failure classify(int status, const std::string& fixture) {
  return anthropic().classify_error(status, read_fixture(fixture), {});
}

} // namespace

BOOST_AUTO_TEST_CASE(prompt_too_long_400_is_context_length) {
  auto error = classify(400, "error_400_prompt_too_long.json");
  BOOST_TEST(error.kind == failure_kind::context_length);
  BOOST_TEST(error.http_status == 400);
  BOOST_TEST(error.message ==
             "prompt is too long: 208923 tokens > 200000 maximum");

  auto exceed = anthropic().classify_error(
      400,
      R"({"type":"error","error":{"type":"invalid_request_error","message":)"
      R"("input length and `max_tokens` exceed context limit: 198000 + )"
      R"(8192 > 200000, decrease input length or `max_tokens` and try )"
      R"(again"}})",
      {});
  BOOST_TEST(exceed.kind == failure_kind::context_length);
}

BOOST_AUTO_TEST_CASE(other_invalid_requests_are_bad_request) {
  auto error = anthropic().classify_error(
      400,
      R"({"type":"error","error":{"type":"invalid_request_error",)"
      R"("message":"max_tokens: Field required"},"request_id":"req_1"})",
      {});
  BOOST_TEST(error.kind == failure_kind::bad_request);
  BOOST_TEST(error.message == "max_tokens: Field required");
  BOOST_TEST(error.message.find("req_1") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(authentication_401_and_permission_403_are_auth) {
  auto error = classify(401, "error_401.json");
  BOOST_TEST(error.kind == failure_kind::auth);
  BOOST_TEST(error.http_status == 401);
  BOOST_TEST(error.message == "invalid x-api-key");
  BOOST_TEST(anthropic()
                 .classify_error(403,
                                 R"({"type":"error","error":{"type":)"
                                 R"("permission_error","message":"Your API )"
                                 R"(key does not have permission"}})",
                                 {})
                 .kind == failure_kind::auth);
}

BOOST_AUTO_TEST_CASE(not_found_404_and_too_large_413_are_bad_request) {
  auto missing = anthropic().classify_error(
      404,
      R"({"type":"error","error":{"type":"not_found_error",)"
      R"("message":"model: claude-9"}})",
      {});
  BOOST_TEST(missing.kind == failure_kind::bad_request);
  BOOST_TEST(missing.message == "model: claude-9");
  auto large = anthropic().classify_error(
      413,
      R"({"type":"error","error":{"type":"request_too_large",)"
      R"("message":"Request exceeds the maximum allowed number of bytes."}})",
      {});
  BOOST_TEST(large.kind == failure_kind::bad_request);
  BOOST_TEST(large.http_status == 413);
}

BOOST_AUTO_TEST_CASE(rate_limit_429_is_rate_limited) {
  auto error = classify(429, "error_429.json");
  BOOST_TEST(error.kind == failure_kind::rate_limited);
  BOOST_TEST(error.http_status == 429);
  BOOST_TEST(error.message.rfind("This request would exceed the rate limit "
                                 "for your organization",
                                 0) == 0u);
}

BOOST_AUTO_TEST_CASE(api_error_500_is_server) {
  auto error = classify(500, "error_500.json");
  BOOST_TEST(error.kind == failure_kind::server);
  BOOST_TEST(error.http_status == 500);
  BOOST_TEST(error.message == "Internal server error");
}

BOOST_AUTO_TEST_CASE(overloaded_529_is_overloaded) {
  auto error = classify(529, "error_529.json");
  BOOST_TEST(error.kind == failure_kind::overloaded);
  BOOST_TEST(error.http_status == 529);
  BOOST_TEST(error.message == "Overloaded");
}

BOOST_AUTO_TEST_CASE(without_a_known_type_the_status_decides) {
  struct row {
    int status;
    failure_kind kind;
  };
  for (const auto& [status, kind] : {
           row{401, failure_kind::auth},
           row{403, failure_kind::auth},
           row{400, failure_kind::bad_request},
           row{402, failure_kind::bad_request},
           row{404, failure_kind::bad_request},
           row{408, failure_kind::timeout_total},
           row{429, failure_kind::rate_limited},
           row{500, failure_kind::server},
           row{502, failure_kind::server},
           row{503, failure_kind::overloaded},
           row{529, failure_kind::overloaded},
           row{302, failure_kind::protocol},
       }) {
    BOOST_TEST_CONTEXT(status) {
      auto empty = anthropic().classify_error(status, "", {});
      BOOST_TEST(empty.kind == kind);
      BOOST_TEST(empty.http_status == status);
      BOOST_TEST(empty.message == "HTTP " + std::to_string(status));
      auto unknown_type = anthropic().classify_error(
          status,
          R"({"type":"error","error":{"type":"brand_new_error",)"
          R"("message":"Something new"}})",
          {});
      BOOST_TEST(unknown_type.kind == kind);
      BOOST_TEST(unknown_type.message == "Something new");
    }
  }
}

BOOST_AUTO_TEST_CASE(html_error_page_is_quoted_at_most_200_bytes) {
  auto body = "<html><head><title>413 Request Entity Too Large</title></head>" +
              std::string(400, ' ') + "<body>cloudflare</body></html>";
  auto error = anthropic().classify_error(413, body, {});
  BOOST_TEST(error.kind == failure_kind::bad_request);
  BOOST_TEST(error.message.rfind("<html>", 0) == 0u);
  BOOST_TEST(error.message.size() <= 203u);
}

BOOST_AUTO_TEST_CASE(classify_error_never_echoes_headers) {
  header_list headers = {{"x-api-key", "sk-ant-secret-should-not-leak"},
                         {"retry-after", "7"},
                         {"request-id", "req_abc123"}};
  auto error = anthropic().classify_error(429, "", headers);
  BOOST_TEST(error.message.find("sk-ant-secret") == std::string::npos);
  BOOST_TEST(error.message.find("req_abc123") == std::string::npos);
  BOOST_TEST(error.message == "HTTP 429");
}
