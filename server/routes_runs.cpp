// /v1/runs: runs of an ensemble, a provider or a pipeline that go on after
// their POST is answered, read as JSON or as an event stream, cancelled by
// DELETE.

#include "engine/src/json_writers.hpp"
#include "server/guard.hpp"
#include "server/server_impl.hpp"
#include "tutti/json.hpp"

namespace tutti {

namespace {

using namespace std::chrono_literals;
using http::api_error;
using http::error_response;
using http::event_stream_headers;
using http::exchange;
using http::exchange_ptr;
using http::json_response;
using http::unix_now;

/// A JSON string, for the few events written by hand.
std::string quote_json(const std::string& text) {
  return json_detail::json_text(
      [&](auto& w) { json_detail::write_string(w, text); });
}

std::string delta_json(const member_delta& d, const std::string* step) {
  std::string json = "{";
  if (step != nullptr)
    json += "\"step\":" + quote_json(*step) + ",";
  json += "\"member\":" + quote_json(d.member) +
          ",\"text\":" + quote_json(d.text) +
          ",\"answer\":" + (d.answer ? "true" : "false") + "}";
  return json;
}

/// A member's outcome as answer.md shows it; in a pipeline run, with the
/// step it belongs to first.
std::string member_done_json(const member_outcome& o, const std::string* step) {
  auto json = to_json(o);
  if (step == nullptr)
    return json;
  return "{\"step\":" + quote_json(*step) + "," + json.substr(1);
}

} // namespace

struct server::impl::subscription {
  exchange_ptr ex;
  std::shared_ptr<http::run_record> record;
  uint64_t cursor = 0;
  uint64_t id = 0;
  bool ended = false;
};

void server::impl::create_run(const exchange_ptr& ex) {
  auto parsed = valid_call(
      http::parse_run_request(ex->body(), engine.loaded_config()), *ex);
  if (!parsed || !session_ok(*ex) || !may_ask(*ex, parsed->name) ||
      !admit_key(*ex))
    return;
  auto call = std::move(*parsed);
  ex->target = call.name;
  runs.prune();
  auto kind = call.of == http::run_call::kind::pipeline
                  ? http::run_record::kind::pipeline
              : call.of == http::run_call::kind::provider
                  ? http::run_record::kind::provider
                  : http::run_record::kind::ensemble;
  auto record = runs.add(kind, call.name, unix_now());
  if (!record) {
    auto r = error_response(api_error{
        429,
        "Too many runs are running (--max-runs " +
            std::to_string(std::max<size_t>(1, options.max_running_runs)) +
            "); retry when one has finished",
        "rate_limit_error", "", "too_many_runs"});
    r.headers.emplace_back("Retry-After", "1");
    ex->respond(std::move(r));
    return;
  }
  record->push("run.started", record->json());
  uint64_t handle = 0;
  http::live_feed::question_ptr seen;
  try {
    if (kind == http::run_record::kind::pipeline) {
      run_options options;
      options.stream = true;
      scope_of(*ex, record->id(), options);
      options.on_step_started = [record](const std::string& step) {
        record->push("step.started", "{\"step\":" + quote_json(step) + "}");
      };
      options.on_delta = [record](const std::string& step,
                                  const member_delta& d) {
        record->push("member.delta", delta_json(d, &step));
      };
      options.on_member_done = [record](const std::string& step,
                                        const member_outcome& o) {
        record->push("member.done", member_done_json(o, &step));
      };
      options.on_step_done = [record](const step_outcome& step) {
        record->push("step.done", http::step_json(step));
      };
      seen = watch_live(*ex, call.name, options);
      handle = engine.start_run(
          call.name, call.inputs, std::move(options),
          [record, key = ex->key_name, budgets = key_budgets, feed = live,
           seen](pipeline_result r) {
            budgets->charge(key, r.usage);
            feed->finish(seen, std::string{to_string(r.status)},
                         [&] { return to_json(r); });
            record->finish(std::string{to_string(r.status)}, to_json(r),
                           unix_now());
          });
    } else {
      ask_options options;
      scope_of(*ex, record->id(), options);
      options.stream = call.stream;
      options.params = call.params;
      options.system = call.system;
      options.on_delta = [record](const member_delta& d) {
        record->push("member.delta", delta_json(d, nullptr));
      };
      options.on_member_done = [record](const member_outcome& o) {
        record->push("member.done", member_done_json(o, nullptr));
      };
      auto to = kind == http::run_record::kind::provider
                    ? target::provider(call.name)
                    : target::ensemble(call.name);
      seen = watch_live(*ex, "runs", to, options);
      handle = engine.start_ask(
          to, call.messages, std::move(options),
          [record, key = ex->key_name, budgets = key_budgets, feed = live,
           seen](ensemble_answer a) {
            budgets->charge(key, a.usage);
            feed->finish(seen, std::string{to_string(a.status)},
                         [&] { return to_json(a); });
            record->finish(std::string{to_string(a.status)}, to_json(a),
                           unix_now());
          });
    }
  } catch (const unsupported_request& e) {
    live->refused(seen);
    runs.remove(record->id());
    ex->respond(error_response(api_error{400, e.what(), "invalid_request_error",
                                         e.param(), "unsupported_parameter"}));
    return;
  } catch (const config_error& e) {
    live->refused(seen);
    runs.remove(record->id());
    ex->respond(error_response(
        api_error{500, e.message(), "server_error", "", "config_error"}));
    return;
  } catch (...) {
    // A run that never started must not hold a --max-runs place.
    live->refused(seen);
    runs.remove(record->id());
    throw;
  }
  record->set_handle(handle);
  auto r = json_response(202, record->json());
  r.headers.emplace_back("Location", "/v1/runs/" + record->id());
  ex->respond(std::move(r));
}

void server::impl::get_run(const std::string& id, const exchange_ptr& ex) {
  runs.prune();
  if (auto record = runs.find(id)) {
    ex->respond(json_response(200, record->json()));
    return;
  }
  get_stored_run(id, ex);
}

std::shared_ptr<http::run_record> server::impl::find_run(const std::string& id,
                                                         exchange& ex) {
  runs.prune();
  auto record = runs.find(id);
  if (!record)
    ex.respond(error_response(api_error{
        404, "No run '" + id + "' (finished runs are forgotten after a while)",
        "invalid_request_error", "id", "run_not_found"}));
  return record;
}

void server::impl::delete_run(const std::string& id, const exchange_ptr& ex) {
  auto record = find_run(id, *ex);
  if (!record)
    return;
  if (!record->request_cancel()) {
    ex->respond(json_response(200, record->json()));
    return;
  }
  if (auto handle = record->handle())
    engine.cancel(*handle);
  // Cancelled members report within a fraction of a second: answer with
  // the final state when it comes in time, else as it stands after 5 s.
  auto subscription = std::make_shared<uint64_t>(0);
  auto answer = [ex, record, subscription] {
    record->unsubscribe(*subscription);
    ex->respond(json_response(200, record->json()));
  };
  *subscription = record->subscribe([ex, record, answer] {
    if (record->finished())
      ex->post(answer);
  });
  ex->on_gone([record, subscription] { record->unsubscribe(*subscription); });
  ex->after(5s, answer);
  if (record->finished())
    answer();
}

void server::impl::run_events(const std::string& id, const exchange_ptr& ex) {
  auto record = find_run(id, *ex);
  if (!record)
    return;
  uint64_t cursor = 0;
  if (auto* last = ex->head().header("Last-Event-ID")) {
    auto parsed = http::parse_event_id(*last);
    if (!parsed) {
      ex->respond(error_response(api_error{
          400, "Last-Event-ID must be an event id (digits) this run sent",
          "invalid_request_error", "Last-Event-ID", "invalid_value"}));
      return;
    }
    cursor = *parsed;
  }
  auto sub = std::make_shared<subscription>();
  sub->ex = ex;
  sub->record = record;
  sub->cursor = std::min(cursor, record->event_count());
  ex->start_stream(200, "text/event-stream", event_stream_headers());
  metrics.stream_opened();
  sub->id = record->subscribe(
      [this, sub] { sub->ex->post([this, sub] { send_run_events(*sub); }); });
  ex->on_gone([this, sub] {
    sub->record->unsubscribe(sub->id);
    if (!sub->ended)
      metrics.stream_closed();
    sub->ended = true;
  });
  send_run_events(*sub);
}

void server::impl::send_run_events(subscription& sub) {
  if (sub.ended)
    return;
  std::vector<http::run_event> events;
  bool ended = sub.record->events_after(sub.cursor, events);
  for (auto& e : events) {
    if (!sub.ex->write("id: " + std::to_string(e.id) + "\nevent: " + e.name +
                       "\ndata: " + e.data + "\n\n"))
      return;
    sub.cursor = e.id;
  }
  if (ended) {
    sub.ended = true;
    sub.record->unsubscribe(sub.id);
    metrics.stream_closed();
    sub.ex->end_stream();
  }
}

} // namespace tutti
