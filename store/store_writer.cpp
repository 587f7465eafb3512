#include "store/store_writer.hpp"

#include <pthread.h>

#include <algorithm>
#include <vector>

namespace tutti {

namespace {

constexpr std::chrono::milliseconds backoff_min{100};
constexpr std::chrono::milliseconds backoff_max{5000};
/// A batch that fails this often in a row, each time on a fresh
/// connection, is given up: it is the batch, not the store.
constexpr int attempts_per_batch = 3;

} // namespace

store_writer::store_writer(store_config config, log_function log)
    : config_(std::move(config)), log_(std::move(log)) {
  thread_ = std::thread{[this] { loop(); }};
}

store_writer::~store_writer() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    stopping_ = true;
    changed_.notify_all();
  }
  thread_.join();
}

void store_writer::submit(stored_run run) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto place = ++submitted_;
  if (!run.session.empty()) {
    if (session_places_.size() >= max_sessions &&
        session_places_.count(run.session) == 0) {
      forgotten_places_ = submitted_ - 1;
      session_places_.clear();
    }
    session_places_[run.session] = place;
  }
  if (stopping_ || queue_.size() + in_hand_ >= config_.queue_max) {
    ++dropped_;
    ++finished_;
    if (!told_full_ && !stopping_) {
      told_full_ = true;
      if (log_)
        log_("store: " + std::to_string(config_.queue_max) +
             " runs are waiting to be written; dropping new ones until the "
             "store catches up (counted in tutti_store_dropped_total)");
    }
    changed_.notify_all();
    return;
  }
  queue_.push_back(std::move(run));
  // The writer waits for the first run of a batch, or lingers until the
  // batch is full; other submits need not wake it.
  if (queue_.size() == 1 || queue_.size() >= batch_max)
    changed_.notify_all();
}

bool store_writer::flush(std::chrono::milliseconds max) {
  std::unique_lock<std::mutex> lock{mutex_};
  return flush_to(lock, submitted_, max);
}

bool store_writer::flush_session(const std::string& session,
                                 std::chrono::milliseconds max) {
  std::unique_lock<std::mutex> lock{mutex_};
  auto i = session_places_.find(session);
  return flush_to(
      lock, i != session_places_.end() ? i->second : forgotten_places_, max);
}

bool store_writer::flush_to(std::unique_lock<std::mutex>& lock, uint64_t target,
                            std::chrono::milliseconds max) {
  if (finished_ >= target)
    return true;
  ++flushing_;
  changed_.notify_all(); // a lingering writer writes now
  auto done = changed_.wait_for(lock, max, [&] { return finished_ >= target; });
  --flushing_;
  return done;
}

store_health store_writer::health() const {
  std::lock_guard<std::mutex> guard{mutex_};
  store_health h;
  h.state = degraded_ ? "degraded" : "ok";
  h.backend = backend_;
  h.problem = degraded_ ? problem_ : "";
  h.written = written_;
  h.dropped = dropped_;
  h.pruned = pruned_;
  h.queued = queue_.size() + in_hand_;
  return h;
}

void store_writer::degrade(const std::string& problem) {
  // Under mutex_.
  if (!degraded_ && log_)
    log_(problem + "; answers go on, runs wait (at most " +
         std::to_string(config_.queue_max) + ") and the store is retried");
  degraded_ = true;
  problem_ = problem;
}

void store_writer::wait_backoff(std::unique_lock<std::mutex>& lock) {
  changed_.wait_for(lock, backoff_, [&] { return stopping_; });
  backoff_ = std::min(backoff_ * 2, backoff_max);
}

bool store_writer::connect(std::unique_lock<std::mutex>& lock) {
  if (store_)
    return true;
  lock.unlock();
  std::unique_ptr<run_store> opened;
  std::string problem;
  try {
    opened = open_store(config_, true);
  } catch (const std::exception& e) {
    problem = e.what();
  }
  lock.lock();
  if (!opened) {
    degrade(problem);
    return false;
  }
  store_ = std::move(opened);
  backend_ = store_->backend();
  return true;
}

