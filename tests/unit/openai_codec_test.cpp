#include <boost/test/unit_test.hpp>

#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <rapidjson/document.h>

#include "plugins/codecs/openai/openai_codec.hpp"
#include "tests/unit/codec_test_support.hpp"
#include "tutti/registry.hpp"
#include "tutti/sse_decoder.hpp"

using namespace tutti;
using namespace tutti::codec_test;

namespace {

std::string read_fixture(const std::string& name) {
  return codec_test::read_fixture("openai", name);
}

/// The codec under test, shared by every case.
const codec& openai() {
  static auto instance = make_openai_codec();
  return *instance;
}

provider_settings settings() {
  provider_settings p;
  p.name = "oa";
  p.kind = "openai";
  p.model = "gpt-4o-mini";
  p.base_url = "https://api.openai.com/v1";
  p.api_key = "sk-test-123";
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
  return codec_test::stream_through(openai(), bytes, chunk);
}

const std::string expected_stream_text =
    "Paris is the capital of France.\nIt\xE2\x80\x99s called \xC2\xAB"
    "la Ville Lumi\xC3\xA8re\xC2\xBB \xF0\x9F\x97\xBC \xE2\x80\x94 \"City of "
    "Light\".";

} // namespace

// --- encode ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(default_base_url_is_openai_v1) {
  BOOST_TEST(openai().default_base_url() == "https://api.openai.com/v1");
}

BOOST_AUTO_TEST_CASE(encode_posts_to_chat_completions_under_base_url) {
  auto req = openai().encode(question(), settings());
  BOOST_TEST(req.method == "POST");
  BOOST_TEST(req.url == "https://api.openai.com/v1/chat/completions");

  auto local = settings();
  local.base_url = "http://127.0.0.1:8089/v1/";
  BOOST_TEST(openai().encode(question(), local).url ==
             "http://127.0.0.1:8089/v1/chat/completions");
}

BOOST_AUTO_TEST_CASE(encode_sends_json_content_type_and_bearer_key) {
  auto req = openai().encode(question(), settings());
  BOOST_TEST(header(req, "content-type") == "application/json");
  BOOST_TEST(header(req, "authorization") == "Bearer sk-test-123");
  BOOST_TEST(header(req, "accept") == "<absent>");
}

BOOST_AUTO_TEST_CASE(encode_omits_authorization_when_key_is_empty) {
  auto keyless = settings();
  keyless.api_key.clear();
  auto req = openai().encode(question(), keyless);
  BOOST_TEST(header(req, "authorization") == "<absent>");
  BOOST_TEST(req.headers.size() == 1u);
}

BOOST_AUTO_TEST_CASE(encode_body_carries_model_and_messages_in_order) {
  auto doc = parse(openai().encode(question(), settings()).body);
  BOOST_TEST(str(doc["model"]) == "gpt-4o-mini");
  const auto& messages = doc["messages"];
  BOOST_REQUIRE(messages.IsArray());
  BOOST_REQUIRE(messages.Size() == 2u);
  BOOST_TEST(str(messages[0]["role"]) == "system");
  BOOST_TEST(str(messages[0]["content"]) == "Answer briefly.");
  BOOST_TEST(str(messages[1]["role"]) == "user");
  BOOST_TEST(str(messages[1]["content"]) == "What is the capital of France?");
}

BOOST_AUTO_TEST_CASE(encode_omits_params_set_nowhere_and_stream_fields) {
  auto doc = parse(openai().encode(question(), settings()).body);
  for (auto* name :
       {"temperature", "top_p", "max_tokens", "max_completion_tokens", "seed",
        "stop", "stream", "stream_options"}) {
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST(!doc.HasMember(name));
    }
  }
  BOOST_TEST(doc.MemberCount() == 2u);
}

