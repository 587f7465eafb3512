#pragma once

/// The engine's state behind its facade (`engine::impl`), shared by
/// engine.cpp (questions, runs, cancelling) and engine_state.cpp (what the
/// engine reports: providers, metrics, the store, budgets). Private: only
/// those two include it.

#include "tutti/engine.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/after.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/aggregator.hpp"
#include "actors/pipeline.hpp"
#include "actors/protocol.hpp"
#include "actors/provider.hpp"
#include "actors/rate_limiter.hpp"
#include "actors/response_cache.hpp"
#include "actors/transport.hpp"
#include "engine/src/names.hpp"
#include "engine/src/run_records.hpp"
#include "engine/src/spend_ledger.hpp"
#include "engine/src/watchers.hpp"
#include "store/store_writer.hpp"
#include "tutti/registry.hpp"

namespace tutti {

namespace engine_detail {

/// The provider's limit group; a config built by hand may leave it empty,
/// which means the provider's own group.
inline const std::string& limit_group_of(const provider_config& pc) {
  return pc.limit_group.empty() ? pc.name : pc.limit_group;
}

/// How long a `call:` step may take when its provider sets no total
/// timeout: the default ensemble deadline.
constexpr int64_t call_deadline_us = 60'000'000;

/// "'a', 'b'"
inline std::string quoted_names(const std::vector<std::string>& names) {
  std::vector<std::string> quoted;
  for (auto& name : names)
    quoted.push_back("'" + name + "'");
  return join_names(quoted);
}

/// Answers every probe at once: its round trip is the scheduler's lag.
inline caf::behavior lag_probe() {
  return {[](state_atom) { return true; }};
}

/// The registry an engine uses: the host's, or the built-ins (which live
/// for the whole program, so a non-owning pointer holds them).
inline std::shared_ptr<const registry>
plugins_of(const engine_options& options) {
  if (options.plugins)
    return options.plugins;
  return std::shared_ptr<const registry>{std::shared_ptr<void>{},
                                         &registry::builtin()};
}

/// The kind's own keys as `${VAR}` expanded them, checked as the config
/// reader checks a literal value.
inline void check_expanded_options(const provider_config& pc,
                                   const codec& wire) {
  for (const auto& key : wire.keys()) {
    auto value = pc.options.find(key.name);
    if (key.check == nullptr || value == pc.options.end())
      continue;
    if (auto problem = key.check(value->second); !problem.empty()) {
      auto where = pc.options_where.find(key.name);
      throw config_error(where != pc.options_where.end() ? where->second
                                                         : pc.where,
                         "providers." + pc.name + "." + key.name + ": " +
                             problem + " after expanding ${...}");
    }
  }
}

} // namespace engine_detail

struct engine::impl {
  /// Every config loaded (the first, then each `reload`'s), kept for the
  /// engine's life: questions in flight and callers hold references into
  /// them. `current` is the one new questions start with.
  std::vector<std::unique_ptr<const tutti::config>> configs; // guarded by mtx
  std::atomic<const tutti::config*> current{nullptr};

  const tutti::config& cfg() const {
    return *current.load(std::memory_order_acquire);
  }
  caf::actor_system_config system_config;
  std::unique_ptr<caf::actor_system> system;
  std::shared_ptr<transport> net;
  std::mutex mtx;
  /// Draws for routed models' weighted orders (guarded by mtx).
  std::mt19937_64 route_draws{std::random_device{}()};

  uint64_t route_random() {
    std::lock_guard<std::mutex> guard{mtx};
    return route_draws();
  }
  std::map<std::string, caf::actor> providers; // guarded by mtx
  std::map<std::string, caf::actor> limiters;  // by group, guarded by mtx
  std::vector<caf::actor> long_lived;          // guarded by mtx
  std::map<uint64_t, caf::actor> runs; // pipeline actors by run, guarded by mtx
  std::map<uint64_t, caf::actor>
      asks; // aggregators by question, guarded by mtx
  std::condition_variable all_answered; // asks and runs both empty
  /// Set, under mtx, when destruction begins; read without it by the quick
  /// check at a call's start, and again under mtx before anything spawns.
  std::atomic<bool> closing{false};
  std::atomic<uint64_t> next_question{1};
  caf::actor probe;
  tutti::timers timers; ///< the engine's timer service
  steady_us started = steady_now_us();

