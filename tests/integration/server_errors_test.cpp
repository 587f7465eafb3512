// Errors over HTTP mean what they say: a provider asked alone answers with
// the vendor's status (401, 400, 404, 429 with Retry-After, 5xx) or the one
// that says what happened (504 for a timeout), an OpenAI-shaped body naming
// provider and kind; an ensemble without an answer is a 502 that tells
// OpenAI's SDKs not to retry; every whole answer carries the ensemble's
// status and member counts in headers for clients that drop the body.
// And browsers: pages of a configured origin get their preflight answered
// and may read those headers (CORS); other origins get nothing of it.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>
#include <tuple>
#include <vector>

#include <httplib.h>

#include "tests/integration/fake_upstream_fixture.hpp"
#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/engine.hpp"
#include "tutti/server.hpp"

using namespace tutti;
using namespace std::chrono_literals;

namespace {

const char* upstream_script = R"(
models:
  fine: {reply: "Paris."}
  limited: {fail: {status: 429, retry_after: 7, message: "Rate limit reached for requests"}}
  badkey: {fail: {status: 401, message: "Incorrect API key provided", code: invalid_api_key}}
  refused: {fail: {status: 403, message: "Project does not have access"}}
  bad: {fail: {status: 400, message: "Unknown parameter: 'foo'"}}
  gone: {fail: {status: 404, message: "The model does not exist"}}
  broken: {fail: {status: 500, message: "The server had an error"}}
  busy: {fail: {status: 503, message: "The server is overloaded"}}
  slow: {reply: "Paris.", latency: 2s}
)";

struct errors_fixture {
  fake::server upstream{fake::parse_script(upstream_script)};
  std::unique_ptr<engine> eng;
  std::unique_ptr<tutti::server> endpoint;
  std::unique_ptr<httplib::Client> client;

  errors_fixture() {
    upstream.start();
    std::string yaml = "store: none\nproviders:\n";
    for (auto* m : {"fine", "limited", "badkey", "refused", "bad", "gone",
                    "broken", "busy", "slow"})
      yaml += std::string{"  "} + m + ": {kind: openai, model: " + m +
              ", base_url: \"" + upstream.base_url() +
              "\", api_key: sk-errors, retry: {attempts: 1}, timeouts: "
              "{total: 300ms}}\n";
    yaml += "ensembles:\n"
            "  mixed: {members: [fine, broken], combine: first}\n"
            "  doomed: {members: [broken, bad]}\n";
    eng = std::make_unique<engine>(engine::from_yaml(yaml));
    server_options options;
    options.port = 0;
    endpoint = std::make_unique<tutti::server>(*eng, options);
    endpoint->start();
    client = std::make_unique<httplib::Client>("127.0.0.1", endpoint->port());
    client->set_read_timeout(10s);
  }

  httplib::Result chat(const std::string& model) {
    return client->Post(
        "/v1/chat/completions",
        R"({"model": ")" + model +
            R"(", "messages": [{"role": "user", "content": "Capital?"}]})",
        "application/json");
  }
};

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(server_errors, errors_fixture)

BOOST_AUTO_TEST_CASE(a_provider_alone_answers_with_the_vendors_status) {
  struct expectation {
    const char* model;
    int status;
    const char* type;
    const char* code;
  };
  for (auto& e : {
           expectation{"badkey", 401, "authentication_error", "auth"},
           expectation{"refused", 403, "permission_error", "auth"},
           expectation{"bad", 400, "invalid_request_error", "bad_request"},
           expectation{"gone", 404, "invalid_request_error", "bad_request"},
           expectation{"limited", 429, "rate_limit_error", "rate_limited"},
           expectation{"broken", 500, "upstream_error", "server"},
           expectation{"busy", 503, "upstream_error", "overloaded"},
           expectation{"slow", 504, "upstream_error", "timeout_total"},
       }) {
    BOOST_TEST_CONTEXT(e.model) {
      auto r = chat(e.model);
      BOOST_REQUIRE(r);
      BOOST_CHECK_EQUAL(r->status, e.status);
      BOOST_CHECK(has(r->body, std::string{R"("type":")"} + e.type + "\""));
      BOOST_CHECK(has(r->body, std::string{R"("code":")"} + e.code + "\""));
      BOOST_CHECK(has(r->body, std::string{"provider '"} + e.model + "'"));
      BOOST_CHECK(!r->get_header_value("x-tutti-run-id").empty());
      BOOST_CHECK_EQUAL(r->get_header_value("x-tutti-status"), "failed");
      // The vendor's own status: the client's SDK retries as it would there.
      BOOST_CHECK(!r->has_header("x-should-retry"));
      if (e.status == 429) {
        BOOST_CHECK_EQUAL(r->get_header_value("Retry-After"), "7");
        BOOST_CHECK(has(r->body, "Rate limit reached for requests"));
      }
    }
  }
  // The key never shows.
  BOOST_CHECK(!has(chat("badkey")->body, "sk-errors"));
}

