// `tutti batch` end to end: the real binary as a subprocess against the fake
// upstream on loopback, its results file read back. The crash test kills it
// with SIGKILL at random moments and resumes each time; whatever the moment,
// every input row must end up with exactly one result.

#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <rapidjson/document.h>

#include "tests/integration/fake_upstream_fixture.hpp"
#include "tests/integration/tutti_process.hpp"
#include "tools/fake_llm/fake_llm.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using tutti::testing::environment;
using tutti::testing::run_result;
using tutti::testing::tutti_process;

namespace {

const char* upstream_script = R"(
models:
  quick-model: {latency: 20ms}
  other-model: {latency: 25ms}
  busy-model:  {fail: {status: 503, message: "The server is overloaded"}}
  slow-model:  {latency: 300ms}
  stuck-model: {latency: 20s}
  flaky-model: {fail: {status: 503, times: 3}}
)";

// `quick` and `other` echo their question, so each row's answer names
// its row whichever comes first.
const char* config_text = R"(providers:
  quick:
    kind: openai
    model: quick-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: sk-batch-test
    price: {input_per_mtok: 1.0, output_per_mtok: 2.0}
  other:
    kind: openai
    model: other-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: sk-batch-test
  busy:
    kind: openai
    model: busy-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: sk-batch-test
    retry: {attempts: 1}
  slow:
    kind: openai
    model: slow-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: sk-batch-test
  stuck:
    kind: openai
    model: stuck-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: sk-batch-test
  flaky:
    kind: openai
    model: flaky-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: sk-batch-test
    retry: {attempts: 1}
ensembles:
  pair:
    members: [quick, other]
    combine: first
    deadline: 10s
  with_failure:
    members: [quick, busy]
    combine: first
    deadline: 10s
  only_busy:
    members: [busy]
    deadline: 10s
pipelines:
  answer:
    inputs: [question]
    steps:
      reply: {ensemble: pair, prompt: "{{input.question}}"}
    output: reply
  partial:
    inputs: [question]
    steps:
      reply: {ensemble: with_failure, prompt: "{{input.question}}"}
    output: reply
  failing:
    inputs: [question]
    steps:
      reply: {ensemble: only_busy, prompt: "{{input.question}}"}
    output: reply
  slow:
    inputs: [question]
    steps:
      reply: {call: slow, prompt: "{{input.question}}"}
    output: reply
  flaky:
    inputs: [question]
    steps:
      reply: {call: flaky, prompt: "{{input.question}}"}
    output: reply
  stuck:
    inputs: [question]
    steps:
      reply: {call: stuck, prompt: "{{input.question}}"}
    output: reply
)";

/// One result row as read back.
struct result_row {
  size_t file_line = 0; ///< where it is in the results file
  size_t line = 0;      ///< the input line it answers
  std::string id;       ///< as JSON
  std::string status;
  std::string answer;
  std::string error_kind;
  std::string error_message;
  size_t members = 0;
};

std::string json_text(const rapidjson::Value& v) {
  if (v.IsString())
    return "\"" + std::string{v.GetString()} + "\"";
  if (v.IsUint64())
    return std::to_string(v.GetUint64());
  return "?";
}

struct batch_fixture {
  tutti::fake::server upstream{tutti::fake::parse_script(upstream_script)};
  fs::path dir;
  fs::path config;
  fs::path input;
  fs::path output;

  batch_fixture() {
    upstream.start();
    std::string pattern =
        (fs::temp_directory_path() / "tutti-batch-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    dir = pattern;
    config = dir / "batch.yaml";
    std::ofstream{config} << config_text;
    input = dir / "rows.jsonl";
    output = dir / "results.jsonl";
  }

  ~batch_fixture() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }

  /// `n` rows {"id": "row-I", "question": "question I"}.
  void write_rows(size_t n) {
    std::ofstream out{input};
    for (size_t i = 1; i <= n; ++i)
      out << R"({"id": "row-)" << i << R"(", "question": "question )" << i
          << "\"}\n";
  }

  environment env() const { return {{"TUTTI_FAKE_URL", upstream.base_url()}}; }

  std::vector<std::string> args(const std::string& pipeline,
                                std::vector<std::string> extra = {}) const {
    std::vector<std::string> a{"batch",         "--config",
                               config.string(), "--pipeline",
                               pipeline,        "--in",
                               input.string(),  "--out",
                               output.string(), "--progress-every",
                               "0.05"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  run_result run(const std::string& pipeline,
                 std::vector<std::string> extra = {},
                 std::chrono::milliseconds timeout = 30s) {
    tutti_process child{args(pipeline, std::move(extra)), env(), dir};
    auto r = child.wait(timeout);
    BOOST_REQUIRE_MESSAGE(!r.timed_out, "tutti batch did not finish; stdout:\n"
                                            << r.out << "\nstderr:\n"
                                            << r.err);
    return r;
  }

  std::string output_text() const {
    std::ifstream in{output, std::ios::binary};
    return {std::istreambuf_iterator<char>{in}, {}};
  }

  /// Every complete line of the results file, parsed; a line that does not
  /// parse fails the test.
  std::vector<result_row> results() const { return results(output_text()); }

  /// The same for result lines in `text` (what a batch wrote to stdout).
  static std::vector<result_row> results(const std::string& text) {
    std::vector<result_row> rows;
    std::istringstream in{text};
    size_t number = 0;
    for (std::string line; std::getline(in, line);) {
      ++number;
      rapidjson::Document doc;
      doc.Parse(line.c_str());
      BOOST_REQUIRE_MESSAGE(!doc.HasParseError() && doc.IsObject(),
                            "results line " << number
                                            << " is not JSON: " << line);
      result_row row;
      row.file_line = number;
      row.line = doc["line"].GetUint64();
      row.id = json_text(doc["id"]);
      row.status = doc["status"].GetString();
      if (doc["answer"].IsString())
        row.answer = doc["answer"].GetString();
      if (doc["error"].IsObject()) {
        row.error_kind = doc["error"]["kind"].GetString();
        row.error_message = doc["error"]["message"].GetString();
      }
      row.members = doc["members"].Size();
      rows.push_back(std::move(row));
    }
    return rows;
  }

  /// Checks that rows 1..n each have exactly one result, for the right id,
  /// answered by the echoing member.
  void check_exactly_once(size_t n) const {
    check_exactly_once(n, output_text());
  }

  /// The same for result lines in `text`.
  static void check_exactly_once(size_t n, const std::string& text) {
    BOOST_REQUIRE(!text.empty());
    BOOST_CHECK_EQUAL(text.back(), '\n');
    std::map<size_t, size_t> seen;
    for (auto& row : results(text)) {
      ++seen[row.line];
      auto i = std::to_string(row.line);
      BOOST_CHECK_EQUAL(row.id, "\"row-" + i + "\"");
      BOOST_CHECK_EQUAL(row.status, "ok");
      BOOST_CHECK_EQUAL(row.answer, "echo: question " + i);
    }
    BOOST_CHECK_EQUAL(seen.size(), n);
    for (auto& [line, count] : seen) {
      BOOST_CHECK_MESSAGE(line >= 1 && line <= n, "a result for line " << line);
      BOOST_CHECK_MESSAGE(count == 1,
                          "line " << line << " has " << count << " results");
    }
  }
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(batch, batch_fixture)

BOOST_AUTO_TEST_CASE(one_result_per_row_and_bad_lines_become_invalid_rows) {
  {
    std::ofstream out{input};
    out << R"({"id": "a", "question": "first"})" << '\n'
        << R"({"id": 2, "inputs": {"question": "second"}, "extra": true})"
        << '\n'
        << '\n' // blank: not a row
        << R"({"id": "c", "question": "cut short)" << '\n'
        << R"({"id": "d", "prompt": "no question field"})" << '\n'
        << R"(["not", "an", "object"])" << '\n'
        << R"({"question": 42})" << '\r' << '\n'
        << R"({"id": "last", "question": "no line break at the end"})";
  }
  auto r = run("answer");
  BOOST_CHECK_EQUAL(r.exit_code, 1); // some rows are invalid
  auto rows = results();
  BOOST_REQUIRE_EQUAL(rows.size(), 7u);
  std::map<size_t, result_row> by_line;
  for (auto& row : rows)
    by_line[row.line] = row;
  BOOST_CHECK_EQUAL(by_line.count(3), 0u);
  BOOST_CHECK_EQUAL(by_line[1].id, "\"a\"");
  BOOST_CHECK_EQUAL(by_line[1].answer, "echo: first");
  BOOST_CHECK_EQUAL(by_line[1].members, 2u);
  BOOST_CHECK_EQUAL(by_line[2].id, "2");
  BOOST_CHECK_EQUAL(by_line[2].answer, "echo: second");
  BOOST_CHECK_EQUAL(by_line[7].id, "7"); // no id: its line number
  BOOST_CHECK_EQUAL(by_line[7].answer, "echo: 42");
  BOOST_CHECK_EQUAL(by_line[8].answer, "echo: no line break at the end");
  for (size_t line : {4, 5, 6}) {
    BOOST_TEST_CONTEXT("line " << line) {
      BOOST_CHECK_EQUAL(by_line[line].status, "invalid");
      BOOST_CHECK_EQUAL(by_line[line].error_kind, "bad_input");
      BOOST_CHECK(contains(by_line[line].error_message,
                           "rows.jsonl:" + std::to_string(line) + ": "));
    }
  }
  BOOST_CHECK(contains(by_line[4].error_message, "not valid JSON"));
  BOOST_CHECK(contains(by_line[5].error_message, "missing input 'question'"));
  BOOST_CHECK(contains(by_line[6].error_message, "expected a JSON object"));
  BOOST_CHECK(contains(r.out, "batch: 7 of 7 rows"));
  BOOST_CHECK(contains(r.out, "answered  4 (4 ok, 0 partial)"));
  BOOST_CHECK(contains(r.out, "invalid   3"));
}

BOOST_AUTO_TEST_CASE(failures_are_rows_with_their_kind) {
  write_rows(6);
  auto partial = run("partial");
  BOOST_CHECK_EQUAL(partial.exit_code, 0); // every row has an answer
  for (auto& row : results()) {
    BOOST_CHECK_EQUAL(row.status, "partial");
    BOOST_CHECK_EQUAL(row.members, 2u);
  }
  fs::remove(output);
  auto failing = run("failing");
  BOOST_CHECK_EQUAL(failing.exit_code, 1);
  auto rows = results();
  BOOST_CHECK_EQUAL(rows.size(), 6u);
  for (auto& row : rows) {
    BOOST_CHECK_EQUAL(row.status, "failed");
    BOOST_CHECK_EQUAL(row.error_kind, "overloaded");
    BOOST_CHECK(contains(row.error_message, "step 'reply' failed"));
  }
  BOOST_CHECK(contains(failing.out, "failed    6 (overloaded 6)"));
}

BOOST_AUTO_TEST_CASE(progress_lines_when_not_on_a_terminal) {
  write_rows(30);
  auto r = run("slow", {"--concurrency", "10"});
  BOOST_CHECK_EQUAL(r.exit_code, 0);
  // --concurrency bounds the rows in flight (one request each here).
  auto peak = tutti::fake::peak_concurrency(upstream.arrivals());
  BOOST_CHECK_LE(peak, 10);
  BOOST_CHECK_GT(peak, 1);
  BOOST_CHECK(contains(r.err, " rows ("));
  BOOST_CHECK(contains(r.err, " in flight, "));
  BOOST_CHECK(contains(r.err, " rows/s, ETA "));
  BOOST_CHECK(contains(r.err, " tokens, $"));
  check_exactly_once(30);
}

BOOST_AUTO_TEST_CASE(an_existing_results_file_needs_resume) {
  write_rows(3);
  std::ofstream{output} << "precious\n";
  auto r = run("answer");
  BOOST_CHECK_EQUAL(r.exit_code, 2);
  BOOST_CHECK(contains(r.err, "already holds results; pass --resume"));
  BOOST_CHECK_EQUAL(output_text(), "precious\n");
}

BOOST_AUTO_TEST_CASE(a_provider_that_cannot_start_stops_the_batch_saying_why) {
  write_rows(5);
  std::ofstream{config, std::ios::trunc} << R"(providers:
  unkeyed:
    kind: openai
    model: quick-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: ${TUTTI_BATCH_TEST_UNSET_KEY}
pipelines:
  keyless:
    inputs: [question]
    steps:
      reply: {call: unkeyed, prompt: "{{input.question}}"}
    output: reply
)";
  auto r = run("keyless");
  BOOST_CHECK_EQUAL(r.exit_code, 2);
  BOOST_CHECK(contains(r.err, "TUTTI_BATCH_TEST_UNSET_KEY is not set"));
  BOOST_CHECK(output_text().empty()); // no row is marked done
}