BOOST_AUTO_TEST_CASE(encode_sends_tools_choice_format_and_tool_turns) {
  auto req = question();
  tool_call call{"call_1", "get_weather", R"({"city":"Paris"})"};
  chat_message asked{"assistant", ""};
  asked.tool_calls.push_back(call);
  chat_message result{"tool", "18 degrees"};
  result.tool_call_id = "call_1";
  req.messages.push_back(asked);
  req.messages.push_back(result);
  req.params.tools.push_back(
      {"get_weather", "The weather in a city",
       R"({"type":"object","properties":{"city":{"type":"string"}}})", true});
  req.params.tool_choice = {"function", "get_weather"};
  req.params.parallel_tool_calls = false;
  req.params.response_format = {"json_schema", "weather",
                                R"({"type":"object"})", true};
  auto doc = parse(openai().encode(req, settings()).body);
  const auto& tool = doc["tools"][0];
  BOOST_TEST(str(tool["type"]) == "function");
  BOOST_TEST(str(tool["function"]["name"]) == "get_weather");
  BOOST_TEST(
      str(tool["function"]["parameters"]["properties"]["city"]["type"]) ==
      "string");
  BOOST_TEST(tool["function"]["strict"].GetBool());
  BOOST_TEST(str(doc["tool_choice"]["function"]["name"]) == "get_weather");
  BOOST_TEST(!doc["parallel_tool_calls"].GetBool());
  BOOST_TEST(str(doc["response_format"]["type"]) == "json_schema");
  BOOST_TEST(str(doc["response_format"]["json_schema"]["name"]) == "weather");
  BOOST_TEST(doc["response_format"]["json_schema"]["strict"].GetBool());
  const auto& turns = doc["messages"];
  BOOST_REQUIRE(turns.Size() == 4u);
  BOOST_TEST(turns[2]["content"].IsNull());
  BOOST_TEST(str(turns[2]["tool_calls"][0]["id"]) == "call_1");
  BOOST_TEST(str(turns[2]["tool_calls"][0]["function"]["arguments"]) ==
             R"({"city":"Paris"})");
  BOOST_TEST(str(turns[3]["role"]) == "tool");
  BOOST_TEST(str(turns[3]["tool_call_id"]) == "call_1");
  BOOST_TEST(str(turns[3]["content"]) == "18 degrees");
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

  auto doc = parse(openai().encode(req, provider).body);
  BOOST_TEST(doc["temperature"].GetDouble() == 0.2);
  BOOST_TEST(doc["top_p"].GetDouble() == 0.5);
  // OpenAI's reasoning models refuse `max_tokens`; every model takes this.
  BOOST_TEST(doc["max_completion_tokens"].GetInt64() == 64);
  BOOST_TEST(!doc.HasMember("max_tokens"));
  // Servers that copy the format, and Azure's API versions, know the older
  // name best.
  for (auto* kind : {"openai-compatible", "azure-openai"}) {
    auto other = registry::builtin().make_codec(kind);
    auto p = provider;
    p.kind = kind;
    p.base_url = "http://127.0.0.1:1/v1";
    auto body = parse(other->encode(req, p).body);
    BOOST_TEST(body["max_tokens"].GetInt64() == 64);
    BOOST_TEST(!body.HasMember("max_completion_tokens"));
  }
  BOOST_TEST(doc["seed"].GetInt64() == 42);
  BOOST_REQUIRE(doc["stop"].IsArray());
  BOOST_REQUIRE(doc["stop"].Size() == 1u);
  BOOST_TEST(str(doc["stop"][0]) == "\n\n");
}

BOOST_AUTO_TEST_CASE(encode_fills_unset_params_from_provider_defaults) {
  auto provider = settings();
  provider.defaults.temperature = 0.7;
  provider.defaults.stop = {"END", "STOP"};
  auto doc = parse(openai().encode(question(), provider).body);
  BOOST_TEST(doc["temperature"].GetDouble() == 0.7);
  BOOST_REQUIRE(doc["stop"].Size() == 2u);
  BOOST_TEST(str(doc["stop"][0]) == "END");
  BOOST_TEST(str(doc["stop"][1]) == "STOP");
  BOOST_TEST(!doc.HasMember("top_p"));
  BOOST_TEST(!doc.HasMember("seed"));
}

BOOST_AUTO_TEST_CASE(encode_writes_numbers_exactly) {
  auto req = question();
  req.params.temperature = 0.0;
  req.params.top_p = 0.95;
  req.params.seed = 9007199254740993; // beyond a double's exact range
  auto body = openai().encode(req, settings()).body;
  BOOST_TEST(body.find("\"temperature\":0.0") != std::string::npos);
  BOOST_TEST(body.find("\"top_p\":0.95") != std::string::npos);
  BOOST_TEST(body.find("\"seed\":9007199254740993") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(encode_leaves_out_non_finite_numbers) {
  auto req = question();
  req.params.temperature = std::numeric_limits<double>::quiet_NaN();
  auto provider = settings();
  provider.defaults.top_p = std::numeric_limits<double>::infinity();
  auto doc = parse(openai().encode(req, provider).body);
  BOOST_TEST(!doc.HasMember("temperature"));
  BOOST_TEST(!doc.HasMember("top_p"));
}

BOOST_AUTO_TEST_CASE(encode_streamed_asks_for_usage_and_event_stream) {
  auto req = question();
  req.stream = true;
  auto http = openai().encode(req, settings());
  BOOST_TEST(header(http, "accept") == "text/event-stream");
  auto doc = parse(http.body);
  BOOST_TEST(doc["stream"].IsTrue());
  BOOST_REQUIRE(doc["stream_options"].IsObject());
  BOOST_TEST(doc["stream_options"]["include_usage"].IsTrue());
}

BOOST_AUTO_TEST_CASE(encode_escapes_quotes_newlines_controls_and_unicode) {
  using namespace std::string_literals;
  const auto tricky =
      "She said \"hi\"\\ \n\ttab\r \x01 caf\xC3\xA9 \xF0\x9F\x97\xBC"
      " </script> \0end"s;
  auto req = question(tricky);
  req.params.stop = {"\"", "\n"};
  auto provider = settings();
  provider.model = "my \"model\"";
  auto body = openai().encode(req, provider).body;

  // One line of JSON: raw control characters never reach the wire.
  for (char c : body) {
    BOOST_TEST_REQUIRE(static_cast<unsigned char>(c) >= 0x20u);
  }
  BOOST_TEST(body.find(R"(She said \"hi\"\\ \n\ttab\r \u0001 )") !=
             std::string::npos);
  BOOST_TEST(body.find("\\u0000end") != std::string::npos);
  auto doc = parse(body);
  BOOST_TEST(str(doc["messages"][1]["content"]) == tricky);
  BOOST_TEST(str(doc["model"]) == "my \"model\"");
  BOOST_TEST(str(doc["stop"][0]) == "\"");
  BOOST_TEST(str(doc["stop"][1]) == "\n");
}

// --- decode_body ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(decode_body_reads_text_finish_reason_and_usage) {
  auto reply =
      as_completion(openai().decode_body(read_fixture("completion.json")));
  BOOST_TEST(reply.text == expected_stream_text);
  BOOST_TEST(reply.finish_reason == "stop");
  BOOST_TEST(reply.usage.input_tokens == 27);
  BOOST_TEST(reply.usage.output_tokens == 22);
}

BOOST_AUTO_TEST_CASE(decode_body_filtered_before_any_text_is_content_filter) {
  // As the same reply streamed is: no text is no answer.
  auto error = as_failure(
      openai().decode_body(read_fixture("completion_content_filter.json")));
  BOOST_TEST(error.kind == failure_kind::content_filter);
  BOOST_TEST(error.partial_text == "");
  BOOST_TEST(error.usage.input_tokens == 31);
  BOOST_TEST(error.usage.output_tokens == 0);
}

BOOST_AUTO_TEST_CASE(decode_body_tool_calls_are_the_reply) {
  auto reply = as_completion(openai().decode_body(R"({"choices":[{"index":0,
      "message":{"role":"assistant","content":null,"tool_calls":[{"id":"c1",
      "type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},
      {"id":"c2","type":"function","function":{"name":"g","arguments":""}}]},
      "finish_reason":"tool_calls"}],"usage":{"prompt_tokens":9,
      "completion_tokens":4}})"));
  BOOST_TEST(reply.text.empty());
  BOOST_TEST(reply.finish_reason == "tool_calls");
  BOOST_REQUIRE(reply.tool_calls.size() == 2u);
  BOOST_TEST(reply.tool_calls[0].id == "c1");
  BOOST_TEST(reply.tool_calls[0].name == "f");
  BOOST_TEST(reply.tool_calls[0].arguments == R"({"a":1})");
  // A call without arguments takes none.
  BOOST_TEST(reply.tool_calls[1].arguments == "{}");
  BOOST_TEST(reply.usage.output_tokens == 4);
}

