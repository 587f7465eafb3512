// The HTTP endpoint's request validation and OpenAI response shapes, from
// strings: what a client sends, what it gets back.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>
#include <variant>
#include <vector>

#include <rapidjson/document.h>

#include "server/guard.hpp"
#include "server/openai.hpp"
#include "server/run_registry.hpp"
#include "tutti/config.hpp"

using namespace tutti;
using namespace tutti::http;

namespace {

const char* config_yaml = R"(
providers:
  alpha: {kind: openai, model: m-alpha, base_url: "http://127.0.0.1:1/v1", api_key: sk-secret-alpha}
  bravo: {kind: openai, model: m-bravo, base_url: "http://127.0.0.1:1/v1"}
ensembles:
  duo: {members: [alpha, bravo], combine: collect, deadline: 5s}
pipelines:
  ask:
    inputs: [question]
    steps:
      first: {ensemble: duo, prompt: "{{input.question}}"}
    output: first
)";

const config& cfg() {
  static config c = parse_config(config_yaml, "server.yaml");
  return c;
}

api_error error_of(const std::string& body) {
  auto parsed = parse_chat_request(body, cfg());
  BOOST_REQUIRE_MESSAGE(std::holds_alternative<api_error>(parsed),
                        "accepted: " << body);
  return std::get<api_error>(parsed);
}

chat_call call_of(const std::string& body) {
  auto parsed = parse_chat_request(body, cfg());
  if (auto* e = std::get_if<api_error>(&parsed))
    BOOST_FAIL("rejected: " << e->message);
  return std::get<chat_call>(parsed);
}

rapidjson::Document parse(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  BOOST_REQUIRE_MESSAGE(!doc.HasParseError(), "not JSON: " << json);
  return doc;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

ensemble_answer sample_answer() {
  ensemble_answer a;
  a.ensemble = "duo";
  a.status = answer_status::partial;
  a.text = "Paris.";
  a.combine = "first";
  a.winner = "alpha";
  member_outcome ok;
  ok.member = "alpha";
  ok.provider = "alpha";
  ok.ok = true;
  ok.reply.text = "Paris.";
  ok.reply.finish_reason = "length";
  member_outcome bad;
  bad.member = "bravo";
  bad.provider = "bravo";
  bad.error.kind = failure_kind::server;
  bad.error.http_status = 500;
  a.members = {ok, bad};
  a.usage.input_tokens = 7;
  a.usage.output_tokens = 3;
  return a;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_provider_model_asks_the_provider_alone) {
  auto call = call_of(
      R"({"model":"alpha","messages":[{"role":"user","content":"hi"}]})");
  BOOST_TEST(call.to.name == "alpha");
  BOOST_TEST((call.to.of == target::kind::provider));
  BOOST_TEST(!call.stream);
}

BOOST_AUTO_TEST_CASE(an_ensemble_model_asks_the_ensemble) {
  auto call = call_of(
      R"({"model":"ensemble/duo","messages":[{"role":"user","content":"hi"}],
    "stream":true,"stream_options":{"include_usage":true}})");
  BOOST_TEST(call.to.name == "duo");
  BOOST_TEST((call.to.of == target::kind::ensemble));
  BOOST_TEST(call.stream);
  BOOST_TEST(call.include_usage);
}

BOOST_AUTO_TEST_CASE(sampling_fields_become_chat_params) {
  auto call =
      call_of(R"({"model":"alpha","messages":[{"role":"user","content":"hi"}],
    "temperature":0.5,"top_p":0.9,"max_tokens":10,"max_completion_tokens":20,
    "seed":7,"stop":["a","b"],"n":1,"user":"u-1","metadata":{"x":"y"}})");
  BOOST_TEST(*call.params.temperature == 0.5);
  BOOST_TEST(*call.params.top_p == 0.9);
  BOOST_TEST(*call.params.max_tokens == 20);
  BOOST_TEST(*call.params.seed == 7);
  BOOST_TEST(call.params.stop.size() == 2u);
  auto single = call_of(
      R"({"model":"alpha","messages":[{"role":"user","content":"x"}],"stop":"END"})");
  BOOST_TEST(single.params.stop.size() == 1u);
}

