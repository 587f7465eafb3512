#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/protocol.hpp"
#include "actors/transport.hpp"
#include "tutti/codec.hpp"
#include "tutti/sse_decoder.hpp"

namespace tutti {

/// What a provider actor is built from.
struct provider_deps {
  provider_settings settings;
  std::shared_ptr<const codec> wire; ///< the vendor's codec
  caf::actor limiter;                ///< its limit group
  std::shared_ptr<transport> net;
  size_t max_body_bytes = 16 * 1024 * 1024;
};

/// One request in flight, from query to outcome.
struct provider_call {
  member_query query;
  caf::response_promise promise;
  steady_us started_at = 0;
  steady_us permitted_at = 0; ///< 0 while waiting for a permit
  steady_us first_token_at = 0;
  uint64_t permit_id = 0;
  uint64_t transfer_id = 0;
  int status = 0;
  header_list headers;
  std::string body; ///< whole body, or an error body
  sse_decoder decoder;
  std::string text; ///< streamed text so far
  tutti::usage usage;
  std::string finish_reason;
  bool terminal = false;
};

struct provider_state {
  provider_deps deps;
  std::unordered_map<std::string, provider_call> calls; ///< by request id
  std::unordered_map<uint64_t, std::string> by_transfer;

  static inline const char* name = "provider";
};

/// One actor per configured provider. Answers `(query_atom, member_query)`
/// with a `member_outcome` — a completion or a failure, never an error — after
/// taking a permit from its limiter, sending the request through the
/// transport and decoding the reply with its codec. While streaming, each
/// piece of text goes to the query's listener as a `member_delta`. A call
/// that reaches its deadline fails as `timeout_total`; `(cancel_atom,
/// request_id)` ends it as `cancelled`, keeping the text so far.
caf::behavior provider(caf::stateful_actor<provider_state>* self,
                       provider_deps deps);

} // namespace tutti
