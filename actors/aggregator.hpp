#pragma once

#include <memory>
#include <string>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/protocol.hpp"
#include "tutti/combine.hpp"

namespace tutti {

/// One member as the aggregator sees it: a label and the provider actor.
struct ensemble_member {
  std::string label;
  std::string provider; ///< the provider's name, for outcomes it must invent
  std::string model;
  caf::actor actor;
};

/// Everything an aggregator needs for one question.
struct ensemble_plan {
  std::string name;
  std::vector<ensemble_member> members;
  std::shared_ptr<const combine_strategy> strategy;
  std::string combine_name;
  int64_t deadline_us = 60'000'000; ///< relative to the question's arrival
  /// How long after the deadline the aggregator stops waiting for providers
  /// that did not report (they fail themselves at the deadline).
  int64_t grace_us = 2'000'000;
};

struct aggregator_state {
  ensemble_plan plan;
  ensemble_question question;
  caf::response_promise promise;
  std::vector<member_outcome> outcomes; ///< in member order
  std::vector<bool> done;
  size_t remaining = 0;
  steady_us started_at = 0;
  bool answered = false;

  static inline const char* name = "aggregator";
};

/// One short-lived actor per ensemble question. On `(ask_atom,
/// ensemble_question)` it queries every member at once, waits until all have
/// an outcome (`until: all`), combines them with the plan's strategy and
/// answers with an `ensemble_answer` listing every member, failures
/// included; then it quits. The question's listener receives each
/// `member_delta`, each `member_outcome` as it arrives, and the final
/// `ensemble_answer`, all from this actor and so in order. `cancel_atom`
/// cancels the members still running.
caf::behavior aggregator(caf::stateful_actor<aggregator_state>* self,
                         ensemble_plan plan);

} // namespace tutti
