#pragma once

/// Writes runs to the store from a thread of its own, off the answer path
/// (DESIGN.md rule 8): `submit` never blocks; runs queue up to
/// `store_config::queue_max` and are written in batches, one transaction
/// each. A store that cannot be opened or written is retried with backoff
/// while runs wait; beyond the bound new runs are dropped and counted, and
/// the log says so once per episode.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "tutti/store.hpp"

namespace tutti {

class store_writer {
public:
  using log_function = std::function<void(const std::string&)>;

  /// Starts the thread, which opens (and migrates) the store. `log` gets
  /// one line per change of state; it runs on the writer's thread.
  store_writer(store_config config, log_function log);

  /// Writes what is queued for at most `drain_for`, drops (and counts) the
  /// rest, and stops the thread.
  ~store_writer();

  store_writer(const store_writer&) = delete;
  store_writer& operator=(const store_writer&) = delete;

  /// Queues `run`; never blocks. Dropped and counted when the queue is full.
  void submit(stored_run run);

  /// Waits (at most `max`) until every run submitted before the call is
  /// written or dropped; true when it came to that.
  bool flush(std::chrono::milliseconds max);

  /// Waits (at most `max`) until the last run of `session` submitted so far
  /// is written or dropped; true when it is (at once for a session this
  /// writer has not seen).
  bool flush_session(const std::string& session, std::chrono::milliseconds max);

  store_health health() const;

  /// How long the destructor keeps writing what is left.
  static constexpr std::chrono::seconds drain_for{5};
  /// Runs in one transaction at most.
  static constexpr size_t batch_max = 256;
  /// How long the writer waits for more runs to join a batch before it
  /// writes a small one: one transaction (and one wake-up) per run cost a
  /// quarter of a busy engine's CPU (docs/benchmarks.md, "Store").
  static constexpr std::chrono::milliseconds linger{25};
  /// With `store_config::retention_ms`: the runs deleted in one
  /// transaction at most (queued runs are written between two), how often
  /// the writer looks for runs past the retention once none are left, and
  /// how soon it tries again after a prune failed.
  static constexpr size_t prune_max = 1000;
  static constexpr std::chrono::minutes prune_every{60};
  static constexpr std::chrono::minutes prune_retry{1};
  /// The writer thread's name (Linux: at most 15 characters).
  static constexpr const char* thread_name = "tutti.store";

private:
  void loop();
  /// Opens the store when it is not; false (after logging) when it fails.
  bool connect(std::unique_lock<std::mutex>& lock);
  void degrade(const std::string& problem);
  void wait_backoff(std::unique_lock<std::mutex>& lock);
  /// Deletes up to `prune_max` runs past the retention and sets when to
  /// look again.
  void prune_some(std::unique_lock<std::mutex>& lock);

  const store_config config_;
  const log_function log_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<stored_run> queue_;
  size_t in_hand_ = 0; ///< taken for the batch being written
  uint64_t submitted_ = 0;
  uint64_t finished_ = 0; ///< written or dropped, of those submitted
  uint64_t written_ = 0;
  uint64_t dropped_ = 0;
  uint64_t pruned_ = 0;
  /// When the writer next deletes runs past the retention (at once at the
  /// start).
  std::chrono::steady_clock::time_point next_prune_{};
  bool told_prune_failed_ = false;
  int flushing_ = 0; ///< callers waiting in `flush`: no lingering
  /// Each session's last run's place in the order of submits, so that
  /// reading a session's history waits for that run alone. Bounded: past
  /// `max_sessions` the table starts over, and a session not in it waits
  /// for what was submitted before then.
  std::unordered_map<std::string, uint64_t> session_places_;
  uint64_t forgotten_places_ = 0;
  static constexpr size_t max_sessions = 10'000;
  /// Waits, under `lock`, until the runs up to `place` are finished.
  bool flush_to(std::unique_lock<std::mutex>& lock, uint64_t place,
                std::chrono::milliseconds max);
  bool stopping_ = false;
  bool degraded_ = false;
  bool told_full_ = false; ///< the log said the queue is full
  std::string problem_;
  std::string backend_;
  std::chrono::milliseconds backoff_{100};
  std::unique_ptr<run_store> store_; ///< used on the writer's thread only
  std::thread thread_;
};

} // namespace tutti