  std::mutex metrics_mtx;
  std::map<std::string, provider_metrics> by_provider; // guarded by metrics_mtx
  std::map<std::string, answer_metrics> by_ensemble;   // guarded by metrics_mtx
  std::map<std::string, answer_metrics> by_pipeline;   // guarded by metrics_mtx

  /// The plugins the config names (the built-ins unless the host gave its
  /// own).
  std::shared_ptr<const registry> plugins;

  /// Writes every answer to the store; null with `store: none`.
  std::unique_ptr<store_writer> writer;
  store_config store_settings; ///< with its URL expanded
  std::mutex reader_mtx;
  std::unique_ptr<run_store> reader; ///< for sessions; guarded by reader_mtx
  std::set<uint64_t> cancelled; ///< asks and runs cancelled; guarded by mtx
  /// Where the store, the budgets and the cache tell of their state:
  /// `engine_options::log`, else standard error.
  std::function<void(const std::string&)> log;
  /// Spend budgets: every provider's calls reserve and settle here.
  std::shared_ptr<spend_ledger> ledger = std::make_shared<spend_ledger>();
  caf::actor cache; ///< the response cache; null when nothing is cached
  /// `engine_options::memory_cache`: the cache never reads or writes the
  /// store.
  bool memory_cache = false;

  impl(tutti::config c, const engine_options& options)
      : plugins(engine_detail::plugins_of(options)), log(options.log),
        memory_cache(options.memory_cache) {
    configs.push_back(std::make_unique<const tutti::config>(std::move(c)));
    current.store(configs.back().get(), std::memory_order_release);
    validate_config(cfg(), *plugins);
    if (!log)
      log = [](const std::string& line) {
        std::fprintf(stderr, "tutti: %s\n", line.c_str());
      };
    if (!store_is_off(cfg().store)) {
      auto settings = cfg().store;
      settings.url = expand_env(settings.url, cfg().store_where, "store");
      store_settings = settings;
      writer = std::make_unique<store_writer>(std::move(settings), log);
    }
    system_config.add_message_types<caf::id_block::tutti>();
    system_config.add_message_types<caf::id_block::tutti_pipeline>();
    if (options.worker_threads > 0)
      system_config.set("scheduler.max-threads", options.worker_threads);
    // An idle worker spins briefly, then waits on its condition variable
    // (woken by the next job handed to it from outside the scheduler, as the
    // transport's replies and the callers' questions are). CAF's default
    // first sleeps 50 us at a time for 25 ms, a context switch each; waiting
    // instead halved the workers' CPU on two cores and sped up the rest
    // (docs/benchmarks.md, "Idle workers wait instead of polling").
    system_config.set("work-stealing.moderate-sleep-duration",
                      caf::timespan{0});
    system_config.set("logger.verbosity", caf::atom("quiet"));
    system = std::make_unique<caf::actor_system>(system_config);
    net = std::make_shared<transport>();
    probe = system->spawn(engine_detail::lag_probe);
    long_lived.push_back(probe);
    auto service = system->spawn(timer_service);
    long_lived.push_back(service);
    timers = tutti::timers{service};
    start_budgets();
    start_cache();
  }

  /// The budgets of the config, and what was spent this month before this
  /// engine started (from the store's roll-up).
  void start_budgets() {
    for (auto& [name, pc] : cfg().providers)
      ledger->set_limit("provider", name, pc.budget);
    for (auto& [name, ec] : cfg().ensembles)
      ledger->set_limit("ensemble", name, ec.budget);
    if (!writer)
      return;
    try {
      auto store = open_store(store_settings, true);
      auto now = unix_now_ms();
      for (auto& row : store->spend_since(month_start_ms(now))) {
        ledger->add_spent("provider", row.provider, row.hour_ms, row.cost_usd,
                          now);
        if (!row.ensemble.empty())
          ledger->add_spent("ensemble", row.ensemble, row.hour_ms, row.cost_usd,
                            now);
        if (!row.key.empty())
          ledger->add_spent("key", row.key, row.hour_ms, row.cost_usd, now);
      }
    } catch (const std::exception& e) {
      log(std::string{"spend budgets start from $0: the store's spend "
                      "could not be read ("} +
          e.what() + ")");
    }
  }

