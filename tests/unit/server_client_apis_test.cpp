// The Responses and Messages client APIs from strings: what an OpenAI
// Responses client or an Anthropic client sends becomes the right turns
// and parameters (or a 400 naming the field), and answers come back in
// each API's exact shape, whole and as its stream of events.

#include <boost/test/unit_test.hpp>

#include <string>
#include <variant>
#include <vector>

#include <rapidjson/document.h>

#include "server/client_api.hpp"
#include "tutti/config.hpp"

using namespace tutti;
using namespace tutti::http;

namespace {

const config& cfg() {
  static config c = parse_config(R"(
providers:
  alpha: {kind: openai, model: m-alpha, base_url: "http://127.0.0.1:1/v1"}
  bravo: {kind: openai, model: m-bravo, base_url: "http://127.0.0.1:1/v1"}
ensembles:
  duo: {members: [alpha, bravo], combine: first}
)",
                                 "apis.yaml");
  return c;
}

chat_call call_of(const client_api& api, const std::string& body) {
  auto parsed = api.parse(body, cfg());
  if (auto* e = std::get_if<api_error>(&parsed))
    BOOST_FAIL("rejected: " << e->message);
  return std::get<chat_call>(parsed);
}

api_error error_of(const client_api& api, const std::string& body) {
  auto parsed = api.parse(body, cfg());
  BOOST_REQUIRE_MESSAGE(std::holds_alternative<api_error>(parsed),
                        "accepted: " << body);
  return std::get<api_error>(parsed);
}

rapidjson::Document parse(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  BOOST_REQUIRE_MESSAGE(!doc.HasParseError(), "not JSON: " << json);
  return doc;
}

ensemble_answer answer_with(std::string text, std::vector<tool_call> calls = {},
                            std::string finish = "stop") {
  ensemble_answer a;
  a.ensemble = "alpha";
  a.status = answer_status::ok;
  a.text = std::move(text);
  a.combine = "first";
  member_outcome m;
  m.member = "alpha";
  m.provider = "alpha";
  m.ok = true;
  m.reply.text = a.text;
  m.reply.finish_reason = std::move(finish);
  m.reply.tool_calls = calls;
  a.members.push_back(m);
  a.winner = "alpha";
  a.usage = {20, 7, 5};
  a.tool_calls = std::move(calls);
  return a;
}

struct sse_event {
  std::string name;
  rapidjson::Document data;
};

/// The `event:` / `data:` pairs of a stream's bytes.
std::vector<sse_event> events_of(const std::string& bytes) {
  std::vector<sse_event> events;
  size_t at = 0;
  while (at < bytes.size()) {
    auto end = bytes.find("\n\n", at);
    BOOST_REQUIRE(end != std::string::npos);
    auto block = bytes.substr(at, end - at);
    at = end + 2;
    BOOST_REQUIRE_EQUAL(block.rfind("event: ", 0), 0u);
    auto nl = block.find('\n');
    sse_event e;
    e.name = block.substr(7, nl - 7);
    auto data = block.substr(nl + 1);
    BOOST_REQUIRE_EQUAL(data.rfind("data: ", 0), 0u);
    e.data.Parse(data.c_str() + 6);
    BOOST_REQUIRE_MESSAGE(!e.data.HasParseError(), "not JSON: " << data);
    BOOST_CHECK_EQUAL(e.data["type"].GetString(), e.name);
    events.push_back(std::move(e));
  }
  return events;
}

std::vector<std::string> names_of(const std::vector<sse_event>& events) {
  std::vector<std::string> names;
  for (auto& e : events)
    names.push_back(e.name);
  return names;
}

completion_ids ids_of(const char* id) {
  return completion_ids{id, 1700000000, "alpha"};
}

} // namespace

BOOST_AUTO_TEST_SUITE(responses_requests)

