#pragma once

/// The message protocol between tutti's actors, readable in one place: the
/// atoms, the internal message types, the `inspect` overloads that make every
/// message serializable, and the CAF type ID blocks.
///
/// - caller -> aggregator: (ask_atom, ensemble_question) => ensemble_answer
/// - aggregator -> provider: (query_atom, member_query) => member_outcome
/// - provider -> rate_limiter: (acquire_atom, permit_request) => permit_grant
/// - provider -> rate_limiter: (release_atom, permit_id, usage)
/// - provider -> rate_limiter: (withdraw_atom, request_id), a queued waiter
/// - provider -> rate_limiter: (cooldown_atom, until), a 429 pauses the group
/// - provider -> response_cache: (cache_get_atom, key, now_ms) => cache_entry
///   (its key empty: none); (cache_put_atom, cache_entry) after a fresh reply
/// - provider -> rate_limiter: (answered_atom, permit_id, at), the server has
///   the request (its reply began): the grant's window time starts; not sent
///   for a reply that arrives whole, whose release says the same
/// - provider -> rate_limiter: (feedback_atom, permit_id, server_limits, at),
///   the server's rate-limit headers: what is left of its budgets
/// - transport -> provider: transfer_head, transfer_chunk, transfer_done
///   (a reply that arrives whole: transfer_done alone, carrying all three)
/// - provider -> listener: member_delta, streamed text; member_progress
///   (queued, sent, retrying) when the query asks for it
/// - aggregator -> listener: member_delta, member_progress (when the
///   question asks for it), member_outcome, ensemble_answer
///   (not to a listener that is also the asker: it has the reply)
/// - anyone -> provider: (cancel_atom, request_id)
/// - anyone -> aggregator: (cancel_atom), cancels every running member
/// - caller -> pipeline: (run_atom, listener) => pipeline_result; the
///   listener (may be null) receives the run's events below, then the
///   `pipeline_result`
/// - pipeline -> listener: (step_atom, step id), a step started
/// - pipeline -> listener: (step id, member_delta), a member's or the step
///   answer's tokens while streaming; (step id, member_progress) when the
///   run asks for it
/// - pipeline -> listener: (step id, member_outcome), a member's outcome,
///   when the run's plan asks for them
/// - pipeline -> listener: step_outcome, a step finished, failed or was
///   skipped
/// - anyone -> pipeline: (cancel_atom), cancels every running step; the
///   steps not yet started are skipped
/// - provider -> itself: (expire_atom) at the earliest deadline of its
///   calls (one timer for them all);
///   (check_atom, request_id, generation, failure_kind) for the first-token
///   and idle timeouts; (retry_atom, request_id, generation) after a backoff

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/optional.hpp>
#include <caf/type_id.hpp>

#include "tutti/codec.hpp"
#include "tutti/messages.hpp"
#include "tutti/retry.hpp"
#include "tutti/store.hpp"

