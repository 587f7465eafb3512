// The `tutti` command end to end: the real binary run as a subprocess, with
// its own environment and working directory, against the fake upstream on
// loopback.

#include <boost/test/tools/floating_point_comparison.hpp>
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "tests/integration/tutti_process.hpp"
#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/store.hpp"

namespace fs = std::filesystem;

namespace {

using tutti::testing::environment;
using tutti::testing::run_result;
using tutti::testing::run_tutti;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

/// A line of the table: the member's label, padded, starts it.
std::string row_of(const std::string& out, const std::string& label) {
  for (auto& line : lines_of(out))
    if (starts_with(line, label + " "))
      return line;
  return {};
}

const char* secret_key = "sk-cli-secret-0042";

const char* upstream_script = R"(
models:
  good-model:   {reply: "Paris is the capital of France."}
  other-model:  {reply: "Lyon is not the capital."}
  busy-model:   {fail: {status: 503, message: "The server is overloaded"}}
  down-model:   {fail: {status: 500, message: "Internal failure in the model"}}
  locked-model: {fail: 401}
  echoing-model: {fail: {status: 401, message: "Incorrect API key provided: sk-cli-secr****0042, we got sk-cli-secret-0042"}}
  escaping-model: {reply: "Paris\e]52;c;ZXZpbA==\a is \e[2Jhere\x9b and caf\xe9\r\nbye"}
  header-echoing-model: {fail: {status: 403, message: "gateway key gw-header-secret-7788 (gw-header-se...) refused for team research-team-a"}}
  vote-a-model: {reply: "Six times seven is #### 42"}
  vote-b-model: {reply: "I make it #### 42.0"}
  vote-c-model: {reply: "Surely #### 41"}
  judge-model:  {reply: "Candidate 2"}
  synth-model:  {reply: "Paris, on the Seine, is the capital of France.", tokens_per_second: 200}
  slow-model:   {reply: "Paris, eventually.", latency: 5s}
)";

/// Providers read their URL and key from the environment; `elsewhere` needs a
/// variable no test sets unless it asks for it.
const char* good_config = R"(providers:
  good:
    kind: openai
    model: good-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: ${TUTTI_TEST_KEY}
  other:
    kind: openai
    model: other-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: ${TUTTI_TEST_KEY}
  busy:
    kind: openai
    model: busy-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: ${TUTTI_TEST_KEY}
  down:
    kind: openai
    model: down-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: ${TUTTI_TEST_KEY}
  locked:
    kind: openai
    model: locked-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: ${TUTTI_TEST_KEY}
  echoing:
    kind: openai
    model: echoing-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: ${TUTTI_TEST_KEY}
  elsewhere:
    kind: openai
    model: good-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: ${TUTTI_UNUSED_KEY}
  escaping:
    kind: openai
    model: escaping-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: ${TUTTI_TEST_KEY}
  header_echoing:
    kind: openai
    model: header-echoing-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: ${TUTTI_TEST_KEY}
    headers: {x-gateway-key: gw-header-secret-7788, x-team: research-team-a}
ensembles:
  mixed:
    members: [good, other, busy]
    deadline: 10s
  doomed:
    members: [busy, down]
    deadline: 10s
  secret:
    members: [locked, echoing]
    deadline: 10s
  unused:
    members: [elsewhere]
    deadline: 10s
  header_secret:
    members: [header_echoing]
    deadline: 10s
  escapes:
    members: [escaping]
    deadline: 10s
)";

/// Ensembles that use `until`, `mode`, `min_success` and the combine
/// strategies, on the same fake upstream.
const char* ensembles_config = R"(providers:
  good:
    kind: openai
    model: good-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: ${TUTTI_TEST_KEY}
  other:
    kind: openai
    model: other-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: ${TUTTI_TEST_KEY}
  locked:
    kind: openai
    model: locked-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: ${TUTTI_TEST_KEY}
  slow:
    kind: openai
    model: slow-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: ${TUTTI_TEST_KEY}
  a:
    kind: openai
    model: vote-a-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: ${TUTTI_TEST_KEY}
  b:
    kind: openai
    model: vote-b-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: ${TUTTI_TEST_KEY}
  c:
    kind: openai
    model: vote-c-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: ${TUTTI_TEST_KEY}
  referee:
    kind: openai
    model: judge-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: ${TUTTI_TEST_KEY}
  writer:
    kind: openai
    model: synth-model
    base_url: ${TUTTI_FAKE_URL}
    api_key: ${TUTTI_TEST_KEY}
ensembles:
  poll:
    members: [a, b, c]
    combine: vote
    extract: '####\s*(-?[\d.,]+)'
    deadline: 10s
  judged:
    members: [good, locked, other]
    combine: judge
    judge: referee
    deadline: 10s
  merged:
    members: [good, other]
    combine: synthesize
    synthesizer: writer
    deadline: 10s
  quickest:
    members: [good, slow, {provider: slow, label: sleepy}]
    until: first
    deadline: 8s
  chain:
    members: [locked, good, other]
    mode: fallback
    deadline: 10s
  strict:
    members: [good, locked]
    min_success: 2
    deadline: 10s
  sampled:
    members:
      - {provider: a, samples: 3, params: {seed: 7}}
      - {provider: c, weight: 4}
    combine: vote
    extract: '####\s*(-?[\d.,]+)'
    deadline: 10s
pipelines:
  critique:
    inputs: [question]
    steps:
      draft: {call: good, prompt: "{{input.question}}"}
      review: {call: other, prompt: "Draft: {{steps.draft.answer}}"}
      doomed: {call: locked, prompt: "{{input.question}}"}
      after-doomed: {call: good, prompt: "{{steps.doomed.answer}}"}
    output: review
)";

/// A fake upstream, a temp dir holding `good.yaml`, and an empty working
/// directory inside it.
struct cli_fixture {
  tutti::fake::server upstream{tutti::fake::parse_script(upstream_script)};
  fs::path dir;
  fs::path work;
  fs::path config;
  fs::path ensembles;

