// `tutti eval` end to end: the real binary as a subprocess against the fake
// upstream's quiz-takers, three members right with p = 0.8, 0.7 and 0.6 on
// each row (seeded draws) and a fourth that always fails. Its results file
// is read back and held against the draws themselves, against p, and
// against the binomial prediction for a majority vote; the fake's request
// log shows one call per member per row, however many targets share it.

#include <boost/test/unit_test.hpp>

#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "tests/integration/fake_upstream_fixture.hpp"
#include "tests/integration/tutti_process.hpp"
#include "tools/fake_llm/fake_llm.hpp"
#include "tools/fake_llm/quiz.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using tutti::testing::environment;
using tutti::testing::run_result;
using tutti::testing::tutti_process;

namespace {

struct quiz_model {
  std::string provider;
  std::string model;
  double right;
  uint64_t seed;
};

const std::vector<quiz_model> quiz_models{{"q80", "quiz-80", 0.8, 11},
                                          {"q70", "quiz-70", 0.7, 12},
                                          {"q60", "quiz-60", 0.6, 13}};

const char* config_text = R"(providers:
  q80: {kind: openai, model: quiz-80, base_url: "${TUTTI_FAKE_URL}", api_key: k,
        price: {input_per_mtok: 3.0, output_per_mtok: 6.0}}
  q70: {kind: openai, model: quiz-70, base_url: "${TUTTI_FAKE_URL}", api_key: k,
        price: {input_per_mtok: 1.0, output_per_mtok: 2.0}}
  q60: {kind: openai, model: quiz-60, base_url: "${TUTTI_FAKE_URL}", api_key: k}
  down: {kind: openai, model: down-model, base_url: "${TUTTI_FAKE_URL}",
         api_key: k, retry: {attempts: 1}}
  grader: {kind: openai, model: grader-model, base_url: "${TUTTI_FAKE_URL}",
           api_key: k}
  shrug: {kind: openai, model: shrug-model, base_url: "${TUTTI_FAKE_URL}",
          api_key: k}
ensembles:
  vote3:
    members: [q80, q70, q60]
    combine: vote
    extract: 'answer is (-?\d+)'
    deadline: 20s
  vote4:
    members: [q80, q70, q60, down]
    combine: vote
    extract: 'answer is (-?\d+)'
    deadline: 20s
)";

/// One (row, target) line of the results file.
struct result_line {
  size_t line = 0;
  std::string target;
  std::string status;
  bool right = false;
  size_t calls = 0;
  size_t shared = 0;
  double cost_usd = 0;
};

struct eval_fixture {
  fs::path dir;
  fs::path data;
  fs::path config;
  fs::path output;
  std::vector<std::string> questions;
  std::unique_ptr<tutti::fake::server> upstream;

  /// `rows` labelled rows and a fake whose quiz-takers know them.
  explicit eval_fixture(size_t rows) {
    std::string pattern =
        (fs::temp_directory_path() / "tutti-eval-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    dir = pattern;
    data = dir / "rows.jsonl";
    config = dir / "eval.yaml";
    output = dir / "results.jsonl";
    std::ofstream out{data};
    for (size_t i = 1; i <= rows; ++i) {
      auto q = "What is " + std::to_string(i) + " times 7 plus 3?";
      questions.push_back(q);
      out << R"({"id": )" << i << R"(, "question": ")" << q
          << R"(", "answer": )" << i * 7 + 3 << "}\n";
    }
    out.close();
    std::ofstream{config} << config_text;
    std::string script = "models:\n  down-model: {fail: 503}\n"
                         "  grader-model: {reply: \"Verdict: INCORRECT\"}\n"
                         "  shrug-model: {reply: \"Hard to say.\"}\n";
    for (auto& m : quiz_models)
      script += "  " + m.model + ": {quiz: {key: \"" + data.string() +
                "\", right: " + std::to_string(m.right) +
                ", seed: " + std::to_string(m.seed) + "}}\n";
    upstream = std::make_unique<tutti::fake::server>(
        tutti::fake::parse_script(script));
    upstream->start();
  }

  ~eval_fixture() {
    upstream.reset();
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }

  run_result run(std::vector<std::string> extra) {
    std::vector<std::string> args{
        "eval",   "--config",      config.string(),
        "--data", data.string(),   "--expected",
        "answer", "--extract",     "answer is (-?\\d+)",
        "--out",  output.string(), "--store",
        "none",   "--concurrency", "16"};
    args.insert(args.end(), extra.begin(), extra.end());
    tutti_process child{args, {{"TUTTI_FAKE_URL", upstream->base_url()}}, dir};
    auto r = child.wait(60s);
    BOOST_REQUIRE_MESSAGE(!r.timed_out, "tutti eval did not finish; stdout:\n"
                                            << r.out << "\nstderr:\n"
                                            << r.err);
    return r;
  }

  std::vector<result_line> results() const {
    std::vector<result_line> lines;
    std::ifstream in{output};
    for (std::string text; std::getline(in, text);) {
      rapidjson::Document doc;
      doc.Parse(text.c_str());
      BOOST_REQUIRE_MESSAGE(!doc.HasParseError() && doc.IsObject(),
                            "not a JSON line: " << text);
      result_line r;
      r.line = doc["line"].GetUint64();
      r.target = doc["target"].GetString();
      r.status = doc["status"].GetString();
      r.right = doc["right"].GetBool();
      r.calls = doc["calls"].GetUint64();
      r.shared = doc["shared"].GetUint64();
      r.cost_usd = doc["cost_usd"].GetDouble();
      lines.push_back(r);
    }
    return lines;
  }

  size_t calls_to(const std::string& model) const {
    return tutti::fake_upstream::arrivals_of(*upstream, model).size();
  }
};