BOOST_AUTO_TEST_CASE(
    a_string_input_with_instructions_is_a_system_and_a_user_turn) {
  auto call = call_of(responses_api(), R"({"model": "alpha", "input": "Hi",
      "instructions": "Be brief", "max_output_tokens": 64,
      "reasoning": {"effort": "low", "summary": "auto"}})");
  BOOST_REQUIRE_EQUAL(call.messages.size(), 2u);
  BOOST_CHECK_EQUAL(call.messages[0].role, "system");
  BOOST_CHECK_EQUAL(call.messages[0].content, "Be brief");
  BOOST_CHECK_EQUAL(call.messages[1].role, "user");
  BOOST_CHECK_EQUAL(call.messages[1].content, "Hi");
  BOOST_CHECK_EQUAL(*call.params.max_tokens, 64);
  BOOST_CHECK_EQUAL(call.params.reasoning_effort, "low");
  BOOST_CHECK(call.to.of == target::kind::provider);
}

BOOST_AUTO_TEST_CASE(
    function_calls_join_the_assistant_turn_and_outputs_are_tool_turns) {
  auto call = call_of(responses_api(), R"({"model": "ensemble/duo", "input": [
      {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
      {"type": "reasoning", "id": "rs_1", "summary": []},
      {"type": "message", "role": "assistant",
       "content": [{"type": "output_text", "text": "Let me look."}]},
      {"type": "function_call", "call_id": "c1", "name": "get_weather",
       "arguments": "{\"city\":\"Paris\"}"},
      {"type": "function_call", "call_id": "c2", "name": "get_time"},
      {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
      {"type": "function_call_output", "call_id": "c2",
       "output": [{"type": "input_text", "text": "noon"}]}]})");
  BOOST_REQUIRE_EQUAL(call.messages.size(), 4u);
  auto& assistant = call.messages[1];
  BOOST_CHECK_EQUAL(assistant.content, "Let me look.");
  BOOST_REQUIRE_EQUAL(assistant.tool_calls.size(), 2u);
  BOOST_CHECK_EQUAL(assistant.tool_calls[0].id, "c1");
  BOOST_CHECK_EQUAL(assistant.tool_calls[0].arguments, R"({"city":"Paris"})");
  BOOST_CHECK_EQUAL(assistant.tool_calls[1].arguments, "{}");
  BOOST_CHECK_EQUAL(call.messages[2].role, "tool");
  BOOST_CHECK_EQUAL(call.messages[2].tool_call_id, "c1");
  BOOST_CHECK_EQUAL(call.messages[2].content, "sunny");
  BOOST_CHECK_EQUAL(call.messages[3].content, "noon");
  BOOST_CHECK(call.to.of == target::kind::ensemble);
}

BOOST_AUTO_TEST_CASE(flat_function_tools_choice_and_text_format_are_read) {
  auto call = call_of(responses_api(), R"({"model": "alpha", "input": "x",
      "tools": [{"type": "function", "name": "f", "description": "d",
                 "parameters": {"type": "object"}, "strict": true}],
      "tool_choice": {"type": "function", "name": "f"},
      "parallel_tool_calls": false,
      "text": {"format": {"type": "json_schema", "name": "out",
               "schema": {"type": "object"}, "strict": true}}})");
  BOOST_REQUIRE_EQUAL(call.params.tools.size(), 1u);
  BOOST_CHECK_EQUAL(call.params.tools[0].parameters, R"({"type":"object"})");
  BOOST_CHECK(call.params.tools[0].strict);
  BOOST_CHECK_EQUAL(call.params.tool_choice.mode, "function");
  BOOST_CHECK_EQUAL(call.params.tool_choice.name, "f");
  BOOST_CHECK(!*call.params.parallel_tool_calls);
  BOOST_CHECK_EQUAL(call.params.response_format.type, "json_schema");
  BOOST_CHECK_EQUAL(call.params.response_format.name, "out");
}

