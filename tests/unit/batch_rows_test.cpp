// The two JSONL formats of a batch: what an input line gives, what a result
// line holds, and what a results file read for --resume yields (torn last
// line, foreign lines, a row written twice).

#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "tutti/batch.hpp"

namespace fs = std::filesystem;
using namespace tutti;

namespace {

const std::vector<std::string> inputs{"question", "context"};

batch_row row_of(const std::string& text, size_t line = 3) {
  return parse_batch_row(text, line, "rows.jsonl", inputs);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// A temp file holding `text`, removed at the end of the test.
struct temp_file {
  fs::path path;
  explicit temp_file(const std::string& text) {
    std::string pattern =
        (fs::temp_directory_path() / "tutti-batch-rows-XXXXXX").string();
    int fd = mkstemp(pattern.data());
    BOOST_REQUIRE(fd >= 0);
    ::close(fd);
    path = pattern;
    std::ofstream{path, std::ios::binary} << text;
  }
  ~temp_file() {
    std::error_code ignored;
    fs::remove(path, ignored);
  }
};

pipeline_result answered(const std::string& text) {
  pipeline_result r;
  r.pipeline = "p";
  r.status = answer_status::ok;
  r.output = text;
  step_outcome step;
  step.id = "reply";
  step.status = step_status::ok;
  step.answer.status = answer_status::ok;
  member_outcome m;
  m.member = "a";
  m.provider = "a";
  m.ok = true;
  m.reply.text = text;
  step.answer.members.push_back(m);
  r.steps.push_back(step);
  r.usage.input_tokens = 10;
  r.usage.output_tokens = 4;
  r.cost_usd = 0.5;
  return r;
}

} // namespace

BOOST_AUTO_TEST_CASE(inputs_come_from_top_level_fields_or_an_inputs_object) {
  auto flat = row_of(R"({"id": "x", "question": "Why?", "context": "sky",
                         "unused": 1})");
  BOOST_CHECK(flat.error.empty());
  BOOST_CHECK_EQUAL(flat.id_json, "\"x\"");
  BOOST_CHECK_EQUAL(flat.inputs.at("question"), "Why?");
  BOOST_CHECK_EQUAL(flat.inputs.at("context"), "sky");
  BOOST_CHECK_EQUAL(flat.inputs.size(), 2u);
  auto nested = row_of(R"({"id": 7, "inputs": {"question": "Q", "context":
                           {"k": [1, 2]}}})");
  BOOST_CHECK(nested.error.empty());
  BOOST_CHECK_EQUAL(nested.id_json, "7");
  BOOST_CHECK_EQUAL(nested.inputs.at("question"), "Q");
  // Values that are not strings go in as their JSON text.
  BOOST_CHECK_EQUAL(nested.inputs.at("context"), R"({"k":[1,2]})");
  auto numbers = row_of(R"({"question": 42, "context": true})", 9);
  BOOST_CHECK_EQUAL(numbers.inputs.at("question"), "42");
  BOOST_CHECK_EQUAL(numbers.inputs.at("context"), "true");
  BOOST_CHECK_EQUAL(numbers.id_json, "9"); // no id: the line number
}

BOOST_AUTO_TEST_CASE(a_bad_line_is_an_error_naming_file_and_line) {
  auto broken = row_of(R"({"question": "unterminated)", 12);
  BOOST_CHECK(
      contains(broken.error, "rows.jsonl:12: not valid JSON at column"));
  auto array = row_of("[1, 2]");
  BOOST_CHECK(contains(array.error, "rows.jsonl:3: expected a JSON object"));
  auto missing = row_of(R"({"question": "Q"})");
  BOOST_CHECK(contains(missing.error, "missing input 'context'"));
  BOOST_CHECK(
      contains(missing.error, "(the pipeline's inputs: question, context)"));
  auto null_input = row_of(R"({"question": null, "context": "c"})");
  BOOST_CHECK(contains(null_input.error, "missing input 'question'"));
  auto bad_id = row_of(R"({"id": [1], "question": "Q", "context": "c"})");
  BOOST_CHECK(contains(bad_id.error, "\"id\" must be a string or a number"));
}