BOOST_AUTO_TEST_CASE(
    decode_body_tool_call_without_a_name_is_a_protocol_failure) {
  auto error = as_failure(openai().decode_body(R"({"choices":[{"message":{
      "content":null,"tool_calls":[{"id":"c1","type":"function",
      "function":{"arguments":"{}"}}]},"finish_reason":"tool_calls"}]})"));
  BOOST_TEST(error.kind == failure_kind::protocol);
  BOOST_TEST(error.message == "tool call 0 of the reply names no function");
}

BOOST_AUTO_TEST_CASE(decode_body_legacy_function_call_is_a_tool_call) {
  auto reply = as_completion(openai().decode_body(R"({"choices":[{"message":{
      "content":null,"function_call":{"name":"f","arguments":"{}"}},
      "finish_reason":"function_call"}]})"));
  BOOST_REQUIRE(reply.tool_calls.size() == 1u);
  BOOST_TEST(reply.tool_calls[0].name == "f");
  BOOST_TEST(reply.tool_calls[0].id == "call_0");
}

BOOST_AUTO_TEST_CASE(streamed_tool_calls_are_assembled_by_index) {
  // Two calls whose pieces interleave, as parallel tool calls stream.
  std::string stream;
  for (
      auto* data :
      {R"({"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{\"x\""}}]}}]})",
       R"({"choices":[{"delta":{"tool_calls":[{"index":1,"id":"b","function":{"name":"g","arguments":"[1"}}]}}]})",
       R"({"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":":2}"}}]}}]})",
       R"({"choices":[{"delta":{"tool_calls":[{"index":1,"function":{"arguments":",2]"}}]}}]})",
       R"({"choices":[{"delta":{},"finish_reason":"tool_calls"}]})"})
    stream += std::string{"data: "} + data + "\n\n";
  stream += "data: [DONE]\n\n";
  auto outcome = stream_through(openai(), stream, 5).outcome;
  auto& reply = std::get<completion>(outcome);
  BOOST_REQUIRE(reply.tool_calls.size() == 2u);
  BOOST_TEST(reply.tool_calls[0].id == "a");
  BOOST_TEST(reply.tool_calls[0].arguments == R"({"x":2})");
  BOOST_TEST(reply.tool_calls[1].name == "g");
  BOOST_TEST(reply.tool_calls[1].arguments == "[1,2]");
  BOOST_TEST(reply.finish_reason == "tool_calls");
}

BOOST_AUTO_TEST_CASE(logprobs_are_asked_for_and_read_alike_whole_and_streamed) {
  auto req = question();
  req.params.logprobs = true;
  req.params.top_logprobs = 2;
  auto sent = parse(openai().encode(req, settings()).body);
  BOOST_TEST(sent["logprobs"].GetBool());
  BOOST_TEST(sent["top_logprobs"].GetInt() == 2);
  BOOST_TEST(!parse(openai().encode(question(), settings()).body)
                  .HasMember("logprobs"));

  auto whole = openai().decode_body(
      R"({"choices":[{"index":0,"message":{"role":"assistant","content":"Hi there"},
      "logprobs":{"content":[{"token":"Hi","logprob":-0.5,"bytes":[72,105],"top_logprobs":[]},
      {"token":" there","logprob":-1.25,"bytes":null,"top_logprobs":[]}],"refusal":null},
      "finish_reason":"stop"}]})");
  auto expected =
      R"({"content":[{"token":"Hi","logprob":-0.5,"bytes":[72,105],"top_logprobs":[]},)"
      R"({"token":" there","logprob":-1.25,"bytes":null,"top_logprobs":[]}]})";
  BOOST_TEST(as_completion(whole).logprobs == expected);

  std::string stream;
  for (
      auto* data :
      {R"({"choices":[{"delta":{"role":"assistant","content":""},"logprobs":null}]})",
       R"({"choices":[{"delta":{"content":"Hi"},"logprobs":{"content":[{"token":"Hi","logprob":-0.5,"bytes":[72,105],"top_logprobs":[]}]}}]})",
       R"({"choices":[{"delta":{"content":" there"},"logprobs":{"content":[{"token":" there","logprob":-1.25,"bytes":null,"top_logprobs":[]}]}}]})",
       R"({"choices":[{"delta":{},"logprobs":null,"finish_reason":"stop"}]})"})
    stream += std::string{"data: "} + data + "\n\n";
  stream += "data: [DONE]\n\n";
  for (std::size_t cut : {1u, 7u, 4096u}) {
    auto outcome = stream_through(openai(), stream, cut).outcome;
    BOOST_TEST(std::get<completion>(outcome).logprobs == expected);
  }
  // A reply without them has none.
  auto plain = openai().decode_body(
      R"({"choices":[{"message":{"content":"Hi"},"logprobs":null,"finish_reason":"stop"}]})");
  BOOST_TEST(as_completion(plain).logprobs.empty());
}

