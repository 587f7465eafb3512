#pragma once

/// What the strategies that ask one more model (judge, rank, synthesize)
/// share: the numbered candidates, the prompt template, reading a judge's
/// reply, and the fallback when that model cannot be used. What differs
/// between them stays in their folder.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plugins/combine/vote/vote.hpp"
#include "tutti/combine.hpp"

namespace tutti::combine_support {

/// What "best" means when `rubric:` is not set.
inline constexpr std::string_view default_rubric =
    "the answer that is correct, complete and to the point; when the "
    "candidates disagree, the one that is right";

/// The members that succeeded, as indices into `input.outcomes` in member
/// order: the candidates a judge or synthesizer sees, numbered from 1.
std::vector<size_t> candidates_of(const combine_input& input);

/// "Candidate 1:\n<reply>\n\nCandidate 2:\n<reply>\n\n" — the replies of
/// `candidates`, numbered from 1, without member labels or models.
std::string numbered_candidates(const combine_input& input,
                                const std::vector<size_t>& candidates);

/// `prompt` with every `{{question}}`, `{{candidates}}` and `{{rubric}}`
/// replaced in one pass: text put in is not searched again.
std::string fill_prompt(std::string_view prompt, std::string_view question,
                        std::string_view candidates, std::string_view rubric);

/// How a strategy words its extra call.
struct prompt_settings {
  std::string provider;
  std::string system; ///< empty when the user wrote the prompt
  std::string prompt; ///< a template, see `fill_prompt`
  std::string rubric;
};

/// The settings of a strategy that calls `provider`: the user's `prompt:`
/// (then no system prompt) or `default_prompt` with `default_system`, and
/// the user's rubric or the default one. Throws `std::invalid_argument`
/// with `missing` when `provider` is empty.
/// The settings a strategy that asks another model reads besides the
/// provider it asks: `prompt`, `rubric`, and `extract` for the vote it falls
/// back to.
std::vector<combine_setting> prompt_setting_traits();

prompt_settings settings_for(const std::string& provider,
                             const combine_options& options,
                             const char* default_prompt,
                             const char* default_system, const char* missing);

/// The call to `settings.provider`, listed as `label`, showing it the
/// question and `candidates`.
model_call make_call(const prompt_settings& settings, std::string label,
                     const combine_input& input,
                     const std::vector<size_t>& candidates);

/// Why the outcome of the call `who` ("judge", "synthesizer") made cannot
/// be used, in words for a note: "the judge failed (timeout_total: ...)"
/// or "the judge's reply was empty"; empty when it can be used.
std::string unusable(const member_outcome& call, std::string_view who);

/// At most 80 bytes of `text`, cut on a UTF-8 boundary, in quotes, with
/// line breaks shown as spaces.
std::string quote(std::string_view text);

/// The answer when fewer than two members succeeded, so there is nothing to
/// judge: the one success (or none), with a note saying the judge was not
/// asked.
combined nothing_to_judge(const combine_input& input,
                          const std::vector<size_t>& candidates);

/// The answer when the judge or synthesizer cannot be used: vote over the
/// members' replies (read by `reader`), or first when no reply has an
/// answer. The note starts with `why` and says which was used.
combined fall_back(const combine_input& input, const answer_reader& reader,
                   const std::string& why);

/// The candidate (1..count) a judge's reply names. Read from the first
/// number after a verdict word (best, choice, choose, winner, pick, select,
/// prefer, verdict) in the same clause, else from the first number in the
/// reply: `{"best": 2}`, `{"choice": "2"}`, "Best: 2", "The best is #2.",
/// "Candidate 2", "**2**", "2". Nullopt when there is no number or the one
/// read is outside 1..count.
std::optional<size_t> parse_choice(std::string_view reply, size_t count);

/// The candidates (1..count) in the order a judge's reply ranks them, each
/// once: "3 > 1 > 2", `[3, 1, 2]`, "3, 1, 2", one number per line, or a
/// numbered list ("1. Candidate 3"). Only the text after the last word
/// "ranking" is read when there is one. Candidates left out are not added.
/// Nullopt when the reply names none, or one outside 1..count.
std::optional<std::vector<size_t>> parse_ranking(std::string_view reply,
                                                 size_t count);

/// Where each whole word `word` (ASCII, any case) starts in `text`.
std::vector<size_t> word_positions(std::string_view text,
                                   std::string_view word);

} // namespace tutti::combine_support
