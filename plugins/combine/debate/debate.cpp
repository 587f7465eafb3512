#include "plugins/combine/debate/debate.hpp"

#include <stdexcept>
#include <utility>

#include "plugins/combine/combine_support.hpp"
#include "plugins/combine/judge/judge.hpp"
#include "plugins/combine/vote/vote.hpp"

namespace tutti {

namespace {

using namespace combine_support;

constexpr int default_rounds = 2;
constexpr int most_rounds = 10;

// Du et al.'s follow-up prompt, with tutti's placeholders. The member's own
// last answer is its previous turn in the conversation.
const char* const default_debate_prompt =
    "These are the latest answers of the other participants to the same "
    "question:\n"
    "\n"
    "{{candidates}}"
    "Using their reasoning as additional advice, give an updated answer to "
    "the question. Examine your answer and theirs step by step, and end "
    "with your final answer in the form you used before.";

int rounds_of(const combine_options& options) {
  if (!options.has("rounds"))
    return default_rounds;
  auto text = options.text("rounds");
  // At most two digits are read: a longer number is out of range anyway,
  // and reading it whole would overflow.
  int value = 0;
  bool digits = !text.empty() && text.size() <= 2;
  for (size_t i = 0; digits && i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9')
      digits = false;
    else
      value = value * 10 + (text[i] - '0');
  }
  if (!digits || value < 1 || value > most_rounds)
    throw std::invalid_argument(
        "combine: debate: rounds must be a whole number from 1 to " +
        std::to_string(most_rounds) + ", not '" + text + "'");
  return value;
}

/// The debate as the calls made so far tell it: who takes part, each one's
/// latest answer, how many rounds were held and why it stopped.
struct debate_state {
  std::vector<size_t> members; ///< indices into outcomes: round 1's successes
  /// Each member's outcome holding its latest answer (round 1's, then each
  /// later round's success).
  std::vector<member_outcome> latest;
  int rounds = 1;
  size_t calls_used = 0; ///< calls of the rounds (the judge's come after)
  std::string lost;      ///< why the debate stopped early, if a round failed
  std::vector<std::string> dropped; ///< later-round failures, in words
};

std::string turn_label(const std::string& member, int round) {
  return member + "@round" + std::to_string(round);
}

class debate final : public combine_strategy {
public:
  explicit debate(const combine_options& options)
      : rounds_(rounds_of(options)), reader_(options.text("extract")),
        judge_name_(options.text("judge")),
        prompt_(options.has("prompt") ? options.text("prompt")
                                      : default_debate_prompt) {
    if (!judge_name_.empty()) {
      // The judge is `combine: judge` over the last answers; `prompt:` is
      // the rounds', not its.
      combine_options judging{{"judge", judge_name_}};
      for (auto name : {"rubric", "extract"})
        if (options.has(name))
          judging.set(name, options.text(name));
      judge_ = make_judge(judging);
    }
  }

  combined combine(const combine_input& input) const override {
    auto candidates = candidates_of(input);
    if (candidates.size() < 2) {
      auto result = candidates.empty() ? nothing_to_judge(input, candidates)
                                       : count_votes(input, reader_);
      if (result.status == answer_status::failed && !candidates.empty())
        result = nothing_to_judge(input, candidates); // no answer to extract
      result.note = candidates.empty()
                        ? "no member answered, so there was no debate"
                        : "only one member answered, so there was no debate";
      result.rounds = 1;
      return result;
    }
    auto state = replay(input, candidates);
    if (state.lost.empty() && !agree(state) && state.rounds < rounds_)
      return next_round(input, state);
    return conclude(input, state);
  }