BOOST_AUTO_TEST_CASE(several_choices_are_asked_for_and_read_alike_both_ways) {
  auto req = question();
  req.params.n = 3;
  BOOST_TEST(parse(openai().encode(req, settings()).body)["n"].GetInt() == 3);
  BOOST_TEST(
      !parse(openai().encode(question(), settings()).body).HasMember("n"));

  auto check = [](const completion& reply) {
    BOOST_TEST(reply.text == "Paris.");
    BOOST_TEST(reply.finish_reason == "stop");
    BOOST_REQUIRE(reply.more_choices.size() == 2u);
    BOOST_TEST(reply.more_choices[0].text == "Lyon?");
    BOOST_TEST(reply.more_choices[0].finish_reason == "length");
    BOOST_TEST(reply.more_choices[1].text.empty());
    BOOST_REQUIRE(reply.more_choices[1].tool_calls.size() == 1u);
    BOOST_TEST(reply.more_choices[1].tool_calls[0].arguments == R"({"a":1})");
    BOOST_TEST(reply.more_choices[1].finish_reason == "tool_calls");
  };
  // Out of order, as the vendor may send them: `index` places each.
  check(as_completion(openai().decode_body(
      R"({"choices":[{"index":1,"message":{"content":"Lyon?"},"finish_reason":"length"},
      {"index":0,"message":{"content":"Paris."},"finish_reason":"stop"},
      {"index":2,"message":{"content":null,"tool_calls":[{"id":"c","type":"function",
      "function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}]})")));

  std::string stream;
  for (
      auto* data :
      {R"({"choices":[{"index":0,"delta":{"content":"Par"}}]})",
       R"({"choices":[{"index":1,"delta":{"content":"Ly"}},{"index":2,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{\"a\""}}]}}]})",
       R"({"choices":[{"index":0,"delta":{"content":"is."}}]})",
       R"({"choices":[{"index":1,"delta":{"content":"on?"},"finish_reason":"length"}]})",
       R"({"choices":[{"index":2,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"finish_reason":"tool_calls"}]})",
       R"({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})"})
    stream += std::string{"data: "} + data + "\n\n";
  stream += "data: [DONE]\n\n";
  for (std::size_t cut : {1u, 13u, 4096u})
    check(std::get<completion>(stream_through(openai(), stream, cut).outcome));

  // More choices than anyone may ask for is not a reply.
  std::string many = R"({"choices":[)";
  for (int i = 0; i <= max_choices; ++i)
    many += std::string{i ? "," : ""} + R"({"index":)" + std::to_string(i) +
            R"(,"message":{"content":"x"},"finish_reason":"stop"})";
  many += "]}";
  auto refused = openai().decode_body(many);
  BOOST_TEST(as_failure(refused).kind == failure_kind::protocol);
  BOOST_TEST(as_failure(refused).message.find("a choice's index is past 127") !=
             std::string::npos);
  auto twice = openai().decode_body(
      R"({"choices":[{"index":0,"message":{"content":"a"}},{"index":0,"message":{"content":"b"}}]})");
  BOOST_TEST(as_failure(twice).kind == failure_kind::protocol);
}

BOOST_AUTO_TEST_CASE(decode_body_without_usage_counts_zero_tokens) {
  auto reply = as_completion(openai().decode_body(
      R"({"choices":[{"message":{"content":"hi"},"finish_reason":"length"}],
          "x_vendor":{"anything":[1,2]}})"));
  BOOST_TEST(reply.text == "hi");
  BOOST_TEST(reply.finish_reason == "length");
  BOOST_TEST(reply.usage.input_tokens == 0);
  BOOST_TEST(reply.usage.output_tokens == 0);
}

BOOST_AUTO_TEST_CASE(decode_body_null_content_when_stopping_is_an_empty_reply) {
  for (std::string_view message :
       {R"({"content":null})", R"({"content":""})", R"({})"}) {
    BOOST_TEST_CONTEXT(message) {
      auto error = as_failure(openai().decode_body(
          R"({"choices":[{"message":)" + std::string{message} +
          R"(,"finish_reason":"stop"}]})"));
      BOOST_TEST(error.kind == failure_kind::empty_reply);
      BOOST_TEST(error.message ==
                 "the reply holds no text (finish reason \"stop\")");
    }
  }
}

