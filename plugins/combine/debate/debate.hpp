#pragma once

#include <memory>

#include "tutti/combine.hpp"

namespace tutti {

/// `combine: debate` — multi-agent debate (Du et al., 2023,
/// arXiv:2305.14325). The members answer; then, for each further round,
/// every member that answered sees the others' latest answers (unnamed) and
/// may revise its own, in its own conversation and with its own parameters.
/// `rounds:` counts the rounds of answers, the first included (default 2,
/// at most 10). The debate stops early when every latest answer is the
/// same after the vote's normalisation (`extract:` included), and when a
/// whole round fails (it could not finish before the deadline). The answer
/// is the vote over the last answers, or with `judge:` the judge's pick
/// among them when they still differ. A member failing in the first round
/// takes no part; one failing later keeps its last answer. Throws
/// `std::invalid_argument` for a bad `rounds:` or `extract:`.
std::unique_ptr<combine_strategy> make_debate(const combine_options& options);

/// The settings `combine: debate` reads: `rounds`, `judge`, `extract`,
/// `prompt`.
combine_traits debate_traits();

} // namespace tutti