BOOST_AUTO_TEST_CASE(a_missing_input_file_is_an_error_and_creates_nothing) {
  auto r = run("answer"); // rows.jsonl was never written
  BOOST_CHECK_EQUAL(r.exit_code, 2);
  BOOST_CHECK(contains(r.err, "rows.jsonl: cannot read"));
  BOOST_CHECK(!fs::exists(output));
}

// Regression: a row of 300,000 `[` overflowed the stack of the batch runner,
// and `--resume` (which reads every row with a result again) died on it
// forever. A row longer than --max-row-bytes used to be held whole.
BOOST_AUTO_TEST_CASE(hostile_rows_are_invalid_rows_and_resume_reads_them) {
  {
    std::ofstream out{input};
    out << R"({"id": "row-1", "question": "question 1"})" << '\n'
        << std::string(3000, '[') << '\n'
        << R"({"id": "long", "question": ")" << std::string(5000, 'x')
        << "\"}\n"
        << "{\"id\": \"bad-utf8\", \"question\": \"\xC3\x28\"}\n"
        << R"({"id": "row-5", "question": "question 5"})" << '\n';
  }
  auto r = run("answer", {"--max-row-bytes", "4096"});
  BOOST_CHECK_EQUAL(r.exit_code, 1); // some rows are invalid
  std::map<size_t, result_row> by_line;
  for (auto& row : results())
    by_line[row.line] = row;
  BOOST_REQUIRE_EQUAL(by_line.size(), 5u);
  BOOST_CHECK_EQUAL(by_line[1].answer, "echo: question 1");
  BOOST_CHECK_EQUAL(by_line[5].answer, "echo: question 5");
  BOOST_CHECK_EQUAL(by_line[2].status, "invalid");
  BOOST_CHECK(contains(by_line[2].error_message, "nested deeper than 64"));
  BOOST_CHECK_EQUAL(by_line[3].status, "invalid");
  BOOST_CHECK(contains(by_line[3].error_message,
                       "rows.jsonl:3: the row is longer than 4096 bytes"));
  BOOST_CHECK_EQUAL(by_line[4].status, "invalid");
  BOOST_CHECK(contains(by_line[4].error_message, "Invalid encoding"));
  // Resuming reads every row with a result again.
  auto again = run("answer", {"--resume", "--max-row-bytes", "4096"});
  BOOST_CHECK_EQUAL(again.exit_code, 1);
  BOOST_CHECK(contains(again.out, "batch: 0 of 5 rows"));
}