  cli_fixture() {
    upstream.start();
    std::string pattern =
        (fs::temp_directory_path() / "tutti-cli-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    dir = pattern;
    work = dir / "work";
    fs::create_directory(work);
    config = write("good.yaml", good_config);
    ensembles = write("ensembles.yaml", ensembles_config);
  }

  ~cli_fixture() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }

  fs::path write(const fs::path& name, const std::string& text) {
    auto path = dir / name;
    std::ofstream{path} << text;
    return path;
  }

  /// The variables the good config needs, and nothing else.
  environment env() const {
    return {{"TUTTI_FAKE_URL", upstream.base_url()},
            {"TUTTI_TEST_KEY", secret_key}};
  }

  run_result run(const std::vector<std::string>& args) {
    return run(args, env());
  }

  run_result run(const std::vector<std::string>& args, const environment& e) {
    return run(args, e, work);
  }

  run_result run(const std::vector<std::string>& args, const environment& e,
                 const fs::path& cwd) {
    auto r = run_tutti(args, e, cwd);
    BOOST_REQUIRE_MESSAGE(!r.timed_out, "tutti did not finish; stdout:\n"
                                            << r.out << "\nstderr:\n"
                                            << r.err);
    return r;
  }

  run_result ask(const std::string& ensemble,
                 const std::vector<std::string>& extra = {}) {
    return ask_in(config, ensemble, extra);
  }

  run_result ask_in(const fs::path& file, const std::string& ensemble,
                    const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"ask", "--config", file.string(),
                                  "--ensemble", ensemble};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("What is the capital of France?");
    return run(args);
  }
};

const rapidjson::Value& member_json(const rapidjson::Document& doc,
                                    const std::string& label) {
  for (auto& m : doc["members"].GetArray())
    if (m.HasMember("member") && m["member"].IsString() &&
        m["member"].GetString() == label)
      return m;
  BOOST_FAIL("no member " + label + " in the JSON");
  throw std::logic_error("unreachable");
}

rapidjson::Document parse_json(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  BOOST_REQUIRE_MESSAGE(!doc.HasParseError() && doc.IsObject(),
                        "not JSON: " << text);
  return doc;
}

/// The line of the summary beneath the answer that starts with `key`
/// ("winner:", "note:"...).
std::string summary_line(const std::string& out, const std::string& key) {
  auto at = out.find("\nanswer (");
  if (at == std::string::npos)
    return {};
  for (auto& line : lines_of(out.substr(at)))
    if (starts_with(line, key))
      return line;
  return {};
}

