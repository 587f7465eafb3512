#include "actors/aggregator.hpp"

#include <algorithm>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/clock.hpp"

namespace tutti {

namespace {

using self_ptr = caf::stateful_actor<aggregator_state>*;

std::string member_request_id(const ensemble_question& q,
                              const std::string& label) {
  return q.request.id + "/" + label;
}

void answer(self_ptr self) {
  auto& st = self->state;
  if (st.answered)
    return;
  st.answered = true;
  ensemble_answer result;
  result.ensemble = st.plan.name;
  result.combine = st.plan.combine_name;
  auto combined = st.plan.strategy->combine(st.outcomes);
  result.status = combined.status;
  result.text = std::move(combined.text);
  result.members = st.outcomes;
  result.total_us = actor_now_us(self) - st.started_at;
  if (st.question.listener)
    self->send(st.question.listener, result);
  st.promise.deliver(std::move(result));
  self->quit();
}

void record(self_ptr self, size_t index, member_outcome outcome) {
  auto& st = self->state;
  if (st.answered || st.done[index])
    return;
  st.done[index] = true;
  // The label is the aggregator's to give, whatever the provider said.
  outcome.member = st.plan.members[index].label;
  if (st.question.listener)
    self->send(st.question.listener, outcome);
  st.outcomes[index] = std::move(outcome);
  if (--st.remaining == 0)
    answer(self);
}

member_outcome failed_outcome(const ensemble_member& member, failure_kind kind,
                              std::string message) {
  member_outcome outcome;
  outcome.member = member.label;
  outcome.provider = member.provider;
  outcome.model = member.model;
  outcome.ok = false;
  outcome.error.kind = kind;
  outcome.error.message = std::move(message);
  outcome.error.attempts = 0;
  return outcome;
}

void cancel_running(self_ptr self) {
  auto& st = self->state;
  for (size_t i = 0; i < st.plan.members.size(); ++i)
    if (!st.done[i])
      self->send(st.plan.members[i].actor, cancel_atom::value,
                 member_request_id(st.question, st.plan.members[i].label));
}

} // namespace

caf::behavior aggregator(self_ptr self, ensemble_plan plan) {
  self->state.plan = std::move(plan);
  return {
      [=](ask_atom,
          ensemble_question& question) -> caf::result<ensemble_answer> {
        auto& st = self->state;
        st.promise = self->make_response_promise();
        st.started_at = actor_now_us(self);
        auto deadline = st.started_at + st.plan.deadline_us;
        if (question.request.deadline > 0)
          deadline = std::min(deadline, question.request.deadline);
        question.request.deadline = deadline;
        st.question = std::move(question);
        auto count = st.plan.members.size();
        st.outcomes.resize(count);
        st.done.assign(count, false);
        st.remaining = count;
        if (count == 0) {
          answer(self);
          return st.promise;
        }
        for (size_t i = 0; i < count; ++i) {
          auto& member = st.plan.members[i];
          member_query query;
          query.member = member.label;
          query.request = st.question.request;
          query.request.id = member_request_id(st.question, member.label);
          if (st.question.listener)
            query.listener = caf::actor_cast<caf::actor>(self);
          self->request(member.actor, caf::infinite, query_atom::value,
                        std::move(query))
              .then(
                  [=](member_outcome& outcome) {
                    record(self, i, std::move(outcome));
                  },
                  [=](const caf::error& err) {
                    auto& m = self->state.plan.members[i];
                    record(self, i,
                           failed_outcome(m, failure_kind::protocol,
                                          "provider actor failed: " +
                                              self->system().render(err)));
                  });
        }
        // Providers fail themselves at the deadline; this is the backstop.
        self->scheduled_send(self, to_actor_time(deadline + st.plan.grace_us),
                             expire_atom::value);
        return st.promise;
      },
      [=](member_delta& delta) {
        if (self->state.question.listener && !self->state.answered)
          self->send(self->state.question.listener, std::move(delta));
      },
      [=](expire_atom) {
        auto& st = self->state;
        cancel_running(self);
        for (size_t i = 0; i < st.plan.members.size(); ++i)
          if (!st.done[i])
            record(self, i,
                   failed_outcome(st.plan.members[i],
                                  failure_kind::timeout_total,
                                  "no outcome by the ensemble deadline"));
      },
      [=](cancel_atom) { cancel_running(self); },
  };
}

} // namespace tutti