namespace tutti {

using ask_atom = caf::atom_constant<caf::atom("ask")>;
using query_atom = caf::atom_constant<caf::atom("query")>;
using acquire_atom = caf::atom_constant<caf::atom("acquire")>;
using release_atom = caf::atom_constant<caf::atom("release")>;
using withdraw_atom = caf::atom_constant<caf::atom("withdraw")>;
using cancel_atom = caf::atom_constant<caf::atom("cancel")>;
using expire_atom = caf::atom_constant<caf::atom("expire")>;
using state_atom = caf::atom_constant<caf::atom("state")>;
using check_atom = caf::atom_constant<caf::atom("check")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using cooldown_atom = caf::atom_constant<caf::atom("cooldown")>;
using wake_atom = caf::atom_constant<caf::atom("wake")>;
using answered_atom = caf::atom_constant<caf::atom("answered")>;
using feedback_atom = caf::atom_constant<caf::atom("feedback")>;
using run_atom = caf::atom_constant<caf::atom("run")>;
using step_atom = caf::atom_constant<caf::atom("step")>;
using cache_get_atom = caf::atom_constant<caf::atom("cache_get")>;
using cache_put_atom = caf::atom_constant<caf::atom("cache_put")>;

/// A provider asks its limit group for permission to send one request.
struct permit_request {
  std::string request_id;
  std::string provider;
  tutti::priority priority = priority::interactive;
  steady_us deadline = 0; ///< absolute, steady clock; 0: none
  int64_t estimated_tokens = 0;
};

/// The limiter's answer: a permit, or why none will come.
struct permit_grant {
  bool granted = false;
  uint64_t permit_id = 0;
  failure_kind kind = failure_kind::queue_timeout; ///< when not granted
  std::string reason;                              ///< when not granted
};

/// A snapshot of a limit group, for `tutti providers` and tests.
struct limiter_state {
  std::string group;
  int64_t in_flight = 0;
  int64_t queued = 0;
  int64_t concurrency = 0;
  int64_t requests_in_window = 0; ///< grants still inside the window
  int64_t requests_limit = 0;     ///< 0: no request budget
  int64_t tokens_in_window = 0;
  int64_t tokens_limit = 0;     ///< 0: no token budget
  steady_us cooldown_until = 0; ///< 0: not cooling down
  /// Grants the server's headers still allow before their reset; -1: none.
  int64_t server_requests_left = -1;
  int64_t server_tokens_left = -1; ///< tokens likewise
};

/// A snapshot of a provider actor, for `tutti providers`.
struct provider_snapshot {
  std::string breaker; ///< "closed", "open" or "half_open"
  int32_t consecutive_failures = 0;
  steady_us breaker_open_until = 0;
  int64_t calls = 0; ///< calls not yet answered
  /// Recent successful calls' time, query to reply, as a moving average;
  /// 0: none yet.
  int64_t latency_us = 0;
  /// What the upstream's rate-limit headers last said is left of its
  /// request budget, and when that stops holding (the budget is whole
  /// again); -1: nothing said.
  int64_t requests_left = -1;
  steady_us requests_left_until = 0;
};

/// One member's question, sent to its provider.
struct member_query {
  std::string member;
  chat_request request;
  caf::actor listener; ///< receives member_delta while streaming; may be null
  /// The listener also receives member_progress (queued, sent, retrying).
  bool progress = false;
};

/// One ensemble question, sent to a fresh aggregator.
struct ensemble_question {
  std::string prompt_id;
  chat_request request; ///< template; each member gets its own id
  caf::actor
      listener; ///< receives member_delta and member_outcome; may be null
  /// The listener also receives each member's member_progress.
  bool progress = false;
};

/// The transport received the response status and headers.
struct transfer_head {
  uint64_t transfer_id = 0;
  int status = 0;
  header_list headers;
};

/// The transport received body bytes.
struct transfer_chunk {
  uint64_t transfer_id = 0;
  std::string bytes;
};

/// A transfer ended: completed (`ok`) or failed at the network level.
/// When the reply arrived whole in one wake-up of the transport, this one
/// message also carries what `transfer_head` and `transfer_chunk` would
/// have: `has_head` says the head came with it (no `transfer_head` was
/// sent), and `bytes` are body bytes no `transfer_chunk` carried.
struct transfer_done {
  uint64_t transfer_id = 0;
  bool ok = false;
  failure_kind kind = failure_kind::network; ///< when not ok
  std::string message;                       ///< when not ok
  int status = 0;
  bool has_head = false;
  header_list headers; ///< with `has_head`
  std::string bytes;   ///< the body's last bytes; may be empty
};

// -- inspect overloads --------------------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tool_call& x) {
  return f(caf::meta::type_name("tool_call"), x.id, x.name, x.arguments);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, image_ref& x) {
  return f(caf::meta::type_name("image_ref"), x.media_type, x.data, x.url,
           x.detail);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, content_part& x) {
  return f(caf::meta::type_name("content_part"), x.text, x.image);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, chat_message& x) {
  return f(caf::meta::type_name("chat_message"), x.role, x.content,
           x.tool_calls, x.tool_call_id, x.parts);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tool_spec& x) {
  return f(caf::meta::type_name("tool_spec"), x.name, x.description,
           x.parameters, x.strict);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tool_choice& x) {
  return f(caf::meta::type_name("tool_choice"), x.mode, x.name);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, response_format& x) {
  return f(caf::meta::type_name("response_format"), x.type, x.name, x.schema,
           x.strict);
}

