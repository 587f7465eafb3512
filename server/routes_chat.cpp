// POST /v1/chat/completions: OpenAI's chat completions, whole or streamed,
// on top of the engine's `start_ask`.

#include "server/server_impl.hpp"
#include "tutti/json.hpp"

namespace tutti {

namespace {

using http::api_error;
using http::error_response;
using http::event_stream_headers;
using http::exchange_ptr;
using http::json_response;
using http::unix_now;

std::string failure_summary(const ensemble_answer& answer) {
  std::string text = "the ensemble '" + answer.ensemble + "' has no answer";
  if (!answer.note.empty())
    text += ": " + answer.note;
  std::string reasons;
  for (auto& m : answer.members) {
    if (m.ok)
      continue;
    reasons += (reasons.empty() ? "" : "; ") + m.member + " " +
               std::string{to_string(m.error.kind)};
    if (m.error.http_status != 0)
      reasons += " " + std::to_string(m.error.http_status);
    if (!m.error.message.empty())
      reasons += ": " + m.error.message;
  }
  return reasons.empty() ? text : text + " (" + reasons + ")";
}

/// The 502 of an ensemble that has no answer, sent with the answer itself;
/// a 429 `budget_exceeded` when spend budgets stopped every call.
api_error ensemble_failed(const ensemble_answer& answer) {
  bool over_budget = !answer.members.empty();
  for (auto& m : answer.members)
    over_budget =
        over_budget && !m.ok && m.error.kind == failure_kind::budget_exceeded;
  if (over_budget)
    return api_error{429, failure_summary(answer), "insufficient_quota", "",
                     "budget_exceeded"};
  return api_error{502, failure_summary(answer), "upstream_error", "",
                   "ensemble_failed"};
}

/// What a client that reads only headers learns of an ensemble's answer.
void add_answer_headers(http::response& r, const ensemble_answer& answer) {
  int ok = 0;
  for (auto& m : answer.members)
    ok += m.ok;
  r.headers.emplace_back("x-tutti-status",
                         std::string{to_string(answer.status)});
  r.headers.emplace_back("x-tutti-members-ok", std::to_string(ok));
  r.headers.emplace_back(
      "x-tutti-members-failed",
      std::to_string(static_cast<int>(answer.members.size()) - ok));
}

api_error shutting_down() {
  return api_error{503, "tutti serve is shutting down", "server_error", "",
                   "shutting_down"};
}

std::string sse_data(const std::string& json) {
  return "data: " + json + "\n\n";
}

/// Whether a delta is a token of the answer: a provider asked alone
/// answers with its own reply, so its member tokens are the answer's (and
/// the `first` strategy's whole-reply answer delta that follows them is a
/// repeat); an ensemble's answer tokens are marked.
bool is_answer_delta(const http::chat_call& call, const member_delta& d) {
  return call.to.of == target::kind::provider ? !d.answer : d.answer;
}

} // namespace

struct server::impl::chat_state {
  exchange_ptr ex;
  uint64_t handle = 0;   ///< guarded by in_flight_mutex until tracked
  bool answered = false; ///< guarded by in_flight_mutex
  http::completion_ids ids;
  http::chat_call call;
  bool streaming = false; ///< the 200 and the role chunk are out
  bool counted = false;   ///< in the metrics' open streams
  std::string sent_text;  ///< answer text streamed so far
};

void server::impl::stream_over(chat_state& st) {
  if (st.counted)
    metrics.stream_closed();
  st.counted = false;
}

void server::impl::chat(const exchange_ptr& ex) {
  auto parsed = valid_call(
      http::parse_chat_request(ex->body(), engine.loaded_config()), *ex);
  if (!parsed || !session_ok(*ex) || !may_ask(*ex, parsed->to.name) ||
      !admit_key(*ex))
    return;
  auto st = std::make_shared<chat_state>();
  st->ex = ex;
  st->call = std::move(*parsed);
  st->ids = http::completion_ids{"chatcmpl-" + http::random_hex(24), unix_now(),
                                 st->call.model};
  ex->target = st->call.model;
  if (st->call.combine) {
    // Checked as the config's own are: a setting the strategy does not
    // declare, a missing one, an unknown judge is the client's error.
    if (st->call.to.of != target::kind::ensemble) {
      ex->respond(error_response(api_error{
          400,
          "tutti.combine: the model is a provider, asked alone; only an "
          "ensemble has a combine strategy to choose",
          "invalid_request_error", "tutti.combine", "invalid_value"}));
      return;
    }
    try {
      const auto& cfg = engine.loaded_config();
      validate_combine_choice("tutti", cfg.ensembles.at(st->call.to.name).where,
                              st->call.combine->name,
                              st->call.combine->settings, cfg,
                              engine.plugins());
    } catch (const config_error& e) {
      ex->respond(
          error_response(api_error{400, e.message(), "invalid_request_error",
                                   "tutti.combine", "invalid_value"}));
      return;
    }
  }
  ask_options ask;
  scope_of(*ex, new_run_id(), ask);
  ask.stream = st->call.stream;
  ask.params = st->call.params;
  ask.combine = st->call.combine;
  if (st->call.stream) {
    ask.on_delta = [this, st](const member_delta& d) {
      if (!is_answer_delta(st->call, d) &&
          !(st->call.stream_members && !d.answer))
        return;
      st->ex->post([this, st, d] { chat_delta(*st, d); });
    };
    if (st->call.stream_members)
      ask.on_member_done = [this, st](const member_outcome& o) {
        st->ex->post([this, st, o] { chat_member_done(*st, o); });
      };
  }
  if (!st->call.session.empty())
    ask.record.session = st->call.session;
  if (ask.record.session.empty()) {
    start_chat(st, std::move(ask));
    return;
  }
  // A conversation's earlier turns come from the store, read on the
  // waiting pool; the question starts back on the exchange's strand.
  auto pending = std::make_shared<ask_options>(std::move(ask));
  bool queued = waiting.submit([this, st, pending] {
    std::string problem;
    try {
      pending->history = engine.session_history(pending->record.session);
    } catch (const std::exception& e) {
      problem = e.what();
    }
    st->ex->post([this, st, pending, problem] {
      if (!problem.empty()) {
        st->ex->respond(error_response(api_error{
            503, "The conversation's history cannot be read: " + problem,
            "server_error", "tutti.session", "store_unavailable"}));
        return;
      }
      start_chat(st, std::move(*pending));
    });
  });
  if (!queued)
    ex->respond(error_response(api_error{503, "Too busy; try again shortly",
                                         "server_error", "", "busy"}));
}

void server::impl::start_chat(const std::shared_ptr<chat_state>& st,
                              ask_options ask) {
  auto& ex = st->ex;
  uint64_t handle = 0;
  begin_question();
  try {
    handle = engine.start_ask(
        st->call.to, st->call.messages, std::move(ask),
        [this, st, key = ex->key_name,
         budgets = key_budgets](ensemble_answer a) {
          budgets->charge(key, a.usage);
          auto answer = std::make_shared<ensemble_answer>(std::move(a));
          st->ex->post([this, st, answer] { chat_answer(*st, *answer); });
          end_question(*st);
        });
  } catch (const unsupported_request& e) {
    end_question(*st);
    ex->respond(error_response(api_error{400, e.what(), "invalid_request_error",
                                         e.param(), "unsupported_parameter"}));
    return;
  } catch (const config_error& e) {
    end_question(*st);
    ex->respond(error_response(
        api_error{500, e.message(), "server_error", "model", "config_error"}));
    return;
  }
  track(*st, handle);
  // A client that leaves cancels its question (and the upstream calls).
  ex->on_gone([this, st] {
    engine.cancel(st->handle);
    stream_over(*st);
  });
}

bool server::impl::open_chat_stream(chat_state& st) {
  if (st.streaming)
    return true;
  st.streaming = true;
  st.ex->start_stream(200, "text/event-stream", event_stream_headers());
  metrics.stream_opened();
  st.counted = true;
  return st.ex->write(
      sse_data(http::role_chunk(st.ids, st.call.include_usage)));
}

void server::impl::chat_delta(chat_state& st, const member_delta& d) {
  if (!open_chat_stream(st))
    return;
  if (is_answer_delta(st.call, d)) {
    st.sent_text += d.text;
    st.ex->write(
        sse_data(http::content_chunk(st.ids, d.text, st.call.include_usage)));
  } else {
    st.ex->write(
        sse_data(http::member_delta_chunk(st.ids, d, st.call.include_usage)));
  }
}

void server::impl::chat_member_done(chat_state& st, const member_outcome& o) {
  if (!open_chat_stream(st))
    return;
  st.ex->write(
      sse_data(http::member_done_chunk(st.ids, o, st.call.include_usage)));
}

void server::impl::chat_answer(chat_state& st, const ensemble_answer& answer) {
  auto& ex = *st.ex;
  // A refusal is the model's answer, passed on as OpenAI sends it.
  auto refusal = http::refusal_of(answer);
  bool failed = answer.status == answer_status::failed && !refusal;
  if (!st.streaming) { // nothing is sent yet
    bool alone =
        st.call.to.of == target::kind::provider && answer.members.size() == 1;
    if (failed && stopping) {
      ex.respond(error_response(shutting_down()));
      return;
    }
    if (failed && alone) {
      // As the vendor answered: its SDK's own retry rules then apply.
      auto error = provider_failed(answer);
      auto r = error_response(error, to_json(answer));
      auto& cause = answer.members[0].error;
      if (error.status == 429 && cause.retry_after_ms >= 0) {
        // Both, as OpenAI sends them; its SDKs prefer the milliseconds.
        r.headers.emplace_back(
            "Retry-After", std::to_string((cause.retry_after_ms + 999) / 1000));
        r.headers.emplace_back("retry-after-ms",
                               std::to_string(cause.retry_after_ms));
      }
      if (cause.kind == failure_kind::budget_exceeded)
        r.headers.emplace_back("x-should-retry", "false");
      add_answer_headers(r, answer);
      ex.respond(std::move(r));
      return;
    }
    if (failed) {
      auto r = error_response(ensemble_failed(answer), to_json(answer));
      // tutti has retried already; a client's retry runs it all again.
      r.headers.emplace_back("x-should-retry", "false");
      add_answer_headers(r, answer);
      ex.respond(std::move(r));
      return;
    }
    if (!st.call.stream) {
      auto r = json_response(200, http::chat_completion_json(st.ids, answer));
      add_answer_headers(r, answer);
      ex.respond(std::move(r));
      return;
    }
  }
  if (!open_chat_stream(st))
    return;
  bool usage = st.call.include_usage;
  if (failed) {
    // Mid-stream, the error goes as an event; OpenAI's SDKs raise it.
    ex.write(sse_data(http::to_json(ensemble_failed(answer), to_json(answer))));
    end_chat_stream(st);
    return;
  }
  // Strategies that do not stream their answer send it whole here; a
  // streamed one sends whatever its tokens did not cover.
  if (refusal)
    ex.write(sse_data(http::refusal_chunk(st.ids, *refusal, usage)));
  else if (answer.text.rfind(st.sent_text, 0) == 0 &&
           answer.text.size() > st.sent_text.size())
    ex.write(sse_data(http::content_chunk(
        st.ids, answer.text.substr(st.sent_text.size()), usage)));
  if (!refusal && !answer.tool_calls.empty())
    ex.write(
        sse_data(http::tool_calls_chunk(st.ids, answer.tool_calls, usage)));
  ex.write(sse_data(http::finish_chunk(st.ids, answer, usage)));
  if (usage)
    ex.write(sse_data(http::usage_chunk(st.ids, answer.usage)));
  ex.write("data: [DONE]\n\n");
  end_chat_stream(st);
}

void server::impl::end_chat_stream(chat_state& st) {
  stream_over(st);
  st.ex->end_stream();
}

} // namespace tutti
