// Every codec's embeddings, as each vendor's wire has them: which kinds
// embed and what they can choose, the exact URL and body each sends (OpenAI
// and its copies' /embeddings, Gemini's batchEmbedContents, Ollama's
// /api/embed, Bedrock's InvokeModel of Titan Text Embeddings), the vectors
// and usage each reads back, and hostile or broken replies, which are a
// `protocol` failure that says what is wrong, never a crash.

#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "tutti/codec.hpp"
#include "tutti/registry.hpp"

using namespace tutti;

namespace {

std::unique_ptr<codec> make(const std::string& kind) {
  auto c = registry::builtin().make_codec(kind);
  BOOST_REQUIRE_MESSAGE(c != nullptr, "no codec " << kind);
  return c;
}

provider_settings settings(const std::string& kind, const std::string& model,
                           const std::string& base_url = {}) {
  provider_settings p;
  p.name = "p";
  p.kind = kind;
  p.model = model;
  p.base_url = base_url;
  p.api_key = "sk-test";
  return p;
}

embedding_request texts(std::vector<std::string> inputs,
                        int64_t dimensions = 0) {
  embedding_request req;
  req.inputs = std::move(inputs);
  req.dimensions = dimensions;
  return req;
}

const std::string* header(const http_request& r, const std::string& name) {
  return find_header(r.headers, name);
}

/// The vectors of a decoded reply; fails the test on a failure.
completion vectors_of(const body_result& result) {
  if (auto* f = std::get_if<failure>(&result)) {
    BOOST_FAIL("expected vectors, got " << to_string(f->kind) << ": "
                                        << f->message);
  }
  return std::get<completion>(result);
}

/// The failure of a decoded reply; fails the test on vectors.
failure failure_of(const body_result& result) {
  BOOST_REQUIRE_MESSAGE(std::holds_alternative<failure>(result),
                        "expected a failure, got vectors");
  return std::get<failure>(result);
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(capabilities)

BOOST_AUTO_TEST_CASE(kinds_that_embed_say_so_and_anthropic_does_not) {
  for (auto* kind : {"openai", "openai-compatible", "azure-openai", "gemini",
                     "ollama", "bedrock"}) {
    BOOST_TEST_CONTEXT(kind) {
      BOOST_TEST(make(kind)->takes_embeddings());
    }
  }
  BOOST_TEST(!make("anthropic")->takes_embeddings());
}

BOOST_AUTO_TEST_CASE(dimensions_go_only_where_the_vendor_has_them) {
  for (auto* kind :
       {"openai", "openai-compatible", "azure-openai", "gemini", "bedrock"}) {
    BOOST_TEST_CONTEXT(kind) {
      BOOST_TEST(make(kind)->takes_embedding_dimensions());
    }
  }
  BOOST_TEST(!make("ollama")->takes_embedding_dimensions());
  BOOST_TEST(!make("anthropic")->takes_embedding_dimensions());
}

BOOST_AUTO_TEST_CASE(titan_takes_one_text_a_call_the_others_batches) {
  BOOST_TEST(make("bedrock")->max_embedding_batch() == 1u);
  // Batches whose replies stay within the body limit, and Gemini's own.
  BOOST_TEST(make("openai")->max_embedding_batch() == 256u);
  BOOST_TEST(make("azure-openai")->max_embedding_batch() == 256u);
  BOOST_TEST(make("gemini")->max_embedding_batch() == 100u);
  BOOST_TEST(make("ollama")->max_embedding_batch() == 256u);
}

BOOST_AUTO_TEST_CASE(a_kind_without_embeddings_decodes_nothing) {
  auto result = make("anthropic")->decode_embedding("{}", texts({"a"}));
  BOOST_TEST(failure_of(result).kind == failure_kind::bad_request);
}

BOOST_AUTO_TEST_CASE(the_embedding_model_replaces_the_model_when_set) {
  auto p = settings("openai", "gpt-4o-mini");
  BOOST_TEST(embedding_model_of(p) == "gpt-4o-mini");
  p.embedding_model = "text-embedding-3-small";
  BOOST_TEST(embedding_model_of(p) == "text-embedding-3-small");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(openai_wire)

BOOST_AUTO_TEST_CASE(sends_model_inputs_and_dimensions_to_embeddings) {
  auto c = make("openai");
  auto p = settings("openai", "gpt-4o-mini");
  p.embedding_model = "text-embedding-3-small";
  auto r = c->encode_embedding(texts({"hello", "wörld \"q\""}, 256), p);
  BOOST_TEST(r.method == "POST");
  BOOST_TEST(r.url == "https://api.openai.com/v1/embeddings");
  BOOST_TEST(
      r.body ==
      R"({"model":"text-embedding-3-small","input":["hello","wörld \"q\""],"dimensions":256})");
  BOOST_REQUIRE(header(r, "authorization") != nullptr);
  BOOST_TEST(*header(r, "authorization") == "Bearer sk-test");
  BOOST_TEST(*header(r, "content-type") == "application/json");
}

BOOST_AUTO_TEST_CASE(leaves_dimensions_out_when_none_are_asked) {
  auto r = make("openai-compatible")
               ->encode_embedding(texts({"x"}),
                                  settings("openai-compatible", "nomic",
                                           "http://127.0.0.1:9/v1/"));
  BOOST_TEST(r.url == "http://127.0.0.1:9/v1/embeddings");
  BOOST_TEST(r.body == R"({"model":"nomic","input":["x"]})");
}

BOOST_AUTO_TEST_CASE(azure_takes_its_api_version_and_key_header) {
  auto p = settings("azure-openai", "emb",
                    "https://r.openai.azure.com/openai/deployments/emb");
  auto r = make("azure-openai")->encode_embedding(texts({"x"}), p);
  BOOST_TEST(r.url == "https://r.openai.azure.com/openai/deployments/emb/"
                      "embeddings?api-version=2024-10-21");
  BOOST_REQUIRE(header(r, "api-key") != nullptr);
  BOOST_TEST(*header(r, "api-key") == "sk-test");
}

BOOST_AUTO_TEST_CASE(reads_vectors_by_index_and_usage) {
  auto body = R"({"object":"list","data":[
      {"object":"embedding","index":1,"embedding":[0.5,-0.25]},
      {"object":"embedding","index":0,"embedding":[1,0]}],
      "model":"text-embedding-3-small",
      "usage":{"prompt_tokens":7,"total_tokens":7}})";
  auto done =
      vectors_of(make("openai")->decode_embedding(body, texts({"a", "b"})));
  BOOST_REQUIRE(done.embeddings.size() == 2u);
  BOOST_TEST(done.embeddings[0] == (std::vector<float>{1.0f, 0.0f}));
  BOOST_TEST(done.embeddings[1] == (std::vector<float>{0.5f, -0.25f}));
  BOOST_TEST(done.usage.input_tokens == 7);
  BOOST_TEST(done.usage.output_tokens == 0);
}