/// `file:LINE:COLUMN: ` with positive numbers.
bool names_a_position(const std::string& err, const std::string& file) {
  std::regex position{
      std::regex_replace(file, std::regex{R"([.^$|()\[\]{}*+?\\])"}, R"(\$&)") +
      R"(:[1-9][0-9]*:[1-9][0-9]*: )"};
  return std::regex_search(err, position);
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(cli_tests, cli_fixture)

// --- ask: the table and exit codes ---

BOOST_AUTO_TEST_CASE(ask_prints_one_row_per_member_and_the_combined_answer) {
  auto r = ask("mixed");
  BOOST_TEST(r.exit_code == 0);
  auto lines = lines_of(r.out);
  BOOST_REQUIRE(!lines.empty());
  auto& header = lines[0];
  for (auto* column : {"member", "status", "latency", "tokens", "answer"})
    BOOST_TEST(contains(header, column), "header lacks " << column);
  // The rows are the lines between the header and the first empty line.
  std::vector<std::string> rows;
  for (size_t i = 1; i < lines.size() && !lines[i].empty(); ++i)
    rows.push_back(lines[i]);
  BOOST_TEST(rows.size() == 3u);
  auto good = row_of(r.out, "good");
  BOOST_TEST(contains(good, " ok "));
  BOOST_TEST(contains(good, "Paris is the capital of France."));
  BOOST_TEST(contains(row_of(r.out, "other"), "Lyon is not the capital."));
  BOOST_TEST(contains(r.out, "answer (collect, partial: 2 of 3 members"));
  // The combined text comes after the table.
  auto combined = r.out.substr(r.out.find("answer (collect"));
  BOOST_TEST(contains(combined, "Paris is the capital of France."));
  BOOST_TEST(contains(combined, "Lyon is not the capital."));
  BOOST_TEST(r.err.empty(), "stderr: " << r.err);
}

BOOST_AUTO_TEST_CASE(ask_takes_one_provider_and_a_question_from_stdin) {
  auto alone = run({"ask", "--config", config.string(), "--provider", "good",
                    "--json", "Capital?"});
  BOOST_TEST(alone.exit_code == 0, alone.err);
  BOOST_TEST(contains(alone.out, "\"member\": \"good\""));
  BOOST_TEST(contains(alone.out, "Paris is the capital of France."));
  // "-" reads the question from standard input.
  auto e = env();
  e["TUTTI"] = TUTTI_BIN;
  e["CONFIG"] = config.string();
  auto db = (work / "stdin.db").string();
  e["STORE"] = "sqlite:" + db;
  tutti::testing::child_process piped{
      {"/bin/sh", "-c",
       "printf 'What is the capital\\nof France?' | \"$TUTTI\" ask "
       "--config \"$CONFIG\" --store \"$STORE\" -p good --json -"},
      e,
      work};
  auto r = piped.wait(std::chrono::seconds{10});
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(contains(r.out, "Paris is the capital of France."));
  // The question asked was the whole of standard input, its line break too.
  auto store = tutti::open_store(tutti::store_config{"sqlite:" + db});
  auto runs = store->list(tutti::run_filter{}).runs;
  BOOST_REQUIRE_EQUAL(runs.size(), 1u);
  auto stored = store->find(runs[0].id);
  BOOST_REQUIRE(stored);
  BOOST_TEST(contains(stored->prompt, "What is the capital\\nof France?"),
             stored->prompt);
  // Neither, or both, is a usage error.
  BOOST_TEST(run({"ask", "--config", config.string(), "hi"}).exit_code == 2);
  BOOST_TEST(run({"ask", "--config", config.string(), "-e", "mixed", "-p",
                  "good", "hi"})
                 .exit_code == 2);
}

BOOST_AUTO_TEST_CASE(max_tokens_flag_overrides_the_config_for_every_member) {
  auto r = run({"ask", "--config", config.string(), "--ensemble", "mixed",
                "--max-tokens", "2", "--json", "hi"});
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(contains(r.out, "\"text\": \"Paris is\""));
  BOOST_TEST(contains(r.out, "\"finish_reason\": \"length\""));
  auto bad = run({"ask", "--config", config.string(), "--ensemble", "mixed",
                  "--max-tokens", "0", "hi"});
  BOOST_TEST(bad.exit_code == 2);
}

BOOST_AUTO_TEST_CASE(failed_member_is_listed_with_its_status_and_message) {
  auto r = ask("mixed");
  BOOST_TEST(r.exit_code == 0);
  auto busy = row_of(r.out, "busy");
  BOOST_TEST(contains(busy, "failed: overloaded 503"), busy);
  BOOST_TEST(contains(busy, "The server is overloaded"), busy);
}

BOOST_AUTO_TEST_CASE(every_member_failing_exits_1_and_lists_every_failure) {
  auto r = ask("doomed");
  BOOST_TEST(r.exit_code == 1);
  auto busy = row_of(r.out, "busy");
  BOOST_TEST(contains(busy, "failed: overloaded 503"), busy);
  BOOST_TEST(contains(busy, "The server is overloaded"), busy);
  auto down = row_of(r.out, "down");
  BOOST_TEST(contains(down, "failed: server 500"), down);
  BOOST_TEST(contains(down, "Internal failure in the model"), down);
  BOOST_TEST(contains(r.out, "0 of 2 members answered"));
}

// --- config and usage errors: exit 2 ---

BOOST_AUTO_TEST_CASE(bad_yaml_exits_2_naming_file_line_and_column) {
  auto bad = write("bad.yaml", "providers:\n  p: {kind: openai\nensembles:\n");
  auto r = run({"ask", "--config", bad.string(), "--ensemble", "e", "hi"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(names_a_position(r.err, bad.string()), "stderr: " << r.err);
  BOOST_TEST(contains(r.err, "invalid YAML"), "stderr: " << r.err);
  BOOST_TEST(r.out.empty());
}

BOOST_AUTO_TEST_CASE(unknown_provider_kind_exits_2_naming_its_position) {
  auto bad = write("kind.yaml", "providers:\n"
                                "  p:\n"
                                "    kind: opena\n"
                                "    model: m\n"
                                "    base_url: http://127.0.0.1:1/v1\n"
                                "ensembles:\n"
                                "  e: {members: [p]}\n");
  auto r = run({"ask", "--config", bad.string(), "--ensemble", "e", "hi"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, bad.string() + ":3:11: "), "stderr: " << r.err);
  BOOST_TEST(contains(r.err, "unknown kind 'opena'"), "stderr: " << r.err);
}

// The ensemble name comes from the command line, so there is no position in
// the file to point at: the error names the file and the ensembles it has.
BOOST_AUTO_TEST_CASE(unknown_ensemble_exits_2_listing_the_known_ones) {
  auto r = ask("nope");
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, config.string()), "stderr: " << r.err);
  BOOST_TEST(contains(r.err, "unknown ensemble 'nope'"), "stderr: " << r.err);
  BOOST_TEST(contains(r.err, "mixed"), "stderr: " << r.err);
  BOOST_TEST(upstream.arrivals().empty());
}

BOOST_AUTO_TEST_CASE(missing_ensemble_flag_is_a_usage_error) {
  auto r = run({"ask", "--config", config.string(), "hi"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, "--ensemble"), "stderr: " << r.err);
}

BOOST_AUTO_TEST_CASE(unknown_flag_is_a_usage_error) {
  auto r = run({"ask", "--config", config.string(), "--ensemble", "mixed",
                "--frobnicate", "hi"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, "--frobnicate"), "stderr: " << r.err);
  BOOST_TEST(upstream.arrivals().empty());
}

BOOST_AUTO_TEST_CASE(no_subcommand_is_a_usage_error) {
  auto r = run({});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(!r.err.empty());
}

BOOST_AUTO_TEST_CASE(unset_variable_exits_2_naming_the_variable) {
  auto e = env();
  e.erase("TUTTI_TEST_KEY");
  auto r =
      run({"ask", "--config", config.string(), "--ensemble", "mixed", "hi"}, e);
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, "TUTTI_TEST_KEY is not set"), "stderr: " << r.err);
  BOOST_TEST(names_a_position(r.err, config.string()), "stderr: " << r.err);
  BOOST_TEST(upstream.arrivals().empty());
}

BOOST_AUTO_TEST_CASE(serve_warns_at_start_of_each_unset_variable) {
  tutti::testing::tutti_process serve{
      {"serve", "--config", config.string(), "--listen", "127.0.0.1:0"},
      env(),
      work};
  for (int i = 0; i < 100 && !contains(serve.out(), "listening on"); ++i)
    serve.pump(std::chrono::milliseconds{50});
  BOOST_REQUIRE(contains(serve.out(), "listening on"));
  BOOST_TEST(contains(serve.err(), "warning: provider 'elsewhere'"),
             serve.err());
  BOOST_TEST(contains(serve.err(), "TUTTI_UNUSED_KEY is not set"));
  // One line: the providers whose variables are set say nothing.
  BOOST_TEST(!contains(serve.err(), "provider 'good'"));
  BOOST_TEST(!contains(serve.err(), secret_key));
  serve.signal(SIGTERM);
  auto ended = serve.wait(std::chrono::seconds{10});
  BOOST_TEST(!ended.timed_out);
}

