#include "engine/src/watchers.hpp"

#include <utility>

#include <caf/send.hpp>

#include "actors/clock.hpp"

namespace tutti {

namespace {

/// A failed result for every step of a run the engine lost track of.
pipeline_result lost_run(const std::string& name,
                         const std::vector<std::string>& ids,
                         const std::string& reason, int64_t total_us) {
  pipeline_result result;
  result.pipeline = name;
  result.status = answer_status::failed;
  for (auto& id : ids) {
    step_outcome step;
    step.id = id;
    step.status = step_status::failed;
    step.reason = reason;
    step.started_us = -1;
    result.steps.push_back(std::move(step));
  }
  result.total_us = total_us;
  return result;
}

/// A watcher's backstop passed: the first time it cancels `watched` and
/// gives it `ask_backstop_us` more to answer; the second time it gives up.
template <class State, class Lost>
void on_backstop(caf::stateful_actor<State>* self, const caf::actor& watched,
                 const Lost& lost, const char* reason) {
  auto& st = self->state;
  if (st.backstop_passed) {
    lost(reason);
    return;
  }
  st.backstop_passed = true;
  self->send(watched, cancel_atom::value);
  st.timers.at(self, actor_now_us(self) + ask_backstop_us, expire_atom::value);
}

} // namespace

/// One short-lived actor per `start_run`: it starts the pipeline actor,
/// passes the run's events to the caller's callbacks in order, and hands
/// the result to `on_done` exactly once. Every step ends by its own
/// deadline; the backstop (`backstop_us` after the start) only guards
/// against a broken engine: it cancels the run, waits `ask_backstop_us`
/// for the steps to report, then answers with every step failed. So does a
/// pipeline actor that stops without an answer.
caf::behavior run_watch(caf::stateful_actor<run_watch_state>* self,
                        run_watch_state init, int64_t backstop_us) {
  self->state = std::move(init);
  self->state.started = steady_now_us();
  auto finish = [self](pipeline_result result) {
    auto& st = self->state;
    if (st.done)
      return;
    st.done = true;
    st.timers.cancel_all(self);
    st.forget();
    st.on_done(std::move(result));
    self->quit();
  };
  auto lost = [self, finish](const std::string& reason) {
    auto& st = self->state;
    finish(lost_run(st.pipeline, st.step_ids, reason,
                    steady_now_us() - st.started));
  };
  self->monitor(self->state.pipe);
  self->set_down_handler([lost](caf::down_msg&) {
    lost("the pipeline actor stopped without an answer");
  });
  self->send(self->state.pipe, run_atom::value,
             caf::actor_cast<caf::actor>(self));
  self->state.timers.at(self, actor_now_us(self) + backstop_us,
                        expire_atom::value);
  return {
      [self](step_atom, std::string& step) {
        if (self->state.options.on_step_started)
          self->state.options.on_step_started(step);
      },
      [self](std::string& step, member_delta& delta) {
        if (self->state.options.on_delta)
          self->state.options.on_delta(step, delta);
      },
      [self](std::string& step, member_outcome& outcome) {
        if (self->state.options.on_member_done)
          self->state.options.on_member_done(step, outcome);
      },
      [self](std::string& step, member_progress& progress) {
        if (self->state.options.on_member_progress)
          self->state.options.on_member_progress(step, progress);
      },
      [self](step_outcome& outcome) {
        if (self->state.options.on_step_done)
          self->state.options.on_step_done(outcome);
      },
      [finish](pipeline_result& result) { finish(std::move(result)); },
      [self, lost](expire_atom) {
        on_backstop(self, self->state.pipe, lost,
                    "the engine got no answer from its pipeline actor");
      },
  };
}

/// One short-lived actor per `start_ask`, the question's counterpart of
/// `run_watch`: it asks the aggregator, passes member events to the
/// caller's callbacks in order and the answer to `on_done` exactly once.
/// The aggregator answers by its deadline; the backstop cancels it if it
/// does not, and answers "failed" if even that brings nothing.
caf::behavior ask_watch(caf::stateful_actor<ask_watch_state>* self,
                        ask_watch_state init, ensemble_question question,
                        int64_t backstop_us) {
  self->state = std::move(init);
  self->state.started = steady_now_us();
  auto finish = [self](ensemble_answer answer) {
    auto& st = self->state;
    if (st.done)
      return;
    st.done = true;
    st.timers.cancel_all(self);
    st.forget();
    st.on_done(std::move(answer));
    self->quit();
  };
  auto lost = [self, finish](const std::string& reason) {
    ensemble_answer answer;
    answer.ensemble = self->state.ensemble;
    answer.status = answer_status::failed;
    answer.note = reason;
    answer.total_us = steady_now_us() - self->state.started;
    finish(std::move(answer));
  };
  self->monitor(self->state.agg);
  self->set_down_handler([lost](caf::down_msg&) {
    lost("the engine lost the aggregator before it answered");
  });
  // Without callbacks only the answer matters: no wake-up per member event.
  auto& options = self->state.options;
  if (options.on_delta || options.on_member_done || options.on_member_progress)
    question.listener = caf::actor_cast<caf::actor>(self);
  question.progress = static_cast<bool>(options.on_member_progress);
  // The aggregator answers the sender and (first) the listener: both land
  // in the ensemble_answer handler below, which takes the first.
  self->send(self->state.agg, ask_atom::value, std::move(question));
  self->state.timers.at(self, actor_now_us(self) + backstop_us,
                        expire_atom::value);
  return {
      [self](member_delta& delta) {
        if (self->state.options.on_delta)
          self->state.options.on_delta(delta);
      },
      [self](member_outcome& outcome) {
        if (self->state.options.on_member_done)
          self->state.options.on_member_done(outcome);
      },
      [self](member_progress& progress) {
        if (self->state.options.on_member_progress)
          self->state.options.on_member_progress(progress);
      },
      [finish](ensemble_answer& answer) { finish(std::move(answer)); },
      [self, lost](expire_atom) {
        on_backstop(self, self->state.agg, lost,
                    "the engine got no answer from its aggregator");
      },
  };
}

namespace {

void add_usage(usage& into, const usage& used) {
  into.input_tokens += used.input_tokens;
  into.output_tokens += used.output_tokens;
  into.cached_input_tokens += used.cached_input_tokens;
}

/// The outcome of every call as one (see `embed_watch`); the calls' vectors
/// move into it.
member_outcome embeddings_outcome(embed_watch_state& st) {
  member_outcome result;
  result.member = st.provider_name;
  result.provider = st.provider_name;
  result.model = st.model;
  usage used;
  double cost = 0;
  int attempts = 0;
  const member_outcome* failed = nullptr;
  for (auto& o : st.outcomes) {
    if (!o) {
      continue;
    }
    add_usage(used, o->ok ? o->reply.usage : o->error.usage);
    cost += o->ok ? o->reply.cost_usd : o->error.cost_usd;
    attempts += o->ok ? o->reply.attempts : o->error.attempts;
    // The first failure that is not a cancellation it caused itself.
    if (!o->ok &&
        (failed == nullptr || (failed->error.kind == failure_kind::cancelled &&
                               o->error.kind != failure_kind::cancelled)))
      failed = &*o;
  }
  auto total_us = steady_now_us() - st.started;
  if (failed != nullptr) {
    result.error = failed->error;
    result.error.usage = used;
    result.error.cost_usd = cost;
    result.error.attempts = attempts;
    result.error.timing.total_us = total_us;
    return result;
  }
  result.ok = true;
  auto& reply = result.reply;
  reply.finish_reason = "stop";
  reply.usage = used;
  reply.cost_usd = cost;
  reply.attempts = attempts;
  if (!st.outcomes.empty() && st.outcomes[0])
    reply.timing = st.outcomes[0]->reply.timing;
  reply.timing.total_us = total_us;
  for (auto& o : st.outcomes) {
    for (auto& v : o->reply.embeddings)
      reply.embeddings.push_back(std::move(v));
    o->reply.embeddings.clear();
  }
  return result;
}

} // namespace

caf::behavior embed_watch(caf::stateful_actor<embed_watch_state>* self,
                          embed_watch_state init, int64_t backstop_us) {
  self->state = std::move(init);
  self->state.started = steady_now_us();
  self->state.outcomes.resize(self->state.calls.size());
  auto finish = [self] {
    auto& st = self->state;
    if (st.done)
      return;
    st.done = true;
    st.timers.cancel_all(self);
    st.forget();
    auto outcome = embeddings_outcome(st);
    std::vector<member_outcome> calls;
    for (auto& o : st.outcomes)
      if (o)
        calls.push_back(std::move(*o));
    st.on_done(std::move(outcome), std::move(calls));
    self->quit();
  };
  auto cancel_running = [self] {
    auto& st = self->state;
    for (size_t i = 0; i < st.calls.size(); ++i)
      if (!st.outcomes[i])
        self->send(st.provider, cancel_atom::value, st.calls[i].id);
  };
  auto lost = [self, finish](const std::string& reason) {
    auto& st = self->state;
    for (size_t i = 0; i < st.calls.size(); ++i)
      if (!st.outcomes[i]) {
        member_outcome o;
        o.member = st.calls[i].id;
        o.provider = st.provider_name;
        o.model = st.model;
        o.error.kind = failure_kind::timeout_total;
        o.error.message = reason;
        o.error.attempts = 0;
        st.outcomes[i] = std::move(o);
      }
    finish();
  };
  self->monitor(self->state.provider);
  self->set_down_handler([lost](caf::down_msg&) {
    lost("the engine lost the provider before it answered");
  });
  for (auto& call : self->state.calls)
    self->send(self->state.provider, query_atom::value,
               member_query{call.id, call, caf::actor{}});
  self->state.timers.at(self, actor_now_us(self) + backstop_us,
                        expire_atom::value);
  return {
      [self, finish, cancel_running](member_outcome& outcome) {
        auto& st = self->state;
        for (size_t i = 0; i < st.calls.size(); ++i) {
          if (st.calls[i].id != outcome.member || st.outcomes[i])
            continue;
          bool failed = !outcome.ok;
          st.outcomes[i] = std::move(outcome);
          ++st.answered;
          // One failed call fails the request: the others need not run on.
          if (failed)
            cancel_running();
          break;
        }
        if (st.answered == st.calls.size())
          finish();
      },
      [cancel_running](cancel_atom) { cancel_running(); },
      [self, lost, cancel_running](expire_atom) {
        auto& st = self->state;
        if (st.backstop_passed) {
          lost("the engine got no answer from its provider");
          return;
        }
        st.backstop_passed = true;
        cancel_running();
        st.timers.at(self, actor_now_us(self) + ask_backstop_us,
                     expire_atom::value);
      },
  };
}

} // namespace tutti