BOOST_AUTO_TEST_CASE(what_cannot_be_honoured_is_a_400_naming_the_field) {
  struct row {
    const char* body;
    const char* param;
  } rows[] = {
      {R"({"model": "alpha", "input": "x", "previous_response_id": "resp_1"})",
       "previous_response_id"},
      {R"({"model": "alpha", "input": "x", "tools": [{"type": "web_search"}]})",
       "tools[0].type"},
      {R"({"model": "alpha", "input": [{"role": "user", "content":
          [{"type": "input_image", "file_id": "file_1"}]}]})",
       "input[0].content[0].file_id"},
      {R"({"model": "alpha", "input": [{"role": "user", "content":
          [{"type": "input_image", "image_url": "ftp://x/y.png"}]}]})",
       "input[0].content[0].image_url"},
      {R"({"model": "alpha", "input": [{"role": "assistant", "content":
          [{"type": "input_image", "image_url": "https://x/y.png"}]}]})",
       "input[0].content[0].type"},
      {R"({"model": "alpha", "input": "x", "max_output_tokens": 0})",
       "max_output_tokens"},
      {R"({"model": "alpha", "input": []})", "input"},
      {R"({"model": "alpha"})", "input"},
      {R"({"model": "alpha", "input": "x", "tool_choice": {"type":
          "function", "name": "g"}, "tools": [{"type": "function",
          "name": "f"}]})",
       "tool_choice.name"},
      {R"({"model": "alpha", "input": [{"type": "function_call",
          "name": "f"}]})",
       "input[0].call_id"},
      {R"({"model": "alpha", "input": "x", "text": {"format": {"type":
          "json_schema", "name": "o"}}})",
       "text.format.schema"},
      {R"({"model": "alpha", "input": [{"type": "item_reference",
          "id": "x"}]})",
       "input[0].type"},
  };
  for (auto& r : rows) {
    auto e = error_of(responses_api(), r.body);
    BOOST_CHECK_EQUAL(e.status, 400);
    BOOST_CHECK_MESSAGE(e.param == r.param, r.body << ": param " << e.param
                                                   << ", want " << r.param
                                                   << " (" << e.message << ")");
  }
  BOOST_CHECK_EQUAL(error_of(responses_api(), R"({"model": "nope",
      "input": "x"})")
                        .status,
                    404);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(responses_replies)

BOOST_AUTO_TEST_CASE(a_whole_response_has_the_message_and_each_function_call) {
  auto call = call_of(responses_api(),
                      R"({"model": "alpha", "input": "x", "instructions": "i",
                          "temperature": 0.5})");
  auto doc = parse(responses_api().reply_json(
      ids_of("resp_abc"), call,
      answer_with("Checking.",
                  {{"call_1", "get_weather", R"({"city":"Paris"})"}},
                  "tool_calls")));
  BOOST_CHECK_EQUAL(doc["object"].GetString(), std::string{"response"});
  BOOST_CHECK_EQUAL(doc["status"].GetString(), std::string{"completed"});
  BOOST_CHECK_EQUAL(doc["instructions"].GetString(), std::string{"i"});
  BOOST_CHECK_EQUAL(doc["temperature"].GetDouble(), 0.5);
  auto& output = doc["output"];
  BOOST_REQUIRE_EQUAL(output.Size(), 2u);
  BOOST_CHECK_EQUAL(output[0]["type"].GetString(), std::string{"message"});
  BOOST_CHECK_EQUAL(output[0]["id"].GetString(), std::string{"msg_abc"});
  BOOST_CHECK_EQUAL(output[0]["content"][0]["text"].GetString(),
                    std::string{"Checking."});
  BOOST_CHECK_EQUAL(output[1]["type"].GetString(),
                    std::string{"function_call"});
  BOOST_CHECK_EQUAL(output[1]["call_id"].GetString(), std::string{"call_1"});
  BOOST_CHECK_EQUAL(output[1]["arguments"].GetString(),
                    std::string{R"({"city":"Paris"})"});
  BOOST_CHECK_EQUAL(doc["usage"]["input_tokens"].GetInt(), 20);
  BOOST_CHECK_EQUAL(
      doc["usage"]["input_tokens_details"]["cached_tokens"].GetInt(), 5);
  BOOST_CHECK_EQUAL(doc["usage"]["total_tokens"].GetInt(), 27);
  BOOST_CHECK(doc["ensemble"].IsObject());
}