BOOST_AUTO_TEST_CASE(hostile_replies_are_protocol_failures_that_say_why) {
  auto c = make("openai");
  struct bad {
    const char* body;
    const char* says;
  };
  for (
      auto& b : {
          bad{R"({"data":[{"embedding":[1,2]}]})", "1 vectors for 2 inputs"},
          bad{R"({"data":{}})", "no data array"},
          bad{R"({"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[1]}]})",
              "given twice"},
          bad{R"({"data":[{"index":5,"embedding":[1]},{"index":0,"embedding":[1]}]})",
              "out of range"},
          bad{R"({"data":[{"index":-1,"embedding":[1]},{"index":0,"embedding":[1]}]})",
              "out of range"},
          bad{R"({"data":[{"embedding":"AACAPw=="},{"embedding":[1]}]})",
              "not an array"},
          bad{R"({"data":[{"embedding":[1,"2"]},{"embedding":[1,2]}]})",
              "not a number"},
          bad{R"({"data":[{"embedding":[1e39]},{"embedding":[1]}]})",
              "beyond a float"},
          bad{R"({"data":[{"embedding":[1e999]},{"embedding":[1]}]})",
              "too big"},
          bad{R"({"data":[{"embedding":[NaN]},{"embedding":[1]}]})", "JSON"},
          bad{R"({"data":[{"embedding":[1,2]},{"embedding":[1]}]})",
              "different lengths"},
          bad{R"({"data":[{"embedding":[]},{"embedding":[]}]})",
              "empty vector"},
          bad{R"({"data":[{"object":"embedding"},{"embedding":[1]}]})",
              "no embedding"},
          bad{R"([1,2])", "JSON object"},
          bad{R"({"data":[{"embedding":[1)", "JSON"},
      }) {
    BOOST_TEST_CONTEXT(b.body) {
      auto f = failure_of(c->decode_embedding(b.body, texts({"a", "b"})));
      BOOST_TEST(f.kind == failure_kind::protocol);
      BOOST_TEST(has(f.message, b.says), f.message);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_vector_longer_than_any_model_is_refused) {
  std::string body = R"({"data":[{"embedding":[)";
  for (int64_t i = 0; i <= max_embedding_dimensions; ++i)
    body += i == 0 ? "0" : ",0";
  body += "]}]}";
  auto f = failure_of(make("openai")->decode_embedding(body, texts({"a"})));
  BOOST_TEST(f.kind == failure_kind::protocol);
  BOOST_TEST(has(f.message, "more than 65536"), f.message);
}

BOOST_AUTO_TEST_CASE(vectors_of_another_length_than_asked_are_refused) {
  auto f = failure_of(make("openai")->decode_embedding(
      R"({"data":[{"embedding":[1,0,0]}]})", texts({"a"}, 2)));
  BOOST_TEST(has(f.message, "3 dimensions where 2 were asked"), f.message);
}

BOOST_AUTO_TEST_CASE(an_error_body_keeps_the_vendors_words) {
  auto f = failure_of(make("openai")->decode_embedding(
      R"({"error":{"message":"This model does not support dimensions","type":"invalid_request_error"}})",
      texts({"a"})));
  BOOST_TEST(has(f.message, "does not support dimensions"), f.message);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(gemini)

BOOST_AUTO_TEST_CASE(sends_one_request_per_text_to_batch_embed_contents) {
  auto p = settings("gemini", "gemini-2.0-flash");
  p.embedding_model = "models/text-embedding-004";
  auto r = make("gemini")->encode_embedding(texts({"a", "b"}, 128), p);
  BOOST_TEST(r.url == "https://generativelanguage.googleapis.com/v1beta/"
                      "models/text-embedding-004:batchEmbedContents");
  BOOST_TEST(
      r.body ==
      R"({"requests":[{"model":"models/text-embedding-004","content":{"parts":[{"text":"a"}]},"outputDimensionality":128},)"
      R"({"model":"models/text-embedding-004","content":{"parts":[{"text":"b"}]},"outputDimensionality":128}]})");
  BOOST_REQUIRE(header(r, "x-goog-api-key") != nullptr);
  BOOST_TEST(*header(r, "x-goog-api-key") == "sk-test");
}

BOOST_AUTO_TEST_CASE(reads_values_in_order_and_usage_when_given) {
  auto c = make("gemini");
  auto done = vectors_of(c->decode_embedding(
      R"({"embeddings":[{"values":[0.1,0.2]},{"values":[0.3,0.4]}],"usageMetadata":{"promptTokenCount":3}})",
      texts({"a", "b"})));
  BOOST_REQUIRE(done.embeddings.size() == 2u);
  BOOST_TEST(done.embeddings[1] == (std::vector<float>{0.3f, 0.4f}));
  BOOST_TEST(done.usage.input_tokens == 3);
  auto f = failure_of(c->decode_embedding(
      R"({"embeddings":[{"values":[0.1]}]})", texts({"a", "b"})));
  BOOST_TEST(has(f.message, "1 vectors for 2 inputs"), f.message);
  f = failure_of(
      c->decode_embedding(R"({"embeddings":[{"value":[0.1]}]})", texts({"a"})));
  BOOST_TEST(has(f.message, "no values"), f.message);
  f = failure_of(c->decode_embedding(
      R"({"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}})",
      texts({"a"})));
  BOOST_TEST(f.kind == failure_kind::rate_limited);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(ollama)