BOOST_AUTO_TEST_CASE(serve_reloads_its_config_on_sighup_and_keeps_a_good_one) {
  auto file = write("reload.yaml", "store: none\nproviders:\n  first: {kind: "
                                   "openai, model: m, base_url: \"" +
                                       upstream.base_url() + "\"}\n");
  tutti::testing::tutti_process serve{
      {"serve", "--config", file.string(), "--listen", "127.0.0.1:0"},
      env(),
      work};
  for (int i = 0; i < 100 && !contains(serve.out(), "listening on"); ++i)
    serve.pump(std::chrono::milliseconds{50});
  BOOST_REQUIRE(contains(serve.out(), "listening on"));
  auto pump_until = [&](const std::string& text) {
    for (int i = 0; i < 100 && !contains(serve.err(), text); ++i)
      serve.pump(std::chrono::milliseconds{50});
    return contains(serve.err(), text);
  };
  write("reload.yaml", "store: none\nproviders:\n  first: {kind: openai, "
                       "model: m, base_url: \"" +
                           upstream.base_url() +
                           "\"}\n  second: {kind: openai, model: m2, "
                           "base_url: \"" +
                           upstream.base_url() + "\"}\n");
  serve.signal(SIGHUP);
  BOOST_TEST(pump_until("config reloaded: serving 2 providers"), serve.err());
  write("reload.yaml", "providers:\n  first: {kind: nope}\n");
  serve.signal(SIGHUP);
  BOOST_TEST(pump_until("config NOT reloaded"), serve.err());
  BOOST_TEST(contains(serve.err(), "reload.yaml:2:"), serve.err());
  // Still serving, then a clean stop.
  serve.signal(SIGTERM);
  auto ended = serve.wait(std::chrono::seconds{10});
  BOOST_TEST(!ended.timed_out);
  BOOST_TEST(ended.exit_code == 0);
}

BOOST_AUTO_TEST_CASE(
    variable_of_a_provider_the_ensemble_does_not_use_may_be_unset) {
  auto e = env();
  BOOST_REQUIRE(e.count("TUTTI_UNUSED_KEY") == 0u);
  auto used =
      run({"ask", "--config", config.string(), "--ensemble", "mixed", "hi"}, e);
  BOOST_TEST(used.exit_code == 0, "stderr: " << used.err);
  // The provider that does use it still needs it.
  auto unused = run(
      {"ask", "--config", config.string(), "--ensemble", "unused", "hi"}, e);
  BOOST_TEST(unused.exit_code == 2);
  BOOST_TEST(contains(unused.err, "TUTTI_UNUSED_KEY is not set"),
             "stderr: " << unused.err);
}

// --- --json ---

BOOST_AUTO_TEST_CASE(json_output_is_the_whole_answer_with_every_failure) {
  auto r = ask("mixed", {"--json"});
  BOOST_TEST(r.exit_code == 0);
  rapidjson::Document doc;
  doc.Parse(r.out.c_str());
  BOOST_REQUIRE_MESSAGE(!doc.HasParseError() && doc.IsObject(),
                        "not JSON: " << r.out);
  BOOST_TEST(std::string{doc["ensemble"].GetString()} == "mixed");
  BOOST_TEST(std::string{doc["status"].GetString()} == "partial");
  BOOST_TEST(contains(doc["text"].GetString(), "Paris is the capital"));
  BOOST_REQUIRE(doc["members"].IsArray());
  BOOST_TEST(doc["members"].Size() == 3u);
  for (auto& m : doc["members"].GetArray()) {
    BOOST_TEST(m.HasMember("member"));
    BOOST_TEST(m.HasMember("status"));
  }
  BOOST_TEST(std::string{member_json(doc, "good")["status"].GetString()} ==
             "ok");
  auto& busy = member_json(doc, "busy");
  BOOST_TEST(std::string{busy["status"].GetString()} == "failed");
  BOOST_REQUIRE(busy.HasMember("error") && busy["error"].IsObject());
  auto& error = busy["error"];
  BOOST_TEST(std::string{error["kind"].GetString()} == "overloaded");
  BOOST_TEST(error["http_status"].GetInt() == 503);
  BOOST_TEST(
      contains(error["message"].GetString(), "The server is overloaded"));
}

BOOST_AUTO_TEST_CASE(json_output_of_an_all_failed_answer_exits_1) {
  auto r = ask("doomed", {"--json"});
  BOOST_TEST(r.exit_code == 1);
  rapidjson::Document doc;
  doc.Parse(r.out.c_str());
  BOOST_REQUIRE_MESSAGE(!doc.HasParseError() && doc.IsObject(),
                        "not JSON: " << r.out);
  BOOST_TEST(std::string{doc["status"].GetString()} == "failed");
  auto& down = member_json(doc, "down")["error"];
  BOOST_TEST(std::string{down["kind"].GetString()} == "server");
  BOOST_TEST(down["http_status"].GetInt() == 500);
}

// --- --stream ---

BOOST_AUTO_TEST_CASE(
    stream_labels_each_members_tokens_and_ends_with_the_table) {
  auto r = ask("mixed", {"--stream"});
  BOOST_TEST(r.exit_code == 0);
  auto table_at = r.out.find("member ");
  BOOST_REQUIRE(table_at != std::string::npos);
  auto streamed = r.out.substr(0, table_at);
  // Each streamed line is either `[label] tokens` or `[label done: how]`;
  // members may interleave, so put each member's tokens back together.
  std::map<std::string, std::string> text;
  std::map<std::string, std::string> done;
  std::regex delta_line{R"(^\[([^\] ]+)\] (.*)$)"};
  std::regex done_line{R"(^\[([^\] ]+) done: ([a-z_]+)\]$)"};
  for (auto& line : lines_of(streamed)) {
    std::smatch m;
    if (std::regex_match(line, m, done_line))
      done[m[1]] = m[2];
    else if (std::regex_match(line, m, delta_line))
      text[m[1]] += m[2];
    else
      BOOST_TEST(line.empty(), "unexpected streamed line: " << line);
  }
  BOOST_TEST(text["good"] == "Paris is the capital of France.");
  BOOST_TEST(text["other"] == "Lyon is not the capital.");
  BOOST_TEST(text.count("busy") == 0u);
  BOOST_TEST(done["good"] == "ok");
  BOOST_TEST(done["other"] == "ok");
  BOOST_TEST(done["busy"] == "overloaded");
  auto table = r.out.substr(table_at);
  BOOST_TEST(contains(table, "latency"));
  BOOST_TEST(contains(row_of(table, "busy"), "failed: overloaded 503"));
  BOOST_TEST(contains(table, "answer (collect, partial: 2 of 3 members"));
  for (auto& a : upstream.arrivals())
    BOOST_TEST(a.stream);
}

