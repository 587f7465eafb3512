// The ollama codec against replies recorded in Ollama's own shapes
// (tests/fixtures/ollama/): what it sends to /api/chat, whole and streamed
// (NDJSON) replies, usage, finish reasons, and errors.

#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <limits>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <rapidjson/document.h>

#include "plugins/codecs/ollama/ollama_codec.hpp"
#include "tests/unit/codec_test_support.hpp"
#include "tutti/registry.hpp"
#include "tutti/stream_decoder.hpp"

using namespace tutti;
using namespace tutti::codec_test;

namespace {

std::string read_fixture(const std::string& name) {
  return codec_test::read_fixture("ollama", name);
}

/// The codec under test, shared by every case.
const codec& ollama() {
  static auto instance = make_ollama_codec();
  return *instance;
}

provider_settings settings() {
  provider_settings p;
  p.name = "local";
  p.kind = "ollama";
  p.model = "llama3.2";
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
  return codec_test::stream_through(ollama(), bytes, chunk);
}

/// A non-2xx response's failure.
failure error_for(int status, const std::string& fixture) {
  return ollama().classify_error(status, read_fixture(fixture), {});
}

} // namespace

// --- what it declares
// ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(is_registered_and_declares_ndjson_and_its_keys) {
  auto c = registry::builtin().make_codec("ollama");
  BOOST_REQUIRE(c != nullptr);
  BOOST_TEST(c->default_base_url() == "http://localhost:11434");
  BOOST_TEST(to_string(c->framing()) == "ndjson");
  BOOST_TEST(c->key_headers() == std::vector<std::string>{"authorization"});
  BOOST_TEST(!c->accepts_unterminated_stream());
  BOOST_TEST(c->implied_max_tokens() == 0);
  auto keys = c->keys();
  BOOST_REQUIRE(keys.size() == 2u);
  BOOST_TEST(keys[0].name == "keep_alive");
  BOOST_TEST(keys[1].name == "num_ctx");
  for (const auto& key : keys) {
    BOOST_TEST(!key.required);
    BOOST_TEST(!key.secret);
    BOOST_REQUIRE(key.check != nullptr);
  }
  auto keep_alive = keys[0].check;
  for (std::string_view good :
       {"5m", "30s", "1h30m", "-1", "0", "300", "-1s", "1.5h", "250ms",
        "2h45m30.5s", "10us", "10\xC2\xB5s", "+5m"}) {
    BOOST_TEST(keep_alive(good).empty(), good);
  }
  for (std::string_view bad :
       {"", "5 minutes", "5min", "m", "1.5", "-", ".s", "1d", "forever",
        "99999999999999999999", "1e3s"}) {
    BOOST_TEST(!keep_alive(bad).empty(), bad);
  }
  auto num_ctx = keys[1].check;
  for (std::string_view good : {"1", "2048", "131072", "2147483647"}) {
    BOOST_TEST(num_ctx(good).empty(), good);
  }
  for (std::string_view bad :
       {"", "0", "-1", "+8", "8k", "2048.0", "2147483648", " 2048"}) {
    BOOST_TEST(!num_ctx(bad).empty(), bad);
  }
}

// --- request
// -------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(encodes_a_chat_request_for_api_chat) {
  auto req = ollama().encode(question(), settings());
  BOOST_TEST(req.method == "POST");
  BOOST_TEST(req.url == "http://localhost:11434/api/chat");
  BOOST_TEST(header(req, "content-type") == "application/json");
  BOOST_TEST(header(req, "authorization") == "<absent>");
  auto doc = parse(req.body);
  BOOST_TEST(str(doc["model"]) == "llama3.2");
  BOOST_REQUIRE(doc["messages"].IsArray());
  BOOST_REQUIRE(doc["messages"].Size() == 2u);
  BOOST_TEST(str(doc["messages"][0]["role"]) == "system");
  BOOST_TEST(str(doc["messages"][0]["content"]) == "Answer briefly.");
  BOOST_TEST(str(doc["messages"][1]["role"]) == "user");
  BOOST_TEST(str(doc["messages"][1]["content"]) ==
             "What is the capital of France?");
  // Ollama streams unless told not to: the flag is always sent.
  BOOST_REQUIRE(doc.HasMember("stream"));
  BOOST_TEST(doc["stream"].IsFalse());
  BOOST_TEST(!doc.HasMember("options"));
  BOOST_TEST(!doc.HasMember("keep_alive"));

  auto streamed = question();
  streamed.stream = true;
  auto sdoc = parse(ollama().encode(streamed, settings()).body);
  BOOST_TEST(sdoc["stream"].IsTrue());
}

