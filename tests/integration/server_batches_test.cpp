// /v1/batches over real sockets: the endpoint in-process on a free loopback
// port, an engine asking the fake upstream, batches started over HTTP and
// watched until they end; their failed rows, results and cancel.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include <httplib.h>
#include <rapidjson/document.h>

#include "tests/integration/endpoint_fixture.hpp"

using namespace tutti;
using namespace std::chrono_literals;
using tutti::testing::parse_json;
using tutti::testing::text_of;

namespace {

const char* upstream_script = R"(
models:
  fast:   {reply: "Paris."}
  broken: {fail: {status: 500, message: "Internal failure in the model"}}
  slow:   {reply: "Paris.", latency: 5s}
)";

std::string config_yaml(const std::string& base_url) {
  std::string yaml = "providers:\n";
  for (std::string m : {"fast", "broken", "slow"})
    yaml += "  " + m + ": {kind: openai, model: " + m + ", base_url: \"" +
            base_url + "\", api_key: sk-batch-test, retry: {attempts: 1}}\n";
  yaml += R"(pipelines:
  answer:
    inputs: [question]
    steps:
      reply: {call: fast, prompt: "{{input.question}}"}
    output: reply
  doomed:
    inputs: [question]
    steps:
      reply: {call: broken, prompt: "{{input.question}}"}
    output: reply
  sluggish:
    inputs: [question]
    steps:
      reply: {call: slow, prompt: "{{input.question}}"}
    output: reply
)";
  return yaml;
}

struct batches_fixture : tutti::testing::endpoint_fixture {
  batches_fixture()
      : endpoint_fixture(upstream_script, config_yaml, "batches.yaml") {}

  httplib::Client client() {
    httplib::Client c{"127.0.0.1", endpoint->port()};
    c.set_read_timeout(10s);
    return c;
  }

  /// GET `path` until `done(body)` holds (at most 10 s); the last body.
  rapidjson::Document
  poll(const std::string& path,
       const std::function<bool(const rapidjson::Document&)>& done) {
    auto until = std::chrono::steady_clock::now() + 10s;
    for (;;) {
      auto res = client().Get(path.c_str());
      BOOST_REQUIRE(res);
      BOOST_REQUIRE_EQUAL(res->status, 200);
      auto doc = parse_json(res->body);
      if (done(doc) || std::chrono::steady_clock::now() > until)
        return doc;
      std::this_thread::sleep_for(20ms);
    }
  }
};

bool ended(const rapidjson::Document& d) {
  return text_of(d["status"]) != "running";
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(server_batches, batches_fixture)

BOOST_AUTO_TEST_CASE(a_batch_runs_every_row_and_lists_the_rows_that_failed) {
  auto res = client().Post("/v1/batches", R"({"pipeline": "answer", "rows": [
      {"id": "a", "question": "Capital of France?"},
      {"id": 2, "inputs": {"question": "Capital of Italy?"}},
      {"id": "no-input", "other": 1},
      {"id": "d", "question": "Capital of Spain?"}], "concurrency": 2})",
                           "application/json");
  BOOST_REQUIRE(res);
  BOOST_REQUIRE_EQUAL(res->status, 202);
  auto started = parse_json(res->body);
  auto id = text_of(started["id"]);
  BOOST_TEST(id.rfind("batch_", 0) == 0u);
  BOOST_TEST(res->get_header_value("Location") == "/v1/batches/" + id);
  BOOST_TEST(started["rows"].GetUint64() == 4u);

  auto batch = poll("/v1/batches/" + id, ended);
  BOOST_TEST(text_of(batch["status"]) == "completed");
  BOOST_TEST(batch["done"].GetUint64() == 4u);
  BOOST_TEST(batch["ok"].GetUint64() == 3u);
  BOOST_TEST(batch["invalid"].GetUint64() == 1u);
  BOOST_TEST(batch["in_flight"].GetUint64() == 0u);
  BOOST_TEST(batch["eta_ms"].IsNull());
  BOOST_TEST(batch["failures_by_kind"]["bad_input"].GetUint64() == 1u);
  BOOST_REQUIRE_EQUAL(batch["failed_rows"].Size(), 1u);
  auto& bad = batch["failed_rows"][0];
  BOOST_TEST(bad["line"].GetUint64() == 3u);
  BOOST_TEST(text_of(bad["id"]) == "no-input");
  BOOST_TEST(text_of(bad["status"]) == "invalid");
  BOOST_TEST(text_of(bad["kind"]) == "bad_input");
  BOOST_TEST(text_of(bad["message"]).find("question") != std::string::npos);
  // Named as the request's rows, never by the server's own files.
  BOOST_TEST(text_of(bad["message"]).rfind("rows:3: ", 0) == 0u);
  BOOST_TEST(text_of(bad["message"]).find("/tmp") == std::string::npos);

  // The results, one line per row, as tutti batch writes them.
  auto results = client().Get(("/v1/batches/" + id + "/results").c_str());
  BOOST_REQUIRE(results);
  BOOST_TEST(results->status == 200);
  BOOST_TEST(results->get_header_value("Content-Type") ==
             "application/x-ndjson");
  size_t lines = 0;
  for (char c : results->body)
    lines += c == '\n';
  BOOST_TEST(lines == 4u);
  BOOST_TEST(results->body.find("\"answer\":\"Paris.\"") != std::string::npos);

  // Listed, newest first.
  auto list = parse_json(client().Get("/v1/batches")->body);
  BOOST_REQUIRE_EQUAL(list["data"].Size(), 1u);
  BOOST_TEST(text_of(list["data"][0]["id"]) == id);
}

