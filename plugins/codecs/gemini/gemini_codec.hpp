#pragma once

#include <memory>

#include "tutti/codec.hpp"

namespace tutti {

/// `kind: gemini` — the Google Gemini API (`generateContent` and
/// `streamGenerateContent?alt=sse`), whole and streamed.
std::unique_ptr<codec> make_gemini_codec();

} // namespace tutti
