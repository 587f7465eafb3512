#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <regex>
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

/// A strategy that answers nothing and says it calls `called`.
class no_combine : public combine_strategy {
public:
  explicit no_combine(std::vector<std::string> called = {})
      : called_(std::move(called)) {}

  combined combine(const combine_input&) const override { return {}; }

  std::vector<std::string> providers_called() const override { return called_; }

private:
  std::vector<std::string> called_;
};

/// `{name}`, or nothing for an empty name.
std::vector<std::string> calls(const std::string& name) {
  return name.empty() ? std::vector<std::string>{}
                      : std::vector<std::string>{name};
}

std::unique_ptr<combine_strategy> make_plain(const combine_options&) {
  return std::make_unique<no_combine>();
}

/// Like the real vote: an `extract` that is not a regex is
/// `std::invalid_argument`.
std::unique_ptr<combine_strategy> make_vote(const combine_options& options) {
  try {
    std::regex{options.extract};
  } catch (const std::regex_error&) {
    throw std::invalid_argument("'extract' is not a valid regular expression");
  }
  return std::make_unique<no_combine>();
}

/// A host program's own strategy, outside the built-in settings table: it
/// needs a prompt, calls its judge, and lets a bad regex's
/// `std::regex_error` escape.
std::unique_ptr<combine_strategy> make_picky(const combine_options& options) {
  if (options.prompt.empty()) {
    throw std::invalid_argument("needs a prompt");
  }
  std::regex{options.extract};
  return std::make_unique<no_combine>(calls(options.judge));
}

/// Plugins independent of the built-in ones: one kind with a default URL,
/// one without, and strategies named like the built-in ones.
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
    reg.add_combine("collect", make_plain);
    reg.add_combine("first", make_plain);
    reg.add_combine("vote", make_vote);
    reg.add_combine("judge", [](const combine_options& options) {
      return std::make_unique<no_combine>(calls(options.judge));
    });
    reg.add_combine("rank", [](const combine_options& options) {
      return std::make_unique<no_combine>(calls(options.judge));
    });
    reg.add_combine("synthesize", [](const combine_options& options) {
      return std::make_unique<no_combine>(calls(options.synthesizer));
    });
    reg.add_combine("ghost", [](const combine_options&) {
      return std::make_unique<no_combine>(calls("oracle"));
    });
    reg.add_combine("picky", make_picky);
    return reg;
  }();
  return instance;
}

config parse(const std::string& yaml) {
  return parse_config(yaml, "demo.yaml", test_plugins());
}

/// The error parsing `yaml` as `file` gives; fails the test when there is
/// none.
config_error error_of_file_text(const std::string& yaml,
                                const std::string& file) {
  try {
    parse_config(yaml, file, test_plugins());
  } catch (const config_error& e) {
    return e;
  }
  BOOST_FAIL("expected a config_error");
  throw std::logic_error("unreachable");
}