BOOST_AUTO_TEST_CASE(text_parts_are_joined_and_developer_is_a_system_turn) {
  auto call = call_of(R"({"model":"alpha","messages":[
    {"role":"developer","content":"be brief"},
    {"role":"user","content":[{"type":"text","text":"one"},{"type":"text","text":"two"}]}]})");
  BOOST_REQUIRE(call.messages.size() == 2u);
  BOOST_TEST(call.messages[0].role == "system");
  BOOST_TEST(call.messages[1].content == "one\ntwo");
}

// Regression: 300 KB of `[` overflowed the HTTP thread's stack and killed
// `tutti serve`; invalid UTF-8 was echoed raw into the error body.
BOOST_AUTO_TEST_CASE(hostile_bodies_get_a_400_not_a_crash) {
  auto deep = error_of(std::string(300'000, '['));
  BOOST_TEST(deep.status == 400);
  BOOST_TEST(deep.code == "invalid_json");
  BOOST_TEST(contains(deep.message, "nested deeper than 64 levels"));
  auto bad_utf8 = error_of(
      "{\"model\":\"alpha\",\"messages\":[{\"role\":\"user\",\"content\":"
      "\"\xC3\x28\"}]}");
  BOOST_TEST(bad_utf8.status == 400);
  BOOST_TEST(contains(bad_utf8.message, "Invalid encoding in string"));
  // Regression (found by json_reader_fuzz): an escaped lone surrogate put
  // bytes that are not UTF-8 in a message all the same.
  auto surrogate = error_of(
      R"({"model":"alpha","messages":[{"role":"user","content":"\udc00"}]})");
  BOOST_TEST(surrogate.status == 400);
  BOOST_TEST(surrogate.code == "invalid_json");
  BOOST_TEST(contains(surrogate.message, "lone UTF-16 surrogate"));
}

// Regression: max_tokens near 2^63 overflowed the token estimate, and the
// negative estimate blocked the provider's limit group.
BOOST_AUTO_TEST_CASE(max_tokens_beyond_any_model_is_refused) {
  auto huge = error_of(
      R"({"model":"alpha","messages":[{"role":"user","content":"a"}],"max_tokens":9223372036854775807})");
  BOOST_TEST(huge.status == 400);
  BOOST_TEST(huge.param == "max_tokens");
  BOOST_TEST(huge.message == "max_tokens: expected at most 2147483647, got "
                             "9223372036854775807");
}

BOOST_AUTO_TEST_CASE(bad_bodies_name_the_field_at_fault) {
  auto not_json = error_of("{nope");
  BOOST_TEST(not_json.status == 400);
  BOOST_TEST(contains(not_json.message, "not valid JSON at offset 1"));
  BOOST_TEST(contains(error_of("[1,2]").message, "expected a JSON object"));
  auto no_messages = error_of(R"({"model":"alpha"})");
  BOOST_TEST(no_messages.param == "messages");
  BOOST_TEST(no_messages.message == "messages: required");
  auto bad_role =
      error_of(R"({"model":"alpha","messages":[{"role":"user","content":"a"},
    {"role":"assistant","content":"b"},{"role":"wizard","content":"c"}]})");
  BOOST_TEST(bad_role.param == "messages[2].role");
  BOOST_TEST(bad_role.message ==
             "messages[2].role: expected one of system, user, assistant, "
             "tool, got 'wizard'");
  auto wrong_type = error_of(
      R"({"model":"alpha","messages":[{"role":"user","content":"a"}],"temperature":"hot"})");
  BOOST_TEST(wrong_type.param == "temperature");
  BOOST_TEST(wrong_type.message ==
             "temperature: expected a number, got a string");
  auto range = error_of(
      R"({"model":"alpha","messages":[{"role":"user","content":"a"}],"temperature":3})");
  BOOST_TEST(range.message ==
             "temperature: expected a number from 0 to 2, got 3");
  auto model_type =
      error_of(R"({"model":42,"messages":[{"role":"user","content":"a"}]})");
  BOOST_TEST(model_type.param == "model");
  auto part = error_of(
      R"({"model":"alpha","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]})");
  BOOST_TEST(part.param == "messages[0].content[0].type");
  auto image = error_of(
      R"({"model":"alpha","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]})");
  BOOST_TEST(image.param == "messages[0].content[0].image_url.url");
  auto empty = error_of(R"({"model":"alpha","messages":[]})");
  BOOST_TEST(empty.message == "messages: expected at least one message");
  auto max = error_of(
      R"({"model":"alpha","messages":[{"role":"user","content":"a"}],"max_tokens":1.5})");
  BOOST_TEST(max.message == "max_tokens: expected an integer, got a number");
}