  /// The response cache, when a provider or an ensemble has `cache:`; in
  /// the store too when it keeps texts (and `memory_cache` is off), else in
  /// memory only.
  void start_cache() {
    bool wanted = false;
    for (auto& [name, pc] : cfg().providers)
      wanted = wanted || pc.cache.ttl_ms > 0;
    for (auto& [name, ec] : cfg().ensembles)
      wanted = wanted || ec.cache.ttl_ms > 0;
    if (!wanted)
      return;
    response_cache_deps deps;
    deps.log = log;
    if (writer && cfg().store.texts && !memory_cache) {
      deps.store = store_settings;
      // Its store reads block: a thread of its own, off the scheduler.
      cache = system->spawn<caf::detached>(response_cache, std::move(deps));
    } else {
      cache = system->spawn(response_cache, std::move(deps));
    }
    long_lived.push_back(cache);
  }

  ~impl() {
    std::unique_lock<std::mutex> guard{mtx};
    closing = true;
    // Questions and runs end first, each with what its members have, so
    // that their callbacks see an answer before the providers go. A
    // cancelled member reports within the aggregator's grace (100 ms); the
    // wait is bounded in case a callback of the host's hangs.
    for (auto& [id, agg] : asks)
      caf::anon_send(agg, cancel_atom::value);
    for (auto& [id, pipe] : runs)
      caf::anon_send(pipe, cancel_atom::value);
    all_answered.wait_for(guard, std::chrono::seconds{2},
                          [this] { return asks.empty() && runs.empty(); });
    for (auto& actor : long_lived)
      caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    long_lived.clear();
    providers.clear();
    limiters.clear();
    probe = nullptr;
    cache = nullptr;
    guard.unlock();
    system.reset(); // waits for every actor to finish
    net.reset();    // then joins the transport thread
    writer.reset(); // writes the last answers (for at most 5 s)
  }

  /// Whether `cancel` was asked for question or run `id`; forgets it.
  bool take_cancelled(uint64_t id) {
    std::lock_guard<std::mutex> guard{mtx};
    return cancelled.erase(id) > 0;
  }

  /// Hands a finished question or run to the store writer.
  template <class Result>
  void keep(run_context& context, uint64_t id, const Result& result) {
    context.cancelled = take_cancelled(id);
    if (!writer || context.id.empty())
      return;
    // `context` is not used again: the answer comes once.
    writer->submit(stored_run_of(std::move(context), result));
  }

  /// Who asked and when, for the store; the id stays empty when the
  /// question is not kept.
  run_context context_for(const record_options& record,
                          const char* default_kind) {
    run_context context;
    if (!writer || !record.keep)
      return context;
    context.id = record.run_id.empty() ? new_run_id() : record.run_id;
    context.kind = record.kind.empty() ? default_kind : record.kind;
    context.key = record.key;
    context.session = record.session;
    context.started_ms = unix_now_ms();
    context.texts = cfg().store.texts;
    return context;
  }

  /// Takes a finished question or run off its table.
  void forget(std::map<uint64_t, caf::actor>& table, uint64_t id) {
    std::lock_guard<std::mutex> guard{mtx};
    table.erase(id);
    if (asks.empty() && runs.empty())
      all_answered.notify_all();
  }

  void check_open() const {
    if (closing.load())
      throw std::logic_error("tutti::engine: called while it is being "
                             "destroyed");
  }

