// Prompt templates on any text: `parse_template` returns references that
// lie inside the text, in order, or throws `template_error` at an offset
// inside it; rendering a parsed template with a value for every reference
// never throws, and without references it only unescapes `{{{{`.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "tests/fuzz/fuzz_check.hpp"
#include "tutti/prompt_template.hpp"

using namespace tutti;
using tutti::fuzz::require;

namespace {

std::string unescaped(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 4, "{{{{") == 0) {
      out += "{{";
      i += 4;
    } else {
      out += text[i++];
    }
  }
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text{tutti::fuzz::text_of(data, size)};
  prompt_template t;
  try {
    t = parse_template(text);
  } catch (const template_error& e) {
    require(e.offset() < text.size(), "a template error beyond the text");
    return 0;
  }
  require(t.text == text, "the parsed template lost its text");
  std::map<std::string, std::string> inputs;
  std::map<std::string, step_values> steps;
  size_t end = 0;
  for (const auto& ref : t.refs) {
    require(ref.offset >= end && ref.length >= 4 &&
                ref.offset + ref.length <= text.size(),
            "a reference outside the text or out of order");
    require(text.compare(ref.offset, 2, "{{") == 0 &&
                text.compare(ref.offset + ref.length - 2, 2, "}}") == 0,
            "a reference that is not {{...}}");
    require(is_template_identifier(ref.name), "a reference to a bad name");
    end = ref.offset + ref.length;
    if (ref.from == template_ref::source::input) {
      inputs[ref.name] = "{{input." + ref.name + "}}";
    } else {
      steps[ref.name] = step_values{"A {{{{", {"x", "{{y}}"}};
    }
  }
  auto out = render(t, inputs, steps);
  if (t.refs.empty()) {
    require(out == unescaped(text), "rendering changed literal text");
  }
  return 0;
}