/// Whether quiz model `m` answers question `q` right: the fake's own draw.
bool drawn_right(const quiz_model& m, const std::string& q) {
  return tutti::fake::quiz_draw(m.seed, q) < m.right;
}

} // namespace

BOOST_AUTO_TEST_CASE(
    accuracies_agree_with_the_simulation_and_calls_are_shared) {
  constexpr size_t rows = 300;
  eval_fixture f{rows};
  auto r = f.run({"--ensembles", "vote3,vote4", "--providers", "q80,q70,q60",
                  "--weights"});
  BOOST_TEST_MESSAGE(r.out);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);

  std::map<std::string, size_t> right;
  std::map<std::string, size_t> seen;
  std::map<std::string, size_t> failed;
  for (auto& line : f.results()) {
    ++seen[line.target];
    right[line.target] += line.right ? 1 : 0;
    failed[line.target] += line.status == "failed" ? 1 : 0;
  }

  // Exactly what the fake drew, question by question: eval scores every
  // reply as it was.
  size_t vote_right = 0;
  std::map<std::string, size_t> drawn;
  for (auto& q : f.questions) {
    bool a = drawn_right(quiz_models[0], q);
    bool b = drawn_right(quiz_models[1], q);
    bool c = drawn_right(quiz_models[2], q);
    drawn["q80"] += a;
    drawn["q70"] += b;
    drawn["q60"] += c;
    // Wrong answers differ per model, so two right answers win, and a
    // three-way split goes to the first member (vote's tie-break).
    vote_right += (a + b + c >= 2 || (a && !b && !c)) ? 1 : 0;
  }
  for (auto& m : quiz_models) {
    BOOST_CHECK_EQUAL(seen[m.provider], rows);
    BOOST_CHECK_EQUAL(right[m.provider], drawn[m.provider]);
    // Against p itself: the draws are Bernoulli(p) over the questions, so
    // the accuracy's standard deviation is sqrt(p(1-p)/n) (0.023, 0.026,
    // 0.028 at n = 300); five of them (0.115 to 0.141) are passed with
    // probability below 6e-7 for any choice of seeds.
    double accuracy = double(right[m.provider]) / rows;
    double sd = std::sqrt(m.right * (1 - m.right) / rows);
    BOOST_TEST_MESSAGE(m.provider << ": reported " << accuracy
                                  << ", simulated p " << m.right);
    BOOST_CHECK_LT(std::abs(accuracy - m.right), 5 * sd);
  }
  BOOST_CHECK_EQUAL(right["vote3"], vote_right);
  // The failing fourth member has no vote: the same answers, partial.
  BOOST_CHECK_EQUAL(right["vote4"], vote_right);
  BOOST_CHECK_EQUAL(failed["vote4"], 0u);
  // The binomial prediction: P(at least two of three right) plus the
  // three-way split that the first member wins:
  //   .8*.7*.6 + .8*.7*.4 + .8*.3*.6 + .2*.7*.6 + .8*.3*.4 = 0.884.
  // Its standard deviation at n = 300 is 0.0185; five of them: 0.092.
  double predicted = 0.884;
  double vote_accuracy = double(right["vote3"]) / rows;
  BOOST_TEST_MESSAGE("vote3: reported " << vote_accuracy << ", predicted "
                                        << predicted);
  BOOST_CHECK_LT(std::abs(vote_accuracy - predicted),
                 5 * std::sqrt(predicted * (1 - predicted) / rows));

  // One upstream call per member per row, not one per target: vote3,
  // vote4 and the three providers alone share each quiz-taker's call. The
  // failing member's calls are not kept, and only vote4 has it (once its
  // circuit breaker opens, not even that).
  for (auto& m : quiz_models)
    BOOST_CHECK_EQUAL(f.calls_to(m.model), rows);
  BOOST_CHECK_GT(f.calls_to("down-model"), 0u);
  BOOST_CHECK_LE(f.calls_to("down-model"), rows);
  BOOST_CHECK_NE(r.out.find("spent"), std::string::npos);
  BOOST_CHECK_NE(r.out.find("weight: "), std::string::npos);
  BOOST_CHECK_NE(r.out.find("95% CI"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_shared_call_costs_its_target_as_if_made) {
  eval_fixture f{20};
  auto r = f.run({"--ensembles", "vote3", "--providers", "q80"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  std::map<size_t, double> vote_cost;
  std::map<size_t, double> alone_cost;
  for (auto& line : f.results()) {
    if (line.target == "vote3") {
      BOOST_CHECK_EQUAL(line.calls, 3u);
      BOOST_CHECK_EQUAL(line.shared, 0u);
      vote_cost[line.line] = line.cost_usd;
    } else {
      BOOST_CHECK_EQUAL(line.calls, 0u);
      BOOST_CHECK_EQUAL(line.shared, 1u);
      alone_cost[line.line] = line.cost_usd;
    }
  }
  for (auto& [line, cost] : alone_cost) {
    BOOST_CHECK_GT(cost, 0);
    BOOST_CHECK_LT(cost, vote_cost[line]); // q80 is part of vote3's cost
  }
}

BOOST_AUTO_TEST_CASE(resume_scores_the_rows_left_and_asks_none_twice) {
  eval_fixture f{40};
  auto first =
      f.run({"--ensembles", "vote3", "--providers", "q80", "--limit", "15"});
  BOOST_REQUIRE_MESSAGE(first.exit_code == 0, first.err);
  BOOST_CHECK_EQUAL(f.results().size(), 30u);
  // Without --resume an existing results file is not overwritten.
  auto refused = f.run({"--ensembles", "vote3", "--providers", "q80"});
  BOOST_CHECK_EQUAL(refused.exit_code, 2);
  auto second =
      f.run({"--ensembles", "vote3", "--providers", "q80", "--resume"});
  BOOST_REQUIRE_MESSAGE(second.exit_code == 0, second.err);
  BOOST_CHECK_NE(second.err.find("15 of 40 rows already scored"),
                 std::string::npos);
  auto lines = f.results();
  BOOST_CHECK_EQUAL(lines.size(), 80u);
  std::map<size_t, size_t> per_row;
  for (auto& l : lines)
    ++per_row[l.line];
  BOOST_CHECK_EQUAL(per_row.size(), 40u);
  for (auto& [line, n] : per_row)
    BOOST_CHECK_EQUAL(n, 2u);
  for (auto& m : quiz_models)
    BOOST_CHECK_EQUAL(f.calls_to(m.model), 40u);
}

BOOST_AUTO_TEST_CASE(bad_rows_are_reported_by_line_and_skipped) {
  eval_fixture f{5};
  {
    std::ofstream out{f.data, std::ios::app};
    out << "this is not JSON\n";
    out << R"({"id": 7, "question": "What is 1 times 7 plus 3?"})" << '\n';
    out << R"({"id": 8, "answer": "10"})" << '\n';
    out << "[1, 2]\n";
  }
  auto r = f.run({"--providers", "q80"});
  BOOST_CHECK_EQUAL(r.exit_code, 1);
  for (auto line : {":6: not valid JSON", ":7: ", ":8: ", ":9: "})
    BOOST_CHECK_MESSAGE(r.err.find(f.data.string() + line) != std::string::npos,
                        "no report of line " << line << " in:\n"
                                             << r.err);
  BOOST_CHECK_EQUAL(f.results().size(), 5u);
  BOOST_CHECK_NE(r.out.find("4 lines skipped"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(unknown_targets_and_bad_regexes_are_usage_errors) {
  eval_fixture f{3};
  BOOST_CHECK_EQUAL(f.run({"--ensembles", "nope"}).exit_code, 2);
  BOOST_CHECK_EQUAL(f.run({"--providers", "q80", "--extract", "("}).exit_code,
                    2);
  BOOST_CHECK_EQUAL(f.run({}).exit_code, 2);
}

BOOST_AUTO_TEST_CASE(a_judge_scores_free_text_and_no_verdict_is_unscored) {
  eval_fixture f{6};
  // The grader finds every answer wrong, however right it is.
  auto r = f.run({"--providers", "q80", "--judge", "grader", "--rubric",
                  "the same number"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto lines = f.results();
  BOOST_REQUIRE_EQUAL(lines.size(), 6u);
  for (auto& l : lines)
    BOOST_CHECK(!l.right);
  BOOST_CHECK_EQUAL(f.calls_to("grader-model"), 6u);
  auto body = tutti::fake_upstream::arrivals_of(*f.upstream, "grader-model")
                  .front()
                  .body;
  BOOST_CHECK_NE(body.find("the same number"), std::string::npos);
  BOOST_CHECK_NE(body.find("Expected answer"), std::string::npos);
  // A judge that names no verdict leaves the rows unscored: exit 1.
  fs::remove(f.output);
  auto unsure = f.run({"--providers", "q80", "--judge", "shrug"});
  BOOST_CHECK_EQUAL(unsure.exit_code, 1);
  BOOST_CHECK_NE(unsure.out.find("+6?"), std::string::npos);
}
