#include "actors/aggregator.hpp"

#include <algorithm>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/clock.hpp"
#include "actors/route_order.hpp"

namespace tutti {

std::string until_name(const ensemble_plan& plan) {
  return until_name(plan.until, plan.quorum);
}

std::string mode_name(run_mode mode) {
  return to_string(mode);
}

namespace {

using self_ptr = caf::stateful_actor<aggregator_state>*;

/// The combine phase's own backstop (the member phase uses `expire_atom`).
using combine_expire_atom = caf::atom_constant<caf::atom("cexpire")>;

/// Stopped members have had their time to report.
using settle_atom = caf::atom_constant<caf::atom("settle")>;

std::string request_id_of(const ensemble_question& q,
                          const std::string& label) {
  return q.request.id + "/" + label;
}

member_outcome failed_outcome(const std::string& label,
                              const std::string& provider,
                              const std::string& model, failure_kind kind,
                              std::string message) {
  member_outcome outcome;
  outcome.member = label;
  outcome.provider = provider;
  outcome.model = model;
  outcome.ok = false;
  outcome.error.kind = kind;
  outcome.error.message = std::move(message);
  outcome.error.attempts = 0;
  return outcome;
}

member_outcome failed_outcome(const ensemble_member& member, failure_kind kind,
                              std::string message) {
  return failed_outcome(member.label, member.provider, member.model, kind,
                        std::move(message));
}

void add_usage(ensemble_answer& answer, const member_outcome& outcome) {
  auto& used = outcome.ok ? outcome.reply.usage : outcome.error.usage;
  answer.usage.input_tokens += used.input_tokens;
  answer.usage.output_tokens += used.output_tokens;
  answer.usage.cached_input_tokens += used.cached_input_tokens;
  answer.cost_usd +=
      outcome.ok ? outcome.reply.cost_usd : outcome.error.cost_usd;
}

/// The last user message: what judges and synthesizers are told was asked.
std::string question_text(const chat_request& request) {
  for (auto i = request.messages.rbegin(); i != request.messages.rend(); ++i)
    if (i->role == "user")
      return i->content;
  return {};
}

/// Fields set in `over` replace those in `params`.
void override_params(chat_params& params, const chat_params& over) {
  if (over.temperature)
    params.temperature = over.temperature;
  if (over.top_p)
    params.top_p = over.top_p;
  if (over.max_tokens)
    params.max_tokens = over.max_tokens;
  if (over.seed)
    params.seed = over.seed;
  if (!over.stop.empty())
    params.stop = over.stop;
  if (over.frequency_penalty)
    params.frequency_penalty = over.frequency_penalty;
  if (over.presence_penalty)
    params.presence_penalty = over.presence_penalty;
  if (!over.reasoning_effort.empty())
    params.reasoning_effort = over.reasoning_effort;
  if (!over.tools.empty())
    params.tools = over.tools;
  if (!over.tool_choice.mode.empty())
    params.tool_choice = over.tool_choice;
  if (over.parallel_tool_calls)
    params.parallel_tool_calls = over.parallel_tool_calls;
  if (!over.response_format.type.empty())
    params.response_format = over.response_format;
  if (over.logprobs)
    params.logprobs = true;
  if (over.top_logprobs)
    params.top_logprobs = over.top_logprobs;
  if (over.n)
    params.n = over.n;
  if (!over.model.empty())
    params.model = over.model;
}

size_t running_count(self_ptr self) {
  auto& phases = self->state.phases;
  return static_cast<size_t>(
      std::count(phases.begin(), phases.end(), member_phase::running));
}

void deliver(self_ptr self, ensemble_answer result) {
  auto& st = self->state;
  st.answered = true;
  st.plan.timers.cancel_all(self);
  // A listener that also asked (the engine's question watcher) gets the
  // answer once, through the promise.
  if (st.question.listener &&
      st.question.listener != caf::actor_cast<caf::actor>(st.promise.next()))
    self->send(st.question.listener, result);
  st.promise.deliver(std::move(result));
  self->quit();
}

/// The answer from the strategy's verdict and everything the members did.
void answer(self_ptr self, combined verdict) {
  auto& st = self->state;
  if (st.answered)
    return;
  ensemble_answer result;
  result.ensemble = st.plan.name;
  result.combine = st.plan.combine_name;
  result.until = until_name(st.plan);
  result.mode = mode_name(st.plan.mode);
  result.members = st.outcomes;
  result.combiner_calls = st.input.calls;
  for (auto& outcome : result.members)
    add_usage(result, outcome);
  for (auto& outcome : result.combiner_calls)
    add_usage(result, outcome);
  result.text = std::move(verdict.text);
  result.winner = std::move(verdict.winner);
  // The answer is the winner's reply: its tool calls too.
  if (verdict.status != answer_status::failed && !result.winner.empty())
    for (auto& outcome : result.members)
      if (outcome.ok && outcome.member == result.winner) {
        result.tool_calls = outcome.reply.tool_calls;
        result.logprobs = outcome.reply.logprobs;
        result.more_choices = outcome.reply.more_choices;
        break;
      }
  result.votes = std::move(verdict.votes);
  result.agreement = verdict.agreement;
  result.ranking = std::move(verdict.ranking);
  result.mean_ranks = std::move(verdict.mean_ranks);
  result.reviews = std::move(verdict.reviews);
  result.rounds = verdict.rounds;
  result.note = std::move(verdict.note);
  result.status = verdict.status;
  if (result.status == answer_status::ok) {
    // Members the ensemble stopped itself are not failures; others are.
    for (size_t i = 0; i < st.outcomes.size(); ++i)
      if (st.phases[i] == member_phase::finished && !st.outcomes[i].ok)
        result.status = answer_status::partial;
  }
  result.total_us = actor_now_us(self) - st.started_at;
  deliver(self, std::move(result));
}

void start_member(self_ptr self, size_t index);

void combine_step(self_ptr self);

/// Every call of the round has its outcome.
bool round_complete(const aggregator_state& st) {
  return std::all_of(st.calls.begin(), st.calls.end(),
                     [](const pending_call& call) { return call.outcome; });
}

/// The round's outcomes, in the order the strategy asked for them, go to
/// the strategy.
void round_done(self_ptr self) {
  auto& st = self->state;
  st.last_round_us = actor_now_us(self) - st.round_started_at;
  for (auto& call : st.calls)
    st.input.calls.push_back(std::move(*call.outcome));
  st.calls.clear();
  st.round_id.clear();
  st.call_streams_answer = false;
  combine_step(self);
}

/// The member a round's call is for; null when the ensemble has none so
/// labelled.
const ensemble_member* member_of(const aggregator_state& st,
                                 const std::string& label) {
  for (auto& member : st.plan.members)
    if (member.label == label)
      return &member;
  return nullptr;
}

/// Why a round of members' turns is not sent, or empty when it is: it
/// cannot finish before the question's deadline, having less time left than
/// the last round took.
std::string round_skipped(self_ptr self) {
  auto& st = self->state;
  auto now = actor_now_us(self);
  auto left = st.deadline - now;
  if (left > st.last_round_us)
    return {};
  auto ms = [](int64_t us) {
    return std::to_string(std::max<int64_t>(us, 0) / 1000);
  };
  return "skipped: the round could not finish before the ensemble deadline (" +
         ms(left) + " ms left, the last round took " + ms(st.last_round_us) +
         " ms)";
}

/// The request a round's call sends: a fresh prompt, or (a member's turn
/// that continues the question) the question's conversation, the member's
/// previous reply and the prompt.
chat_request call_request(const aggregator_state& st, const model_call& call,
                          const ensemble_member* member) {
  chat_request request;
  if (member != nullptr && call.continues_question) {
    request = st.question.request;
    request.messages.push_back(chat_message{"assistant", call.previous});
  } else if (!call.system.empty()) {
    request.messages.push_back(chat_message{"system", call.system});
  }
  request.messages.push_back(chat_message{"user", call.prompt});
  if (member != nullptr)
    override_params(request.params, member->params);
  request.stream = st.question.request.stream;
  request.priority = st.question.request.priority;
  request.scope = st.question.request.scope;
  return request;
}

/// Sends the strategy's next calls, or answers when it has its verdict.
void combine_step(self_ptr self) {
  auto& st = self->state;
  auto verdict = st.plan.strategy->combine(st.input);
  std::vector<model_call> round = std::move(verdict.calls);
  if (verdict.call)
    round.insert(round.begin(), std::move(*verdict.call));
  if (round.empty()) {
    answer(self, std::move(verdict));
    return;
  }
  // Only a lone call streams the answer: a round's tokens are not one text.
  st.call_streams_answer = round.size() == 1 && round.front().streams_answer;
  st.round_id = request_id_of(
      st.question, "round#" + std::to_string(st.input.calls.size() + 1));
  auto now = actor_now_us(self);
  st.round_started_at = now;
  // Members' turns share the question's deadline; any other call gets a
  // deadline as long as the members had, from now.
  bool members_turn = std::any_of(round.begin(), round.end(), [](auto& call) {
    return !call.member.empty();
  });
  auto deadline = members_turn ? st.deadline : now + st.plan.deadline_us;
  auto skipped = members_turn ? round_skipped(self) : std::string{};
  std::vector<const ensemble_member*> members(round.size(), nullptr);
  for (size_t i = 0; i < round.size(); ++i) {
    auto& call = round[i];
    pending_call pending;
    pending.label = call.label;
    pending.provider = call.provider;
    pending.id = request_id_of(
        st.question,
        call.label + "#" + std::to_string(st.input.calls.size() + i + 1));
    if (!call.member.empty()) {
      members[i] = member_of(st, call.member);
      if (members[i] != nullptr) {
        pending.provider = members[i]->provider;
        pending.model = members[i]->model;
        pending.actor = members[i]->actor;
      }
    } else if (auto j = st.plan.callees.find(call.provider);
               j != st.plan.callees.end()) {
      pending.model = j->second.model;
      pending.actor = j->second.actor;
    }
    if (!pending.actor) {
      pending.outcome = failed_outcome(
          call.label, pending.provider, "", failure_kind::bad_request,
          call.member.empty()
              ? "the strategy asked provider '" + call.provider +
                    "', which the ensemble does not know"
              : "the strategy asked member '" + call.member +
                    "', which the ensemble does not have");
    } else if (st.calls_cancelled) {
      pending.outcome = failed_outcome(call.label, pending.provider,
                                       pending.model, failure_kind::cancelled,
                                       "not sent: the question was cancelled");
    } else if (!skipped.empty()) {
      pending.outcome =
          failed_outcome(call.label, pending.provider, pending.model,
                         failure_kind::timeout_total, skipped);
    }
    st.calls.push_back(std::move(pending));
  }
  if (round_complete(st)) {
    if (st.question.listener)
      for (auto& call : st.calls)
        self->send(st.question.listener, *call.outcome);
    round_done(self);
    return;
  }
  auto round_id = st.round_id;
  for (size_t i = 0; i < round.size(); ++i) {
    if (st.calls[i].outcome)
      continue;
    auto& call = round[i];
    member_query query;
    query.member = call.label;
    query.request = call_request(st, call, members[i]);
    query.request.id = st.calls[i].id;
    query.request.deadline = deadline;
    // A round's tokens reach the listener labelled with the call; a lone
    // call's may be the answer's own.
    if (st.question.listener)
      query.listener = caf::actor_cast<caf::actor>(self);
    query.progress = st.question.progress && st.question.listener;
    auto model = st.calls[i].model;
    auto label = call.label;
    auto provider = st.calls[i].provider;
    auto on_outcome = [=](member_outcome outcome) {
      auto& st = self->state;
      if (st.answered || st.round_id != round_id || st.calls[i].outcome)
        return;
      outcome.member = label;
      if (st.question.listener)
        self->send(st.question.listener, outcome);
      st.calls[i].outcome = std::move(outcome);
      if (round_complete(st))
        round_done(self);
    };
    self->request(st.calls[i].actor, caf::infinite, query_atom::value,
                  std::move(query))
        .then([=](member_outcome& outcome) { on_outcome(std::move(outcome)); },
              [=](const caf::error& err) {
                on_outcome(failed_outcome(
                    label, provider, model, failure_kind::protocol,
                    "provider actor failed: " + self->system().render(err)));
              });
  }
  st.plan.timers.at(self, deadline + st.plan.grace_us,
                    combine_expire_atom::value, round_id);
}

/// Every member has its outcome: combine.
void settle(self_ptr self) {
  auto& st = self->state;
  if (st.settled)
    return;
  st.settled = true;
  st.last_round_us = actor_now_us(self) - st.started_at;
  for (size_t i = 0; i < st.plan.members.size(); ++i) {
    if (st.phases[i] != member_phase::stopping)
      continue;
    // No report in time: the outcome says so without the usage.
    st.phases[i] = st.stop_kind == failure_kind::cancelled
                       ? member_phase::stopped
                       : member_phase::finished;
    if (st.question.listener)
      self->send(st.question.listener, st.outcomes[i]);
  }
  st.input.question = question_text(st.question.request);
  st.input.outcomes = st.outcomes;
  st.input.arrival = st.arrival;
  st.input.weights.clear();
  for (auto& member : st.plan.members)
    st.input.weights.push_back(member.weight);
  if (st.successes < st.plan.min_success) {
    combined verdict;
    verdict.status = answer_status::failed;
    verdict.note = std::to_string(st.successes) + " of " +
                   std::to_string(st.plan.members.size()) +
                   " members succeeded; the ensemble needs at least " +
                   std::to_string(st.plan.min_success) + " (min_success)";
    answer(self, std::move(verdict));
    return;
  }
  combine_step(self);
}

/// The members are done: stop the rest, let them report what they used,
/// then combine.
void finish_members(self_ptr self, failure_kind stop_kind,
                    const std::string& stop_reason) {
  auto& st = self->state;
  if (st.members_done)
    return;
  st.members_done = true;
  st.stop_kind = stop_kind;
  st.stop_reason = stop_reason;
  for (size_t i = 0; i < st.plan.members.size(); ++i) {
    auto& member = st.plan.members[i];
    if (st.phases[i] == member_phase::running) {
      self->send(member.actor, cancel_atom::value,
                 request_id_of(st.question, member.label));
      st.outcomes[i] = failed_outcome(member, stop_kind, stop_reason);
      st.phases[i] = member_phase::stopping;
      ++st.stopping;
    } else if (st.phases[i] == member_phase::waiting) {
      st.outcomes[i] = failed_outcome(
          member, failure_kind::cancelled,
          st.cancelled_before_asked
              ? "not started: cancelled"
              : "not started: the ensemble was done (" + until_name(st.plan) +
                    ", " + mode_name(st.plan.mode) + ")");
      st.phases[i] = member_phase::stopped;
    }
  }
  if (st.stopping == 0) {
    settle(self);
    return;
  }
  st.plan.timers.at(self, actor_now_us(self) + st.plan.settle_us,
                    settle_atom::value);
}

/// A member told to stop reports: keep what it used, in the ensemble's
/// words. A success that crossed the cancel is a success.
void record_stopped(self_ptr self, size_t index, member_outcome outcome) {
  auto& st = self->state;
  outcome.member = st.plan.members[index].label;
  if (outcome.ok) {
    ++st.successes;
    st.phases[index] = member_phase::finished;
  } else {
    outcome.error.kind = st.stop_kind;
    outcome.error.message = st.stop_reason;
    st.phases[index] = st.stop_kind == failure_kind::cancelled
                           ? member_phase::stopped
                           : member_phase::finished;
  }
  if (st.question.listener)
    self->send(st.question.listener, outcome);
  st.outcomes[index] = std::move(outcome);
  st.arrival.push_back(index);
  if (--st.stopping == 0)
    settle(self);
}

/// After each outcome: is the ensemble done, and who runs next?
void advance(self_ptr self) {
  auto& st = self->state;
  if (st.members_done)
    return;
  auto& plan = st.plan;
  auto count = plan.members.size();
  auto running = running_count(self);
  auto not_started = count - st.next_to_start;
  auto done_reason = [&](const std::string& why) {
    return "cancelled: the ensemble was done (" + why + ")";
  };
  if (plan.mode != run_mode::parallel) {
    // A chain ends at its first success.
    if (st.successes > 0) {
      finish_members(
          self, failure_kind::cancelled,
          done_reason("a member succeeded, " + mode_name(plan.mode)));
      return;
    }
    if (running == 0 && not_started > 0) {
      start_member(self, st.next_to_start);
      return;
    }
  }
  switch (plan.until) {
  case until_rule::first:
    if (st.successes >= 1) {
      finish_members(self, failure_kind::cancelled, done_reason("until first"));
      return;
    }
    break;
  case until_rule::quorum: {
    if (st.successes >= plan.quorum) {
      finish_members(
          self, failure_kind::cancelled,
          done_reason("quorum of " + std::to_string(plan.quorum) + " reached"));
      return;
    }
    // Stop waiting as soon as the quorum cannot be reached any more.
    auto possible = static_cast<size_t>(st.successes) + running + not_started;
    if (possible < static_cast<size_t>(plan.quorum)) {
      finish_members(self, failure_kind::cancelled,
                     done_reason("the quorum can no longer be reached"));
      return;
    }
    break;
  }
  case until_rule::all:
  case until_rule::deadline:
    break;
  }
  if (running == 0 && st.next_to_start >= count)
    finish_members(self, failure_kind::cancelled, done_reason("all done"));
}

void record(self_ptr self, size_t index, member_outcome outcome) {
  auto& st = self->state;
  if (st.phases[index] == member_phase::stopping && !st.settled) {
    record_stopped(self, index, std::move(outcome));
    return;
  }
  if (st.members_done || st.phases[index] != member_phase::running)
    return;
  st.phases[index] = member_phase::finished;
  // The label is the aggregator's to give, whatever the provider said.
  outcome.member = st.plan.members[index].label;
  if (outcome.ok)
    ++st.successes;
  if (st.question.listener)
    self->send(st.question.listener, outcome);
  // A strategy whose answer is the first success to arrive (`arrival`
  // tells it the same order): say so at once.
  if (outcome.ok && st.plan.streams_first_success && !st.answer_streamed &&
      st.question.listener) {
    st.answer_streamed = true;
    self->send(st.question.listener,
               member_delta{outcome.member, outcome.reply.text, true});
  }
  st.outcomes[index] = std::move(outcome);
  st.arrival.push_back(index);
  advance(self);
}

void start_member(self_ptr self, size_t index) {
  auto& st = self->state;
  st.next_to_start = std::max(st.next_to_start, index + 1);
  st.phases[index] = member_phase::running;
  auto& member = st.plan.members[index];
  member_query query;
  query.member = member.label;
  query.request = st.question.request;
  query.request.id = request_id_of(st.question, member.label);
  override_params(query.request.params, member.params);
  // Hedging watches for tokens, so it listens even without a listener.
  if (st.question.listener || st.plan.mode == run_mode::hedged)
    query.listener = caf::actor_cast<caf::actor>(self);
  query.progress = st.question.progress && st.question.listener;
  self->request(member.actor, caf::infinite, query_atom::value,
                std::move(query))
      .then(
          [=](member_outcome& outcome) {
            record(self, index, std::move(outcome));
          },
          [=](const caf::error& err) {
            record(self, index,
                   failed_outcome(
                       self->state.plan.members[index], failure_kind::protocol,
                       "provider actor failed: " + self->system().render(err)));
          });
  if (st.plan.mode == run_mode::hedged && index + 1 < st.plan.members.size())
    st.plan.timers.at(self, actor_now_us(self) + st.plan.hedge_after_us,
                      wake_atom::value, static_cast<uint64_t>(index));
}

/// How long routing waits for a provider to say how it stands before it
/// orders the deployments without it.
constexpr auto route_state_timeout = std::chrono::milliseconds{200};

/// A routed model: asks each deployment's provider how it stands, puts the
/// members in the route's order, then starts the first.
void route_then_start(self_ptr self) {
  auto& st = self->state;
  auto count = st.plan.members.size();
  auto views = std::make_shared<std::vector<deployment_view>>(count);
  for (size_t i = 0; i < count; ++i)
    (*views)[i].weight = st.plan.members[i].weight;
  st.route_replies = count;
  auto one_more = [self, views] {
    auto& st = self->state;
    if (--st.route_replies > 0 || st.members_done || st.answered)
      return; // more to come, or cancelled or expired meanwhile
    auto order = route_order(*st.plan.route, *views, st.plan.route_random);
    std::vector<ensemble_member> ordered;
    ordered.reserve(order.size());
    for (auto i : order)
      ordered.push_back(std::move(st.plan.members[i]));
    st.plan.members = std::move(ordered);
    start_member(self, 0);
  };
  for (size_t i = 0; i < count; ++i)
    self->request(st.plan.members[i].actor, route_state_timeout,
                  state_atom::value)
        .then(
            [=](const provider_snapshot& s) {
              auto& v = (*views)[i];
              v.breaker_open = s.breaker == "open";
              v.in_flight = s.calls;
              v.latency_us = s.latency_us;
              v.requests_left = s.requests_left;
              one_more();
            },
            [=](const caf::error&) { one_more(); });
}

} // namespace

caf::behavior aggregator(self_ptr self, ensemble_plan plan) {
  self->state.plan = std::move(plan);
  return {
      [=](ask_atom,
          ensemble_question& question) -> caf::result<ensemble_answer> {
        auto& st = self->state;
        st.asked = true;
        st.promise = self->make_response_promise();
        st.started_at = actor_now_us(self);
        auto deadline = st.started_at + st.plan.deadline_us;
        if (question.request.deadline > 0)
          deadline = std::min(deadline, question.request.deadline);
        question.request.deadline = deadline;
        st.deadline = deadline;
        st.question = std::move(question);
        auto count = st.plan.members.size();
        st.outcomes.resize(count);
        st.phases.assign(count, member_phase::waiting);
        st.streamed.assign(count, false);
        if (count == 0) {
          finish_members(self, failure_kind::cancelled, "");
          return st.promise;
        }
        if (st.cancelled_before_asked) {
          finish_members(self, failure_kind::cancelled, "cancelled");
          return st.promise;
        }
        if (st.plan.mode == run_mode::parallel) {
          for (size_t i = 0; i < count; ++i)
            start_member(self, i);
        } else if (st.plan.route) {
          route_then_start(self);
        } else {
          start_member(self, 0);
        }
        // `until: deadline` ends at the deadline; otherwise providers fail
        // themselves then, and this is the backstop.
        auto at = st.plan.until == until_rule::deadline
                      ? deadline
                      : deadline + st.plan.grace_us;
        st.plan.timers.at(self, at, expire_atom::value);
        return st.promise;
      },
      [=](member_delta& delta) {
        auto& st = self->state;
        if (st.answered)
          return;
        if (!st.members_done) {
          for (size_t i = 0; i < st.plan.members.size(); ++i)
            if (st.plan.members[i].label == delta.member) {
              if (st.phases[i] != member_phase::running)
                return; // a stopped member's late token
              st.streamed[i] = true;
            }
        } else {
          // A combiner call's tokens, labelled with the call; a lone call's
          // may be the answer's own.
          auto call =
              std::find_if(st.calls.begin(), st.calls.end(), [&](auto& c) {
                return !c.outcome && c.label == delta.member;
              });
          if (call == st.calls.end())
            return;
          delta.answer = st.call_streams_answer;
        }
        if (st.question.listener)
          self->send(st.question.listener, std::move(delta));
      },
      [=](member_progress& progress) {
        // Only the queries of a question that asked for it report this.
        auto& st = self->state;
        if (st.answered || !st.question.listener)
          return;
        if (!st.members_done) {
          for (size_t i = 0; i < st.plan.members.size(); ++i)
            if (st.plan.members[i].label == progress.member &&
                st.phases[i] != member_phase::running)
              return; // a stopped member's late report
        } else if (std::none_of(st.calls.begin(), st.calls.end(), [&](auto& c) {
                     return !c.outcome && c.label == progress.member;
                   })) {
          return;
        }
        self->send(st.question.listener, std::move(progress));
      },
      [=](wake_atom, uint64_t index) {
        // Hedging: the member started `hedge_after` ago.
        auto& st = self->state;
        if (st.members_done || st.phases[index] != member_phase::running ||
            st.streamed[index] || st.next_to_start != index + 1)
          return;
        start_member(self, index + 1);
      },
      [=](expire_atom) {
        auto& st = self->state;
        if (st.members_done)
          return;
        finish_members(self, failure_kind::timeout_total,
                       st.plan.until == until_rule::deadline
                           ? "still running at the ensemble deadline"
                           : "no outcome by the ensemble deadline");
      },
      [=](settle_atom) { settle(self); },
      [=](combine_expire_atom, const std::string& round_id) {
        auto& st = self->state;
        if (st.answered || st.round_id.empty() || st.round_id != round_id)
          return;
        // Calls without an outcome by now are stopped and listed as such;
        // the round goes on with what it has.
        for (auto& call : st.calls) {
          if (call.outcome)
            continue;
          if (call.stopped) {
            call.outcome = failed_outcome(call.label, call.provider, "",
                                          failure_kind::cancelled, "cancelled");
            continue;
          }
          self->send(call.actor, cancel_atom::value, call.id);
          call.outcome = failed_outcome(
              call.label, call.provider, "", failure_kind::timeout_total,
              "no outcome by the combiner call's deadline");
        }
        round_done(self);
      },
      [=](cancel_atom) {
        auto& st = self->state;
        if (!st.asked) {
          st.cancelled_before_asked = true;
          return;
        }
        if (!st.members_done) {
          finish_members(self, failure_kind::cancelled, "cancelled");
          return;
        }
        // Calls the strategy asks for after this are not sent.
        st.calls_cancelled = true;
        for (auto& call : st.calls)
          if (!call.outcome && !call.stopped) {
            call.stopped = true;
            self->send(call.actor, cancel_atom::value, call.id);
          }
      },
  };
}

} // namespace tutti