BOOST_AUTO_TEST_CASE(a_reply_cut_at_its_token_limit_is_incomplete) {
  auto call = call_of(responses_api(), R"({"model": "alpha", "input": "x"})");
  auto doc = parse(responses_api().reply_json(
      ids_of("resp_x"), call, answer_with("Half", {}, "length")));
  BOOST_CHECK_EQUAL(doc["status"].GetString(), std::string{"incomplete"});
  BOOST_CHECK_EQUAL(doc["incomplete_details"]["reason"].GetString(),
                    std::string{"max_output_tokens"});
}

BOOST_AUTO_TEST_CASE(a_stream_numbers_its_events_in_order_and_ends_completed) {
  auto call = call_of(responses_api(),
                      R"({"model": "alpha", "input": "x", "stream": true})");
  auto out = responses_api().stream(ids_of("resp_s"), call);
  std::string bytes = out->open();
  bytes += out->text("Par");
  bytes += out->member_delta({"alpha", "Par", false});
  bytes += out->text("is");
  bytes += out->finish(answer_with("Paris!", {{"c9", "f", "{}"}}, "tool_calls"),
                       "!");
  auto events = events_of(bytes);
  std::vector<std::string> want = {"response.created",
                                   "response.in_progress",
                                   "response.output_item.added",
                                   "response.content_part.added",
                                   "response.output_text.delta",
                                   "tutti.member.delta",
                                   "response.output_text.delta",
                                   "response.output_text.delta",
                                   "response.output_text.done",
                                   "response.content_part.done",
                                   "response.output_item.done",
                                   "response.output_item.added",
                                   "response.function_call_arguments.delta",
                                   "response.function_call_arguments.done",
                                   "response.output_item.done",
                                   "response.completed"};
  auto names = names_of(events);
  BOOST_CHECK_EQUAL_COLLECTIONS(names.begin(), names.end(), want.begin(),
                                want.end());
  for (size_t i = 0; i < events.size(); ++i)
    BOOST_CHECK_EQUAL(events[i].data["sequence_number"].GetInt64(),
                      static_cast<int64_t>(i));
  BOOST_CHECK_EQUAL(events[8].data["text"].GetString(), std::string{"Paris!"});
  BOOST_CHECK_EQUAL(events[11].data["output_index"].GetInt(), 1);
  auto& done = events.back().data["response"];
  BOOST_CHECK_EQUAL(done["status"].GetString(), std::string{"completed"});
  BOOST_CHECK_EQUAL(done["output"].Size(), 2u);
}

BOOST_AUTO_TEST_CASE(a_stream_that_fails_ends_with_response_failed) {
  auto call = call_of(responses_api(), R"({"model": "alpha", "input": "x"})");
  auto out = responses_api().stream(ids_of("resp_f"), call);
  std::string bytes = out->open();
  ensemble_answer failed;
  failed.status = answer_status::failed;
  bytes += out->fail(
      api_error{502, "no answer", "upstream_error", "", "ensemble_failed"},
      failed);
  auto events = events_of(bytes);
  BOOST_REQUIRE_EQUAL(events.size(), 3u);
  BOOST_CHECK_EQUAL(events[2].name, "response.failed");
  auto& r = events[2].data["response"];
  BOOST_CHECK_EQUAL(r["status"].GetString(), std::string{"failed"});
  BOOST_CHECK_EQUAL(r["error"]["code"].GetString(),
                    std::string{"ensemble_failed"});
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(messages_requests)

BOOST_AUTO_TEST_CASE(system_tool_use_and_tool_results_map_to_turns) {
  auto call = call_of(messages_api(), R"({"model": "alpha", "max_tokens": 100,
      "system": [{"type": "text", "text": "Be brief"}],
      "stop_sequences": ["END"], "temperature": 0.2,
      "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [
          {"type": "thinking", "thinking": "hm", "signature": "s"},
          {"type": "text", "text": "Looking."},
          {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
           "input": {"city": "Paris"}}]},
        {"role": "user", "content": [
          {"type": "tool_result", "tool_use_id": "toolu_1",
           "content": [{"type": "text", "text": "sunny"}]},
          {"type": "text", "text": "And tomorrow?"}]}]})");
  BOOST_REQUIRE_EQUAL(call.messages.size(), 5u);
  BOOST_CHECK_EQUAL(call.messages[0].role, "system");
  BOOST_CHECK_EQUAL(call.messages[0].content, "Be brief");
  auto& assistant = call.messages[2];
  BOOST_CHECK_EQUAL(assistant.content, "Looking.");
  BOOST_REQUIRE_EQUAL(assistant.tool_calls.size(), 1u);
  BOOST_CHECK_EQUAL(assistant.tool_calls[0].arguments, R"({"city":"Paris"})");
  BOOST_CHECK_EQUAL(call.messages[3].role, "tool");
  BOOST_CHECK_EQUAL(call.messages[3].tool_call_id, "toolu_1");
  BOOST_CHECK_EQUAL(call.messages[3].content, "sunny");
  BOOST_CHECK_EQUAL(call.messages[4].role, "user");
  BOOST_CHECK_EQUAL(call.messages[4].content, "And tomorrow?");
  BOOST_CHECK_EQUAL(*call.params.max_tokens, 100);
  BOOST_REQUIRE_EQUAL(call.params.stop.size(), 1u);
}

