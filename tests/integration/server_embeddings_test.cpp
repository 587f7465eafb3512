// POST /v1/embeddings through `tutti serve` against the fake upstream, one
// provider of each kind that embeds: OpenAI, an OpenAI-compatible server,
// Gemini, Ollama and Bedrock's Titan, each on its own wire (the fake logs
// what arrived). And what a client gets wrong or cannot have: an ensemble,
// a kind without embeddings, dimensions where the vendor has none, bad
// input (a 400 naming the field), an upstream 429 (a 429 with its
// Retry-After); base64 vectors that decode to the float ones.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <rapidjson/document.h>

#include "tests/integration/fake_upstream_fixture.hpp"
#include "tests/integration/store_place.hpp"
#include "tools/fake_llm/fake_llm.hpp"
#include "tools/fake_llm/wire_support.hpp"
#include "tutti/engine.hpp"
#include "tutti/server.hpp"

using namespace tutti;
using namespace std::chrono_literals;

namespace {

const char* upstream_script = R"(
models:
  limited: {fail: {status: 429, retry_after: 7, message: "Rate limit reached for requests"}}
  flaky: {fail: {status: 500, times: 1}}
default: {latency: 0ms}
)";

struct embeddings_fixture {
  fake::server upstream{fake::parse_script(upstream_script)};
  std::unique_ptr<engine> eng;
  std::unique_ptr<tutti::server> endpoint;
  std::unique_ptr<httplib::Client> client;

  embeddings_fixture() {
    ::setenv("TUTTI_TEST_AWS_KEY_ID", "AKIDEXAMPLE", 1);
    ::setenv("TUTTI_TEST_AWS_SECRET", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLE",
             1);
    upstream.start();
    auto root = upstream.root_url();
    std::string yaml =
        "store: none\n"
        "providers:\n"
        "  oa: {kind: openai, model: gpt-chat, embedding_model: emb-oa, "
        "base_url: \"" +
        root +
        "/v1\", api_key: sk-emb}\n"
        "  compat: {kind: openai-compatible, model: emb-compat, "
        "base_url: \"" +
        root +
        "/v1\"}\n"
        "  gem: {kind: gemini, model: gem-chat, embedding_model: "
        "emb-gem, base_url: \"" +
        root +
        "/v1beta\", api_key: g-key}\n"
        "  oll: {kind: ollama, model: emb-oll, base_url: \"" +
        root +
        "\"}\n"
        "  br:\n"
        "    kind: bedrock\n"
        "    model: anthropic.claude-3-5-sonnet-20240620-v1:0\n"
        "    embedding_model: amazon.titan-embed-text-v2:0\n"
        "    base_url: \"" +
        root +
        "\"\n"
        "    region: us-east-1\n"
        "    access_key_id: ${TUTTI_TEST_AWS_KEY_ID}\n"
        "    secret_access_key: ${TUTTI_TEST_AWS_SECRET}\n"
        "  claude: {kind: anthropic, model: claude, base_url: \"" +
        root +
        "/v1\", api_key: a-key}\n"
        "  limited: {kind: openai, model: limited, base_url: \"" +
        root +
        "/v1\", api_key: sk-emb, retry: {attempts: 1}}\n"
        "  flaky: {kind: openai, model: flaky, base_url: \"" +
        root +
        "/v1\", api_key: sk-emb, retry: {attempts: 3, backoff: 10ms}}\n"
        "ensembles:\n"
        "  e: {members: [oa, compat]}\n";
    eng = std::make_unique<engine>(engine::from_yaml(yaml));
    server_options options;
    options.port = 0;
    endpoint = std::make_unique<tutti::server>(*eng, options);
    endpoint->start();
    client = std::make_unique<httplib::Client>("127.0.0.1", endpoint->port());
    client->set_read_timeout(10s);
  }

  ~embeddings_fixture() {
    ::unsetenv("TUTTI_TEST_AWS_KEY_ID");
    ::unsetenv("TUTTI_TEST_AWS_SECRET");
  }

  httplib::Result embed(const std::string& body) {
    return client->Post("/v1/embeddings", body, "application/json");
  }

  std::vector<fake::arrival> arrivals_of(const std::string& model) {
    return fake_upstream::arrivals_of(upstream, model);
  }
};

rapidjson::Document json_of(const std::string& body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  BOOST_REQUIRE_MESSAGE(doc.IsObject(), "not a JSON object: " << body);
  return doc;
}

