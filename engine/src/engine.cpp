// The engine's facade: asking questions, running pipelines, cancelling
// them; engine_impl.hpp holds its state, engine_state.cpp what it reports.

#include "engine/src/engine_impl.hpp"

#include <functional>
#include <map>

namespace tutti {

namespace {

/// How long a step may take at most: its deadline, and as long again for
/// a strategy's own calls (judge, synthesizer).
int64_t step_budget_us(const ensemble_plan& plan) {
  auto rounds = plan.callees.empty() ? 1 : 2;
  return rounds * (plan.deadline_us + plan.grace_us);
}

/// The longest chain of step budgets through the pipeline's needs: how
/// long the run takes at most when every step uses its whole deadline.
int64_t longest_path_us(const pipeline_plan& plan) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < plan.steps.size(); ++i)
    index.emplace(plan.steps[i].id, i);
  std::vector<int64_t> memo(plan.steps.size(), -1);
  std::vector<bool> visiting(plan.steps.size(), false);
  std::function<int64_t(size_t)> finish_of = [&](size_t i) -> int64_t {
    if (memo[i] >= 0)
      return memo[i];
    if (visiting[i])
      return 0; // a cycle: the actor skips those steps
    visiting[i] = true;
    int64_t start = 0;
    for (auto& need : plan.steps[i].needs)
      if (auto j = index.find(need); j != index.end())
        start = std::max(start, finish_of(j->second));
    visiting[i] = false;
    return memo[i] = start + step_budget_us(plan.steps[i].ensemble);
  };
  int64_t longest = 0;
  for (size_t i = 0; i < plan.steps.size(); ++i)
    longest = std::max(longest, finish_of(i));
  return longest;
}

} // namespace

engine::engine(tutti::config cfg, engine_options options)
    : impl_(std::make_unique<impl>(std::move(cfg), options)) {
  // nop
}

engine::~engine() = default;

std::future<ensemble_answer>
engine::ask(const target& to, const std::string& prompt, ask_options options) {
  return ask(to, std::vector<chat_message>{chat_message{"user", prompt}},
             std::move(options));
}

std::future<ensemble_answer> engine::ask(const target& to,
                                         std::vector<chat_message> messages,
                                         ask_options options) {
  auto promise = std::make_shared<std::promise<ensemble_answer>>();
  auto answer = promise->get_future();
  start_ask(to, std::move(messages), std::move(options),
            [promise](ensemble_answer a) { promise->set_value(std::move(a)); });
  return answer;
}

uint64_t engine::start_ask(const target& to, std::vector<chat_message> messages,
                           ask_options options,
                           std::function<void(ensemble_answer)> on_done) {
  impl_->check_open();
  if (to.of == target::kind::provider && options.combine)
    throw config_error(source_location{impl_->cfg().file, 0, 0},
                       "provider '" + to.name +
                           "' is asked alone; only an ensemble has a combine "
                           "strategy to choose");
  if (options.ensemble && to.of != target::kind::ensemble)
    throw config_error(source_location{impl_->cfg().file, 0, 0},
                       "an ensemble of the request's own goes with an "
                       "ensemble target, not provider '" +
                           to.name + "'");
  const auto* choice = options.combine ? &*options.combine : nullptr;
  // One config for the whole question, whatever a reload does meanwhile.
  const auto& cfg = impl_->cfg();
  auto plan =
      to.of == target::kind::provider
          ? impl_->call_plan_for(to.name, source_location{cfg.file, 0, 0})
      : options.ensemble
          ? impl_->plan_for(cfg, to.name, *options.ensemble, choice)
          : impl_->plan_for(cfg, to.name, choice);
  impl_->check_structured(plan, options.params, messages);
  auto deadline_us = plan.deadline_us;
  // A strategy's own calls (judge, synthesizer) get another deadline's
  // length after the members are done.
  auto rounds = plan.callees.empty() ? 1 : 2;
  auto backstop_us = rounds * deadline_us + ask_backstop_us;
  auto id = impl_->next_question++;
  ensemble_question question;
  question.prompt_id = "q" + std::to_string(id);
  question.request.id = question.prompt_id;
  auto context = impl_->context_for(options.record, "ask");
  context.target_kind =
      to.of == target::kind::provider ? "provider" : "ensemble";
  context.target = to.name;
  // The store keeps the system prompt and this question's own messages;
  // the history is the earlier runs' and stored with them already.
  std::vector<chat_message> kept;
  bool keep_prompt = !context.id.empty() && context.texts;
  if (!options.system.empty()) {
    question.request.messages.push_back(chat_message{"system", options.system});
    if (keep_prompt)
      kept.push_back(question.request.messages.back());
  }
  for (auto& m : options.history)
    question.request.messages.push_back(std::move(m));
  options.history.clear();
  for (auto& m : messages) {
    if (keep_prompt)
      kept.push_back(m);
    question.request.messages.push_back(std::move(m));
  }
  if (keep_prompt)
    context.prompt = messages_json(kept);
  question.request.params = options.params;
  question.request.stream = options.stream;
  question.request.priority = options.priority;
  question.request.deadline = steady_now_us() + deadline_us;
  auto& scope = question.request.scope;
  if (to.of == target::kind::ensemble) {
    scope.ensemble = to.name;
    scope.cache = options.ensemble ? options.ensemble->cache
                                   : cfg.ensembles.at(to.name).cache;
  }
  scope.key = options.record.key;
  scope.key_budget = options.key_budget;
  scope.no_cache = options.no_cache;
  ask_watch_state watch;
  watch.ensemble = plan.name;
  watch.options = std::move(options);
  auto* state = impl_.get();
  watch.on_done = [state, id, context = std::move(context),
                   done = std::move(on_done)](ensemble_answer a) mutable {
    state->record(a);
    state->keep(context, id, a);
    done(std::move(a));
  };
  watch.forget = [state, id] { state->forget(state->asks, id); };
  std::lock_guard<std::mutex> guard{impl_->mtx};
  impl_->check_open(); // destruction may have begun since the first check
  watch.timers = impl_->timers;
  watch.agg = impl_->system->spawn(aggregator, std::move(plan));
  impl_->asks.emplace(id, watch.agg);
  impl_->system->spawn(ask_watch, std::move(watch), std::move(question),
                       backstop_us);
  return id;
}

