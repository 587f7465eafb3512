#include "plugins/combine/judge/judge.hpp"

#include <stdexcept>
#include <utility>

#include "plugins/combine/combine_support.hpp"
#include "plugins/combine/vote/vote.hpp"

namespace tutti {

namespace {

using namespace combine_support;

const char* const default_judge_prompt =
    "Question:\n"
    "{{question}}\n"
    "\n"
    "{{candidates}}"
    "Which candidate answers the question best?\n"
    "Rubric: {{rubric}}\n"
    "\n"
    "Reply with one line of the form \"Best: N\", where N is the number of "
    "the best candidate, and nothing else.";

const char* const judge_system =
    "You are an impartial judge. You read several candidate answers to one "
    "question and decide which is best. Judge what they say, not their "
    "length, style or order.";

const char* const missing_provider =
    "combine: judge needs `judge:` naming the provider that judges";

const judge_style best_style{"judge", default_judge_prompt, judge_system,
                             missing_provider, parse_choice};

class judge final : public combine_strategy {
public:
  judge(const combine_options& options, const judge_style& style)
      : style_(style), reader_(options.text("extract")),
        settings_(settings_for(options.text("judge"), options,
                               style.default_prompt, style.default_system,
                               style.missing)) {}

  combined combine(const combine_input& input) const override {
    auto candidates = candidates_of(input);
    if (candidates.size() < 2)
      return nothing_to_judge(input, candidates);
    if (input.calls.empty()) {
      combined ask;
      ask.call = make_call(settings_, style_.label, input, candidates);
      return ask;
    }
    auto& verdict = input.calls.back();
    if (auto why = unusable(verdict, "judge"); !why.empty())
      return fall_back(input, reader_, why);
    auto choice = style_.parse(verdict.reply.text, candidates.size());
    if (!choice)
      return fall_back(input, reader_,
                       "the judge's reply named no candidate from 1 to " +
                           std::to_string(candidates.size()) + " (" +
                           quote(verdict.reply.text) + ")");
    auto& best = input.outcomes[candidates[*choice - 1]];
    combined result;
    result.status = answer_status::ok;
    result.text = best.reply.text;
    result.winner = best.member;
    if (style_.note != nullptr)
      result.note = style_.note(*choice, candidates.size());
    return result;
  }

  std::vector<std::string> providers_called() const override {
    return {settings_.provider};
  }

private:
  judge_style style_;
  answer_reader reader_;
  prompt_settings settings_;
};

} // namespace

std::unique_ptr<combine_strategy>
make_judge_styled(const combine_options& options, const judge_style& style) {
  return std::make_unique<judge>(options, style);
}

std::unique_ptr<combine_strategy> make_judge(const combine_options& options) {
  return make_judge_styled(options, best_style);
}

combine_traits judge_traits() {
  combine_traits traits;
  traits.answers_with_a_member = true;
  traits.settings.push_back(
      {"judge", setting_type::provider, true, "the provider that judges"});
  for (auto& setting : prompt_setting_traits())
    traits.settings.push_back(std::move(setting));
  return traits;
}

} // namespace tutti
