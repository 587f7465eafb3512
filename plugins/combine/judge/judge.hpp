#pragma once

#include <memory>

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

/// The settings `combine: judge` reads: `judge` (the provider that judges),
/// `rubric`, `prompt`, `extract`.
combine_traits judge_traits();

} // namespace tutti