BOOST_AUTO_TEST_CASE(sends_model_and_inputs_to_api_embed) {
  auto p = settings("ollama", "llama3.2", "http://127.0.0.1:11434");
  p.embedding_model = "nomic-embed-text";
  p.api_key.clear();
  p.options["keep_alive"] = "-1";
  auto r = make("ollama")->encode_embedding(texts({"a", "b"}), p);
  BOOST_TEST(r.url == "http://127.0.0.1:11434/api/embed");
  BOOST_TEST(
      r.body ==
      R"({"model":"nomic-embed-text","input":["a","b"],"keep_alive":-1})");
  BOOST_TEST(header(r, "authorization") == nullptr);
}

BOOST_AUTO_TEST_CASE(reads_embeddings_and_prompt_eval_count) {
  auto c = make("ollama");
  auto done = vectors_of(c->decode_embedding(
      R"({"model":"nomic-embed-text","embeddings":[[0.1,0.2],[0.3,0.4]],"total_duration":1,"prompt_eval_count":4})",
      texts({"a", "b"})));
  BOOST_TEST(done.embeddings[0] == (std::vector<float>{0.1f, 0.2f}));
  BOOST_TEST(done.usage.input_tokens == 4);
  auto f = failure_of(c->decode_embedding(R"({"embeddings":[[0.1],[0.3,0.4]]})",
                                          texts({"a", "b"})));
  BOOST_TEST(has(f.message, "different lengths"), f.message);
  f = failure_of(c->decode_embedding(R"({"error":"model \"x\" not found"})",
                                     texts({"a"})));
  BOOST_TEST(has(f.message, "not found"), f.message);
  f = failure_of(
      c->decode_embedding(R"({"embeddings":[{"a":1}]})", texts({"a"})));
  BOOST_TEST(has(f.message, "not an array"), f.message);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(bedrock)

