#pragma once

/// Prompt templates of pipeline steps: text with `{{input.NAME}}`,
/// `{{steps.ID.answer}}` and `{{steps.ID.answers}}` references. Pure: parsed
/// once when the config loads (so every reference is checked before anything
/// runs) and rendered when a step starts.

#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tutti {

/// One `{{...}}` of a template.
struct template_ref {
  enum class source : uint8_t {
    input,        ///< {{input.NAME}}: a pipeline input
    step_answer,  ///< {{steps.ID.answer}}: the step's answer text
    step_answers, ///< {{steps.ID.answers}}: its successful members' answers,
                  ///< numbered
  };
  source from = source::input;
  std::string name;  ///< the input's name or the step's id
  size_t offset = 0; ///< where `{{` is in the template's text
  size_t length = 0; ///< of the whole `{{...}}`
};

/// A parsed template: its text and the references in it, in order.
struct prompt_template {
  std::string text;
  std::vector<template_ref> refs;

  bool empty() const { return text.empty(); }
};

/// A template that cannot be parsed: `offset` is where in its text.
class template_error : public std::invalid_argument {
public:
  template_error(size_t offset, const std::string& message)
      : std::invalid_argument(message), offset_(offset) {}

  size_t offset() const { return offset_; }

private:
  size_t offset_;
};

/// Whether `name` can be written in a template as an input name or a step
/// id: [A-Za-z_][A-Za-z0-9_-]*.
bool is_template_identifier(std::string_view name);

/// Parses `text`. Spaces inside the braces are allowed (`{{ input.x }}`);
/// anything else that is not one of the three forms throws
/// `template_error`, naming what was written and the forms expected.
prompt_template parse_template(std::string text);

/// What a finished step offers the templates after it.
struct step_values {
  std::string answer;               ///< the step's answer text
  std::vector<std::string> answers; ///< its successful members' replies
};

/// Renders `t`. `{{steps.ID.answers}}` becomes "1. first\n\n2. second".
/// Every reference must have a value (the loader and the runner see to
/// it); a missing one throws `std::out_of_range` naming it.
std::string render(const prompt_template& t,
                   const std::map<std::string, std::string>& inputs,
                   const std::map<std::string, step_values>& steps);

} // namespace tutti
