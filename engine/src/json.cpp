#include "tutti/json.hpp"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/src/json_reader.hpp"
#include "engine/src/json_writers.hpp"

namespace tutti {

namespace {

using namespace json_detail;

template <class Value, class Fn>
std::string render(const Value& value, bool pretty, Fn fn) {
  rapidjson::StringBuffer buffer;
  if (pretty) {
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w{buffer};
    w.SetIndent(' ', 2);
    fn(w, value);
  } else {
    rapidjson::Writer<rapidjson::StringBuffer> w{buffer};
    fn(w, value);
  }
  return {buffer.GetString(), buffer.GetSize()};
}

template <class Writer>
void key_string(Writer& w, const char* key, const std::string& value) {
  w.Key(key);
  write_string(w, value);
}

template <class Writer>
void key_int(Writer& w, const char* key, int64_t value) {
  w.Key(key);
  w.Int64(value);
}

template <class Writer>
void key_cost(Writer& w, double usd) {
  w.Key("cost_usd");
  w.Double(usd);
}

template <class Writer>
void write_stored_call(Writer& w, const stored_call& c) {
  w.StartObject();
  if (!c.step.empty())
    key_string(w, "step", c.step);
  key_string(w, "role", c.role);
  key_string(w, "member", c.member);
  key_string(w, "provider", c.provider);
  key_string(w, "model", c.model);
  key_string(w, "status", c.ok ? "ok" : "failed");
  if (!c.ok) {
    key_string(w, "failure_kind", c.failure_kind);
    key_string(w, "error", c.error);
    key_int(w, "http_status", c.http_status);
  }
  key_int(w, "attempts", c.attempts);
  key_int(w, "queued_us", c.queued_us);
  key_int(w, "first_token_us", c.first_token_us);
  key_int(w, "total_us", c.total_us);
  w.Key("usage");
  write_usage(w, c.usage);
  key_cost(w, c.cost_usd);
  w.Key("cached");
  w.Bool(c.cached);
  key_string(w, "finish_reason", c.finish_reason);
  key_string(w, "text", c.text);
  if (c.agreed) {
    w.Key("agreed");
    w.Bool(*c.agreed);
  }
  w.EndObject();
}

template <class Writer>
void write_stored_step(Writer& w, const stored_step& s) {
  w.StartObject();
  key_string(w, "id", s.id);
  key_string(w, "target", s.target);
  key_string(w, "status", s.status);
  key_string(w, "reason", s.reason);
  key_string(w, "combine", s.combine);
  key_string(w, "note", s.note);
  key_int(w, "started_us", s.started_us);
  key_int(w, "total_us", s.total_us);
  w.Key("usage");
  write_usage(w, s.usage);
  key_cost(w, s.cost_usd);
  key_string(w, "text", s.text);
  w.EndObject();
}

template <class Writer>
void write_stored_run(Writer& w, const stored_run& r, bool with_parts) {
  w.StartObject();
  key_string(w, "id", r.id);
  key_string(w, "object", "tutti.run");
  key_string(w, "kind", r.kind);
  key_string(w, "target_kind", r.target_kind);
  key_string(w, "target", r.target);
  key_string(w, "status", r.status);
  key_int(w, "started_ms", r.started_ms);
  key_int(w, "finished_ms", r.finished_ms);
  key_int(w, "wall_us", r.wall_us);
  w.Key("usage");
  write_usage(w, r.usage);
  key_cost(w, r.cost_usd);
  key_string(w, "key", r.key);
  key_string(w, "session", r.session);
  key_string(w, "combine", r.combine);
  key_string(w, "note", r.note);
  key_string(w, "prompt", r.prompt);
  key_string(w, "answer", r.answer);
  if (with_parts && !r.verdict.empty()) {
    // Its fields (winner, votes, ranking, reviews ...) as the answer's JSON
    // has them. The store wrote them; a text it cannot read is left out.
    rapidjson::Document verdict;
    if (json_reader::parse(verdict, r.verdict).ok && verdict.IsObject())
      for (auto& field : verdict.GetObject()) {
        w.Key(field.name.GetString(), field.name.GetStringLength());
        field.value.Accept(w);
      }
  }
  if (with_parts) {
    w.Key("steps");
    w.StartArray();
    for (auto& s : r.steps)
      write_stored_step(w, s);
    w.EndArray();
    w.Key("calls");
    w.StartArray();
    for (auto& c : r.calls)
      write_stored_call(w, c);
    w.EndArray();
  }
  w.EndObject();
}

} // namespace

std::string to_json(const stored_run& run, bool pretty) {
  return render(run, pretty,
                [](auto& w, const auto& v) { write_stored_run(w, v, true); });
}

std::string to_json(const run_page& page, bool pretty) {
  return render(page, pretty, [](auto& w, const auto& v) {
    w.StartObject();
    key_string(w, "object", "list");
    w.Key("data");
    w.StartArray();
    for (auto& r : v.runs)
      write_stored_run(w, r, false);
    w.EndArray();
    w.Key("next_cursor");
    write_string_or_null(w, v.next_cursor);
    w.Key("has_more");
    w.Bool(!v.next_cursor.empty());
    w.EndObject();
  });
}

std::string to_json(const stats_query& query,
                    const std::vector<stats_row>& rows, bool pretty) {
  return render(rows, pretty, [&](auto& w, const auto& v) {
    w.StartObject();
    key_string(w, "object", "list");
    key_string(w, "by", query.by);
    key_string(w, "per", query.per);
    key_int(w, "since_ms", query.since_ms);
    w.Key("data");
    w.StartArray();
    for (auto& r : v) {
      w.StartObject();
      key_string(w, "group", r.group);
      key_int(w, "bucket_ms", r.bucket_ms);
      key_int(w, "calls", r.calls);
      key_int(w, "failures", r.failures);
      w.Key("failures_by_kind");
      w.StartObject();
      for (auto& [kind, n] : r.failures_by_kind)
        key_int(w, kind.c_str(), n);
      w.EndObject();
      key_int(w, "cached", r.cached);
      key_int(w, "voted", r.voted);
      key_int(w, "agreed", r.agreed);
      w.Key("p50_ms");
      w.Double(r.p50_ms);
      w.Key("p95_ms");
      w.Double(r.p95_ms);
      key_int(w, "input_tokens", r.input_tokens);
      key_int(w, "output_tokens", r.output_tokens);
      key_int(w, "saved_input_tokens", r.saved_input_tokens);
      key_int(w, "saved_output_tokens", r.saved_output_tokens);
      key_cost(w, r.cost_usd);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  });
}

std::string to_json(const member_outcome& outcome, bool pretty) {
  return render(outcome, pretty,
                [](auto& w, const auto& v) { write_outcome(w, v); });
}

std::string to_json(const ensemble_answer& answer, bool pretty) {
  return render(answer, pretty,
                [](auto& w, const auto& v) { write_answer(w, v); });
}

std::string to_json(const pipeline_result& result, bool pretty) {
  return render(result, pretty,
                [](auto& w, const auto& v) { write_result(w, v); });
}

} // namespace tutti