BOOST_AUTO_TEST_CASE(decode_body_content_of_another_type_is_protocol) {
  auto error = as_failure(openai().decode_body(
      R"({"choices":[{"message":{"content":42},"finish_reason":"stop"}]})"));
  BOOST_TEST(error.kind == failure_kind::protocol);
  BOOST_TEST(error.message.find("content") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(decode_body_that_is_not_json_is_protocol_with_a_quote) {
  std::string html = "<html><body>" + std::string(1000, 'x') + "</body></html>";
  auto error = as_failure(openai().decode_body(html));
  BOOST_TEST(error.kind == failure_kind::protocol);
  BOOST_TEST(error.message.find("not JSON") != std::string::npos);
  BOOST_TEST(error.message.find("<html><body>xxx") != std::string::npos);
  BOOST_TEST(error.message.size() < 320u);
  BOOST_TEST(error.message.find("</body>") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(decode_body_quote_never_splits_a_utf8_character) {
  std::string body;
  for (int i = 0; i < 300; ++i) {
    body += "\xC3\xA9"; // é, two bytes each: byte 200 is mid-character
  }
  body = "x" + body; // shift so that a naive cut lands mid-character
  auto error = as_failure(openai().decode_body(body));
  BOOST_TEST(is_valid_utf8(error.message));
}

BOOST_AUTO_TEST_CASE(decode_body_without_choices_is_protocol) {
  for (std::string_view body :
       {R"({"id":"x","object":"chat.completion"})", R"({"choices":[]})",
        R"({"choices":null})", R"([1,2])"}) {
    BOOST_TEST_CONTEXT(body) {
      auto error = as_failure(openai().decode_body(body));
      BOOST_TEST(error.kind == failure_kind::protocol);
      BOOST_TEST(error.message.find(std::string{body}) != std::string::npos);
    }
  }
  auto error = as_failure(openai().decode_body(R"({"choices":[]})"));
  BOOST_TEST(error.message.find("no choices") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(decode_body_with_an_error_object_is_that_failure) {
  auto error = as_failure(openai().decode_body(read_fixture("error_500.json")));
  BOOST_TEST(error.kind == failure_kind::server);
  BOOST_TEST(error.message ==
             "The server had an error while processing your request. "
             "Sorry about that!");
}

// --- decode_event ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(done_marker_is_terminal) {
  auto update = openai().decode_event(data_event("[DONE]"));
  BOOST_TEST(update.terminal);
  BOOST_TEST(update.text.empty());
  BOOST_TEST(!update.error.has_value());
}

BOOST_AUTO_TEST_CASE(event_with_empty_data_is_ignored) {
  auto update = openai().decode_event(data_event(""));
  BOOST_TEST(!update.terminal);
  BOOST_TEST(update.text.empty());
  BOOST_TEST(!update.usage.has_value());
  BOOST_TEST(!update.error.has_value());
}

BOOST_AUTO_TEST_CASE(chunk_gives_its_delta_content) {
  auto update = openai().decode_event(data_event(
      R"({"object":"chat.completion.chunk","choices":[{"index":0,)"
      R"("delta":{"content":" caf\u00e9"},"finish_reason":null}],"usage":null})"));
  BOOST_TEST(update.text == " caf\xC3\xA9");
  BOOST_TEST(update.finish_reason.empty());
  BOOST_TEST(!update.usage.has_value());
  BOOST_TEST(!update.terminal);
}

BOOST_AUTO_TEST_CASE(chunk_without_content_gives_no_text) {
  for (std::string_view data :
       {R"({"choices":[{"delta":{"role":"assistant"},"finish_reason":null}]})",
        R"({"choices":[{"delta":{"content":null},"finish_reason":null}]})",
        R"({"choices":[{"delta":{},"finish_reason":null}]})"}) {
    auto update = openai().decode_event(data_event(std::string{data}));
    BOOST_TEST(update.text.empty());
    BOOST_TEST(!update.error.has_value());
  }
}

BOOST_AUTO_TEST_CASE(finish_reason_alone_is_not_terminal) {
  auto update = openai().decode_event(data_event(
      R"({"choices":[{"index":0,"delta":{},"finish_reason":"length"}]})"));
  BOOST_TEST(update.finish_reason == "length");
  BOOST_TEST(!update.terminal);
}

BOOST_AUTO_TEST_CASE(usage_chunk_with_empty_choices_gives_usage) {
  auto update = openai().decode_event(
      data_event(R"({"choices":[],"usage":{"prompt_tokens":12,)"
                 R"("completion_tokens":34,"total_tokens":46}})"));
  BOOST_REQUIRE(update.usage.has_value());
  BOOST_TEST(reported(update.usage->input_tokens) == 12);
  BOOST_TEST(reported(update.usage->output_tokens) == 34);
  BOOST_TEST(update.text.empty());
  BOOST_TEST(!update.terminal);
}

BOOST_AUTO_TEST_CASE(error_object_in_stream_is_an_error_by_its_code) {
  struct row {
    std::string_view data;
    failure_kind kind;
  };
  for (const auto& [data, kind] : {
           row{R"({"error":{"message":"boom","type":"server_error",)"
               R"("param":null,"code":null}})",
               failure_kind::server},
           row{R"({"error":{"message":"slow down","type":"tokens",)"
               R"("code":"rate_limit_exceeded"}})",
               failure_kind::rate_limited},
           row{R"({"error":{"message":"too long",)"
               R"("type":"invalid_request_error",)"
               R"("code":"context_length_exceeded"}})",
               failure_kind::context_length},
           row{R"({"error":{"message":"mystery"}})", failure_kind::server},
       }) {
    BOOST_TEST_CONTEXT(data) {
      auto update = openai().decode_event(data_event(std::string{data}));
      BOOST_REQUIRE(update.error.has_value());
      BOOST_TEST(update.error->kind == kind);
      BOOST_TEST(!update.error->message.empty());
      BOOST_TEST(update.error->message.find("{") == std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(malformed_event_is_a_protocol_error_quoting_it) {
  auto update = openai().decode_event(
      data_event(R"({"choices":[{"delta":{"content":"Par)"));
  BOOST_REQUIRE(update.error.has_value());
  BOOST_TEST(update.error->kind == failure_kind::protocol);
  BOOST_TEST(
      update.error->message.find(R"({"choices":[{"delta":{"content":"Par)") !=
      std::string::npos);
  BOOST_TEST(!update.terminal);
}

// --- recorded streams -----------------------------------------------------

BOOST_AUTO_TEST_CASE(recorded_stream_reproduces_text_finish_reason_usage) {
  auto bytes = read_fixture("stream_with_usage.sse");
  for (std::size_t chunk :
       {bytes.size(), std::size_t{1}, std::size_t{7}, std::size_t{100}}) {
    BOOST_TEST_CONTEXT("chunks of " << chunk << " bytes") {
      auto reply = stream_through(bytes, chunk);
      BOOST_TEST(reply.text == expected_stream_text);
      BOOST_TEST(reply.finish_reason == "stop");
      BOOST_REQUIRE(reply.tokens.has_value());
      BOOST_TEST(reply.tokens->input_tokens == 27);
      BOOST_TEST(reply.tokens->output_tokens == 22);
      BOOST_TEST(reply.terminal);
      BOOST_TEST(reply.updates_after_terminal == 0);
      BOOST_TEST(!reply.error.has_value());
    }
  }
}

BOOST_AUTO_TEST_CASE(streamed_text_matches_the_whole_body_reply) {
  auto streamed = stream_through(read_fixture("stream_with_usage.sse"), 13);
  auto whole =
      as_completion(openai().decode_body(read_fixture("completion.json")));
  BOOST_TEST(streamed.text == whole.text);
}

BOOST_AUTO_TEST_CASE(recorded_stream_error_event_keeps_partial_text) {
  auto reply = stream_through(read_fixture("stream_error_event.sse"), 64);
  BOOST_TEST(reply.text == "The answer is");
  BOOST_REQUIRE(reply.error.has_value());
  BOOST_TEST(reply.error->kind == failure_kind::server);
  BOOST_TEST(reply.error->message ==
             "The server had an error while processing your request. "
             "Sorry about that!");
  BOOST_TEST(!reply.terminal);
}

BOOST_AUTO_TEST_CASE(recorded_truncated_stream_never_reaches_terminal) {
  auto reply = stream_through(read_fixture("stream_truncated.sse"), 50);
  BOOST_TEST(reply.text == "Once upon a time");
  BOOST_TEST(!reply.terminal);
  BOOST_TEST(reply.finish_reason.empty());
  BOOST_TEST(!reply.tokens.has_value());
  BOOST_TEST(!reply.error.has_value());
}

BOOST_AUTO_TEST_CASE(stream_cut_mid_event_ends_in_a_protocol_error) {
  auto bytes = read_fixture("stream_truncated.sse");
  bytes.resize(bytes.size() - 40); // the connection dropped mid-chunk
  auto reply = stream_through(bytes, 50);
  BOOST_TEST(reply.text == "Once upon a");
  BOOST_REQUIRE(reply.error.has_value());
  BOOST_TEST(reply.error->kind == failure_kind::protocol);
  BOOST_TEST(!reply.terminal);
}

// --- refusals and replies without text ------------------------------------

const std::string refusal_text =
    "I'm very sorry, but I can't assist with that.";

BOOST_AUTO_TEST_CASE(whole_refusal_is_refused_in_the_models_words) {
  auto error = as_failure(openai().decode_body(read_fixture("refusal.json")));
  BOOST_TEST(error.kind == failure_kind::refused);
  BOOST_TEST(error.message == refusal_text);
  BOOST_TEST(error.partial_text == "");
  BOOST_TEST(error.usage.input_tokens == 81);
  BOOST_TEST(error.usage.output_tokens == 11);
}

BOOST_AUTO_TEST_CASE(streamed_refusal_is_refused_in_the_models_words) {
  auto bytes = read_fixture("refusal_stream.sse");
  for (std::size_t chunk : {bytes.size(), std::size_t{1}, std::size_t{5}}) {
    BOOST_TEST_CONTEXT("chunks of " << chunk << " bytes") {
      auto reply = stream_through(bytes, chunk);
      BOOST_TEST(reply.text == "");
      BOOST_TEST(reply.parts.refusal == refusal_text);
      auto error = as_failure(reply.outcome);
      BOOST_TEST(error.kind == failure_kind::refused);
      BOOST_TEST(error.message == refusal_text);
      BOOST_TEST(error.usage.output_tokens == 11);
    }
  }
}

BOOST_AUTO_TEST_CASE(refusal_delta_is_no_text) {
  auto update = openai().decode_event(
      data_event(R"({"choices":[{"index":0,"delta":{"refusal":" sorry"},)"
                 R"("finish_reason":null}]})"));
  BOOST_TEST(update.text == "");
  BOOST_TEST(update.refusal == " sorry");
}

BOOST_AUTO_TEST_CASE(a_null_refusal_is_no_refusal) {
  auto reply =
      as_completion(openai().decode_body(read_fixture("completion.json")));
  BOOST_TEST(!reply.text.empty());
  auto update = openai().decode_event(data_event(
      R"({"choices":[{"index":0,"delta":{"content":"","refusal":null},)"
      R"("finish_reason":null}]})"));
  BOOST_TEST(update.refusal == "");
}

// --- classify_error -------------------------------------------------------

namespace {

failure classify(int status, const std::string& fixture) {
  return openai().classify_error(status, read_fixture(fixture), {});
}

} // namespace

BOOST_AUTO_TEST_CASE(context_length_400_is_context_length) {
  auto error = classify(400, "error_400_context_length.json");
  BOOST_TEST(error.kind == failure_kind::context_length);
  BOOST_TEST(error.http_status == 400);
  BOOST_TEST(error.message.rfind("This model's maximum context length is "
                                 "128000 tokens.",
                                 0) == 0u);
}

BOOST_AUTO_TEST_CASE(maximum_context_length_message_without_code_counts) {
  auto error = openai().classify_error(
      400,
      R"({"error":{"message":"This model's maximum context length is )"
      R"(8192 tokens, however you requested 9000 tokens."}})",
      {});
  BOOST_TEST(error.kind == failure_kind::context_length);
}

BOOST_AUTO_TEST_CASE(unauthorized_401_and_forbidden_403_are_auth) {
  auto error = classify(401, "error_401.json");
  BOOST_TEST(error.kind == failure_kind::auth);
  BOOST_TEST(error.http_status == 401);
  BOOST_TEST(error.message.rfind("Incorrect API key provided", 0) == 0u);
  BOOST_TEST(openai()
                 .classify_error(403,
                                 R"({"error":{"message":"Country, )"
                                 R"(region, or territory not supported",)"
                                 R"("code":"unsupported_country_region_)"
                                 R"(territory"}})",
                                 {})
                 .kind == failure_kind::auth);
}

BOOST_AUTO_TEST_CASE(rate_limit_429_is_rate_limited) {
  auto error = classify(429, "error_429_rate_limit.json");
  BOOST_TEST(error.kind == failure_kind::rate_limited);
  BOOST_TEST(error.http_status == 429);
  BOOST_TEST(error.message.rfind("Rate limit reached for gpt-4o-mini", 0) ==
             0u);
}

BOOST_AUTO_TEST_CASE(insufficient_quota_429_is_rate_limited_naming_quota) {
  auto error = classify(429, "error_429_insufficient_quota.json");
  BOOST_TEST(error.kind == failure_kind::rate_limited);
  BOOST_TEST(error.message.find("quota") != std::string::npos);

  auto terse = openai().classify_error(
      429,
      R"({"error":{"message":"Billing hard limit reached.",)"
      R"("code":"insufficient_quota"}})",
      {});
  BOOST_TEST(terse.kind == failure_kind::rate_limited);
  BOOST_TEST(terse.message.find("quota") != std::string::npos);
  BOOST_TEST(terse.message.find("Billing hard limit reached.") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(internal_error_500_is_server) {
  auto error = classify(500, "error_500.json");
  BOOST_TEST(error.kind == failure_kind::server);
  BOOST_TEST(error.http_status == 500);
  BOOST_TEST(error.message ==
             "The server had an error while processing your request. "
             "Sorry about that!");
}

BOOST_AUTO_TEST_CASE(overloaded_503_and_529_are_overloaded) {
  auto error = classify(503, "error_503.json");
  BOOST_TEST(error.kind == failure_kind::overloaded);
  BOOST_TEST(error.http_status == 503);
  BOOST_TEST(error.message ==
             "The engine is currently overloaded, please try again later.");
  BOOST_TEST(openai().classify_error(529, "", {}).kind ==
             failure_kind::overloaded);
}

BOOST_AUTO_TEST_CASE(html_502_is_server_quoting_the_start_of_the_body) {
  auto body = read_fixture("error_502_html.html");
  BOOST_REQUIRE(body.size() > 300u);
  auto error = openai().classify_error(502, body, {});
  BOOST_TEST(error.kind == failure_kind::server);
  BOOST_TEST(error.http_status == 502);
  BOOST_TEST(error.message.rfind("<html>", 0) == 0u);
  BOOST_TEST(error.message.find("502 Bad Gateway") != std::string::npos);
  BOOST_TEST(error.message.size() <= 203u);
}

BOOST_AUTO_TEST_CASE(empty_body_message_is_the_http_status) {
  auto error = openai().classify_error(500, "", {});
  BOOST_TEST(error.kind == failure_kind::server);
  BOOST_TEST(error.message == "HTTP 500");
  BOOST_TEST(openai().classify_error(504, " \r\n", {}).message == "HTTP 504");
}

BOOST_AUTO_TEST_CASE(client_errors_are_bad_request_unless_code_says_more) {
  for (int status : {400, 404, 409, 422}) {
    BOOST_TEST_CONTEXT(status) {
      auto error = openai().classify_error(
          status,
          R"({"error":{"message":"The model `gpt-9` does not exist or you do )"
          R"(not have access to it.","type":"invalid_request_error",)"
          R"("param":null,"code":"model_not_found"}})",
          {});
      BOOST_TEST(error.kind == failure_kind::bad_request);
      BOOST_TEST(error.http_status == status);
      BOOST_TEST(error.message.rfind("The model `gpt-9` does not exist", 0) ==
                 0u);
    }
  }
  for (auto* code : {"content_filter", "content_policy_violation"}) {
    auto body = std::string{R"({"error":{"message":"Your request was )"
                            R"(rejected by the safety system.","code":")"} +
                code + "\"}}";
    BOOST_TEST(openai().classify_error(400, body, {}).kind ==
               failure_kind::content_filter);
  }
}