BOOST_AUTO_TEST_CASE(tools_and_tool_choice_map_to_openai_terms) {
  auto call = call_of(messages_api(), R"({"model": "alpha", "max_tokens": 5,
      "messages": [{"role": "user", "content": "x"}],
      "tools": [{"name": "f", "description": "d",
                 "input_schema": {"type": "object"}}],
      "tool_choice": {"type": "any", "disable_parallel_tool_use": true}})");
  BOOST_CHECK_EQUAL(call.params.tool_choice.mode, "required");
  BOOST_CHECK(!*call.params.parallel_tool_calls);
  auto named = call_of(messages_api(), R"({"model": "alpha", "max_tokens": 5,
      "messages": [{"role": "user", "content": "x"}],
      "tools": [{"name": "f", "input_schema": {"type": "object"}}],
      "tool_choice": {"type": "tool", "name": "f"}})");
  BOOST_CHECK_EQUAL(named.params.tool_choice.mode, "function");
  BOOST_CHECK_EQUAL(named.params.tool_choice.name, "f");
}

BOOST_AUTO_TEST_CASE(what_cannot_be_honoured_is_a_400_naming_the_field) {
  struct row {
    const char* body;
    const char* param;
  } rows[] = {
      {R"({"model": "alpha", "messages": [{"role": "user", "content": "x"}]})",
       "max_tokens"},
      {R"({"model": "alpha", "max_tokens": 5, "top_k": 5,
          "messages": [{"role": "user", "content": "x"}]})",
       "top_k"},
      {R"({"model": "alpha", "max_tokens": 5, "temperature": 1.5,
          "messages": [{"role": "user", "content": "x"}]})",
       "temperature"},
      {R"({"model": "alpha", "max_tokens": 5,
          "messages": [{"role": "system", "content": "x"}]})",
       "messages[0].role"},
      {R"({"model": "alpha", "max_tokens": 5, "messages": [{"role": "user",
          "content": [{"type": "image", "source": {}}]}]})",
       "messages[0].content[0].source.type"},
      {R"({"model": "alpha", "max_tokens": 5, "messages": [{"role": "user",
          "content": [{"type": "image", "source": {"type": "file",
          "file_id": "f"}}]}]})",
       "messages[0].content[0].source.type"},
      {R"({"model": "alpha", "max_tokens": 5, "messages": [{"role": "user",
          "content": [{"type": "image", "source": {"type": "base64",
          "media_type": "image/tiff", "data": "AAAA"}}]}]})",
       "messages[0].content[0].source"},
      {R"({"model": "alpha", "max_tokens": 5, "messages": [{"role": "user",
          "content": [{"type": "image", "source": {"type": "base64",
          "media_type": "image/png", "data": "AA=A"}}]}]})",
       "messages[0].content[0].source"},
      {R"({"model": "alpha", "max_tokens": 5, "messages": [{"role":
          "assistant", "content": [{"type": "image", "source": {"type":
          "url", "url": "https://x/y.png"}}]}]})",
       "messages[0].content[0].type"},
      {R"({"model": "alpha", "max_tokens": 5, "messages": [{"role": "user",
          "content": [{"type": "tool_use", "id": "t", "name": "f",
          "input": {}}]}]})",
       "messages[0].content[0].type"},
      {R"({"model": "alpha", "max_tokens": 5,
          "messages": [{"role": "user", "content": "x"}],
          "tools": [{"type": "web_search_20250305", "name": "web"}]})",
       "tools[0].type"},
      {R"({"model": "alpha", "max_tokens": 5,
          "messages": [{"role": "user", "content": "x"}],
          "tools": [{"name": "f"}]})",
       "tools[0].input_schema"},
      {R"({"model": "alpha", "max_tokens": 5,
          "messages": [{"role": "user", "content": "x"}],
          "thinking": {"type": "enabled", "budget_tokens": 1024}})",
       "thinking"},
  };
  for (auto& r : rows) {
    auto e = error_of(messages_api(), r.body);
    BOOST_CHECK_EQUAL(e.status, 400);
    BOOST_CHECK_MESSAGE(e.param == r.param, r.body << ": param " << e.param
                                                   << ", want " << r.param
                                                   << " (" << e.message << ")");
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(messages_replies)

BOOST_AUTO_TEST_CASE(a_whole_message_has_text_tool_use_and_anthropic_usage) {
  auto call = call_of(messages_api(), R"({"model": "alpha", "max_tokens": 5,
      "messages": [{"role": "user", "content": "x"}]})");
  auto doc = parse(messages_api().reply_json(
      ids_of("msg_m"), call,
      answer_with("Looking.",
                  {{"call_1", "f", R"({"a": 1})"}, {"", "g", "not json"}},
                  "tool_calls")));
  BOOST_CHECK_EQUAL(doc["type"].GetString(), std::string{"message"});
  BOOST_CHECK_EQUAL(doc["stop_reason"].GetString(), std::string{"tool_use"});
  auto& content = doc["content"];
  BOOST_REQUIRE_EQUAL(content.Size(), 3u);
  BOOST_CHECK_EQUAL(content[0]["text"].GetString(), std::string{"Looking."});
  BOOST_CHECK_EQUAL(content[1]["id"].GetString(), std::string{"call_1"});
  BOOST_CHECK_EQUAL(content[1]["input"]["a"].GetInt(), 1);
  // A call without an id gets one; arguments that are no object are {}.
  BOOST_CHECK_EQUAL(content[2]["id"].GetString(), std::string{"toolu_m_1"});
  BOOST_CHECK(content[2]["input"].IsObject());
  BOOST_CHECK_EQUAL(content[2]["input"].MemberCount(), 0u);
  // Anthropic counts cached input apart.
  BOOST_CHECK_EQUAL(doc["usage"]["input_tokens"].GetInt(), 15);
  BOOST_CHECK_EQUAL(doc["usage"]["cache_read_input_tokens"].GetInt(), 5);
  BOOST_CHECK_EQUAL(doc["usage"]["output_tokens"].GetInt(), 7);
  auto cut = parse(messages_api().reply_json(ids_of("msg_c"), call,
                                             answer_with("Hal", {}, "length")));
  BOOST_CHECK_EQUAL(cut["stop_reason"].GetString(), std::string{"max_tokens"});
}