  /// Counts one provider call's outcome.
  void record(const member_outcome& m) {
    auto& p = by_provider[m.provider];
    p.provider = m.provider;
    ++p.calls;
    auto& time = m.ok ? m.reply.timing : m.error.timing;
    p.attempts +=
        static_cast<uint64_t>(m.ok ? m.reply.attempts : m.error.attempts);
    if (m.ok) {
      ++p.ok;
    } else {
      ++p.failures[std::string{to_string(m.error.kind)}];
    }
    auto& used = m.ok ? m.reply.usage : m.error.usage;
    if (m.ok && m.reply.cached) {
      ++p.cached;
      p.saved_usage.input_tokens += used.input_tokens;
      p.saved_usage.output_tokens += used.output_tokens;
      p.saved_usage.cached_input_tokens += used.cached_input_tokens;
      p.latency.observe(static_cast<double>(time.total_us) / 1e6);
      return;
    }
    p.usage.input_tokens += used.input_tokens;
    p.usage.output_tokens += used.output_tokens;
    p.usage.cached_input_tokens += used.cached_input_tokens;
    p.cost_usd += m.ok ? m.reply.cost_usd : m.error.cost_usd;
    p.latency.observe(static_cast<double>(time.total_us) / 1e6);
    if (time.first_token_us >= 0)
      p.first_token.observe(static_cast<double>(time.first_token_us) / 1e6);
  }

  void record_calls(const ensemble_answer& answer) {
    for (auto& m : answer.members)
      record(m);
    for (auto& m : answer.combiner_calls)
      record(m);
  }

  static void record_answer(std::map<std::string, answer_metrics>& table,
                            const std::string& name, answer_status status,
                            int64_t total_us) {
    auto& a = table[name];
    a.name = name;
    ++a.by_status[std::string{to_string(status)}];
    a.latency.observe(static_cast<double>(total_us) / 1e6);
  }

  void record(const ensemble_answer& answer) {
    std::lock_guard<std::mutex> guard{metrics_mtx};
    record_calls(answer);
    record_answer(by_ensemble, answer.ensemble, answer.status, answer.total_us);
  }

  void record(const pipeline_result& result) {
    std::lock_guard<std::mutex> guard{metrics_mtx};
    for (auto& step : result.steps)
      if (step.started_us >= 0)
        record_calls(step.answer);
    record_answer(by_pipeline, result.pipeline, result.status, result.total_us);
  }

  /// `engine::reload`: see there.
  void reload(tutti::config next) {
    validate_config(next, *plugins);
    std::lock_guard<std::mutex> guard{mtx};
    check_open();
    const auto& old = cfg();
    if (next.store.url != old.store.url || next.store.texts != old.store.texts)
      throw config_error(next.store_where.line > 0
                             ? next.store_where
                             : source_location{next.file, 0, 0},
                         "store: a reload cannot change where or what runs "
                         "are kept; restart to change it");
    // A limit group is its providers' definitions: any change, and the
    // group's limiter and every provider in it start anew on next use.
    auto groups_of = [](const tutti::config& c) {
      std::map<std::string, std::string> groups;
      for (auto& [name, pc] : c.providers)
        groups[engine_detail::limit_group_of(pc)] +=
            name + '\n' + pc.definition + '\n';
      return groups;
    };
    auto before = groups_of(old);
    auto after = groups_of(next);
    for (auto i = providers.begin(); i != providers.end();) {
      auto o = old.providers.find(i->first);
      auto n = next.providers.find(i->first);
      bool same = o != old.providers.end() && n != next.providers.end() &&
                  o->second.definition == n->second.definition &&
                  !o->second.definition.empty() &&
                  before[engine_detail::limit_group_of(o->second)] ==
                      after[engine_detail::limit_group_of(n->second)];
      // A replaced actor stays in long_lived: it finishes the calls it has.
      i = same ? std::next(i) : providers.erase(i);
    }
    for (auto i = limiters.begin(); i != limiters.end();)
      i = before[i->first] == after[i->first] && after.count(i->first) > 0
              ? std::next(i)
              : limiters.erase(i);
    for (auto& [name, pc] : next.providers)
      ledger->set_limit("provider", name, pc.budget);
    for (auto& [name, ec] : next.ensembles)
      ledger->set_limit("ensemble", name, ec.budget);
    configs.push_back(std::make_unique<const tutti::config>(std::move(next)));
    current.store(configs.back().get(), std::memory_order_release);
    if (!cache)
      start_cache(); // a `cache:` rule may be new
  }

