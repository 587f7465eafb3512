#include "plugins/combine/rank/rank.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "plugins/combine/combine_support.hpp"
#include "plugins/combine/vote/vote.hpp"

namespace tutti {

namespace {

using namespace combine_support;

const char* const default_rank_prompt =
    "Question:\n"
    "{{question}}\n"
    "\n"
    "{{candidates}}"
    "Order all the candidates from best to worst.\n"
    "Rubric: {{rubric}}\n"
    "\n"
    "Reply with one line of the form \"Ranking: A > B > C\", where A, B, C "
    "are candidate numbers from best to worst and every candidate appears "
    "once, and nothing else.";

const char* const rank_system =
    "You are an impartial judge. You read several candidate answers to one "
    "question and order them from best to worst. Judge what they say, not "
    "their length, style or order.";

const char* const missing_provider =
    "combine: rank needs `judge:` naming the provider that ranks";

class rank final : public combine_strategy {
public:
  explicit rank(const combine_options& options)
      : reader_(options.text("extract")),
        settings_(settings_for(options.text("judge"), options,
                               default_rank_prompt, rank_system,
                               missing_provider)) {}

  combined combine(const combine_input& input) const override {
    auto candidates = candidates_of(input);
    if (candidates.size() < 2) {
      auto result = nothing_to_judge(input, candidates);
      if (!result.winner.empty())
        result.ranking = {result.winner};
      return result;
    }
    if (input.calls.empty()) {
      combined ask;
      ask.call = make_call(settings_, "judge", input, candidates);
      return ask;
    }
    auto& verdict = input.calls.back();
    if (auto why = unusable(verdict, "judge"); !why.empty())
      return fall_back(input, reader_, why);
    auto order = parse_ranking(verdict.reply.text, candidates.size());
    if (!order)
      return fall_back(input, reader_,
                       "the judge's reply ranked no candidates from 1 to " +
                           std::to_string(candidates.size()) + " (" +
                           quote(verdict.reply.text) + ")");
    combined result;
    size_t named = order->size();
    for (size_t n = 1; n <= candidates.size(); ++n)
      if (std::find(order->begin(), order->end(), n) == order->end())
        order->push_back(n);
    for (size_t n : *order)
      result.ranking.push_back(input.outcomes[candidates[n - 1]].member);
    auto& best = input.outcomes[candidates[order->front() - 1]];
    result.status = answer_status::ok;
    result.text = best.reply.text;
    result.winner = best.member;
    if (named < candidates.size())
      result.note = "the judge ranked " + std::to_string(named) + " of " +
                    std::to_string(candidates.size()) +
                    " candidates; the rest follow in member order";
    return result;
  }

  std::vector<std::string> providers_called() const override {
    return {settings_.provider};
  }

private:
  answer_reader reader_;
  prompt_settings settings_;
};

} // namespace

std::unique_ptr<combine_strategy> make_rank(const combine_options& options) {
  return std::make_unique<rank>(options);
}

combine_traits rank_traits() {
  combine_traits traits;
  traits.answers_with_a_member = true;
  traits.settings.push_back({"judge", setting_type::provider, true,
                             "the provider that ranks the replies"});
  for (auto& setting : prompt_setting_traits())
    traits.settings.push_back(std::move(setting));
  return traits;
}

} // namespace tutti
