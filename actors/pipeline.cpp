#include "actors/pipeline.hpp"

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/clock.hpp"

namespace tutti {

namespace {

using self_ptr = caf::stateful_actor<pipeline_state>*;

/// "gpt: server 500: boom" for one failed member.
std::string describe_failure(const member_outcome& m) {
  std::string text = m.member + ": " + std::string{to_string(m.error.kind)};
  if (m.error.http_status != 0)
    text += " " + std::to_string(m.error.http_status);
  if (!m.error.message.empty())
    text += ": " + m.error.message;
  return text;
}

/// Why a step's ensemble has no answer, in plain words: each member (and
/// combiner call) that failed, after the aggregator's note unless no member
/// succeeded (the failures then say it all).
std::string failure_reason(const ensemble_answer& answer) {
  std::string failures;
  bool any_success = false;
  auto add = [&](const member_outcome& m) {
    if (m.ok) {
      any_success = true;
      return;
    }
    failures += (failures.empty() ? "" : "; ") + describe_failure(m);
  };
  for (auto& m : answer.members)
    add(m);
  for (auto& m : answer.combiner_calls)
    add(m);
  std::string text = any_success || failures.empty() ? answer.note : "";
  if (!failures.empty())
    text += (text.empty() ? "" : "; ") + failures;
  return text.empty() ? "the ensemble gave no answer" : text;
}

/// What a step with an answer offers the templates after it.
step_values values_of(const ensemble_answer& answer) {
  step_values values;
  values.answer = answer.text;
  for (auto& m : answer.members)
    if (m.ok)
      values.answers.push_back(m.reply.text);
  return values;
}

bool has_answer(const step_outcome& outcome) {
  return outcome.status == step_status::ok ||
         outcome.status == step_status::partial;
}

size_t index_of(self_ptr self, const std::string& id) {
  auto& steps = self->state.plan.steps;
  for (size_t i = 0; i < steps.size(); ++i)
    if (steps[i].id == id)
      return i;
  return steps.size();
}

/// Marks step `index` done with `outcome` and tells the listener.
void conclude(self_ptr self, size_t index, step_outcome outcome) {
  auto& st = self->state;
  st.phases[index] = step_phase::done;
  st.running[index] = nullptr;
  if (has_answer(outcome))
    st.values[outcome.id] = values_of(outcome.answer);
  st.outcomes[index] = std::move(outcome);
  if (st.listener)
    self->send(st.listener, st.outcomes[index]);
}

void skip(self_ptr self, size_t index, std::string reason) {
  step_outcome outcome;
  outcome.id = self->state.plan.steps[index].id;
  outcome.status = step_status::skipped;
  outcome.reason = std::move(reason);
  outcome.started_us = -1;
  conclude(self, index, std::move(outcome));
}

void fail_unstarted(self_ptr self, size_t index, std::string reason) {
  step_outcome outcome;
  outcome.id = self->state.plan.steps[index].id;
  outcome.status = step_status::failed;
  outcome.reason = std::move(reason);
  outcome.started_us = actor_now_us(self) - self->state.started_at;
  conclude(self, index, std::move(outcome));
}

void advance(self_ptr self);

/// The step's aggregator answered.
void finish_step(self_ptr self, size_t index, ensemble_answer answer) {
  auto& st = self->state;
  if (st.phases[index] != step_phase::running)
    return;
  auto outcome = std::move(st.outcomes[index]);
  outcome.total_us = actor_now_us(self) - st.started_at - outcome.started_us;
  outcome.status = step_status_of(answer.status);
  if (answer.status == answer_status::failed)
    outcome.reason = failure_reason(answer);
  outcome.answer = std::move(answer);
  conclude(self, index, std::move(outcome));
  advance(self);
}

/// Whether step `index` can start now; skips (or fails) it when it never
/// will. Returns true when it is ready.
bool ready(self_ptr self, size_t index) {
  auto& st = self->state;
  auto& step = st.plan.steps[index];
  if (st.cancelled) {
    skip(self, index, "the run was cancelled before it started");
    return false;
  }
  for (auto& need : step.needs) {
    auto j = index_of(self, need);
    if (j == st.plan.steps.size()) {
      fail_unstarted(self, index,
                     "needs step '" + need +
                         "', which the pipeline does not have");
      return false;
    }
    if (st.phases[j] != step_phase::done)
      return false;
    auto& dep = st.outcomes[j];
    if (!has_answer(dep)) {
      skip(self, index,
           "needs step '" + need + "', which " +
               (dep.status == step_status::skipped
                    ? std::string{"was skipped"}
                    : std::string{to_string(dep.status)}) +
               ": " + dep.reason);
      return false;
    }
  }
  return true;
}

void start_step(self_ptr self, size_t index) {
  auto& st = self->state;
  auto& step = st.plan.steps[index];
  std::string prompt;
  std::string system;
  try {
    prompt = render(step.prompt, st.plan.inputs, st.values);
    if (!step.system.empty())
      system = render(step.system, st.plan.inputs, st.values);
  } catch (const std::exception& e) {
    fail_unstarted(self, index,
                   std::string{"cannot render its prompt: "} + e.what());
    return;
  }
  ensemble_question question;
  question.prompt_id = st.plan.run_id + "/" + step.id;
  question.request.id = question.prompt_id;
  if (!system.empty())
    question.request.messages.push_back(chat_message{"system", system});
  question.request.messages.push_back(chat_message{"user", prompt});
  question.request.params = step.params;
  question.request.stream = st.plan.stream;
  question.request.priority = st.plan.priority;
  question.request.scope = step.scope;
  question.request.scope.key = st.plan.scope.key;
  question.request.scope.key_budget = st.plan.scope.key_budget;
  question.request.scope.no_cache = st.plan.scope.no_cache;
  if (st.listener &&
      (st.plan.stream || st.plan.member_outcomes || st.plan.member_progress))
    question.listener = caf::actor_cast<caf::actor>(self);
  question.progress = st.plan.member_progress;
  // Linked: a pipeline that is killed takes its running steps with it.
  auto agg = self->spawn<caf::linked>(aggregator, step.ensemble);
  st.phases[index] = step_phase::running;
  st.running[index] = agg;
  st.outcomes[index].id = step.id;
  st.outcomes[index].started_us = actor_now_us(self) - st.started_at;
  if (st.listener)
    self->send(st.listener, step_atom::value, step.id);
  self->request(agg, caf::infinite, ask_atom::value, std::move(question))
      .then(
          [=](ensemble_answer& answer) {
            finish_step(self, index, std::move(answer));
          },
          [=](const caf::error& err) {
            auto& st = self->state;
            if (st.phases[index] != step_phase::running)
              return;
            auto outcome = std::move(st.outcomes[index]);
            outcome.status = step_status::failed;
            outcome.reason =
                "its aggregator failed: " + self->system().render(err);
            outcome.total_us =
                actor_now_us(self) - st.started_at - outcome.started_us;
            conclude(self, index, std::move(outcome));
            advance(self);
          });
}

pipeline_result result_of(self_ptr self) {
  auto& st = self->state;
  pipeline_result result;
  result.pipeline = st.plan.name;
  result.steps = st.outcomes;
  bool all_ok = !result.steps.empty();
  const step_outcome* output = nullptr;
  for (auto& step : result.steps) {
    result.usage.input_tokens += step.answer.usage.input_tokens;
    result.usage.output_tokens += step.answer.usage.output_tokens;
    result.usage.cached_input_tokens += step.answer.usage.cached_input_tokens;
    result.cost_usd += step.answer.cost_usd;
    if (step.status != step_status::ok)
      all_ok = false;
    if (step.id == st.plan.output)
      output = &step;
  }
  if (output != nullptr && has_answer(*output)) {
    result.output = output->answer.text;
    result.status = all_ok ? answer_status::ok : answer_status::partial;
  } else {
    result.status = answer_status::failed;
  }
  result.total_us = actor_now_us(self) - st.started_at;
  return result;
}

/// Starts every step that can start; answers once nothing runs and nothing
/// more can start.
void advance(self_ptr self) {
  auto& st = self->state;
  if (st.answered)
    return;
  auto count = st.plan.steps.size();
  // Skipping or failing a step may settle steps before it: repeat until
  // a pass changes nothing.
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = 0; i < count; ++i) {
      if (st.phases[i] != step_phase::waiting)
        continue;
      if (ready(self, i))
        start_step(self, i);
      if (st.phases[i] != step_phase::waiting)
        changed = true;
    }
  }
  size_t running = 0;
  for (auto phase : st.phases)
    running += phase == step_phase::running ? 1 : 0;
  if (running > 0)
    return;
  // Nothing runs, yet some wait: their needs form a cycle.
  for (size_t i = 0; i < count; ++i)
    if (st.phases[i] == step_phase::waiting)
      skip(self, i, "its needs never finish (they form a cycle)");
  st.answered = true;
  auto result = result_of(self);
  if (st.listener)
    self->send(st.listener, result);
  st.promise.deliver(std::move(result));
  self->quit();
}