// --- ensembles: combine strategies, until, mode, min_success ---

BOOST_AUTO_TEST_CASE(vote_shows_the_winner_and_the_vote_table) {
  auto r = ask_in(ensembles, "poll");
  BOOST_TEST(r.exit_code == 0, "stderr: " << r.err);
  BOOST_TEST(contains(r.out, "answer (vote, ok: 3 of 3 members answered"));
  // With extract, the answer is the value as the first voter wrote it.
  auto answer_at = r.out.find("members answered");
  BOOST_TEST(contains(r.out.substr(answer_at), "):\n42\n"), r.out);
  BOOST_TEST(contains(summary_line(r.out, "status:"),
                      "ok (until all, mode parallel, combine vote)"),
             r.out);
  BOOST_TEST(summary_line(r.out, "winner:") == "winner:   a", r.out);
  BOOST_TEST(contains(summary_line(r.out, "votes:"), "agreement 67%"), r.out);
  // The rows beneath `votes:`: the winning answer first, with its voters.
  auto lines = lines_of(r.out.substr(r.out.find("\nvotes:") + 1));
  BOOST_REQUIRE(lines.size() >= 3u);
  BOOST_TEST(contains(lines[1], "42"), lines[1]);
  BOOST_TEST(contains(lines[1], "weight 2"), lines[1]);
  BOOST_TEST(contains(lines[1], "a, b"), lines[1]);
  BOOST_TEST(contains(lines[2], "41"), lines[2]);
  BOOST_TEST(contains(lines[2], "weight 1"), lines[2]);
  BOOST_TEST(contains(lines[2], "c"), lines[2]);
  BOOST_TEST(contains(summary_line(r.out, "totals:"), "tokens in/out"), r.out);
}

BOOST_AUTO_TEST_CASE(vote_json_has_the_votes_the_agreement_and_the_winner) {
  auto r = ask_in(ensembles, "poll", {"--json"});
  BOOST_TEST(r.exit_code == 0, "stderr: " << r.err);
  auto doc = parse_json(r.out);
  BOOST_TEST(std::string{doc["combine"].GetString()} == "vote");
  BOOST_TEST(std::string{doc["until"].GetString()} == "all");
  BOOST_TEST(std::string{doc["mode"].GetString()} == "parallel");
  BOOST_TEST(std::string{doc["text"].GetString()} == "42");
  BOOST_TEST(std::string{doc["winner"].GetString()} == "a");
  BOOST_TEST(doc["agreement"].GetDouble() == 2.0 / 3.0,
             boost::test_tools::tolerance(1e-9));
  BOOST_REQUIRE(doc["votes"].IsArray());
  BOOST_REQUIRE(doc["votes"].Size() == 2u);
  auto& top = doc["votes"][0];
  BOOST_TEST(std::string{top["answer"].GetString()} == "42");
  BOOST_TEST(top["weight"].GetDouble() == 2.0);
  BOOST_REQUIRE(top["members"].Size() == 2u);
  BOOST_TEST(std::string{top["members"][0].GetString()} == "a");
  BOOST_TEST(std::string{top["members"][1].GetString()} == "b");
  BOOST_TEST(std::string{doc["votes"][1]["answer"].GetString()} == "41");
  BOOST_TEST(!doc.HasMember("combiner_calls"));
  // The totals are the members' sums.
  int64_t output_tokens = 0;
  for (auto& m : doc["members"].GetArray())
    output_tokens += m["usage"]["output_tokens"].GetInt64();
  BOOST_TEST(doc["usage"]["output_tokens"].GetInt64() == output_tokens);
  BOOST_TEST(output_tokens > 0);
}

BOOST_AUTO_TEST_CASE(judge_picks_among_the_successes_and_lists_its_call) {
  // Candidates are the successes in member order: good is 1, other is 2.
  auto r = ask_in(ensembles, "judged");
  BOOST_TEST(r.exit_code == 0, "stderr: " << r.err);
  BOOST_TEST(contains(r.out, "answer (judge, partial: 2 of 3 members"));
  BOOST_TEST(summary_line(r.out, "winner:") == "winner:   other", r.out);
  auto call = summary_line(r.out, "combiner:");
  BOOST_TEST(contains(call, "judge "), r.out);
  BOOST_TEST(contains(call, "referee "), r.out);
  BOOST_TEST(contains(call, " ok "), r.out);
  BOOST_TEST(contains(call, " ms "), r.out);
  BOOST_TEST(contains(call, "Candidate 2"), r.out);

  auto j = ask_in(ensembles, "judged", {"--json"});
  BOOST_TEST(j.exit_code == 0, "stderr: " << j.err);
  auto doc = parse_json(j.out);
  BOOST_TEST(std::string{doc["winner"].GetString()} == "other");
  BOOST_TEST(std::string{doc["text"].GetString()} ==
             "Lyon is not the capital.");
  BOOST_REQUIRE(doc.HasMember("combiner_calls"));
  BOOST_REQUIRE(doc["combiner_calls"].Size() == 1u);
  auto& judge = doc["combiner_calls"][0];
  BOOST_TEST(std::string{judge["member"].GetString()} == "judge");
  BOOST_TEST(std::string{judge["provider"].GetString()} == "referee");
  BOOST_TEST(std::string{judge["status"].GetString()} == "ok");
  BOOST_TEST(std::string{judge["text"].GetString()} == "Candidate 2");
  // The judge's tokens count in the totals.
  int64_t input_tokens = judge["usage"]["input_tokens"].GetInt64();
  for (auto& m : doc["members"].GetArray())
    input_tokens += m["usage"]["input_tokens"].GetInt64();
  BOOST_TEST(doc["usage"]["input_tokens"].GetInt64() == input_tokens);
}