// Regression: `--in DIR` exited 0 with "0 of 0 rows"; `--in /dev/zero` grew
// without bound.
BOOST_AUTO_TEST_CASE(input_that_is_not_a_file_of_rows_is_refused) {
  fs::create_directory(dir / "rows.d");
  input = dir / "rows.d";
  auto r = run("answer");
  BOOST_CHECK_EQUAL(r.exit_code, 2);
  BOOST_CHECK(contains(r.err, "rows.d: is a directory, not a file of rows"));
  input = "/dev/zero";
  r = run("answer", {}, 10s);
  BOOST_CHECK_EQUAL(r.exit_code, 2);
  BOOST_CHECK(contains(r.err, "/dev/zero: not a regular file"));
  BOOST_CHECK(!fs::exists(output));
}

BOOST_AUTO_TEST_CASE(resume_refuses_the_results_of_another_input) {
  write_rows(5);
  BOOST_REQUIRE_EQUAL(run("answer").exit_code, 0);
  {
    std::ofstream out{input};
    for (int i = 1; i <= 5; ++i)
      out << R"({"id": "other-)" << i << R"(", "question": "q"})" << '\n';
  }
  auto r = run("answer", {"--resume"});
  BOOST_CHECK_EQUAL(r.exit_code, 2);
  BOOST_CHECK(contains(r.err, "has id \"row-"));
  BOOST_CHECK(contains(r.err, "belong to another input"));
}

