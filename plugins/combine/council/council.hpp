#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "tutti/combine.hpp"

namespace tutti {

/// `combine: council` — the members answer; then every member that
/// answered reviews the others' answers, shown under letters with the
/// members' names left out and in an order shuffled per reviewer (so a
/// position bias averages out), and ranks them with its reasons. The
/// aggregate ranking is by mean rank (1 is best); ties go to the member
/// with more first places, then to member order; members no review ranked
/// come last. `chairman:` names the provider that writes the final answer
/// from the answers and the reviews; with `chairman: none` the top-ranked
/// answer is the answer. A member failing to answer takes no part and is
/// listed; a failed or unreadable review is left out; with no usable review
/// at all the answer falls back to vote, then first. `rubric:` says what
/// "best" means to the reviewers, `extract:` is the vote fallback's. Throws
/// `std::invalid_argument` when `chairman:` is missing or `extract:` does
/// not compile.
std::unique_ptr<combine_strategy> make_council(const combine_options& options);

/// The settings `combine: council` reads: `chairman`, `rubric`, `extract`.
combine_traits council_traits();

/// The order in which a reviewer sees the `count` others' answers: a
/// permutation of 0..count-1, drawn from `seed` (the question) and the
/// reviewer's place, so each reviewer has its own and a rerun the same.
std::vector<size_t> review_order(uint64_t seed, size_t reviewer, size_t count);

/// The letters (0 for "A" ...) a review ranks, best first, each once: read
/// after its last word "ranking" ("FINAL RANKING: C > A > B", a numbered
/// list "1. Response C"), else from its last line. Only standalone capital
/// letters below `count` count. Nullopt when it names none.
std::optional<std::vector<size_t>> parse_letter_ranking(std::string_view reply,
                                                        size_t count);

} // namespace tutti
