#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "tutti/codec.hpp"
#include "tutti/combine.hpp"
#include "tutti/config.hpp"
#include "tutti/registry.hpp"

using namespace tutti;

namespace {

const std::string fixtures = std::string{TUTTI_FIXTURES_DIR} + "/config/";

/// A codec that only knows its default URL: enough for config validation.
class url_only_codec : public codec {
public:
  explicit url_only_codec(std::string url) : url_(std::move(url)) {}

  std::string default_base_url() const override { return url_; }

  http_request encode(const chat_request&,
                      const provider_settings&) const override {
    return {};
  }

  body_result decode_body(std::string_view) const override {
    return completion{};
  }

  stream_update decode_event(const sse_event&) const override { return {}; }

  failure classify_error(int, std::string_view,
                         const header_list&) const override {
    return {};
  }

private:
  std::string url_;
};

class no_combine : public combine_strategy {
public:
  combined combine(const std::vector<member_outcome>&) const override {
    return {};
  }
};

/// Plugins independent of the built-in ones: one kind with a default URL,
/// one without.
const registry& test_plugins() {
  static const registry instance = [] {
    registry reg;
    reg.add_codec("openai", [] {
      return std::make_unique<url_only_codec>("https://api.openai.com/v1/");
    });
    reg.add_codec("anthropic", [] {
      return std::make_unique<url_only_codec>("https://api.anthropic.com/v1");
    });
    reg.add_codec("openai-compatible",
                  [] { return std::make_unique<url_only_codec>(""); });
    reg.add_combine("collect", [] { return std::make_unique<no_combine>(); });
    reg.add_combine("first", [] { return std::make_unique<no_combine>(); });
    return reg;
  }();
  return instance;
}

config parse(const std::string& yaml) {
  return parse_config(yaml, "demo.yaml", test_plugins());
}

/// The error parsing `yaml` gives; fails the test when there is none.
config_error error_of(const std::string& yaml) {
  try {
    parse(yaml);
  } catch (const config_error& e) {
    return e;
  }
  BOOST_FAIL("expected a config_error");
  throw std::logic_error("unreachable");
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// Asserts the error's line, column and that its text contains each of
/// `parts`.
void check_error(const config_error& e, int line, int column,
                 const std::vector<std::string>& parts) {
  BOOST_TEST_INFO("what(): " << e.what());
  BOOST_TEST(e.where().file == "demo.yaml");
  BOOST_TEST(e.where().line == line);
  BOOST_TEST(e.where().column == column);
  for (const auto& part : parts) {
    BOOST_TEST_INFO("what(): " << e.what());
    BOOST_TEST(contains(e.what(), part), "missing: " << part);
  }
}

// Lines 1-9 of most inline configs below.
const std::string two_providers =                 //
    "providers:\n"                                // 1
    "  gpt:\n"                                    // 2
    "    kind: openai\n"                          // 3
    "    model: gpt-4o-mini\n"                    // 4
    "    api_key: ${OPENAI_API_KEY}\n"            // 5
    "  llama:\n"                                  // 6
    "    kind: openai-compatible\n"               // 7
    "    model: llama3\n"                         // 8
    "    base_url: http://localhost:11434/v1/\n"; // 9

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
  BOOST_TEST(trio.until == "all");
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
  BOOST_TEST(sc.until == "all");
  BOOST_TEST(sc.combine == "collect");
  BOOST_TEST(sc.deadline_ms == 1500);
  BOOST_REQUIRE(sc.members.size() == 3u);
  BOOST_TEST(sc.members[0].label == "gpt");
  BOOST_TEST(sc.members[1].label == "gpt#2");
  BOOST_TEST(sc.members[2].label == "gpt#3");
}

BOOST_AUTO_TEST_CASE(ensemble_defaults_apply) {
  auto cfg = parse(two_providers + "ensembles:\n"
                                   "  duo:\n"
                                   "    members: [gpt, llama]\n");
  const auto& duo = cfg.ensembles.at("duo");
  BOOST_TEST(duo.until == "all");
  BOOST_TEST(duo.combine == "collect");
  BOOST_TEST(duo.deadline_ms == 60000);
  BOOST_TEST(cfg.providers.at("llama").base_url == "http://localhost:11434/v1");
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

BOOST_AUTO_TEST_CASE(same_provider_twice_gets_numbered_labels) {
  auto cfg = parse(two_providers + "ensembles:\n"
                                   "  e:\n"
                                   "    members:\n"
                                   "      - gpt\n"
                                   "      - {provider: gpt, label: fast}\n"
                                   "      - llama\n"
                                   "      - gpt\n"
                                   "      - provider: gpt\n");
  const auto& m = cfg.ensembles.at("e").members;
  BOOST_REQUIRE(m.size() == 5u);
  BOOST_TEST(m[0].label == "gpt");
  BOOST_TEST(m[1].label == "fast");
  BOOST_TEST(m[2].label == "llama");
  BOOST_TEST(m[3].label == "gpt#2");
  BOOST_TEST(m[4].label == "gpt#3");
  BOOST_TEST(m[4].provider == "gpt");
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

BOOST_AUTO_TEST_CASE(unknown_kind_names_the_registered_kinds) {
  auto e = error_of("providers:\n"
                    "  gpt:\n"
                    "    model: gpt-4o-mini\n"
                    "    kind: opena\n");
  BOOST_TEST(std::string{e.what()} ==
             "demo.yaml:4:11: providers.gpt.kind: unknown kind 'opena'; "
             "expected one of: anthropic, openai, openai-compatible; did "
             "you mean 'openai'?");
  BOOST_TEST(e.message() ==
             "providers.gpt.kind: unknown kind 'opena'; expected one of: "
             "anthropic, openai, openai-compatible; did you mean 'openai'?");
}

BOOST_AUTO_TEST_CASE(unknown_key_is_an_error_with_a_suggestion) {
  auto e = error_of(two_providers + "    temprature: 0.2\n");
  BOOST_TEST(std::string{e.what()} ==
             "demo.yaml:10:5: providers.llama: unknown key 'temprature'; "
             "expected one of: kind, model, base_url, api_key, "
             "concurrency, temperature, top_p, max_tokens, seed, stop; "
             "did you mean 'temperature'?");
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
               "expected one of: members, until, combine, deadline",
               "did you mean 'deadline'?"});
  check_error(error_of(two_providers + "ensembles:\n"
                                       "  e:\n"
                                       "    members:\n"
                                       "      - {provider: gpt, lable: x}\n"),
              13, 25,
              {"ensembles.e.members[0]: unknown key 'lable'",
               "expected one of: provider, label", "did you mean 'label'?"});
}

BOOST_AUTO_TEST_CASE(unknown_member_provider_names_the_defined_ones) {
  auto e = error_of(two_providers + "ensembles:\n" // 10
                                    "  trio:\n"    // 11
                                    "    members: [gpt, claud, "
                                    "{provider: llama}]\n"); // 12
  BOOST_TEST(std::string{e.what()} ==
             "demo.yaml:12:20: ensembles.trio.members[1]: unknown "
             "provider 'claud'; expected one of: gpt, llama");

  auto in_map = error_of(two_providers + "ensembles:\n"
                                         "  trio:\n"
                                         "    members:\n"
                                         "      - gpt\n"
                                         "      - provider: lama\n");
  check_error(in_map, 14, 19,
              {"ensembles.trio.members[1].provider: unknown provider 'lama'",
               "expected one of: gpt, llama", "did you mean 'llama'?"});
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

BOOST_AUTO_TEST_CASE(wrong_types_say_what_was_expected) {
  struct bad_value {
    std::string key;
    std::string value;
    std::string expected;
  };
  const std::vector<bad_value> cases = {
      {"concurrency", "many",
       "expected a positive integer up to 10000, got "
       "'many'"},
      {"concurrency", "0", "expected a positive integer up to 10000, got '0'"},
      {"concurrency", "10001", "expected a positive integer up to 10000"},
      {"concurrency", "2.5", "expected a positive integer up to 10000"},
      {"concurrency", "[1, 2]",
       "expected a positive integer up to 10000, got "
       "a list"},
      {"temperature", "3", "expected a number from 0 to 2, got '3'"},
      {"temperature", "hot", "expected a number from 0 to 2, got 'hot'"},
      {"temperature", ".nan", "expected a number from 0 to 2"},
      {"top_p", "1.5", "expected a number from 0 to 1, got '1.5'"},
      {"max_tokens", "0", "expected a positive integer, got '0'"},
      {"max_tokens", "99999999999999999999", "expected a positive integer"},
      {"seed", "x", "expected an integer, got 'x'"},
      {"stop", "{a: 1}", "expected a string or a list of strings, got a map"},
      {"model", "{a: 1}", "expected a string, got a map"},
      {"model", "\"\"", "expected a non-empty string"},
      {"base_url", "api.example.com", "expected an http:// or https:// URL"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.key << ": " << c.value) {
      // The bad key comes before 'model', so it is checked first.
      auto e = error_of("providers:\n"
                        "  p:\n"
                        "    kind: openai\n"
                        "    " +
                        c.key + ": " + c.value + "\n" +
                        (c.key == "model" ? "" : "    model: m\n"));
      check_error(e, 4, 7 + int(c.key.size()),
                  {"providers.p." + c.key + ": " + c.expected});
    }
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

BOOST_AUTO_TEST_CASE(stop_list_items_must_be_strings) {
  auto e = error_of(two_providers + "    stop: [a, [b]]\n");
  check_error(e, 10, 15,
              {"providers.llama.stop[1]: expected a non-empty "
               "string, got a list"});
}

BOOST_AUTO_TEST_CASE(missing_required_keys_point_at_the_provider) {
  check_error(error_of("providers:\n"
                       "  gpt:\n"
                       "    kind: openai\n"),
              2, 3, {"providers.gpt: missing required key 'model'"});
  check_error(error_of("providers:\n"
                       "  gpt:\n"
                       "    model: gpt-4o\n"),
              2, 3,
              {"providers.gpt: missing required key 'kind' (one of: "
               "anthropic, openai, openai-compatible)"});
  check_error(error_of("providers:\n"
                       "  llama:\n"
                       "    kind: openai-compatible\n"
                       "    model: llama3\n"),
              2, 3,
              {"providers.llama: missing required key 'base_url'",
               "kind 'openai-compatible' has no default URL"});
  check_error(error_of(two_providers + "ensembles:\n"
                                       "  e:\n"
                                       "    until: all\n"),
              11, 3, {"ensembles.e: missing required key 'members'"});
  check_error(error_of(two_providers + "ensembles:\n"
                                       "  e:\n"
                                       "    members:\n"
                                       "      - label: x\n"),
              13, 9,
              {"ensembles.e.members[0]: missing required key "
               "'provider'"});
}

BOOST_AUTO_TEST_CASE(ensemble_needs_a_member) {
  check_error(error_of(two_providers + "ensembles:\n"
                                       "  e:\n"
                                       "    members: []\n"),
              12, 14,
              {"ensembles.e.members: an ensemble needs at least one member"});
  check_error(error_of(two_providers + "ensembles:\n"
                                       "  e:\n"
                                       "    members:\n"),
              12, 5,
              {"ensembles.e.members: an ensemble needs at least one member"});
  check_error(error_of(two_providers + "ensembles:\n"
                                       "  e:\n"
                                       "    members: gpt\n"),
              12, 14,
              {"ensembles.e.members: expected a list of provider names, got "
               "'gpt'"});
}

BOOST_AUTO_TEST_CASE(explicit_duplicate_label_is_an_error) {
  auto e = error_of(two_providers + "ensembles:\n"
                                    "  e:\n"
                                    "    members:\n"
                                    "      - {provider: gpt, label: a}\n"
                                    "      - {provider: llama, label: a}\n");
  check_error(e, 14, 34,
              {"ensembles.e.members[1].label: duplicate label 'a'; "
               "ensembles.e.members[0] already has it"});

  auto clash = error_of(two_providers + "ensembles:\n"
                                        "  e:\n"
                                        "    members:\n"
                                        "      - {provider: llama, label: "
                                        "gpt}\n"
                                        "      - gpt\n");
  check_error(clash, 13, 34,
              {"ensembles.e.members[0].label: duplicate label 'gpt'; "
               "ensembles.e.members[1] already has it"});
}

BOOST_AUTO_TEST_CASE(until_supports_only_all) {
  check_error(error_of(two_providers + "ensembles:\n"
                                       "  e:\n"
                                       "    members: [gpt]\n"
                                       "    until: first\n"),
              13, 12,
              {"ensembles.e.until: unsupported value 'first'; expected one "
               "of: all"});
  check_error(error_of(two_providers + "ensembles:\n"
                                       "  e:\n"
                                       "    members: [gpt]\n"
                                       "    until: {quorum: 2}\n"),
              13, 12, {"ensembles.e.until: expected one of: all, got a map"});
}

BOOST_AUTO_TEST_CASE(unknown_combine_names_the_registered_ones) {
  check_error(error_of(two_providers + "ensembles:\n"
                                       "  e:\n"
                                       "    members: [gpt]\n"
                                       "    combine: colect\n"),
              13, 14,
              {"ensembles.e.combine: unknown combine strategy 'colect'; "
               "expected one of: collect, first; did you mean 'collect'?"});
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
  check_error(error_of(two_providers + "---\nproviders: {}\n"), 11, 1,
              {"expected one YAML document, found 2"});
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

BOOST_AUTO_TEST_SUITE_END()