BOOST_AUTO_TEST_CASE(failed_rows_carry_the_kind_and_the_vendors_message) {
  auto res = client().Post(
      "/v1/batches",
      R"({"pipeline": "doomed", "rows": [{"question": "a"}, {"question": "b"}]})",
      "application/json");
  BOOST_REQUIRE(res);
  BOOST_REQUIRE_EQUAL(res->status, 202);
  auto id = text_of(parse_json(res->body)["id"]);
  auto batch = poll("/v1/batches/" + id, ended);
  BOOST_TEST(text_of(batch["status"]) == "completed");
  BOOST_TEST(batch["failed"].GetUint64() == 2u);
  BOOST_TEST(batch["failures_by_kind"]["server"].GetUint64() == 2u);
  BOOST_REQUIRE_EQUAL(batch["failed_rows"].Size(), 2u);
  BOOST_TEST(text_of(batch["failed_rows"][0]["kind"]) == "server");
  BOOST_TEST(
      text_of(batch["failed_rows"][0]["message"]).find("Internal failure") !=
      std::string::npos);
  BOOST_TEST(batch["failed_rows_total"].GetUint64() == 2u);
}

BOOST_AUTO_TEST_CASE(a_running_batch_shows_its_progress_and_is_cancelled) {
  std::string rows;
  for (int i = 0; i < 6; ++i)
    rows += std::string{i ? "," : ""} + R"({"question": "q)" +
            std::to_string(i) + "\"}";
  auto res = client().Post(
      "/v1/batches",
      R"({"pipeline": "sluggish", "concurrency": 2, "rows": [)" + rows + "]}",
      "application/json");
  BOOST_REQUIRE(res);
  BOOST_REQUIRE_EQUAL(res->status, 202);
  auto id = text_of(parse_json(res->body)["id"]);
  auto running = poll("/v1/batches/" + id,
                      [](auto& d) { return d["in_flight"].GetUint64() == 2u; });
  BOOST_TEST(text_of(running["status"]) == "running");
  BOOST_TEST(running["done"].GetUint64() == 0u);
  auto gone = client().Delete(("/v1/batches/" + id).c_str());
  BOOST_REQUIRE(gone);
  BOOST_TEST(gone->status == 200);
  auto cancelled = parse_json(gone->body);
  BOOST_TEST(text_of(cancelled["status"]) == "cancelled");
  BOOST_TEST(cancelled["in_flight"].GetUint64() == 0u);
  BOOST_TEST(cancelled["done"].GetUint64() < 6u);
}

BOOST_AUTO_TEST_CASE(a_bad_request_is_refused_with_what_is_wrong) {
  auto post = [&](const std::string& body) {
    auto res = client().Post("/v1/batches", body, "application/json");
    BOOST_REQUIRE(res);
    return std::make_pair(res->status, res->body);
  };
  auto [unknown, unknown_body] =
      post(R"({"pipeline": "nope", "rows": [{"question": "a"}]})");
  BOOST_TEST(unknown == 404);
  BOOST_TEST(unknown_body.find("pipeline_not_found") != std::string::npos);
  auto [empty, empty_body] = post(R"({"pipeline": "answer", "rows": []})");
  BOOST_TEST(empty == 400);
  BOOST_TEST(empty_body.find("\"param\":\"rows\"") != std::string::npos);
  auto [scalar, scalar_body] =
      post(R"({"pipeline": "answer", "rows": ["question"]})");
  BOOST_TEST(scalar == 400);
  BOOST_TEST(scalar_body.find("rows[0]") != std::string::npos);
  auto [wide, wide_body] = post(
      R"({"pipeline": "answer", "rows": [{"question": "a"}], "concurrency": 0})");
  BOOST_TEST(wide == 400);
  auto missing = client().Get("/v1/batches/batch_000000000000000000000000");
  BOOST_REQUIRE(missing);
  BOOST_TEST(missing->status == 404);
  BOOST_TEST(missing->body.find("batch_not_found") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
