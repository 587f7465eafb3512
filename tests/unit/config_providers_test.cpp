// The providers section: a provider's keys, their defaults and errors,
// timeouts, retry, price, headers, api_version and ca_file, sampling
// parameters, and a built-in kind's own keys (ollama's keep_alive and
// num_ctx). Rate limits and limit groups: config_rate_limits_test.cpp.

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/unit/config_test_support.hpp"
#include "tutti/config.hpp"
#include "tutti/registry.hpp"

using namespace tutti;
using namespace tutti::config_test;

// --- valid configs -----------------------------------------------------------

BOOST_AUTO_TEST_SUITE(valid)

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
  BOOST_TEST(claude.options.empty());
  // Relative to the config file's directory, not the working directory.
  BOOST_TEST(claude.ca_file == fixtures + "custom_ca.pem");

  const auto& azure = cfg.providers.at("azure");
  BOOST_TEST(azure.options.at("api_version") == "2024-10-21");
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
      BOOST_TEST(p.options.empty());
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

BOOST_AUTO_TEST_CASE(budgets_and_cache_rules_read_into_their_fields) {
  const std::string priced =
      two_providers + "    price: {input_per_mtok: 1, output_per_mtok: 2}\n";
  auto cfg =
      parse(priced + "    budget: {day: 5, month: \"100.5\"}\n"
                     "    cache: {ttl: 1h, sampled: true}\n"
                     "ensembles:\n"
                     "  e: {members: [llama], budget: 30/month, cache: {ttl: "
                     "90s}}\n");
  const auto& p = cfg.providers.at("llama");
  BOOST_TEST(p.budget.day_usd == 5.0);
  BOOST_TEST(p.budget.month_usd == 100.5);
  BOOST_TEST(p.cache.ttl_ms == 3'600'000);
  BOOST_TEST(p.cache.sampled);
  const auto& e = cfg.ensembles.at("e");
  BOOST_TEST(e.budget.day_usd == 0.0);
  BOOST_TEST(e.budget.month_usd == 30.0);
  BOOST_TEST(e.cache.ttl_ms == 90'000);
  BOOST_TEST(!e.cache.sampled);
  // Absent: no budget, nothing cached.
  BOOST_TEST(!cfg.providers.at("gpt").budget.any());
  BOOST_TEST(cfg.providers.at("gpt").cache.ttl_ms == 0);

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"    budget: 10/week\n", "expected a budget in US dollars per day or "
                                "month such as 10/day"},
      {"    budget: {day: -1}\n", "providers.llama.budget.day: expected a "
                                  "number from 0 to 1000000000"},
      {"    budget: {daily: 1}\n", "unknown key 'daily'"},
      {"    cache: {sampled: true}\n", "missing required key 'ttl'"},
      {"    cache: {ttl: 25h}\n", "must be at most 24h"},
      {"    cache: 1h\n", "providers.llama.cache: expected a map"},
  };
  for (auto& [yaml, message] : bad) {
    BOOST_TEST_CONTEXT(yaml) {
      auto error = error_of(priced + yaml);
      BOOST_TEST(contains(error.what(), message), error.what());
    }
  }
  // A budget on an unpriced provider could never be met.
  auto unpriced = error_of(two_providers + "    budget: 10/day\n");
  check_error(unpriced, 10, 5,
              {"providers.llama.budget: a budget needs the provider's "
               "price:"});
}

BOOST_AUTO_TEST_CASE(ca_file_is_allowed_on_any_kind_api_version_on_azure) {
  auto cfg =
      parse(two_providers + "    ca_file: " + fixtures + "custom_ca.pem\n");
  const auto& p = cfg.providers.at("llama");
  BOOST_TEST(p.ca_file == fixtures + "custom_ca.pem"); // absolute: unchanged
  // api_version is azure-openai's own key: another kind would ignore it.
  auto azure = parse("providers:\n"
                     "  az:\n"
                     "    kind: azure-openai\n"
                     "    model: gpt-4o\n"
                     "    base_url: https://r.openai.azure.com/openai/"
                     "deployments/d\n"
                     "    api_version: 2024-12-01-preview\n");
  BOOST_TEST(azure.providers.at("az").options.at("api_version") ==
             "2024-12-01-preview");
  auto e = error_of(two_providers + "    api_version: 2024-12-01-preview\n");
  BOOST_TEST(contains(e.what(), "providers.llama: unknown key 'api_version'"));
}

