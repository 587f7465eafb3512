#pragma once

#include <memory>

#include "tutti/codec.hpp"

namespace tutti {

/// `kind: openai-compatible` — any server that copies OpenAI's chat
/// completions (Ollama, vLLM, llama.cpp server, Together, Groq, DeepSeek,
/// OpenRouter, Mistral...). Needs a `base_url`; sends the key as a bearer
/// token only when one is set; accepts a stream that ends after its finish
/// reason without `[DONE]`.
std::unique_ptr<codec> make_openai_compatible_codec();

} // namespace tutti
