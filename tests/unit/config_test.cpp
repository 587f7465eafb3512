// The config file as a whole: the top level, YAML syntax and documents,
// file:line:column locations, typed values and durations, suggestions for
// unknown keys, hostile files, and the environment (`${VAR}` references,
// expand_env, resolve_env). Each section has its own test file:
// config_providers_test.cpp (and config_rate_limits_test.cpp),
// config_ensembles_test.cpp, config_pipelines_test.cpp.

#include <algorithm>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "tests/unit/config_test_support.hpp"
#include "tutti/config.hpp"

using namespace tutti;
using namespace tutti::config_test;

namespace {

/// Sets an environment variable for one test and restores it after.
class scoped_env {
public:
  scoped_env(std::string name, const char* value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) {
      old_ = old;
      had_ = true;
    }
    if (value != nullptr) {
      setenv(name_.c_str(), value, 1);
    } else {
      unsetenv(name_.c_str());
    }
  }

  ~scoped_env() {
    if (had_) {
      setenv(name_.c_str(), old_.c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }

  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

private:
  std::string name_;
  std::string old_;
  bool had_ = false;
};

} // namespace

// --- valid configs -----------------------------------------------------------

BOOST_AUTO_TEST_SUITE(valid)

BOOST_AUTO_TEST_CASE(full_fixture_parses_into_values_with_defaults) {
  auto cfg = load_config(fixtures + "full.yaml");
  BOOST_TEST(cfg.file == fixtures + "full.yaml");
  BOOST_REQUIRE(cfg.providers.size() == 3u);
  BOOST_REQUIRE(cfg.ensembles.size() == 2u);

  const auto& gpt = cfg.providers.at("gpt");
  BOOST_TEST(gpt.name == "gpt");
  BOOST_TEST(gpt.kind == "openai");
  BOOST_TEST(gpt.model == "gpt-4o-mini");
  BOOST_TEST(gpt.base_url == "https://api.openai.com/v1");
  BOOST_TEST(gpt.api_key == "${OPENAI_API_KEY}");
  BOOST_TEST(gpt.concurrency == 8);
  BOOST_TEST(gpt.defaults.temperature.value() == 0.2);
  BOOST_TEST(gpt.defaults.top_p.value() == 0.9);
  BOOST_TEST(gpt.defaults.max_tokens.value() == 512);
  BOOST_TEST(gpt.defaults.seed.value() == 42);
  BOOST_TEST(gpt.defaults.stop == (std::vector<std::string>{"\n\n", "END"}),
             boost::test_tools::per_element());
  BOOST_TEST(gpt.where.line == 3);
  BOOST_TEST(gpt.where.column == 3);
  BOOST_TEST(gpt.api_key_where.line == 6);
  BOOST_TEST(gpt.api_key_where.column == 14);
  BOOST_TEST(!gpt.env_resolved);

  const auto& groq = cfg.providers.at("groq");
  BOOST_TEST(groq.base_url == "https://api.groq.com/openai/v1");
  BOOST_TEST(groq.base_url_where.line == 16);
  BOOST_TEST(groq.base_url_where.column == 15);
  BOOST_TEST(groq.concurrency == 4);
  BOOST_TEST(!groq.defaults.temperature.has_value());
  BOOST_TEST(!groq.defaults.top_p.has_value());
  BOOST_TEST(!groq.defaults.max_tokens.has_value());
  BOOST_TEST(!groq.defaults.seed.has_value());
  BOOST_TEST(groq.defaults.stop == (std::vector<std::string>{"END"}),
             boost::test_tools::per_element());

  const auto& local = cfg.providers.at("local");
  BOOST_TEST(local.base_url == "${LOCAL_LLM_URL}/v1"); // kept raw
  BOOST_TEST(local.api_key.empty());
  BOOST_TEST(local.api_key_where.line == 19); // no api_key: the provider

  const auto& trio = cfg.ensembles.at("trio");
  BOOST_TEST(trio.name == "trio");
  BOOST_TEST(to_string(trio.until) == "all");
  BOOST_TEST(trio.combine == "collect");
  BOOST_TEST(trio.deadline_ms == 30000);
  BOOST_TEST(trio.where.line == 25);
  BOOST_REQUIRE(trio.members.size() == 3u);
  BOOST_TEST(trio.members[0].provider == "gpt");
  BOOST_TEST(trio.members[0].label == "gpt");
  BOOST_TEST(trio.members[1].provider == "groq");
  BOOST_TEST(trio.members[1].label == "groq");
  BOOST_TEST(trio.members[2].provider == "local");
  BOOST_TEST(trio.members[2].label == "laptop");
  BOOST_TEST(trio.members[2].where.line == 26);
  BOOST_TEST(trio.members[2].where.column == 26);

  const auto& sc = cfg.ensembles.at("self-consistency");
  BOOST_TEST(to_string(sc.until) == "all");
  BOOST_TEST(sc.combine == "collect");
  BOOST_TEST(sc.deadline_ms == 1500);
  BOOST_REQUIRE(sc.members.size() == 3u);
  BOOST_TEST(sc.members[0].label == "gpt");
  BOOST_TEST(sc.members[1].label == "gpt#2");
  BOOST_TEST(sc.members[2].label == "gpt#3");
}

BOOST_AUTO_TEST_CASE(providers_alone_or_ensembles_alone_are_enough) {
  BOOST_TEST(parse(two_providers).providers.size() == 2u);
  auto e = error_of("ensembles:\n"
                    "  solo:\n"
                    "    members: [gpt]\n");
  check_error(e, 3, 15,
              {"ensembles.solo.members[0]", "unknown provider 'gpt'",
               "no providers are defined"});
}

BOOST_AUTO_TEST_CASE(durations) {
  const std::vector<std::pair<std::string, int64_t>> cases = {
      {"250ms", 250},   {"1.5s", 1500},     {"30s", 30000},  {"2m", 120000},
      {"45", 45000},    {"0.5", 500},       {"1h", 3600000}, {"1ms", 1},
      {"0.25m", 15000}, {"\"10s\"", 10000},
  };
  for (const auto& [text, ms] : cases) {
    auto cfg = parse(two_providers +
                     "ensembles:\n"
                     "  e:\n"
                     "    members: [gpt]\n"
                     "    deadline: " +
                     text + "\n");
    BOOST_TEST(cfg.ensembles.at("e").deadline_ms == ms, text);
  }
}

BOOST_AUTO_TEST_CASE(bad_durations_are_errors_at_the_value) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"0", "must be at least 1ms"},
      {"0s", "must be at least 1ms"},
      {"0.1ms", "must be at least 1ms"},
      {"25h", "must be at most 24h"},
      {"soon", "expected a duration such as 250ms, 1.5s, 30s or 2m"},
      {"-1s", "expected a duration"},
      {"10 s", "expected a duration"},
      {"1.5.2s", "expected a duration"},
      {"ms", "expected a duration"},
      {"[1]", "expected a duration"},
  };
  for (const auto& [text, message] : cases) {
    BOOST_TEST_CONTEXT("deadline: " << text) {
      auto e = error_of(two_providers +
                        "ensembles:\n"         // 10
                        "  e:\n"               // 11
                        "    members: [gpt]\n" // 12
                        "    deadline: "       // 13
                        + text + "\n");
      check_error(e, 13, 15, {"ensembles.e.deadline: ", message});
    }
  }
}