BOOST_AUTO_TEST_CASE(a_stream_has_indexed_blocks_and_ends_with_message_stop) {
  auto call = call_of(messages_api(), R"({"model": "alpha", "max_tokens": 5,
      "messages": [{"role": "user", "content": "x"}], "stream": true})");
  auto out = messages_api().stream(ids_of("msg_s"), call);
  std::string bytes = out->open();
  bytes += out->text("Look");
  bytes += out->finish(
      answer_with("Looking.", {{"t1", "f", R"({"a":[1,2]})"}}, "tool_calls"),
      "ing.");
  auto events = events_of(bytes);
  std::vector<std::string> want = {"message_start",       "ping",
                                   "content_block_start", "content_block_delta",
                                   "content_block_delta", "content_block_stop",
                                   "content_block_start", "content_block_delta",
                                   "content_block_stop",  "message_delta",
                                   "message_stop"};
  auto names = names_of(events);
  BOOST_CHECK_EQUAL_COLLECTIONS(names.begin(), names.end(), want.begin(),
                                want.end());
  BOOST_CHECK_EQUAL(events[6].data["index"].GetInt(), 1);
  BOOST_CHECK_EQUAL(events[6].data["content_block"]["type"].GetString(),
                    std::string{"tool_use"});
  auto partial = parse(events[7].data["delta"]["partial_json"].GetString());
  BOOST_CHECK_EQUAL(partial["a"][1].GetInt(), 2);
  BOOST_CHECK_EQUAL(events[9].data["delta"]["stop_reason"].GetString(),
                    std::string{"tool_use"});
}

