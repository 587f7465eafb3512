#include "server/live_feed.hpp"

#include <algorithm>
#include <utility>

#include "engine/src/json_writers.hpp"

namespace tutti::http {

namespace {

using clock_type = std::chrono::steady_clock;

int64_t ms_between(clock_type::time_point from, clock_type::time_point to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from)
      .count();
}

/// At most `max` bytes of `text`, cut at a UTF-8 character boundary.
std::string_view head_of(std::string_view text, size_t max) {
  if (text.size() <= max)
    return text;
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
    --end;
  return text.substr(0, end);
}

/// Appends `piece` to `text` while it stays within `max` bytes; sets `cut`
/// once something did not fit.
void keep_text(std::string& text, bool& cut, std::string_view piece,
               size_t max) {
  if (cut)
    return;
  if (text.size() + piece.size() > max) {
    text += head_of(piece, max - text.size());
    cut = true;
    return;
  }
  text += piece;
}

constexpr size_t message_max = 1024;
constexpr size_t snapshot_max_bytes = 4 << 20;

} // namespace

struct live_feed::question {
  live_question_info info;
  int64_t created_unix_ms = 0;
  clock_type::time_point started;

  struct member {
    std::string label;
    std::string step;
    std::string state = "waiting";
    int attempt = 0;
    int64_t wait_ms = 0;
    std::string reason;
    std::string message;
    std::string text;
    bool text_cut = false;
    int64_t queued_ms = -1;
    int64_t sent_ms = -1;
    int64_t first_token_ms = -1;
    int64_t done_ms = -1;
    std::string outcome_json; ///< the slim outcome, once done
  };
  std::vector<member> members;
  std::string answer_text;
  bool answer_cut = false;
  std::vector<std::pair<std::string, std::string>> steps; ///< id, state

  member& add(const std::string& label, const std::string& step) {
    auto& m = members.emplace_back();
    m.label = label;
    m.step = step;
    return m;
  }

  /// The member `label` of `step`, added when new and there is room.
  member* find(const std::string& step, const std::string& label,
               size_t max_members) {
    for (auto& m : members)
      if (m.label == label && m.step == step)
        return &m;
    if (members.size() >= max_members)
      return nullptr;
    return &add(label, step);
  }
};

/// One queued event. Tokens stay apart from their JSON until taken, so
/// that the next tokens of the same member can join them.
struct live_feed::entry {
  std::string name;
  std::string json; ///< the data, except for a member.delta
  // member.delta only:
  std::string run;
  std::string step;
  std::string member;
  std::string text;
  bool answer = false;
  int64_t t_ms = 0;
};

struct live_feed::reader {
  live_viewer viewer;
  std::function<void()> wake;
  std::vector<entry> queue;
  /// Where the open member.delta of (run, step, member, answer) is in
  /// `queue`.
  std::map<std::string, size_t> open_deltas;
  size_t bytes = 0;
  bool needs_snapshot = true;
  bool reset = false; ///< the queue overflowed since the last take
  uint64_t lost = 0;  ///< events dropped by that
  bool woken = false;

  bool sees(const question& q) const {
    return viewer.admin || (!viewer.key.empty() && viewer.key == q.info.key);
  }
};