  /// The limiter of the provider's limit group, started on first use.
  /// Every provider of a group carries the group's budgets (the config
  /// loader sees to that), so the first one to start sets them.
  caf::actor limiter_for(const provider_config& pc) {
    auto group = engine_detail::limit_group_of(pc);
    if (auto i = limiters.find(group); i != limiters.end())
      return i->second;
    limiter_settings limits;
    limits.group = group;
    limits.concurrency = pc.concurrency;
    limits.max_queue = pc.max_queue;
    limits.requests =
        window_budget{pc.requests.count, pc.requests.per_ms * 1000};
    limits.tokens = window_budget{pc.tokens.count, pc.tokens.per_ms * 1000};
    limits.timers = timers;
    auto limiter = system->spawn(rate_limiter, limits);
    long_lived.push_back(limiter);
    limiters.emplace(group, limiter);
    return limiter;
  }

  /// The provider actor for `name`, started on first use.
  caf::actor provider_for(const std::string& name,
                          const source_location& used_at) {
    std::lock_guard<std::mutex> guard{mtx};
    check_open(); // nothing spawns once destruction has begun
    if (auto i = providers.find(name); i != providers.end())
      return i->second;
    auto p = cfg().providers.find(name);
    if (p == cfg().providers.end())
      throw config_error(used_at, "unknown provider '" + name +
                                      "'; expected one of: " +
                                      join_names(keys_of(cfg().providers)));
    auto resolved = cfg();
    resolve_env(resolved, {name});
    auto& pc = resolved.providers.at(name);
    std::shared_ptr<const codec> wire = plugins->make_codec(pc.kind);
    if (!wire)
      throw config_error(pc.where, "unknown provider kind '" + pc.kind + "'");
    engine_detail::check_expanded_options(pc, *wire);
    auto limiter = limiter_for(pc);
    provider_deps deps;
    deps.settings.name = name;
    deps.settings.kind = pc.kind;
    deps.settings.model = pc.model;
    deps.settings.embedding_model = pc.embedding_model;
    deps.settings.base_url = pc.base_url;
    deps.settings.api_key = pc.api_key;
    deps.settings.defaults = pc.defaults;
    deps.settings.extra_headers.assign(pc.headers.begin(), pc.headers.end());
    deps.settings.options = pc.options;
    deps.timeouts = pc.timeouts;
    deps.retry = pc.retry;
    deps.price = pc.price;
    deps.breaker = pc.breaker;
    deps.ca_file = pc.ca_file;
    deps.wire = std::move(wire);
    deps.limiter = limiter;
    deps.net = net;
    deps.timers = timers;
    deps.ledger = ledger;
    deps.cache = cache;
    deps.cache_rule = pc.cache;
    auto actor = system->spawn(provider, std::move(deps));
    long_lived.push_back(actor);
    providers.emplace(name, actor);
    return actor;
  }

  /// `choice`: a strategy for this question instead of the ensemble's.
  ensemble_plan plan_for(const std::string& name,
                         const combine_choice* choice = nullptr) {
    return plan_for(cfg(), name, choice);
  }

  /// The plan of ensemble `name` of `c` (one config throughout, whatever a
  /// reload does meanwhile).
  ensemble_plan plan_for(const tutti::config& c, const std::string& name,
                         const combine_choice* choice) {
    auto e = c.ensembles.find(name);
    if (e == c.ensembles.end())
      throw config_error(source_location{c.file, 0, 0},
                         "unknown ensemble '" + name + "'; expected one of: " +
                             join_names(keys_of(c.ensembles)));
    return plan_for(c, name, e->second, choice);
  }

