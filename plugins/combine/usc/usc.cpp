#include "plugins/combine/usc/usc.hpp"

#include <cctype>
#include <string>
#include <utility>

#include "plugins/combine/combine_support.hpp"
#include "plugins/combine/judge/judge.hpp"

namespace tutti {

namespace {

using namespace combine_support;

// The paper's prompt, with tutti's numbering of candidates.
const char* const default_usc_prompt =
    "I have generated the following candidate responses to the question:\n"
    "{{question}}\n"
    "\n"
    "{{candidates}}"
    "Evaluate these responses. Select the most consistent response based on "
    "majority consensus.\n"
    "Start your answer with \"The most consistent response is Candidate N\" "
    "(without quotes), where N is its number.";

const char* const usc_system =
    "You compare several candidate answers to one question and find the one "
    "that agrees most with the others. Judge their agreement, not their "
    "length, style or order.";

const char* const missing_provider =
    "combine: usc needs `judge:` naming the provider that picks the most "
    "consistent reply";

std::string consistent_note(size_t choice, size_t count) {
  return "the judge found candidate " + std::to_string(choice) + " of " +
         std::to_string(count) + " the most consistent";
}

/// Where the last "consistent" (any case) in `text` ends; npos if none.
size_t after_last_consistent(std::string_view text) {
  constexpr std::string_view word = "consistent";
  size_t found = std::string_view::npos;
  for (size_t i = 0; i + word.size() <= text.size(); ++i) {
    size_t j = 0;
    while (j < word.size() &&
           std::tolower(static_cast<unsigned char>(text[i + j])) == word[j])
      ++j;
    if (j == word.size())
      found = i + word.size();
  }
  return found;
}

} // namespace

std::optional<size_t> parse_consistent_choice(std::string_view reply,
                                              size_t count) {
  auto at = after_last_consistent(reply);
  if (at != std::string_view::npos) {
    // The first number after it, within the sentence that names it.
    size_t value = 0;
    bool digits = false;
    for (size_t i = at; i < reply.size(); ++i) {
      auto c = static_cast<unsigned char>(reply[i]);
      if (std::isdigit(c)) {
        digits = true;
        if (value > count) // past any candidate: stop before it overflows
          return std::nullopt;
        value = value * 10 + (c - '0');
      } else if (digits || c == '.' || c == '\n') {
        break;
      }
    }
    if (digits)
      return value >= 1 && value <= count ? std::optional<size_t>{value}
                                          : std::nullopt;
  }
  return parse_choice(reply, count);
}

std::unique_ptr<combine_strategy> make_usc(const combine_options& options) {
  static const judge_style style{"usc",
                                 default_usc_prompt,
                                 usc_system,
                                 missing_provider,
                                 parse_consistent_choice,
                                 consistent_note};
  return make_judge_styled(options, style);
}

combine_traits usc_traits() {
  combine_traits traits;
  traits.answers_with_a_member = true;
  traits.settings.push_back(
      {"judge", setting_type::provider, true,
       "the provider that picks the most consistent reply"});
  for (auto& setting : prompt_setting_traits())
    if (setting.name != "rubric") // consistency, not a rubric, decides
      traits.settings.push_back(std::move(setting));
  return traits;
}

} // namespace tutti