BOOST_AUTO_TEST_CASE(synthesize_streams_the_synthesizers_text_as_the_answer) {
  auto r = ask_in(ensembles, "merged", {"--stream"});
  BOOST_TEST(r.exit_code == 0, "stderr: " << r.err);
  auto lines = lines_of(r.out);
  auto answer_line =
      std::find(lines.begin(), lines.end(),
                "answer: Paris, on the Seine, is the capital of France.");
  BOOST_REQUIRE_MESSAGE(answer_line != lines.end(), r.out);
  // The members streamed before it, and the synthesizer's call ended after.
  auto streamed = r.out.substr(0, r.out.find("\nanswer: "));
  BOOST_TEST(contains(streamed, "[good done: ok]"), r.out);
  BOOST_TEST(contains(streamed, "[other done: ok]"), r.out);
  bool synthesizer_done_after =
      std::find(answer_line, lines.end(), "[synthesizer done: ok]") !=
      lines.end();
  BOOST_TEST(synthesizer_done_after, r.out);
  // Then the table, and the answer beneath it.
  BOOST_TEST(
      contains(r.out, "answer (synthesize, ok: 2 of 2 members answered"));
  auto summary = r.out.substr(r.out.find("answer (synthesize"));
  BOOST_TEST(contains(summary, "):\nParis, on the Seine, is the capital"));
  BOOST_TEST(summary_line(r.out, "winner:").empty(), r.out);
  auto call = summary_line(r.out, "combiner:");
  BOOST_TEST(contains(call, "synthesizer "), r.out);
  BOOST_TEST(contains(call, "writer "), r.out);
}

BOOST_AUTO_TEST_CASE(until_first_lists_the_slower_members_as_cancelled) {
  auto started = std::chrono::steady_clock::now();
  auto r = ask_in(ensembles, "quickest");
  auto took = std::chrono::steady_clock::now() - started;
  BOOST_TEST(r.exit_code == 0, "stderr: " << r.err);
  // The slow members answer after 5 s; the ensemble did not wait for them.
  BOOST_TEST(took < std::chrono::seconds{4});
  BOOST_TEST(contains(row_of(r.out, "good"), " ok "), r.out);
  for (auto* label : {"slow", "sleepy"}) {
    auto row = row_of(r.out, label);
    BOOST_TEST(contains(row, " cancelled "), row);
    BOOST_TEST(contains(row, "until first"), row);
    BOOST_TEST(!contains(row, "failed"), row);
  }
  // Members the ensemble stopped itself are not failures.
  BOOST_TEST(contains(r.out, "answer (collect, ok: 1 of 3 members answered"));
  BOOST_TEST(contains(summary_line(r.out, "status:"),
                      "ok (until first, mode parallel, combine collect)"),
             r.out);
}

BOOST_AUTO_TEST_CASE(fallback_asks_the_next_member_only_after_a_failure) {
  auto r = ask_in(ensembles, "chain");
  BOOST_TEST(r.exit_code == 0, "stderr: " << r.err);
  BOOST_TEST(contains(row_of(r.out, "locked"), "failed: auth 401"), r.out);
  BOOST_TEST(contains(row_of(r.out, "good"), "Paris is the capital"), r.out);
  auto other = row_of(r.out, "other");
  BOOST_TEST(contains(other, " cancelled "), other);
  BOOST_TEST(contains(other, "not started"), other);
  BOOST_TEST(contains(summary_line(r.out, "status:"),
                      "partial (until all, mode fallback, combine collect)"),
             r.out);
  // The third member never reached the upstream.
  BOOST_TEST(upstream.arrivals().size() == 2u);
  for (auto& a : upstream.arrivals())
    BOOST_TEST(a.model != "other-model");
}

