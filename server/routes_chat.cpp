// One question in any client API (server/client_api.hpp): POST
// /v1/chat/completions, /v1/responses and /v1/messages, whole or streamed,
// on top of the engine's `start_ask`.

#include <algorithm>

#include "server/client_api.hpp"
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
  const http::client_api* api = nullptr;
  std::unique_ptr<http::reply_stream> out; ///< while streaming
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

void server::impl::chat(const exchange_ptr& ex, const http::client_api& api) {
  auto parsed = valid_call(api.parse(ex->body(), engine.loaded_config()), *ex);
  if (!parsed || !session_ok(*ex))
    return;
  std::optional<ensemble_config> own = parsed->routed;
  if (!parsed->inline_ensemble.empty()) {
    if (!own_ensemble(*ex, *parsed, own))
      return;
  } else if (!may_ask(*ex, parsed->routed ? parsed->route : parsed->to.name)) {
    return;
  }
  if (!admit_key(*ex))
    return;
  auto st = std::make_shared<chat_state>();
  st->ex = ex;
  st->api = &api;
  st->call = std::move(*parsed);
  st->ids = http::completion_ids{api.id_prefix() + http::random_hex(24),
                                 unix_now(), st->call.model};
  ex->target = st->call.model;
  if (st->call.combine && st->call.routed) {
    ex->respond(error_response(api_error{
        400,
        "tutti.combine: the model is routed to one deployment at a time; "
        "only an ensemble has a combine strategy to choose",
        "invalid_request_error", "tutti.combine", "invalid_value"}));
    return;
  }
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
  ask.ensemble = std::move(own);
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

bool server::impl::own_ensemble(http::exchange& ex, const http::chat_call& call,
                                std::optional<ensemble_config>& own) {
  auto refuse = [&](int status, std::string message, std::string param,
                    std::string code) {
    ex.respond(error_response(api_error{status, std::move(message),
                                        "invalid_request_error",
                                        std::move(param), std::move(code)}));
    return false;
  };
  if (!options.inline_ensembles)
    return refuse(403,
                  "tutti.ensemble: this server does not take ensembles "
                  "defined in requests (tutti serve --no-inline-ensembles); "
                  "ask one of its ensembles",
                  "tutti.ensemble", "inline_ensembles_disabled");
  if (call.combine)
    return refuse(400,
                  "tutti.combine: give the strategy inside tutti.ensemble "
                  "(its combine and settings)",
                  "tutti.combine", "invalid_value");
  try {
    own = parse_inline_ensemble(call.inline_ensemble, call.to.name,
                                "tutti.ensemble", engine.loaded_config(),
                                engine.plugins());
  } catch (const config_error& e) {
    return refuse(400, e.message(), "tutti.ensemble", "invalid_value");
  }
  if (ex.key_targets.empty())
    return true;
  // A key limited to some targets composes ensembles of those alone: its
  // members' providers and those its strategy calls (a judge).
  std::vector<std::string> called;
  for (auto& m : own->members)
    called.push_back(m.provider);
  if (auto strategy =
          engine.plugins().make_combine(own->combine, own->combine_settings))
    for (auto& p : strategy->providers_called())
      called.push_back(p);
  for (auto& p : called)
    if (std::find(ex.key_targets.begin(), ex.key_targets.end(), p) ==
        ex.key_targets.end())
      return refuse(403,
                    "API key '" + ex.key_name + "' may not ask '" + p +
                        "', which tutti.ensemble calls",
                    "tutti.ensemble", "target_not_allowed");
  return true;
}

void server::impl::start_chat(const std::shared_ptr<chat_state>& st,
                              ask_options ask) {
  auto& ex = st->ex;
  uint64_t handle = 0;
  auto seen = watch_live(*ex, st->api->name(), st->call.to, ask);
  begin_question();
  try {
    handle = engine.start_ask(
        st->call.to, st->call.messages, std::move(ask),
        [this, st, key = ex->key_name, budgets = key_budgets, feed = live,
         seen](ensemble_answer a) {
          budgets->charge(key, a.usage);
          feed->finish(seen, std::string{to_string(a.status)},
                       [&] { return to_json(a); });
          auto answer = std::make_shared<ensemble_answer>(std::move(a));
          st->ex->post([this, st, answer] { chat_answer(*st, *answer); });
          end_question(*st);
        });
  } catch (const unsupported_request& e) {
    live->refused(seen);
    end_question(*st);
    ex->respond(error_response(api_error{400, e.what(), "invalid_request_error",
                                         e.param(), "unsupported_parameter"}));
    return;
  } catch (const config_error& e) {
    live->refused(seen);
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
  st.out = st.api->stream(st.ids, st.call);
  return st.ex->write(st.out->open());
}

void server::impl::chat_delta(chat_state& st, const member_delta& d) {
  if (!open_chat_stream(st))
    return;
  if (is_answer_delta(st.call, d)) {
    st.sent_text += d.text;
    st.ex->write(st.out->text(d.text));
  } else {
    st.ex->write(st.out->member_delta(d));
  }
}

void server::impl::chat_member_done(chat_state& st, const member_outcome& o) {
  if (!open_chat_stream(st))
    return;
  st.ex->write(st.out->member_done(o));
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
      auto r = provider_failed_response(answer.members[0], to_json(answer));
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
      auto r = json_response(200, st.api->reply_json(st.ids, st.call, answer));
      add_answer_headers(r, answer);
      ex.respond(std::move(r));
      return;
    }
  }
  if (!open_chat_stream(st))
    return;
  if (failed) {
    ex.write(st.out->fail(ensemble_failed(answer), answer));
    end_chat_stream(st);
    return;
  }
  // Strategies that do not stream their answer send it whole here; a
  // streamed one sends whatever its tokens did not cover.
  std::string rest;
  if (answer.text.rfind(st.sent_text, 0) == 0)
    rest = answer.text.substr(st.sent_text.size());
  ex.write(st.out->finish(answer, rest));
  end_chat_stream(st);
}

void server::impl::end_chat_stream(chat_state& st) {
  stream_over(st);
  st.ex->end_stream();
}

} // namespace tutti
