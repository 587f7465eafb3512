#pragma once

/// The OpenAI Chat Completions wire format, shared by every codec that speaks
/// it: `openai`, `openai-compatible` and `azure-openai` are one
/// implementation, configured by an `openai_dialect` that says where a server
/// differs from OpenAI's own. docs/codecs.md describes what is sent and read.

#include <cstdint>
#include <memory>
#include <string>

#include "tutti/codec.hpp"

namespace tutti {

/// How an OpenAI-shaped server wants the API key.
enum class openai_key_header : uint8_t {
  bearer,  ///< `Authorization: Bearer KEY` (OpenAI and nearly every clone)
  api_key, ///< `api-key: KEY` (Azure OpenAI)
};

/// What sets one OpenAI-shaped server apart from another. Everything not
/// here (the body, the tolerant decoding, the error kinds) is shared.
struct openai_dialect {
  /// What `codec::default_base_url()` returns; empty when the config must
  /// give a `base_url`.
  std::string default_base_url;

  /// The header that carries a non-empty `api_key`.
  openai_key_header key_header = openai_key_header::bearer;

  /// Non-empty for servers that take an `api-version` query (Azure): the
  /// value sent when the provider sets none. When empty, no query is sent
  /// and the codec declares no `api_version` key.
  std::string default_api_version;

  /// What `codec::accepts_unterminated_stream()` returns: true for servers
  /// that may end a stream after its finish reason without `[DONE]`.
  bool accepts_unterminated_stream = false;
  /// The field the token limit is sent as: OpenAI's reasoning models
  /// refuse the older `max_tokens`, which servers that copy the format
  /// know best.
  const char* max_tokens_field = "max_tokens";
};

/// A codec for the OpenAI Chat Completions format as `dialect` speaks it.
std::unique_ptr<codec> make_openai_wire_codec(openai_dialect dialect);

} // namespace tutti