uint64_t engine::start_embed(const std::string& provider,
                             std::vector<std::string> inputs,
                             embed_options options,
                             std::function<void(member_outcome)> on_done) {
  impl_->check_open();
  source_location where{impl_->cfg().file, 0, 0};
  auto actor = impl_->provider_for(provider, where);
  auto& pc = impl_->cfg().providers.at(provider);
  auto wire = impl_->plugins->make_codec(pc.kind);
  if (!wire || !wire->takes_embeddings())
    throw unsupported_request(
        "model", "provider '" + provider + "' (kind " + pc.kind +
                     ") has no embeddings endpoint; ask a provider of a kind "
                     "that embeds (openai, openai-compatible, azure-openai, "
                     "gemini, ollama, bedrock)");
  if (options.dimensions != 0 && !wire->takes_embedding_dimensions())
    throw unsupported_request(
        "dimensions", "provider '" + provider + "' (kind " + pc.kind +
                          ") cannot choose the embeddings' dimensions: its "
                          "vendor has no such field");
  if (options.dimensions < 0 || options.dimensions > max_embedding_dimensions)
    throw unsupported_request("dimensions",
                              "dimensions must be from 1 to " +
                                  std::to_string(max_embedding_dimensions));
  if (inputs.empty() || inputs.size() > max_embedding_inputs)
    throw unsupported_request(
        "input", "input must hold from 1 to " +
                     std::to_string(max_embedding_inputs) + " texts");
  auto id = impl_->next_question++;
  auto deadline_us = pc.timeouts.total_ms > 0 ? pc.timeouts.total_ms * 1000
                                              : engine_detail::call_deadline_us;
  auto context = impl_->context_for(options.record, "embedding");
  context.target_kind = "provider";
  context.target = provider;
  // Embeddings are no turn of a conversation: a session's history would
  // read their texts back as questions.
  context.session.clear();
  if (!context.id.empty() && context.texts) {
    std::vector<chat_message> kept;
    for (auto& text : inputs)
      kept.push_back(chat_message{"user", text});
    context.prompt = messages_json(kept);
  }
  embed_watch_state watch;
  watch.provider = actor;
  watch.provider_name = provider;
  watch.model = pc.embedding_model.empty() ? pc.model : pc.embedding_model;
  auto batch = std::max<size_t>(1, wire->max_embedding_batch());
  auto deadline = steady_now_us() + deadline_us;
  for (size_t first = 0; first < inputs.size(); first += batch) {
    chat_request call;
    call.id = "e" + std::to_string(id) + "." + std::to_string(first / batch);
    call.deadline = deadline;
    call.priority = options.priority;
    call.scope.key = options.record.key;
    call.scope.key_budget = options.key_budget;
    call.scope.no_cache = true;
    call.embedding.dimensions = options.dimensions;
    auto last = std::min(inputs.size(), first + batch);
    for (auto i = first; i < last; ++i)
      call.embedding.inputs.push_back(std::move(inputs[i]));
    watch.calls.push_back(std::move(call));
  }
  auto* state = impl_.get();
  watch.on_done =
      [state, id, context = std::move(context), done = std::move(on_done)](
          member_outcome outcome, std::vector<member_outcome> calls) mutable {
        // As the store and the metrics see it: a provider asked alone, each
        // call one member (labelled by its place when there are several).
        ensemble_answer answer;
        answer.ensemble = outcome.provider;
        answer.status = outcome.ok ? answer_status::ok : answer_status::failed;
        answer.combine = "embedding";
        for (size_t i = 0; i < calls.size(); ++i) {
          calls[i].member = calls.size() == 1 ? outcome.provider
                                              : outcome.provider + "[" +
                                                    std::to_string(i) + "]";
          // The store keeps texts, not vectors.
          calls[i].reply.embeddings.clear();
        }
        answer.members = std::move(calls);
        answer.usage = outcome.ok ? outcome.reply.usage : outcome.error.usage;
        answer.cost_usd =
            outcome.ok ? outcome.reply.cost_usd : outcome.error.cost_usd;
        answer.total_us = outcome.total_us();
        if (outcome.ok)
          answer.text =
              std::to_string(outcome.reply.embeddings.size()) + " embeddings";
        else
          answer.note = outcome.error.message;
        state->record(answer);
        state->keep(context, id, answer);
        done(std::move(outcome));
      };
  watch.forget = [state, id] { state->forget(state->asks, id); };
  std::lock_guard<std::mutex> guard{impl_->mtx};
  impl_->check_open(); // destruction may have begun since the first check
  watch.timers = impl_->timers;
  auto watcher = impl_->system->spawn(embed_watch, std::move(watch),
                                      deadline_us + ask_backstop_us);
  impl_->asks.emplace(id, watcher);
  return id;
}

