#include "store/run_detail.hpp"

#include <map>

#include "engine/src/json_reader.hpp"
#include "engine/src/json_writers.hpp"

namespace tutti::store_detail {

namespace {

using json_detail::json_text;
using json_detail::write_string;

template <class Writer>
void write_int(Writer& w, const char* key, int64_t value) {
  w.Key(key);
  w.Int64(value);
}

/// A text as the store keeps every text: not UTF-8 and NUL as U+FFFD, as
/// in the run's own columns (PostgreSQL cuts text at a NUL).
template <class Writer>
void write_text(Writer& w, const char* key, std::string_view value) {
  w.Key(key);
  if (value.find('\0') == std::string_view::npos) {
    write_string(w, value);
    return;
  }
  std::string kept;
  kept.reserve(value.size() + 8);
  for (char c : value)
    kept +=
        c == '\0' ? std::string_view{"\xef\xbf\xbd"} : std::string_view{&c, 1};
  write_string(w, kept);
}

template <class Writer>
void write_usage(Writer& w, const usage& u, double cost_usd) {
  write_int(w, "input_tokens", u.input_tokens);
  write_int(w, "output_tokens", u.output_tokens);
  write_int(w, "cached_input_tokens", u.cached_input_tokens);
  w.Key("cost_usd");
  w.Double(cost_usd);
}

/// Reads the fields of one object of a run's detail.
class fields {
public:
  fields(const rapidjson::Value& object, const std::string& run)
      : object_(object), run_(run) {
    if (!object.IsObject())
      bad("an entry is not an object");
  }

  std::string text(const char* key) const {
    auto* v = find(key);
    if (v == nullptr)
      return {};
    if (!v->IsString())
      bad(std::string{"'"} + key + "' is not a string");
    return {v->GetString(), v->GetStringLength()};
  }

  int64_t integer(const char* key, int64_t otherwise = 0) const {
    auto* v = find(key);
    if (v == nullptr)
      return otherwise;
    if (!v->IsInt64())
      bad(std::string{"'"} + key + "' is not a whole number");
    return v->GetInt64();
  }

  double real(const char* key) const {
    auto* v = find(key);
    if (v == nullptr)
      return 0;
    if (!v->IsNumber())
      bad(std::string{"'"} + key + "' is not a number");
    return v->GetDouble();
  }

  usage tokens() const {
    return {integer("input_tokens"), integer("output_tokens"),
            integer("cached_input_tokens")};
  }

private:
  const rapidjson::Value* find(const char* key) const {
    auto it = object_.FindMember(key);
    return it == object_.MemberEnd() || it->value.IsNull() ? nullptr
                                                           : &it->value;
  }

  [[noreturn]] void bad(const std::string& why) const {
    throw store_error("run " + run_ + ": its stored detail is damaged: " + why);
  }

