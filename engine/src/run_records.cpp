#include "engine/src/run_records.hpp"

#include <chrono>

#include "engine/src/json_writers.hpp"
#include "engine/src/member_agreement.hpp"

namespace tutti {

namespace {

stored_call call_of(const member_outcome& m, const std::string& step,
                    const char* role, bool texts) {
  stored_call c;
  c.step = step;
  c.role = role;
  c.member = m.member;
  c.provider = m.provider;
  c.model = m.model;
  c.ok = m.ok;
  auto& time = m.ok ? m.reply.timing : m.error.timing;
  c.queued_us = time.queued_us;
  c.first_token_us = time.first_token_us;
  c.total_us = time.total_us;
  if (m.ok) {
    c.attempts = m.reply.attempts;
    c.usage = m.reply.usage;
    c.cost_usd = m.reply.cost_usd;
    c.finish_reason = m.reply.finish_reason;
    c.cached = m.reply.cached;
    if (texts)
      c.text = m.reply.text;
  } else {
    c.failure_kind = std::string{to_string(m.error.kind)};
    c.error = m.error.message;
    c.http_status = m.error.http_status;
    c.attempts = m.error.attempts;
    c.usage = m.error.usage;
    c.cost_usd = m.error.cost_usd;
    if (texts)
      c.text = m.error.partial_text;
  }
  return c;
}

void add_calls(std::vector<stored_call>& calls, const ensemble_answer& a,
               const std::string& step, bool texts) {
  auto agreed = member_agreement(a);
  for (size_t i = 0; i < a.members.size(); ++i) {
    calls.push_back(call_of(a.members[i], step, "member", texts));
    calls.back().agreed = agreed[i];
  }
  for (auto& m : a.combiner_calls)
    calls.push_back(call_of(m, step, "combiner", texts));
}

/// Moves the context's texts (the prompt may be long) into the run.
stored_run run_of(run_context& context) {
  stored_run run;
  run.id = std::move(context.id);
  run.kind = std::move(context.kind);
  run.target_kind = std::move(context.target_kind);
  run.target = std::move(context.target);
  run.key = std::move(context.key);
  run.session = std::move(context.session);
  run.started_ms = context.started_ms;
  run.finished_ms = unix_now_ms();
  if (context.texts)
    run.prompt = std::move(context.prompt);
  return run;
}

} // namespace

std::string messages_json(const std::vector<chat_message>& messages) {
  return json_detail::json_text([&](auto& w) {
    w.StartArray();
    for (auto& m : messages) {
      w.StartObject();
      w.Key("role");
      json_detail::write_string(w, m.role);
      w.Key("content");
      json_detail::write_string(w, m.content);
      // Images are not kept (their bytes would swell the store, and a URL
      // may carry a signature): only how many there were.
      if (auto images = m.images(); images > 0) {
        w.Key("images");
        w.Uint64(images);
      }
      w.EndObject();
    }
    w.EndArray();
  });
}

std::string inputs_json(const std::map<std::string, std::string>& inputs) {
  return json_detail::json_text([&](auto& w) {
    w.StartObject();
    for (auto& [name, value] : inputs) {
      json_detail::write_string(w, name);
      json_detail::write_string(w, value);
    }
    w.EndObject();
  });
}

stored_run stored_run_of(run_context context, const ensemble_answer& answer) {
  auto run = run_of(context);
  run.status =
      context.cancelled ? "cancelled" : std::string{to_string(answer.status)};
  run.wall_us = answer.total_us;
  run.usage = answer.usage;
  run.cost_usd = answer.cost_usd;
  run.combine = answer.combine;
  run.note = answer.note;
  if (context.texts) {
    run.answer = answer.text;
    // The vote table and reviews quote the replies: kept with the texts.
    run.verdict = json_detail::json_text([&](auto& w) {
      w.StartObject();
      w.Key("winner");
      json_detail::write_string_or_null(w, answer.winner);
      json_detail::write_verdict_fields(w, answer);
      w.EndObject();
    });
  }
  add_calls(run.calls, answer, "", context.texts);
  return run;
}

stored_run stored_run_of(run_context context, const pipeline_result& result) {
  auto run = run_of(context);
  run.status =
      context.cancelled ? "cancelled" : std::string{to_string(result.status)};
  run.wall_us = result.total_us;
  run.usage = result.usage;
  run.cost_usd = result.cost_usd;
  if (context.texts)
    run.answer = result.output;
  for (auto& s : result.steps) {
    stored_step step;
    step.id = s.id;
    step.target = s.answer.ensemble;
    step.status = std::string{to_string(s.status)};
    step.reason = s.reason;
    step.combine = s.answer.combine;
    step.note = s.answer.note;
    step.started_us = s.started_us;
    step.total_us = s.total_us;
    step.usage = s.answer.usage;
    step.cost_usd = s.answer.cost_usd;
    if (context.texts)
      step.text = s.answer.text;
    run.steps.push_back(std::move(step));
    if (s.started_us >= 0)
      add_calls(run.calls, s.answer, s.id, context.texts);
  }
  return run;
}

} // namespace tutti
