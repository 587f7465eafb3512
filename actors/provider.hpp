#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/protocol.hpp"
#include "actors/timer_service.hpp"
#include <random>

#include "actors/circuit_breaker.hpp"
#include "actors/transport.hpp"
#include "engine/src/spend_ledger.hpp"
#include "tutti/codec.hpp"
#include "tutti/config.hpp"
#include "tutti/stream_decoder.hpp"

namespace tutti {

/// What a provider actor is built from.
struct provider_deps {
  provider_settings settings;
  std::shared_ptr<const codec> wire;  ///< the vendor's codec
  caf::actor limiter;                 ///< its limit group
  std::shared_ptr<transfer_port> net; ///< the transport; a script in tests
  provider_timeouts timeouts;
  retry_policy retry;
  price_table price;
  breaker_policy breaker;
  std::string ca_file;
  size_t max_body_bytes = 16 * 1024 * 1024;
  /// The engine's timer service, for the per-call checks and retries (none
  /// in tests: CAF's delayed messages).
  tutti::timers timers;
  /// Spend budgets (docs/store.md); null: none are kept.
  std::shared_ptr<spend_ledger> ledger;
  /// The response cache (`response_cache`); null: none.
  caf::actor cache;
  cache_policy cache_rule; ///< the provider's own `cache:`
};

/// The calls' deadlines, earliest first: a provider keeps one timer for
/// all of them rather than one per call.
using deadline_queue = std::multimap<steady_us, std::string>;

/// One request in flight, from query to outcome, across its attempts.
struct provider_call {
  member_query query;
  caf::response_promise promise;
  steady_us started_at = 0;
  steady_us deadline = 0; ///< the request's, tightened by `total`
  /// Its entry in `provider_state::deadlines`, when it has a deadline.
  std::optional<deadline_queue::iterator> deadline_entry;
  steady_us permitted_at = 0; ///< first permit; 0 while waiting for one
  bool waiting_for_permit = false;
  int attempts = 0;            ///< attempts started
  uint64_t generation = 0;     ///< bumps per attempt; stale timers ignore it
  bool delivered_text = false; ///< a delta reached the listener: no retry
  bool probe = false;      ///< admitted as the half-open breaker's one probe
  uint64_t spend_hold = 0; ///< its reservation with the ledger; 0: none
  std::string cache_key;   ///< "": not cached
  int64_t cache_ttl_ms = 0;
  /// Why the last attempt failed, while a retry waits: if the retry never
  /// gets to run, this is still the outcome's cause.
  std::optional<failure> retrying_after;
  /// Its checks and retry with the timer service, cancelled as it ends.
  std::vector<uint64_t> timers;
  // The current attempt:
  steady_us sent_at = 0;
  steady_us first_token_at = 0;
  steady_us last_chunk_at = 0;
  bool idle_check_pending = false;
  uint64_t permit_id = 0;
  uint64_t transfer_id = 0;
  int status = 0;
  header_list headers;
  std::string body; ///< whole body, or an error body
  /// The attempt's decoder for the codec's framing, made on its first
  /// streamed bytes.
  std::unique_ptr<stream_decoder> decoder;
  std::size_t stream_bytes = 0; ///< streamed bytes of the attempt so far
  reply_parts reply;            ///< what the stream has said so far
  bool terminal = false;
};

struct provider_state {
  provider_deps deps;
  std::unordered_map<std::string, provider_call> calls; ///< by request id
  std::unordered_map<uint64_t, std::string> by_transfer;
  deadline_queue deadlines;    ///< request ids by deadline
  steady_us deadline_wake = 0; ///< the earliest timer set; 0: none
  std::minstd_rand jitter{std::random_device{}()};
  circuit_breaker breaker;
  /// For routing (provider_snapshot): recent latency and what the
  /// upstream's headers last said of its request budget.
  int64_t latency_us = 0;
  int64_t requests_left = -1;
  steady_us requests_left_until = 0;

  static inline const char* name = "provider";
};

/// One actor per configured provider. Answers `(query_atom, member_query)`
/// with a `member_outcome` — a completion or a failure, never an error — after
/// taking a permit from its limiter, sending the request through the
/// transport and decoding the reply with its codec. While streaming, each
/// piece of text goes to the query's listener as a `member_delta`. A call
/// that reaches its deadline fails as `timeout_total`; the connect,
/// first-token and idle timeouts fail it with their own kinds. A retryable
/// failure (429, 408, 5xx, 529, network, connect timeout) is retried with
/// full-jitter exponential backoff, honouring Retry-After, while attempts
/// remain, no text has reached the listener, and the next attempt can start
/// before the deadline. `(cancel_atom, request_id)` ends a call as
/// `cancelled`, keeping the text so far. A request the cache rule covers
/// is looked up in the response cache first (a hit is the outcome, marked
/// `cached`, costing nothing); one that would pass a spend budget fails as
/// `budget_exceeded` before it takes a permit.
caf::behavior provider(caf::stateful_actor<provider_state>* self,
                       provider_deps deps);

} // namespace tutti
