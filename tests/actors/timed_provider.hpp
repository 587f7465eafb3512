#pragma once

// A scripted provider actor for tests on the deterministic scheduler: it
// answers each query after a delay, may stream one token before, and answers
// `cancelled` at once when cancelled, as the real provider does.

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/clock.hpp"
#include "actors/protocol.hpp"

namespace tutti::testing {

/// What a timed provider does with each query, times from the query.
struct provider_script {
  int64_t answer_after_ms = -1; ///< the outcome then; -1: never
  bool ok = true;
  std::string text;
  int64_t token_after_ms = -1; ///< a streamed token "tok" then; -1: none
  /// What it reports having used when cancelled (with partial text "tok"
  /// when set), as a real provider cancelled mid-reply does.
  tutti::usage used_when_cancelled;
};

/// What the timed providers saw, in test-clock time.
struct provider_log {
  std::map<std::string, steady_us> queried_at;  ///< by member label
  std::map<std::string, chat_request> requests; ///< by member label
  std::vector<std::string> cancelled;           ///< member labels
};

using pending_queries =
    std::map<std::string, std::pair<caf::response_promise, member_query>>;

inline caf::behavior timed_provider(caf::stateful_actor<pending_queries>* self,
                                    provider_script plan,
                                    std::shared_ptr<provider_log> log) {
  return {
      [=](query_atom, member_query& query) -> caf::result<member_outcome> {
        log->queried_at[query.member] = actor_now_us(self);
        log->requests[query.member] = query.request;
        auto promise = self->make_response_promise();
        auto id = query.request.id;
        self->state.emplace(id, std::make_pair(promise, query));
        if (plan.token_after_ms >= 0)
          self->delayed_send(self,
                             std::chrono::milliseconds{plan.token_after_ms},
                             wake_atom::value, id);
        if (plan.answer_after_ms >= 0)
          self->delayed_send(self,
                             std::chrono::milliseconds{plan.answer_after_ms},
                             answered_atom::value, id);
        return promise;
      },
      [=](wake_atom, const std::string& id) {
        auto i = self->state.find(id);
        if (i != self->state.end() && i->second.second.listener)
          self->send(i->second.second.listener,
                     member_delta{i->second.second.member, "tok"});
      },
      [=](answered_atom, const std::string& id) {
        auto i = self->state.find(id);
        if (i == self->state.end())
          return;
        member_outcome outcome;
        outcome.member = i->second.second.member;
        outcome.ok = plan.ok;
        if (plan.ok) {
          outcome.reply.text = plan.text;
          outcome.reply.usage = usage{10, 5, 0};
          outcome.reply.cost_usd = 0.25;
          outcome.reply.timing.total_us = plan.answer_after_ms * 1000;
        } else {
          outcome.error.kind = failure_kind::server;
          outcome.error.http_status = 500;
          outcome.error.message = "boom";
          outcome.error.timing.total_us = plan.answer_after_ms * 1000;
        }
        i->second.first.deliver(outcome);
        self->state.erase(i);
      },
      [=](cancel_atom, const std::string& id) {
        auto i = self->state.find(id);
        if (i == self->state.end())
          return;
        log->cancelled.push_back(i->second.second.member);
        member_outcome outcome;
        outcome.member = i->second.second.member;
        outcome.error.kind = failure_kind::cancelled;
        outcome.error.message = "cancelled";
        outcome.error.usage = plan.used_when_cancelled;
        if (plan.used_when_cancelled.output_tokens > 0)
          outcome.error.partial_text = "tok";
        i->second.first.deliver(outcome);
        self->state.erase(i);
      },
  };
}

} // namespace tutti::testing
