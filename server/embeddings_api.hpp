#pragma once

/// `POST /v1/embeddings` as pure functions, as server/openai.hpp is for chat
/// completions: the request body read and checked, the reply written in
/// OpenAI's shape. No sockets and no clock
/// (tests/unit/embeddings_api_test.cpp).

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "server/openai.hpp"
#include "tutti/config.hpp"
#include "tutti/messages.hpp"

namespace tutti::http {

/// One validated `POST /v1/embeddings`.
struct embeddings_call {
  std::string model;    ///< as the client wrote it, echoed in the reply
  std::string provider; ///< the provider it names
  std::vector<std::string> inputs;
  /// `encoding_format: "base64"`: each vector as the base64 of its
  /// little-endian float32 bytes.
  bool base64 = false;
  int64_t dimensions = 0; ///< 0: the model's own
};

/// Reads a request body: `model` (a provider; an `ensemble/NAME` is a 400,
/// embeddings are asked of one provider; an unknown one a 404), `input` (a
/// string or an array of at most `max_embedding_inputs` non-empty strings
/// of at most `max_embedding_input_bytes` each; token arrays are a 400),
/// `encoding_format` (`float` or `base64`), `dimensions` (a positive
/// integer) and `user` (ignored). An error names the field at fault.
std::variant<embeddings_call, api_error>
parse_embeddings_request(std::string_view body, const config& cfg);

/// The 200 body: `{"object": "list", "data": [{"object": "embedding",
/// "index", "embedding"}], "model", "usage": {"prompt_tokens",
/// "total_tokens"}}` for the vectors and usage of `reply`.
std::string embeddings_json(const embeddings_call& call,
                            const completion& reply);

/// `vector`'s little-endian float32 bytes in base64 (RFC 4648, padded).
std::string base64_floats(const std::vector<float>& vector);

} // namespace tutti::http
