#pragma once

#include <memory>

#include "tutti/codec.hpp"

namespace tutti {

/// `kind: openai` — OpenAI chat completions, whole and streamed.
std::unique_ptr<codec> make_openai_codec();

} // namespace tutti