BOOST_AUTO_TEST_CASE(sends_params_as_options_and_its_own_keys) {
  auto p = settings();
  p.base_url = "http://gpu-box:11434";
  p.defaults.temperature = 0.7;
  p.defaults.max_tokens = 512;
  p.options["keep_alive"] = "10m";
  p.options["num_ctx"] = "8192";
  auto req = question();
  req.params.temperature = 0.2;
  req.params.top_p = 0.9;
  req.params.seed = 42;
  req.params.stop = {"\n\n", "END"};
  auto http = ollama().encode(req, p);
  BOOST_TEST(http.url == "http://gpu-box:11434/api/chat");
  auto doc = parse(http.body);
  BOOST_REQUIRE(doc["options"].IsObject());
  const auto& o = doc["options"];
  BOOST_TEST(o["temperature"].GetDouble() == 0.2); // the request's wins
  BOOST_TEST(o["top_p"].GetDouble() == 0.9);
  BOOST_TEST(o["num_predict"].GetInt64() == 512); // the provider's default
  BOOST_TEST(o["seed"].GetInt64() == 42);
  BOOST_REQUIRE(o["stop"].IsArray());
  BOOST_TEST(str(o["stop"][0]) == "\n\n");
  BOOST_TEST(str(o["stop"][1]) == "END");
  BOOST_TEST(o["num_ctx"].GetInt64() == 8192);
  BOOST_TEST(str(doc["keep_alive"]) == "10m");

  // Seconds go as a number: a string needs a unit.
  p.options["keep_alive"] = "-1";
  BOOST_TEST(parse(ollama().encode(req, p).body)["keep_alive"].GetInt64() ==
             -1);
  p.options["keep_alive"] = "300";
  BOOST_TEST(parse(ollama().encode(req, p).body)["keep_alive"].GetInt64() ==
             300);

  // num_ctx alone still makes an options object.
  auto bare = settings();
  bare.options["num_ctx"] = "4096";
  auto bdoc = parse(ollama().encode(question(), bare).body);
  BOOST_REQUIRE(bdoc["options"].IsObject());
  BOOST_TEST(bdoc["options"].MemberCount() == 1u);
  BOOST_TEST(bdoc["options"]["num_ctx"].GetInt64() == 4096);
}

BOOST_AUTO_TEST_CASE(a_key_goes_as_bearer_for_a_proxy_and_headers_follow) {
  auto p = settings();
  p.api_key = "proxy-secret";
  p.extra_headers = {{"X-Team", "search"}};
  auto req = ollama().encode(question(), p);
  BOOST_TEST(header(req, "authorization") == "Bearer proxy-secret");
  BOOST_TEST(header(req, "x-team") == "search");
}

BOOST_AUTO_TEST_CASE(non_finite_params_are_left_to_the_server) {
  auto req = question();
  req.params.temperature = std::numeric_limits<double>::quiet_NaN();
  auto doc = parse(ollama().encode(req, settings()).body);
  BOOST_TEST(!doc.HasMember("options"));
}

// --- whole replies
// -------------------------------------------------------------

BOOST_AUTO_TEST_CASE(decodes_a_whole_reply_with_usage) {
  auto done = as_completion(ollama().decode_body(read_fixture("chat.json")));
  BOOST_TEST(done.text == "The capital of France is Paris.");
  BOOST_TEST(done.finish_reason == "stop");
  BOOST_TEST(done.usage.input_tokens == 32);
  BOOST_TEST(done.usage.output_tokens == 8);
  BOOST_TEST(done.usage.cached_input_tokens == 0);
}