uint64_t engine::start_run(const std::string& name,
                           const std::map<std::string, std::string>& inputs,
                           run_options options,
                           std::function<void(pipeline_result)> on_done) {
  impl_->check_open();
  auto plan = impl_->pipeline_plan_for(name, inputs);
  auto id = impl_->next_question++;
  plan.run_id = "r" + std::to_string(id);
  plan.stream = options.stream;
  plan.member_outcomes = static_cast<bool>(options.on_member_done);
  plan.member_progress = static_cast<bool>(options.on_member_progress);
  plan.priority = options.priority;
  plan.scope.key = options.record.key;
  plan.scope.key_budget = options.key_budget;
  plan.scope.no_cache = options.no_cache;
  run_watch_state watch;
  watch.pipeline = name;
  for (auto& step : plan.steps)
    watch.step_ids.push_back(step.id);
  auto backstop_us = longest_path_us(plan) + ask_backstop_us;
  auto context = impl_->context_for(options.record, "run");
  context.target_kind = "pipeline";
  context.target = name;
  if (!context.id.empty() && context.texts)
    context.prompt = inputs_json(inputs);
  watch.options = std::move(options);
  auto* state = impl_.get();
  watch.on_done = [state, id, context = std::move(context),
                   done = std::move(on_done)](pipeline_result r) mutable {
    state->record(r);
    state->keep(context, id, r);
    done(std::move(r));
  };
  watch.forget = [state, id] { state->forget(state->runs, id); };
  std::lock_guard<std::mutex> guard{impl_->mtx};
  impl_->check_open(); // destruction may have begun since the first check
  watch.timers = impl_->timers;
  watch.pipe = impl_->system->spawn(pipeline, std::move(plan));
  impl_->runs.emplace(id, watch.pipe);
  impl_->system->spawn(run_watch, std::move(watch), backstop_us);
  return id;
}

bool engine::cancel(uint64_t handle) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  for (auto* table : {&impl_->asks, &impl_->runs})
    if (auto i = table->find(handle); i != table->end()) {
      impl_->cancelled.insert(handle);
      caf::anon_send(i->second, cancel_atom::value);
      return true;
    }
  return false;
}

std::future<pipeline_result>
engine::run(const std::string& name,
            const std::map<std::string, std::string>& inputs,
            run_options options) {
  auto promise = std::make_shared<std::promise<pipeline_result>>();
  auto result = promise->get_future();
  start_run(name, inputs, std::move(options),
            [promise](pipeline_result r) { promise->set_value(std::move(r)); });
  return result;
}

engine engine::from_file(const std::string& path, engine_options options) {
  auto plugins = engine_detail::plugins_of(options);
  return engine{load_config(path, *plugins), options};
}

engine engine::from_yaml(const std::string& yaml_text, engine_options options,
                         const std::string& name) {
  auto plugins = engine_detail::plugins_of(options);
  return engine{parse_config(yaml_text, name, *plugins), options};
}

engine::engine(engine&&) noexcept = default;
engine& engine::operator=(engine&&) noexcept = default;

} // namespace tutti