BOOST_AUTO_TEST_CASE(what_tutti_cannot_honour_is_refused) {
  auto base = std::string{
      R"({"model":"alpha","messages":[{"role":"user","content":"a"}],)"};
  BOOST_TEST(error_of(base + R"("n":0})").param == "n");
  BOOST_TEST(error_of(base + R"("n":129})").message ==
             "n: expected 1 to 128, got 129");
  BOOST_TEST(!call_of(base + R"("n":1})").params.n.has_value());
  BOOST_TEST(call_of(base + R"("n":3})").params.n.value_or(0) == 3);
  BOOST_TEST(error_of(base + R"("functions":[{"name":"f"}]})").param ==
             "functions");
  BOOST_TEST(error_of(base + R"("logprobs":"yes"})").param == "logprobs");
  BOOST_TEST(error_of(base + R"("top_logprobs":2})").message ==
             "top_logprobs: needs logprobs: true");
  BOOST_TEST(error_of(base + R"("logprobs":true,"top_logprobs":21})").param ==
             "top_logprobs");
  auto asked = call_of(base + R"("logprobs":true,"top_logprobs":3})");
  BOOST_TEST(asked.params.logprobs);
  BOOST_TEST(asked.params.top_logprobs.value_or(-1) == 3);
  BOOST_TEST(error_of(base + R"("presence_penalty":2.5})").param ==
             "presence_penalty");
  BOOST_TEST(error_of(base + R"("reasoning_effort":"extreme"})").param ==
             "reasoning_effort");
  auto legacy_turn = error_of(
      R"({"model":"alpha","messages":[{"role":"function","content":"x"}]})");
  BOOST_TEST(legacy_turn.code == "unsupported_parameter");
  // Values that change nothing pass.
  call_of(
      base +
      R"("tools":[],"tool_choice":"none","logprobs":false,"presence_penalty":0,
    "response_format":{"type":"text"},"parallel_tool_calls":true})");
}

BOOST_AUTO_TEST_CASE(tools_tool_turns_and_response_formats_are_read) {
  auto call = call_of(R"({"model":"alpha","messages":[
    {"role":"user","content":"Weather in Paris?"},
    {"role":"assistant","content":null,"tool_calls":[{"id":"call_1",
      "type":"function","function":{"name":"get_weather",
      "arguments":"{\"city\":\"Paris\"}"}}]},
    {"role":"tool","tool_call_id":"call_1","content":"18 degrees"}],
    "tools":[{"type":"function","function":{"name":"get_weather",
      "description":"Weather now","strict":true,
      "parameters":{"type":"object", "properties":{"city":{"type":"string"}}}}}],
    "tool_choice":{"type":"function","function":{"name":"get_weather"}},
    "parallel_tool_calls":false,
    "response_format":{"type":"json_schema","json_schema":{"name":"w",
      "strict":true,"schema":{"type":"object"}}}})");
  BOOST_REQUIRE(call.messages.size() == 3u);
  BOOST_TEST(call.messages[1].content.empty());
  BOOST_REQUIRE(call.messages[1].tool_calls.size() == 1u);
  BOOST_TEST(call.messages[1].tool_calls[0].arguments == R"({"city":"Paris"})");
  BOOST_TEST(call.messages[2].role == "tool");
  BOOST_TEST(call.messages[2].tool_call_id == "call_1");
  BOOST_REQUIRE(call.params.tools.size() == 1u);
  auto& tool = call.params.tools[0];
  BOOST_TEST(tool.name == "get_weather");
  BOOST_TEST(tool.strict);
  // The schema is kept as compact JSON.
  BOOST_TEST(tool.parameters ==
             R"({"type":"object","properties":{"city":{"type":"string"}}})");
  BOOST_TEST(call.params.tool_choice.mode == "function");
  BOOST_TEST(call.params.tool_choice.name == "get_weather");
  BOOST_TEST(*call.params.parallel_tool_calls == false);
  BOOST_TEST(call.params.response_format.type == "json_schema");
  BOOST_TEST(call.params.response_format.schema == R"({"type":"object"})");
  BOOST_TEST(call.params.structured());
}