std::vector<float> vector_at(const rapidjson::Document& doc, size_t i) {
  std::vector<float> out;
  for (auto& x :
       doc["data"][static_cast<rapidjson::SizeType>(i)]["embedding"].GetArray())
    out.push_back(x.GetFloat());
  return out;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// The float32s of a base64 string, little-endian.
std::vector<float> floats_of_base64(const std::string& text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z')
      return c - 'A';
    if (c >= 'a' && c <= 'z')
      return c - 'a' + 26;
    if (c >= '0' && c <= '9')
      return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
  };
  std::string bytes;
  int bits = 0;
  uint32_t buffer = 0;
  for (char c : text) {
    if (c == '=')
      break;
    int v = value(c);
    BOOST_REQUIRE(v >= 0);
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  BOOST_REQUIRE(bytes.size() % 4 == 0);
  std::vector<float> out(bytes.size() / 4);
  for (size_t i = 0; i < out.size(); ++i) {
    uint32_t word = 0;
    for (int b = 3; b >= 0; --b)
      word = (word << 8) | static_cast<unsigned char>(bytes[i * 4 + b]);
    std::memcpy(&out[i], &word, sizeof word);
  }
  return out;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(server_embeddings, embeddings_fixture)

BOOST_AUTO_TEST_CASE(each_kind_that_embeds_answers_in_openais_shape) {
  struct kind {
    const char* provider;
    const char* upstream_model;
    const char* path;
  };
  for (auto& k : {
           kind{"oa", "emb-oa", "/v1/embeddings"},
           kind{"compat", "emb-compat", "/v1/embeddings"},
           kind{"gem", "emb-gem", "/v1beta/models/emb-gem:batchEmbedContents"},
           kind{"oll", "emb-oll", "/api/embed"},
           kind{"br", "amazon.titan-embed-text-v2:0",
                "/model/amazon.titan-embed-text-v2:0/invoke"},
       }) {
    BOOST_TEST_CONTEXT(k.provider) {
      auto r =
          embed(std::string{R"({"model": ")"} + k.provider +
                R"(", "input": ["the cat sat", "on the mat"], "user": "u1"})");
      BOOST_REQUIRE(r);
      BOOST_TEST(r->status == 200, r->body);
      BOOST_TEST(!r->get_header_value("x-tutti-run-id").empty());
      auto doc = json_of(r->body);
      BOOST_TEST(std::string{doc["object"].GetString()} == "list");
      BOOST_TEST(std::string{doc["model"].GetString()} == k.provider);
      BOOST_REQUIRE(doc["data"].Size() == 2u);
      for (rapidjson::SizeType i = 0; i < 2; ++i) {
        BOOST_TEST(std::string{doc["data"][i]["object"].GetString()} ==
                   "embedding");
        BOOST_TEST(doc["data"][i]["index"].GetInt() == static_cast<int>(i));
      }
      // The fake's vector of each text, in input order.
      BOOST_TEST(vector_at(doc, 0) == fake::fake_embedding("the cat sat", 0));
      BOOST_TEST(vector_at(doc, 1) == fake::fake_embedding("on the mat", 0));
      // Gemini's batchEmbedContents reports no usage.
      if (std::string{k.provider} != "gem")
        BOOST_TEST(doc["usage"]["prompt_tokens"].GetInt() > 0);
      BOOST_TEST(doc["usage"]["total_tokens"].GetInt() ==
                 doc["usage"]["prompt_tokens"].GetInt());
      auto arrived = arrivals_of(k.upstream_model);
      BOOST_REQUIRE(!arrived.empty());
      for (auto& a : arrived) {
        BOOST_TEST(a.path == k.path);
        BOOST_TEST(a.status == 200);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(titan_gets_one_call_per_text_in_order) {
  auto r = embed(R"({"model": "br", "input": ["one", "two", "three"]})");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 200, r->body);
  auto doc = json_of(r->body);
  BOOST_REQUIRE(doc["data"].Size() == 3u);
  BOOST_TEST(vector_at(doc, 2) == fake::fake_embedding("three", 0));
  auto arrived = arrivals_of("amazon.titan-embed-text-v2:0");
  BOOST_REQUIRE(arrived.size() == 3u);
  std::vector<std::string> bodies;
  for (auto& a : arrived) {
    bodies.push_back(a.body);
    BOOST_TEST(a.api_key); // signed
  }
  std::sort(bodies.begin(), bodies.end());
  BOOST_TEST(bodies == (std::vector<std::string>{R"({"inputText":"one"})",
                                                 R"({"inputText":"three"})",
                                                 R"({"inputText":"two"})"}));
}

BOOST_AUTO_TEST_CASE(a_large_request_goes_in_batches_answered_as_one) {
  std::string body = R"({"model": "oa", "input": [)";
  for (int i = 0; i < 300; ++i)
    body +=
        (i == 0 ? "" : ",") + std::string{"\"text "} + std::to_string(i) + "\"";
  body += "]}";
  auto r = embed(body);
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 200, r->body.substr(0, 300));
  auto doc = json_of(r->body);
  BOOST_REQUIRE(doc["data"].Size() == 300u);
  for (rapidjson::SizeType i : {0u, 255u, 256u, 299u}) {
    BOOST_TEST(doc["data"][i]["index"].GetUint() == i);
    BOOST_TEST(vector_at(doc, i) ==
               fake::fake_embedding("text " + std::to_string(i), 0));
  }
  // Two calls (256 and 44 texts); the usage is theirs summed.
  auto arrived = arrivals_of("emb-oa");
  BOOST_REQUIRE(arrived.size() == 2u);
  BOOST_TEST(doc["usage"]["prompt_tokens"].GetInt() == 600);
}

BOOST_AUTO_TEST_CASE(a_single_string_is_one_input) {
  auto r = embed(R"({"model": "oa", "input": "hello"})");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 200, r->body);
  auto doc = json_of(r->body);
  BOOST_TEST(doc["data"].Size() == 1u);
  auto arrived = arrivals_of("emb-oa");
  BOOST_REQUIRE(arrived.size() == 1u);
  BOOST_TEST(arrived[0].body == R"({"model":"emb-oa","input":["hello"]})");
}

BOOST_AUTO_TEST_CASE(dimensions_pass_through_where_the_vendor_has_them) {
  struct kind {
    const char* provider;
    const char* upstream_model;
    int dimensions;
    const char* sent;
  };
  for (auto& k : {
           kind{"oa", "emb-oa", 8, R"("dimensions":8)"},
           kind{"gem", "emb-gem", 8, R"("outputDimensionality":8)"},
           kind{"br", "amazon.titan-embed-text-v2:0", 256,
                R"("dimensions":256)"},
       }) {
    BOOST_TEST_CONTEXT(k.provider) {
      auto r = embed(std::string{R"({"model": ")"} + k.provider +
                     R"(", "input": ["x"], "dimensions": )" +
                     std::to_string(k.dimensions) + "}");
      BOOST_REQUIRE(r);
      BOOST_TEST(r->status == 200, r->body);
      auto doc = json_of(r->body);
      BOOST_TEST(vector_at(doc, 0).size() == static_cast<size_t>(k.dimensions));
      auto arrived = arrivals_of(k.upstream_model);
      BOOST_REQUIRE(!arrived.empty());
      BOOST_TEST(has(arrived.back().body, k.sent), arrived.back().body);
    }
  }
  // Ollama has no such field: the client hears so, nothing is sent.
  auto r = embed(R"({"model": "oll", "input": "x", "dimensions": 8})");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 400);
  BOOST_TEST(has(r->body, R"("param":"dimensions")"), r->body);
  BOOST_TEST(arrivals_of("emb-oll").empty());
}

