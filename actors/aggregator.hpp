#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/protocol.hpp"
#include "actors/timer_service.hpp"
#include "tutti/combine.hpp"
#include "tutti/config.hpp"

namespace tutti {

/// One member as the aggregator sees it: one draw from one provider.
struct ensemble_member {
  std::string label;
  std::string provider; ///< the provider's name, for outcomes it must invent
  std::string model;
  caf::actor actor;
  /// Set fields override the question's parameters (a sample's own seed).
  chat_params params;
  double weight = 1;
};

/// A provider a strategy may call (judge, synthesizer).
struct ensemble_callee {
  std::string model;
  caf::actor actor;
};

/// Everything an aggregator needs for one question.
struct ensemble_plan {
  std::string name;
  std::vector<ensemble_member> members;
  std::shared_ptr<const combine_strategy> strategy;
  std::string combine_name;
  /// The strategy declares its answer is the first success
  /// (`combine_traits::streams_first_success`): it is streamed the moment it
  /// arrives.
  bool streams_first_success = false;
  until_rule until = until_rule::all;
  int quorum = 0;
  run_mode mode = run_mode::parallel;
  int64_t hedge_after_us = 0;
  int min_success = 1;
  int64_t deadline_us = 60'000'000; ///< relative to the question's arrival
  /// A routed model's: its members (fallback) are first put in this
  /// strategy's order (`route_order`), from what each provider reports;
  /// `route_random` draws the weighted order.
  std::optional<route_strategy> route;
  uint64_t route_random = 0;
  /// How long after the deadline the aggregator stops waiting for providers
  /// that did not report (they fail themselves at the deadline).
  int64_t grace_us = 2'000'000;
  /// How long members told to stop get to report what they had used
  /// (their partial text, tokens, cost) before the answer goes without it.
  int64_t settle_us = 100'000;
  std::map<std::string, ensemble_callee> callees; ///< by provider name
  /// The engine's timer service (none in tests that spawn an aggregator
  /// alone): the aggregator's timeouts are cancelled as it answers.
  tutti::timers timers;
};

/// "all", "first", "quorum:K" or "deadline".
std::string until_name(const ensemble_plan& plan);

/// "parallel", "fallback" or "hedged".
std::string mode_name(run_mode mode);

/// Where one member stands.
enum class member_phase : uint8_t {
  waiting,  ///< not started (fallback, hedged)
  running,  ///< queried, no outcome yet
  finished, ///< has an outcome of its own
  stopping, ///< told to stop; its last report is awaited briefly
  stopped,  ///< cancelled or never started because the ensemble was done
};

/// A combiner call in flight, and its outcome once it has one.
struct pending_call {
  std::string id;
  std::string label; ///< e.g. "judge", "a@round2"
  std::string provider;
  std::string model;
  caf::actor actor; ///< whom it went to
  std::optional<member_outcome> outcome;
  bool stopped = false; ///< told to stop: the question was cancelled
};

struct aggregator_state {
  ensemble_plan plan;
  ensemble_question question;
  caf::response_promise promise;
  std::vector<member_outcome> outcomes; ///< in member order
  std::vector<size_t> arrival;          ///< member indices as outcomes came
  std::vector<member_phase> phases;
  std::vector<bool> streamed; ///< a member sent a token
  size_t next_to_start = 0;
  int successes = 0;
  steady_us started_at = 0;
  steady_us deadline = 0;
  bool members_done = false;
  size_t stopping = 0;  ///< members told to stop that have not reported
  bool settled = false; ///< combining has begun
  failure_kind stop_kind = failure_kind::cancelled;
  std::string stop_reason;
  combine_input input; ///< while combining
  /// The combiner's calls in flight (one, or a round of several); empty:
  /// none. Their outcomes are appended to `input.calls` in this order.
  std::vector<pending_call> calls;
  /// Names the round of calls in flight, for its deadline; empty: none.
  std::string round_id;
  steady_us round_started_at = 0; ///< when the calls in flight were sent
  /// How long the last round took: the members', then each round of calls.
  int64_t last_round_us = 0;
  bool call_streams_answer = false;
  /// The question was cancelled while the strategy's calls ran: the calls
  /// it asks for next fail as cancelled, unsent.
  bool calls_cancelled = false;
  bool answer_streamed = false; ///< combine first: the winner's text went out
  bool answered = false;
  bool asked = false;       ///< the question has come
  size_t route_replies = 0; ///< routing: provider snapshots still awaited
  /// A cancel came before the question (the engine cancels what it has just
  /// started, e.g. as it stops): the question is answered at once.
  bool cancelled_before_asked = false;

  static inline const char* name = "aggregator";
};

/// One short-lived actor per ensemble question. On `(ask_atom,
/// ensemble_question)` it queries the members as the plan's mode says
/// (all at once; one after another on failure; or the next one also when
/// the running one has sent no token within `hedge_after`), until the plan's
/// `until` rule is met, then cancels the members still running and reports
/// them as `cancelled` (or, for `until: deadline`, as timed out). It then
/// combines the outcomes with the plan's strategy, making the extra model
/// calls the strategy asks for through the same provider actors, and answers
/// with an `ensemble_answer` that lists every member, failures included;
/// then it quits. The question's listener receives each `member_delta`, each
/// `member_outcome` as it arrives (combiner calls too), the answer's own
/// tokens (`member_delta` with `answer` set), and the final
/// `ensemble_answer` (unless the listener is the asker, which gets it once,
/// as the reply), all from this actor and so in order. `cancel_atom`
/// cancels everything still running.
caf::behavior aggregator(caf::stateful_actor<aggregator_state>* self,
                         ensemble_plan plan);

} // namespace tutti