BOOST_AUTO_TEST_CASE(request_timeout_408_is_timeout_total) {
  BOOST_TEST(openai().classify_error(408, "", {}).kind ==
             failure_kind::timeout_total);
}

BOOST_AUTO_TEST_CASE(other_statuses_are_protocol) {
  for (int status : {200, 301, 302, 402, 418}) {
    BOOST_TEST_CONTEXT(status) {
      auto error = openai().classify_error(status, "", {});
      BOOST_TEST(error.kind == failure_kind::protocol);
      BOOST_TEST(error.http_status == status);
    }
  }
}

BOOST_AUTO_TEST_CASE(classify_error_never_echoes_headers) {
  header_list headers = {{"Authorization", "Bearer sk-secret-should-not-leak"},
                         {"retry-after", "7"},
                         {"x-request-id", "req_abc123"}};
  auto error = openai().classify_error(429, "", headers);
  BOOST_TEST(error.message.find("sk-secret") == std::string::npos);
  BOOST_TEST(error.message.find("req_abc123") == std::string::npos);
  BOOST_TEST(error.message == "HTTP 429");
}

BOOST_AUTO_TEST_CASE(bare_string_error_message_is_used) {
  auto error = openai().classify_error(500, R"({"error":"model crashed"})", {});
  BOOST_TEST(error.kind == failure_kind::server);
  BOOST_TEST(error.message == "model crashed");
}