BOOST_AUTO_TEST_CASE(store_retention_is_hours_or_days_or_none) {
  const std::vector<std::pair<std::string, int64_t>> cases = {
      {"90d", 90 * int64_t{86'400'000}},
      {"12h", 12 * int64_t{3'600'000}},
      {"1h", 3'600'000},
      {"3650d", 3650 * int64_t{86'400'000}},
      {"none", 0},
      {"0", 0},
  };
  for (const auto& [text, ms] : cases) {
    auto cfg =
        parse(two_providers + "store: {url: none, retention: " + text + "}\n");
    BOOST_TEST(cfg.store.retention_ms == ms, text);
  }
  BOOST_TEST(parse(two_providers).store.retention_ms == 0);
}

BOOST_AUTO_TEST_CASE(bad_store_retention_is_an_error_at_the_value) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"30m", "expected a time such as 90d or 12h (1h to 3650d), or none"},
      {"0h", "must be from 1h to 3650d"},
      {"3651d", "must be from 1h to 3650d"},
      {"9999999d", "expected a time such as 90d"},
      {"d", "expected a time such as 90d"},
      {"\"\"", "expected a time such as 90d"},
      {"-1d", "expected a time such as 90d"},
      {"1.5d", "expected a time such as 90d"},
      {"[1]", "expected a time such as 90d"},
  };
  for (const auto& [text, message] : cases) {
    BOOST_TEST_CONTEXT("retention: " << text) {
      // Line 10, after the two providers; the value at column 31.
      auto e = error_of(two_providers +
                        "store: {url: none, retention: " + text + "}\n");
      check_error(e, 10, 31, {"store.retention: ", message});
    }
  }
}