  const rapidjson::Value& object_;
  const std::string& run_;
};

} // namespace

std::string encode_run_detail(const stored_run& run) {
  return json_text([&](auto& w) {
    w.StartObject();
    w.Key("steps");
    w.StartArray();
    for (auto& s : run.steps) {
      w.StartObject();
      write_text(w, "id", s.id);
      write_text(w, "target", s.target);
      write_text(w, "status", s.status);
      write_text(w, "reason", s.reason);
      write_text(w, "combine", s.combine);
      write_text(w, "note", s.note);
      write_int(w, "started_us", s.started_us);
      write_int(w, "total_us", s.total_us);
      write_usage(w, s.usage, s.cost_usd);
      write_text(w, "text", s.text);
      w.EndObject();
    }
    w.EndArray();
    w.Key("calls");
    w.StartArray();
    for (auto& c : run.calls) {
      w.StartObject();
      write_text(w, "step", c.step);
      write_text(w, "role", c.role);
      write_text(w, "member", c.member);
      write_text(w, "provider", c.provider);
      write_text(w, "model", c.model);
      write_int(w, "ok", c.ok ? 1 : 0);
      write_text(w, "failure_kind", c.failure_kind);
      write_text(w, "error", c.error);
      write_int(w, "http_status", c.http_status);
      write_int(w, "attempts", c.attempts);
      write_int(w, "queued_us", c.queued_us);
      write_int(w, "first_token_us", c.first_token_us);
      write_int(w, "total_us", c.total_us);
      write_usage(w, c.usage, c.cost_usd);
      write_int(w, "cached", c.cached ? 1 : 0);
      write_text(w, "finish_reason", c.finish_reason);
      write_text(w, "text", c.text);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  });
}

void decode_run_detail(std::string_view detail, stored_run& run) {
  run.steps.clear();
  run.calls.clear();
  if (detail.empty())
    return;
  rapidjson::Document doc;
  auto parsed = json_reader::parse(doc, detail);
  if (!parsed.ok || !doc.IsObject())
    throw store_error("run " + run.id + ": its stored detail is damaged: " +
                      (parsed.ok ? std::string{"not an object"} : parsed.what));
  auto list = [&](const char* key) -> const rapidjson::Value* {
    auto it = doc.FindMember(key);
    if (it == doc.MemberEnd())
      return nullptr;
    if (!it->value.IsArray())
      throw store_error("run " + run.id + ": its stored detail is damaged: '" +
                        key + "' is not a list");
    return &it->value;
  };
  if (auto* steps = list("steps"))
    for (auto& item : steps->GetArray()) {
      fields f{item, run.id};
      stored_step s;
      s.id = f.text("id");
      s.target = f.text("target");
      s.status = f.text("status");
      s.reason = f.text("reason");
      s.combine = f.text("combine");
      s.note = f.text("note");
      s.started_us = f.integer("started_us", -1);
      s.total_us = f.integer("total_us");
      s.usage = f.tokens();
      s.cost_usd = f.real("cost_usd");
      s.text = f.text("text");
      run.steps.push_back(std::move(s));
    }
  if (auto* calls = list("calls"))
    for (auto& item : calls->GetArray()) {
      fields f{item, run.id};
      stored_call c;
      c.step = f.text("step");
      c.role = f.text("role");
      c.member = f.text("member");
      c.provider = f.text("provider");
      c.model = f.text("model");
      c.ok = f.integer("ok") != 0;
      c.failure_kind = f.text("failure_kind");
      c.error = f.text("error");
      c.http_status = f.integer("http_status");
      c.attempts = f.integer("attempts");
      c.queued_us = f.integer("queued_us");
      c.first_token_us = f.integer("first_token_us", -1);
      c.total_us = f.integer("total_us");
      c.usage = f.tokens();
      c.cost_usd = f.real("cost_usd");
      c.cached = f.integer("cached") != 0;
      c.finish_reason = f.text("finish_reason");
      c.text = f.text("text");
      run.calls.push_back(std::move(c));
    }
}

void fold_steps_and_calls(sql_db& db) {
  constexpr int page = 500;
  std::string after;
  for (;;) {
    std::vector<std::string> ids;
    db.query("SELECT id FROM runs WHERE id > ? ORDER BY id LIMIT " +
                 std::to_string(page),
             {after}, [&](const sql_row& r) { ids.push_back(r.text(0)); });
    if (ids.empty())
      break;
    std::map<std::string, stored_run> runs;
    for (auto& id : ids)
      runs[id].id = id;
    std::vector<sql_value> range{ids.front(), ids.back()};
    db.query("SELECT run_id, id, target, status, reason, combine, note, "
             "started_us, total_us, input_tokens, output_tokens, "
             "cached_input_tokens, cost_usd, answer FROM steps WHERE run_id "
             ">= ? AND run_id <= ? ORDER BY run_id, seq",
             range, [&](const sql_row& r) {
               auto run = runs.find(r.text(0));
               if (run == runs.end())
                 return; // a step of no run
               stored_step s;
               s.id = r.text(1);
               s.target = r.text(2);
               s.status = r.text(3);
               s.reason = r.text(4);
               s.combine = r.text(5);
               s.note = r.text(6);
               s.started_us = r.integer(7);
               s.total_us = r.integer(8);
               s.usage = {r.integer(9), r.integer(10), r.integer(11)};
               s.cost_usd = r.real(12);
               s.text = r.text(13);
               run->second.steps.push_back(std::move(s));
             });
    db.query("SELECT run_id, step, role, member, provider, model, ok, "
             "failure_kind, error, http_status, attempts, queued_us, "
             "first_token_us, total_us, input_tokens, output_tokens, "
             "cached_input_tokens, cost_usd, cached, finish_reason, text FROM "
             "calls WHERE run_id >= ? AND run_id <= ? ORDER BY run_id, seq",
             range, [&](const sql_row& r) {
               auto run = runs.find(r.text(0));
               if (run == runs.end())
                 return;
               stored_call c;
               c.step = r.text(1);
               c.role = r.text(2);
               c.member = r.text(3);
               c.provider = r.text(4);
               c.model = r.text(5);
               c.ok = r.integer(6) != 0;
               c.failure_kind = r.text(7);
               c.error = r.text(8);
               c.http_status = r.integer(9);
               c.attempts = r.integer(10);
               c.queued_us = r.integer(11);
               c.first_token_us = r.integer(12);
               c.total_us = r.integer(13);
               c.usage = {r.integer(14), r.integer(15), r.integer(16)};
               c.cost_usd = r.real(17);
               c.cached = r.integer(18) != 0;
               c.finish_reason = r.text(19);
               c.text = r.text(20);
               run->second.calls.push_back(std::move(c));
             });
    for (auto& [id, run] : runs)
      if (!run.steps.empty() || !run.calls.empty())
        db.run("UPDATE runs SET detail = ? WHERE id = ?",
               {encode_run_detail(run), id});
    after = ids.back();
  }
  db.run("DROP TABLE steps");
  db.run("DROP TABLE calls");
}

} // namespace tutti::store_detail