BOOST_AUTO_TEST_CASE(a_kinds_own_keys_may_be_required_and_name_variables) {
  // Like bedrock: a required key with a check, and a secret one.
  registry plugins;
  plugins.add_codec("signed", [] {
    return std::make_unique<url_only_codec>(
        "https://signed.example", std::vector<std::string>{"authorization"},
        std::vector<codec_key>{{"region", check_version, true},
                               {"secret_key", nullptr, false, true}});
  });
  auto parse = [&](const std::string& yaml) {
    return parse_config(yaml, "demo.yaml", plugins);
  };
  auto error_of = [&](const std::string& yaml) {
    try {
      parse(yaml);
    } catch (const config_error& e) {
      return std::string{e.what()};
    }
    return std::string{"no error"};
  };
  const std::string signed_provider = "providers:\n"
                                      "  s:\n"
                                      "    kind: signed\n"
                                      "    model: m\n";
  auto missing = error_of(signed_provider);
  BOOST_TEST(contains(missing,
                      "providers.s: missing required key 'region' (a signed "
                      "provider needs it)"),
             missing);
  // A literal is checked when read; a ${VAR} once expanded.
  auto bad = error_of(signed_provider + "    region: eu west\n");
  BOOST_TEST(contains(bad, "providers.s.region: expected an API "
                           "version"),
             bad);
  auto cfg = parse(signed_provider + "    region: ${TUTTI_TEST_REGION}\n" +
                   "    secret_key: ${TUTTI_TEST_SECRET}\n");
  auto& p = cfg.providers.at("s");
  BOOST_TEST(p.options.at("region") == "${TUTTI_TEST_REGION}");
  BOOST_TEST(p.options_where.at("region").line == 5);
  ::setenv("TUTTI_TEST_REGION", "eu-west-1", 1);
  ::setenv("TUTTI_TEST_SECRET", "wJalrXUtnFEMI", 1);
  resolve_env(cfg, {"s"});
  BOOST_TEST(p.options.at("region") == "eu-west-1");
  BOOST_TEST(p.options.at("secret_key") == "wJalrXUtnFEMI");
  ::unsetenv("TUTTI_TEST_REGION");
  ::unsetenv("TUTTI_TEST_SECRET");
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
             "expected one of: anthropic, azure-openai, gemini, openai, "
             "openai-compatible; did you mean 'openai'?");
  BOOST_TEST(e.message() ==
             "providers.gpt.kind: unknown kind 'opena'; expected one of: "
             "anthropic, azure-openai, gemini, openai, openai-compatible; did "
             "you mean 'openai'?");
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
               "anthropic, azure-openai, gemini, openai, openai-compatible)"});
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
       "embedding_model, base_url, api_key, concurrency, limit_group, rpm, "
       "tpm, requests, "
       "tokens, queue, breaker, temperature, top_p, max_tokens, seed, "
       "stop, params, timeouts, retry, price, headers, ca_file, budget, "
       "cache; did you mean 'timeouts'?"},
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
    std::string kind = "openai";
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
      {"api_version", "[1]", "expected a string, got a list", "azure-openai"},
      {"api_version", "2024-10-21&x=1",
       "expected an API version such as 2024-10-21 (letters, digits, '-', "
       "'.' and '_'), got '2024-10-21&x=1'",
       "azure-openai"},
      {"ca_file", "{a: 1}", "expected a string, got a map"},
      {"ca_file", "\"\"", "expected a non-empty string"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.key << ": " << c.value) {
      auto e = error_of("providers:\n"
                        "  p:\n"
                        "    kind: " +
                        c.kind +
                        "\n"
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

// --- a built-in kind's own keys: ollama's keep_alive and num_ctx -------------

BOOST_AUTO_TEST_SUITE(builtin_kinds)

namespace {

/// `yaml` read with the built-in plugins, as `tutti` reads it.
config parse_builtin(const std::string& yaml) {
  return parse_config(yaml, "demo.yaml", registry::builtin());
}

config_error builtin_error_of(const std::string& yaml) {
  try {
    parse_builtin(yaml);
  } catch (const config_error& e) {
    return e;
  }
  BOOST_FAIL("expected a config error");
  throw std::logic_error("unreachable");
}

const std::string ollama_provider = "providers:\n"
                                    "  local:\n"
                                    "    kind: ollama\n"
                                    "    model: llama3.2\n";

} // namespace

BOOST_AUTO_TEST_CASE(keep_alive_and_num_ctx_are_ollamas_own_keys) {
  auto cfg = parse_builtin(ollama_provider + "    keep_alive: 10m\n"
                                             "    num_ctx: 8192\n"
                                             "  pinned:\n"
                                             "    kind: ollama\n"
                                             "    model: llama3.2\n"
                                             "    keep_alive: -1\n"
                                             "  seconds:\n"
                                             "    kind: ollama\n"
                                             "    model: llama3.2\n"
                                             "    keep_alive: 300\n"
                                             "  mixed:\n"
                                             "    kind: ollama\n"
                                             "    model: llama3.2\n"
                                             "    keep_alive: 1h30m0.5s\n");
  const auto& local = cfg.providers.at("local");
  BOOST_TEST(local.options.at("keep_alive") == "10m");
  BOOST_TEST(local.options.at("num_ctx") == "8192");
  BOOST_TEST(cfg.providers.at("pinned").options.at("keep_alive") == "-1");
  BOOST_TEST(cfg.providers.at("seconds").options.at("keep_alive") == "300");
  BOOST_TEST(cfg.providers.at("mixed").options.at("keep_alive") == "1h30m0.5s");
  BOOST_TEST(cfg.providers.at("pinned").options.count("num_ctx") == 0u);
}

BOOST_AUTO_TEST_CASE(ollamas_keys_say_what_they_expect) {
  for (std::string bad : {"5 minutes", "m5", "1.5", "10x", "\"-\"", "1h-5m",
                          "99999999999999999999"}) {
    BOOST_TEST_CONTEXT(bad) {
      check_error(
          builtin_error_of(ollama_provider + "    keep_alive: " + bad + "\n"),
          5, 17,
          {"providers.local.keep_alive: expected a number of seconds (-1 "
           "keeps the model loaded, 0 unloads it at once) or a duration such "
           "as 5m, 30s or 1h30m, got "});
    }
  }
  for (std::string bad : {"0", "-4096", "8k", "4096.5", "3000000000"}) {
    BOOST_TEST_CONTEXT(bad) {
      check_error(
          builtin_error_of(ollama_provider + "    num_ctx: " + bad + "\n"), 5,
          14,
          {"providers.local.num_ctx: expected a positive integer (the "
           "context window in tokens, such as 8192), got "});
    }
  }
}

BOOST_AUTO_TEST_CASE(ollamas_keys_are_unknown_on_other_kinds) {
  for (std::string kind : {"openai", "openai-compatible", "gemini"}) {
    for (std::string key : {"keep_alive", "num_ctx"}) {
      BOOST_TEST_CONTEXT(kind << " " << key) {
        auto e = builtin_error_of("providers:\n"
                                  "  other:\n"
                                  "    kind: " +
                                  kind +
                                  "\n"
                                  "    model: m\n"
                                  "    base_url: http://localhost:8000/v1\n"
                                  "    " +
                                  key + ": 5\n");
        BOOST_TEST(
            contains(e.what(), "providers.other: unknown key '" + key + "'"),
            e.what());
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