BOOST_AUTO_TEST_CASE(penalties_and_reasoning_effort_are_read) {
  auto call = call_of(R"({"model":"alpha","messages":[{"role":"user",
    "content":"a"}],"frequency_penalty":0.5,"presence_penalty":0,
    "reasoning_effort":"low"})");
  BOOST_TEST(*call.params.frequency_penalty == 0.5);
  // 0, every vendor's default, asks nothing.
  BOOST_TEST(!call.params.presence_penalty);
  BOOST_TEST(call.params.reasoning_effort == "low");
}

BOOST_AUTO_TEST_CASE(bad_tools_name_the_field_at_fault) {
  auto base = std::string{
      R"({"model":"alpha","messages":[{"role":"user","content":"a"}],)"};
  auto no_function = error_of(base + R"("tools":[{"type":"function"}]})");
  BOOST_TEST(no_function.param == "tools[0].function");
  auto bad_name = error_of(
      base + R"("tools":[{"type":"function","function":{"name":"a b"}}]})");
  BOOST_TEST(bad_name.param == "tools[0].function.name");
  auto twice = error_of(base + R"("tools":[
    {"type":"function","function":{"name":"f"}},
    {"type":"function","function":{"name":"f"}}]})");
  BOOST_TEST(twice.param == "tools[1].function.name");
  auto other_type =
      error_of(base + R"("tools":[{"type":"web_search","function":{}}]})");
  BOOST_TEST(other_type.code == "unsupported_parameter");
  auto schema_type = error_of(base + R"("tools":[{"type":"function",
    "function":{"name":"f","parameters":"object"}}]})");
  BOOST_TEST(schema_type.param == "tools[0].function.parameters");
  auto unknown_choice = error_of(base + R"("tools":[{"type":"function",
    "function":{"name":"f"}}],"tool_choice":{"type":"function",
    "function":{"name":"g"}}})");
  BOOST_TEST(unknown_choice.param == "tool_choice.function.name");
  auto required_without = error_of(base + R"("tool_choice":"required"})");
  BOOST_TEST(required_without.param == "tool_choice");
  auto format = error_of(base + R"("response_format":{"type":"yaml"}})");
  BOOST_TEST(format.param == "response_format.type");
  auto schema_missing =
      error_of(base + R"("response_format":{"type":"json_schema"}})");
  BOOST_TEST(schema_missing.param == "response_format.json_schema");
  auto tool_without_id = error_of(
      R"({"model":"alpha","messages":[{"role":"tool","content":"x"}]})");
  BOOST_TEST(tool_without_id.param == "messages[0].tool_call_id");
  auto user_calls = error_of(R"({"model":"alpha","messages":[{"role":"user",
    "content":"a","tool_calls":[]}]})");
  BOOST_TEST(user_calls.param == "messages[0].tool_calls");
  std::string many = base + R"("tools":[)";
  for (int i = 0; i < 129; ++i)
    many += std::string{i ? "," : ""} +
            R"({"type":"function","function":{"name":"f)" + std::to_string(i) +
            R"("}})";
  BOOST_TEST(error_of(many + "]}").message == "tools: at most 128 tools");
}

