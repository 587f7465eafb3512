#include "tutti/prompt_template.hpp"

#include <cctype>
#include <string_view>
#include <utility>

namespace tutti {

namespace {

const std::string expected_forms =
    "expected {{input.NAME}}, {{steps.ID.answer}} or {{steps.ID.answers}}";

/// `{{{{` is a literal `{{`: the one way to write braces a model should see.
constexpr std::string_view literal_braces = "{{{{";

std::string_view trim_blanks(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

std::vector<std::string_view> split_on_dots(std::string_view text) {
  std::vector<std::string_view> parts;
  size_t begin = 0;
  for (;;) {
    auto dot = text.find('.', begin);
    parts.push_back(text.substr(begin, dot - begin));
    if (dot == std::string_view::npos) {
      return parts;
    }
    begin = dot + 1;
  }
}

/// The reference as written, shortened for a message.
std::string quoted(std::string_view written) {
  std::string text{written};
  if (text.size() > 60) {
    text = text.substr(0, 57) + "...";
  }
  return "'" + text + "'";
}

/// Why `{{...}}` (the whole `written`, with `inside` between the braces) is
/// not a reference; fills `ref` and returns nothing when it is one.
std::string read_reference(std::string_view written, std::string_view inside,
                           template_ref& ref) {
  auto body = trim_blanks(inside);
  if (body.empty()) {
    return "empty reference " + quoted(written);
  }
  auto parts = split_on_dots(body);
  auto bad_name = [&](std::string_view name, const char* what) {
    return quoted(written) + ": '" + std::string{name} + "' is not a valid " +
           what +
           " (letters, digits, '_' and '-', starting with a letter or '_')";
  };
  if (parts[0] == "input") {
    if (parts.size() == 1) {
      return quoted(written) + " names no input";
    }
    if (parts.size() > 2) {
      return quoted(written) + " is not a reference";
    }
    if (!is_template_identifier(parts[1])) {
      return bad_name(parts[1], "input name");
    }
    ref.from = template_ref::source::input;
    ref.name = std::string{parts[1]};
    return {};
  }
  if (parts[0] == "steps") {
    if (parts.size() == 1) {
      return quoted(written) + " names no step";
    }
    if (!is_template_identifier(parts[1])) {
      return bad_name(parts[1], "step id");
    }
    if (parts.size() == 2) {
      return quoted(written) + " names no field of step '" +
             std::string{parts[1]} + "'";
    }
    if (parts.size() > 3) {
      return quoted(written) + " is not a reference";
    }
    if (parts[2] == "answer") {
      ref.from = template_ref::source::step_answer;
    } else if (parts[2] == "answers") {
      ref.from = template_ref::source::step_answers;
    } else {
      return quoted(written) + ": unknown field '" + std::string{parts[2]} +
             "' (a step offers 'answer' and 'answers')";
    }
    ref.name = std::string{parts[1]};
    return {};
  }
  auto message =
      quoted(written) + ": unknown source '" + std::string{parts[0]} + "'";
  if (parts[0] == "inputs") {
    message += " (did you mean 'input'?)";
  } else if (parts[0] == "step") {
    message += " (did you mean 'steps'?)";
  } else if (parts.size() == 1 && is_template_identifier(parts[0])) {
    message += " (an input is written {{input." + std::string{parts[0]} + "}})";
  }
  return message;
}

/// Copies `text[begin, end)`, turning each `{{{{` into `{{`.
void append_literal(std::string& out, const std::string& text, size_t begin,
                    size_t end) {
  // Only [begin, end) is searched: a search to the end of the text for each
  // reference made rendering quadratic in the template's length.
  std::string_view part{text.data(), end};
  while (begin < end) {
    auto escape = part.find(literal_braces, begin);
    if (escape == std::string_view::npos) {
      out.append(text, begin, end - begin);
      return;
    }
    out.append(text, begin, escape - begin);
    out += "{{";
    begin = escape + literal_braces.size();
  }
}

std::string numbered(const std::vector<std::string>& answers) {
  std::string result;
  for (size_t i = 0; i < answers.size(); ++i) {
    if (i > 0) {
      result += "\n\n";
    }
    result += std::to_string(i + 1) + ". " + answers[i];
  }
  return result;
}

std::string written_form(const template_ref& ref) {
  switch (ref.from) {
  case template_ref::source::input:
    return "{{input." + ref.name + "}}";
  case template_ref::source::step_answer:
    return "{{steps." + ref.name + ".answer}}";
  case template_ref::source::step_answers:
    return "{{steps." + ref.name + ".answers}}";
  }
  return {};
}

} // namespace

prompt_template parse_template(std::string text) {
  prompt_template result;
  size_t pos = 0;
  size_t open = 0;
  while ((open = text.find("{{", pos)) != std::string::npos) {
    if (text.compare(open, literal_braces.size(), literal_braces) == 0) {
      pos = open + literal_braces.size();
      continue;
    }
    auto close = text.find("}}", open + 2);
    auto next_open = text.find("{{", open + 2);
    if (close == std::string::npos ||
        (next_open != std::string::npos && next_open < close)) {
      throw template_error(open, "'{{' without a closing '}}'; " +
                                     expected_forms +
                                     " (write {{{{ for a literal {{)");
    }
    std::string_view all{text};
    template_ref ref;
    auto problem = read_reference(all.substr(open, close + 2 - open),
                                  all.substr(open + 2, close - open - 2), ref);
    if (!problem.empty()) {
      throw template_error(open, problem + "; " + expected_forms);
    }
    ref.offset = open;
    ref.length = close + 2 - open;
    result.refs.push_back(std::move(ref));
    pos = close + 2;
  }
  result.text = std::move(text);
  return result;
}

std::string render(const prompt_template& t,
                   const std::map<std::string, std::string>& inputs,
                   const std::map<std::string, step_values>& steps) {
  std::string out;
  size_t copied = 0;
  for (const auto& ref : t.refs) {
    append_literal(out, t.text, copied, ref.offset);
    if (ref.from == template_ref::source::input) {
      auto value = inputs.find(ref.name);
      if (value == inputs.end()) {
        throw std::out_of_range("no value for " + written_form(ref));
      }
      out += value->second;
    } else {
      auto step = steps.find(ref.name);
      if (step == steps.end()) {
        throw std::out_of_range("no value for " + written_form(ref));
      }
      out += ref.from == template_ref::source::step_answer
                 ? step->second.answer
                 : numbered(step->second.answers);
    }
    copied = ref.offset + ref.length;
  }
  append_literal(out, t.text, copied, t.text.size());
  return out;
}

bool is_template_identifier(std::string_view name) {
  if (name.empty()) {
    return false;
  }
  auto head = [](char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
  };
  if (!head(name.front())) {
    return false;
  }
  for (char c : name) {
    if (!head(c) && !std::isdigit(static_cast<unsigned char>(c)) && c != '-') {
      return false;
    }
  }
  return true;
}

} // namespace tutti
