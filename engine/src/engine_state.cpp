// What the engine reports: its providers' state, its metrics, its config
// and plugins, the store's health and history, and what budgets have left.

#include "engine/src/engine_impl.hpp"

namespace tutti {

std::vector<provider_status> engine::provider_states() {
  std::vector<provider_status> result;
  caf::scoped_actor self{*impl_->system};
  for (auto& [name, pc] : impl_->cfg().providers) {
    provider_status st;
    st.name = name;
    st.kind = pc.kind;
    st.model = pc.model;
    st.limit_group = engine_detail::limit_group_of(pc);
    caf::actor actor;
    caf::actor limiter;
    try {
      actor = impl_->provider_for(name, pc.where);
      std::lock_guard<std::mutex> guard{impl_->mtx};
      limiter = impl_->limiters.at(st.limit_group);
    } catch (const config_error& e) {
      st.note = "not started: " + e.message();
      result.push_back(std::move(st));
      continue;
    }
    auto now = steady_now_us();
    self->request(limiter, std::chrono::seconds{5}, state_atom::value)
        .receive(
            [&](const limiter_state& ls) {
              st.in_flight = ls.in_flight;
              st.queued = ls.queued;
              st.concurrency = ls.concurrency;
              st.requests_in_window = ls.requests_in_window;
              st.requests_limit = ls.requests_limit;
              st.tokens_in_window = ls.tokens_in_window;
              st.tokens_limit = ls.tokens_limit;
              st.server_requests_left = ls.server_requests_left;
              st.server_tokens_left = ls.server_tokens_left;
              if (ls.cooldown_until > now)
                st.cooldown_left_ms = (ls.cooldown_until - now) / 1000;
            },
            [&](const caf::error&) { st.note = "limiter did not answer"; });
    self->request(actor, std::chrono::seconds{5}, state_atom::value)
        .receive(
            [&](const provider_snapshot& ps) {
              st.breaker = ps.breaker;
              st.consecutive_failures = ps.consecutive_failures;
            },
            [&](const caf::error&) { st.note = "provider did not answer"; });
    result.push_back(std::move(st));
  }
  return result;
}

void engine::reload(tutti::config next) {
  impl_->check_open();
  impl_->reload(std::move(next));
}

const config& engine::loaded_config() const {
  return impl_->cfg();
}

const registry& engine::plugins() const {
  return *impl_->plugins;
}

store_health engine::store_status() const {
  if (!impl_->writer)
    return store_health{};
  return impl_->writer->health();
}

std::vector<chat_message> engine::session_history(const std::string& session) {
  if (!impl_->writer || session.empty())
    return {};
  // The session's last answer may still wait in the writer's queue.
  impl_->writer->flush_session(session, std::chrono::seconds{2});
  std::lock_guard<std::mutex> guard{impl_->reader_mtx};
  try {
    if (!impl_->reader)
      impl_->reader = open_store(impl_->store_settings, true);
    return impl_->reader->session_history(session,
                                          impl_->cfg().store.history_turns,
                                          impl_->cfg().store.history_tokens);
  } catch (...) {
    impl_->reader.reset(); // reconnect next time
    throw;
  }
}

budget_left engine::key_budget_left(const std::string& key, spend_limit limit) {
  return impl_->ledger->left("key", key, limit, unix_now_ms());
}

bool engine::flush_store(std::chrono::milliseconds max) {
  return !impl_->writer || impl_->writer->flush(max);
}

metrics_snapshot engine::metrics() {
  metrics_snapshot snapshot;
  snapshot.store = store_status();
  auto now = steady_now_us();
  snapshot.uptime = static_cast<double>(now - impl_->started) / 1e6;
  std::map<std::string, caf::actor> limiters;
  caf::actor probe;
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    snapshot.questions_in_flight =
        static_cast<int64_t>(impl_->asks.size() + impl_->runs.size());
    limiters = impl_->limiters;
    probe = impl_->probe;
  }
  {
    std::lock_guard<std::mutex> guard{impl_->metrics_mtx};
    for (auto& [name, pc] : impl_->cfg().providers) {
      auto i = impl_->by_provider.find(name);
      auto p = i != impl_->by_provider.end() ? i->second : provider_metrics{};
      p.provider = name;
      snapshot.providers.push_back(std::move(p));
    }
    for (auto& [name, a] : impl_->by_ensemble)
      snapshot.ensembles.push_back(a);
    for (auto& [name, a] : impl_->by_pipeline)
      snapshot.pipelines.push_back(a);
  }
  caf::scoped_actor self{*impl_->system};
  std::map<std::string, limiter_state> groups;
  for (auto& [group, limiter] : limiters)
    self->request(limiter, std::chrono::seconds{5}, state_atom::value)
        .receive([&, g = group](const limiter_state& ls) { groups[g] = ls; },
                 [](const caf::error&) {});
  for (auto& p : snapshot.providers) {
    auto& pc = impl_->cfg().providers.at(p.provider);
    if (auto g = groups.find(engine_detail::limit_group_of(pc));
        g != groups.end()) {
      p.in_flight = g->second.in_flight;
      p.queued = g->second.queued;
    }
  }
  if (probe) {
    auto sent = steady_now_us();
    self->request(probe, std::chrono::seconds{5}, state_atom::value)
        .receive([&](bool) {}, [](const caf::error&) {});
    snapshot.scheduler_lag = static_cast<double>(steady_now_us() - sent) / 1e6;
  }
  return snapshot;
}

caf::actor_system& engine::actor_system() {
  return *impl_->system;
}
} // namespace tutti