BOOST_AUTO_TEST_CASE(base64_vectors_decode_to_the_float_ones) {
  auto floats = embed(R"({"model": "oa", "input": ["a b", "c"]})");
  auto packed = embed(
      R"({"model": "oa", "input": ["a b", "c"], "encoding_format": "base64"})");
  BOOST_REQUIRE(floats);
  BOOST_REQUIRE(packed);
  BOOST_TEST(packed->status == 200, packed->body);
  auto f = json_of(floats->body);
  auto p = json_of(packed->body);
  for (rapidjson::SizeType i = 0; i < 2; ++i) {
    BOOST_REQUIRE(p["data"][i]["embedding"].IsString());
    BOOST_TEST(floats_of_base64(p["data"][i]["embedding"].GetString()) ==
               vector_at(f, i));
  }
  // Upstream always gets floats.
  for (auto& a : arrivals_of("emb-oa"))
    BOOST_TEST(!has(a.body, "encoding_format"));
}

BOOST_AUTO_TEST_CASE(an_ensemble_is_refused_embeddings_are_asked_of_one) {
  for (auto* model : {"ensemble/e", "e", "ensemble/nope"}) {
    BOOST_TEST_CONTEXT(model) {
      auto r =
          embed(std::string{R"({"model": ")"} + model + R"(", "input": "x"})");
      BOOST_REQUIRE(r);
      BOOST_TEST(r->status == 400);
      BOOST_TEST(has(r->body, R"("param":"model")"), r->body);
      BOOST_TEST(has(r->body, "asked of one provider"), r->body);
    }
  }
  auto r = embed(R"({"model": "nobody", "input": "x"})");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 404);
  BOOST_TEST(has(r->body, "model_not_found"));
}