/// Passes an event of a running step's aggregator to the listener,
/// labelled with the step.
template <class Event>
void pass_on(self_ptr self, Event event) {
  auto& st = self->state;
  if (!st.listener)
    return;
  auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
  for (size_t i = 0; i < st.running.size(); ++i)
    if (st.running[i] && st.running[i].address() == sender) {
      self->send(st.listener, st.plan.steps[i].id, std::move(event));
      return;
    }
}

} // namespace

caf::behavior pipeline(self_ptr self, pipeline_plan plan) {
  self->state.plan = std::move(plan);
  return {
      [=](run_atom, caf::actor& listener) -> caf::result<pipeline_result> {
        auto& st = self->state;
        if (st.promise.pending() || st.answered)
          return caf::make_error(caf::sec::runtime_error,
                                 "a pipeline actor runs once");
        st.promise = self->make_response_promise();
        st.listener = std::move(listener);
        st.started_at = actor_now_us(self);
        auto count = st.plan.steps.size();
        st.outcomes.resize(count);
        for (size_t i = 0; i < count; ++i)
          st.outcomes[i].id = st.plan.steps[i].id;
        st.phases.assign(count, step_phase::waiting);
        st.running.assign(count, caf::actor{});
        auto promise = st.promise;
        advance(self);
        return promise;
      },
      [=](member_delta& delta) { pass_on(self, std::move(delta)); },
      [=](member_progress& progress) { pass_on(self, std::move(progress)); },
      [=](member_outcome& outcome) {
        if (self->state.plan.member_outcomes)
          pass_on(self, std::move(outcome));
      },
      // The answer itself comes as the response.
      [=](const ensemble_answer&) {},
      [=](cancel_atom) {
        auto& st = self->state;
        if (st.cancelled || st.answered)
          return;
        st.cancelled = true;
        for (auto& agg : st.running)
          if (agg)
            self->send(agg, cancel_atom::value);
        if (st.promise.pending())
          advance(self);
      },
  };
}

} // namespace tutti