namespace {

template <class Writer>
void write_header(Writer& w, const live_question_info& info,
                  int64_t created_unix_ms) {
  using json_detail::write_string;
  w.Key("run");
  write_string(w, info.run_id);
  w.Key("api");
  write_string(w, info.api);
  w.Key("kind");
  write_string(w, info.kind);
  w.Key("target");
  write_string(w, info.target);
  w.Key("combine");
  json_detail::write_string_or_null(w, info.combine);
  w.Key("key");
  json_detail::write_string_or_null(w, info.key);
  w.Key("session");
  json_detail::write_string_or_null(w, info.session);
  w.Key("stream");
  w.Bool(info.stream);
  w.Key("created_ms");
  w.Int64(created_unix_ms);
}

/// The fields that say where an event belongs: its question, the pipeline
/// step (outside a pipeline none) and the member ("": none).
template <class Writer>
void write_where(Writer& w, const std::string& run, const std::string& step,
                 const std::string& member) {
  using json_detail::write_string;
  w.Key("run");
  write_string(w, run);
  if (!step.empty()) {
    w.Key("step");
    write_string(w, step);
  }
  if (!member.empty()) {
    w.Key("member");
    write_string(w, member);
  }
}

/// A member's outcome without its text: what the Live view shows of it.
std::string slim_outcome(const member_outcome& o) {
  return json_detail::json_text([&](auto& w) {
    using json_detail::write_string;
    w.StartObject();
    w.Key("member");
    write_string(w, o.member);
    w.Key("provider");
    write_string(w, o.provider);
    w.Key("model");
    write_string(w, o.model);
    w.Key("ok");
    w.Bool(o.ok);
    if (!o.ok) {
      w.Key("kind");
      write_string(w, to_string(o.error.kind));
      w.Key("message");
      write_string(w, head_of(o.error.message, message_max));
      w.Key("http_status");
      w.Int(o.error.http_status);
    }
    auto& used = o.ok ? o.reply.usage : o.error.usage;
    auto& timing = o.ok ? o.reply.timing : o.error.timing;
    w.Key("usage");
    json_detail::write_usage(w, used);
    w.Key("cost_usd");
    w.Double(o.ok ? o.reply.cost_usd : o.error.cost_usd);
    w.Key("attempts");
    w.Int(o.ok ? o.reply.attempts : o.error.attempts);
    w.Key("cached");
    w.Bool(o.ok && o.reply.cached);
    w.Key("timing");
    json_detail::write_timing(w, timing);
    w.EndObject();
  });
}

} // namespace

live_feed::live_feed(live_limits limits)
    : limits_(limits), epoch_(clock_type::now()) {}

live_feed::~live_feed() = default;

live_feed::question_ptr live_feed::start(live_question_info info) {
  auto q = std::make_shared<question>();
  q->started = clock_type::now();
  q->created_unix_ms = unix_now_ms();
  for (auto& label : info.members)
    if (q->members.size() < limits_.max_members)
      q->add(label, "");
  for (auto& step : info.steps)
    if (q->steps.size() < limits_.max_members)
      q->steps.emplace_back(step, "waiting");
  q->info = std::move(info);
  entry e;
  e.name = "question.started";
  e.json = json_detail::json_text([&](auto& w) {
    w.StartObject();
    write_header(w, q->info, q->created_unix_ms);
    w.Key("members");
    json_detail::write_strings(w, q->info.members);
    w.Key("steps");
    json_detail::write_strings(w, q->info.steps);
    w.EndObject();
  });
  std::vector<std::function<void()>> wakes;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (questions_.size() >= limits_.max_questions ||
        questions_.count(q->info.run_id) > 0)
      return nullptr;
    questions_.emplace(q->info.run_id, q);
    append(*q, std::move(e), wakes);
  }
  for (auto& wake : wakes)
    wake();
  return q;
}

template <class Make>
void live_feed::report(const question_ptr& q, Make&& make) {
  if (!q)
    return;
  std::vector<std::function<void()>> wakes;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (!questions_.count(q->info.run_id))
      return;
    append(*q, make(ms_between(q->started, clock_type::now())), wakes);
  }
  for (auto& wake : wakes)
    wake();
}

void live_feed::progress(const question_ptr& q, const std::string& step,
                         const member_progress& p) {
  report(q, [&](int64_t t) {
    auto message = head_of(p.message, message_max);
    if (auto* m = q->find(step, p.member, limits_.max_members)) {
      m->state = std::string{to_string(p.state)};
      m->attempt = p.attempt;
      m->wait_ms = p.wait_ms;
      if (p.state == member_state::queued && m->queued_ms < 0)
        m->queued_ms = t;
      if (p.state == member_state::sent)
        m->sent_ms = t;
      if (p.state == member_state::retrying) {
        m->reason = std::string{to_string(p.reason)};
        m->message = std::string{message};
      }
    }
    entry e;
    e.name = "member.state";
    e.json = json_detail::json_text([&](auto& w) {
      using json_detail::write_string;
      w.StartObject();
      write_where(w, q->info.run_id, step, p.member);
      w.Key("state");
      write_string(w, to_string(p.state));
      w.Key("attempt");
      w.Int(p.attempt);
      if (p.state == member_state::retrying) {
        w.Key("wait_ms");
        w.Int64(p.wait_ms);
        w.Key("reason");
        write_string(w, to_string(p.reason));
        w.Key("message");
        write_string(w, message);
      }
      w.Key("t");
      w.Int64(t);
      w.EndObject();
    });
    return e;
  });
}