BOOST_AUTO_TEST_CASE(a_torn_last_line_is_dropped_and_redone) {
  write_rows(20);
  BOOST_REQUIRE_EQUAL(run("answer").exit_code, 0);
  auto whole = output_text();
  // Cut the file in the middle of its last line, as a write cut short by
  // a crash leaves it.
  auto last_start = whole.rfind('\n', whole.size() - 2) + 1;
  auto torn = whole.substr(0, last_start + (whole.size() - last_start) / 2);
  std::ofstream{output, std::ios::binary | std::ios::trunc} << torn;
  auto r = run("answer", {"--resume"});
  BOOST_CHECK_EQUAL(r.exit_code, 0);
  BOOST_CHECK(contains(r.out, "batch: 1 of 20 rows"));
  check_exactly_once(20);
}

// The flaky model fails its first three requests: with one row at a time,
// rows 1-3 fail and 4-6 are answered. --retry-failed redoes exactly the
// three failed rows, once each, and keeps the answered ones as they were.
BOOST_AUTO_TEST_CASE(retry_failed_redoes_each_failed_row_once) {
  write_rows(6);
  auto first = run("flaky", {"--concurrency", "1"});
  BOOST_CHECK_EQUAL(first.exit_code, 1);
  auto rows = results();
  BOOST_REQUIRE_EQUAL(rows.size(), 6u);
  std::string answered_before;
  for (auto& row : rows)
    BOOST_CHECK_EQUAL(row.status, row.line <= 3 ? "failed" : "ok");
  {
    std::istringstream in{output_text()};
    for (std::string line; std::getline(in, line);)
      if (line.find("\"status\":\"ok\"") != std::string::npos)
        answered_before += line + "\n";
  }

  auto retry = run("flaky", {"--retry-failed", "--concurrency", "1"});
  BOOST_CHECK_EQUAL(retry.exit_code, 0);
  BOOST_CHECK(contains(retry.err, "retrying 3 failed rows"));
  check_exactly_once(6);
  // The answered rows are the same bytes, first in the file.
  BOOST_CHECK_EQUAL(output_text().substr(0, answered_before.size()),
                    answered_before);
  // 6 requests, then one for each of the 3 failed rows.
  BOOST_CHECK_EQUAL(
      tutti::fake_upstream::arrivals_of(upstream, "flaky-model").size(), 9u);

  // Nothing failed any more: a second retry redoes nothing.
  auto again = run("flaky", {"--retry-failed"});
  BOOST_CHECK_EQUAL(again.exit_code, 0);
  BOOST_CHECK(contains(again.err, "retrying 0 failed rows"));
  BOOST_CHECK_EQUAL(
      tutti::fake_upstream::arrivals_of(upstream, "flaky-model").size(), 9u);
  check_exactly_once(6);
}

