#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "tutti/combine.hpp"

namespace tutti {

/// `combine: usc` — universal self-consistency (Chen et al., 2023,
/// arXiv:2311.17311): a judge model (`judge:`, a provider name) reads the
/// successful replies, numbered, and names the one most consistent with the
/// others, by majority consensus rather than by quality; that reply is the
/// answer. For free-form answers a vote cannot compare. With fewer than two
/// successes the judge is not asked; when it fails or names no candidate
/// the answer falls back to vote, then first. `prompt:` replaces the
/// built-in prompt, `extract:` is used by the vote fallback. Throws
/// `std::invalid_argument` when `judge:` is missing or `extract:` does not
/// compile.
std::unique_ptr<combine_strategy> make_usc(const combine_options& options);

/// The settings `combine: usc` reads: `judge`, `prompt`, `extract`.
combine_traits usc_traits();

/// The candidate (1..count) a USC judge's reply names: the first number
/// after the last "consistent" in it ("The most consistent response is
/// Candidate 2"), else what a judge's reply would say (`parse_choice`).
std::optional<size_t> parse_consistent_choice(std::string_view reply,
                                              size_t count);

} // namespace tutti