// Regression (found by batch_rows_fuzz): an id of 8E308 was read as
// infinity and written as nothing, `"id":,`, so the results file could not
// be read back for --resume.
BOOST_AUTO_TEST_CASE(an_id_beyond_a_double_makes_an_invalid_row) {
  auto row = row_of(R"({"id": 8E308, "question": "q", "context": "c"})");
  BOOST_TEST(contains(row.error, "a number too large for a double"));
  BOOST_TEST(row.id_json == "3");
  auto line = batch_invalid_line(row);
  rapidjson::Document doc;
  doc.Parse(line.c_str());
  BOOST_TEST(!doc.HasParseError());
}

BOOST_AUTO_TEST_CASE(a_result_line_is_one_json_object_and_a_line_break) {
  auto row = row_of(R"({"id": "r1", "question": "Q", "context": "c"})", 5);
  auto line =
      batch_result_line(row, answered("Paris.\nOn the Seine."), "reply");
  BOOST_REQUIRE_EQUAL(line.back(), '\n');
  BOOST_CHECK_EQUAL(line.find('\n'), line.size() - 1); // one line
  rapidjson::Document doc;
  doc.Parse(line.c_str());
  BOOST_REQUIRE(!doc.HasParseError());
  BOOST_CHECK_EQUAL(doc["id"].GetString(), std::string{"r1"});
  BOOST_CHECK_EQUAL(doc["line"].GetUint64(), 5u);
  BOOST_CHECK_EQUAL(doc["status"].GetString(), std::string{"ok"});
  BOOST_CHECK_EQUAL(doc["answer"].GetString(),
                    std::string{"Paris.\nOn the Seine."});
  BOOST_CHECK_EQUAL(doc["members"].Size(), 1u);
  BOOST_CHECK_EQUAL(doc["members"][0]["member"].GetString(), std::string{"a"});
  BOOST_CHECK_EQUAL(doc["steps"][0]["id"].GetString(), std::string{"reply"});
  BOOST_CHECK_EQUAL(doc["usage"]["input_tokens"].GetInt64(), 10);
  BOOST_CHECK_EQUAL(doc["cost_usd"].GetDouble(), 0.5);
  BOOST_CHECK(doc["error"].IsNull());
}

BOOST_AUTO_TEST_CASE(a_failed_row_names_the_step_and_the_members_kind) {
  auto row = row_of(R"({"question": "Q", "context": "c"})");
  pipeline_result r;
  r.status = answer_status::failed;
  step_outcome draft;
  draft.id = "draft";
  draft.status = step_status::failed;
  draft.reason = "no member answered";
  for (auto kind : {failure_kind::rate_limited, failure_kind::timeout_total,
                    failure_kind::rate_limited}) {
    member_outcome m;
    m.ok = false;
    m.error.kind = kind;
    draft.answer.members.push_back(m);
  }
  step_outcome final_step;
  final_step.id = "final";
  final_step.status = step_status::skipped;
  final_step.reason = "needs step 'draft', which failed";
  final_step.started_us = -1;
  r.steps = {draft, final_step};
  auto line = batch_result_line(row, r, "final");
  rapidjson::Document doc;
  doc.Parse(line.c_str());
  BOOST_REQUIRE(!doc.HasParseError());
  BOOST_CHECK(doc["answer"].IsNull());
  BOOST_CHECK_EQUAL(doc["members"].Size(), 0u); // the output step never ran
  BOOST_CHECK_EQUAL(doc["error"]["kind"].GetString(),
                    std::string{"rate_limited"});
  BOOST_CHECK_EQUAL(doc["error"]["message"].GetString(),
                    std::string{"step 'draft' failed: no member answered"});
  batch_tally tally;
  count_result_line(line, tally);
  BOOST_CHECK_EQUAL(tally.failed, 1u);
  BOOST_CHECK_EQUAL(tally.failures_by_kind.at("rate_limited"), 1u);
}

