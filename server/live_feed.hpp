#pragma once

/// What `GET /v1/live` streams (docs/http.md#get-v1live): every question
/// and run the endpoint has in flight, as events, to any number of readers.
///
/// Engine callbacks report into the feed under one short lock; the feed
/// keeps each question's state (for the snapshot a reader gets when it
/// connects) and appends the event to every reader that may see it. A
/// reader's queue is bounded: consecutive tokens of one member merge into
/// one event until the reader takes them, and a reader that falls behind
/// anyway loses its queue and gets `reset` and a fresh snapshot instead.
/// Nothing a reader does (or fails to do) slows a question.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tutti/messages.hpp"

namespace tutti::http {

/// Who reads the feed: the admin (the token, or loopback without one)
/// sees every question; an API key sees the questions it asked.
struct live_viewer {
  bool admin = false;
  std::string key;
};

/// What a question is, when it starts.
struct live_question_info {
  std::string run_id;
  /// The API that asked: "chat.completions", "responses", "messages",
  /// "completions", "runs".
  std::string api;
  /// "ensemble", "provider" or "pipeline".
  std::string kind;
  std::string target;
  /// The members known at the start, in order (an ensemble's labels, the
  /// provider asked alone); strategies' calls and pipeline steps' members
  /// are added as they report.
  std::vector<std::string> members;
  /// The combine strategy, when an ensemble.
  std::string combine;
  std::string key; ///< the API key that asked; "" the admin
  std::string session;
  bool stream = false; ///< whether the upstreams were asked to stream
  /// A pipeline's steps, in order.
  std::vector<std::string> steps;
};

struct live_limits {
  size_t max_questions = 8192;         ///< tracked at once; more are not shown
  size_t max_members = 256;            ///< per question, in the snapshot
  size_t text_per_member = 32 << 10;   ///< bytes of text kept for snapshots
  size_t reader_queue_bytes = 1 << 20; ///< beyond: reset and snapshot
  size_t max_readers = 64;
};

class live_feed {
public:
  struct question;
  struct reader;
  using question_ptr = std::shared_ptr<question>;
  using reader_ptr = std::shared_ptr<reader>;

  explicit live_feed(live_limits limits = {});
  ~live_feed();
  live_feed(const live_feed&) = delete;
  live_feed& operator=(const live_feed&) = delete;

  /// A question started; null when the feed tracks `max_questions`
  /// already (the other calls take null and do nothing).
  question_ptr start(live_question_info info);
  /// `step` is "" outside a pipeline.
  void progress(const question_ptr& q, const std::string& step,
                const member_progress& p);
  void delta(const question_ptr& q, const std::string& step,
             const member_delta& d);
  void member_done(const question_ptr& q, const std::string& step,
                   const member_outcome& o);
  /// A pipeline's step started ("step.started") or ended ("step.done",
  /// `data` its JSON).
  void step_event(const question_ptr& q, const std::string& name,
                  const std::string& step, const std::string& data);
  /// The question ended with `status`; `result_json` writes its answer or
  /// pipeline result (called only when a reader sees it). The question
  /// leaves the feed.
  void finish(const question_ptr& q, const std::string& status,
              const std::function<std::string()>& result_json);
  /// The engine refused the question before it started: it leaves the feed
  /// with status "refused" and no result.
  void refused(const question_ptr& q) {
    finish(q, "refused", [] { return std::string{}; });
  }

  /// A new reader, its first event a snapshot; `wake` is called (outside
  /// the lock, from any thread) when its queue stops being empty. Null
  /// when `max_readers` read already.
  reader_ptr subscribe(live_viewer viewer, std::function<void()> wake);
  void unsubscribe(const reader_ptr& r);
  /// The reader's queued events as event-stream text ("" none); the next
  /// event wakes it again.
  std::string take(const reader_ptr& r);

  /// Questions tracked now, and readers reading.
  size_t questions() const;
  size_t readers() const;
  /// Events readers lost by falling behind (each got a reset instead).
  uint64_t resets() const;

private:
  struct entry;
  /// Under the lock, when `q` is followed: `make(t)` (t: ms since it
  /// started) updates its state and returns its event, which goes to every
  /// reader that sees it; the readers are woken after the lock.
  template <class Make>
  void report(const question_ptr& q, Make&& make);
  void append(question& q, entry e, std::vector<std::function<void()>>& wakes);
  void queue(reader& r, entry e, std::vector<std::function<void()>>& wakes);
  std::string snapshot_locked(const live_viewer& viewer) const;
  /// An event's data as JSON.
  static std::string event_json(const entry& e);

  live_limits limits_;
  mutable std::mutex mutex_;
  std::map<std::string, question_ptr> questions_;
  std::vector<reader_ptr> readers_;
  uint64_t resets_ = 0;
  std::chrono::steady_clock::time_point epoch_;
};

} // namespace tutti::http