BOOST_AUTO_TEST_CASE(an_unknown_model_is_a_404_listing_the_known_ones) {
  auto e = error_of(
      R"({"model":"gpt-9","messages":[{"role":"user","content":"a"}]})");
  BOOST_TEST(e.status == 404);
  BOOST_TEST(e.code == "model_not_found");
  BOOST_TEST(contains(e.message, "alpha, bravo"));
  BOOST_TEST(contains(e.message, "ensemble/duo"));
  auto bare =
      error_of(R"({"model":"duo","messages":[{"role":"user","content":"a"}]})");
  BOOST_TEST(contains(bare.message, "did you mean ensemble/duo?"));
  auto missing = error_of(
      R"({"model":"ensemble/trio","messages":[{"role":"user","content":"a"}]})");
  BOOST_TEST(missing.status == 404);
}

BOOST_AUTO_TEST_CASE(errors_are_in_openai_format) {
  auto doc = parse(to_json(bad_request("messages[0].role", "bad role")));
  BOOST_TEST(std::string{doc["error"]["message"].GetString()} == "bad role");
  BOOST_TEST(std::string{doc["error"]["type"].GetString()} ==
             "invalid_request_error");
  BOOST_TEST(std::string{doc["error"]["param"].GetString()} ==
             "messages[0].role");
  BOOST_TEST(std::string{doc["error"]["code"].GetString()} == "invalid_value");
  auto no_param = parse(to_json(api_error{500, "x", "server_error", "", ""}));
  BOOST_TEST(no_param["error"]["param"].IsNull());
  BOOST_TEST(no_param["error"]["code"].IsNull());
}

BOOST_AUTO_TEST_CASE(a_completion_carries_the_answer_and_the_ensemble) {
  auto doc = parse(chat_completion_json(
      {"chatcmpl-1", 1700000000, "ensemble/duo"}, sample_answer()));
  BOOST_TEST(std::string{doc["object"].GetString()} == "chat.completion");
  BOOST_TEST(std::string{doc["id"].GetString()} == "chatcmpl-1");
  BOOST_TEST(std::string{doc["model"].GetString()} == "ensemble/duo");
  auto& choice = doc["choices"][0];
  BOOST_TEST(std::string{choice["message"]["role"].GetString()} == "assistant");
  BOOST_TEST(std::string{choice["message"]["content"].GetString()} == "Paris.");
  // The winner was cut by max_tokens.
  BOOST_TEST(std::string{choice["finish_reason"].GetString()} == "length");
  BOOST_TEST(doc["usage"]["prompt_tokens"].GetInt() == 7);
  BOOST_TEST(doc["usage"]["completion_tokens"].GetInt() == 3);
  BOOST_TEST(doc["usage"]["total_tokens"].GetInt() == 10);
  BOOST_TEST(std::string{doc["ensemble"]["status"].GetString()} == "partial");
  BOOST_TEST(doc["ensemble"]["members"].Size() == 2u);
}

BOOST_AUTO_TEST_CASE(chunks_have_openai_shapes) {
  completion_ids ids{"chatcmpl-2", 1, "alpha"};
  auto role = parse(role_chunk(ids, true));
  BOOST_TEST(std::string{role["object"].GetString()} ==
             "chat.completion.chunk");
  BOOST_TEST(std::string{role["choices"][0]["delta"]["role"].GetString()} ==
             "assistant");
  BOOST_TEST(role["choices"][0]["finish_reason"].IsNull());
  BOOST_TEST(role["usage"].IsNull());
  auto content = parse(content_chunk(ids, "Par", false));
  BOOST_TEST(
      std::string{content["choices"][0]["delta"]["content"].GetString()} ==
      "Par");
  BOOST_TEST(!content.HasMember("usage"));
  auto finish = parse(finish_chunk(ids, sample_answer(), false));
  BOOST_TEST(finish["choices"][0]["delta"].ObjectEmpty());
  BOOST_TEST(std::string{finish["choices"][0]["finish_reason"].GetString()} ==
             "length");
  BOOST_TEST(finish["ensemble"].IsObject());
  auto usage = parse(usage_chunk(ids, sample_answer().usage));
  BOOST_TEST(usage["choices"].Empty());
  BOOST_TEST(usage["usage"]["total_tokens"].GetInt() == 10);
  auto member =
      parse(member_delta_chunk(ids, member_delta{"bravo", "x", false}, false));
  BOOST_TEST(member["choices"].Empty());
  BOOST_TEST(std::string{member["tutti"]["member"].GetString()} == "bravo");
}

