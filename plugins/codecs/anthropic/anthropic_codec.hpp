#pragma once

#include <memory>

#include "tutti/codec.hpp"

namespace tutti {

/// `kind: anthropic` — the Anthropic Messages API (POST /v1/messages), whole
/// and streamed. Stateless: a streamed reply's usage arrives in parts (input
/// in `message_start`, output and maybe corrected input in `message_delta`),
/// each reported as totals for only the counts its event holds.
std::unique_ptr<codec> make_anthropic_codec();

} // namespace tutti