void store_writer::prune_some(std::unique_lock<std::mutex>& lock) {
  using clock = std::chrono::steady_clock;
  if (!connect(lock)) {
    next_prune_ = clock::now() + prune_retry;
    return;
  }
  lock.unlock();
  int64_t pruned = 0;
  std::string problem;
  try {
    pruned = store_->prune(unix_now_ms() - config_.retention_ms, prune_max);
  } catch (const std::exception& e) {
    problem = e.what();
  }
  lock.lock();
  pruned_ += static_cast<uint64_t>(pruned);
  if (!problem.empty()) {
    // Writing matters more: the next write finds out whether the store
    // itself is the trouble; pruning is tried again later.
    if (!told_prune_failed_ && log_)
      log_(problem + "; runs past the retention are kept for now");
    told_prune_failed_ = true;
    store_.reset();
    next_prune_ = clock::now() + prune_retry;
    return;
  }
  told_prune_failed_ = false;
  // A full chunk: more are left; they go at once, after any queued runs.
  next_prune_ =
      clock::now() + (static_cast<size_t>(pruned) == prune_max
                          ? std::chrono::steady_clock::duration{}
                          : std::chrono::steady_clock::duration{prune_every});
}

void store_writer::loop() {
  // Named so that `top -H` and the benchmarks can tell its CPU apart.
  pthread_setname_np(pthread_self(), thread_name);
  std::unique_lock<std::mutex> lock{mutex_};
  std::chrono::steady_clock::time_point drain_until{};
  int failures = 0;
  auto work = [&] { return stopping_ || !queue_.empty(); };
  bool pruned_last = false;
  for (;;) {
    if (config_.retention_ms > 0) {
      changed_.wait_until(lock, next_prune_, work);
      // Due: a chunk now, but never two in a row while runs wait.
      bool due = std::chrono::steady_clock::now() >= next_prune_;
      if (due && !stopping_ && (queue_.empty() || !pruned_last)) {
        prune_some(lock);
        pruned_last = true;
        continue;
      }
      if (!work())
        continue;
    } else {
      changed_.wait(lock, work);
    }
    pruned_last = false;
    if (stopping_ && drain_until == std::chrono::steady_clock::time_point{})
      drain_until = std::chrono::steady_clock::now() + drain_for;
    if (queue_.empty() ||
        (stopping_ && std::chrono::steady_clock::now() >= drain_until))
      break;
    if (!connect(lock)) {
      if (stopping_)
        break; // no store to drain into
      wait_backoff(lock);
      continue;
    }
    if (queue_.size() < batch_max && !stopping_ && flushing_ == 0)
      changed_.wait_for(lock, linger, [&] {
        return stopping_ || flushing_ > 0 || queue_.size() >= batch_max;
      });
    std::vector<stored_run> batch;
    auto n = std::min(queue_.size(), batch_max);
    batch.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    in_hand_ = n;
    lock.unlock();
    std::string problem;
    try {
      store_->write(batch);
    } catch (const std::exception& e) {
      problem = e.what();
    }
    lock.lock();
    in_hand_ = 0;
    if (problem.empty()) {
      written_ += n;
      finished_ += n;
      failures = 0;
      backoff_ = backoff_min;
      if (degraded_ && log_)
        log_("store: writing again");
      degraded_ = false;
      told_full_ = false;
      changed_.notify_all();
      continue;
    }
    store_.reset(); // reconnect: the connection may be what broke
    if (++failures >= attempts_per_batch) {
      if (log_)
        log_(problem + "; " + std::to_string(n) + " runs given up");
      dropped_ += n;
      finished_ += n;
      failures = 0;
      changed_.notify_all();
    } else {
      // Back at the front, in their order; the bound still holds since they
      // were counted while in hand.
      for (auto i = batch.rbegin(); i != batch.rend(); ++i)
        queue_.push_front(std::move(*i));
    }
    degrade(problem);
    if (!stopping_)
      wait_backoff(lock);
  }
  auto left = queue_.size();
  if (left > 0) {
    dropped_ += left;
    finished_ += left;
    queue_.clear();
    if (log_)
      log_("store: " + std::to_string(left) +
           " runs were not written before the engine stopped");
  }
  changed_.notify_all();
}

} // namespace tutti