BOOST_AUTO_TEST_CASE(listings_never_show_a_secret) {
  std::vector<provider_status> states(1);
  states[0].name = "alpha";
  states[0].kind = "openai";
  states[0].model = "m-alpha";
  states[0].breaker = "closed";
  auto providers = providers_json(states, cfg());
  BOOST_TEST(!contains(providers, "sk-secret"));
  BOOST_TEST(!contains(providers, "127.0.0.1:1"));
  auto doc = parse(providers);
  BOOST_TEST(std::string{doc["data"][0]["breaker"]["state"].GetString()} ==
             "closed");
  auto ensembles = parse(ensembles_json(cfg()));
  BOOST_TEST(std::string{ensembles["data"][0]["model"].GetString()} ==
             "ensemble/duo");
  auto pipelines = parse(pipelines_json(cfg()));
  BOOST_TEST(std::string{pipelines["data"][0]["inputs"][0].GetString()} ==
             "question");
  auto models = parse(models_json(cfg(), 5));
  BOOST_TEST(models["data"].Size() == 3u);
}

BOOST_AUTO_TEST_CASE(runs_name_exactly_one_target_and_their_inputs) {
  auto ok = parse_run_request(
      R"({"pipeline":"ask","inputs":{"question":"why?"}})", cfg());
  BOOST_REQUIRE(std::holds_alternative<run_call>(ok));
  BOOST_TEST(std::get<run_call>(ok).inputs.at("question") == "why?");
  auto missing = parse_run_request(R"({"pipeline":"ask","inputs":{}})", cfg());
  BOOST_TEST(std::get<api_error>(missing).param == "inputs.question");
  auto unknown = parse_run_request(
      R"({"pipeline":"ask","inputs":{"question":"a","x":"b"}})", cfg());
  BOOST_TEST(std::get<api_error>(unknown).param == "inputs.x");
  auto both =
      parse_run_request(R"({"ensemble":"duo","pipeline":"ask"})", cfg());
  BOOST_TEST(std::get<api_error>(both).status == 400);
  auto nowhere =
      parse_run_request(R"({"ensemble":"trio","prompt":"a"})", cfg());
  BOOST_TEST(std::get<api_error>(nowhere).status == 404);
  BOOST_TEST(std::get<api_error>(nowhere).code == "ensemble_not_found");
  auto prompt = parse_run_request(
      R"({"ensemble":"duo","prompt":"hi","temperature":0.1})", cfg());
  BOOST_REQUIRE(std::holds_alternative<run_call>(prompt));
  BOOST_TEST(std::get<run_call>(prompt).messages.size() == 1u);
  auto neither = parse_run_request(R"({"ensemble":"duo"})", cfg());
  BOOST_TEST(std::get<api_error>(neither).param == "prompt");
}

BOOST_AUTO_TEST_CASE(loopback_and_tokens) {
  BOOST_TEST(is_loopback_host("127.0.0.1"));
  BOOST_TEST(is_loopback_host("127.1.2.3"));
  BOOST_TEST(is_loopback_host("::1"));
  BOOST_TEST(is_loopback_host("localhost"));
  BOOST_TEST(!is_loopback_host("0.0.0.0"));
  BOOST_TEST(!is_loopback_host("::"));
  BOOST_TEST(!is_loopback_host("192.168.1.2"));
  BOOST_TEST(tokens_match("s3cret", "s3cret"));
  BOOST_TEST(!tokens_match("s3cre", "s3cret"));
  BOOST_TEST(!tokens_match("s3cret!", "s3cret"));
  BOOST_TEST(!tokens_match("", ""));
  BOOST_TEST(bearer_token("Bearer abc") == "abc");
  BOOST_TEST(bearer_token("bearer  abc ") == "abc");
  BOOST_TEST(bearer_token("Basic abc").empty());
}