BOOST_AUTO_TEST_CASE(a_reply_cut_by_num_predict_finishes_with_length) {
  auto done =
      as_completion(ollama().decode_body(read_fixture("chat_length.json")));
  BOOST_TEST(done.text ==
             "Photosynthesis is the process by which green plants");
  BOOST_TEST(done.finish_reason == "length");
  BOOST_TEST(done.usage.input_tokens == 41);
  BOOST_TEST(done.usage.output_tokens == 10);
}

BOOST_AUTO_TEST_CASE(a_cached_prompt_leaves_the_input_count_unknown) {
  auto done = as_completion(
      ollama().decode_body(read_fixture("chat_cached_prompt.json")));
  BOOST_TEST(done.text == "Berlin.");
  BOOST_TEST(done.usage.input_tokens == 0);
  BOOST_TEST(done.usage.output_tokens == 3);
  // Streamed: the last line reports output only.
  auto reply =
      stream_through(read_fixture("chat_cached_prompt_stream.ndjson"), 5);
  BOOST_REQUIRE(reply.tokens.has_value());
  BOOST_TEST(reply.tokens->input_tokens == 0);
  BOOST_TEST(reply.tokens->output_tokens == 3);
}

BOOST_AUTO_TEST_CASE(thinking_is_not_the_answer) {
  auto done =
      as_completion(ollama().decode_body(read_fixture("thinking.json")));
  BOOST_TEST(done.text == "17 \xC3\x97 23 = 391.");
  BOOST_TEST(done.usage.output_tokens == 47);
}

BOOST_AUTO_TEST_CASE(a_tool_call_alone_is_the_reply) {
  auto reply =
      as_completion(ollama().decode_body(read_fixture("tool_calls.json")));
  BOOST_TEST(reply.text.empty());
  BOOST_REQUIRE(reply.tool_calls.size() == 1u);
  BOOST_TEST(reply.tool_calls[0].name == "get_weather");
  // Ollama's arguments are an object: its JSON text; it gives no id.
  BOOST_TEST(reply.tool_calls[0].arguments == R"({"city":"Toronto"})");
  BOOST_TEST(reply.tool_calls[0].id == "call_0");
  BOOST_TEST(reply.usage.input_tokens == 213);
  BOOST_TEST(reply.usage.output_tokens == 18);
}

BOOST_AUTO_TEST_CASE(parallel_calls_streamed_one_to_a_line_keep_their_places) {
  std::string lines =
      R"({"message":{"role":"assistant","content":"","tool_calls":[{"function":{"index":0,"name":"f","arguments":{"a":1}}}]},"done":false})"
      "\n"
      R"({"message":{"role":"assistant","content":"","tool_calls":[{"function":{"index":1,"name":"g","arguments":{}}}]},"done":false})"
      "\n"
      R"({"message":{"role":"assistant","content":""},"done_reason":"stop","done":true,"prompt_eval_count":5,"eval_count":2})"
      "\n";
  auto outcome = stream_through(lines, 7).outcome;
  auto& reply = std::get<completion>(outcome);
  BOOST_REQUIRE(reply.tool_calls.size() == 2u);
  BOOST_TEST(reply.tool_calls[0].name == "f");
  BOOST_TEST(reply.tool_calls[0].arguments == R"({"a":1})");
  BOOST_TEST(reply.tool_calls[1].name == "g");
}

BOOST_AUTO_TEST_CASE(encode_sends_tools_format_and_tool_turns) {
  auto req = question();
  chat_message asked{"assistant", ""};
  asked.tool_calls.push_back(
      {"call_0", "get_weather", R"({"city":"Toronto"})"});
  chat_message result{"tool", "-3 C"};
  result.tool_call_id = "call_0";
  req.messages.push_back(asked);
  req.messages.push_back(result);
  req.params.tools.push_back({"get_weather", "Weather now", "", false});
  req.params.response_format = {"json_schema", "w", R"({"type":"object"})",
                                true};
  auto doc = parse(ollama().encode(req, settings()).body);
  BOOST_TEST(str(doc["tools"][0]["function"]["name"]) == "get_weather");
  BOOST_TEST(str(doc["tools"][0]["function"]["parameters"]["type"]) ==
             "object");
  BOOST_TEST(str(doc["format"]["type"]) == "object");
  auto& turns = doc["messages"];
  auto last = turns.Size() - 1;
  BOOST_TEST(
      str(turns[last - 1]["tool_calls"][0]["function"]["arguments"]["city"]) ==
      "Toronto");
  BOOST_TEST(str(turns[last]["role"]) == "tool");
  BOOST_TEST(str(turns[last]["tool_name"]) == "get_weather");
  // tool_choice none is no tools at all; json_object is "json".
  req.params.tool_choice = {"none", ""};
  req.params.response_format = {"json_object", "", "", false};
  auto plain = parse(ollama().encode(req, settings()).body);
  BOOST_TEST(!plain.HasMember("tools"));
  BOOST_TEST(str(plain["format"]) == "json");
}