BOOST_AUTO_TEST_CASE(samples_ask_with_their_own_seeds_and_weights_count) {
  auto r = ask_in(ensembles, "sampled", {"--json"});
  BOOST_TEST(r.exit_code == 0, "stderr: " << r.err);
  auto doc = parse_json(r.out);
  std::vector<std::string> labels;
  for (auto& m : doc["members"].GetArray())
    labels.push_back(m["member"].GetString());
  BOOST_TEST(labels == (std::vector<std::string>{"a:1", "a:2", "a:3", "c"}),
             boost::test_tools::per_element());
  // Three draws from `a`, seeds 7, 8 and 9.
  std::vector<int64_t> seeds;
  for (auto& a : upstream.arrivals())
    if (a.model == "vote-a-model")
      seeds.push_back(a.seed);
  std::sort(seeds.begin(), seeds.end());
  BOOST_TEST(seeds == (std::vector<int64_t>{7, 8, 9}),
             boost::test_tools::per_element());
  // Three votes of weight 1 for 42 lose to one of weight 4 for 41.
  BOOST_TEST(std::string{doc["text"].GetString()} == "41");
  BOOST_TEST(std::string{doc["winner"].GetString()} == "c");
  BOOST_TEST(doc["agreement"].GetDouble() == 4.0 / 7.0,
             boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(run_runs_a_pipeline_and_lists_every_step) {
  auto r = run({"run", "--config", ensembles.string(), "--pipeline", "critique",
                "--input", "question=What is the capital?"});
  BOOST_TEST(r.exit_code == 0, "stderr: " << r.err << "\nstdout: " << r.out);
  BOOST_TEST(contains(r.out, "draft"), r.out);
  BOOST_TEST(contains(r.out, "review"), r.out);
  // A failed step skips what needs it; the rest is kept.
  BOOST_TEST(contains(r.out, "after-doomed"), r.out);
  BOOST_TEST(contains(r.out, "skipped"), r.out);
  auto j = run({"run", "--config", ensembles.string(), "--pipeline", "critique",
                "--input", "question=What is the capital?", "--json"});
  BOOST_TEST(j.exit_code == 0, "stderr: " << j.err);
  auto doc = parse_json(j.out);
  BOOST_REQUIRE(doc.HasMember("steps") && doc["steps"].IsArray());
  std::map<std::string, std::string> status;
  for (auto& step : doc["steps"].GetArray())
    status[step["id"].GetString()] = step["status"].GetString();
  BOOST_TEST(status["draft"] == "ok");
  BOOST_TEST(status["review"] == "ok");
  BOOST_TEST(status["doomed"] == "failed");
  BOOST_TEST(status["after-doomed"] == "skipped");
  BOOST_TEST(std::string{doc["status"].GetString()} == "partial");
  // The review was asked about the draft's answer.
  bool saw_review = false;
  for (auto& a : upstream.arrivals())
    saw_review = saw_review || a.model == "other-model";
  BOOST_TEST(saw_review);
}

BOOST_AUTO_TEST_CASE(run_without_a_declared_input_exits_2_naming_it) {
  auto r =
      run({"run", "--config", ensembles.string(), "--pipeline", "critique"});
  BOOST_TEST(r.exit_code == 2, "stdout: " << r.out);
  BOOST_TEST(contains(r.err, "missing input 'question'"), r.err);
}

BOOST_AUTO_TEST_CASE(too_few_successes_for_min_success_exits_1_with_a_note) {
  auto r = ask_in(ensembles, "strict");
  BOOST_TEST(r.exit_code == 1, "stderr: " << r.err);
  BOOST_TEST(contains(row_of(r.out, "good"), " ok "), r.out);
  BOOST_TEST(contains(row_of(r.out, "locked"), "failed: auth 401"), r.out);
  BOOST_TEST(contains(r.out, "answer (collect, failed: 1 of 2 members"));
  BOOST_TEST(contains(summary_line(r.out, "note:"),
                      "1 of 2 members succeeded; the ensemble needs at least "
                      "2 (min_success)"),
             r.out);
  auto j = ask_in(ensembles, "strict", {"--json"});
  BOOST_TEST(j.exit_code == 1);
  auto doc = parse_json(j.out);
  BOOST_TEST(std::string{doc["status"].GetString()} == "failed");
  BOOST_TEST(contains(doc["note"].GetString(), "(min_success)"));
  BOOST_TEST(doc["winner"].IsNull());
}

// --- where the config comes from ---

BOOST_AUTO_TEST_CASE(config_defaults_to_the_tutti_config_variable) {
  auto e = env();
  e["TUTTI_CONFIG"] = config.string();
  auto r = run({"ask", "--ensemble", "mixed", "hi"}, e);
  BOOST_TEST(r.exit_code == 0, "stderr: " << r.err);
  BOOST_TEST(contains(row_of(r.out, "good"), "Paris"));
}

BOOST_AUTO_TEST_CASE(config_defaults_to_tutti_yaml_in_the_working_directory) {
  fs::copy_file(config, work / "tutti.yaml");
  auto r = run({"ask", "--ensemble", "mixed", "hi"});
  BOOST_TEST(r.exit_code == 0, "stderr: " << r.err);
  BOOST_TEST(contains(row_of(r.out, "good"), "Paris"));
}

BOOST_AUTO_TEST_CASE(tutti_config_variable_wins_over_the_working_directory) {
  std::ofstream{work / "tutti.yaml"} << "providers: [not, a, map]\n";
  auto e = env();
  e["TUTTI_CONFIG"] = config.string();
  auto r = run({"ask", "--ensemble", "mixed", "hi"}, e);
  BOOST_TEST(r.exit_code == 0, "stderr: " << r.err);
}

BOOST_AUTO_TEST_CASE(config_flag_wins_over_the_tutti_config_variable) {
  auto e = env();
  e["TUTTI_CONFIG"] = (dir / "missing.yaml").string();
  auto r =
      run({"ask", "--config", config.string(), "--ensemble", "mixed", "hi"}, e);
  BOOST_TEST(r.exit_code == 0, "stderr: " << r.err);
}

BOOST_AUTO_TEST_CASE(no_config_anywhere_exits_2_naming_tutti_yaml) {
  auto r = run({"ask", "--ensemble", "mixed", "hi"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, "tutti.yaml"), "stderr: " << r.err);
  BOOST_TEST(r.out.empty());
}

// --- validate ---

BOOST_AUTO_TEST_CASE(validate_prints_a_summary_and_needs_no_variables) {
  auto r = run({"validate", config.string()}, {});
  BOOST_TEST(r.exit_code == 0, "stderr: " << r.err);
  BOOST_TEST(r.out == config.string() + ": ok (9 providers, 6 ensembles)\n");
}

BOOST_AUTO_TEST_CASE(validate_accepts_the_config_flag) {
  auto r = run({"validate", "--config", config.string()}, {});
  BOOST_TEST(r.exit_code == 0, "stderr: " << r.err);
  BOOST_TEST(contains(r.out, ": ok (9 providers, 6 ensembles)"));
}

BOOST_AUTO_TEST_CASE(validate_without_a_file_reads_tutti_yaml) {
  fs::copy_file(config, work / "tutti.yaml");
  auto r = run({"validate"}, {});
  BOOST_TEST(r.exit_code == 0, "stderr: " << r.err);
  BOOST_TEST(contains(r.out, "tutti.yaml: ok"));
}

BOOST_AUTO_TEST_CASE(validate_of_a_broken_file_exits_2_naming_its_position) {
  auto bad = write("broken.yaml", "providers:\n"
                                  "  p:\n"
                                  "    kind: openai\n"
                                  "    model: m\n"
                                  "    temprature: 0.2\n");
  auto r = run({"validate", bad.string()}, {});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, bad.string() + ":5:5: "), "stderr: " << r.err);
  BOOST_TEST(contains(r.err, "temprature"), "stderr: " << r.err);
  BOOST_TEST(r.out.empty());
}

// Regressions: a stray comma made `tutti validate` grow without bound; a
// 20,000-deep nested `extract` regex crashed it; a binary file's error put
// raw bytes on the terminal.
BOOST_AUTO_TEST_CASE(validate_of_a_hostile_file_exits_2_in_bounded_time) {
  auto comma = write("comma.yaml", "[a],");
  auto r = run({"validate", comma.string()}, {});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, "comma.yaml:1:4: invalid YAML: unexpected ','"),
             "stderr: " << r.err);
  auto nested = write("nested.yaml",
                      "providers:\n  p: {kind: openai, model: m}\n"
                      "ensembles:\n  e:\n    members: [p]\n    combine: vote\n"
                      "    extract: '" +
                          std::string(20'000, '(') + "a" +
                          std::string(20'000, ')') + "'\n");
  r = run({"validate", nested.string()}, {});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, "capture groups; at most 32 are allowed"),
             "stderr: " << r.err.substr(0, 300));
  auto binary = write("binary.yaml", std::string{"providers:\n  \x1b[2J"} +
                                         "\xff\xfe: {kind: openai}\n");
  r = run({"validate", binary.string()}, {});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find('\x1b') == std::string::npos, "stderr: " << r.err);
  BOOST_TEST(r.err.find('\xff') == std::string::npos);
}

