// A provider's rate limits (rpm, tpm, requests, tokens, concurrency, queue,
// breaker) and the limit groups whose members share them; read with the
// providers section (config_providers.cpp).

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "tests/unit/config_test_support.hpp"
#include "tutti/config.hpp"

using namespace tutti;
using namespace tutti::config_test;

// --- rate limits -------------------------------------------------------------

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