BOOST_AUTO_TEST_CASE(errors_take_anthropic_shape_and_keep_the_ensemble) {
  auto doc = parse(anthropic_error_body(
      429, R"({"error": {"message": "slow down", "type": "rate_limit_error",
               "param": null, "code": "rate_limited"},
               "ensemble": {"status": "failed"}})"));
  BOOST_CHECK_EQUAL(doc["type"].GetString(), std::string{"error"});
  BOOST_CHECK_EQUAL(doc["error"]["type"].GetString(),
                    std::string{"rate_limit_error"});
  BOOST_CHECK_EQUAL(doc["error"]["message"].GetString(),
                    std::string{"slow down"});
  BOOST_CHECK_EQUAL(doc["ensemble"]["status"].GetString(),
                    std::string{"failed"});
  BOOST_CHECK_EQUAL(std::string{anthropic_error_type(401)},
                    "authentication_error");
  BOOST_CHECK_EQUAL(std::string{anthropic_error_type(529)}, "overloaded_error");
  BOOST_CHECK_EQUAL(std::string{anthropic_error_type(502)}, "api_error");
  // Not JSON at all still gives a body its SDK can read.
  auto odd = parse(anthropic_error_body(500, "<html>"));
  BOOST_CHECK_EQUAL(odd["error"]["type"].GetString(), std::string{"api_error"});
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(images)

// "iVBORw0KGgo=" is base64 of a PNG's first eight bytes.
const char* png = "iVBORw0KGgo=";

void check_text_then_image(const chat_message& m, const char* detail) {
  BOOST_CHECK_EQUAL(m.role, "user");
  BOOST_CHECK_EQUAL(m.content, "What is this?");
  BOOST_REQUIRE_EQUAL(m.parts.size(), 3u);
  BOOST_CHECK_EQUAL(m.images(), 2u);
  BOOST_CHECK_EQUAL(m.parts[0].text, "What is this?");
  BOOST_CHECK(!m.parts[0].is_image());
  BOOST_CHECK_EQUAL(m.parts[1].image.media_type, "image/png");
  BOOST_CHECK_EQUAL(m.parts[1].image.data, png);
  BOOST_CHECK(m.parts[1].image.inline_bytes());
  BOOST_CHECK_EQUAL(m.parts[1].image.detail, detail);
  BOOST_CHECK_EQUAL(m.parts[2].image.url, "https://example.com/cat.jpg");
  BOOST_CHECK(!m.parts[2].image.inline_bytes());
}

