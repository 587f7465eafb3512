#include "actors/response_cache.hpp"

#include <chrono>
#include <iostream>
#include <iterator>

namespace tutti {

namespace {

using self_ptr = caf::stateful_actor<response_cache_state>*;

constexpr int64_t store_retry_ms = 5000;
constexpr int64_t purge_every_ms = 10 * 60 * 1000;
constexpr auto flush_after = std::chrono::milliseconds{20};

size_t bytes_of(const cache_entry& e) {
  return e.key.size() + e.text.size() + e.finish_reason.size() +
         e.provider.size() + e.model.size() + 128;
}

void say(self_ptr self, const std::string& line) {
  if (self->state.deps.log)
    self->state.deps.log(line);
  else
    std::cerr << "tutti: " << line << '\n';
}

void forget(self_ptr self, std::list<cache_entry>::iterator i) {
  auto& st = self->state;
  st.bytes -= bytes_of(*i);
  st.by_key.erase(i->key);
  st.lru.erase(i);
}

void remember(self_ptr self, cache_entry e) {
  auto& st = self->state;
  auto bytes = bytes_of(e);
  if (bytes > st.deps.max_entry_bytes || bytes > st.deps.memory_bytes)
    return;
  if (auto i = st.by_key.find(e.key); i != st.by_key.end())
    forget(self, i->second);
  st.lru.push_front(std::move(e));
  st.by_key[st.lru.front().key] = st.lru.begin();
  st.bytes += bytes;
  while (st.bytes > st.deps.memory_bytes && !st.lru.empty())
    forget(self, std::prev(st.lru.end()));
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

/// Writes the pending fills (and now and then purges expired rows); false
/// when they stay pending because the store is paused or failed.
bool write_pending(self_ptr self, int64_t now) {
  auto& st = self->state;
  if (st.pending.empty())
    return true;
  try {
    auto* store = store_of(self, now);
    if (store == nullptr)
      return false;
    store->cache_put(st.pending);
    st.pending.clear();
    if (now >= st.next_purge_ms) {
      st.next_purge_ms = now + purge_every_ms;
      store->cache_purge(now);
    }
    store_works(self);
    return true;
  } catch (const std::exception& e) {
    store_failed(self, now, e.what());
    return false;
  }
}

void flush(self_ptr self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  if (!write_pending(self, unix_now_ms())) {
    // Try again once the store's pause is over.
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
    auto& pending = self->state.pending;
    if (!write_pending(self, unix_now_ms()))
      say(self, "response cache: " + std::to_string(pending.size()) +
                    " last replies were not written");
    pending.clear();
    self->quit(msg.reason);
  });
  return {
      [=](cache_get_atom, const std::string& key, int64_t now_ms) {
        auto& st = self->state;
        if (auto i = st.by_key.find(key); i != st.by_key.end()) {
          if (i->second->expires_ms > now_ms) {
            st.lru.splice(st.lru.begin(), st.lru, i->second);
            return *i->second;
          }
          forget(self, i->second);
        }
        try {
          if (auto* store = store_of(self, now_ms)) {
            auto found = store->cache_get(key, now_ms);
            store_works(self);
            if (found) {
              remember(self, *found);
              return std::move(*found);
            }
          }
        } catch (const std::exception& e) {
          store_failed(self, now_ms, e.what());
        }
        return cache_entry{};
      },
      [=](cache_put_atom, cache_entry& e) {
        auto& st = self->state;
        if (e.key.empty())
          return;
        if (st.deps.store && bytes_of(e) <= st.deps.max_entry_bytes &&
            st.pending.size() < st.deps.max_pending) {
          st.pending.push_back(e);
          if (!st.flush_scheduled) {
            st.flush_scheduled = true;
            self->delayed_send(self, flush_after, wake_atom::value);
          }
        }
        remember(self, std::move(e));
      },
      [=](wake_atom) { flush(self); },
  };
}

} // namespace tutti
