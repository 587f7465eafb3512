#pragma once

#include <memory>

#include "tutti/codec.hpp"

namespace tutti {

/// `kind: anthropic` — the Anthropic Messages API (POST /v1/messages), whole
/// and streamed. Stateless: a streamed reply's usage arrives in two parts
/// (input in `message_start`, output in `message_delta`), so the provider must
/// merge `stream_update::usage` values field-wise by taking each field's max.
std::unique_ptr<codec> make_anthropic_codec();

} // namespace tutti
