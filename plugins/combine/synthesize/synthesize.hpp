#pragma once

#include <memory>

#include "tutti/combine.hpp"

namespace tutti {

/// `combine: synthesize` — Mixture-of-Agents: a synthesizer model
/// (`synthesizer:`, a provider name) reads the successful replies and writes
/// one answer from them; its tokens stream to the listener as the answer.
/// When no member succeeded it is not asked. When it fails, the answer falls
/// back to vote, then first. `prompt:` replaces the built-in prompt,
/// `extract:` is used by the vote fallback. Throws `std::invalid_argument`
/// when `synthesizer:` is missing or `extract:` does not compile.
std::unique_ptr<combine_strategy>
make_synthesize(const combine_options& options);

/// The settings `combine: synthesize` reads: `synthesizer` (the provider that
/// writes the final answer), `rubric`, `prompt`, `extract`.
combine_traits synthesize_traits();

} // namespace tutti