BOOST_AUTO_TEST_CASE(a_kind_without_embeddings_is_a_400) {
  auto r = embed(R"({"model": "claude", "input": "x"})");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 400);
  BOOST_TEST(has(r->body, R"("param":"model")"), r->body);
  BOOST_TEST(has(r->body, "no embeddings endpoint"), r->body);
  BOOST_TEST(upstream.arrivals().empty());
}

BOOST_AUTO_TEST_CASE(bad_input_is_a_400_naming_the_field) {
  struct bad {
    const char* body;
    const char* param;
  };
  for (auto& b : {
           bad{R"({"model": "oa"})", "input"},
           bad{R"({"input": "x"})", "model"},
           bad{R"({"model": "oa", "input": []})", "input"},
           bad{R"({"model": "oa", "input": [1, 2, 3]})", "input"},
           bad{R"({"model": "oa", "input": [[1, 2]]})", "input"},
           bad{R"({"model": "oa", "input": ["a", 7]})", "input"},
           bad{R"({"model": "oa", "input": ["a", true]})", "input[1]"},
           bad{R"({"model": "oa", "input": ["a", ""]})", "input[1]"},
           bad{R"({"model": "oa", "input": "x", "encoding_format": "hex"})",
               "encoding_format"},
           bad{R"({"model": "oa", "input": "x", "dimensions": 0})",
               "dimensions"},
           bad{R"({"model": "oa", "input": "x", "dimensions": 1.5})",
               "dimensions"},
           bad{R"({"model": "oa", "input": "x", "dimensions": 99999999})",
               "dimensions"},
           bad{R"({"model": "oa", "input": "x", "user": 5})", "user"},
       }) {
    BOOST_TEST_CONTEXT(b.body) {
      auto r = embed(b.body);
      BOOST_REQUIRE(r);
      BOOST_TEST(r->status == 400);
      BOOST_TEST(has(r->body, std::string{R"("param":")"} + b.param + "\""),
                 r->body);
    }
  }
  // Too many texts, and one too long.
  std::string many = R"({"model": "oa", "input": [)";
  for (size_t i = 0; i <= max_embedding_inputs; ++i)
    many += i == 0 ? R"("x")" : R"(,"x")";
  many += "]}";
  auto r = embed(many);
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 400);
  BOOST_TEST(has(r->body, "more than the 2048 allowed"), r->body);
  auto big = std::string(max_embedding_input_bytes + 1, 'a');
  r = embed(R"({"model": "oa", "input": [")" + big + R"("]})");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 400);
  BOOST_TEST(has(r->body, R"("param":"input[0]")"));
  BOOST_TEST(upstream.arrivals().empty());
}

BOOST_AUTO_TEST_CASE(an_upstream_429_is_a_429_with_its_retry_after) {
  auto r = embed(R"({"model": "limited", "input": "x"})");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 429);
  BOOST_TEST(r->get_header_value("Retry-After") == "7");
  BOOST_TEST(has(r->body, R"("type":"rate_limit_error")"), r->body);
  BOOST_TEST(has(r->body, "Rate limit reached for requests"), r->body);
  BOOST_TEST(has(r->body, "provider 'limited'"), r->body);
  BOOST_TEST(!has(r->body, "sk-emb"));
}