provider_settings titan() {
  auto p = settings("bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0");
  p.api_key.clear();
  p.embedding_model = "amazon.titan-embed-text-v2:0";
  p.options["region"] = "us-east-1";
  p.options["access_key_id"] = "AKIDEXAMPLE";
  p.options["secret_access_key"] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  return p;
}

BOOST_AUTO_TEST_CASE(invokes_titan_with_one_text_signed) {
  auto c = make("bedrock");
  auto p = titan();
  auto r = c->encode_embedding(texts({"hello"}, 256), p);
  BOOST_TEST(r.url == "https://bedrock-runtime.us-east-1.amazonaws.com/model/"
                      "amazon.titan-embed-text-v2%3A0/invoke");
  BOOST_TEST(r.body == R"({"inputText":"hello","dimensions":256})");
  c->sign(r, p, 1'700'000'000'000);
  BOOST_REQUIRE(header(r, "authorization") != nullptr);
  BOOST_TEST(has(*header(r, "authorization"),
                 "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/"
                 "bedrock/aws4_request"));
  BOOST_TEST(c->encode_embedding(texts({"x"}), p).body ==
             R"({"inputText":"x"})");
}

BOOST_AUTO_TEST_CASE(reads_the_embedding_and_its_token_count) {
  auto c = make("bedrock");
  auto done = vectors_of(c->decode_embedding(
      R"({"embedding":[0.5,0.5],"inputTextTokenCount":2,"embeddingsByType":{"float":[0.5,0.5]}})",
      texts({"hello"})));
  BOOST_TEST(done.embeddings[0] == (std::vector<float>{0.5f, 0.5f}));
  BOOST_TEST(done.usage.input_tokens == 2);
  auto f = failure_of(
      c->decode_embedding(R"({"message":"Internal failure"})", texts({"x"})));
  BOOST_TEST(f.kind == failure_kind::server);
  f = failure_of(c->decode_embedding(R"({"embedding":{}})", texts({"x"})));
  BOOST_TEST(f.kind == failure_kind::protocol);
  f = failure_of(
      c->decode_embedding(R"({"embedding":[0.5]})", texts({"x"}, 256)));
  BOOST_TEST(has(f.message, "1 dimensions where 256 were asked"), f.message);
}

BOOST_AUTO_TEST_SUITE_END()