BOOST_AUTO_TEST_CASE(an_ensemble_reports_its_status_in_headers) {
  auto partial = chat("ensemble/mixed");
  BOOST_REQUIRE(partial);
  BOOST_CHECK_EQUAL(partial->status, 200);
  BOOST_CHECK(!partial->get_header_value("x-tutti-run-id").empty());
  // `first` answers with fine and cancels broken, or lists broken's 500.
  auto status = partial->get_header_value("x-tutti-status");
  BOOST_CHECK(status == "ok" || status == "partial");
  BOOST_CHECK_EQUAL(partial->get_header_value("x-tutti-members-ok"), "1");
  BOOST_CHECK_EQUAL(partial->get_header_value("x-tutti-members-failed"), "1");

  auto doomed = chat("ensemble/doomed");
  BOOST_REQUIRE(doomed);
  BOOST_CHECK_EQUAL(doomed->status, 502);
  BOOST_CHECK(has(doomed->body, R"("code":"ensemble_failed")"));
  BOOST_CHECK_EQUAL(doomed->get_header_value("x-should-retry"), "false");
  BOOST_CHECK_EQUAL(doomed->get_header_value("x-tutti-status"), "failed");
  BOOST_CHECK_EQUAL(doomed->get_header_value("x-tutti-members-ok"), "0");
  BOOST_CHECK_EQUAL(doomed->get_header_value("x-tutti-members-failed"), "2");

  auto whole = chat("fine");
  BOOST_REQUIRE(whole);
  BOOST_CHECK_EQUAL(whole->status, 200);
  BOOST_CHECK_EQUAL(whole->get_header_value("x-tutti-status"), "ok");
  BOOST_CHECK_EQUAL(whole->get_header_value("x-tutti-members-ok"), "1");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(cors)

BOOST_AUTO_TEST_CASE(a_configured_origin_may_call_from_a_browser) {
  fake::server upstream{fake::parse_script(upstream_script)};
  upstream.start();
  auto eng = engine::from_yaml(
      "store: none\nproviders:\n  fine: {kind: openai, model: fine, "
      "base_url: \"" +
      upstream.base_url() + "\", api_key: k}\n");
  server_options options;
  options.port = 0;
  options.token = "cors-test-token";
  options.cors_origins = {"https://app.example.com"};
  tutti::server endpoint{eng, options};
  endpoint.start();
  httplib::Client client{"127.0.0.1", endpoint.port()};
  client.set_read_timeout(10s);
  const std::string app = "https://app.example.com";

  // The preflight needs no token, and asks for the SDK's own headers.
  auto preflight =
      client.Options("/v1/chat/completions",
                     {{"Origin", app},
                      {"Access-Control-Request-Method", "POST"},
                      {"Access-Control-Request-Headers",
                       "authorization, content-type, x-stainless-os"}});
  BOOST_REQUIRE(preflight);
  BOOST_CHECK_EQUAL(preflight->status, 204);
  BOOST_CHECK_EQUAL(preflight->get_header_value("Access-Control-Allow-Origin"),
                    app);
  BOOST_CHECK(
      has(preflight->get_header_value("Access-Control-Allow-Methods"), "POST"));
  BOOST_CHECK(has(preflight->get_header_value("Access-Control-Allow-Headers"),
                  "x-stainless-os"));

  httplib::Headers from_app = {{"Origin", app},
                               {"Authorization", "Bearer cors-test-token"}};
  auto answer = client.Post(
      "/v1/chat/completions", from_app,
      R"({"model": "fine", "messages": [{"role": "user", "content": "Hi"}]})",
      "application/json");
  BOOST_REQUIRE(answer);
  BOOST_CHECK_EQUAL(answer->status, 200);
  BOOST_CHECK_EQUAL(answer->get_header_value("Access-Control-Allow-Origin"),
                    app);
  BOOST_CHECK(has(answer->get_header_value("Access-Control-Expose-Headers"),
                  "x-tutti-status"));
  // An error answered before the route runs carries them too.
  auto refused = client.Get("/v1/models", {{"Origin", app}});
  BOOST_REQUIRE(refused);
  BOOST_CHECK_EQUAL(refused->status, 401);
  BOOST_CHECK_EQUAL(refused->get_header_value("Access-Control-Allow-Origin"),
                    app);

  // Another origin: no preflight, no CORS headers.
  httplib::Headers from_elsewhere = {
      {"Origin", "https://evil.example"},
      {"Authorization", "Bearer cors-test-token"}};
  auto other = client.Options("/v1/chat/completions",
                              {{"Origin", "https://evil.example"}});
  BOOST_REQUIRE(other);
  BOOST_CHECK_NE(other->status, 204);
  BOOST_CHECK(!other->has_header("Access-Control-Allow-Origin"));
  auto models = client.Get("/v1/models", from_elsewhere);
  BOOST_REQUIRE(models);
  BOOST_CHECK(!models->has_header("Access-Control-Allow-Origin"));
  endpoint.stop();
}

BOOST_AUTO_TEST_CASE(any_origin_needs_a_token_and_origins_are_checked) {
  auto eng = engine::from_yaml("store: none\nproviders:\n  fine: {kind: "
                               "openai, model: fine, api_key: k}\n");
  for (auto& [origins, token, why] : std::vector<
           std::tuple<std::vector<std::string>, std::string, std::string>>{
           {{"*"}, "", "needs a token"},
           {{"app.example.com"}, "t", "is not an origin"},
           {{"https://app.example.com/path"}, "t", "is not an origin"},
       }) {
    server_options options;
    options.port = 0;
    options.token = token;
    options.cors_origins = origins;
    try {
      tutti::server endpoint{eng, options};
      endpoint.start();
      BOOST_ERROR("expected a server_error for " << origins.at(0));
    } catch (const server_error& e) {
      BOOST_CHECK_MESSAGE(has(e.what(), why), e.what());
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
