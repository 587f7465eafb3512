// The pipelines section: inputs, steps and their templates, references
// between steps, and the step graph.

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "tests/unit/config_test_support.hpp"
#include "tutti/config.hpp"

using namespace tutti;
using namespace tutti::config_test;

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
               "providers, ensembles, pipelines, models, store; did you mean 'pipelines'?"});
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