// The acceptance test: kill -9 at random moments, resume each time.
BOOST_AUTO_TEST_CASE(kill_9_at_random_moments_then_resume_is_exactly_once) {
  constexpr size_t rows = 600;
  write_rows(rows);
  std::mt19937 rng{20261125};
  // Each kill lands at a random moment once rows are being written (the
  // start-up time of the process varies with the machine's load).
  std::uniform_int_distribution<int> after_ms{0, 150};
  size_t killed_midway = 0;
  size_t before = 0;
  for (int round = 0; round < 6; ++round) {
    auto wait = std::chrono::milliseconds{after_ms(rng)};
    std::vector<std::string> extra{"--concurrency", "8"};
    if (round > 0)
      extra.push_back("--resume");
    tutti_process child{args("answer", extra), env(), dir};
    auto size_before = output_text().size();
    for (int i = 0; i < 500 && output_text().size() == size_before; ++i)
      child.pump(10ms);
    child.pump(wait);
    child.signal(SIGKILL);
    auto r = child.wait(10s);
    // What the file holds now must already be exactly-once so far: whole
    // lines, no input line twice (a torn last line aside).
    std::map<size_t, size_t> seen;
    auto text = output_text();
    auto complete = text.substr(0, text.rfind('\n') + 1);
    std::istringstream in{complete};
    size_t count = 0;
    for (std::string line; std::getline(in, line); ++count) {
      rapidjson::Document doc;
      doc.Parse(line.c_str());
      BOOST_REQUIRE_MESSAGE(!doc.HasParseError(), "torn line inside the file");
      ++seen[doc["line"].GetUint64()];
    }
    for (auto& [line, n] : seen)
      BOOST_CHECK_MESSAGE(n == 1,
                          "line " << line << " written " << n << " times");
    BOOST_TEST_MESSAGE("round " << round << ": killed " << wait.count()
                                << " ms after its first row, exit "
                                << r.exit_code << ", " << count << " rows");
    if (r.exit_code == 128 + SIGKILL && count > before && count < rows)
      ++killed_midway;
    before = count;
  }
  // The kills must have landed while rows were being written, or the test
  // proves nothing.
  BOOST_CHECK_GE(killed_midway, 3u);
  auto last = run("answer", {"--concurrency", "8", "--resume"});
  BOOST_CHECK_EQUAL(last.exit_code, 0);
  check_exactly_once(rows);
}

BOOST_AUTO_TEST_CASE(
    ctrl_c_lets_rows_in_flight_finish_and_prints_the_resume_command) {
  write_rows(24);
  tutti_process child{args("slow", {"--concurrency", "4"}), env(), dir};
  // Once the first rows are done and the next are in flight.
  BOOST_REQUIRE(child.pump_until_err("batch: 4/24 rows", 10s));
  child.signal(SIGINT);
  auto r = child.wait(10s);
  BOOST_CHECK_EQUAL(r.exit_code, 130);
  BOOST_CHECK(contains(r.err, "stopping: no new rows"));
  BOOST_CHECK(contains(r.out, "rows left; to finish, run:"));
  BOOST_CHECK(contains(r.out, "--resume"));
  // The rows in flight finished: every row written is a whole answer.
  auto rows = results();
  BOOST_CHECK_GE(rows.size(), 4u);
  BOOST_CHECK_LT(rows.size(), 24u);
  for (auto& row : rows)
    BOOST_CHECK_EQUAL(row.status, "ok");
  auto resumed = run("slow", {"--concurrency", "20", "--resume"});
  BOOST_CHECK_EQUAL(resumed.exit_code, 0);
  check_exactly_once(24);
}

BOOST_AUTO_TEST_CASE(a_second_ctrl_c_cancels_the_rows_in_flight) {
  write_rows(10);
  tutti_process child{args("stuck", {"--concurrency", "4"}), env(), dir};
  BOOST_REQUIRE(child.pump_until_err(", 4 in flight", 10s));
  child.signal(SIGINT);
  BOOST_REQUIRE(child.pump_until_err("stopping: no new rows", 10s));
  child.signal(SIGINT);
  auto started = std::chrono::steady_clock::now();
  auto r = child.wait(10s);
  BOOST_CHECK_LT(std::chrono::steady_clock::now() - started, 3s);
  BOOST_CHECK_EQUAL(r.exit_code, 130);
  BOOST_CHECK(contains(r.err, "cancelling the 4 rows in flight"));
  // Cancelled rows have no result: the resume runs them.
  BOOST_CHECK(output_text().empty());
  BOOST_CHECK(contains(r.out, "10 rows left"));
}