  /// The plan of `ec`, one of `c`'s or a request's own.
  ensemble_plan plan_for(const tutti::config& c, const std::string& name,
                         const ensemble_config& ec,
                         const combine_choice* choice) {
    ensemble_plan plan;
    plan.name = name;
    plan.timers = timers;
    const auto& combine = choice ? choice->name : ec.combine;
    const auto& settings = choice ? choice->settings : ec.combine_settings;
    plan.combine_name = combine;
    plan.strategy = choice
                        ? validate_combine_choice("combine", ec.where, combine,
                                                  settings, c, *plugins)
                        : plugins->make_combine(combine, settings);
    if (!plan.strategy)
      throw config_error(ec.where,
                         "unknown combine strategy '" + combine + "'");
    const auto* traits = plugins->traits_of(combine);
    plan.streams_first_success = traits && traits->streams_first_success;
    plan.until = ec.until;
    plan.quorum = ec.quorum;
    plan.mode = ec.mode;
    plan.hedge_after_us = ec.hedge_after_ms * 1000;
    plan.min_success = ec.min_success;
    plan.deadline_us = ec.deadline_ms * 1000;
    if (ec.route) {
      plan.route = ec.route;
      plan.route_random = route_random();
    }
    for (auto& member : ec.members) {
      auto actor = provider_for(member.provider, member.where);
      auto& pc = c.providers.at(member.provider);
      for (int draw = 1; draw <= member.samples; ++draw) {
        ensemble_member m{member.label, member.provider, pc.model,
                          actor,        member.params,   member.weight};
        if (member.samples > 1) {
          // Self-consistency: each draw its own seed.
          m.label += ":" + std::to_string(draw);
          auto base = member.params.seed.value_or(pc.defaults.seed.value_or(0));
          m.params.seed = base + draw - 1;
        }
        plan.members.push_back(std::move(m));
      }
    }
    for (auto& called : plan.strategy->providers_called())
      plan.callees.emplace(called,
                           ensemble_callee{c.providers.count(called) > 0
                                               ? c.providers.at(called).model
                                               : "",
                                           provider_for(called, ec.where)});
    return plan;
  }

  /// Throws `unsupported_request` when `plan` cannot honour what `params`
  /// and `messages` ask beyond text and sampling: tools or a JSON response
  /// format for a strategy that writes an answer of its own, or anything
  /// (tools, a forced tool choice, a JSON format, images, a penalty,
  /// reasoning_effort) a member's codec cannot send.
  void check_structured(const ensemble_plan& plan, const chat_params& params,
                        const std::vector<chat_message>& messages) {
    bool images = false;
    bool image_urls = false;
    for (auto& m : messages)
      for (auto& part : m.parts) {
        images = images || part.is_image();
        image_urls = image_urls || !part.image.url.empty();
      }
    // Plain questions (nearly all) build no codec here.
    if (!params.structured() && !params.frequency_penalty &&
        !params.presence_penalty && params.reasoning_effort.empty() &&
        !images && !params.logprobs && !params.n)
      return;
    const auto* traits = plugins->traits_of(plan.combine_name);
    if (params.logprobs &&
        (traits == nullptr || !traits->answers_with_a_member))
      throw unsupported_request(
          "logprobs", "combine '" + plan.combine_name +
                          "' writes an answer of its own, whose tokens no "
                          "model chose: there are no log probabilities to "
                          "return; use first, vote, judge or rank");
    if (params.n && plan.combine_name != "first")
      throw unsupported_request(
          "n", "n > 1 asks one model for several choices, and combine '" +
                   plan.combine_name +
                   "' answers with one: ask a provider, an ensemble that "
                   "combines with first, or give a member samples: for "
                   "several draws to combine");
    if (params.structured() &&
        (traits == nullptr || !traits->answers_with_a_member))
      throw unsupported_request(
          params.tools.empty() ? "response_format" : "tools",
          "combine '" + plan.combine_name +
              "' writes an answer of its own, so it cannot answer with tool "
              "calls or keep to a JSON response_format; use first, vote, "
              "judge or rank");
    // Only the members are sent them: a judge is asked about the replies.
    for (auto& member : plan.members) {
      auto& name = member.provider;
      auto& pc = cfg().providers.at(name);
      auto codec = plugins->make_codec(pc.kind);
      auto takes = [&](bool (codec::*can)() const) {
        return codec && ((*codec).*can)();
      };
      auto forced = params.tool_choice.mode == "required" ||
                    params.tool_choice.mode == "function";
      std::string param;
      std::string what;
      if (!params.tools.empty() && !takes(&codec::takes_tools)) {
        param = "tools";
        what = "tools";
      } else if (forced && !takes(&codec::takes_forced_tool_choice)) {
        param = "tool_choice";
        what = "a tool_choice that forces a call";
      } else if (params.response_format.is_json() &&
                 !takes(&codec::takes_response_format)) {
        param = "response_format";
        what = "a JSON response_format";
      } else if (images && !takes(&codec::takes_images)) {
        param = "messages";
        what = "images";
      } else if (image_urls && !takes(&codec::takes_image_urls)) {
        param = "messages";
        what = "an image by URL (give it inline, as a data: URL; tutti does "
               "not fetch URLs)";
      } else {
        for (auto [set, field] :
             {std::pair{params.frequency_penalty.has_value(),
                        "frequency_penalty"},
              std::pair{params.presence_penalty.has_value(),
                        "presence_penalty"},
              std::pair{!params.reasoning_effort.empty(), "reasoning_effort"},
              std::pair{params.logprobs, "logprobs"},
              std::pair{params.n.has_value(), "n"}})
          if (set && !(codec && codec->takes_param(field)) && param.empty()) {
            param = field;
            what = field;
          }
      }
      if (!param.empty())
        throw unsupported_request(param, "provider '" + name + "' (kind " +
                                             pc.kind + ") cannot be sent " +
                                             what +
                                             ": its vendor has no such "
                                             "field, or its codec does not "
                                             "map it yet");
    }
  }

