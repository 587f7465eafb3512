#pragma once

#include <memory>

#include "tutti/combine.hpp"

namespace tutti {

/// `combine: rank` — like `judge`, but the judge orders every successful
/// reply from best to worst. `ranking` lists the member labels best first
/// (candidates the judge left out follow in member order) and the top one's
/// reply is the answer. Same settings and fallbacks as `judge`; throws
/// `std::invalid_argument` when `judge:` is missing or `extract:` does not
/// compile.
std::unique_ptr<combine_strategy> make_rank(const combine_options& options);

/// The settings `combine: rank` reads: `judge` (the provider that ranks the
/// replies), `rubric`, `prompt`, `extract`.
combine_traits rank_traits();

} // namespace tutti
