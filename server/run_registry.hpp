#pragma once

/// Where the HTTP endpoint keeps the runs of `/v1/runs` with their event
/// logs (`run_record`, `run_registry`). Engine callbacks append under a
/// short lock and notify the run's subscribers (an event stream, a DELETE
/// waiting for the end), which never wait: they post to their connection
/// and read what is new from there.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/src/random_hex.hpp"
#include "tutti/messages.hpp"

namespace tutti::http {

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

  /// Copies the events after `after` (an event id; 0: from the start) into
  /// `out`, at most `max` of them. Returns true when the run has ended and
  /// its last event is in `out` or was seen before.
  bool events_after(uint64_t after, std::vector<run_event>& out,
                    size_t max = SIZE_MAX) const;

  /// The number of events so far.
  uint64_t event_count() const;

  /// `changed` is called (on the thread that changed the run, outside its
  /// lock) after each new event and at the end; keep it short. Returns an
  /// id for `unsubscribe`.
  uint64_t subscribe(std::function<void()> changed);
  void unsubscribe(uint64_t id);

  /// The run as `GET /v1/runs/{id}` shows it.
  std::string json() const;

private:
  const std::string id_;
  const kind of_;
  const std::string name_;
  const int64_t created_unix_;
  /// Calls every subscriber.
  void notify();

  mutable std::mutex mutex_;
  std::map<uint64_t, std::function<void()>> subscribers_;
  uint64_t next_subscriber_ = 1;
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

/// The runs the endpoint knows: every running one (at most `max_running`),
/// and finished ones for `keep_for` or until `keep_max` newer ones have
/// finished.
class run_registry {
public:
  run_registry(std::chrono::milliseconds keep_for, size_t keep_max,
               size_t max_running = SIZE_MAX);

  /// A new record with a fresh unguessable id ("run_" and 24 hex digits);
  /// nullptr when `max_running` runs are running already.
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
  size_t max_running_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<run_record>> runs_;
};

using tutti::random_hex;

} // namespace tutti::http