BOOST_AUTO_TEST_CASE(every_api_reads_text_and_images_in_order) {
  auto chat = parse_chat_request(
      R"({"model": "alpha", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url":
          "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
        {"type": "image_url", "image_url": {"url":
          "https://example.com/cat.jpg"}}]}]})",
      cfg());
  BOOST_REQUIRE(std::holds_alternative<chat_call>(chat));
  check_text_then_image(std::get<chat_call>(chat).messages.at(0), "low");

  auto responses = call_of(responses_api(), R"({"model": "alpha", "input": [
      {"role": "user", "content": [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "detail": "high", "image_url":
          "data:image/png;base64,iVBORw0KGgo="},
        {"type": "input_image", "image_url":
          "https://example.com/cat.jpg"}]}]})");
  check_text_then_image(responses.messages.at(0), "high");

  auto messages = call_of(messages_api(), R"({"model": "alpha",
      "max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "base64",
          "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url",
          "url": "https://example.com/cat.jpg"}}]}]})");
  check_text_then_image(messages.messages.at(0), "");

  // Text alone keeps no parts: nothing downstream changes for it.
  auto plain = call_of(messages_api(), R"({"model": "alpha",
      "max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]})");
  BOOST_CHECK_EQUAL(plain.messages.at(0).content, "a\nb");
  BOOST_CHECK(plain.messages.at(0).parts.empty());
}

BOOST_AUTO_TEST_CASE(bad_images_are_a_400_naming_the_part) {
  struct row {
    const char* url;
    const char* says;
  } rows[] = {
      {"data:image/png;base64,", "not valid base64"},
      {"data:image/png;base64,iVBORw0KGgo", "not valid base64"},
      {"data:image/png;base64,iVBO RW0KGgo=", "not valid base64"},
      {"data:image/svg+xml;base64,AAAA", "image/png, image/jpeg"},
      {"data:image/png,AAAA", "expected a data URL like"},
      {"data:", "expected a data URL like"},
      {"file:///etc/passwd", "expected an http(s) URL"},
      {"https://example.com/a b.png", "spaces or control"},
  };
  for (auto& r : rows) {
    auto body = std::string{R"({"model": "alpha", "messages": [{"role":
        "user", "content": [{"type": "image_url", "image_url": {"url": ")"} +
                r.url + R"("}}]}]})";
    auto parsed = parse_chat_request(body, cfg());
    BOOST_REQUIRE_MESSAGE(std::holds_alternative<api_error>(parsed), r.url);
    auto& e = std::get<api_error>(parsed);
    BOOST_CHECK_EQUAL(e.status, 400);
    BOOST_CHECK_EQUAL(e.param, "messages[0].content[0].image_url.url");
    BOOST_CHECK_MESSAGE(e.message.find(r.says) != std::string::npos,
                        r.url << ": " << e.message);
  }
  auto long_url = std::string(max_image_url_bytes, 'a');
  auto too_long = parse_chat_request(
      R"({"model": "alpha", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "https://)" +
          long_url + R"("}]}]})",
      cfg());
  BOOST_REQUIRE(std::holds_alternative<api_error>(too_long));
  BOOST_CHECK(std::get<api_error>(too_long).message.find("at most 8192") !=
              std::string::npos);
  // Only a user turn shows an image.
  auto system = parse_chat_request(
      R"({"model": "alpha", "messages": [{"role": "system", "content": [{"type": "image_url", "image_url": "https://x/y.png"}]}]})",
      cfg());
  BOOST_REQUIRE(std::holds_alternative<api_error>(system));
  BOOST_CHECK_EQUAL(std::get<api_error>(system).param,
                    "messages[0].content[0].type");
}

BOOST_AUTO_TEST_CASE(a_request_holds_a_bounded_number_of_images) {
  auto request = [](size_t images) {
    std::string parts;
    for (size_t i = 0; i < images; ++i)
      parts += std::string{i ? "," : ""} +
               R"({"type": "image_url", "image_url": "https://x/y.png"})";
    // Spread over two messages: the bound is the request's.
    return std::string{R"({"model": "alpha", "messages": [
        {"role": "user", "content": "look"}, {"role": "user", "content": [)"} +
           parts + "]}]}";
  };
  BOOST_CHECK(std::holds_alternative<chat_call>(
      parse_chat_request(request(max_images_per_request), cfg())));
  auto over = parse_chat_request(request(max_images_per_request + 1), cfg());
  BOOST_REQUIRE(std::holds_alternative<api_error>(over));
  BOOST_CHECK_EQUAL(std::get<api_error>(over).param, "messages");
}

BOOST_AUTO_TEST_SUITE_END()
