// The ensembles section: members, labels and samples, until and modes,
// combine strategies and their settings.

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "tests/unit/config_test_support.hpp"
#include "tutti/config.hpp"

using namespace tutti;
using namespace tutti::config_test;

// --- valid configs -----------------------------------------------------------

BOOST_AUTO_TEST_SUITE(valid)

BOOST_AUTO_TEST_CASE(ensemble_defaults_apply) {
  auto cfg = parse(two_providers + "ensembles:\n"
                                   "  duo:\n"
                                   "    members: [gpt, llama]\n");
  const auto& duo = cfg.ensembles.at("duo");
  BOOST_TEST(to_string(duo.until) == "all");
  BOOST_TEST(duo.combine == "collect");
  BOOST_TEST(duo.deadline_ms == 60000);
  BOOST_TEST(to_string(duo.mode) == "parallel");
  BOOST_TEST(duo.hedge_after_ms == 0);
  BOOST_TEST(duo.quorum == 0);
  BOOST_TEST(duo.min_success == 1);
  BOOST_TEST(duo.combine_settings.text("extract").empty());
  BOOST_TEST(duo.combine_settings.text("judge").empty());
  BOOST_TEST(duo.combine_settings.text("rubric").empty());
  BOOST_TEST(duo.combine_settings.text("synthesizer").empty());
  BOOST_TEST(duo.combine_settings.text("prompt").empty());
  for (const auto& m : duo.members) {
    BOOST_TEST(m.samples == 1);
    BOOST_TEST(m.weight == 1.0);
    BOOST_TEST(!m.params.temperature.has_value());
    BOOST_TEST(!m.params.seed.has_value());
    BOOST_TEST(m.params.stop.empty());
  }
  BOOST_TEST(cfg.providers.at("llama").base_url == "http://localhost:11434/v1");
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

BOOST_AUTO_TEST_SUITE_END()

// --- errors ------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(errors)

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
  BOOST_TEST(to_string(poll.until) == "all");
  BOOST_TEST(to_string(poll.mode) == "parallel");
  BOOST_TEST(poll.deadline_ms == 30000);
  BOOST_TEST(poll.min_success == 2);
  BOOST_TEST(poll.combine == "vote");
  BOOST_TEST(poll.combine_settings.text("extract") == "####\\s*(-?[\\d.,]+)");
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
      BOOST_TEST(to_string(e.until) == c.until);
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
      BOOST_TEST(to_string(e.mode) == c.mode);
      BOOST_TEST(to_string(e.until) == c.until);
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
  BOOST_TEST(judge.combine_settings.text("judge") == "gpt");
  BOOST_TEST(judge.combine_settings.text("rubric") == "accuracy first");
  BOOST_TEST(judge.combine_settings.text("prompt") ==
             "Question: {{question}}\n{{candidates}}\n");
  BOOST_TEST(judge.combine_settings.text("extract") == "(\\d+)");

  auto rank = parse(ensemble_e("    members: [gpt, llama]\n"
                               "    combine: rank\n"
                               "    judge: llama\n"))
                  .ensembles.at("e");
  BOOST_TEST(rank.combine_settings.text("judge") == "llama");
  BOOST_TEST(rank.combine_settings.text("rubric").empty());

  auto synthesize = parse(ensemble_e("    members: [gpt, llama]\n"
                                     "    combine: synthesize\n"
                                     "    synthesizer: llama\n"
                                     "    prompt: Merge {{candidates}}\n"))
                        .ensembles.at("e");
  BOOST_TEST(synthesize.combine_settings.text("synthesizer") == "llama");
  BOOST_TEST(synthesize.combine_settings.text("prompt") ==
             "Merge {{candidates}}");
  BOOST_TEST(synthesize.combine_settings.text("judge").empty());

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

BOOST_AUTO_TEST_CASE(a_host_strategy_is_checked_by_what_it_declares) {
  registry reg;
  reg.add_codec("openai", [] {
    return std::make_unique<url_only_codec>("https://api.openai.com/v1");
  });
  reg.add_combine("collect", make_plain, combine_traits{});
  combine_traits traits;
  traits.settings.push_back(
      {"arbiter", setting_type::provider, true, "the provider that picks"});
  traits.settings.push_back({"style", setting_type::text});
  reg.add_combine("pick", make_plain, traits);
  auto error = [&](const std::string& fields) {
    try {
      parse_config("providers:\n"
                   "  gpt: {kind: openai, model: m}\n"
                   "ensembles:\n"
                   "  e:\n"
                   "    members: [gpt]\n"
                   "    combine: pick\n" +
                       fields,
                   "demo.yaml", reg);
    } catch (const config_error& e) {
      return std::string{e.what()};
    }
    return std::string{"no error"};
  };
  BOOST_TEST(contains(error(""), "ensembles.e: missing required key 'arbiter' "
                                 "(the provider that picks) for combine "
                                 "strategy 'pick'"));
  BOOST_TEST(contains(error("    arbiter: oracle\n"),
                      "ensembles.e.arbiter: unknown provider 'oracle'"));
  BOOST_TEST(contains(error("    arbiter: gpt\n    judge: gpt\n"),
                      "unknown key 'judge'"));
  auto e = parse_config("providers:\n"
                        "  gpt: {kind: openai, model: m}\n"
                        "ensembles:\n"
                        "  e:\n"
                        "    members: [gpt]\n"
                        "    combine: pick\n"
                        "    arbiter: gpt\n"
                        "    style: terse\n",
                        "demo.yaml", reg)
               .ensembles.at("e");
  BOOST_TEST(e.combine_settings.text("arbiter") == "gpt");
  BOOST_TEST(e.combine_settings.text("style") == "terse");
  BOOST_TEST(error("    arbiter: gpt\n") == "no error");
  // collect declares nothing: `style` is another strategy's.
  try {
    parse_config("providers:\n"
                 "  gpt: {kind: openai, model: m}\n"
                 "ensembles:\n"
                 "  e:\n"
                 "    members: [gpt]\n"
                 "    style: terse\n",
                 "demo.yaml", reg);
    BOOST_FAIL("expected a config_error");
  } catch (const config_error& e) {
    BOOST_TEST(contains(e.what(), "ensembles.e.style: combine strategy "
                                  "'collect' (the default) takes no settings; "
                                  "'style' is for combine: pick"),
               e.what());
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
  BOOST_TEST(e.combine_settings.text("prompt") == "p");
  BOOST_TEST(e.combine_settings.text("judge") == "gpt");
  BOOST_TEST(e.combine_settings.text("rubric") == "r");
  BOOST_TEST(e.combine_settings.text("synthesizer") == "llama");
  BOOST_TEST(e.combine_settings.text("extract") == "x");
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
  reg.add_combine("collect", make_plain, combine_traits{});
  reg.add_combine("vote", make_vote, *registry::builtin().traits_of("vote"));
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
    // No registered strategy reads `judge`: it is no ensemble key here.
    check_error(e, 6, 5,
                {"ensembles.e: unknown key 'judge'; expected one of: members, "
                 "until, mode, hedge_after, deadline, min_success, combine, "
                 "budget, cache, extract"});
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
