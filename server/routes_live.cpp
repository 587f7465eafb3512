// GET /v1/live: every question and run in flight as one event stream (the
// dashboard's Live view), and the wrapping of a question's callbacks that
// reports it there.

#include <chrono>

#include "server/guard.hpp"
#include "server/server_impl.hpp"

namespace tutti {

namespace {

using namespace std::chrono_literals;
using http::api_error;
using http::error_response;
using http::exchange_ptr;

/// How long a reader's events gather before they are written: tokens of one
/// member within it go out as one event, and a busy server writes each
/// reader at most this often.
constexpr auto live_batch = 50ms;

/// The member labels of an ensemble, in order.
std::vector<std::string> labels_of(const ensemble_config& e) {
  std::vector<std::string> labels;
  for (auto& m : e.members)
    labels.push_back(m.label);
  return labels;
}

} // namespace

struct server::impl::live_subscription {
  exchange_ptr ex;
  http::live_feed::reader_ptr reader;
  bool ended = false;
};

http::live_feed::question_ptr server::impl::watch_live(http::exchange& ex,
                                                       const std::string& api,
                                                       const target& to,
                                                       ask_options& ask) {
  http::live_question_info info;
  info.run_id = ask.record.run_id;
  info.api = api;
  info.target = to.name;
  info.key = ex.key_name;
  info.session = ask.record.session;
  info.stream = ask.stream;
  if (to.of == target::kind::provider) {
    info.kind = "provider";
    info.members = {to.name};
  } else {
    info.kind = "ensemble";
    const auto& cfg = engine.loaded_config();
    if (ask.ensemble) {
      info.members = labels_of(*ask.ensemble);
      info.combine = ask.ensemble->combine;
    } else if (auto i = cfg.ensembles.find(to.name); i != cfg.ensembles.end()) {
      info.members = labels_of(i->second);
      info.combine = i->second.combine;
    }
    if (ask.combine)
      info.combine = ask.combine->name;
  }
  auto q = live->start(std::move(info));
  if (!q)
    return q;
  auto feed = live;
  ask.on_delta = [feed, q,
                  next = std::move(ask.on_delta)](const member_delta& d) {
    feed->delta(q, "", d);
    if (next)
      next(d);
  };
  ask.on_member_done =
      [feed, q, next = std::move(ask.on_member_done)](const member_outcome& o) {
        feed->member_done(q, "", o);
        if (next)
          next(o);
      };
  ask.on_member_progress = [feed, q, next = std::move(ask.on_member_progress)](
                               const member_progress& p) {
    feed->progress(q, "", p);
    if (next)
      next(p);
  };
  return q;
}

http::live_feed::question_ptr
server::impl::watch_live(http::exchange& ex, const std::string& pipeline,
                         run_options& run) {
  http::live_question_info info;
  info.run_id = run.record.run_id;
  info.api = "runs";
  info.kind = "pipeline";
  info.target = pipeline;
  info.key = ex.key_name;
  info.stream = run.stream;
  const auto& cfg = engine.loaded_config();
  if (auto i = cfg.pipelines.find(pipeline); i != cfg.pipelines.end())
    for (auto& step : i->second.steps)
      info.steps.push_back(step.id);
  auto q = live->start(std::move(info));
  if (!q)
    return q;
  auto feed = live;
  run.on_step_started = [feed, q, next = std::move(run.on_step_started)](
                            const std::string& step) {
    feed->step_event(q, "step.started", step, "");
    if (next)
      next(step);
  };
  run.on_step_done =
      [feed, q, next = std::move(run.on_step_done)](const step_outcome& step) {
        feed->step_event(q, "step.done", step.id, http::step_json(step));
        if (next)
          next(step);
      };
  run.on_delta = [feed, q, next = std::move(run.on_delta)](
                     const std::string& step, const member_delta& d) {
    feed->delta(q, step, d);
    if (next)
      next(step, d);
  };
  run.on_member_done = [feed, q, next = std::move(run.on_member_done)](
                           const std::string& step, const member_outcome& o) {
    feed->member_done(q, step, o);
    if (next)
      next(step, o);
  };
  run.on_member_progress = [feed, q, next = std::move(run.on_member_progress)](
                               const std::string& step,
                               const member_progress& p) {
    feed->progress(q, step, p);
    if (next)
      next(step, p);
  };
  return q;
}

void server::impl::live_events(const exchange_ptr& ex) {
  auto sub = std::make_shared<live_subscription>();
  sub->ex = ex;
  // A key sees the questions it asked; the admin token (or loopback
  // without one) sees every one.
  http::live_viewer viewer{ex->key_name.empty(), ex->key_name};
  std::weak_ptr<live_subscription> weak = sub;
  // Woken on an engine thread: `post` is the exchange's one call safe from
  // any thread; the batching timer is set from its strand.
  sub->reader = live->subscribe(viewer, [this, weak] {
    auto sub = weak.lock();
    if (!sub)
      return;
    sub->ex->post([this, sub] {
      sub->ex->after(live_batch, [this, sub] { send_live(sub); });
    });
  });
  if (!sub->reader) {
    auto r = error_response(
        api_error{503, "Too many readers of /v1/live; close one and try again",
                  "server_error", "", "too_many_readers"});
    r.headers.emplace_back("Retry-After", "5");
    ex->respond(std::move(r));
    return;
  }
  ex->start_stream(200, "text/event-stream", http::event_stream_headers());
  metrics.stream_opened();
  ex->on_gone([this, sub] {
    live->unsubscribe(sub->reader);
    if (!sub->ended)
      metrics.stream_closed();
    sub->ended = true;
  });
  send_live(sub); // the snapshot
}

void server::impl::send_live(const std::shared_ptr<live_subscription>& sub) {
  if (sub->ended)
    return;
  auto text = live->take(sub->reader);
  if (!text.empty() && !sub->ex->write(std::move(text))) {
    live->unsubscribe(sub->reader);
    metrics.stream_closed();
    sub->ended = true;
  }
}

} // namespace tutti