BOOST_AUTO_TEST_CASE(every_file_in_configs_is_valid) {
  // tutti configs pass `tutti validate` with no variables set; the fake
  // upstream's scripts (a top-level `models:`) load as scripts.
  std::vector<std::string> validated;
  for (auto& entry :
       fs::directory_iterator{fs::path{TUTTI_SOURCE_DIR} / "configs"}) {
    auto path = entry.path();
    if (path.extension() != ".yaml")
      continue;
    std::ifstream in{path};
    std::string text{std::istreambuf_iterator<char>{in}, {}};
    bool fake_script = false;
    for (auto& line : lines_of(text))
      fake_script = fake_script || starts_with(line, "models:");
    if (fake_script) {
      BOOST_CHECK_NO_THROW(tutti::fake::load_script(path.string()));
      continue;
    }
    auto r = run({"validate", path.string()}, {});
    BOOST_TEST(r.exit_code == 0, path << ": " << r.err);
    BOOST_TEST(contains(r.out, path.string() + ": ok ("), r.out);
    validated.push_back(path.filename().string());
  }
  for (auto* name : {"demo.yaml", "self-consistency.yaml", "judge.yaml",
                     "usc.yaml", "debate.yaml", "council.yaml"})
    BOOST_TEST(std::count(validated.begin(), validated.end(), name) == 1,
               name << " was not validated");
}

// --- help ---

BOOST_AUTO_TEST_CASE(help_names_the_subcommands) {
  auto r = run({"--help"}, {});
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(contains(r.out, "ask"));
  BOOST_TEST(contains(r.out, "validate"));
}

BOOST_AUTO_TEST_CASE(ask_help_names_its_options) {
  auto r = run({"ask", "--help"}, {});
  BOOST_TEST(r.exit_code == 0);
  for (auto* option : {"--config", "--ensemble", "--json", "--stream"})
    BOOST_TEST(contains(r.out, option), "ask --help lacks " << option);
}

BOOST_AUTO_TEST_CASE(validate_help_names_its_options) {
  auto r = run({"validate", "--help"}, {});
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(contains(r.out, "--config"));
  BOOST_TEST(contains(r.out, "file"));
}

// --- secrets ---

BOOST_AUTO_TEST_CASE(the_api_key_never_appears_in_the_output) {
  for (auto& extra :
       std::vector<std::vector<std::string>>{{}, {"--json"}, {"--stream"}}) {
    auto r = ask("secret", extra);
    BOOST_TEST(r.exit_code == 1);
    BOOST_TEST(!contains(r.out, secret_key), "stdout: " << r.out);
    BOOST_TEST(!contains(r.err, secret_key), "stderr: " << r.err);
    // Regression: a vendor that quotes only a prefix of the key.
    BOOST_TEST(!contains(r.out + r.err, "sk-cli-secr"), "stdout: " << r.out);
  }
  auto r = ask("secret", {"--json"});
  rapidjson::Document doc;
  doc.Parse(r.out.c_str());
  BOOST_REQUIRE_MESSAGE(!doc.HasParseError() && doc.IsObject(),
                        "not JSON: " << r.out);
  for (auto* label : {"locked", "echoing"}) {
    auto& error = member_json(doc, label)["error"];
    BOOST_TEST(std::string{error["kind"].GetString()} == "auth");
    BOOST_TEST(error["http_status"].GetInt() == 401);
  }
  // Every run did reach the upstream and got its 401.
  BOOST_TEST(upstream.arrivals().size() == 8u);
}

// Regression: a model's reply went to the terminal as it was, so an escape
// sequence in it could set the title, write the clipboard (OSC 52) or clear
// the screen. Control characters now show as escapes; text stays.
BOOST_AUTO_TEST_CASE(control_characters_from_a_model_never_reach_the_terminal) {
  for (auto& extra : std::vector<std::vector<std::string>>{{}, {"--stream"}}) {
    auto r = ask("escapes", extra);
    BOOST_TEST(r.exit_code == 0);
    for (auto* raw : {"\x1b", "\a", "\r", "\xc2\x9b"})
      BOOST_TEST(!contains(r.out, raw), "stdout: " << r.out);
    BOOST_TEST(contains(r.out, "Paris\\x1b]52;c;ZXZpbA==\\x07 is "),
               "stdout: " << r.out);
    BOOST_TEST(contains(r.out, "here\\xc2\\x9b and caf\xc3\xa9\\x0d\nbye"),
               "stdout: " << r.out);
  }
  // --json carries the text as it came (JSON escapes it).
  auto r = ask("escapes", {"--json"});
  BOOST_TEST(contains(r.out, "Paris\\u001B]52"), "stdout: " << r.out);
}

// Regression: only the API key was redacted, so a gateway's key given as a
// custom header and echoed by its error reached the output.
BOOST_AUTO_TEST_CASE(a_credential_header_never_appears_in_the_output) {
  for (auto& extra :
       std::vector<std::vector<std::string>>{{}, {"--json"}, {"--stream"}}) {
    auto r = ask("header_secret", extra);
    BOOST_TEST(r.exit_code == 1);
    BOOST_TEST(!contains(r.out + r.err, "gw-header-se"),
               "stdout: " << r.out << "\nstderr: " << r.err);
    BOOST_TEST(!contains(r.out + r.err, "7788"), "stdout: " << r.out);
    BOOST_TEST(contains(r.out + r.err, "[redacted]"), "stdout: " << r.out);
  }
  // A header that is not a credential is left in the message.
  auto r = ask("header_secret", {"--json"});
  BOOST_TEST(contains(r.out, "refused for team research-team-a"), r.out);
}

BOOST_AUTO_TEST_SUITE_END()
