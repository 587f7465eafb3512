#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/protocol.hpp"
#include "tutti/store.hpp"

namespace tutti {

/// What the response cache is built from.
struct response_cache_deps {
  /// Where replies persist (the config's store); none: memory only. An
  /// actor with a store must be spawned detached: its reads block.
  std::optional<store_config> store;
  size_t memory_bytes = 64 * 1024 * 1024;   ///< the in-memory tier's bound
  size_t max_entry_bytes = 4 * 1024 * 1024; ///< larger replies are not kept
  size_t max_pending = 1000; ///< replies waiting to be written; more: dropped
  std::function<void(const std::string&)> log; ///< null: standard error
};

struct response_cache_state {
  response_cache_deps deps;
  std::list<cache_entry> lru; ///< most recently used first
  std::unordered_map<std::string, std::list<cache_entry>::iterator> by_key;
  size_t bytes = 0;
  std::unique_ptr<run_store> store;
  int64_t store_down_until_ms = 0; ///< after a failure, skip the store
  bool store_said_down = false;
  std::vector<cache_entry> pending; ///< fills not yet written
  bool flush_scheduled = false;
  int64_t next_purge_ms = 0;

  static inline const char* name = "response_cache";
};

/// The response cache (docs/store.md): answers `(cache_get_atom, key,
/// now_ms)` with the unexpired `cache_entry` under `key` (one with an empty
/// key when none) from memory or, failing that, the store; takes
/// `(cache_put_atom, cache_entry)` into memory at once and into the store
/// in batches. A store that fails is left alone for a few seconds (lookups
/// miss, fills wait up to `max_pending`); answers never wait for it.
caf::behavior response_cache(caf::stateful_actor<response_cache_state>* self,
                             response_cache_deps deps);

} // namespace tutti