/// `tutti batch` over `pipeline` with the given --in and --out.
std::vector<std::string> stdio_args(const batch_fixture& f,
                                    const std::string& in,
                                    const std::string& out,
                                    std::vector<std::string> extra = {}) {
  std::vector<std::string> a{
      "batch", "--config", f.config.string(), "--pipeline", "answer",
      "--in",  in,         "--out",           out,          "--progress-every",
      "0.05"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// `cat rows.jsonl | tutti batch --in - --out - | jq`: stdout holds the
// result lines and nothing else; the progress and summary are on stderr.
BOOST_AUTO_TEST_CASE(rows_from_stdin_and_results_on_stdout_only) {
  write_rows(12);
  std::ofstream{input, std::ios::app} << "not json\n";
  tutti_process child{stdio_args(*this, "-", "-"), env(), dir, input};
  auto r = child.wait(30s);
  BOOST_REQUIRE(!r.timed_out);
  BOOST_CHECK_EQUAL(r.exit_code, 1); // line 13 is invalid
  auto rows = results(r.out);        // every stdout line must be a result row
  BOOST_REQUIRE_EQUAL(rows.size(), 13u);
  for (auto& row : rows)
    if (row.line == 13) {
      BOOST_CHECK_EQUAL(row.status, "invalid");
      BOOST_CHECK(contains(row.error_message, "stdin:13: "));
    }
  BOOST_CHECK(contains(r.err, "batch: 13 of 13 rows"));
  BOOST_CHECK(contains(r.err, "results on stdout"));
  BOOST_CHECK(contains(r.err, "answered  12 (12 ok, 0 partial)"));
  BOOST_CHECK(!fs::exists(dir / "-"));
}

// A producer that writes its rows slowly gets each result as its row is
// done, not when stdin ends: the rows are read on a thread of their own.
BOOST_AUTO_TEST_CASE(results_stream_out_before_stdin_ends) {
  auto fifo = dir / "rows.fifo";
  BOOST_REQUIRE_EQUAL(::mkfifo(fifo.c_str(), 0600), 0);
  tutti_process child{stdio_args(*this, "-", "-"), env(), dir, fifo};
  std::ofstream rows{fifo}; // opens when the child opens its end
  auto row = [&](int i) {
    rows << R"({"id": "row-)" << i << R"(", "question": "question )" << i
         << "\"}\n"
         << std::flush;
  };
  auto lines = [&] {
    return std::count(child.out().begin(), child.out().end(), '\n');
  };
  row(1);
  row(2);
  BOOST_REQUIRE_MESSAGE(child.pump_until([&] { return lines() == 2; }, 10s),
                        "no results while stdin is open; stderr:\n"
                            << child.err());
  row(3);
  BOOST_REQUIRE(child.pump_until([&] { return lines() == 3; }, 10s));
  rows.close();
  auto r = child.wait(10s);
  BOOST_REQUIRE(!r.timed_out);
  BOOST_CHECK_EQUAL(r.exit_code, 0);
  check_exactly_once(3, r.out);
  BOOST_CHECK(contains(r.err, "batch: 3 of 3 rows"));
}

// Ctrl-C while stdin is open and silent stops the batch at once (the
// reader is not left waiting for a line), and says what cannot be resumed.
BOOST_AUTO_TEST_CASE(ctrl_c_stops_a_batch_waiting_on_a_silent_stdin) {
  auto fifo = dir / "rows.fifo";
  BOOST_REQUIRE_EQUAL(::mkfifo(fifo.c_str(), 0600), 0);
  tutti_process child{stdio_args(*this, "-", "-"), env(), dir, fifo};
  std::ofstream rows{fifo};
  rows << R"({"id": "row-1", "question": "question 1"})" << '\n' << std::flush;
  BOOST_REQUIRE(
      child.pump_until([&] { return contains(child.out(), "\n"); }, 10s));
  child.signal(SIGINT);
  auto r = child.wait(10s);
  BOOST_REQUIRE(!r.timed_out);
  BOOST_CHECK_EQUAL(r.exit_code, 130);
  check_exactly_once(1, r.out);
  BOOST_CHECK(contains(r.err, "stopped: 0 rows read have no result, and the "
                              "rest of stdin was not read"));
  BOOST_CHECK(contains(r.err, "results on stdout cannot be resumed"));
}

// Rows from stdin into a results file: the same file as from --in FILE,
// and the same row limits, naming stdin and the line.
BOOST_AUTO_TEST_CASE(stdin_rows_into_a_file_keep_the_row_limits) {
  {
    std::ofstream out{input};
    out << R"({"id": "row-1", "question": "question 1"})" << '\n'
        << R"({"id": "long", "question": ")" << std::string(100000, 'x')
        << "\"}\n"
        << std::string(3000, '[') << '\n'
        << R"({"id": "row-4", "question": "question 4"})" << '\n';
  }
  tutti_process child{
      stdio_args(*this, "-", output.string(), {"--max-row-bytes", "4096"}),
      env(), dir, input};
  auto r = child.wait(30s);
  BOOST_REQUIRE(!r.timed_out);
  BOOST_CHECK_EQUAL(r.exit_code, 1);
  std::map<size_t, result_row> by_line;
  for (auto& row : results())
    by_line[row.line] = row;
  BOOST_REQUIRE_EQUAL(by_line.size(), 4u);
  BOOST_CHECK_EQUAL(by_line[1].answer, "echo: question 1");
  BOOST_CHECK_EQUAL(by_line[4].answer, "echo: question 4");
  BOOST_CHECK_EQUAL(by_line[2].status, "invalid");
  BOOST_CHECK(contains(by_line[2].error_message,
                       "stdin:2: the row is longer than 4096 bytes"));
  BOOST_CHECK_EQUAL(by_line[3].status, "invalid");
  BOOST_CHECK(contains(by_line[3].error_message, "nested deeper than 64"));
  BOOST_CHECK(contains(r.out, "batch: 4 of 4 rows"));
}

