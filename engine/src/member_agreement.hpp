#pragma once

/// Whether each member of an ensemble gave the answer the ensemble chose,
/// as the store keeps it in `calls.agreed` (docs/store.md, "Agreement"), so
/// that `tutti runs stats` can say how often each provider and model sided
/// with the ensemble. Pure: read from the answer's vote table alone.

#include <optional>
#include <vector>

#include "tutti/messages.hpp"

namespace tutti {

/// For each of `answer.members`, in order: true when its answer is in the
/// winning row of the vote table (the row that holds `answer.winner`),
/// false when it is in another row, and nullopt when there is nothing to
/// compare: the answer has no vote table (first, collect, synthesize, a
/// judge, rank, council or usc that decided on its own), the table counts
/// later turns rather than these replies (a debate past its first round),
/// the member failed, or its reply had no answer to count.
std::vector<std::optional<bool>>
member_agreement(const ensemble_answer& answer);

} // namespace tutti