// --- custom headers, cached tokens ----------------------------------------

BOOST_AUTO_TEST_CASE(openai_streams_are_complete_only_with_done) {
  BOOST_TEST(!openai().accepts_unterminated_stream());
}

BOOST_AUTO_TEST_CASE(encode_appends_custom_headers_after_its_own) {
  auto provider = settings();
  provider.extra_headers = {{"OpenAI-Organization", "org-abc"},
                            {"OpenAI-Project", "proj_123"}};
  auto req = openai().encode(question(), provider);
  BOOST_REQUIRE(req.headers.size() == 4u);
  BOOST_TEST(req.headers[0].first == "Content-Type");
  BOOST_TEST(req.headers[1].first == "Authorization");
  BOOST_TEST(req.headers[2].first == "OpenAI-Organization");
  BOOST_TEST(req.headers[2].second == "org-abc");
  BOOST_TEST(req.headers[3].first == "OpenAI-Project");
  BOOST_TEST(req.headers[3].second == "proj_123");
}

BOOST_AUTO_TEST_CASE(custom_header_replaces_one_of_the_same_name) {
  auto provider = settings();
  provider.extra_headers = {{"authorization", "Basic dXNlcjpwYXNz"}};
  auto req = openai().encode(question(), provider);
  int authorizations = 0;
  for (const auto& [name, value] : req.headers) {
    authorizations += name == "Authorization" || name == "authorization";
  }
  BOOST_TEST(authorizations == 1);
  BOOST_TEST(header(req, "Authorization") == "Basic dXNlcjpwYXNz");
  BOOST_TEST(header(req, "content-type") == "application/json");
}

