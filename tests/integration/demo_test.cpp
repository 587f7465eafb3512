// `tutti demo` and `tutti serve --demo` end to end: the real binary, run
// with an empty environment (no API key, no proxy, no TUTTI_FAKE_URL) from
// a folder without configs, so that only its own fake upstream can answer.

#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <httplib.h>
#include <rapidjson/document.h>

#include "tests/integration/tutti_process.hpp"
#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/config.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using tutti::testing::run_result;
using tutti::testing::run_tutti;
using tutti::testing::tutti_process;

namespace {

const std::string notice = "DEMO: every model here is a scripted fake "
                           "(tutti's fake upstream on http://127.0.0.1:";

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

struct demo_fixture {
  fs::path work;

  demo_fixture() {
    std::string pattern =
        (fs::temp_directory_path() / "tutti-demo-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    work = pattern;
  }

  ~demo_fixture() {
    std::error_code ignored;
    fs::remove_all(work, ignored);
  }

  run_result demo(std::vector<std::string> args) const {
    args.insert(args.begin(), "demo");
    auto r = run_tutti(args, {}, work, 30s);
    BOOST_REQUIRE_MESSAGE(!r.timed_out, "tutti demo did not finish");
    return r;
  }
};

/// The shipped configs (not the fake upstream's scripts, which have a
/// top-level `models:`).
std::vector<fs::path> shipped_configs() {
  std::vector<fs::path> found;
  for (auto& entry :
       fs::directory_iterator{fs::path{TUTTI_SOURCE_DIR} / "configs"}) {
    if (entry.path().extension() != ".yaml")
      continue;
    std::ifstream in{entry.path()};
    std::string text{std::istreambuf_iterator<char>{in}, {}};
    if (text.find("\nmodels:") == std::string::npos &&
        text.rfind("models:", 0) != 0)
      found.push_back(entry.path());
  }
  return found;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(demo, demo_fixture)

BOOST_AUTO_TEST_CASE(
    demo_asks_the_demo_ensemble_and_says_its_models_are_fakes) {
  auto r = demo({});
  BOOST_TEST(r.exit_code == 0, "stderr: " << r.err);
  // The notice comes first and last, around everything a model said.
  BOOST_TEST(r.out.rfind(notice, 0) == 0u, r.out);
  auto last_line = r.out.substr(r.out.rfind('\n', r.out.size() - 2) + 1);
  BOOST_TEST(last_line.rfind(notice, 0) == 0u, last_line);
  BOOST_TEST(contains(r.out, "not a real model"));
  BOOST_TEST(contains(r.out, "Paris is the capital of France."));
  BOOST_TEST(contains(r.out, "failed: overloaded 503"));
  BOOST_TEST(contains(r.out, "partial: 3 of 4 members answered"));
  BOOST_TEST(contains(r.out, "$0"));
}

BOOST_AUTO_TEST_CASE(demo_json_keeps_stdout_json_and_the_notice_on_stderr) {
  auto r = demo({"--json", "Capital of France?"});
  BOOST_TEST(r.exit_code == 0, "stderr: " << r.err);
  rapidjson::Document answer;
  answer.Parse(r.out.c_str());
  BOOST_REQUIRE_MESSAGE(!answer.HasParseError() && answer.IsObject(), r.out);
  BOOST_TEST(answer["members"].Size() == 4u);
  // Kept apart from stdout, the JSON still says what it is.
  BOOST_REQUIRE(answer.HasMember("demo") && answer["demo"].IsString());
  BOOST_TEST(std::string{answer["demo"].GetString()}.rfind(notice, 0) == 0u);
  BOOST_TEST(contains(r.err, notice));
}

// Every shipped config answers in the demo with nothing from outside: its
// real vendors' addresses, keys and Ollama's local port are all replaced
// by the fake's. A request that left the machine, or a key looked for in
// the (empty) environment, would fail the member.
BOOST_AUTO_TEST_CASE(every_shipped_config_runs_offline_in_the_demo) {
  auto configs = shipped_configs();
  BOOST_REQUIRE_GE(configs.size(), 6u);
  for (auto& path : configs) {
    auto cfg = tutti::load_config(path.string());
    std::vector<std::vector<std::string>> runs;
    for (auto& [name, e] : cfg.ensembles)
      runs.push_back({"--config", path.string(), "--ensemble", name});
    for (auto& [name, p] : cfg.pipelines)
      runs.push_back({"--config", path.string(), "--pipeline", name});
    for (auto& args : runs) {
      BOOST_TEST_CONTEXT(path.filename() << " " << args[2] << " " << args[3]) {
        auto r = demo(args);
        BOOST_TEST(r.exit_code == 0, "stdout:\n"
                                         << r.out << "stderr:\n"
                                         << r.err);
        BOOST_TEST(contains(r.out, notice));
        for (auto* kind : {"network", "auth", "timeout", "config"})
          BOOST_TEST(!contains(r.out, std::string{"failed: "} + kind), r.out);
      }
    }
  }
}

// Addresses written to reach elsewhere still reach the fake: a user and a
// port in the authority, a variable before an `@`, a default address.
BOOST_AUTO_TEST_CASE(no_address_in_a_config_leads_off_the_machine) {
  auto config = work / "elsewhere.yaml";
  std::ofstream{config} << R"(providers:
  userinfo: {kind: openai, model: m1, base_url: "https://user:pw@example.com:8443/v1"}
  variable: {kind: openai, model: m2, base_url: "${TUTTI_NOT_SET}@example.com/v1"}
  default: {kind: anthropic, model: m3, api_key: "${ANTHROPIC_API_KEY}"}
ensembles:
  e: {members: [userinfo, variable, default], deadline: 10s}
)";
  auto r = demo({"--config", config.string()});
  auto row = [&](const std::string& label) {
    auto at = r.out.find("\n" + label + " ");
    return at == std::string::npos
               ? std::string{}
               : r.out.substr(at + 1, r.out.find('\n', at + 1) - at - 1);
  };
  BOOST_TEST(contains(row("userinfo"), " ok "), r.out << r.err);
  BOOST_TEST(contains(row("default"), " ok "), r.out);
  // `${TUTTI_NOT_SET}@example.com/v1` keeps no path (what follows the
  // variable does not start with '/'): the fake's root, which serves the
  // OpenAI route there too. Kept as written, `@` would make example.com
  // the host.
  BOOST_TEST(contains(row("variable"), " ok "), r.out);
  BOOST_TEST(!contains(r.out + r.err, "TUTTI_NOT_SET"));
}

BOOST_AUTO_TEST_CASE(demo_of_a_config_with_several_ensembles_asks_which) {
  auto r = demo({"--config", std::string{TUTTI_SOURCE_DIR} +
                                 "/configs/multi-provider.yaml"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, "give --ensemble NAME (one of: judged, panel)"));
  BOOST_TEST(!contains(r.out, "DEMO"));
}

BOOST_AUTO_TEST_CASE(
    serve_demo_says_its_models_are_fakes_and_answers_from_them) {
  tutti_process serve{{"serve", "--demo", "--listen", "127.0.0.1:0"}, {}, work};
  BOOST_REQUIRE(
      serve.pump_until([&] { return contains(serve.out(), notice); }, 10s));
  auto& out = serve.out();
  auto at = out.find("listening on http://");
  BOOST_REQUIRE(at != std::string::npos);
  auto url = out.substr(at + 13, out.find('\n', at) - at - 13);
  httplib::Client client{url};
  auto reply = client.Post(
      "/v1/chat/completions",
      R"({"model": "ensemble/demo", "messages": [{"role": "user", "content": "Hi"}]})",
      "application/json");
  BOOST_REQUIRE(reply);
  BOOST_TEST(reply->status == 200);
  BOOST_TEST(contains(reply->body, "Paris is the capital of France."));
  serve.signal(SIGTERM);
  auto ended = serve.wait(10s);
  BOOST_TEST(!ended.timed_out);
  BOOST_TEST(ended.exit_code == 0);
}

BOOST_AUTO_TEST_SUITE_END()
