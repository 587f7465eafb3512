#include "actors/response_cache.hpp"

#include <chrono>
#include <iostream>

namespace tutti {

namespace {

using self_ptr = caf::stateful_actor<response_cache_state>*;

constexpr int64_t store_retry_ms = 5000;
constexpr int64_t purge_every_ms = 10 * 60 * 1000;
constexpr auto flush_after = std::chrono::milliseconds{20};

size_t bytes_of(const std::string& key, const cached_reply& reply) {
  return key.size() + reply.text.size() + reply.finish_reason.size() + 128;
}

void say(self_ptr self, const std::string& line) {
  if (self->state.deps.log)
    self->state.deps.log(line);
  else
    std::cerr << "tutti: " << line << '\n';
}

void remember(self_ptr self, const std::string& key, cached_reply reply,
              int64_t expires_ms) {
  auto& st = self->state;
  auto bytes = bytes_of(key, reply);
  if (bytes > st.deps.max_entry_bytes || bytes > st.deps.memory_bytes)
    return;
  if (auto i = st.by_key.find(key); i != st.by_key.end()) {
    st.bytes -= i->second->bytes;
    st.lru.erase(i->second);
    st.by_key.erase(i);
  }
  st.lru.push_front({key, std::move(reply), expires_ms, bytes});
  st.by_key[key] = st.lru.begin();
  st.bytes += bytes;
  while (st.bytes > st.deps.memory_bytes && !st.lru.empty()) {
    st.bytes -= st.lru.back().bytes;
    st.by_key.erase(st.lru.back().key);
    st.lru.pop_back();
  }
}

/// The store, opened on first use; null while it is failing.
run_store* store_of(self_ptr self, int64_t now_ms) {
  auto& st = self->state;
  if (!st.deps.store || now_ms < st.store_down_until_ms)
    return nullptr;
  if (!st.store)
    st.store = open_store(*st.deps.store, false);
  return st.store.get();
}

void store_failed(self_ptr self, int64_t now_ms, const std::string& why) {
  auto& st = self->state;
  st.store.reset();
  st.store_down_until_ms = now_ms + store_retry_ms;
  if (!st.store_said_down) {
    st.store_said_down = true;
    say(self, "response cache: the store failed (" + why +
                  "); serving from memory, retrying every 5 s");
  }
}

void store_works(self_ptr self) {
  if (self->state.store_said_down) {
    self->state.store_said_down = false;
    say(self, "response cache: the store works again");
  }
}

void flush(self_ptr self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  if (st.pending.empty())
    return;
  auto now = unix_now_ms();
  try {
    auto* store = store_of(self, now);
    if (store == nullptr) {
      // Try again once the store's pause is over.
      st.flush_scheduled = true;
      self->delayed_send(self, std::chrono::milliseconds{store_retry_ms},
                         wake_atom::value);
      return;
    }
    store->cache_put(st.pending);
    st.pending.clear();
    if (now >= st.next_purge_ms) {
      st.next_purge_ms = now + purge_every_ms;
      store->cache_purge(now);
    }
    store_works(self);
  } catch (const std::exception& e) {
    store_failed(self, now, e.what());
    st.flush_scheduled = true;
    self->delayed_send(self, std::chrono::milliseconds{store_retry_ms},
                       wake_atom::value);
  }
}

} // namespace

caf::behavior response_cache(self_ptr self, response_cache_deps deps) {
  self->state.deps = std::move(deps);
  // Replies filled just before the engine stops (a `tutti ask` that exits
  // right after its answer) are written before the actor goes.
  self->set_exit_handler([=](caf::exit_msg& msg) {
    try {
      if (!self->state.pending.empty())
        if (auto* store = store_of(self, unix_now_ms()))
          store->cache_put(self->state.pending);
    } catch (const std::exception& e) {
      say(self, std::string{"response cache: the last replies were not "
                            "written ("} +
                    e.what() + ")");
    }
    self->state.pending.clear();
    self->quit(msg.reason);
  });
  return {
      [=](cache_get_atom, const std::string& key, int64_t now_ms) {
        auto& st = self->state;
        if (auto i = st.by_key.find(key); i != st.by_key.end()) {
          if (i->second->expires_ms > now_ms) {
            st.lru.splice(st.lru.begin(), st.lru, i->second);
            return i->second->reply;
          }
          st.bytes -= i->second->bytes;
          st.lru.erase(i->second);
          st.by_key.erase(i);
        }
        try {
          if (auto* store = store_of(self, now_ms)) {
            auto found = store->cache_get(key, now_ms);
            store_works(self);
            if (found) {
              cached_reply reply{true,
                                 std::move(found->text),
                                 std::move(found->finish_reason),
                                 found->usage,
                                 std::move(found->provider),
                                 std::move(found->model)};
              remember(self, key, reply, found->expires_ms);
              return reply;
            }
          }
        } catch (const std::exception& e) {
          store_failed(self, now_ms, e.what());
        }
        return cached_reply{};
      },
      [=](cache_put_atom, std::string& key, cached_reply& reply,
          int64_t expires_ms) {
        auto& st = self->state;
        reply.found = true;
        if (st.deps.store && bytes_of(key, reply) <= st.deps.max_entry_bytes &&
            st.pending.size() < st.deps.max_pending) {
          cache_entry e;
          e.key = key;
          e.expires_ms = expires_ms;
          e.text = reply.text;
          e.finish_reason = reply.finish_reason;
          e.usage = reply.usage;
          e.provider = reply.provider;
          e.model = reply.model;
          st.pending.push_back(std::move(e));
          if (!st.flush_scheduled) {
            st.flush_scheduled = true;
            self->delayed_send(self, flush_after, wake_atom::value);
          }
        }
        remember(self, key, std::move(reply), expires_ms);
      },
      [=](wake_atom) { flush(self); },
  };
}

} // namespace tutti