// A batch resumes from its results file and its input file: neither can be
// a stream, and saying so beats a wrong or duplicated result.
BOOST_AUTO_TEST_CASE(resume_is_refused_when_either_end_is_a_stream) {
  write_rows(3);
  for (auto flag : {"--resume", "--retry-failed"}) {
    BOOST_TEST_CONTEXT(flag) {
      tutti_process to_stdout{stdio_args(*this, input.string(), "-", {flag}),
                              env(), dir};
      auto r = to_stdout.wait(10s);
      BOOST_CHECK_EQUAL(r.exit_code, 2);
      BOOST_CHECK(r.out.empty());
      BOOST_CHECK(contains(r.err, "stdout: cannot resume: results written to "
                                  "a stream cannot be read back"));
      tutti_process from_stdin{stdio_args(*this, "-", output.string(), {flag}),
                               env(), dir, input};
      r = from_stdin.wait(10s);
      BOOST_CHECK_EQUAL(r.exit_code, 2);
      BOOST_CHECK(contains(r.err, "stdin: cannot resume from a stream"));
      BOOST_CHECK(!fs::exists(output));
    }
  }
}

// A closed stdin would be whatever file the engine opens next.
BOOST_AUTO_TEST_CASE(a_closed_stdin_or_stdout_is_refused) {
  auto words = stdio_args(*this, "-", output.string());
  std::string command = TUTTI_BIN;
  for (auto& w : words)
    command += " '" + w + "'";
  tutti::testing::child_process closed_in{
      {"/bin/sh", "-c", "exec " + command + " <&-"}, env(), dir};
  auto r = closed_in.wait(10s);
  BOOST_CHECK_EQUAL(r.exit_code, 2);
  BOOST_CHECK(contains(r.err, "stdin: is closed"));
  BOOST_CHECK(!fs::exists(output));
}

// The ready-to-run example, as its header says to run it.
BOOST_AUTO_TEST_CASE(the_batch_example_runs_against_the_demo_upstream) {
  auto source = std::string{TUTTI_SOURCE_DIR} + "/configs/";
  tutti::fake::server demo{
      tutti::fake::load_script(source + "demo-upstream.yaml")};
  demo.start();
  tutti_process child{{"batch", "--config", source + "batch-example.yaml",
                       "--pipeline", "answer", "--in",
                       source + "batch-example.jsonl", "--out",
                       output.string()},
                      {{"TUTTI_FAKE_URL", demo.base_url()}},
                      dir};
  auto r = child.wait(30s);
  BOOST_REQUIRE(!r.timed_out);
  BOOST_CHECK_EQUAL(r.exit_code, 1); // two invalid lines, on purpose
  BOOST_CHECK(contains(r.out, "answered  6 (0 ok, 6 partial)"));
  BOOST_CHECK(contains(r.out, "invalid   2"));
  for (auto& row : results())
    if (row.status == "partial")
      BOOST_CHECK(contains(row.answer, "echo: "));
}

BOOST_AUTO_TEST_SUITE_END()
