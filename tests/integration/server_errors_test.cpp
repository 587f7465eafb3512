// Errors over HTTP mean what they say: a provider asked alone answers with
// the vendor's status (401, 400, 404, 429 with Retry-After, 5xx) or the one
// that says what happened (504 for a timeout), an OpenAI-shaped body naming
// provider and kind; an ensemble without an answer is a 502 that tells
// OpenAI's SDKs not to retry; every whole answer carries the ensemble's
// status and member counts in headers for clients that drop the body.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>

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