  std::vector<std::string> providers_called() const override {
    if (judge_name_.empty())
      return {};
    return {judge_name_};
  }

private:
  /// Replays the rounds already held from `input.calls`.
  debate_state replay(const combine_input& input,
                      const std::vector<size_t>& candidates) const {
    debate_state state;
    state.members = candidates;
    for (auto i : candidates)
      state.latest.push_back(input.outcomes[i]);
    auto count = candidates.size();
    while (state.lost.empty() && !agree(state) && state.rounds < rounds_ &&
           state.calls_used + count <= input.calls.size()) {
      ++state.rounds;
      size_t failed = 0;
      std::string first_failure;
      for (size_t j = 0; j < count; ++j) {
        auto& call = input.calls[state.calls_used + j];
        if (auto why = unusable(call, "turn " + call.member); !why.empty()) {
          ++failed;
          state.dropped.push_back(why);
          if (first_failure.empty())
            first_failure = why;
          continue;
        }
        state.latest[j].reply = call.reply;
      }
      state.calls_used += count;
      if (failed == count) {
        state.lost = "round " + std::to_string(state.rounds) + " was lost (" +
                     first_failure + ")";
        --state.rounds;
        state.dropped.clear();
      }
    }
    return state;
  }

  /// Every latest answer is the same answer.
  bool agree(const debate_state& state) const {
    std::optional<std::string> first;
    for (auto& outcome : state.latest) {
      auto answer = reader_.read(outcome.reply.text);
      if (!answer)
        return false;
      auto normal = normalize_answer(*answer);
      if (!first)
        first = std::move(normal);
      else if (*first != normal)
        return false;
    }
    return true;
  }

  combined next_round(const combine_input& input,
                      const debate_state& state) const {
    combined ask;
    auto round = state.rounds + 1;
    for (size_t j = 0; j < state.members.size(); ++j) {
      auto& member = input.outcomes[state.members[j]];
      std::string others;
      size_t n = 0;
      for (size_t k = 0; k < state.latest.size(); ++k)
        if (k != j)
          others += "Participant " + std::to_string(++n) + ":\n" +
                    state.latest[k].reply.text + "\n\n";
      model_call call;
      call.provider = member.provider;
      call.member = member.member;
      call.label = turn_label(member.member, round);
      call.continues_question = true;
      call.previous = state.latest[j].reply.text;
      call.prompt = fill_prompt(prompt_, input.question, others, "");
      ask.calls.push_back(std::move(call));
    }
    return ask;
  }

  combined conclude(const combine_input& input,
                    const debate_state& state) const {
    // The last answers, as the members' outcomes, for the vote or judge.
    combine_input last = input;
    for (size_t j = 0; j < state.members.size(); ++j)
      last.outcomes[state.members[j]] = state.latest[j];
    last.calls.assign(input.calls.begin() + state.calls_used,
                      input.calls.end());
    std::string how;
    if (!state.lost.empty())
      how = state.lost + "; the debate ended after round " +
            std::to_string(state.rounds);
    else if (agree(state))
      how = "all agreed after round " + std::to_string(state.rounds) +
            (state.rounds < rounds_ ? " of " + std::to_string(rounds_) +
                                          ", so the debate ended early"
                                    : "");
    else
      how = "after " + std::to_string(state.rounds) + " rounds";
    for (auto& why : state.dropped)
      how += "; " + why + ", so its previous answer stood";
    combined result;
    if (judge_ == nullptr || agree(state)) {
      result = count_votes(last, reader_);
      if (result.status == answer_status::failed)
        result = fall_back(last, reader_, how);
      else
        result.note = how + (result.note.empty() ? "" : "; " + result.note);
    } else {
      result = judge_->combine(last);
      if (result.call)
        return result; // the judge is asked first
      result.note = how + (result.note.empty() ? "" : "; " + result.note);
    }
    result.rounds = state.rounds;
    return result;
  }

  int rounds_;
  answer_reader reader_;
  std::string judge_name_;
  std::unique_ptr<combine_strategy> judge_;
  std::string prompt_;
};

} // namespace

std::unique_ptr<combine_strategy> make_debate(const combine_options& options) {
  return std::make_unique<debate>(options);
}

combine_traits debate_traits() {
  combine_traits traits;
  traits.settings = {
      {"rounds", setting_type::text, false,
       "how many rounds of answers, the first included (1 to 10)"},
      {"judge", setting_type::provider, false,
       "the provider that picks among the last answers when they differ"},
      {"extract", setting_type::regex, false,
       "what a reply's answer is, for agreement and the vote"},
      {"prompt", setting_type::text, false,
       "the prompt of each later round, instead of the built-in one"},
      {"rubric", setting_type::text, false, "what \"best\" means to the judge"},
  };
  return traits;
}

} // namespace tutti