BOOST_AUTO_TEST_CASE(a_failed_call_is_retried_as_a_chat_call_is) {
  auto r = embed(R"({"model": "flaky", "input": "x"})");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 200, r->body);
  auto arrived = arrivals_of("flaky");
  BOOST_REQUIRE(arrived.size() == 2u);
  BOOST_TEST(arrived[0].status == 500);
  BOOST_TEST(arrived[1].status == 200);
  // The metrics count the call and its attempts.
  auto metrics = eng->metrics();
  bool found = false;
  for (auto& p : metrics.providers)
    if (p.provider == "flaky") {
      found = true;
      BOOST_TEST(p.calls == 1u);
      BOOST_TEST(p.attempts == 2u);
    }
  BOOST_TEST(found);
}

BOOST_AUTO_TEST_SUITE_END()

// The engine's own API, under the endpoint: the store and cancelling.

BOOST_AUTO_TEST_SUITE(engine_embeddings)

BOOST_AUTO_TEST_CASE(an_embeddings_request_is_stored_as_a_run_of_its_own) {
  fake::server upstream{fake::parse_script("default: {latency: 0ms}\n")};
  upstream.start();
  tutti::testing::store_place place{"sqlite"};
  auto eng = engine::from_yaml(
      "store: \"" + place.url() +
      "\"\nproviders:\n  oa: {kind: openai, model: emb, base_url: \"" +
      upstream.root_url() +
      "/v1\", api_key: k, price: {input_per_mtok: 1000}}\n");
  embed_options options;
  options.record.run_id = new_run_id();
  options.record.session = "s-1";
  std::promise<member_outcome> done;
  auto answer = done.get_future();
  eng.start_embed("oa", {"one two", "three"}, options,
                  [&](member_outcome o) { done.set_value(std::move(o)); });
  auto outcome = answer.get();
  BOOST_REQUIRE(outcome.ok);
  BOOST_TEST(outcome.model == "emb");
  BOOST_TEST(outcome.reply.embeddings.size() == 2u);
  BOOST_TEST(outcome.reply.usage.input_tokens == 3);
  BOOST_TEST(outcome.reply.cost_usd > 0);
  BOOST_REQUIRE(eng.flush_store(10s));
  auto run = place.open()->find(options.record.run_id);
  BOOST_REQUIRE(run);
  BOOST_TEST(run->kind == "embedding");
  BOOST_TEST(run->target_kind == "provider");
  BOOST_TEST(run->target == "oa");
  BOOST_TEST(run->status == "ok");
  // No turn of a conversation.
  BOOST_TEST(run->session.empty());
  BOOST_TEST(has(run->prompt, "one two"));
  BOOST_REQUIRE(run->calls.size() == 1u);
  BOOST_TEST(run->calls[0].provider == "oa");
  BOOST_TEST(run->calls[0].model == "emb");
  BOOST_TEST(run->calls[0].usage.input_tokens == 3);
}

BOOST_AUTO_TEST_CASE(a_cancelled_request_ends_at_once_with_its_calls) {
  fake::server upstream{fake::parse_script("models:\n  slow: {latency: 5s}\n")};
  upstream.start();
  auto eng = engine::from_yaml(
      "store: none\nproviders:\n  oa: {kind: openai, model: slow, base_url: "
      "\"" +
      upstream.root_url() + "/v1\"}\n");
  std::promise<member_outcome> done;
  auto answer = done.get_future();
  auto started = std::chrono::steady_clock::now();
  auto handle = eng.start_embed(
      "oa", {"a"}, {}, [&](member_outcome o) { done.set_value(std::move(o)); });
  // Time to reach the fake, which holds it for 5 s.
  std::this_thread::sleep_for(200ms);
  BOOST_TEST(eng.cancel(handle));
  auto outcome = answer.get();
  BOOST_TEST(!outcome.ok);
  BOOST_TEST(outcome.error.kind == failure_kind::cancelled);
  BOOST_CHECK(std::chrono::steady_clock::now() - started < 4s);
  BOOST_TEST(!eng.cancel(handle));
}

BOOST_AUTO_TEST_CASE(a_kind_without_embeddings_throws_before_anything_starts) {
  auto eng = engine::from_yaml(
      "store: none\nproviders:\n  c: {kind: anthropic, model: m, api_key: "
      "k}\n");
  BOOST_CHECK_THROW(eng.start_embed("c", {"a"}, {}, [](member_outcome) {}),
                    unsupported_request);
  BOOST_CHECK_THROW(eng.start_embed("nobody", {"a"}, {}, [](member_outcome) {}),
                    config_error);
}

BOOST_AUTO_TEST_SUITE_END()
