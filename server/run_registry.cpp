#include "server/run_registry.hpp"

#include <algorithm>
#include <random>

#include "engine/src/json_writers.hpp"
#include "tutti/store.hpp"

namespace tutti::http {

namespace {

using json_detail::json_text;
using json_detail::write_string;
using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

/// A run's `answer` (a pipeline run's `result`): `result_json`, or null when
/// there is none yet.
void write_result(json_writer& w, run_record::kind of,
                  const std::string* result_json) {
  w.Key(of == run_record::kind::pipeline ? "result" : "answer");
  if (result_json != nullptr)
    w.RawValue(result_json->data(), result_json->size(),
               rapidjson::kObjectType);
  else
    w.Null();
}

} // namespace

run_record::run_record(std::string id, kind of, std::string name,
                       int64_t created_unix)
    : id_(std::move(id)), of_(of), name_(std::move(name)),
      created_unix_(created_unix) {
  // nop
}

void run_record::set_handle(uint64_t handle) {
  std::lock_guard<std::mutex> guard{mutex_};
  handle_ = handle;
}

std::optional<uint64_t> run_record::handle() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return handle_;
}

void run_record::push(std::string name, std::string data) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (finished_)
      return;
    events_.push_back(
        run_event{events_.size() + 1, std::move(name), std::move(data)});
  }
  notify();
}

void run_record::finish(const std::string& status, std::string result_json,
                        int64_t finished_unix) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (finished_)
      return;
    status_ = cancel_requested_ ? "cancelled" : status;
    result_json_ = std::move(result_json);
    finished_unix_ = finished_unix;
    finished_at_ = std::chrono::steady_clock::now();
    finished_ = true;
    auto done = json_text([&](json_writer& w) {
      w.StartObject();
      w.Key("id");
      write_string(w, id_);
      w.Key("status");
      write_string(w, status_);
      write_result(w, of_, &result_json_);
      w.EndObject();
    });
    events_.push_back(run_event{events_.size() + 1, "run.done", done});
  }
  notify();
}

void run_record::notify() {
  std::vector<std::function<void()>> callbacks;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    for (auto& [id, fn] : subscribers_)
      callbacks.push_back(fn);
  }
  for (auto& fn : callbacks)
    fn();
}

uint64_t run_record::subscribe(std::function<void()> changed) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto id = next_subscriber_++;
  subscribers_.emplace(id, std::move(changed));
  return id;
}

void run_record::unsubscribe(uint64_t id) {
  std::lock_guard<std::mutex> guard{mutex_};
  subscribers_.erase(id);
}

bool run_record::request_cancel() {
  std::lock_guard<std::mutex> guard{mutex_};
  if (finished_)
    return false;
  cancel_requested_ = true;
  return true;
}

bool run_record::finished() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return finished_;
}

std::chrono::steady_clock::time_point run_record::finished_at() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return finished_at_;
}

bool run_record::events_after(uint64_t after, std::vector<run_event>& out,
                              size_t max) const {
  std::lock_guard<std::mutex> guard{mutex_};
  auto end = after + std::min<uint64_t>(max, events_.size() > after
                                                 ? events_.size() - after
                                                 : 0);
  for (auto i = after; i < end; ++i)
    out.push_back(events_[i]);
  // Everything up to the last event is now in `out` or was seen before.
  return finished_ && end >= events_.size();
}

uint64_t run_record::event_count() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return events_.size();
}

std::string run_record::json() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return json_text([&](json_writer& w) {
    w.StartObject();
    w.Key("id");
    write_string(w, id_);
    w.Key("object");
    w.String("run");
    w.Key("kind");
    write_string(w, to_string(of_));
    w.Key("name");
    write_string(w, name_);
    w.Key("status");
    write_string(w, status_);
    w.Key("created");
    w.Int64(created_unix_);
    w.Key("finished");
    if (finished_)
      w.Int64(finished_unix_);
    else
      w.Null();
    w.Key("events");
    w.Uint64(events_.size());
    write_result(w, of_, finished_ ? &result_json_ : nullptr);
    w.EndObject();
  });
}

std::string_view to_string(run_record::kind of) {
  switch (of) {
  case run_record::kind::ensemble:
    return "ensemble";
  case run_record::kind::provider:
    return "provider";
  case run_record::kind::pipeline:
    return "pipeline";
  }
  return "ensemble";
}

run_registry::run_registry(std::chrono::milliseconds keep_for, size_t keep_max,
                           size_t max_running)
    : keep_for_(keep_for), keep_max_(keep_max), max_running_(max_running) {
  // nop
}

std::shared_ptr<run_record> run_registry::add(run_record::kind of,
                                              const std::string& name,
                                              int64_t created_unix) {
  std::lock_guard<std::mutex> guard{mutex_};
  // The registry holds at most keep_max finished runs after a prune and the
  // running ones below max_running, so this count stays small.
  size_t running = 0;
  for (auto& entry : runs_)
    if (!entry.second->finished())
      ++running;
  if (running >= max_running_)
    return nullptr;
  auto record =
      std::make_shared<run_record>(new_run_id(), of, name, created_unix);
  runs_.emplace(record->id(), record);
  return record;
}

std::shared_ptr<run_record> run_registry::find(const std::string& id) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = runs_.find(id);
  return i == runs_.end() ? nullptr : i->second;
}

void run_registry::remove(const std::string& id) {
  std::lock_guard<std::mutex> guard{mutex_};
  runs_.erase(id);
}

void run_registry::prune() {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> guard{mutex_};
  std::vector<std::pair<std::chrono::steady_clock::time_point, std::string>>
      finished;
  for (auto i = runs_.begin(); i != runs_.end();) {
    if (i->second->finished()) {
      auto at = i->second->finished_at();
      if (now - at >= keep_for_) {
        i = runs_.erase(i);
        continue;
      }
      finished.emplace_back(at, i->first);
    }
    ++i;
  }
  if (finished.size() <= keep_max_)
    return;
  std::sort(finished.begin(), finished.end());
  for (size_t i = 0; i + keep_max_ < finished.size(); ++i)
    runs_.erase(finished[i].second);
}

std::vector<std::shared_ptr<run_record>> run_registry::all() {
  std::lock_guard<std::mutex> guard{mutex_};
  std::vector<std::shared_ptr<run_record>> result;
  for (auto& [id, record] : runs_)
    result.push_back(record);
  return result;
}

} // namespace tutti::http