  /// A `call:` step: one member on `provider`, its reply is the answer.
  ensemble_plan call_plan_for(const std::string& provider,
                              const source_location& used_at) {
    auto actor = provider_for(provider, used_at);
    auto& pc = cfg().providers.at(provider);
    ensemble_plan plan;
    plan.name = provider;
    plan.timers = timers;
    plan.combine_name = "first";
    plan.strategy = plugins->make_combine("first", {});
    if (!plan.strategy)
      throw config_error(used_at, "the combine strategy 'first' is missing");
    plan.streams_first_success = true; // one member: its reply is the answer
    plan.until = until_rule::all;
    plan.deadline_us = pc.timeouts.total_ms > 0
                           ? pc.timeouts.total_ms * 1000
                           : engine_detail::call_deadline_us;
    plan.members.push_back(
        ensemble_member{provider, provider, pc.model, actor, {}, 1.0});
    return plan;
  }

  /// The plan of one run of pipeline `name`; checks the inputs.
  pipeline_plan
  pipeline_plan_for(const std::string& name,
                    const std::map<std::string, std::string>& inputs) {
    auto p = cfg().pipelines.find(name);
    if (p == cfg().pipelines.end())
      throw config_error(source_location{cfg().file, 0, 0},
                         "unknown pipeline '" + name + "'; expected one of: " +
                             join_names(keys_of(cfg().pipelines)));
    auto& pc = p->second;
    std::vector<std::string> missing;
    for (auto& input : pc.inputs)
      if (inputs.count(input) == 0)
        missing.push_back(input);
    std::vector<std::string> unknown;
    for (auto& [key, value] : inputs)
      if (std::find(pc.inputs.begin(), pc.inputs.end(), key) == pc.inputs.end())
        unknown.push_back(key);
    if (!missing.empty() || !unknown.empty()) {
      std::string message = "pipeline '" + name + "': ";
      if (!missing.empty())
        message += "missing input " + engine_detail::quoted_names(missing);
      if (!unknown.empty())
        message += std::string{missing.empty() ? "" : "; "} + "unknown input " +
                   engine_detail::quoted_names(unknown);
      message += pc.inputs.empty()
                     ? " (it takes no inputs)"
                     : " (its inputs: " + join_names(pc.inputs) + ")";
      throw config_error(pc.where, message);
    }
    pipeline_plan plan;
    plan.name = name;
    plan.inputs = inputs;
    plan.output = pc.output;
    for (auto& step : pc.steps) {
      pipeline_step_plan sp;
      sp.id = step.id;
      sp.ensemble = step.ensemble.empty() ? call_plan_for(step.call, step.where)
                                          : plan_for(step.ensemble);
      sp.prompt = step.prompt;
      sp.system = step.system;
      sp.params = step.params;
      sp.needs = step.needs;
      if (!step.ensemble.empty()) {
        sp.scope.ensemble = step.ensemble;
        sp.scope.cache = cfg().ensembles.at(step.ensemble).cache;
      }
      plan.steps.push_back(std::move(sp));
    }
    return plan;
  }
};

} // namespace tutti