/// CAF 0.17 serializes caf::optional but not std::optional: go through it.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, chat_params& x) {
  auto to_caf = [](const auto& opt) {
    using value_type = typename std::decay_t<decltype(opt)>::value_type;
    return opt ? caf::optional<value_type>{*opt} : caf::optional<value_type>{};
  };
  auto temperature = to_caf(x.temperature);
  auto top_p = to_caf(x.top_p);
  auto max_tokens = to_caf(x.max_tokens);
  auto seed = to_caf(x.seed);
  auto parallel_tool_calls = to_caf(x.parallel_tool_calls);
  auto frequency_penalty = to_caf(x.frequency_penalty);
  auto presence_penalty = to_caf(x.presence_penalty);
  auto top_logprobs = to_caf(x.top_logprobs);
  auto n = to_caf(x.n);
  auto from_caf = [](const auto& opt, auto& out) {
    if (opt)
      out = *opt;
    else
      out.reset();
  };
  auto load = caf::meta::load_callback([&]() -> caf::error {
    from_caf(temperature, x.temperature);
    from_caf(top_p, x.top_p);
    from_caf(max_tokens, x.max_tokens);
    from_caf(seed, x.seed);
    from_caf(parallel_tool_calls, x.parallel_tool_calls);
    from_caf(frequency_penalty, x.frequency_penalty);
    from_caf(presence_penalty, x.presence_penalty);
    from_caf(top_logprobs, x.top_logprobs);
    from_caf(n, x.n);
    return caf::none;
  });
  return f(caf::meta::type_name("chat_params"), temperature, top_p, max_tokens,
           seed, x.stop, frequency_penalty, presence_penalty,
           x.reasoning_effort, x.tools, x.tool_choice, parallel_tool_calls,
           x.response_format, x.model, x.logprobs, top_logprobs, n, load);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, spend_limit& x) {
  return f(caf::meta::type_name("spend_limit"), x.day_usd, x.month_usd);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cache_policy& x) {
  return f(caf::meta::type_name("cache_policy"), x.ttl_ms, x.sampled);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, request_scope& x) {
  return f(caf::meta::type_name("request_scope"), x.ensemble, x.key,
           x.key_budget, x.cache, x.no_cache);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, embedding_request& x) {
  return f(caf::meta::type_name("embedding_request"), x.inputs, x.dimensions);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, chat_request& x) {
  return f(caf::meta::type_name("chat_request"), x.id, x.messages, x.params,
           x.stream, x.deadline, x.priority, x.scope, x.embedding);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, usage& x) {
  return f(caf::meta::type_name("usage"), x.input_tokens, x.output_tokens,
           x.cached_input_tokens);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, timing& x) {
  return f(caf::meta::type_name("timing"), x.queued_us, x.first_token_us,
           x.total_us, x.started_us);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reply_choice& x) {
  return f(caf::meta::type_name("reply_choice"), x.text, x.refusal,
           x.tool_calls, x.finish_reason, x.logprobs);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, completion& x) {
  return f(caf::meta::type_name("completion"), x.text, x.finish_reason, x.usage,
           x.timing, x.cost_usd, x.attempts, x.cached, x.tool_calls,
           x.embeddings, x.logprobs, x.more_choices);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, failure& x) {
  return f(caf::meta::type_name("failure"), x.kind, x.message, x.http_status,
           x.attempts, x.partial_text, x.usage, x.timing, x.cost_usd,
           x.retry_after_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_outcome& x) {
  return f(caf::meta::type_name("member_outcome"), x.member, x.provider,
           x.model, x.ok, x.reply, x.error);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_delta& x) {
  return f(caf::meta::type_name("member_delta"), x.member, x.text, x.answer);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_progress& x) {
  return f(caf::meta::type_name("member_progress"), x.member, x.state,
           x.attempt, x.wait_ms, x.reason, x.message);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ensemble_answer& x) {
  return f(caf::meta::type_name("ensemble_answer"), x.ensemble, x.status,
           x.text, x.combine, x.until, x.mode, x.members, x.winner, x.votes,
           x.agreement, x.ranking, x.mean_ranks, x.reviews, x.rounds,
           x.combiner_calls, x.note, x.usage, x.cost_usd, x.total_us,
           x.tool_calls, x.logprobs, x.more_choices);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_review& x) {
  return f(caf::meta::type_name("peer_review"), x.reviewer, x.letters,
           x.ranking);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vote_row& x) {
  return f(caf::meta::type_name("vote_row"), x.answer, x.text, x.weight,
           x.members);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cache_entry& x) {
  return f(caf::meta::type_name("cache_entry"), x.key, x.expires_ms, x.provider,
           x.model, x.text, x.finish_reason, x.usage);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, permit_request& x) {
  return f(caf::meta::type_name("permit_request"), x.request_id, x.provider,
           x.priority, x.deadline, x.estimated_tokens);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, permit_grant& x) {
  return f(caf::meta::type_name("permit_grant"), x.granted, x.permit_id, x.kind,
           x.reason);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, limiter_state& x) {
  return f(caf::meta::type_name("limiter_state"), x.group, x.in_flight,
           x.queued, x.concurrency, x.requests_in_window, x.requests_limit,
           x.tokens_in_window, x.tokens_limit, x.cooldown_until,
           x.server_requests_left, x.server_tokens_left);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, server_allowance& x) {
  return f(caf::meta::type_name("server_allowance"), x.limit, x.remaining,
           x.reset_in_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, server_limits& x) {
  return f(caf::meta::type_name("server_limits"), x.requests, x.tokens);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, provider_snapshot& x) {
  return f(caf::meta::type_name("provider_snapshot"), x.breaker,
           x.consecutive_failures, x.breaker_open_until, x.calls, x.latency_us,
           x.requests_left, x.requests_left_until);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_query& x) {
  return f(caf::meta::type_name("member_query"), x.member, x.request,
           x.listener, x.progress);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ensemble_question& x) {
  return f(caf::meta::type_name("ensemble_question"), x.prompt_id, x.request,
           x.listener, x.progress);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, transfer_head& x) {
  return f(caf::meta::type_name("transfer_head"), x.transfer_id, x.status,
           x.headers);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, transfer_chunk& x) {
  return f(caf::meta::type_name("transfer_chunk"), x.transfer_id, x.bytes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, transfer_done& x) {
  return f(caf::meta::type_name("transfer_done"), x.transfer_id, x.ok, x.kind,
           x.message, x.status, x.has_head, x.headers, x.bytes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, step_outcome& x) {
  return f(caf::meta::type_name("step_outcome"), x.id, x.status, x.answer,
           x.reason, x.started_us, x.total_us);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pipeline_result& x) {
  return f(caf::meta::type_name("pipeline_result"), x.pipeline, x.status,
           x.output, x.steps, x.usage, x.cost_usd, x.total_us);
}

} // namespace tutti

CAF_BEGIN_TYPE_ID_BLOCK(tutti, caf::first_custom_type_id)

CAF_ADD_TYPE_ID(tutti, (tutti::chat_request))
CAF_ADD_TYPE_ID(tutti, (tutti::completion))
CAF_ADD_TYPE_ID(tutti, (tutti::failure))
CAF_ADD_TYPE_ID(tutti, (tutti::member_outcome))
CAF_ADD_TYPE_ID(tutti, (tutti::member_delta))
CAF_ADD_TYPE_ID(tutti, (tutti::ensemble_answer))
CAF_ADD_TYPE_ID(tutti, (tutti::usage))
CAF_ADD_TYPE_ID(tutti, (tutti::permit_request))
CAF_ADD_TYPE_ID(tutti, (tutti::permit_grant))
CAF_ADD_TYPE_ID(tutti, (tutti::limiter_state))
CAF_ADD_TYPE_ID(tutti, (tutti::member_query))
CAF_ADD_TYPE_ID(tutti, (tutti::ensemble_question))
CAF_ADD_TYPE_ID(tutti, (tutti::transfer_head))
CAF_ADD_TYPE_ID(tutti, (tutti::transfer_chunk))
CAF_ADD_TYPE_ID(tutti, (tutti::transfer_done))
CAF_ADD_TYPE_ID(tutti, (tutti::failure_kind))
CAF_ADD_TYPE_ID(tutti, (tutti::provider_snapshot))
CAF_ADD_TYPE_ID(tutti, (tutti::server_limits))
CAF_ADD_TYPE_ID(tutti, (tutti::vote_row))
CAF_ADD_TYPE_ID(tutti, (tutti::cache_entry))
CAF_ADD_TYPE_ID(tutti, (tutti::peer_review))
CAF_ADD_TYPE_ID(tutti, (tutti::member_progress))

CAF_END_TYPE_ID_BLOCK(tutti)

// The pipeline's types: a second block, which an actor system adds after the
// first (`add_message_types<caf::id_block::tutti_pipeline>()`).

CAF_BEGIN_TYPE_ID_BLOCK(tutti_pipeline, caf::id_block::tutti::end)

CAF_ADD_TYPE_ID(tutti_pipeline, (tutti::step_outcome))
CAF_ADD_TYPE_ID(tutti_pipeline, (tutti::pipeline_result))

CAF_END_TYPE_ID_BLOCK(tutti_pipeline)