// Regression (found by server_guard_fuzz): inet_pton stopped at a NUL, so a
// Host or Origin naming another host after one passed as loopback. (Beast
// refuses a NUL in a header value, so `tutti serve` never saw one.)
BOOST_AUTO_TEST_CASE(a_host_with_a_nul_is_not_loopback) {
  using namespace std::string_literals;
  BOOST_TEST(!is_loopback_host("127.0.0.1\0.evil.example"s));
  BOOST_TEST(!is_loopback_host("::1\0x"s));
  BOOST_TEST(!is_loopback_authority("127.0.0.1\0\0:8700"s));
  BOOST_TEST(!is_loopback_origin("http://127.0.0.1\0.evil.example"s));
  BOOST_TEST(is_loopback_authority("127.0.0.1:8700"));
}

BOOST_AUTO_TEST_CASE(finished_runs_are_forgotten_by_age_and_count) {
  run_registry by_count{std::chrono::hours{1}, 1};
  auto running = by_count.add(run_record::kind::ensemble, "duo", 1);
  auto older = by_count.add(run_record::kind::ensemble, "duo", 1);
  auto newer = by_count.add(run_record::kind::pipeline, "ask", 1);
  older->finish("ok", "{}", 2);
  newer->finish("failed", "{}", 3);
  by_count.prune();
  BOOST_TEST(by_count.find(running->id()) != nullptr);
  BOOST_TEST(by_count.find(older->id()) == nullptr);
  BOOST_TEST(by_count.find(newer->id()) != nullptr);

  run_registry by_age{std::chrono::milliseconds{0}, 100};
  auto done = by_age.add(run_record::kind::provider, "alpha", 1);
  done->finish("ok", "{}", 2);
  by_age.prune();
  BOOST_TEST(by_age.find(done->id()) == nullptr);
}

BOOST_AUTO_TEST_CASE(no_more_than_max_running_runs_run_at_once) {
  run_registry runs{std::chrono::hours{1}, 10, 2};
  auto first = runs.add(run_record::kind::ensemble, "duo", 1);
  auto second = runs.add(run_record::kind::ensemble, "duo", 1);
  BOOST_REQUIRE(first && second);
  BOOST_TEST(runs.add(run_record::kind::ensemble, "duo", 1) == nullptr);
  first->finish("ok", "{}", 2); // a finished run frees its place
  auto third = runs.add(run_record::kind::pipeline, "ask", 2);
  BOOST_REQUIRE(third);
  BOOST_TEST(runs.find(first->id()) != nullptr); // and stays readable
  BOOST_TEST(runs.add(run_record::kind::ensemble, "duo", 2) == nullptr);
}

BOOST_AUTO_TEST_CASE(
    a_run_replays_its_events_and_a_cancel_shows_in_its_status) {
  run_registry runs{std::chrono::hours{1}, 10};
  auto run = runs.add(run_record::kind::ensemble, "duo", 1);
  BOOST_TEST(run->id().rfind("run_", 0) == 0u);
  BOOST_TEST(run->id().size() == 28u);
  run->push("member.delta", R"({"text":"a"})");
  BOOST_TEST(run->request_cancel());
  run->finish("partial", R"({"text":"a"})", 2);
  BOOST_TEST(!run->request_cancel());
  std::vector<run_event> events;
  BOOST_TEST(run->events_after(0, events));
  BOOST_REQUIRE(events.size() == 2u);
  BOOST_TEST(events[0].id == 1u);
  BOOST_TEST(events[1].name == "run.done");
  BOOST_TEST(contains(events[1].data, R"("status":"cancelled")"));
  auto doc = parse(run->json());
  BOOST_TEST(std::string{doc["status"].GetString()} == "cancelled");
  BOOST_TEST(std::string{doc["answer"]["text"].GetString()} == "a");
  std::vector<run_event> after_last;
  BOOST_TEST(run->events_after(2, after_last));
  BOOST_TEST(after_last.empty());
}
