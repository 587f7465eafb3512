#pragma once

/// Where the endpoint runs work that waits for the engine's actors
/// (`provider_states`, `metrics`), so that no io thread does: a few threads
/// and a bounded queue, whatever the number of connections.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tutti::http {

class waiting_pool {
public:
  explicit waiting_pool(size_t threads, size_t max_queue)
      : max_queue_(max_queue) {
    for (size_t i = 0; i < threads; ++i)
      threads_.emplace_back([this] { work(); });
  }

  /// Runs the jobs already queued, then joins the threads.
  ~waiting_pool() {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      stopping_ = true;
    }
    ready_.notify_all();
    for (auto& t : threads_)
      t.join();
  }

  /// False when the queue is full.
  bool submit(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      if (jobs_.size() >= max_queue_ || stopping_)
        return false;
      jobs_.push_back(std::move(job));
    }
    ready_.notify_one();
    return true;
  }

private:
  void work() {
    std::unique_lock<std::mutex> lock{mutex_};
    for (;;) {
      ready_.wait(lock, [&] { return !jobs_.empty() || stopping_; });
      if (jobs_.empty())
        return;
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
  }

  const size_t max_queue_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  bool stopping_ = false;
};

} // namespace tutti::http
