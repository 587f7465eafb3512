#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tutti/combine.hpp"

namespace tutti {

/// `combine: judge` — a judge model (`judge:`, a provider name) reads the
/// successful replies, numbered, and names the best; its reply becomes the
/// answer. With fewer than two successes the judge is not asked. When the
/// judge fails or names no candidate, the answer falls back to vote, then
/// first. `rubric:` says what "best" means, `prompt:` replaces the built-in
/// prompt, `extract:` is used by the vote fallback. Throws
/// `std::invalid_argument` when `judge:` is missing or `extract:` does not
/// compile.
std::unique_ptr<combine_strategy> make_judge(const combine_options& options);

/// What sets apart the strategies whose judge names one reply, which
/// becomes the answer (`judge`, `usc`): how the call is worded and labelled
/// and how the judge's reply is read. The rest (who is a candidate, the
/// fallbacks) is one.
struct judge_style {
  const char* label;          ///< the call's label ("judge", "usc")
  const char* default_prompt; ///< used unless `prompt:` is set
  const char* default_system;
  const char* missing; ///< the error when `judge:` is not set
  /// The candidate (1..count) the judge's reply names, or none.
  std::optional<size_t> (*parse)(std::string_view reply, size_t count);
  /// The answer's note for the candidate chosen; null: none.
  std::string (*note)(size_t choice, size_t count) = nullptr;
};

/// A strategy whose judge (`judge:`) names one reply in `style`'s words.
std::unique_ptr<combine_strategy>
make_judge_styled(const combine_options& options, const judge_style& style);

/// The settings `combine: judge` reads: `judge` (the provider that judges),
/// `rubric`, `prompt`, `extract`.
combine_traits judge_traits();

} // namespace tutti