BOOST_AUTO_TEST_CASE(odd_whole_bodies_are_protocol_failures) {
  struct odd {
    std::string body;
    failure_kind kind;
    std::string message_part;
  };
  for (const auto& c : std::vector<odd>{
           {"{\"model\":\"llama3.2\",\"message\":{\"content\":",
            failure_kind::protocol, "response body"},
           {"[1,2]", failure_kind::protocol, "response body"},
           {"{\"model\":\"llama3.2\",\"done\":true}", failure_kind::protocol,
            "no message object"},
           {"{\"model\":\"llama3.2\",\"message\":{\"content\":\"Par\"},"
            "\"done\":false}",
            failure_kind::protocol, "done is false"},
           {"{\"error\":\"model \\\"x\\\" not found, try pulling it first\"}",
            failure_kind::bad_request, "model \"x\" not found"},
       }) {
    BOOST_TEST_CONTEXT(c.body) {
      auto error = as_failure(ollama().decode_body(c.body));
      BOOST_TEST(error.kind == c.kind);
      BOOST_TEST(error.message.find(c.message_part) != std::string::npos,
                 error.message);
    }
  }
  // A load-only reply (no messages) holds no text.
  auto load = as_failure(ollama().decode_body(
      "{\"model\":\"llama3.2\",\"created_at\":\"2025-06-11T09:00:00Z\","
      "\"message\":{\"role\":\"assistant\",\"content\":\"\"},"
      "\"done_reason\":\"load\",\"done\":true}"));
  BOOST_TEST(load.kind == failure_kind::empty_reply);
  BOOST_TEST(load.message ==
             "the reply holds no text (finish reason \"load\")");
}

// --- streamed replies
// ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(decodes_a_stream_cut_anywhere) {
  auto bytes = read_fixture("chat_stream.ndjson");
  for (std::size_t chunk : {bytes.size(), std::size_t{1}, std::size_t{13}}) {
    BOOST_TEST_CONTEXT("chunks of " << chunk) {
      auto reply = stream_through(bytes, chunk);
      BOOST_TEST(reply.text == "The capital of France is Paris.");
      BOOST_TEST(reply.finish_reason == "stop");
      BOOST_TEST(reply.terminal);
      BOOST_TEST(!reply.error.has_value());
      BOOST_REQUIRE(reply.tokens.has_value());
      BOOST_TEST(reply.tokens->input_tokens == 32);
      BOOST_TEST(reply.tokens->output_tokens == 8);
      auto done = as_completion(reply.outcome);
      BOOST_TEST(done.text == "The capital of France is Paris.");
    }
  }
}

BOOST_AUTO_TEST_CASE(only_the_done_line_ends_a_stream) {
  auto chunk = ollama().decode_event(data_event(
      R"({"model":"llama3.2","message":{"role":"assistant","content":"Hi"},"done":false})"));
  BOOST_TEST(chunk.text == "Hi");
  BOOST_TEST(!chunk.terminal);
  BOOST_TEST(!chunk.usage.has_value());
  BOOST_TEST(chunk.finish_reason.empty());
  auto last = ollama().decode_event(data_event(
      R"({"model":"llama3.2","message":{"role":"assistant","content":""},"done_reason":"length","done":true,"prompt_eval_count":5,"eval_count":2})"));
  BOOST_TEST(last.terminal);
  BOOST_TEST(last.finish_reason == "length");
  BOOST_REQUIRE(last.usage.has_value());
  BOOST_TEST((last.usage->counting == usage_counting::totals));
  BOOST_TEST(reported(last.usage->input_tokens) == 5);
  BOOST_TEST(reported(last.usage->output_tokens) == 2);
  BOOST_TEST(reported(last.usage->cached_input_tokens) == not_reported);
  // A blank line says nothing.
  auto blank = ollama().decode_event(data_event("  "));
  BOOST_TEST(blank.text.empty());
  BOOST_TEST(!blank.terminal);
  BOOST_TEST(!blank.error.has_value());
}