/// The error parsing `yaml` gives; fails the test when there is none.
config_error error_of(const std::string& yaml) {
  return error_of_file_text(yaml, "demo.yaml");
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
  BOOST_TEST(duo.mode == "parallel");
  BOOST_TEST(duo.hedge_after_ms == 0);
  BOOST_TEST(duo.quorum == 0);
  BOOST_TEST(duo.min_success == 1);
  BOOST_TEST(duo.combine_settings.extract.empty());
  BOOST_TEST(duo.combine_settings.judge.empty());
  BOOST_TEST(duo.combine_settings.rubric.empty());
  BOOST_TEST(duo.combine_settings.synthesizer.empty());
  BOOST_TEST(duo.combine_settings.prompt.empty());
  for (const auto& m : duo.members) {
    BOOST_TEST(m.samples == 1);
    BOOST_TEST(m.weight == 1.0);
    BOOST_TEST(!m.params.temperature.has_value());
    BOOST_TEST(!m.params.seed.has_value());
    BOOST_TEST(m.params.stop.empty());
  }
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

BOOST_AUTO_TEST_CASE(provider_keys_fixture_parses_into_their_fields) {
  auto path = fixtures + "providers.yaml";
  auto cfg = load_config(path, test_plugins());
  BOOST_REQUIRE(cfg.providers.size() == 2u);

  const auto& claude = cfg.providers.at("claude");
  BOOST_TEST(claude.kind == "anthropic");
  BOOST_TEST(claude.base_url == "https://api.anthropic.com/v1");
  BOOST_TEST(claude.defaults.max_tokens.value() == 1024);
  BOOST_TEST(claude.defaults.temperature.value() == 0.2);
  BOOST_TEST(!claude.defaults.top_p.has_value());
  BOOST_TEST(claude.timeouts.connect_ms == 5000);
  BOOST_TEST(claude.timeouts.first_token_ms == 20000);
  BOOST_TEST(claude.timeouts.idle_ms == 15000);
  BOOST_TEST(claude.timeouts.total_ms == 120000);
  BOOST_TEST(claude.retry.attempts == 5);
  BOOST_TEST(claude.retry.backoff_ms == 500);
  BOOST_TEST(claude.retry.max_backoff_ms == 30000);
  BOOST_TEST(claude.price.input_per_mtok == 3.0);
  BOOST_TEST(claude.price.output_per_mtok == 15.0);
  BOOST_TEST(claude.price.cached_input_per_mtok == 0.3);
  BOOST_REQUIRE(claude.headers.size() == 2u);
  BOOST_TEST(claude.headers[0].first == "x-team");
  BOOST_TEST(claude.headers[0].second == "research");
  BOOST_TEST(claude.headers[1].first == "X-Request-Source");       // case kept
  BOOST_TEST(claude.headers[1].second == "tutti-${TUTTI_SOURCE}"); // raw
  BOOST_REQUIRE(claude.headers_where.size() == 2u);
  BOOST_TEST(claude.headers_where[0].line == 12);
  BOOST_TEST(claude.headers_where[0].column == 23);
  BOOST_TEST(claude.headers_where[1].line == 12);
  BOOST_TEST(claude.headers_where[1].column == 51);
  BOOST_TEST(claude.api_version.empty());
  // Relative to the config file's directory, not the working directory.
  BOOST_TEST(claude.ca_file == fixtures + "custom_ca.pem");

  const auto& azure = cfg.providers.at("azure");
  BOOST_TEST(azure.api_version == "2024-10-21");
  BOOST_TEST(azure.defaults.top_p.value() == 0.5);
  BOOST_TEST(azure.defaults.seed.value() == 7);
  BOOST_TEST(azure.defaults.stop == (std::vector<std::string>{"END"}),
             boost::test_tools::per_element());
  BOOST_TEST(azure.timeouts.connect_ms == 10000); // the default
  BOOST_TEST(azure.timeouts.first_token_ms == 0);
  BOOST_TEST(azure.timeouts.idle_ms == 30000); // a bare number is seconds
  BOOST_TEST(azure.timeouts.total_ms == 0);    // 0: none of its own
  BOOST_TEST(azure.retry.attempts == 1);
  BOOST_TEST(azure.retry.backoff_ms == 250);
  BOOST_TEST(azure.retry.max_backoff_ms == 8000);
  BOOST_TEST(azure.price.input_per_mtok == 0.0);
  BOOST_TEST(azure.price.output_per_mtok == 10.0);
  BOOST_TEST(azure.price.cached_input_per_mtok == 0.0);
  BOOST_REQUIRE(azure.headers.size() == 1u);
  BOOST_TEST(azure.headers[0].first == "x-ms-client-request-id");
  BOOST_TEST(azure.headers[0].second == "fixed");
  BOOST_TEST(azure.headers_where[0].line == 32);
  BOOST_TEST(azure.headers_where[0].column == 31);
  BOOST_TEST(azure.ca_file.empty());
}

BOOST_AUTO_TEST_CASE(provider_keys_have_defaults_when_absent) {
  auto cfg = parse(two_providers);
  for (const auto& [name, p] : cfg.providers) {
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST(p.timeouts.connect_ms == 10000);
      BOOST_TEST(p.timeouts.first_token_ms == 0);
      BOOST_TEST(p.timeouts.idle_ms == 0);
      BOOST_TEST(p.timeouts.total_ms == 0);
      BOOST_TEST(p.retry.attempts == 3);
      BOOST_TEST(p.retry.backoff_ms == 250);
      BOOST_TEST(p.retry.max_backoff_ms == 8000);
      BOOST_TEST(p.price.input_per_mtok == 0.0);
      BOOST_TEST(p.price.output_per_mtok == 0.0);
      BOOST_TEST(p.price.cached_input_per_mtok == 0.0);
      BOOST_TEST(p.headers.empty());
      BOOST_TEST(p.headers_where.empty());
      BOOST_TEST(p.api_version.empty());
      BOOST_TEST(p.ca_file.empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(empty_nested_maps_keep_the_defaults) {
  auto cfg = parse(two_providers + "    params: {}\n"
                                   "    timeouts: {}\n"
                                   "    retry: {}\n"
                                   "    price: {}\n"
                                   "    headers: {}\n");
  const auto& p = cfg.providers.at("llama");
  BOOST_TEST(!p.defaults.temperature.has_value());
  BOOST_TEST(p.timeouts.connect_ms == 10000);
  BOOST_TEST(p.retry.attempts == 3);
  BOOST_TEST(p.price.input_per_mtok == 0.0);
  BOOST_TEST(p.headers.empty());
}

BOOST_AUTO_TEST_CASE(all_five_params_may_be_nested) {
  auto cfg = parse("providers:\n"
                   "  p:\n"
                   "    kind: openai\n"
                   "    model: m\n"
                   "    params:\n"
                   "      temperature: 1.5\n"
                   "      top_p: \"0.25\"\n"
                   "      max_tokens: 64\n"
                   "      seed: -3\n"
                   "      stop: END\n");
  const auto& d = cfg.providers.at("p").defaults;
  BOOST_TEST(d.temperature.value() == 1.5);
  BOOST_TEST(d.top_p.value() == 0.25);
  BOOST_TEST(d.max_tokens.value() == 64);
  BOOST_TEST(d.seed.value() == -3);
  BOOST_TEST(d.stop == (std::vector<std::string>{"END"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(timeouts_accept_durations_and_zero) {
  const std::vector<std::pair<std::string, int64_t>> cases = {
      {"0", 0},       {"0s", 0},          {"0ms", 0},        {"0.0m", 0},
      {"250ms", 250}, {"1.5s", 1500},     {"2m", 120000},    {"45", 45000},
      {"1ms", 1},     {"\"30s\"", 30000}, {"24h", 86400000},
  };
  for (const auto& [text, ms] : cases) {
    BOOST_TEST_CONTEXT("connect: " << text) {
      auto cfg = parse(two_providers + "    timeouts: {connect: " + text +
                       ", total: " + text + "}\n");
      const auto& t = cfg.providers.at("llama").timeouts;
      BOOST_TEST(t.connect_ms == ms);
      BOOST_TEST(t.total_ms == ms);
      BOOST_TEST(t.first_token_ms == 0);
      BOOST_TEST(t.idle_ms == 0);
    }
  }
}

BOOST_AUTO_TEST_CASE(retry_bounds_are_inclusive) {
  auto cfg = parse(two_providers + "    retry: {attempts: 20, backoff: 2s, "
                                   "max_backoff: 2s}\n");
  const auto& r = cfg.providers.at("llama").retry;
  BOOST_TEST(r.attempts == 20);
  BOOST_TEST(r.backoff_ms == 2000);
  BOOST_TEST(r.max_backoff_ms == 2000);
  // Raising max_backoff alone, or lowering backoff alone, is fine.
  BOOST_TEST(parse(two_providers + "    retry: {max_backoff: 1m}\n")
                 .providers.at("llama")
                 .retry.max_backoff_ms == 60000);
  BOOST_TEST(parse(two_providers + "    retry: {backoff: 8s}\n")
                 .providers.at("llama")
                 .retry.backoff_ms == 8000);
}

BOOST_AUTO_TEST_CASE(prices_may_be_zero_integers_or_quoted) {
  auto cfg = parse(two_providers + "    price: {input_per_mtok: 0, "
                                   "output_per_mtok: \"2.5\", "
                                   "cached_input_per_mtok: 100}\n");
  const auto& price = cfg.providers.at("llama").price;
  BOOST_TEST(price.input_per_mtok == 0.0);
  BOOST_TEST(price.output_per_mtok == 2.5);
  BOOST_TEST(price.cached_input_per_mtok == 100.0);
}

BOOST_AUTO_TEST_CASE(api_version_and_ca_file_are_allowed_on_any_kind) {
  auto cfg = parse(two_providers +
                   "    api_version: 2024-12-01-preview\n"
                   "    ca_file: " +
                   fixtures + "custom_ca.pem\n");
  const auto& p = cfg.providers.at("llama");
  BOOST_TEST(p.api_version == "2024-12-01-preview");
  BOOST_TEST(p.ca_file == fixtures + "custom_ca.pem"); // absolute: unchanged
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
             "concurrency, limit_group, rpm, tpm, requests, tokens, queue, "
             "breaker, temperature, top_p, max_tokens, seed, stop, "
             "params, timeouts, retry, price, headers, api_version, "
             "ca_file; did you mean 'temperature'?");
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
               "deadline, min_success, combine, extract, judge, rubric, "
               "synthesizer, prompt",
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
      {"max_tokens", "0",
       "expected a positive integer up to 2147483647, got '0'"},
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

BOOST_AUTO_TEST_CASE(unknown_combine_names_the_registered_ones) {
  check_error(error_of(two_providers + "ensembles:\n"
                                       "  e:\n"
                                       "    members: [gpt]\n"
                                       "    combine: colect\n"),
              13, 14,
              {"ensembles.e.combine: unknown combine strategy 'colect'; "
               "expected one of: collect, first, ghost, judge, picky, rank, "
               "synthesize, vote; did you mean 'collect'?"});
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

BOOST_AUTO_TEST_CASE(unknown_nested_keys_suggest_the_right_one) {
  struct bad_key {
    std::string yaml;
    int column;
    std::string expected;
  };
  const std::vector<bad_key> cases = {
      {"timeouts: {conect: 5s}", 16,
       "providers.p.timeouts: unknown key 'conect'; expected one of: "
       "connect, first_token, idle, total; did you mean 'connect'?"},
      {"retry: {attempt: 2}", 13,
       "providers.p.retry: unknown key 'attempt'; expected one of: attempts, "
       "backoff, max_backoff; did you mean 'attempts'?"},
      {"price: {input_per_mtoken: 1}", 13,
       "providers.p.price: unknown key 'input_per_mtoken'; expected one of: "
       "input_per_mtok, output_per_mtok, cached_input_per_mtok; did you mean "
       "'input_per_mtok'?"},
      {"params: {temprature: 1}", 14,
       "providers.p.params: unknown key 'temprature'; expected one of: "
       "temperature, top_p, max_tokens, seed, stop; did you mean "
       "'temperature'?"},
      {"params: {concurrency: 1}", 14,
       "providers.p.params: unknown key 'concurrency'; expected one of: "
       "temperature, top_p, max_tokens, seed, stop"},
      {"timeout: {total: 5s}", 5,
       "providers.p: unknown key 'timeout'; expected one of: kind, model, "
       "base_url, api_key, concurrency, limit_group, rpm, tpm, requests, "
       "tokens, queue, breaker, temperature, top_p, max_tokens, seed, "
       "stop, params, timeouts, retry, price, headers, api_version, ca_file; "
       "did you mean 'timeouts'?"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.yaml) {
      auto e = error_of("providers:\n"
                        "  p:\n"
                        "    kind: openai\n"
                        "    model: m\n"
                        "    " +
                        c.yaml + "\n");
      BOOST_TEST(std::string{e.what()} ==
                 "demo.yaml:5:" + std::to_string(c.column) + ": " + c.expected);
    }
  }
}

BOOST_AUTO_TEST_CASE(bad_nested_values_are_errors_at_the_value) {
  struct bad_value {
    std::string key;   // timeouts, retry, price, params or headers
    std::string field; // a key of that map
    std::string value;
    std::string expected;
  };
  const std::string duration = "expected a duration such as 250ms, 1.5s, 30s "
                               "or 2m (a bare number is seconds; 0 is none)";
  const std::string attempts =
      "expected an integer from 1 to 20 (tries in all; 1 means no retry)";
  const std::string price =
      "expected a non-negative number of US dollars per million tokens";
  const std::vector<bad_value> cases = {
      {"timeouts", "connect", "soon", duration + ", got 'soon'"},
      {"timeouts", "total", "-1s", duration + ", got '-1s'"},
      {"timeouts", "first_token", "10 s", duration},
      {"timeouts", "idle", "[1]", duration + ", got a list"},
      {"timeouts", "idle", "0.1ms", "must be 0 (none) or at least 1ms"},
      {"timeouts", "total", "25h", "must be at most 24h"},
      {"retry", "attempts", "0", attempts + ", got '0'"},
      {"retry", "attempts", "21", attempts + ", got '21'"},
      {"retry", "attempts", "2.5", attempts},
      {"retry", "attempts", "many", attempts + ", got 'many'"},
      {"retry", "backoff", "0", "must be at least 1ms"},
      {"retry", "backoff", "soon", "expected a duration such as 250ms"},
      {"retry", "max_backoff", "25h", "must be at most 24h"},
      {"retry", "backoff", "10s",
       "expected at most max_backoff (8s, the default), got '10s'"},
      {"retry", "max_backoff", "100ms",
       "expected at least backoff (250ms, the default), got '100ms'"},
      {"price", "input_per_mtok", "-1", price + ", got '-1'"},
      {"price", "output_per_mtok", "free", price + ", got 'free'"},
      {"price", "cached_input_per_mtok", ".inf", price},
      {"price", "input_per_mtok", "1e3", price},
      {"price", "output_per_mtok", "{a: 1}", price + ", got a map"},
      {"params", "temperature", "3", "expected a number from 0 to 2, got '3'"},
      {"params", "top_p", "1.5", "expected a number from 0 to 1, got '1.5'"},
      {"params", "max_tokens", "0",
       "expected a positive integer up to 2147483647, got '0'"},
      {"params", "seed", "x", "expected an integer, got 'x'"},
      {"params", "stop", "{a: 1}",
       "expected a string or a list of strings, got a map"},
      {"headers", "x-team", "[a]", "expected a string, got a list"},
      {"headers", "x-team", "\"\"", "expected a non-empty string"},
      {"headers", "x-team", "\"a\\r\\nx-evil: 1\"",
       "a header value must not contain line breaks or control characters"},
      {"headers", "x-team", "\"${1TEAM}\"",
       "invalid environment variable reference"},
      {"headers", "x-team", "\"${TEAM\"", "'${' without a closing '}'"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.key << ": {" << c.field << ": " << c.value << "}") {
      auto e = error_of("providers:\n"
                        "  p:\n"
                        "    kind: openai\n"
                        "    model: m\n"
                        "    " +
                        c.key + ": {" + c.field + ": " + c.value + "}\n");
      // "    KEY: {FIELD: VALUE}"
      int column = 5 + int(c.key.size()) + 3 + int(c.field.size()) + 2;
      check_error(e, 5, column,
                  {"providers.p." + c.key + "." + c.field + ": " + c.expected});
    }
  }
}

BOOST_AUTO_TEST_CASE(nested_sections_must_be_maps) {
  struct bad_section {
    std::string key;
    std::string value;
    std::string expected;
  };
  const std::vector<bad_section> cases = {
      {"timeouts", "30s",
       "expected a map such as {connect: 5s, total: 120s}, got '30s'"},
      {"retry", "3",
       "expected a map such as {attempts: 3, backoff: 250ms, max_backoff: "
       "8s}, got '3'"},
      {"price", "[3, 15]",
       "expected a map such as {input_per_mtok: 3.00, output_per_mtok: "
       "15.00}, got a list"},
      {"params", "temperature",
       "expected a map such as {max_tokens: 1024, temperature: 0.2}, got "
       "'temperature'"},
      {"headers", "x-team=research",
       "expected a map such as {x-team: research}, got 'x-team=research'"},
      {"api_version", "[1]", "expected a string, got a list"},
      {"api_version", "2024-10-21&x=1",
       "expected an API version such as 2024-10-21 (letters, digits, '-', "
       "'.' and '_'), got '2024-10-21&x=1'"},
      {"ca_file", "{a: 1}", "expected a string, got a map"},
      {"ca_file", "\"\"", "expected a non-empty string"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.key << ": " << c.value) {
      auto e = error_of("providers:\n"
                        "  p:\n"
                        "    kind: openai\n"
                        "    model: m\n"
                        "    " +
                        c.key + ": " + c.value + "\n");
      check_error(e, 5, 7 + int(c.key.size()),
                  {"providers.p." + c.key + ": " + c.expected});
    }
  }
  // Empty: reported at the key.
  check_error(error_of(two_providers + "    headers:\n"), 10, 5,
              {"providers.llama.headers: expected a map such as {x-team: "
               "research}, got nothing"});
  check_error(error_of(two_providers + "    headers: {x-team: }\n"), 10, 15,
              {"providers.llama.headers.x-team: expected a string, got "
               "nothing"});
}

BOOST_AUTO_TEST_CASE(backoff_above_an_explicit_max_backoff_names_both) {
  auto e = error_of(two_providers + "    retry:\n"            // 10
                                    "      max_backoff: 2s\n" // 11
                                    "      backoff: 5s\n");   // 12
  BOOST_TEST(std::string{e.what()} ==
             "demo.yaml:12:16: providers.llama.retry.backoff: expected at "
             "most max_backoff (2s), got '5s'");
}

BOOST_AUTO_TEST_CASE(header_names_must_be_tokens_and_not_carry_the_key) {
  check_error(error_of(two_providers + "    headers: {\"x team\": a}\n"), 10,
              15,
              {"providers.llama.headers.x team: invalid header name; use "
               "letters, digits, '-' and '_'"});
  check_error(error_of(two_providers + "    headers: {\"x:team\": a}\n"), 10,
              15, {"invalid header name"});
  for (std::string name : {"Authorization", "authorization", "X-Api-Key",
                           "api-key", "x-goog-api-key"}) {
    BOOST_TEST_CONTEXT(name) {
      auto e = error_of(two_providers +
                        "    headers:\n"           // 10
                        "      x-team: research\n" // 11
                        "      " +
                        name + ": secret\n"); // 12
      check_error(e, 12, 7,
                  {"providers.llama.headers." + name + ": the " + name +
                   " header carries the API key and is set from 'api_key'; "
                   "give the key as the provider's api_key instead"});
      BOOST_TEST(!contains(e.what(), "secret"));
    }
  }
}

BOOST_AUTO_TEST_CASE(header_names_ignore_case_when_checking_duplicates) {
  auto e = error_of(two_providers + "    headers:\n"      // 10
                                    "      x-team: a\n"   // 11
                                    "      X-Team: b\n"); // 12
  BOOST_TEST(std::string{e.what()} ==
             "demo.yaml:12:7: providers.llama.headers.X-Team: duplicate "
             "header 'X-Team' (first defined as 'x-team' at line 11; header "
             "names ignore case)");
  check_error(error_of(two_providers + "    headers:\n"
                                       "      x-team: a\n"
                                       "      x-team: b\n"),
              12, 7,
              {"providers.llama.headers: duplicate key 'x-team' (first "
               "defined at line 11)"});
}

BOOST_AUTO_TEST_CASE(a_param_given_flat_and_in_params_names_both_places) {
  auto flat_first = error_of("providers:\n"
                             "  p:\n"
                             "    kind: openai\n"
                             "    model: m\n"
                             "    temperature: 0.2\n"
                             "    params: {max_tokens: 10, temperature: "
                             "0.3}\n");
  BOOST_TEST(std::string{flat_first.what()} ==
             "demo.yaml:6:30: providers.p.params.temperature: also given as "
             "providers.p.temperature (line 5); give each sampling parameter "
             "either directly on the provider or under 'params', not both");

  auto nested_first = error_of("providers:\n"
                               "  p:\n"
                               "    kind: openai\n"
                               "    params:\n"
                               "      stop: END\n"
                               "    stop: [a]\n"
                               "    model: m\n");
  check_error(nested_first, 6, 5,
              {"providers.p.stop: also given as providers.p.params.stop "
               "(line 5)",
               "not both"});

  // Different parameters in the two places are fine.
  auto cfg = parse("providers:\n"
                   "  p:\n"
                   "    kind: openai\n"
                   "    model: m\n"
                   "    temperature: 0.2\n"
                   "    params: {max_tokens: 10}\n");
  BOOST_TEST(cfg.providers.at("p").defaults.temperature.value() == 0.2);
  BOOST_TEST(cfg.providers.at("p").defaults.max_tokens.value() == 10);
}

BOOST_AUTO_TEST_CASE(ca_file_must_be_readable_at_load) {
  auto missing = fixtures + "no_such_ca.pem";
  check_error(error_of(two_providers + "    ca_file: " + missing + "\n"), 10,
              14,
              {"providers.llama.ca_file: cannot read '" + missing +
               "': No such file or directory"});
  check_error(error_of(two_providers + "    ca_file: " + fixtures + "\n"), 10,
              14, {"providers.llama.ca_file: cannot read", "Is a directory"});
  // A relative path is looked up next to the config file and reported as
  // the path tried.
  auto e = error_of_file_text("providers:\n"
                              "  p:\n"
                              "    kind: openai\n"
                              "    model: m\n"
                              "    ca_file: certs/ca.pem\n",
                              "/etc/tutti/tutti.yaml");
  BOOST_TEST(std::string{e.what()} ==
             "/etc/tutti/tutti.yaml:5:14: providers.p.ca_file: cannot read "
             "'/etc/tutti/certs/ca.pem': No such file or directory");
}

BOOST_AUTO_TEST_SUITE_END()

// --- rate limits
// ---------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(rate_limits)

BOOST_AUTO_TEST_CASE(rate_limit_fixture_parses_and_shares_group_budgets) {
  auto cfg = load_config(fixtures + "rate_limits.yaml");
  const auto& gpt = cfg.providers.at("gpt");
  const auto& mini = cfg.providers.at("gpt-mini");
  const auto& claude = cfg.providers.at("claude");
  for (const auto* p : {&gpt, &mini}) {
    BOOST_TEST_CONTEXT(p->name) {
      BOOST_TEST(p->limit_group == "openai-org");
      BOOST_TEST(p->concurrency == 8); // written by gpt only
      BOOST_TEST(p->requests.count == 500);
      BOOST_TEST(p->requests.per_ms == 60000);
      BOOST_TEST(p->tokens.count == 5000);
      BOOST_TEST(p->tokens.per_ms == 1000);
      BOOST_TEST(p->max_queue == 200u);
    }
  }
  // The breaker is per provider.
  BOOST_TEST(gpt.breaker.failures == 3);
  BOOST_TEST(gpt.breaker.cooldown_ms == 10000);
  BOOST_TEST(mini.breaker.failures == 5);
  BOOST_TEST(mini.breaker.cooldown_ms == 30000);

  BOOST_TEST(claude.limit_group == "claude");
  BOOST_TEST(claude.concurrency == 4);
  BOOST_TEST(claude.requests.count == 0);
  BOOST_TEST(claude.tokens.count == 30000);
  BOOST_TEST(claude.tokens.per_ms == 60000);
  BOOST_TEST(claude.max_queue == 1000u);
  BOOST_TEST(claude.breaker.failures == 0);
  BOOST_TEST(claude.breaker.cooldown_ms == 30000);
}

BOOST_AUTO_TEST_CASE(defaults_give_each_provider_its_own_unlimited_group) {
  auto cfg = parse(two_providers);
  for (const auto& [name, p] : cfg.providers) {
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST(p.limit_group == name);
      BOOST_TEST(p.concurrency == 4);
      BOOST_TEST(p.requests.count == 0);
      BOOST_TEST(p.tokens.count == 0);
      BOOST_TEST(p.max_queue == 1000u);
      BOOST_TEST(p.breaker.failures == 5);
      BOOST_TEST(p.breaker.cooldown_ms == 30000);
    }
  }
}

BOOST_AUTO_TEST_CASE(sugar_and_explicit_forms) {
  struct form {
    std::string yaml;
    int64_t requests_count, requests_per_ms, tokens_count, tokens_per_ms;
  };
  const std::vector<form> forms = {
      {"rpm: 500", 500, 60000, 0, 60000},
      {"tpm: 30000", 0, 60000, 30000, 60000},
      {"requests: {count: 20, per: 1s}", 20, 1000, 0, 60000},
      {"tokens: {count: 5000, per: 250ms}", 0, 60000, 5000, 250},
      {"requests: {per: 2m, count: 7}", 7, 120000, 0, 60000},
      {"requests:\n      count: 3\n      per: 1.5", 3, 1500, 0, 60000},
      {"rpm: 10\n    tokens: {count: 1, per: 1h}", 10, 60000, 1, 3600000},
  };
  for (const auto& f : forms) {
    BOOST_TEST_CONTEXT(f.yaml) {
      auto cfg = parse("providers:\n"
                       "  p:\n"
                       "    kind: openai\n"
                       "    model: m\n"
                       "    " +
                       f.yaml + "\n");
      const auto& p = cfg.providers.at("p");
      BOOST_TEST(p.requests.count == f.requests_count);
      BOOST_TEST(p.requests.per_ms == f.requests_per_ms);
      BOOST_TEST(p.tokens.count == f.tokens_count);
      BOOST_TEST(p.tokens.per_ms == f.tokens_per_ms);
    }
  }
}

BOOST_AUTO_TEST_CASE(queue_breaker_and_group_keys_parse) {
  auto cfg = parse(two_providers +                  //
                   "    limit_group: local.box_1\n" // 10
                   "    queue: {max: 5}\n"          // 11
                   "    breaker: {cooldown: 1m}\n"  // 12
                   "    concurrency: 2\n");         // 13
  const auto& p = cfg.providers.at("llama");
  BOOST_TEST(p.limit_group == "local.box_1");
  BOOST_TEST(p.max_queue == 5u);
  BOOST_TEST(p.breaker.failures == 5);
  BOOST_TEST(p.breaker.cooldown_ms == 60000);
  BOOST_TEST(p.concurrency == 2);
  BOOST_TEST(cfg.providers.at("gpt").limit_group == "gpt");
  BOOST_TEST(cfg.providers.at("gpt").concurrency == 4);
}

BOOST_AUTO_TEST_CASE(sugar_and_explicit_form_together_name_both_places) {
  auto e = error_of(two_providers +                          //
                    "    rpm: 500\n"                         // 10
                    "    requests: {count: 20, per: 1s}\n"); // 11
  BOOST_TEST(std::string{e.what()} ==
             "demo.yaml:11:5: providers.llama.requests: also given as "
             "providers.llama.rpm (line 10); give either rpm or requests, "
             "not both");

  auto t = error_of(two_providers +                        //
                    "    tokens: {count: 5000, per: 1s}\n" // 10
                    "    concurrency: 3\n"                 // 11
                    "    tpm: 30000\n");                   // 12
  BOOST_TEST(std::string{t.what()} ==
             "demo.yaml:12:5: providers.llama.tpm: also given as "
             "providers.llama.tokens (line 10); give either tpm or tokens, "
             "not both");
}

BOOST_AUTO_TEST_CASE(a_budget_written_once_in_a_group_reaches_every_member) {
  auto cfg = parse("providers:\n"
                   "  a:\n"
                   "    kind: openai\n"
                   "    model: m\n"
                   "    limit_group: org\n"
                   "    rpm: 500\n"
                   "  b:\n"
                   "    kind: openai\n"
                   "    model: m\n"
                   "    limit_group: org\n"
                   "    concurrency: 2\n"
                   "    tpm: 1000\n"
                   "  c:\n"
                   "    kind: openai\n"
                   "    model: m\n"
                   "    limit_group: org\n"
                   "    rpm: 500\n" // agrees with a
                   "    breaker: {failures: 1}\n"
                   "  other:\n"
                   "    kind: openai\n"
                   "    model: m\n");
  for (const auto* name : {"a", "b", "c"}) {
    BOOST_TEST_CONTEXT(name) {
      const auto& p = cfg.providers.at(name);
      BOOST_TEST(p.limit_group == "org");
      BOOST_TEST(p.requests.count == 500);
      BOOST_TEST(p.requests.per_ms == 60000);
      BOOST_TEST(p.tokens.count == 1000);
      BOOST_TEST(p.concurrency == 2);
      BOOST_TEST(p.max_queue == 1000u);
    }
  }
  BOOST_TEST(cfg.providers.at("a").breaker.failures == 5);
  BOOST_TEST(cfg.providers.at("c").breaker.failures == 1);
  const auto& other = cfg.providers.at("other");
  BOOST_TEST(other.limit_group == "other");
  BOOST_TEST(other.requests.count == 0);
  BOOST_TEST(other.concurrency == 4);

  // A provider's name is its default group: naming it joins that group.
  auto joined = parse("providers:\n"
                      "  a:\n"
                      "    kind: openai\n"
                      "    model: m\n"
                      "    queue: {max: 7}\n"
                      "  b:\n"
                      "    kind: openai\n"
                      "    model: m\n"
                      "    limit_group: a\n");
  BOOST_TEST(joined.providers.at("b").limit_group == "a");
  BOOST_TEST(joined.providers.at("b").max_queue == 7u);
}

BOOST_AUTO_TEST_CASE(conflicting_budgets_in_a_group_name_the_first_writer) {
  // Providers z and a of group org; z comes first in the file.
  auto group = [](const std::string& z_budget, const std::string& a_budget) {
    return "providers:\n"           // 1
           "  z:\n"                 // 2
           "    kind: openai\n"     // 3
           "    model: m\n"         // 4
           "    limit_group: org\n" // 5
           "    " +
           z_budget +               // 6
           "\n"                     //
           "  a:\n"                 // 7
           "    kind: openai\n"     // 8
           "    model: m\n"         // 9
           "    limit_group: org\n" // 10
           "    " +
           a_budget + "\n"; // 11
  };
  auto e = error_of(group("rpm: 500", "rpm: 600"));
  BOOST_TEST(std::string{e.what()} ==
             "demo.yaml:11:10: providers.a.rpm: limit group 'org' already has "
             "requests 500 per 60s from providers.z (line 6); providers in a "
             "group share one budget");

  struct conflict {
    std::string z_budget, a_budget;
    int column;
    std::string message;
  };
  const std::string share = "; providers in a group share one budget";
  const std::vector<conflict> cases = {
      {"rpm: 500", "requests: {count: 500, per: 1s}", 15,
       "providers.a.requests: limit group 'org' already has requests 500 per "
       "60s from providers.z (line 6)" +
           share},
      {"tpm: 60000", "tokens: {count: 1000, per: 1s}", 13,
       "providers.a.tokens: limit group 'org' already has tokens 60000 per "
       "60s from providers.z (line 6)" +
           share},
      {"tokens: {count: 10, per: 250ms}", "tpm: 10", 10,
       "providers.a.tpm: limit group 'org' already has tokens 10 per 250ms "
       "from providers.z (line 6)" +
           share},
      {"concurrency: 8", "concurrency: 4", 18,
       "providers.a.concurrency: limit group 'org' already has concurrency 8 "
       "from providers.z (line 6)" +
           share},
      {"queue: {max: 10}", "queue: {max: 20}", 12,
       "providers.a.queue: limit group 'org' already has queue max 10 from "
       "providers.z (line 6)" +
           share},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.z_budget << " / " << c.a_budget) {
      check_error(error_of(group(c.z_budget, c.a_budget)), 11, c.column,
                  {c.message});
    }
  }

  // Equal budgets written differently agree; breakers may differ.
  auto cfg = parse(group("rpm: 500\n    breaker: {failures: 2}",
                         "requests: {count: 500, per: 60s}"));
  BOOST_TEST(cfg.providers.at("a").requests.count == 500);
  BOOST_TEST(cfg.providers.at("a").breaker.failures == 5);
  BOOST_TEST(cfg.providers.at("z").breaker.failures == 2);
  // Only written values are compared: a's default concurrency does not
  // clash with z's 8, and a then carries 8.
  auto defaults = parse(group("concurrency: 8", "rpm: 5"));
  BOOST_TEST(defaults.providers.at("a").concurrency == 8);
  BOOST_TEST(defaults.providers.at("z").requests.count == 5);
}

BOOST_AUTO_TEST_CASE(bad_rate_limit_values_are_errors_at_the_value) {
  struct bad_value {
    std::string yaml; // line 5, after four spaces
    int column;
    std::string expected;
  };
  const std::string duration = "expected a duration such as 250ms, 1.5s, 30s "
                               "or 2m (a bare number is seconds)";
  const std::vector<bad_value> cases = {
      {"rpm: 0", 10,
       "providers.p.rpm: expected a positive integer (requests per minute), "
       "got '0'"},
      {"tpm: lots", 10,
       "providers.p.tpm: expected a positive integer (tokens per minute), "
       "got 'lots'"},
      {"rpm: 1.5", 10, "providers.p.rpm: expected a positive integer"},
      {"requests: 500", 15,
       "providers.p.requests: expected a map such as {count: 500, per: 60s}, "
       "got '500'"},
      {"requests: {count: 0, per: 1s}", 23,
       "providers.p.requests.count: expected a positive integer, got '0'"},
      {"requests: {count: 5, per: 0s}", 31,
       "providers.p.requests.per: must be at least 1ms"},
      {"tokens: {count: 5, per: soon}", 29,
       "providers.p.tokens.per: " + duration + ", got 'soon'"},
      {"requests: {count: 5}", 15,
       "providers.p.requests: missing required key 'per'; expected a map "
       "such as {count: 500, per: 60s}"},
      {"tokens: {per: 1s}", 13,
       "providers.p.tokens: missing required key 'count'"},
      {"requests: {cont: 5, per: 1s}", 16,
       "providers.p.requests: unknown key 'cont'; expected one of: count, "
       "per; did you mean 'count'?"},
      {"queue: {max: 0}", 18,
       "providers.p.queue.max: expected a positive integer, got '0'"},
      {"queue: {}", 12,
       "providers.p.queue: missing required key 'max'; expected a map such "
       "as {max: 1000}"},
      {"queue: 1000", 12,
       "providers.p.queue: expected a map such as {max: 1000}, got '1000'"},
      {"queue: {maximum: 5}", 13,
       "providers.p.queue: unknown key 'maximum'; expected one of: max"},
      {"breaker: {failures: 1001}", 25,
       "providers.p.breaker.failures: expected an integer from 0 to 1000 (0 "
       "turns the breaker off), got '1001'"},
      {"breaker: {failures: -1}", 25,
       "providers.p.breaker.failures: expected an integer from 0 to 1000"},
      {"breaker: {cooldown: 0}", 25,
       "providers.p.breaker.cooldown: must be at least 1ms"},
      {"breaker: {failure: 3}", 15,
       "providers.p.breaker: unknown key 'failure'; expected one of: "
       "failures, cooldown; did you mean 'failures'?"},
      {"breaker: off", 14,
       "providers.p.breaker: expected a map such as {failures: 5, cooldown: "
       "30s}, got 'off'"},
      {"limit_group: \"open ai\"", 18,
       "providers.p.limit_group: invalid limit group name; use letters, "
       "digits, '_', '-' and '.', starting with a letter, digit or '_'"},
      {"limit_group: -org", 18,
       "providers.p.limit_group: invalid limit group name"},
      {"limit_group: [a]", 18,
       "providers.p.limit_group: expected a string, got a list"},
      {"limit_group:", 5,
       "providers.p.limit_group: expected a string, got nothing"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.yaml) {
      auto e = error_of("providers:\n"
                        "  p:\n"
                        "    kind: openai\n"
                        "    model: m\n"
                        "    " +
                        c.yaml + "\n");
      check_error(e, 5, c.column, {c.expected});
    }
  }
}

BOOST_AUTO_TEST_CASE(rate_limit_keys_suggest_the_right_one) {
  check_error(error_of(two_providers + "    rmp: 500\n"), 10, 5,
              {"providers.llama: unknown key 'rmp'", "did you mean 'rpm'?"});
  check_error(error_of(two_providers + "    limit_grop: org\n"), 10, 5,
              {"providers.llama: unknown key 'limit_grop'",
               "did you mean 'limit_group'?"});
}

BOOST_AUTO_TEST_SUITE_END()

// --- ensembles ---------------------------------------------------------------

namespace {

/// `two_providers` and an ensemble `e` (its name on line 11, column 3) whose
/// fields start on line 12.
std::string ensemble_e(const std::string& fields) {
  return two_providers +
         "ensembles:\n" // 10
         "  e:\n"       // 11
         + fields;
}

} // namespace

BOOST_AUTO_TEST_SUITE(ensembles)

BOOST_AUTO_TEST_CASE(issue_example_parses_into_its_fields) {
  auto cfg = parse("providers:\n"
                   "  gpt:\n"
                   "    kind: openai\n"
                   "    model: gpt-4o\n"
                   "  claude:\n"
                   "    kind: anthropic\n"
                   "    model: claude-3-5-haiku-latest\n"
                   "  llama:\n"
                   "    kind: openai-compatible\n"
                   "    model: llama3\n"
                   "    base_url: http://localhost:11434/v1\n"
                   "ensembles:\n"
                   "  poll:\n"
                   "    members: [gpt, claude, {provider: llama, samples: 3, "
                   "weight: 0.5}]\n" // 14
                   "    until: all\n"
                   "    mode: parallel\n"
                   "    deadline: 30s\n"
                   "    min_success: 2\n"
                   "    combine: vote\n"
                   "    extract: '####\\s*(-?[\\d.,]+)'\n");
  const auto& poll = cfg.ensembles.at("poll");
  BOOST_REQUIRE(poll.members.size() == 3u);
  BOOST_TEST(poll.members[0].label == "gpt");
  BOOST_TEST(poll.members[0].samples == 1);
  BOOST_TEST(poll.members[0].weight == 1.0);
  BOOST_TEST(poll.members[1].label == "claude");
  BOOST_TEST(poll.members[2].provider == "llama");
  BOOST_TEST(poll.members[2].label == "llama");
  BOOST_TEST(poll.members[2].samples == 3);
  BOOST_TEST(poll.members[2].weight == 0.5);
  BOOST_TEST(poll.members[2].where.line == 14);
  BOOST_TEST(poll.members[2].where.column == 28);
  BOOST_TEST(poll.until == "all");
  BOOST_TEST(poll.mode == "parallel");
  BOOST_TEST(poll.deadline_ms == 30000);
  BOOST_TEST(poll.min_success == 2);
  BOOST_TEST(poll.combine == "vote");
  BOOST_TEST(poll.combine_settings.extract == "####\\s*(-?[\\d.,]+)");
}

BOOST_AUTO_TEST_CASE(member_params_take_the_provider_param_keys) {
  auto cfg = parse(ensemble_e("    members:\n"
                              "      - provider: gpt\n"
                              "        samples: 3\n"
                              "        weight: 2.5\n"
                              "        params: {temperature: 0.9, top_p: 0.5, "
                              "max_tokens: 64, seed: 7, stop: [a, b]}\n"
                              "      - {provider: llama, weight: \"0.25\", "
                              "params: {stop: END}}\n"
                              "      - {provider: llama, params: {}}\n"));
  const auto& m = cfg.ensembles.at("e").members;
  BOOST_REQUIRE(m.size() == 3u);
  BOOST_TEST(m[0].samples == 3);
  BOOST_TEST(m[0].weight == 2.5);
  BOOST_TEST(m[0].params.temperature.value() == 0.9);
  BOOST_TEST(m[0].params.top_p.value() == 0.5);
  BOOST_TEST(m[0].params.max_tokens.value() == 64);
  BOOST_TEST(m[0].params.seed.value() == 7);
  BOOST_TEST(m[0].params.stop == (std::vector<std::string>{"a", "b"}),
             boost::test_tools::per_element());
  BOOST_TEST(m[1].weight == 0.25);
  BOOST_TEST(m[1].label == "llama");
  BOOST_TEST(m[1].params.stop == (std::vector<std::string>{"END"}),
             boost::test_tools::per_element());
  BOOST_TEST(!m[1].params.temperature.has_value());
  BOOST_TEST(m[2].label == "llama#2");
  BOOST_TEST(m[2].samples == 1);
  BOOST_TEST(!m[2].params.max_tokens.has_value());
  // The provider's own defaults are untouched.
  BOOST_TEST(!cfg.providers.at("gpt").defaults.temperature.has_value());
}

BOOST_AUTO_TEST_CASE(until_takes_a_word_or_a_quorum) {
  struct until_case {
    std::string yaml;
    std::string until;
    int quorum;
  };
  const std::vector<until_case> cases = {
      {"all", "all", 0},
      {"first", "first", 0},
      {"deadline", "deadline", 0},
      {"{quorum: 2}", "quorum", 2},
      {"{quorum: \"3\"}", "quorum", 3},
      // Samples count: 1 + 1 + 2 draws.
      {"{quorum: 4}", "quorum", 4},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("until: " << c.yaml) {
      auto cfg = parse(ensemble_e("    members: [gpt, llama, {provider: gpt, "
                                  "samples: 2}]\n"
                                  "    until: " +
                                  c.yaml + "\n"));
      const auto& e = cfg.ensembles.at("e");
      BOOST_TEST(e.until == c.until);
      BOOST_TEST(e.quorum == c.quorum);
    }
  }
}

BOOST_AUTO_TEST_CASE(modes_and_the_until_values_a_chain_accepts) {
  struct mode_case {
    std::string yaml;
    std::string mode;
    std::string until;
    int64_t hedge_after_ms;
  };
  const std::vector<mode_case> cases = {
      {"    mode: parallel\n", "parallel", "all", 0},
      {"    mode: fallback\n", "fallback", "all", 0},
      {"    mode: fallback\n    until: first\n", "fallback", "first", 0},
      {"    mode: fallback\n    until: all\n", "fallback", "all", 0},
      {"    mode: fallback\n    until: {quorum: 1}\n", "fallback", "quorum", 0},
      {"    mode: hedged\n    hedge_after: 1.5s\n", "hedged", "all", 1500},
      {"    hedge_after: 250ms\n    until: first\n    mode: hedged\n", "hedged",
       "first", 250},
      {"    mode: hedged\n    hedge_after: 2s\n    deadline: 2.5s\n", "hedged",
       "all", 2000},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.yaml) {
      auto cfg = parse(ensemble_e("    members: [gpt, llama]\n" + c.yaml));
      const auto& e = cfg.ensembles.at("e");
      BOOST_TEST(e.mode == c.mode);
      BOOST_TEST(e.until == c.until);
      BOOST_TEST(e.hedge_after_ms == c.hedge_after_ms);
      BOOST_TEST(e.min_success == 1);
    }
  }
}

BOOST_AUTO_TEST_CASE(min_success_and_quorum_may_equal_the_draws) {
  auto cfg = parse(ensemble_e("    until: {quorum: 4}\n"
                              "    min_success: 4\n"
                              "    members: [gpt, {provider: llama, samples: "
                              "3}]\n"));
  const auto& e = cfg.ensembles.at("e");
  BOOST_TEST(e.quorum == 4);
  BOOST_TEST(e.min_success == 4);
}

BOOST_AUTO_TEST_CASE(strategy_settings_are_kept_for_the_strategy) {
  auto judge = parse(ensemble_e("    members: [gpt, llama]\n"
                                "    combine: judge\n"
                                "    judge: gpt\n"
                                "    rubric: accuracy first\n"
                                "    prompt: |\n"
                                "      Question: {{question}}\n"
                                "      {{candidates}}\n"
                                "    extract: '(\\d+)'\n"))
                   .ensembles.at("e");
  BOOST_TEST(judge.combine == "judge");
  BOOST_TEST(judge.combine_settings.judge == "gpt");
  BOOST_TEST(judge.combine_settings.rubric == "accuracy first");
  BOOST_TEST(judge.combine_settings.prompt ==
             "Question: {{question}}\n{{candidates}}\n");
  BOOST_TEST(judge.combine_settings.extract == "(\\d+)");

  auto rank = parse(ensemble_e("    members: [gpt, llama]\n"
                               "    combine: rank\n"
                               "    judge: llama\n"))
                  .ensembles.at("e");
  BOOST_TEST(rank.combine_settings.judge == "llama");
  BOOST_TEST(rank.combine_settings.rubric.empty());

  auto synthesize = parse(ensemble_e("    members: [gpt, llama]\n"
                                     "    combine: synthesize\n"
                                     "    synthesizer: llama\n"
                                     "    prompt: Merge {{candidates}}\n"))
                        .ensembles.at("e");
  BOOST_TEST(synthesize.combine_settings.synthesizer == "llama");
  BOOST_TEST(synthesize.combine_settings.prompt == "Merge {{candidates}}");
  BOOST_TEST(synthesize.combine_settings.judge.empty());

  for (std::string name : {"vote", "first", "collect"}) {
    BOOST_TEST_CONTEXT("combine: " << name) {
      auto e = parse(ensemble_e("    members: [gpt]\n"
                                "    combine: " +
                                name + "\n"))
                   .ensembles.at("e");
      BOOST_TEST(e.combine == name);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_strategy_outside_the_builtin_table_gets_every_setting) {
  auto e = parse(ensemble_e("    members: [gpt]\n"
                            "    combine: picky\n"
                            "    prompt: p\n"
                            "    judge: gpt\n"
                            "    rubric: r\n"
                            "    synthesizer: llama\n"
                            "    extract: x\n"))
               .ensembles.at("e");
  BOOST_TEST(e.combine_settings.prompt == "p");
  BOOST_TEST(e.combine_settings.judge == "gpt");
  BOOST_TEST(e.combine_settings.rubric == "r");
  BOOST_TEST(e.combine_settings.synthesizer == "llama");
  BOOST_TEST(e.combine_settings.extract == "x");
}

// -- errors

BOOST_AUTO_TEST_CASE(bad_member_values_are_errors_at_the_value) {
  struct bad_value {
    std::string key;
    std::string value;
    std::string expected;
  };
  const std::string samples =
      "expected an integer from 1 to 100 (draws from this provider), got ";
  const std::string weight = "expected a positive number (the vote weight), "
                             "got ";
  const std::vector<bad_value> cases = {
      {"samples", "0", samples + "'0'"},
      {"samples", "101", samples + "'101'"},
      {"samples", "2.5", samples + "'2.5'"},
      {"samples", "many", samples + "'many'"},
      {"weight", "0", weight + "'0'"},
      {"weight", "-1", weight + "'-1'"},
      {"weight", "heavy", weight + "'heavy'"},
      {"weight", ".inf", weight + "'.inf'"},
      {"weight", "[1]", weight + "a list"},
      {"params", "3",
       "expected a map such as {temperature: 0.9, seed: 7}, got '3'"},
      {"label", "\"\"", "expected a non-empty string"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.key << ": " << c.value) {
      auto e = error_of(ensemble_e("    members:\n" // 12
                                   "      - {provider: gpt, " +
                                   c.key + ": " + c.value + "}\n")); // 13
      check_error(e, 13, 27 + int(c.key.size()),
                  {"ensembles.e.members[0]." + c.key + ": " + c.expected});
    }
  }
}

BOOST_AUTO_TEST_CASE(member_params_are_checked_like_provider_params) {
  check_error(error_of(ensemble_e("    members:\n"
                                  "      - {provider: gpt, params: "
                                  "{temprature: 1}}\n")),
              13, 34,
              {"ensembles.e.members[0].params: unknown key 'temprature'; "
               "expected one of: temperature, top_p, max_tokens, seed, "
               "stop; did you mean 'temperature'?"});
  check_error(error_of(ensemble_e("    members:\n"
                                  "      - {provider: gpt, params: "
                                  "{temperature: 3}}\n")),
              13, 47,
              {"ensembles.e.members[0].params.temperature: expected a number "
               "from 0 to 2, got '3'"});
  check_error(error_of(ensemble_e("    members:\n"
                                  "      - {provider: gpt, params: "
                                  "{stop: [a, [b]]}}\n")),
              13, 44,
              {"ensembles.e.members[0].params.stop[1]: expected a non-empty "
               "string, got a list"});
}

BOOST_AUTO_TEST_CASE(a_flat_sampling_parameter_on_a_member_points_to_params) {
  check_error(error_of(ensemble_e("    members:\n"
                                  "      - {provider: gpt, temperature: 1}\n")),
              13, 25,
              {"ensembles.e.members[0]: unknown key 'temperature'; a "
               "member's sampling parameters go under 'params', such as "
               "params: {temperature: 0.9}"});
}

BOOST_AUTO_TEST_CASE(unknown_member_keys_name_the_allowed_ones) {
  check_error(error_of(ensemble_e("    members:\n"
                                  "      - {provider: gpt, sample: 3}\n")),
              13, 25,
              {"ensembles.e.members[0]: unknown key 'sample'; expected one "
               "of: provider, label, samples, weight, params; did you mean "
               "'samples'?"});
  check_error(error_of(ensemble_e("    members:\n"
                                  "      - [gpt]\n")),
              13, 9,
              {"ensembles.e.members[0]: expected a provider name or a map "
               "such as {provider: NAME, samples: 3}, got a list"});
}

BOOST_AUTO_TEST_CASE(a_label_may_not_be_another_members_draw) {
  check_error(error_of(ensemble_e("    members:\n"
                                  "      - {provider: gpt, samples: 2}\n"
                                  "      - {provider: llama, label: "
                                  "\"gpt:2\"}\n")),
              14, 34,
              {"ensembles.e.members[1].label: duplicate label 'gpt:2'; "
               "ensembles.e.members[0] runs as gpt:1 to gpt:2 (labels must "
               "be unique in an ensemble)"});
  // The same the other way round: the explicit label comes first.
  check_error(error_of(ensemble_e("    members:\n"
                                  "      - {provider: llama, label: "
                                  "\"x:3\"}\n"
                                  "      - {provider: gpt, label: x, samples: "
                                  "3}\n")),
              13, 34,
              {"ensembles.e.members[0].label: duplicate label 'x:3'; "
               "ensembles.e.members[1] runs as x:1 to x:3"});
}

BOOST_AUTO_TEST_CASE(bad_until_values_are_errors_at_the_value) {
  const std::string expected =
      "expected all, first, deadline or a map such as {quorum: 2}";
  struct bad_until {
    std::string yaml;
    int column;
    std::string message;
  };
  const std::vector<bad_until> cases = {
      {"firts", 12,
       "ensembles.e.until: unsupported value 'firts'; " + expected +
           "; did you mean 'first'?"},
      {"any", 12, "ensembles.e.until: unsupported value 'any'; " + expected},
      {"quorum", 12,
       "ensembles.e.until: a quorum needs its size; write it as a map such "
       "as {quorum: 2}"},
      {"[all]", 12, "ensembles.e.until: " + expected + ", got a list"},
      {"", 5, "ensembles.e.until: " + expected + ", got nothing"},
      {"{}", 12,
       "ensembles.e.until: missing required key 'quorum'; expected a map "
       "such as {quorum: 2}"},
      {"{quorom: 2}", 13,
       "ensembles.e.until: unknown key 'quorom'; expected one of: quorum; "
       "did you mean 'quorum'?"},
      {"{quorum: 0}", 21,
       "ensembles.e.until.quorum: expected a positive integer (successful "
       "draws to wait for), got '0'"},
      {"{quorum: two}", 21,
       "ensembles.e.until.quorum: expected a positive integer"},
      {"{quorum: 4}", 21,
       "ensembles.e.until.quorum: expected an integer from 1 to 3 (the "
       "ensemble's draws: one per member, or its samples), got '4'"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("until: " << c.yaml) {
      auto e = error_of(ensemble_e("    members: [gpt, {provider: llama, "
                                   "samples: 2}]\n"
                                   "    until: " +
                                   c.yaml + "\n")); // 13
      check_error(e, 13, c.column, {c.message});
    }
  }
}

BOOST_AUTO_TEST_CASE(hedging_needs_hedge_after_and_only_hedging_takes_it) {
  check_error(error_of(ensemble_e("    members: [gpt, llama]\n"
                                  "    mode: paralel\n")),
              13, 11,
              {"ensembles.e.mode: unsupported value 'paralel'; expected one "
               "of: parallel, fallback, hedged; did you mean 'parallel'?"});
  check_error(error_of(ensemble_e("    members: [gpt, llama]\n"
                                  "    mode: hedged\n")),
              13, 11,
              {"ensembles.e.mode: mode 'hedged' needs 'hedge_after': how "
               "long a member may run before the next one starts too, such "
               "as hedge_after: 1.5s"});
  check_error(error_of(ensemble_e("    members: [gpt, llama]\n"
                                  "    hedge_after: 1s\n")),
              13, 5,
              {"ensembles.e.hedge_after: 'hedge_after' applies only to mode: "
               "hedged; this ensemble's mode is 'parallel' (the default)"});
  check_error(error_of(ensemble_e("    members: [gpt, llama]\n"
                                  "    mode: fallback\n"
                                  "    hedge_after: 1s\n")),
              14, 5,
              {"ensembles.e.hedge_after: 'hedge_after' applies only to mode: "
               "hedged; this ensemble's mode is 'fallback'"});
  check_error(error_of(ensemble_e("    members: [gpt, llama]\n"
                                  "    mode: hedged\n"
                                  "    hedge_after: 0\n")),
              14, 18, {"ensembles.e.hedge_after: must be at least 1ms"});
  check_error(error_of(ensemble_e("    members: [gpt, llama]\n"
                                  "    mode: hedged\n"
                                  "    hedge_after: 60s\n")),
              14, 18,
              {"ensembles.e.hedge_after: expected less than the deadline (1m, "
               "the default), got '60s'; no member would ever be hedged"});
  check_error(error_of(ensemble_e("    members: [gpt, llama]\n"
                                  "    deadline: 5s\n"
                                  "    hedge_after: 8s\n"
                                  "    mode: hedged\n")),
              14, 18,
              {"ensembles.e.hedge_after: expected less than the deadline "
               "(5s), got '8s'"});
}

BOOST_AUTO_TEST_CASE(a_chain_stops_at_its_first_success) {
  const std::string chain = "stops at the first successful member, so ";
  check_error(error_of(ensemble_e("    members: [gpt, llama]\n"
                                  "    mode: fallback\n"
                                  "    until: deadline\n")),
              14, 12,
              {"ensembles.e.until: mode 'fallback' " + chain +
               "it cannot wait for the deadline; use until: first or all "
               "(both mean: until a member succeeds or all have been "
               "tried), or mode: parallel"});
  check_error(error_of(ensemble_e("    members: [gpt, llama]\n"
                                  "    until: {quorum: 2}\n"
                                  "    mode: hedged\n"
                                  "    hedge_after: 1s\n")),
              13, 21,
              {"ensembles.e.until.quorum: mode 'hedged' " + chain +
               "a quorum of 2 is never reached; use mode: parallel for a "
               "quorum, or until: first"});
  check_error(error_of(ensemble_e("    members: [gpt, llama]\n"
                                  "    mode: fallback\n"
                                  "    min_success: 2\n")),
              14, 18,
              {"ensembles.e.min_success: mode 'fallback' " + chain +
               "at most 1 succeeds; expected 1, got '2'"});
}

BOOST_AUTO_TEST_CASE(min_success_is_between_1_and_the_draws) {
  check_error(error_of(ensemble_e("    members: [gpt, llama]\n"
                                  "    min_success: 0\n")),
              13, 18,
              {"ensembles.e.min_success: expected a positive integer, got "
               "'0'"});
  check_error(error_of(ensemble_e("    min_success: 3\n"
                                  "    members: [gpt, llama]\n")),
              12, 18,
              {"ensembles.e.min_success: expected an integer from 1 to 2 (the "
               "ensemble's draws: one per member, or its samples), got '3'"});
}

BOOST_AUTO_TEST_CASE(a_setting_the_strategy_does_not_read_is_an_error) {
  struct unread {
    std::string yaml;
    int line;
    std::string message;
  };
  const std::vector<unread> cases = {
      {"    extract: x\n", 13,
       "ensembles.e.extract: combine strategy 'collect' (the default) takes "
       "no settings; 'extract' is for combine: judge, rank, synthesize, vote"},
      {"    combine: first\n    prompt: p\n", 14,
       "ensembles.e.prompt: combine strategy 'first' takes no settings; "
       "'prompt' is for combine: judge, rank, synthesize"},
      {"    combine: vote\n    judge: gpt\n", 14,
       "ensembles.e.judge: combine strategy 'vote' does not use 'judge'; it "
       "reads: extract; 'judge' is for combine: judge, rank"},
      {"    combine: judge\n    judge: gpt\n    synthesizer: llama\n", 15,
       "ensembles.e.synthesizer: combine strategy 'judge' does not use "
       "'synthesizer'; it reads: judge, rubric, prompt, extract; "
       "'synthesizer' is for combine: synthesize"},
      {"    judge: gpt\n    combine: synthesize\n    synthesizer: gpt\n", 13,
       "ensembles.e.judge: combine strategy 'synthesize' does not use "
       "'judge'; it reads: synthesizer, prompt, rubric, extract; 'judge' is "
       "for combine: judge, rank"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.yaml) {
      auto e = error_of(ensemble_e("    members: [gpt]\n" + c.yaml));
      check_error(e, c.line, 5, {c.message});
    }
  }
}

BOOST_AUTO_TEST_CASE(unregistered_strategies_are_not_suggested) {
  registry reg;
  reg.add_codec("openai", [] {
    return std::make_unique<url_only_codec>("https://api.openai.com/v1");
  });
  reg.add_combine("collect", make_plain);
  reg.add_combine("vote", make_vote);
  try {
    parse_config("providers:\n"
                 "  gpt: {kind: openai, model: m}\n"
                 "ensembles:\n"
                 "  e:\n"
                 "    members: [gpt]\n"
                 "    judge: gpt\n",
                 "demo.yaml", reg);
    BOOST_FAIL("expected a config_error");
  } catch (const config_error& e) {
    check_error(e, 6, 5,
                {"ensembles.e.judge: combine strategy 'collect' (the default) "
                 "takes no settings"});
    BOOST_TEST(!contains(e.what(), "is for combine"));
  }
}

BOOST_AUTO_TEST_CASE(a_strategy_that_calls_a_model_needs_its_provider) {
  check_error(error_of(ensemble_e("    members: [gpt, llama]\n"
                                  "    combine: judge\n")),
              11, 3,
              {"ensembles.e: missing required key 'judge' (the provider that "
               "judges) for combine strategy 'judge'"});
  check_error(error_of(ensemble_e("    members: [gpt, llama]\n"
                                  "    combine: rank\n"
                                  "    rubric: r\n")),
              11, 3,
              {"ensembles.e: missing required key 'judge' (the provider that "
               "ranks the replies) for combine strategy 'rank'"});
  check_error(error_of(ensemble_e("    members: [gpt, llama]\n"
                                  "    combine: synthesize\n")),
              11, 3,
              {"ensembles.e: missing required key 'synthesizer' (the "
               "provider that writes the final answer) for combine strategy "
               "'synthesize'"});
  check_error(error_of(ensemble_e("    members: [gpt, llama]\n"
                                  "    combine: judge\n"
                                  "    judge: gtp\n")),
              14, 12,
              {"ensembles.e.judge: unknown provider 'gtp'; expected one of: "
               "gpt, llama; did you mean 'gpt'?"});
  check_error(error_of(ensemble_e("    members: [gpt, llama]\n"
                                  "    combine: synthesize\n"
                                  "    synthesizer: nobody\n")),
              14, 18,
              {"ensembles.e.synthesizer: unknown provider 'nobody'; expected "
               "one of: gpt, llama"});
}

BOOST_AUTO_TEST_CASE(strategy_settings_must_be_non_empty_strings) {
  check_error(error_of(ensemble_e("    members: [gpt]\n"
                                  "    combine: judge\n"
                                  "    judge: gpt\n"
                                  "    prompt: \"\"\n")),
              15, 13, {"ensembles.e.prompt: expected a non-empty string"});
  check_error(error_of(ensemble_e("    members: [gpt]\n"
                                  "    combine: judge\n"
                                  "    judge: gpt\n"
                                  "    rubric: [a]\n")),
              15, 13, {"ensembles.e.rubric: expected a string, got a list"});
  check_error(error_of(ensemble_e("    members: [gpt]\n"
                                  "    combine: [vote]\n")),
              13, 14, {"ensembles.e.combine: expected a string, got a list"});
}

BOOST_AUTO_TEST_CASE(strategy_factory_errors_are_reported_at_the_ensemble) {
  check_error(error_of(ensemble_e("    members: [gpt]\n"
                                  "    combine: vote\n"
                                  "    extract: '('\n")),
              11, 3,
              {"ensembles.e: combine strategy 'vote': 'extract' is not a "
               "valid regular expression"});
  check_error(error_of(ensemble_e("    members: [gpt]\n"
                                  "    combine: picky\n")),
              11, 3, {"ensembles.e: combine strategy 'picky': needs a prompt"});
  // A std::regex_error that escapes a factory is reported too.
  check_error(error_of(ensemble_e("    members: [gpt]\n"
                                  "    combine: picky\n"
                                  "    prompt: p\n"
                                  "    extract: '('\n")),
              11, 3,
              {"ensembles.e: combine strategy 'picky': 'extract' is not a "
               "valid regular expression: "});
}

BOOST_AUTO_TEST_CASE(providers_a_strategy_calls_must_exist) {
  check_error(error_of(ensemble_e("    members: [gpt]\n"
                                  "    combine: ghost\n")),
              11, 3,
              {"ensembles.e: combine strategy 'ghost' calls provider "
               "'oracle': unknown provider 'oracle'; expected one of: gpt, "
               "llama"});
}

BOOST_AUTO_TEST_CASE(the_default_strategy_must_be_registered_too) {
  registry reg;
  reg.add_codec("openai", [] {
    return std::make_unique<url_only_codec>("https://api.openai.com/v1");
  });
  reg.add_combine("vote", make_vote);
  try {
    parse_config("providers:\n"
                 "  gpt: {kind: openai, model: m}\n"
                 "ensembles:\n"
                 "  e:\n"
                 "    members: [gpt]\n",
                 "demo.yaml", reg);
    BOOST_FAIL("expected a config_error");
  } catch (const config_error& e) {
    check_error(e, 4, 3,
                {"ensembles.e: combine strategy 'collect' (the default) is "
                 "not registered; set 'combine:' to one of: vote"});
  }
}

BOOST_AUTO_TEST_SUITE_END()

// --- pipelines ---------------------------------------------------------------

namespace {

/// `two_providers`, an ensemble `poll` and `pipelines:` (line 13); `text`
/// starts on line 14.
std::string with_pipelines(const std::string& text) {
  return two_providers +
         "ensembles:\n"                // 10
         "  poll:\n"                   // 11
         "    members: [gpt, llama]\n" // 12
         "pipelines:\n"                // 13
         + text;
}

/// A pipeline `p` (its name on line 14, column 3) with the input `question`
/// and output `a`, whose steps start on line 18.
std::string pipeline_p(const std::string& steps) {
  return with_pipelines("  p:\n"                   // 14
                        "    inputs: [question]\n" // 15
                        "    output: a\n"          // 16
                        "    steps:\n"             // 17
                        + steps);
}

/// A step `a` (its id on line 18, column 7) asking gpt, whose prompt line
/// (line 20) is `prompt_line`, then `more` from line 21.
std::string step_a(const std::string& prompt_line,
                   const std::string& more = {}) {
  return pipeline_p("      a:\n"          // 18
                    "        call: gpt\n" // 19
                    + prompt_line + more);
}

const std::string reference_forms =
    "expected {{input.NAME}}, {{steps.ID.answer}} or {{steps.ID.answers}}";

} // namespace

BOOST_AUTO_TEST_SUITE(pipelines)

BOOST_AUTO_TEST_CASE(issue_example_parses_into_its_fields) {
  auto cfg = parse(with_pipelines(
      "  answer-and-critique:\n"                                 // 14
      "    inputs: [question]\n"                                 // 15
      "    steps:\n"                                             // 16
      "      draft:\n"                                           // 17
      "        ensemble: poll\n"                                 // 18
      "        prompt: \"{{input.question}}\"\n"                 // 19
      "        system: \"Answer briefly.\"\n"                    // 20
      "        params: {temperature: 0.2}\n"                     // 21
      "      critique:\n"                                        // 22
      "        call: llama\n"                                    // 23
      "        prompt: \"Question: {{input.question}}\\nDraft: " //
      "{{steps.draft.answer}}\\nCritique it.\"\n"                // 24
      "      final:\n"                                           // 25
      "        ensemble: poll\n"                                 // 26
      "        prompt: \"{{steps.draft.answers}}\\n"             //
      "{{steps.critique.answer}}\\nWrite the final answer.\"\n"  // 27
      "    output: final\n"));                                   // 28
  BOOST_REQUIRE(cfg.pipelines.size() == 1u);
  const auto& p = cfg.pipelines.at("answer-and-critique");
  BOOST_TEST(p.name == "answer-and-critique");
  BOOST_TEST(p.where.line == 14);
  BOOST_TEST(p.where.column == 3);
  BOOST_TEST(p.inputs == (std::vector<std::string>{"question"}),
             boost::test_tools::per_element());
  BOOST_TEST(p.output == "final");
  BOOST_REQUIRE(p.steps.size() == 3u);

  const auto& draft = p.steps[0];
  BOOST_TEST(draft.id == "draft");
  BOOST_TEST(draft.ensemble == "poll");
  BOOST_TEST(draft.call.empty());
  BOOST_TEST(draft.prompt.text == "{{input.question}}");
  BOOST_REQUIRE(draft.prompt.refs.size() == 1u);
  BOOST_TEST((draft.prompt.refs[0].from == template_ref::source::input));
  BOOST_TEST(draft.prompt.refs[0].name == "question");
  BOOST_TEST(draft.system.text == "Answer briefly.");
  BOOST_TEST(draft.params.temperature.value() == 0.2);
  BOOST_TEST(!draft.params.max_tokens.has_value());
  BOOST_TEST(draft.needs.empty());
  BOOST_TEST(draft.where.line == 17);
  BOOST_TEST(draft.where.column == 7);

  const auto& critique = p.steps[1];
  BOOST_TEST(critique.id == "critique");
  BOOST_TEST(critique.call == "llama");
  BOOST_TEST(critique.ensemble.empty());
  BOOST_TEST(critique.prompt.text == "Question: {{input.question}}\nDraft: "
                                     "{{steps.draft.answer}}\nCritique it.");
  BOOST_TEST(critique.system.empty());
  BOOST_TEST(!critique.params.temperature.has_value());
  BOOST_TEST(critique.needs == (std::vector<std::string>{"draft"}),
             boost::test_tools::per_element());

  const auto& final_step = p.steps[2];
  BOOST_TEST(final_step.id == "final");
  BOOST_REQUIRE(final_step.prompt.refs.size() == 2u);
  BOOST_TEST(
      (final_step.prompt.refs[0].from == template_ref::source::step_answers));
  BOOST_TEST(
      (final_step.prompt.refs[1].from == template_ref::source::step_answer));
  BOOST_TEST(final_step.needs ==
                 (std::vector<std::string>{"draft", "critique"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(steps_keep_their_yaml_order) {
  auto cfg = parse(with_pipelines("  p:\n"
                                  "    steps:\n"
                                  "      zeta: {call: gpt, prompt: z}\n"
                                  "      alpha: {call: gpt, prompt: a}\n"
                                  "      mid: {call: gpt, prompt: m}\n"
                                  "    output: alpha\n"));
  const auto& steps = cfg.pipelines.at("p").steps;
  BOOST_REQUIRE(steps.size() == 3u);
  BOOST_TEST(steps[0].id == "zeta");
  BOOST_TEST(steps[1].id == "alpha");
  BOOST_TEST(steps[2].id == "mid");
  BOOST_TEST(cfg.pipelines.at("p").inputs.empty()); // inputs are optional
}

BOOST_AUTO_TEST_CASE(needs_are_the_steps_used_in_order_of_first_use) {
  auto cfg = parse(
      pipeline_p("      a:\n"
                 "        call: gpt\n"
                 "        prompt: \"{{steps.c.answer}} {{steps.b.answers}} "
                 "{{steps.c.answers}}\"\n"
                 "        system: \"{{ steps.d.answer }} {{steps.b.answer}}\"\n"
                 "      b: {call: gpt, prompt: b}\n"
                 "      c: {call: gpt, prompt: c}\n"
                 "      d: {call: gpt, prompt: d}\n"));
  const auto& a = cfg.pipelines.at("p").steps[0];
  BOOST_TEST(a.needs == (std::vector<std::string>{"c", "b", "d"}),
             boost::test_tools::per_element());
  BOOST_REQUIRE(a.system.refs.size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_step_may_use_a_step_written_after_it) {
  auto cfg = parse(pipeline_p("      a:\n"
                              "        call: gpt\n"
                              "        prompt: \"{{steps.b.answer}}\"\n"
                              "      b:\n"
                              "        ensemble: poll\n"
                              "        prompt: \"{{input.question}}\"\n"));
  const auto& steps = cfg.pipelines.at("p").steps;
  BOOST_TEST(steps[0].needs == (std::vector<std::string>{"b"}),
             boost::test_tools::per_element());
  BOOST_TEST(steps[1].needs.empty());
}

BOOST_AUTO_TEST_CASE(inputs_may_come_after_steps_and_may_go_unused) {
  auto cfg = parse(with_pipelines("  p:\n"
                                  "    steps:\n"
                                  "      a:\n"
                                  "        call: gpt\n"
                                  "        prompt: \"{{input.q}}\"\n"
                                  "    output: a\n"
                                  "    inputs: [q, unused, with-dash_1]\n"));
  BOOST_TEST(cfg.pipelines.at("p").inputs ==
                 (std::vector<std::string>{"q", "unused", "with-dash_1"}),
             boost::test_tools::per_element());
  auto empty = parse(with_pipelines("  p:\n"
                                    "    inputs:\n"
                                    "    steps: {a: {call: gpt, prompt: x}}\n"
                                    "    output: a\n"));
  BOOST_TEST(empty.pipelines.at("p").inputs.empty());
}

BOOST_AUTO_TEST_CASE(step_params_take_the_member_param_keys) {
  auto cfg = parse(step_a("        prompt: x\n", "        params:\n"
                                                 "          temperature: 0.7\n"
                                                 "          top_p: 0.5\n"
                                                 "          max_tokens: 100\n"
                                                 "          seed: 7\n"
                                                 "          stop: [END]\n"));
  const auto& params = cfg.pipelines.at("p").steps[0].params;
  BOOST_TEST(params.temperature.value() == 0.7);
  BOOST_TEST(params.top_p.value() == 0.5);
  BOOST_TEST(params.max_tokens.value() == 100);
  BOOST_TEST(params.seed.value() == 7);
  BOOST_TEST(params.stop == (std::vector<std::string>{"END"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(block_scalars_and_literal_braces_are_templates) {
  auto cfg = parse(step_a("        prompt: |\n"
                          "          Question: {{ input.question }}\n"
                          "          Reply as {{{{json}}.\n",
                          "        system: >\n"
                          "          Be brief.\n"));
  const auto& a = cfg.pipelines.at("p").steps[0];
  BOOST_TEST(a.prompt.text ==
             "Question: {{ input.question }}\nReply as {{{{json}}.\n");
  BOOST_REQUIRE(a.prompt.refs.size() == 1u);
  BOOST_TEST(render(a.prompt, {{"question", "why?"}}, {}) ==
             "Question: why?\nReply as {{json}}.\n");
  BOOST_TEST(a.system.text == "Be brief.\n");
}

BOOST_AUTO_TEST_CASE(several_pipelines_share_the_file) {
  auto cfg = parse(with_pipelines("  one: {steps: {a: {call: gpt, prompt: "
                                  "x}}, output: a}\n"
                                  "  two: {steps: {b: {ensemble: poll, "
                                  "prompt: y}}, output: b}\n"));
  BOOST_TEST(cfg.pipelines.size() == 2u);
  BOOST_TEST(cfg.pipelines.at("two").steps[0].ensemble == "poll");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(pipeline_errors)

BOOST_AUTO_TEST_CASE(an_unknown_input_is_reported_at_its_reference) {
  check_error(error_of(step_a("        prompt: Tell me {{input.questoin}}\n")),
              20, 25,
              {"pipelines.p.steps.a.prompt: unknown input 'questoin' in "
               "{{input.questoin}}; expected one of: question; did you mean "
               "'question'?"});
  check_error(error_of(step_a("        prompt: \"{{input.topic}}\"\n")), 20, 18,
              {"pipelines.p.steps.a.prompt: unknown input 'topic' in "
               "{{input.topic}}; expected one of: question (or declare it "
               "under 'inputs')"});
  check_error(error_of(with_pipelines("  p:\n"
                                      "    steps:\n"
                                      "      a:\n"
                                      "        call: gpt\n"
                                      "        prompt: \"{{input.q}}\"\n"
                                      "    output: a\n")),
              18, 18,
              {"pipelines.p.steps.a.prompt: unknown input 'q' in "
               "{{input.q}}; the pipeline declares no inputs; declare it "
               "with inputs: [q]"});
}

BOOST_AUTO_TEST_CASE(reference_positions_follow_the_scalar_style) {
  // Double quotes with an escape before the reference.
  check_error(error_of(step_a("        prompt: \"Line\\n{{input.x}}\"\n")), 20,
              24, {"unknown input 'x' in {{input.x}}"});
  // Single quotes with a doubled quote.
  check_error(error_of(step_a("        prompt: 'It''s {{input.x}}'\n")), 20, 24,
              {"unknown input 'x'"});
  // Columns count characters.
  check_error(error_of(step_a("        prompt: \"\xC3\xA9 {{input.x}}\"\n")),
              20, 20, {"unknown input 'x'"});
  // A plain scalar over two lines.
  check_error(error_of(step_a("        prompt: first line\n"
                              "          second {{input.x}}\n")),
              21, 18, {"unknown input 'x'"});
  // A literal block: the reference's own line and column.
  check_error(error_of(step_a("        prompt: |\n"
                              "          Question: {{input.question}}\n"
                              "            {{ input.x }}\n")),
              22, 13, {"unknown input 'x' in {{ input.x }}"});
  // A folded block, after a literal pair of braces.
  check_error(error_of(step_a("        prompt: >\n"
                              "          Use {{{{name}}\n"
                              "          and {{input.x}}\n")),
              22, 15, {"unknown input 'x'"});
  // A brace written as an escape: the string's start, not a later `{{`.
  check_error(error_of(step_a("        prompt: \"\\x7b{input.x}}\"\n",
                              "        system: \"{{input.x}}\"\n")),
              20, 17, {"unknown input 'x' in {{input.x}}"});
  // A later reference, after references that are fine.
  check_error(error_of(step_a("        prompt: \"{{steps.b.answer}} "
                              "{{steps.b.answer}}\"\n",
                              "      b: {call: gpt, prompt: \"{{steps.a."
                              "answer}} {{steps.zz.answer}}\"}\n")),
              21, 50, {"pipelines.p.steps.b.prompt: unknown step 'zz'"});
}

BOOST_AUTO_TEST_CASE(an_unknown_step_is_reported_at_its_reference) {
  check_error(error_of(pipeline_p("      a:\n"
                                  "        call: gpt\n"
                                  "        prompt: \"{{steps.drat.answer}}\"\n"
                                  "      draft: {call: gpt, prompt: x}\n")),
              20, 18,
              {"pipelines.p.steps.a.prompt: unknown step 'drat' in "
               "{{steps.drat.answer}}; expected one of: draft; did you mean "
               "'draft'?"});
  check_error(error_of(step_a("        prompt: \"{{steps.b.answers}}\"\n")), 20,
              18,
              {"pipelines.p.steps.a.prompt: unknown step 'b' in "
               "{{steps.b.answers}}; the pipeline has no other step"});
}

BOOST_AUTO_TEST_CASE(a_step_cannot_use_its_own_answer) {
  check_error(error_of(step_a("        prompt: \"x {{steps.a.answer}}\"\n")),
              20, 20,
              {"pipelines.p.steps.a.prompt: step 'a' cannot use its own "
               "answer ({{steps.a.answer}})"});
}

BOOST_AUTO_TEST_CASE(system_prompts_are_checked_like_prompts) {
  check_error(error_of(step_a("        prompt: x\n",
                              "        system: \"Be {{input.tone}}\"\n")),
              21, 21,
              {"pipelines.p.steps.a.system: unknown input 'tone' in "
               "{{input.tone}}"});
  check_error(error_of(step_a("        prompt: x\n", "        system: \"\"\n")),
              21, 17,
              {"pipelines.p.steps.a.system: expected a non-empty string"});
}

BOOST_AUTO_TEST_CASE(template_errors_are_reported_at_their_braces) {
  check_error(error_of(step_a("        prompt: \"Q: {{steps.x}}\"\n")), 20, 21,
              {"pipelines.p.steps.a.prompt: '{{steps.x}}' names no field of "
               "step 'x'; " +
               reference_forms});
  check_error(error_of(step_a("        prompt: |\n"
                              "          ok {{input.question}}\n"
                              "          {{input.question\n")),
              22, 11,
              {"pipelines.p.steps.a.prompt: '{{' without a closing '}}'"});
  check_error(error_of(step_a("        prompt: \"{{}}\"\n")), 20, 18,
              {"empty reference '{{}}'"});
  check_error(error_of(step_a("        prompt: \"{{question}}\"\n")), 20, 18,
              {"'{{question}}': unknown source 'question' (an input is "
               "written {{input.question}})"});
  check_error(error_of(step_a("        prompt: x\n",
                              "        system: \"{{steps.a.text}}\"\n")),
              21, 18,
              {"pipelines.p.steps.a.system: '{{steps.a.text}}': unknown "
               "field 'text'"});
}

BOOST_AUTO_TEST_CASE(a_cycle_is_an_error_at_its_first_step_naming_it) {
  check_error(error_of(pipeline_p("      a: {call: gpt, prompt: "
                                  "\"{{steps.b.answer}}\"}\n" // 18
                                  "      b: {call: gpt, prompt: "
                                  "\"{{steps.c.answer}}\"}\n" // 19
                                  "      c: {call: gpt, prompt: "
                                  "\"{{steps.a.answers}}\"}\n")),
              18, 7,
              {"pipelines.p: steps form a cycle: a -> b -> c -> a (each step "
               "uses the answer of the next)"});
  // Found from a, going a -> c -> b -> a.
  check_error(error_of(pipeline_p("      a: {call: gpt, prompt: "
                                  "\"{{steps.c.answer}}\"}\n"
                                  "      b: {call: gpt, prompt: "
                                  "\"{{steps.a.answer}}\"}\n"
                                  "      c: {call: gpt, prompt: "
                                  "\"{{steps.b.answer}}\"}\n")),
              18, 7, {"pipelines.p: steps form a cycle: a -> c -> b -> a"});
  // Steps outside the cycle are not named; the cycle starts at its first
  // step in the file even when found from another one.
  check_error(error_of(pipeline_p("      a: {call: gpt, prompt: "
                                  "\"{{steps.c.answer}}\"}\n"
                                  "      b: {call: gpt, prompt: x, system: "
                                  "\"{{steps.c.answer}}\"}\n"
                                  "      c: {call: gpt, prompt: "
                                  "\"{{steps.d.answer}}\"}\n"
                                  "      d: {call: gpt, prompt: "
                                  "\"{{steps.b.answer}}\"}\n")),
              19, 7, {"pipelines.p: steps form a cycle: b -> c -> d -> b ("});
}

BOOST_AUTO_TEST_CASE(a_step_asks_exactly_one_ensemble_or_provider) {
  check_error(error_of(pipeline_p("      a:\n"
                                  "        ensemble: poll\n"
                                  "        call: gpt\n"
                                  "        prompt: x\n")),
              20, 9,
              {"pipelines.p.steps.a.call: a step asks either an ensemble or "
               "one provider, not both; 'ensemble' is given at line 19"});
  check_error(error_of(pipeline_p("      a:\n"
                                  "        prompt: x\n")),
              18, 7,
              {"pipelines.p.steps.a: missing 'ensemble' or 'call': a step "
               "asks an ensemble (ensemble: NAME) or one provider (call: "
               "NAME)"});
  check_error(error_of(pipeline_p("      a:\n"
                                  "        ensemble: pol\n"
                                  "        prompt: x\n")),
              19, 19,
              {"pipelines.p.steps.a.ensemble: unknown ensemble 'pol'; "
               "expected one of: poll; did you mean 'poll'?"});
  check_error(error_of(pipeline_p("      a:\n"
                                  "        call: gtp\n"
                                  "        prompt: x\n")),
              19, 15,
              {"pipelines.p.steps.a.call: unknown provider 'gtp'; expected "
               "one of: gpt, llama; did you mean 'gpt'?"});
  check_error(error_of(two_providers + "pipelines:\n"
                                       "  p:\n"
                                       "    steps:\n"
                                       "      a: {ensemble: poll, prompt: "
                                       "x}\n"
                                       "    output: a\n"),
              13, 21,
              {"pipelines.p.steps.a.ensemble: unknown ensemble 'poll'; no "
               "ensembles are defined"});
  check_error(error_of(pipeline_p("      a:\n"
                                  "        call: [gpt]\n"
                                  "        prompt: x\n")),
              19, 15,
              {"pipelines.p.steps.a.call: expected a string, got a list"});
}

BOOST_AUTO_TEST_CASE(a_step_needs_a_non_empty_prompt) {
  check_error(error_of(pipeline_p("      a:\n"
                                  "        call: gpt\n")),
              18, 7, {"pipelines.p.steps.a: missing required key 'prompt'"});
  check_error(error_of(step_a("        prompt: \"\"\n")), 20, 17,
              {"pipelines.p.steps.a.prompt: expected a non-empty string"});
  check_error(error_of(step_a("        prompt:\n")), 20, 9,
              {"pipelines.p.steps.a.prompt: expected a string, got nothing"});
  check_error(error_of(step_a("        prompt: [x]\n")), 20, 17,
              {"pipelines.p.steps.a.prompt: expected a string, got a list"});
}

BOOST_AUTO_TEST_CASE(output_is_required_and_must_be_a_step) {
  check_error(error_of(with_pipelines("  p:\n"
                                      "    steps:\n"
                                      "      draft: {call: gpt, prompt: x}\n"
                                      "      final: {call: gpt, prompt: y}\n")),
              14, 3,
              {"pipelines.p: missing required key 'output' (the step whose "
               "answer is the pipeline's answer; one of: draft, final)"});
  check_error(error_of(with_pipelines("  p:\n"
                                      "    steps:\n"
                                      "      draft: {call: gpt, prompt: x}\n"
                                      "    output: drat\n")),
              17, 13,
              {"pipelines.p.output: unknown step 'drat'; expected one of: "
               "draft; did you mean 'draft'?"});
  check_error(error_of(with_pipelines("  p:\n"
                                      "    steps:\n"
                                      "      draft: {call: gpt, prompt: x}\n"
                                      "    output: [draft]\n")),
              17, 13, {"pipelines.p.output: expected a string, got a list"});
}

BOOST_AUTO_TEST_CASE(a_pipeline_needs_at_least_one_step) {
  check_error(error_of(with_pipelines("  p:\n"
                                      "    steps:\n"
                                      "    output: a\n")),
              15, 5, {"pipelines.p.steps: a pipeline needs at least one step"});
  check_error(error_of(with_pipelines("  p:\n"
                                      "    steps: {}\n"
                                      "    output: a\n")),
              15, 12,
              {"pipelines.p.steps: a pipeline needs at least one step"});
  check_error(error_of(with_pipelines("  p:\n"
                                      "    output: a\n")),
              14, 3, {"pipelines.p: missing required key 'steps'"});
  check_error(error_of(with_pipelines("  p:\n"
                                      "    steps: [a, b]\n"
                                      "    output: a\n")),
              15, 12,
              {"pipelines.p.steps: expected a map of steps by id, got a list"});
}

BOOST_AUTO_TEST_CASE(unknown_keys_name_the_allowed_ones) {
  check_error(error_of(pipeline_p("      a: {call: gpt, prompt: x}\n"
                                  "    ouptut: a\n")),
              19, 5,
              {"pipelines.p: unknown key 'ouptut'; expected one of: inputs, "
               "steps, output; did you mean 'output'?"});
  check_error(error_of(step_a("        promt: x\n")), 20, 9,
              {"pipelines.p.steps.a: unknown key 'promt'; expected one of: "
               "ensemble, call, prompt, system, params; did you mean "
               "'prompt'?"});
  check_error(
      error_of(step_a("        prompt: x\n", "        temperature: 0.2\n")), 21,
      9,
      {"pipelines.p.steps.a: unknown key 'temperature'; a step's "
       "sampling parameters go under 'params', such as params: "
       "{temperature: 0.2}"});
  check_error(error_of(with_pipelines("  p: {steps: {a: {call: gpt, prompt: "
                                      "x}}, output: a}\n") +
                       "pipeline: {}\n"),
              15, 1,
              {"unknown top-level key 'pipeline'; expected one of: "
               "providers, ensembles, pipelines; did you mean 'pipelines'?"});
}

BOOST_AUTO_TEST_CASE(step_params_are_checked_like_member_params) {
  check_error(error_of(step_a("        prompt: x\n",
                              "        params: {temperature: 3}\n")),
              21, 31,
              {"pipelines.p.steps.a.params.temperature: expected a number "
               "from 0 to 2, got '3'"});
  check_error(error_of(step_a("        prompt: x\n",
                              "        params: {temprature: 1}\n")),
              21, 18,
              {"pipelines.p.steps.a.params: unknown key 'temprature'; "
               "expected one of: temperature, top_p, max_tokens, seed, stop; "
               "did you mean 'temperature'?"});
  check_error(error_of(step_a("        prompt: x\n", "        params: 1\n")),
              21, 17,
              {"pipelines.p.steps.a.params: expected a map such as "
               "{temperature: 0.2, max_tokens: 512}, got '1'"});
}

BOOST_AUTO_TEST_CASE(step_ids_and_input_names_are_identifiers) {
  check_error(error_of(pipeline_p("      a.b: {call: gpt, prompt: x}\n")), 18,
              7,
              {"pipelines.p.steps.a.b: invalid step id; use letters, digits, "
               "'_' and '-', starting with a letter or '_'"});
  check_error(error_of(pipeline_p("      1st: {call: gpt, prompt: x}\n")), 18,
              7, {"pipelines.p.steps.1st: invalid step id"});
  check_error(error_of(with_pipelines("  p:\n"
                                      "    inputs: [q, a.b]\n"
                                      "    steps: {a: {call: gpt, prompt: "
                                      "x}}\n"
                                      "    output: a\n")),
              15, 17,
              {"pipelines.p.inputs[1]: invalid input name 'a.b'; use "
               "letters, digits, '_' and '-', starting with a letter or "
               "'_'"});
}

BOOST_AUTO_TEST_CASE(inputs_are_a_list_of_unique_names) {
  auto with_inputs = [](const std::string& line) {
    return with_pipelines("  p:\n" + line +
                          "    steps: {a: {call: gpt, prompt: x}}\n"
                          "    output: a\n");
  };
  check_error(error_of(with_inputs("    inputs: [q, r, q]\n")), 15, 20,
              {"pipelines.p.inputs[2]: duplicate input 'q' (first declared "
               "at line 15)"});
  check_error(error_of(with_inputs("    inputs: question\n")), 15, 13,
              {"pipelines.p.inputs: expected a list of input names such as "
               "[question], got 'question'"});
  check_error(error_of(with_inputs("    inputs: [[q]]\n")), 15, 14,
              {"pipelines.p.inputs[0]: expected an input name, got a list"});
}

BOOST_AUTO_TEST_CASE(pipeline_names_and_shapes_are_checked) {
  check_error(error_of(with_pipelines("  \"my p\":\n"
                                      "    steps: {a: {call: gpt, prompt: "
                                      "x}}\n"
                                      "    output: a\n")),
              14, 3, {"pipelines.my p: invalid pipeline name"});
  check_error(error_of(with_pipelines("  p: [a]\n")), 14, 6,
              {"pipelines.p: expected a map with 'inputs', 'steps' and "
               "'output', got a list"});
  check_error(error_of(with_pipelines("  p:\n"
                                      "    steps:\n"
                                      "      a: x\n"
                                      "    output: a\n")),
              16, 10,
              {"pipelines.p.steps.a: expected a map with 'ensemble' or "
               "'call' and 'prompt', got 'x'"});
  check_error(error_of(two_providers + "pipelines: [p]\n"), 10, 12,
              {"pipelines: expected a map of pipelines by name, got a list"});
}

BOOST_AUTO_TEST_CASE(duplicate_step_ids_are_duplicate_keys) {
  check_error(error_of(pipeline_p("      a: {call: gpt, prompt: x}\n"
                                  "      a: {call: gpt, prompt: y}\n")),
              19, 7,
              {"pipelines.p.steps: duplicate key 'a' (first defined at line "
               "18)"});
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
