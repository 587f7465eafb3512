// server/embeddings_api.cpp from strings: what a `POST /v1/embeddings` body
// becomes, and the JSON and base64 written back.

#include <boost/test/unit_test.hpp>

#include <string>
#include <variant>

#include "server/embeddings_api.hpp"
#include "tutti/config.hpp"

using namespace tutti;
using namespace tutti::http;

namespace {

config two_providers() {
  config cfg;
  provider_config p;
  p.name = "oa";
  p.kind = "openai";
  p.model = "text-embedding-3-small";
  cfg.providers.emplace("oa", p);
  ensemble_config e;
  cfg.ensembles.emplace("team", e);
  return cfg;
}

embeddings_call call_of(const std::string& body) {
  auto parsed = parse_embeddings_request(body, two_providers());
  if (auto* e = std::get_if<api_error>(&parsed))
    BOOST_FAIL("expected a call, got " << e->status << " " << e->message);
  return std::get<embeddings_call>(parsed);
}

api_error error_of(const std::string& body) {
  auto parsed = parse_embeddings_request(body, two_providers());
  BOOST_REQUIRE(std::holds_alternative<api_error>(parsed));
  return std::get<api_error>(parsed);
}

} // namespace

BOOST_AUTO_TEST_CASE(reads_model_inputs_format_and_dimensions) {
  auto call = call_of(
      R"({"model":"oa","input":["a","b"],"encoding_format":"base64","dimensions":64,"user":"u"})");
  BOOST_TEST(call.provider == "oa");
  BOOST_TEST(call.inputs == (std::vector<std::string>{"a", "b"}));
  BOOST_TEST(call.base64);
  BOOST_TEST(call.dimensions == 64);
  call = call_of(R"({"model":"oa","input":"one","encoding_format":"float"})");
  BOOST_TEST(call.inputs == std::vector<std::string>{"one"});
  BOOST_TEST(!call.base64);
  BOOST_TEST(call.dimensions == 0);
}

BOOST_AUTO_TEST_CASE(an_ensemble_is_a_400_and_an_unknown_model_a_404) {
  auto e = error_of(R"({"model":"ensemble/team","input":"x"})");
  BOOST_TEST(e.status == 400);
  BOOST_TEST(e.param == "model");
  e = error_of(R"({"model":"team","input":"x"})");
  BOOST_TEST(e.status == 400);
  e = error_of(R"({"model":"who","input":"x"})");
  BOOST_TEST(e.status == 404);
  BOOST_TEST(e.code == "model_not_found");
}

BOOST_AUTO_TEST_CASE(token_arrays_and_broken_bodies_are_400s) {
  BOOST_TEST(error_of(R"({"model":"oa","input":[[1,2]]})").code ==
             "unsupported_parameter");
  BOOST_TEST(error_of(R"({"model":"oa","input":3})").param == "input");
  BOOST_TEST(error_of("[]").code == "invalid_json");
  BOOST_TEST(error_of(R"({"model":"oa",)").code == "invalid_json");
  BOOST_TEST(error_of(R"({"model":7,"input":"x"})").param == "model");
}

BOOST_AUTO_TEST_CASE(base64_is_little_endian_float32) {
  BOOST_TEST(base64_floats({1.0f}) == "AACAPw==");
  BOOST_TEST(base64_floats({1.0f, -2.0f}) == "AACAPwAAAMA=");
  BOOST_TEST(base64_floats({0.0f, 0.0f, 0.0f}) == "AAAAAAAAAAAAAAAA");
  BOOST_TEST(base64_floats({}).empty());
}

BOOST_AUTO_TEST_CASE(writes_openais_list_with_usage) {
  embeddings_call call;
  call.model = "oa";
  completion reply;
  reply.embeddings = {{0.5f, -0.125f}, {1.0f, 0.1f}};
  reply.usage.input_tokens = 5;
  BOOST_TEST(
      embeddings_json(call, reply) ==
      R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,-0.125]},)"
      R"({"object":"embedding","index":1,"embedding":[1,0.1]}],"model":"oa","usage":{"prompt_tokens":5,"total_tokens":5}})");
  call.base64 = true;
  BOOST_TEST(
      embeddings_json(call, reply).find(R"("embedding":"AAAAPwAAAL4=")") !=
      std::string::npos);
}