void live_feed::delta(const question_ptr& q, const std::string& step,
                      const member_delta& d) {
  if (d.text.empty())
    return;
  report(q, [&](int64_t t) {
    if (d.answer && step.empty()) {
      keep_text(q->answer_text, q->answer_cut, d.text, limits_.text_per_member);
    } else if (auto* m = q->find(step, d.member, limits_.max_members)) {
      if (m->first_token_ms < 0)
        m->first_token_ms = t;
      m->state = "streaming";
      keep_text(m->text, m->text_cut, d.text, limits_.text_per_member);
    }
    entry e;
    e.name = "member.delta";
    e.run = q->info.run_id;
    e.step = step;
    e.member = d.member;
    e.text = d.text;
    e.answer = d.answer;
    e.t_ms = t;
    return e;
  });
}

void live_feed::member_done(const question_ptr& q, const std::string& step,
                            const member_outcome& o) {
  if (!q)
    return;
  auto slim = slim_outcome(o); // outside the lock
  report(q, [&](int64_t t) {
    std::string state = o.ok                                      ? "done"
                        : o.error.kind == failure_kind::cancelled ? "cancelled"
                                                                  : "failed";
    if (auto* m = q->find(step, o.member, limits_.max_members)) {
      m->state = state;
      m->done_ms = t;
      m->outcome_json = slim;
      // A reply that was not streamed arrives whole.
      if (o.ok && m->text.empty())
        keep_text(m->text, m->text_cut, o.reply.text, limits_.text_per_member);
    }
    entry e;
    e.name = "member.done";
    e.run = q->info.run_id;
    e.step = step;
    e.member = o.member;
    e.json = json_detail::json_text([&](auto& w) {
      using json_detail::write_string;
      w.StartObject();
      write_where(w, q->info.run_id, step, o.member);
      w.Key("state");
      write_string(w, state);
      w.Key("outcome");
      w.RawValue(slim.data(), slim.size(), rapidjson::kObjectType);
      w.Key("text");
      write_string(w, head_of(o.ok ? o.reply.text : o.error.partial_text,
                              limits_.text_per_member));
      w.Key("t");
      w.Int64(t);
      w.EndObject();
    });
    return e;
  });
}

void live_feed::step_event(const question_ptr& q, const std::string& name,
                           const std::string& step, const std::string& data) {
  report(q, [&](int64_t t) {
    std::string state = name == "step.started" ? "running" : "done";
    auto i = std::find_if(q->steps.begin(), q->steps.end(),
                          [&](auto& s) { return s.first == step; });
    if (i != q->steps.end())
      i->second = state;
    else if (q->steps.size() < limits_.max_members)
      q->steps.emplace_back(step, state);
    entry e;
    e.name = name;
    e.json = json_detail::json_text([&](auto& w) {
      w.StartObject();
      write_where(w, q->info.run_id, step, "");
      if (!data.empty()) {
        w.Key("outcome");
        w.RawValue(data.data(), data.size(), rapidjson::kObjectType);
      }
      w.Key("t");
      w.Int64(t);
      w.EndObject();
    });
    return e;
  });
}