BOOST_AUTO_TEST_CASE(a_stream_without_its_done_line_is_incomplete) {
  auto reply = stream_through(read_fixture("stream_truncated.ndjson"), 7);
  BOOST_TEST(reply.text == "One two");
  BOOST_TEST(!reply.terminal);
  auto error = as_failure(reply.outcome);
  BOOST_TEST(error.kind == failure_kind::protocol);
  BOOST_TEST(error.message.find("without its end marker") != std::string::npos,
             error.message);
  BOOST_TEST(error.partial_text == "One two");
}

BOOST_AUTO_TEST_CASE(an_error_line_mid_stream_is_an_error_event) {
  auto reply = stream_through(read_fixture("stream_error.ndjson"), 9);
  BOOST_TEST(reply.text == "Once upon");
  BOOST_REQUIRE(reply.error.has_value());
  BOOST_TEST(reply.error->kind == failure_kind::server);
  BOOST_TEST(reply.error->message ==
             "an error was encountered while running the model: unexpected "
             "EOF");
  auto busy = ollama().decode_event(data_event(
      R"({"error":"server busy, please try again.  maximum pending requests exceeded"})"));
  BOOST_REQUIRE(busy.error.has_value());
  BOOST_TEST(busy.error->kind == failure_kind::overloaded);
}

BOOST_AUTO_TEST_CASE(a_line_that_is_not_json_is_a_protocol_error) {
  auto update = ollama().decode_event(data_event("{\"message\":{this is not"));
  BOOST_REQUIRE(update.error.has_value());
  BOOST_TEST(update.error->kind == failure_kind::protocol);
  BOOST_TEST(update.error->message.find("stream event") != std::string::npos,
             update.error->message);
}

BOOST_AUTO_TEST_CASE(a_streamed_tool_call_is_read) {
  auto reply = stream_through(read_fixture("tool_calls_stream.ndjson"), 3);
  auto& done = std::get<completion>(reply.outcome);
  BOOST_REQUIRE(done.tool_calls.size() == 1u);
  BOOST_TEST(done.tool_calls[0].arguments == R"({"city":"Toronto"})");
}

// --- errors
// --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(classifies_ollamas_error_bodies) {
  auto not_found = error_for(404, "error_404_model_not_found.json");
  BOOST_TEST(not_found.kind == failure_kind::bad_request);
  BOOST_TEST(not_found.http_status == 404);
  BOOST_TEST(not_found.message ==
             "model \"llama9\" not found, try pulling it first");

  auto bad = error_for(400, "error_400_invalid_option.json");
  BOOST_TEST(bad.kind == failure_kind::bad_request);
  BOOST_TEST(bad.message == "option \"num_ctx\" must be of type integer");

  auto context = error_for(400, "error_400_context_length.json");
  BOOST_TEST(context.kind == failure_kind::context_length);

  auto server = error_for(500, "error_500.json");
  BOOST_TEST(server.kind == failure_kind::server);
  BOOST_TEST(server.message.find("more system memory") != std::string::npos);

  auto busy = error_for(503, "error_503_server_busy.json");
  BOOST_TEST(busy.kind == failure_kind::overloaded);

  BOOST_TEST(ollama()
                 .classify_error(429, R"({"error":"too many requests"})", {})
                 .kind == failure_kind::rate_limited);
  BOOST_TEST(ollama().classify_error(401, "", {}).kind == failure_kind::auth);
  BOOST_TEST(
      ollama().classify_error(502, "<html>Bad Gateway</html>", {}).kind ==
      failure_kind::server);
  auto blank = ollama().classify_error(404, "404 page not found", {});
  BOOST_TEST(blank.kind == failure_kind::bad_request);
  BOOST_TEST(blank.message.find("404 page not found") != std::string::npos,
             blank.message);
}