BOOST_AUTO_TEST_CASE(decode_body_reads_cached_input_tokens) {
  auto reply = as_completion(openai().decode_body(
      R"({"choices":[{"message":{"content":"hi"},"finish_reason":"stop"}],
          "usage":{"prompt_tokens":2006,"completion_tokens":300,
          "total_tokens":2306,"prompt_tokens_details":{"cached_tokens":1920,
          "audio_tokens":0}}})"));
  BOOST_TEST(reply.usage.input_tokens == 2006);
  BOOST_TEST(reply.usage.output_tokens == 300);
  BOOST_TEST(reply.usage.cached_input_tokens == 1920);
}

BOOST_AUTO_TEST_CASE(cached_input_tokens_are_zero_when_not_reported) {
  auto reply =
      as_completion(openai().decode_body(read_fixture("completion.json")));
  BOOST_TEST(reply.usage.cached_input_tokens == 0);
  auto terse = as_completion(openai().decode_body(
      R"({"choices":[{"message":{"content":"hi"},"finish_reason":"stop"}],
          "usage":{"prompt_tokens":5,"completion_tokens":1}})"));
  BOOST_TEST(terse.usage.cached_input_tokens == 0);
}

BOOST_AUTO_TEST_CASE(usage_chunk_gives_cached_input_tokens) {
  auto update = openai().decode_event(data_event(
      R"({"choices":[],"usage":{"prompt_tokens":2006,"completion_tokens":300,)"
      R"("total_tokens":2306,"prompt_tokens_details":{"cached_tokens":1920}}})"));
  BOOST_REQUIRE(update.usage.has_value());
  BOOST_TEST(reported(update.usage->input_tokens) == 2006);
  BOOST_TEST(reported(update.usage->cached_input_tokens) == 1920);
}

BOOST_AUTO_TEST_CASE(payload_too_large_413_is_bad_request) {
  auto error = openai().classify_error(
      413, R"({"error":{"message":"Request too large"}})", {});
  BOOST_TEST(error.kind == failure_kind::bad_request);
  BOOST_TEST(error.http_status == 413);
}

BOOST_AUTO_TEST_CASE(encode_ignores_api_version) {
  auto provider = settings();
  provider.options["api_version"] = "2024-10-21";
  BOOST_TEST(openai().encode(question(), provider).url ==
             "https://api.openai.com/v1/chat/completions");
}