void live_feed::finish(const question_ptr& q, const std::string& status,
                       const std::function<std::string()>& write_result) {
  if (!q)
    return;
  // Written outside the lock, and only when someone will read it (a
  // reader that comes in between gets `result: null`, and reads the run).
  bool wanted = false;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    wanted = std::any_of(readers_.begin(), readers_.end(),
                         [&](auto& r) { return r->sees(*q); });
  }
  std::string result_json = wanted ? write_result() : std::string{};
  std::vector<std::function<void()>> wakes;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    auto i = questions_.find(q->info.run_id);
    if (i == questions_.end() || i->second != q)
      return;
    entry e;
    e.name = "question.done";
    e.run = q->info.run_id;
    auto t = ms_between(q->started, clock_type::now());
    e.json = json_detail::json_text([&](auto& w) {
      using json_detail::write_string;
      w.StartObject();
      w.Key("run");
      write_string(w, q->info.run_id);
      w.Key("status");
      write_string(w, status);
      w.Key("t");
      w.Int64(t);
      w.Key("result");
      if (result_json.empty())
        w.Null();
      else
        w.RawValue(result_json.data(), result_json.size(),
                   rapidjson::kObjectType);
      w.EndObject();
    });
    append(*q, std::move(e), wakes);
    questions_.erase(i);
  }
  for (auto& wake : wakes)
    wake();
}

void live_feed::append(question& q, entry e,
                       std::vector<std::function<void()>>& wakes) {
  for (size_t i = 0; i < readers_.size(); ++i) {
    auto& r = *readers_[i];
    if (!r.sees(q))
      continue;
    if (i + 1 == readers_.size())
      queue(r, std::move(e), wakes);
    else
      queue(r, e, wakes);
  }
}

void live_feed::queue(reader& r, entry e,
                      std::vector<std::function<void()>>& wakes) {
  if (r.reset) {
    ++r.lost; // the snapshot at its next take covers this
    return;
  }
  size_t size = e.json.size() + e.text.size() + e.name.size();
  if (r.bytes + size > limits_.reader_queue_bytes) {
    r.lost += r.queue.size() + 1;
    r.queue.clear();
    r.open_deltas.clear();
    r.bytes = 0;
    r.reset = true;
    ++resets_;
  } else if (e.name == "member.delta") {
    auto merge_key =
        e.run + '\n' + e.step + '\n' + e.member + (e.answer ? "\n1" : "\n0");
    auto open = r.open_deltas.find(merge_key);
    if (open != r.open_deltas.end()) {
      auto& held = r.queue[open->second];
      held.text += e.text;
      held.t_ms = e.t_ms;
    } else {
      r.open_deltas.emplace(std::move(merge_key), r.queue.size());
      r.queue.push_back(std::move(e));
    }
    r.bytes += size;
  } else {
    // Later tokens of this member (of this question) come after this
    // event; other members' tokens still join their open events.
    if (e.name == "member.done" || e.name == "question.done") {
      auto prefix = e.run + '\n';
      if (e.name == "member.done")
        prefix += e.step + '\n' + e.member + '\n';
      for (auto i = r.open_deltas.lower_bound(prefix);
           i != r.open_deltas.end() &&
           i->first.compare(0, prefix.size(), prefix) == 0;)
        i = r.open_deltas.erase(i);
    }
    r.queue.push_back(std::move(e));
    r.bytes += size;
  }
  if (!r.woken && r.wake) {
    r.woken = true;
    wakes.push_back(r.wake);
  }
}

std::string live_feed::event_json(const entry& e) {
  if (e.name != "member.delta")
    return e.json;
  return json_detail::json_text([&](auto& w) {
    using json_detail::write_string;
    w.StartObject();
    write_where(w, e.run, e.step, e.member);
    w.Key("text");
    write_string(w, e.text);
    w.Key("answer");
    w.Bool(e.answer);
    w.Key("t");
    w.Int64(e.t_ms);
    w.EndObject();
  });
}