BOOST_AUTO_TEST_CASE(reading_results_drops_a_torn_last_line) {
  auto r1 = row_of(R"({"id": "a", "question": "Q", "context": "c"})", 1);
  auto r2 = row_of(R"({"question": "oops)", 2);
  auto whole =
      batch_result_line(r1, answered("A"), "reply") + batch_invalid_line(r2);
  auto r3 = row_of(R"({"id": "c", "question": "Q", "context": "c"})", 4);
  auto third = batch_result_line(r3, answered("C"), "reply");
  temp_file file{whole + third.substr(0, third.size() / 2)};
  auto read = read_batch_results(file.path.string());
  BOOST_CHECK(read.torn);
  BOOST_CHECK_EQUAL(read.complete_bytes, whole.size());
  BOOST_CHECK_EQUAL(read.done.size(), 2u);
  BOOST_CHECK_EQUAL(read.done.at(1), "\"a\"");
  BOOST_CHECK_EQUAL(read.done.at(2), "2");
  BOOST_CHECK_EQUAL(read.tally.rows, 2u);
  BOOST_CHECK_EQUAL(read.tally.ok, 1u);
  BOOST_CHECK_EQUAL(read.tally.invalid, 1u);
  BOOST_CHECK_EQUAL(read.tally.failures_by_kind.at("bad_input"), 1u);
  BOOST_CHECK_EQUAL(read.tally.usage.input_tokens, 10);
  // Whole: nothing torn.
  temp_file intact{whole};
  BOOST_CHECK(!read_batch_results(intact.path.string()).torn);
  // Missing: an empty batch.
  BOOST_CHECK(read_batch_results("/nonexistent/results.jsonl").done.empty());
}

// Regression (found by batch_rows_fuzz): two rows of a results file with
// token counts near 2^63 overflowed the tally's sums (undefined behaviour).
BOOST_AUTO_TEST_CASE(token_counts_read_back_saturate_instead_of_overflowing) {
  batch_tally tally;
  for (int i = 0; i < 2; ++i) {
    count_result_line(R"({"id": 1, "line": 1, "status": "ok", "usage": )"
                      R"({"input_tokens": 9223372036854775807, )"
                      R"("output_tokens": -9223372036854775807, )"
                      R"("cached_input_tokens": 9223372036854775000}})",
                      tally);
  }
  BOOST_CHECK_EQUAL(tally.rows, 2u);
  BOOST_CHECK_EQUAL(tally.usage.input_tokens, INT64_MAX);
  BOOST_CHECK_EQUAL(tally.usage.output_tokens, INT64_MIN);
  BOOST_CHECK_EQUAL(tally.usage.cached_input_tokens, INT64_MAX);
}

BOOST_AUTO_TEST_CASE(a_foreign_line_or_a_row_twice_is_refused) {
  auto r1 = row_of(R"({"id": "a", "question": "Q", "context": "c"})", 1);
  auto line = batch_result_line(r1, answered("A"), "reply");
  temp_file foreign{line + "{\"hello\": 1}\n"};
  try {
    read_batch_results(foreign.path.string());
    BOOST_FAIL("expected a batch_error");
  } catch (const batch_error& e) {
    BOOST_CHECK(contains(e.what(),
                         foreign.path.string() + ":2: not a batch result row"));
  }
  temp_file twice{line + line};
  try {
    read_batch_results(twice.path.string());
    BOOST_FAIL("expected a batch_error");
  } catch (const batch_error& e) {
    BOOST_CHECK(contains(e.what(), ":2: a second result for input line 1 "
                                   "(the first is on line 1)"));
  }
}
