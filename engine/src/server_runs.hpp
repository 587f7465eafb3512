#pragma once

/// Where the HTTP endpoint keeps what engine threads hand over: a question's
/// tokens and answer (`answer_channel`), and the runs of `/v1/runs` with
/// their event logs (`run_record`, `run_registry`). Engine callbacks only
/// append under a short lock and notify; HTTP threads wait on them in
/// bounded slices, so neither side ever blocks the other for long.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tutti/messages.hpp"

namespace tutti::http {

/// What the engine reports while one chat completion runs.
struct stream_item {
  bool is_delta = true;
  member_delta delta;     ///< when `is_delta`
  member_outcome outcome; ///< a member's outcome otherwise
};

/// One question's hand-over point from engine threads to the HTTP thread
/// that serves it.
class answer_channel {
public:
  void push(stream_item item);
  void finish(ensemble_answer answer);

  /// Waits at most `slice` for something new; moves the items that came into
  /// `items` and, once the answer is in, the answer into `answer` (once).
  /// True when anything was taken.
  bool take(std::chrono::milliseconds slice, std::vector<stream_item>& items,
            std::optional<ensemble_answer>& answer);

private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<stream_item> items_;
  std::optional<ensemble_answer> answer_;
};

/// One SSE event of a run: its sequence number (the SSE `id`), its name and
/// its JSON data.
struct run_event {
  uint64_t id = 0;
  std::string name;
  std::string data;
};

/// One run of `/v1/runs`: what it is, its events so far, and its result
/// once it has ended.
class run_record {
public:
  enum class kind { ensemble, provider, pipeline };

  run_record(std::string id, kind of, std::string name, int64_t created_unix);

  const std::string& id() const { return id_; }
  kind of() const { return of_; }
  const std::string& name() const { return name_; }

  void set_handle(uint64_t handle);
  std::optional<uint64_t> handle() const;

  /// Appends an event and wakes the subscribers.
  void push(std::string name, std::string data);

  /// Records the end: `status` is the answer's (ok, partial, failed) unless a
  /// cancel was asked for, then "cancelled"; `result_json` is the answer or
  /// pipeline result; a `run.done` event is appended.
  void finish(const std::string& status, std::string result_json,
              int64_t finished_unix);

  /// Notes that DELETE asked for a cancel; false when it has already ended.
  bool request_cancel();

  bool finished() const;
  std::chrono::steady_clock::time_point finished_at() const;

  /// Waits at most `slice` for events after `after` (an event id; 0: from
  /// the start); copies them into `out`. Returns true when the run has ended
  /// (its last event is then in `out` or was seen before).
  bool events_after(uint64_t after, std::chrono::milliseconds slice,
                    std::vector<run_event>& out);

  /// Waits at most `timeout` for the end; true when it has ended.
  bool wait_finished(std::chrono::milliseconds timeout);

  /// The run as `GET /v1/runs/{id}` shows it.
  std::string json() const;

private:
  const std::string id_;
  const kind of_;
  const std::string name_;
  const int64_t created_unix_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<uint64_t> handle_;
  std::vector<run_event> events_;
  bool finished_ = false;
  bool cancel_requested_ = false;
  std::string status_ = "running";
  std::string result_json_;
  int64_t finished_unix_ = 0;
  std::chrono::steady_clock::time_point finished_at_;
};

std::string_view to_string(run_record::kind of);

/// The runs the endpoint knows: every running one, and finished ones for
/// `keep_for` or until `keep_max` newer ones have finished.
class run_registry {
public:
  run_registry(std::chrono::milliseconds keep_for, size_t keep_max);

  /// A new record with a fresh unguessable id ("run_" and 24 hex digits).
  std::shared_ptr<run_record> add(run_record::kind of, const std::string& name,
                                  int64_t created_unix);
  std::shared_ptr<run_record> find(const std::string& id);
  void remove(const std::string& id);
  /// Forgets finished runs past their time or beyond the count.
  void prune();
  std::vector<std::shared_ptr<run_record>> all();

private:
  std::chrono::milliseconds keep_for_;
  size_t keep_max_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<run_record>> runs_;
};

/// A fresh random id of `hex_digits` hex digits.
std::string random_hex(size_t hex_digits);

} // namespace tutti::http