BOOST_AUTO_TEST_CASE(numbers_may_be_quoted_and_stop_may_be_a_list) {
  auto cfg = parse("providers:\n"
                   "  p:\n"
                   "    kind: openai\n"
                   "    model: 4\n"
                   "    concurrency: \"16\"\n"
                   "    temperature: 2\n"
                   "    top_p: 0\n"
                   "    seed: -7\n"
                   "    stop:\n"
                   "      - a\n"
                   "      - b\n");
  const auto& p = cfg.providers.at("p");
  BOOST_TEST(p.model == "4");
  BOOST_TEST(p.concurrency == 16);
  BOOST_TEST(p.defaults.temperature.value() == 2.0);
  BOOST_TEST(p.defaults.top_p.value() == 0.0);
  BOOST_TEST(p.defaults.seed.value() == -7);
  BOOST_TEST(p.defaults.stop == (std::vector<std::string>{"a", "b"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(builtin_plugins_are_the_default_registry) {
  auto cfg = parse_config("providers:\n"
                          "  gpt:\n"
                          "    kind: openai\n"
                          "    model: gpt-4o-mini\n",
                          "builtin.yaml");
  BOOST_TEST(cfg.providers.at("gpt").base_url == "https://api.openai.com/v1");
}

BOOST_AUTO_TEST_SUITE_END()

// --- errors ------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(errors)

BOOST_AUTO_TEST_CASE(unknown_key_is_an_error_with_a_suggestion) {
  auto e = error_of(two_providers + "    temprature: 0.2\n");
  BOOST_TEST(
      std::string{e.what()} ==
      "demo.yaml:10:5: providers.llama: unknown key 'temprature'; "
      "expected one of: kind, model, embedding_model, base_url, api_key, "
      "concurrency, limit_group, rpm, tpm, requests, tokens, queue, "
      "breaker, temperature, top_p, max_tokens, seed, stop, "
      "params, timeouts, retry, price, headers, ca_file, budget, "
      "cache; did you mean 'temperature'?");
}

BOOST_AUTO_TEST_CASE(unknown_key_far_from_any_has_no_suggestion) {
  auto e = error_of(two_providers + "    colour: blue\n");
  check_error(e, 10, 5, {"providers.llama: unknown key 'colour'"});
  BOOST_TEST(!contains(e.what(), "did you mean"));
}

BOOST_AUTO_TEST_CASE(unknown_keys_are_errors_everywhere) {
  check_error(error_of("provider:\n  gpt: {}\n"), 1, 1,
              {"unknown top-level key 'provider'",
               "expected one of: providers, ensembles",
               "did you mean 'providers'?"});
  check_error(error_of(two_providers + "ensembles:\n"
                                       "  e:\n"
                                       "    members: [gpt]\n"
                                       "    deadlin: 3s\n"),
              13, 5,
              {"ensembles.e: unknown key 'deadlin'",
               "expected one of: members, until, mode, hedge_after, "
               "deadline, min_success, combine, budget, cache, extract, "
               "judge, prompt, "
               "rubric, synthesizer",
               "did you mean 'deadline'?"});
  check_error(error_of(two_providers + "ensembles:\n"
                                       "  e:\n"
                                       "    members:\n"
                                       "      - {provider: gpt, lable: x}\n"),
              13, 25,
              {"ensembles.e.members[0]: unknown key 'lable'",
               "expected one of: provider, label, samples, weight, params",
               "did you mean 'label'?"});
}

BOOST_AUTO_TEST_CASE(fixture_errors_name_file_line_and_column) {
  try {
    load_config(fixtures + "typo.yaml");
    BOOST_FAIL("expected a config_error");
  } catch (const config_error& e) {
    BOOST_TEST(e.where().file == fixtures + "typo.yaml");
    BOOST_TEST(e.where().line == 7);
    BOOST_TEST(e.where().column == 5);
    BOOST_TEST(contains(e.what(), fixtures + "typo.yaml:7:5: providers.gpt: "
                                             "unknown key 'temprature'"));
  }
  try {
    load_config(fixtures + "unknown_member.yaml");
    BOOST_FAIL("expected a config_error");
  } catch (const config_error& e) {
    BOOST_TEST(e.where().line == 12);
    BOOST_TEST(e.where().column == 20);
    BOOST_TEST(contains(e.what(), "ensembles.trio.members[1]: unknown provider "
                                  "'claud'; expected one of: gpt, llama"));
  }
}

BOOST_AUTO_TEST_CASE(empty_value_is_reported_at_its_key) {
  auto e = error_of("providers:\n"
                    "  gpt:\n"
                    "    kind: openai\n"
                    "    model:\n"
                    "    api_key: x\n");
  check_error(e, 4, 5, {"providers.gpt.model: expected a string, got nothing"});
  check_error(error_of("providers:\n  gpt:\n  other: {}\n"), 2, 3,
              {"providers.gpt: expected a map with at least 'kind' and "
               "'model', got nothing"});
}

BOOST_AUTO_TEST_CASE(yaml_syntax_error_has_the_parser_location) {
  auto e = error_of("providers:\n"
                    "  gpt:\n"
                    "    kind: openai\n"
                    "   model: x\n");
  check_error(e, 4, 4, {"invalid YAML: end of map not found"});

  try {
    load_config(fixtures + "broken_yaml.yaml");
    BOOST_FAIL("expected a config_error");
  } catch (const config_error& e) {
    BOOST_TEST(e.where().line == 4);
    BOOST_TEST(e.where().column == 10);
    BOOST_TEST(contains(e.what(), "broken_yaml.yaml:4:10: invalid YAML: "));
  }
}

BOOST_AUTO_TEST_CASE(missing_file_names_the_file_and_the_reason) {
  auto path = fixtures + "no_such_file.yaml";
  try {
    load_config(path);
    BOOST_FAIL("expected a config_error");
  } catch (const config_error& e) {
    BOOST_TEST(std::string{e.what()} ==
               path + ": cannot read: No such file or directory");
    BOOST_TEST(e.where().line == 0);
    BOOST_TEST(to_string(e.where()) == path);
  }
  try {
    load_config(fixtures); // a directory
    BOOST_FAIL("expected a config_error");
  } catch (const config_error& e) {
    BOOST_TEST(contains(e.what(), ": cannot read: Is a directory"));
  }
}

BOOST_AUTO_TEST_CASE(a_file_with_neither_section_is_an_error) {
  auto empty = error_of("# only a comment\n");
  BOOST_TEST(std::string{empty.what()} ==
             "demo.yaml: the file is empty; expected a 'providers' or "
             "'ensembles' section");
  check_error(error_of("providers: {}\nensembles:\n"), 1, 1,
              {"no providers and no ensembles are defined"});
  check_error(error_of("- providers\n"), 1, 1,
              {"expected a map with 'providers' and/or 'ensembles' at the top "
               "level, got a list"});
  check_error(error_of("providers: [gpt]\n"), 1, 12,
              {"providers: expected a map of providers by name, got a list"});
}

BOOST_AUTO_TEST_CASE(duplicate_keys_are_errors) {
  check_error(error_of(two_providers + "    model: llama3.1\n"), 10, 5,
              {"providers.llama: duplicate key 'model' (first defined at line "
               "8)"});
  check_error(error_of(two_providers + "  gpt:\n"
                                       "    kind: openai\n"
                                       "    model: gpt-4o\n"),
              10, 3,
              {"providers: duplicate key 'gpt' (first defined at line 2)"});
}

BOOST_AUTO_TEST_CASE(names_must_be_plain_words) {
  check_error(error_of("providers:\n"
                       "  \"my gpt\":\n"
                       "    kind: openai\n"
                       "    model: x\n"),
              2, 3, {"providers.my gpt: invalid provider name"});
  check_error(error_of(two_providers + "ensembles:\n"
                                       "  a#b:\n"
                                       "    members: [gpt]\n"),
              11, 3, {"ensembles.a#b: invalid ensemble name"});
}

BOOST_AUTO_TEST_CASE(more_than_one_document_is_an_error) {
  check_error(error_of(two_providers + "---\nproviders: {}\n"), 10, 1,
              {"expected one YAML document, found more than one"});
}

// Regression: yaml-cpp 0.7's LoadAll never returned on a stray comma
// (`tutti validate` grew to 3.5 GB in 22 s).
BOOST_AUTO_TEST_CASE(a_stray_comma_is_an_error_not_a_hang) {
  check_error(error_of(","), 1, 1, {"invalid YAML: unexpected ','"});
  check_error(error_of("[a],"), 1, 4, {"invalid YAML: unexpected ','"});
  check_error(error_of(two_providers + ",\n"), 10, 1, {"invalid YAML"});
}

// Regression: a binary file's error echoed its raw bytes to the terminal.
BOOST_AUTO_TEST_CASE(errors_show_control_and_stray_bytes_escaped) {
  auto e = error_of(two_providers + "ensembles:\n  e:\n    members: "
                                    "[gpt]\n    until: \"\\e[31m\\x01\"\n");
  BOOST_TEST(contains(e.what(), "\\x1b[31m\\x01"), "what(): " << e.what());
  auto raw = error_of(two_providers + "ensembles:\n  e:\n    members: "
                                      "[gpt]\n    until: a\xff\xfe\n");
  BOOST_TEST(contains(e.what(), "\\x1b"));
  BOOST_TEST(std::string{raw.what()}.find('\xff') == std::string::npos);
  for (unsigned char c : std::string{e.what()} + raw.what())
    BOOST_TEST((c >= 0x20 && c != 0x7f), "raw byte " << int(c));
}

// Regression: finding an error's column rescanned the file from the start
// (40,000 providers took 22 s); the step graph was walked recursively.
BOOST_AUTO_TEST_CASE(large_files_are_read_in_linear_time) {
  auto started = std::chrono::steady_clock::now();
  std::string providers = "providers:\n";
  for (int i = 0; i < 60'000; ++i)
    providers += "  p" + std::to_string(i) + ": {kind: openai, model: m}\n";
  check_error(error_of(providers + "  bad: {kind: openai, model: m, "
                                   "temprature: 1}\n"),
              60'002, 33, {"temprature"});
  auto seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();
  // Not a benchmark: a bound that only a quadratic reading (about a minute
  // here) exceeds; the linear one takes about a second.
  BOOST_TEST(seconds < 30.0);
  std::string chain = two_providers + "pipelines:\n  long:\n    steps:\n"
                                      "      s0: {call: gpt, prompt: go}\n";
  for (int i = 1; i < 50'000; ++i)
    chain += "      s" + std::to_string(i) +
             ": {call: gpt, prompt: \"{{steps.s" + std::to_string(i - 1) +
             ".answer}}\"}\n";
  chain += "    output: s49999\n";
  BOOST_TEST(parse(chain).pipelines.at("long").steps.size() == 50'000u);
}

BOOST_AUTO_TEST_CASE(columns_count_characters_not_bytes) {
  auto e = error_of(two_providers + "ensembles:\n"
                                    "  e:\n"
                                    "    members: [{provider: gpt, label: "
                                    "\"\xC3\xA9t\xC3\xA9\"}, nope]\n");
  // 'nope' is at byte 48 but character 46 of its line.
  check_error(e, 12, 46, {"ensembles.e.members[1]: unknown provider 'nope'"});
}

BOOST_AUTO_TEST_CASE(malformed_references_fail_at_load_without_the_text) {
  auto e = error_of("providers:\n"
                    "  gpt:\n"
                    "    kind: openai\n"
                    "    model: x\n"
                    "    api_key: sk-secret-${OPENAI_KEY\n");
  check_error(e, 5, 14, {"providers.gpt.api_key: '${' without a closing '}'"});
  BOOST_TEST(!contains(e.what(), "sk-secret"));

  auto bad_name = error_of("providers:\n"
                           "  gpt:\n"
                           "    kind: openai\n"
                           "    model: x\n"
                           "    base_url: ${1URL}/v1\n");
  check_error(bad_name, 5, 15,
              {"providers.gpt.base_url: invalid environment variable "
               "reference"});

  auto not_text = error_of("providers:\n"
                           "  gpt:\n"
                           "    kind: openai\n"
                           "    model: x\n"
                           "    api_key: {sk-secret: 1}\n");
  check_error(not_text, 5, 14, {"providers.gpt.api_key: expected a string"});
  BOOST_TEST(!contains(not_text.what(), "sk-secret"));
}

BOOST_AUTO_TEST_SUITE_END()

// --- the environment ---------------------------------------------------------

BOOST_AUTO_TEST_SUITE(environment)

const source_location key_at{"demo.yaml", 5, 14};

BOOST_AUTO_TEST_CASE(expand_env_replaces_references) {
  scoped_env a{"TUTTI_TEST_A", "alpha"};
  scoped_env b{"TUTTI_TEST_B", "beta"};
  BOOST_TEST(expand_env("${TUTTI_TEST_A}", key_at) == "alpha");
  BOOST_TEST(expand_env("Bearer ${TUTTI_TEST_A}-${TUTTI_TEST_B}!", key_at) ==
             "Bearer alpha-beta!");
  BOOST_TEST(expand_env("${TUTTI_TEST_A}${TUTTI_TEST_A}", key_at) ==
             "alphaalpha");
  BOOST_TEST(expand_env("plain sk-123", key_at) == "plain sk-123");
  BOOST_TEST(expand_env("", key_at) == "");
  // Only ${NAME} is special: $NAME, $$ and a lone } stay as they are.
  BOOST_TEST(expand_env("$TUTTI_TEST_A $$ }", key_at) == "$TUTTI_TEST_A $$ }");
  BOOST_TEST(expand_env("$${TUTTI_TEST_A}", key_at) == "$alpha");
}

BOOST_AUTO_TEST_CASE(unset_variable_is_an_error_at_its_location) {
  scoped_env unset{"TUTTI_TEST_UNSET", nullptr};
  try {
    expand_env("${TUTTI_TEST_UNSET}", key_at, "providers.gpt.api_key");
    BOOST_FAIL("expected a config_error");
  } catch (const config_error& e) {
    BOOST_TEST(std::string{e.what()} ==
               "demo.yaml:5:14: providers.gpt.api_key: environment "
               "variable TUTTI_TEST_UNSET is not set");
  }
  try {
    expand_env("${TUTTI_TEST_UNSET}", key_at);
    BOOST_FAIL("expected a config_error");
  } catch (const config_error& e) {
    BOOST_TEST(e.message() ==
               "environment variable TUTTI_TEST_UNSET is not set");
  }
}

BOOST_AUTO_TEST_CASE(empty_variable_is_an_error) {
  scoped_env empty{"TUTTI_TEST_EMPTY", ""};
  BOOST_CHECK_EXCEPTION(expand_env("${TUTTI_TEST_EMPTY}", key_at), config_error,
                        [](const config_error& e) {
                          return e.where().line == 5 &&
                                 contains(e.what(),
                                          "TUTTI_TEST_EMPTY is set but empty");
                        });
}

BOOST_AUTO_TEST_CASE(errors_never_contain_values) {
  scoped_env secret{"TUTTI_TEST_SECRET", "sk-very-secret"};
  scoped_env unset{"TUTTI_TEST_UNSET", nullptr};
  try {
    expand_env("${TUTTI_TEST_SECRET}${TUTTI_TEST_UNSET}", key_at);
    BOOST_FAIL("expected a config_error");
  } catch (const config_error& e) {
    BOOST_TEST(!contains(e.what(), "sk-very-secret"));
    BOOST_TEST(contains(e.what(), "TUTTI_TEST_UNSET is not set"));
  }
}

BOOST_AUTO_TEST_CASE(malformed_references_are_errors) {
  BOOST_CHECK_THROW(expand_env("${OPEN", key_at), config_error);
  BOOST_CHECK_THROW(expand_env("${}", key_at), config_error);
  BOOST_CHECK_THROW(expand_env("${A-B}", key_at), config_error);
  BOOST_CHECK_THROW(expand_env("${9A}", key_at), config_error);
}

BOOST_AUTO_TEST_CASE(resolve_env_touches_only_the_used_providers) {
  scoped_env key{"TUTTI_TEST_KEY", "sk-test"};
  scoped_env url{"TUTTI_TEST_URL", "http://127.0.0.1:8080/v1/"};
  scoped_env unset{"TUTTI_TEST_UNSET", nullptr};
  auto cfg = parse("providers:\n"
                   "  used:\n"
                   "    kind: openai-compatible\n"
                   "    model: m\n"
                   "    base_url: ${TUTTI_TEST_URL}\n"
                   "    api_key: ${TUTTI_TEST_KEY}\n"
                   "  unused:\n"
                   "    kind: openai\n"
                   "    model: m\n"
                   "    api_key: ${TUTTI_TEST_UNSET}\n");
  BOOST_TEST(cfg.providers.at("used").base_url == "${TUTTI_TEST_URL}");

  resolve_env(cfg, {"used"});
  const auto& used = cfg.providers.at("used");
  BOOST_TEST(used.api_key == "sk-test");
  BOOST_TEST(used.base_url == "http://127.0.0.1:8080/v1"); // slash stripped
  BOOST_TEST(used.env_resolved);
  const auto& unused = cfg.providers.at("unused");
  BOOST_TEST(unused.api_key == "${TUTTI_TEST_UNSET}");
  BOOST_TEST(!unused.env_resolved);

  try {
    resolve_env(cfg, {"used", "unused"});
    BOOST_FAIL("expected a config_error");
  } catch (const config_error& e) {
    BOOST_TEST(std::string{e.what()} ==
               "demo.yaml:10:14: providers.unused.api_key: environment "
               "variable TUTTI_TEST_UNSET is not set");
  }
}

BOOST_AUTO_TEST_CASE(resolve_env_expands_only_once) {
  scoped_env key{"TUTTI_TEST_KEY", "sk-${NOT_A_REFERENCE}"};
  auto cfg = parse("providers:\n"
                   "  p:\n"
                   "    kind: openai\n"
                   "    model: m\n"
                   "    api_key: ${TUTTI_TEST_KEY}\n");
  resolve_env(cfg, {"p"});
  resolve_env(cfg, {"p"});
  BOOST_TEST(cfg.providers.at("p").api_key == "sk-${NOT_A_REFERENCE}");
  BOOST_TEST(cfg.providers.at("p").base_url == "https://api.openai.com/v1");
}

BOOST_AUTO_TEST_CASE(resolved_base_url_must_be_a_url) {
  scoped_env url{"TUTTI_TEST_URL", "localhost:8080"};
  auto cfg = parse("providers:\n"
                   "  p:\n"
                   "    kind: openai\n"
                   "    model: m\n"
                   "    base_url: ${TUTTI_TEST_URL}\n");
  try {
    resolve_env(cfg, {"p"});
    BOOST_FAIL("expected a config_error");
  } catch (const config_error& e) {
    BOOST_TEST(e.where().line == 5);
    BOOST_TEST(e.where().column == 15);
    BOOST_TEST(contains(e.what(), "providers.p.base_url: expected an http:// "
                                  "or https:// URL after expanding"));
    BOOST_TEST(!contains(e.what(), "localhost:8080"));
  }
}

BOOST_AUTO_TEST_CASE(resolve_env_rejects_an_unknown_provider) {
  auto cfg = parse(two_providers);
  try {
    resolve_env(cfg, {"lama"});
    BOOST_FAIL("expected a config_error");
  } catch (const config_error& e) {
    BOOST_TEST(std::string{e.what()} ==
               "demo.yaml: unknown provider 'lama'; expected one of: gpt, "
               "llama; did you mean 'llama'?");
  }
}

BOOST_AUTO_TEST_CASE(resolve_env_expands_header_values) {
  scoped_env team{"TUTTI_TEST_TEAM", "research"};
  scoped_env unset{"TUTTI_TEST_UNSET", nullptr};
  auto cfg = parse("providers:\n"
                   "  used:\n"
                   "    kind: openai\n"
                   "    model: m\n"
                   "    headers:\n"
                   "      x-team: ${TUTTI_TEST_TEAM}\n"
                   "      x-static: plain $ text\n"
                   "      x-mixed: team-${TUTTI_TEST_TEAM}!\n"
                   "  unused:\n"
                   "    kind: openai\n"
                   "    model: m\n"
                   "    headers: {x-team: \"${TUTTI_TEST_UNSET}\"}\n");
  BOOST_TEST(cfg.providers.at("used").headers[0].second ==
             "${TUTTI_TEST_TEAM}");
  resolve_env(cfg, {"used"});
  const auto& headers = cfg.providers.at("used").headers;
  BOOST_REQUIRE(headers.size() == 3u);
  BOOST_TEST(headers[0].first == "x-team");
  BOOST_TEST(headers[0].second == "research");
  BOOST_TEST(headers[1].second == "plain $ text");
  BOOST_TEST(headers[2].first == "x-mixed");
  BOOST_TEST(headers[2].second == "team-research!");
  // The unused provider's unset variable is not an error, and stays raw.
  BOOST_TEST(cfg.providers.at("unused").headers[0].second ==
             "${TUTTI_TEST_UNSET}");
}

BOOST_AUTO_TEST_CASE(unset_header_variable_is_an_error_at_the_header) {
  scoped_env key{"TUTTI_TEST_KEY", "sk-test"};
  scoped_env unset{"TUTTI_TEST_UNSET", nullptr};
  auto cfg = parse("providers:\n"
                   "  p:\n"
                   "    kind: openai\n"
                   "    model: m\n"
                   "    api_key: ${TUTTI_TEST_KEY}\n"
                   "    headers:\n"
                   "      x-team: a\n"
                   "      x-org: org-${TUTTI_TEST_UNSET}\n");
  try {
    resolve_env(cfg, {"p"});
    BOOST_FAIL("expected a config_error");
  } catch (const config_error& e) {
    BOOST_TEST(std::string{e.what()} ==
               "demo.yaml:8:14: providers.p.headers.x-org: environment "
               "variable TUTTI_TEST_UNSET is not set");
  }
  // Nothing was half-resolved.
  const auto& p = cfg.providers.at("p");
  BOOST_TEST(!p.env_resolved);
  BOOST_TEST(p.api_key == "${TUTTI_TEST_KEY}");
  BOOST_TEST(p.headers[1].second == "org-${TUTTI_TEST_UNSET}");

  scoped_env set{"TUTTI_TEST_UNSET", "42"};
  resolve_env(cfg, {"p"});
  BOOST_TEST(p.env_resolved);
  BOOST_TEST(p.api_key == "sk-test");
  BOOST_TEST(p.headers[1].second == "org-42");
}

BOOST_AUTO_TEST_CASE(header_value_may_not_gain_a_line_break_from_the_env) {
  scoped_env evil{"TUTTI_TEST_EVIL", "a\r\nx-injected: 1"};
  auto cfg = parse("providers:\n"
                   "  p:\n"
                   "    kind: openai\n"
                   "    model: m\n"
                   "    headers: {x-team: \"${TUTTI_TEST_EVIL}\"}\n");
  try {
    resolve_env(cfg, {"p"});
    BOOST_FAIL("expected a config_error");
  } catch (const config_error& e) {
    BOOST_TEST(e.where().line == 5);
    BOOST_TEST(e.where().column == 23);
    BOOST_TEST(contains(e.what(), "providers.p.headers.x-team: the value "
                                  "contains a line break or control "
                                  "character after expanding ${...}"));
    BOOST_TEST(!contains(e.what(), "injected"));
  }
}

BOOST_AUTO_TEST_CASE(headers_without_locations_are_reported_at_the_provider) {
  scoped_env unset{"TUTTI_TEST_UNSET", nullptr};
  config cfg;
  cfg.file = "embedded";
  provider_config p;
  p.name = "p";
  p.where = {"embedded", 3, 3};
  p.headers = {{"x-team", "${TUTTI_TEST_UNSET}"}}; // no headers_where
  cfg.providers.emplace("p", p);
  try {
    resolve_env(cfg, {"p"});
    BOOST_FAIL("expected a config_error");
  } catch (const config_error& e) {
    BOOST_TEST(std::string{e.what()} ==
               "embedded:3:3: providers.p.headers.x-team: environment "
               "variable TUTTI_TEST_UNSET is not set");
  }
}

BOOST_AUTO_TEST_CASE(every_ready_to_run_config_loads) {
  // The configs users copy from must never rot. The fake upstream's
  // scripts (models: at the top) are not tutti configs.
  size_t loaded = 0;
  for (auto& entry : std::filesystem::directory_iterator{
           std::string{TUTTI_SOURCE_DIR} + "/configs"}) {
    if (entry.path().extension() != ".yaml")
      continue;
    std::ifstream in{entry.path()};
    std::string text{std::istreambuf_iterator<char>{in}, {}};
    if (text.find("\nmodels:") != std::string::npos ||
        text.rfind("models:", 0) == 0)
      continue;
    BOOST_TEST_CONTEXT(entry.path().filename()) {
      BOOST_CHECK_NO_THROW(load_config(entry.path().string()));
      ++loaded;
    }
  }
  BOOST_TEST(loaded >= 6u); // demo, judge, self-consistency, moa, multi, batch
}

BOOST_AUTO_TEST_SUITE_END()

// --- a config built in code
// ---------------------------------------------------

BOOST_AUTO_TEST_SUITE(built_in_code)

namespace {

/// A valid config: two providers, a judged ensemble, a two-step pipeline.
config valid() {
  return parse(two_providers + "ensembles:\n"
                               "  e:\n"
                               "    members: [gpt, {provider: llama, "
                               "samples: 2}]\n"
                               "    combine: judge\n"
                               "    judge: gpt\n"
                               "pipelines:\n"
                               "  p:\n"
                               "    inputs: [q]\n"
                               "    steps:\n"
                               "      a:\n"
                               "        ensemble: e\n"
                               "        prompt: '{{input.q}}'\n"
                               "      b:\n"
                               "        call: gpt\n"
                               "        prompt: '{{steps.a.answer}}'\n"
                               "    output: b\n");
}

std::string invalid_because(const config& cfg) {
  try {
    validate_config(cfg, test_plugins());
  } catch (const config_error& e) {
    return e.what();
  }
  return "valid";
}

} // namespace

BOOST_AUTO_TEST_CASE(a_loaded_config_is_valid) {
  BOOST_TEST(invalid_because(valid()) == "valid");
}

BOOST_AUTO_TEST_CASE(what_the_loader_would_refuse_is_refused_in_code_too) {
  struct change {
    std::string what;
    std::function<void(config&)> apply;
  };
  const std::vector<change> changes = {
      {"ensembles.e.members[0]: unknown provider 'gtp'",
       [](config& c) { c.ensembles.at("e").members[0].provider = "gtp"; }},
      {"ensembles.e.min_success: expected an integer from 1 to 3",
       [](config& c) { c.ensembles.at("e").min_success = 4; }},
      {"ensembles.e.until.quorum: expected an integer from 1 to 3",
       [](config& c) {
         c.ensembles.at("e").until = until_rule::quorum; // quorum 0
       }},
      {"ensembles.e.hedge_after: mode 'hedged' needs a hedge_after",
       [](config& c) { c.ensembles.at("e").mode = run_mode::hedged; }},
      {"ensembles.e.extract2: combine strategy 'judge' does not use "
       "'extract2'",
       [](config& c) {
         c.ensembles.at("e").combine_settings.set("extract2", "x");
       }},
      {"ensembles.e.judge: unknown provider 'oracle'",
       [](config& c) {
         c.ensembles.at("e").combine_settings.set("judge", "oracle");
       }},
      {"ensembles.e: missing required key 'judge'",
       [](config& c) { c.ensembles.at("e").combine_settings = {}; }},
      {"ensembles.e.combine: unknown combine strategy 'vot'",
       [](config& c) { c.ensembles.at("e").combine = "vot"; }},
      {"providers.gpt.kind: unknown provider kind 'opneai'",
       [](config& c) { c.providers.at("gpt").kind = "opneai"; }},
      {"providers.gpt.concurrency: expected a positive integer",
       [](config& c) { c.providers.at("gpt").concurrency = 0; }},
      {"pipelines.p.steps.a.ensemble: unknown ensemble 'f'",
       [](config& c) { c.pipelines.at("p").steps[0].ensemble = "f"; }},
      {"pipelines.p.steps: the steps' references form a cycle",
       [](config& c) { c.pipelines.at("p").steps[0].needs = {"b"}; }},
      {"pipelines.p.output: unknown step 'c'",
       [](config& c) { c.pipelines.at("p").output = "c"; }},
  };
  for (const auto& c : changes) {
    BOOST_TEST_CONTEXT(c.what) {
      auto cfg = valid();
      c.apply(cfg);
      auto error = invalid_because(cfg);
      BOOST_TEST(contains(error, c.what), error);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(every_broken_entry_is_reported_at_once) {
  // Each entry's first problem, in file order; a provider that is broken is
  // not also called unknown by the ensemble that names it.
  auto e = error_of(R"(providers:
  a: {kind: openai, model: m, base_url: "http://127.0.0.1:1/v1", retry: {attempts: -1}}
  b: {kind: nope, model: m}
ensembles:
  e: {members: [a, zzz], combine: first}
  f: {members: [a, b], combine: nosuch}
  g: {members: [a, b], combine: first}
)");
  BOOST_REQUIRE_EQUAL(e.problems().size(), 4u);
  BOOST_CHECK_EQUAL(e.where().line, 2);
  BOOST_CHECK_EQUAL(e.problems()[1].where().line, 3);
  BOOST_CHECK_NE(e.problems()[2].message().find("'zzz'"), std::string::npos);
  BOOST_CHECK_NE(e.problems()[3].message().find("nosuch"), std::string::npos);
  std::string all = e.what();
  BOOST_CHECK_EQUAL(std::count(all.begin(), all.end(), '\n'), 3);
  BOOST_CHECK_EQUAL(all.find("'a'"), std::string::npos);
  // One problem is thrown as itself.
  auto one = error_of(R"(providers:
  b: {kind: nope, model: m}
)");
  BOOST_CHECK(one.problems().empty());
}

BOOST_AUTO_TEST_CASE(models_route_public_names_to_deployments) {
  auto cfg = parse_config(R"(providers:
  east: {kind: openai, model: m, base_url: "http://127.0.0.1:1/v1"}
  west: {kind: openai, model: m, base_url: "http://127.0.0.1:1/v1"}
models:
  gpt-4o:
    deployments: [east, {provider: west, weight: 3}]
    strategy: least_busy
    deadline: 20s
  "openai/*": {deployments: [east]}
  "openai/mini/*": {deployments: [west]}
)",
                          "models.yaml");
  BOOST_REQUIRE_EQUAL(cfg.models.size(), 3u);
  auto& r = cfg.models.at("gpt-4o");
  BOOST_CHECK(!r.wildcard);
  BOOST_CHECK(r.strategy == route_strategy::least_busy);
  BOOST_CHECK_EQUAL(r.deadline_ms, 20000);
  BOOST_REQUIRE_EQUAL(r.deployments.size(), 2u);
  BOOST_CHECK_EQUAL(r.deployments[1].weight, 3);
  std::string rest;
  BOOST_CHECK(find_route(cfg, "gpt-4o", rest) == &r);
  BOOST_CHECK(rest.empty());
  // The longest wildcard prefix wins; the rest is the model asked.
  auto* mini = find_route(cfg, "openai/mini/fast", rest);
  BOOST_REQUIRE(mini != nullptr);
  BOOST_CHECK_EQUAL(mini->name, "openai/mini/*");
  BOOST_CHECK_EQUAL(rest, "fast");
  BOOST_CHECK_EQUAL(find_route(cfg, "openai/gpt-5", rest)->name, "openai/*");
  BOOST_CHECK_EQUAL(rest, "gpt-5");
  BOOST_CHECK(find_route(cfg, "openai/", rest) == nullptr);
  BOOST_CHECK(find_route(cfg, "gpt-4", rest) == nullptr);
  auto e = ensemble_of_route(*mini, "fast");
  BOOST_CHECK(e.mode == run_mode::fallback);
  BOOST_CHECK(e.until == until_rule::first);
  BOOST_CHECK_EQUAL(e.combine, "first");
  BOOST_CHECK_EQUAL(e.members.at(0).params.model, "fast");
  BOOST_CHECK(e.route == route_strategy::weighted);
}

BOOST_AUTO_TEST_CASE(a_broken_model_route_says_where_and_why) {
  const std::string head = R"(providers:
  east: {kind: openai, model: m, base_url: "http://127.0.0.1:1/v1"}
models:
)";
  struct row {
    const char* yaml;
    const char* says;
  } rows[] = {
      {"  x: {deployments: [nobody]}\n", "unknown provider 'nobody'"},
      {"  x: {deployments: []}\n", "expected a list of providers"},
      {"  x: {deployments: [east, east]}\n", "listed twice"},
      {"  x: {deployments: [{provider: east, weight: 0}]}\n", "positive"},
      {"  x: {deployments: [east], strategy: fastest}\n", "fastest"},
      {"  x: {strategy: weighted}\n", "missing required key 'deployments'"},
      {"  east: {deployments: [east]}\n", "is a provider's name"},
      {"  \"ensemble/x\": {deployments: [east]}\n",
       "name the config's ensembles"},
      {"  \"a*b\": {deployments: [east]}\n", "letters, digits"},
  };
  for (auto& r : rows) {
    auto e = error_of(head + r.yaml);
    BOOST_CHECK_MESSAGE(std::string{e.what()}.find(r.says) != std::string::npos,
                        r.yaml << " -> " << e.what());
    BOOST_CHECK_EQUAL(e.where().line, 4);
  }
}
