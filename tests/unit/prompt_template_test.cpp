// Prompt templates of pipeline steps: what parses, what is an error and
// where, and what a rendered prompt reads.

#include <boost/test/unit_test.hpp>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "tutti/prompt_template.hpp"

using namespace tutti;

namespace {

using source = template_ref::source;

/// The error parsing `text` gives; fails the test when there is none.
template_error error_of(const std::string& text) {
  try {
    parse_template(text);
  } catch (const template_error& e) {
    return e;
  }
  BOOST_FAIL("expected a template_error for: " << text);
  throw std::logic_error("unreachable");
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// Asserts the error's offset and that its message contains each of `parts`
/// and names the three forms a reference may take.
void check_error(const std::string& text, size_t offset,
                 const std::vector<std::string>& parts) {
  auto e = error_of(text);
  std::string message = e.what();
  BOOST_TEST_INFO("template: " << text << "; what(): " << message);
  BOOST_TEST(e.offset() == offset);
  for (const auto& part : parts) {
    BOOST_TEST_INFO("what(): " << message);
    BOOST_TEST(contains(message, part), "missing: " << part);
  }
  BOOST_TEST(contains(message, "expected {{input.NAME}}, {{steps.ID.answer}} "
                               "or {{steps.ID.answers}}"));
}

const std::map<std::string, std::string> no_inputs;
const std::map<std::string, step_values> no_steps;

} // namespace

BOOST_AUTO_TEST_SUITE(parsing)

BOOST_AUTO_TEST_CASE(text_without_references_has_none) {
  auto t = parse_template("Answer briefly. {single} braces and }} stay.");
  BOOST_TEST(t.text == "Answer briefly. {single} braces and }} stay.");
  BOOST_TEST(t.refs.empty());
  BOOST_TEST(!t.empty());
  BOOST_TEST(parse_template("").empty());
}

BOOST_AUTO_TEST_CASE(the_three_forms_are_found_in_order_with_their_place) {
  auto t = parse_template("Q: {{input.question}}\nDraft: {{steps.draft.answer}}"
                          "\n{{steps.poll.answers}}");
  BOOST_REQUIRE(t.refs.size() == 3u);
  BOOST_TEST((t.refs[0].from == source::input));
  BOOST_TEST(t.refs[0].name == "question");
  BOOST_TEST(t.refs[0].offset == 3u);
  BOOST_TEST(t.refs[0].length == 18u);
  BOOST_TEST((t.refs[1].from == source::step_answer));
  BOOST_TEST(t.refs[1].name == "draft");
  BOOST_TEST(t.refs[1].offset == 29u);
  BOOST_TEST(t.refs[1].length == 22u);
  BOOST_TEST((t.refs[2].from == source::step_answers));
  BOOST_TEST(t.refs[2].name == "poll");
  BOOST_TEST(t.refs[2].offset == 52u);
  BOOST_TEST(t.refs[2].length == 22u);
}

BOOST_AUTO_TEST_CASE(spaces_and_tabs_inside_the_braces_are_allowed) {
  auto t = parse_template("{{ input.x }}{{\tsteps.a-1.answer\t}}");
  BOOST_REQUIRE(t.refs.size() == 2u);
  BOOST_TEST(t.refs[0].name == "x");
  BOOST_TEST(t.refs[0].length == 13u);
  BOOST_TEST(t.refs[1].name == "a-1");
  BOOST_TEST(t.refs[1].offset == 13u);
}

BOOST_AUTO_TEST_CASE(names_are_identifiers_with_dashes) {
  auto t = parse_template("{{input._q-2}}{{steps.Draft_1.answers}}");
  BOOST_REQUIRE(t.refs.size() == 2u);
  BOOST_TEST(t.refs[0].name == "_q-2");
  BOOST_TEST(t.refs[1].name == "Draft_1");
}

BOOST_AUTO_TEST_CASE(the_same_reference_may_appear_twice) {
  auto t = parse_template("{{input.x}} and {{input.x}}");
  BOOST_REQUIRE(t.refs.size() == 2u);
  BOOST_TEST(t.refs[1].offset == 16u);
}

BOOST_AUTO_TEST_CASE(four_braces_are_a_literal_pair_and_no_reference) {
  auto t = parse_template("Fill in {{{{name}} for {{input.who}}");
  BOOST_REQUIRE(t.refs.size() == 1u);
  BOOST_TEST(t.refs[0].name == "who");
  BOOST_TEST(t.refs[0].offset == 23u);
  // Six braces: a literal pair, then a reference.
  auto u = parse_template("{{{{{{input.x}}");
  BOOST_REQUIRE(u.refs.size() == 1u);
  BOOST_TEST(u.refs[0].offset == 4u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(errors)

BOOST_AUTO_TEST_CASE(an_unclosed_reference_is_an_error_at_its_braces) {
  check_error("Question: {{input.question", 10,
              {"'{{' without a closing '}}'", "write {{{{ for a literal {{"});
  // A second `{{` before the `}}` leaves the first one unclosed.
  check_error("{{input.a {{input.b}}", 0, {"'{{' without a closing '}}'"});
  check_error("ok {{input.a}} then {{", 20, {"without a closing"});
}

BOOST_AUTO_TEST_CASE(an_empty_reference_is_an_error) {
  check_error("a {{}} b", 2, {"empty reference '{{}}'"});
  check_error("{{   }}", 0, {"empty reference '{{   }}'"});
}

BOOST_AUTO_TEST_CASE(input_needs_a_name) {
  check_error("x {{input}}", 2, {"'{{input}}' names no input"});
  check_error("{{input.}}", 0,
              {"'{{input.}}': '' is not a valid input name (letters, digits, "
               "'_' and '-', starting with a letter or '_')"});
  check_error("{{input.9lives}}", 0, {"'9lives' is not a valid input name"});
  check_error("{{input.a b}}", 0, {"'a b' is not a valid input name"});
  check_error("{{input.a.b}}", 0, {"'{{input.a.b}}' is not a reference"});
}

BOOST_AUTO_TEST_CASE(a_step_reference_needs_a_step_and_a_known_field) {
  check_error("{{steps}}", 0, {"'{{steps}}' names no step"});
  check_error("{{steps.x}}", 0, {"'{{steps.x}}' names no field of step 'x'"});
  check_error("{{steps.x.text}}", 0,
              {"'{{steps.x.text}}': unknown field 'text' (a step offers "
               "'answer' and 'answers')"});
  check_error("{{steps.x.answer.y}}", 0,
              {"'{{steps.x.answer.y}}' is not a reference"});
  check_error("{{steps.a.b.answer}}", 0, {"is not a reference"});
  check_error("{{steps.$x.answer}}", 0, {"'$x' is not a valid step id"});
}

BOOST_AUTO_TEST_CASE(an_unknown_source_is_an_error_with_a_hint) {
  check_error("{{foo.bar}}", 0, {"'{{foo.bar}}': unknown source 'foo'"});
  check_error("{{inputs.q}}", 0,
              {"unknown source 'inputs' (did you mean "
               "'input'?)"});
  check_error("{{step.a.answer}}", 0,
              {"unknown source 'step' (did you mean 'steps'?)"});
  check_error("Q: {{question}}", 3,
              {"'{{question}}': unknown source 'question' (an input is "
               "written {{input.question}})"});
  check_error("{{{input.x}}", 0, {"'{{{input.x}}': unknown source '{input'"});
}

BOOST_AUTO_TEST_CASE(the_first_bad_reference_is_reported) {
  check_error("{{input.a}} {{nope}} {{}}", 12, {"'{{nope}}'"});
}

BOOST_AUTO_TEST_CASE(a_long_reference_is_shortened_in_the_message) {
  auto long_name = std::string(100, 'x');
  auto e = error_of("{{foo." + long_name + "}}");
  BOOST_TEST(std::string{e.what()}.size() < 250u);
  BOOST_TEST(contains(e.what(), "...'"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rendering)

BOOST_AUTO_TEST_CASE(references_are_replaced_by_their_values) {
  auto t = parse_template("Question: {{input.question}}\n"
                          "Draft: {{ steps.draft.answer }}\n"
                          "Critique it.");
  std::map<std::string, std::string> inputs{{"question", "Why is the sky "
                                                         "blue?"}};
  std::map<std::string, step_values> steps{{"draft", {"Rayleigh.", {}}}};
  BOOST_TEST(render(t, inputs, steps) == "Question: Why is the sky blue?\n"
                                         "Draft: Rayleigh.\n"
                                         "Critique it.");
}

BOOST_AUTO_TEST_CASE(answers_are_numbered_and_separated_by_a_blank_line) {
  auto t = parse_template("{{steps.poll.answers}}\nWrite the final answer.");
  std::map<std::string, step_values> steps{
      {"poll", {"ignored", {"first", "second", "third"}}}};
  BOOST_TEST(render(t, no_inputs, steps) ==
             "1. first\n\n2. second\n\n3. third\nWrite the final answer.");
}

BOOST_AUTO_TEST_CASE(no_answers_render_as_nothing) {
  auto t = parse_template("[{{steps.poll.answers}}]");
  std::map<std::string, step_values> steps{{"poll", {"", {}}}};
  BOOST_TEST(render(t, no_inputs, steps) == "[]");
}

BOOST_AUTO_TEST_CASE(values_are_inserted_verbatim_not_parsed_again) {
  auto t = parse_template("{{input.x}}");
  std::map<std::string, std::string> inputs{{"x", "{{input.y}} {{{{"}};
  BOOST_TEST(render(t, inputs, no_steps) == "{{input.y}} {{{{");
}

BOOST_AUTO_TEST_CASE(four_braces_render_as_two) {
  auto t = parse_template("Use {{{{name}} here; {{input.x}}; {{{{{{input.x}}");
  std::map<std::string, std::string> inputs{{"x", "X"}};
  BOOST_TEST(render(t, inputs, no_steps) == "Use {{name}} here; X; {{X");
}

BOOST_AUTO_TEST_CASE(text_without_references_renders_as_itself) {
  auto t = parse_template("plain } text {");
  BOOST_TEST(render(t, no_inputs, no_steps) == "plain } text {");
  BOOST_TEST(render(parse_template(""), no_inputs, no_steps).empty());
}

// Regression: the text before each reference was searched for `{{{{` up to
// the template's end, so rendering 200,000 references (2.4 MB) took
// minutes; it is now one pass.
BOOST_AUTO_TEST_CASE(many_references_render_in_one_pass) {
  std::string text;
  for (int i = 0; i < 200000; ++i)
    text += "{{input.x}} ";
  auto t = parse_template(text + "{{{{");
  std::map<std::string, std::string> inputs{{"x", "X"}};
  auto out = render(t, inputs, no_steps);
  BOOST_TEST(out.size() == 200000u * 2 + 2);
  BOOST_TEST(out.substr(out.size() - 4) == "X {{");
}

BOOST_AUTO_TEST_CASE(a_missing_value_is_out_of_range_naming_it) {
  auto t = parse_template("{{input.q}} {{steps.a.answers}}");
  try {
    render(t, no_inputs, no_steps);
    BOOST_FAIL("expected std::out_of_range");
  } catch (const std::out_of_range& e) {
    BOOST_TEST(std::string{e.what()} == "no value for {{input.q}}");
  }
  try {
    render(t, {{"q", "?"}}, no_steps);
    BOOST_FAIL("expected std::out_of_range");
  } catch (const std::out_of_range& e) {
    BOOST_TEST(std::string{e.what()} == "no value for {{steps.a.answers}}");
  }
}

BOOST_AUTO_TEST_SUITE_END()