std::string live_feed::snapshot_locked(const live_viewer& viewer) const {
  reader probe;
  probe.viewer = viewer;
  auto now = clock_type::now();
  size_t omitted = 0;
  std::string json = json_detail::json_text([&](auto& w) {
    using json_detail::write_string;
    w.StartObject();
    w.Key("questions");
    w.StartArray();
    size_t bytes = 0;
    // Newest first: a reader that cannot have them all sees the latest.
    std::vector<const question*> visible;
    for (auto& [id, q] : questions_)
      if (probe.sees(*q))
        visible.push_back(q.get());
    std::sort(visible.begin(), visible.end(),
              [](auto* a, auto* b) { return a->started > b->started; });
    for (auto* q : visible) {
      size_t size = 256 + q->answer_text.size();
      for (auto& m : q->members)
        size += 256 + m.text.size() + m.outcome_json.size();
      if (bytes + size > snapshot_max_bytes) {
        ++omitted;
        continue;
      }
      bytes += size;
      w.StartObject();
      write_header(w, q->info, q->created_unix_ms);
      w.Key("t");
      w.Int64(ms_between(q->started, now));
      w.Key("members");
      w.StartArray();
      for (auto& m : q->members) {
        w.StartObject();
        w.Key("member");
        write_string(w, m.label);
        if (!m.step.empty()) {
          w.Key("step");
          write_string(w, m.step);
        }
        w.Key("state");
        write_string(w, m.state);
        w.Key("attempt");
        w.Int(m.attempt);
        if (m.state == "retrying") {
          w.Key("wait_ms");
          w.Int64(m.wait_ms);
          w.Key("reason");
          write_string(w, m.reason);
          w.Key("message");
          write_string(w, m.message);
        }
        w.Key("text");
        write_string(w, m.text);
        w.Key("text_cut");
        w.Bool(m.text_cut);
        for (auto [name, value] : {std::pair{"queued_ms", m.queued_ms},
                                   {"sent_ms", m.sent_ms},
                                   {"first_token_ms", m.first_token_ms},
                                   {"done_ms", m.done_ms}}) {
          w.Key(name);
          if (value < 0)
            w.Null();
          else
            w.Int64(value);
        }
        w.Key("outcome");
        if (m.outcome_json.empty())
          w.Null();
        else
          w.RawValue(m.outcome_json.data(), m.outcome_json.size(),
                     rapidjson::kObjectType);
        w.EndObject();
      }
      w.EndArray();
      w.Key("answer_text");
      write_string(w, q->answer_text);
      w.Key("steps");
      w.StartObject();
      for (auto& [step, state] : q->steps) {
        w.Key(step.data(), static_cast<rapidjson::SizeType>(step.size()));
        write_string(w, state);
      }
      w.EndObject();
      w.EndObject();
    }
    w.EndArray();
    w.Key("omitted");
    w.Uint64(omitted);
    w.EndObject();
  });
  return json;
}

live_feed::reader_ptr live_feed::subscribe(live_viewer viewer,
                                           std::function<void()> wake) {
  auto r = std::make_shared<reader>();
  r->viewer = std::move(viewer);
  r->wake = std::move(wake);
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (readers_.size() >= limits_.max_readers)
      return nullptr;
    readers_.push_back(r);
  }
  return r;
}

void live_feed::unsubscribe(const reader_ptr& r) {
  std::lock_guard<std::mutex> guard{mutex_};
  readers_.erase(std::remove(readers_.begin(), readers_.end(), r),
                 readers_.end());
}

std::string live_feed::take(const reader_ptr& r) {
  std::string out;
  std::lock_guard<std::mutex> guard{mutex_};
  r->woken = false;
  if (r->reset) {
    out += "event: reset\ndata: {\"lost\":" + std::to_string(r->lost) + "}\n\n";
    r->reset = false;
    r->lost = 0;
    r->needs_snapshot = true;
  }
  if (r->needs_snapshot) {
    r->needs_snapshot = false;
    out += "event: snapshot\ndata: " + snapshot_locked(r->viewer) + "\n\n";
    // The snapshot holds what was queued before it.
    r->queue.clear();
  }
  for (auto& e : r->queue)
    out += "event: " + e.name + "\ndata: " + event_json(e) + "\n\n";
  r->queue.clear();
  r->open_deltas.clear();
  r->bytes = 0;
  return out;
}

size_t live_feed::questions() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return questions_.size();
}

size_t live_feed::readers() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return readers_.size();
}

uint64_t live_feed::resets() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return resets_;
}

} // namespace tutti::http
