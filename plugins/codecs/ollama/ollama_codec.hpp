#pragma once

#include <memory>

#include "tutti/codec.hpp"

namespace tutti {

/// `kind: ollama` — Ollama's native chat API (`POST /api/chat`), whole and
/// streamed as newline-delimited JSON. For Ollama's OpenAI-compatible route
/// use `openai-compatible` instead.
std::unique_ptr<codec> make_ollama_codec();

} // namespace tutti
