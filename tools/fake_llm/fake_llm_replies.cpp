// The fake upstream's replies: a whole body, or a stream with the script's
// faults (stalls, cuts, malformed events) on its way.

#include "tools/fake_llm/server_impl.hpp"

namespace tutti::fake {

void server::impl::serve_whole(const wire_format& format,
                               const httplib::Request& req,
                               httplib::Response& res, arrival& rec,
                               const model_script& ms, const chat_request& chat,
                               const response_ids& ids) {
  rec.status = 200;
  // Whoever is still listening gets headers and a body that never arrives.
  auto never = [](size_t, size_t, httplib::DataSink&) { return false; };
  if (ms.stall_after_tokens >= 0) {
    auto end = stall(req.local_port, req.remote_port, nullptr);
    rec.outcome = end == stall_end::stopped ? "stopped" : "stalled";
    record(rec);
    res.set_content_provider(1, "application/json", never);
    return;
  }
  if (ms.reset_after_tokens >= 0) {
    // Recorded before the RST, so a client that sees it finds it logged.
    int fd = find_connection_socket(req.local_port, req.remote_port);
    rec.outcome = fd >= 0 ? "reset" : "truncated";
    record(rec);
    if (fd >= 0) {
      reset_socket(fd);
    }
    res.set_content_provider(1, "application/json", never);
    return;
  }
  auto plan = plan_reply(format, ms, chat);
  if (ms.tokens_per_second > 0) {
    auto wait = std::chrono::duration<double>(plan.completion_tokens /
                                              ms.tokens_per_second);
    if (!sleep_until(
            steady_clock::now() +
            std::chrono::duration_cast<steady_clock::duration>(wait))) {
      auto shape = format.default_error(503);
      shape.message = "The fake server is stopping.";
      respond_error(res, rec, format, 503, shape, "stopped");
      return;
    }
  }
  auto body = format.whole_body(ids, plan, chat);
  tag_request(format, res);
  if (ms.truncate_after_tokens >= 0) {
    auto half = std::make_shared<std::string>(body.substr(0, body.size() / 2));
    rec.outcome = "truncated";
    res.set_content_provider(
        body.size(), "application/json",
        [half](size_t offset, size_t, httplib::DataSink& sink) {
          if (offset < half->size()) {
            sink.write(half->data() + offset, half->size() - offset);
          }
          return false;
        },
        [this, rec](bool) { record(rec); });
    return;
  }
  if (ms.raw_body) {
    body = *ms.raw_body;
    rec.outcome = "malformed";
  } else if (ms.malformed) {
    body = format.malformed_body(ids);
    rec.outcome = "malformed";
  } else if (plan.blocked) {
    rec.outcome = "blocked";
    rec.input_tokens = chat.prompt_tokens;
  } else {
    rec.outcome = "ok";
    rec.input_tokens = chat.prompt_tokens;
    rec.output_tokens = plan.completion_tokens;
  }
  if (!ms.split_chunks) {
    res.set_content(body, "application/json");
    record(rec);
    return;
  }
  // Split: the body goes out chunked, in small pieces.
  auto shared = std::make_shared<std::string>(std::move(body));
  auto job = std::make_shared<std::pair<arrival, model_script>>(rec, ms);
  job->first.outcome = "client_gone";
  res.set_chunked_content_provider(
      "application/json",
      [this, shared, job, outcome = rec.outcome](size_t,
                                                 httplib::DataSink& sink) {
        emitter out(sink, job->second, true, false, sleeper());
        if (!out.write(*shared)) {
          if (out.stopped()) {
            job->first.outcome = "stopped";
          }
          return false;
        }
        job->first.outcome = outcome;
        // Recorded before the last byte, so a client that has the whole body
        // finds the request logged.
        record(job->first);
        job->first.outcome.clear();
        sink.done();
        return true;
      },
      [this, job](bool) {
        if (!job->first.outcome.empty()) {
          record(job->first);
        }
      });
}

void server::impl::serve_stream(const wire_format& format,
                                const httplib::Request& req,
                                httplib::Response& res, arrival& rec,
                                const model_script& ms,
                                const chat_request& chat,
                                const response_ids& ids) {
  struct stream_job {
    arrival rec;
    model_script ms;
    stream_events events;
    std::string error_event;
    bool crlf = false;
    bool sse = true;
    bool blocked = false;
    bool recorded = false;
    int local_port = -1;
    int remote_port = -1;
  };
  auto job = std::make_shared<stream_job>();
  job->rec = rec;
  job->rec.status = 200;
  job->rec.outcome = "client_gone";
  job->ms = ms;
  const auto plan = plan_reply(format, ms, chat);
  job->events = format.stream(ids, plan, chat);
  job->error_event = stream_error_event(format, ms);
  if (ms.raw_body) {
    job->ms.malformed = true;
    job->events.malformed = format.raw_event(*ms.raw_body);
  }
  job->crlf = ms.crlf.value_or(format.crlf());
  job->sse = format.sse_framed();
  job->blocked = plan.blocked;
  job->local_port = req.local_port;
  job->remote_port = req.remote_port;

  res.set_header("Cache-Control", "no-cache");
  tag_request(format, res);
  res.set_chunked_content_provider(
      format.stream_content_type(),
      [this, job](size_t, httplib::DataSink& sink) {
        auto& j = *job;
        const auto& ev = j.events;
        emitter out(sink, j.ms, j.sse, j.crlf, sleeper());
        const auto n = static_cast<int>(ev.tokens.size());
        // Records the request before the client can see its end (the last
        // byte or a reset), so whoever saw the end finds it logged.
        auto record_now = [&] {
          record(j.rec);
          j.recorded = true;
        };
        // A failed write: the client went away (the outcome already says
        // so), or the server is stopping.
        auto write_failed = [&] {
          if (out.stopped()) {
            j.rec.outcome = "stopped";
          }
          return false;
        };
        auto send_all = [&](const std::vector<std::string>& events) {
          for (const auto& e : events) {
            if (!out.event(e)) {
              return false;
            }
          }
          return true;
        };
        // A scripted fault after `sent` content chunks; one scripted beyond
        // the reply's length happens after its last chunk.
        auto reached = [&](int after, int sent) {
          return after >= 0 && (after == sent || (sent == n && after > n));
        };
        enum class cut { none, abort, ended };
        auto cut_short = [&](int sent) {
          if (reached(j.ms.stall_after_tokens, sent)) {
            auto end = stall(j.local_port, j.remote_port,
                             [&] { return sink.is_writable(); });
            j.rec.outcome = end == stall_end::stopped ? "stopped" : "stalled";
            return cut::abort;
          }
          if (reached(j.ms.truncate_after_tokens, sent)) {
            j.rec.outcome = "truncated";
            return cut::abort;
          }
          if (reached(j.ms.reset_after_tokens, sent)) {
            int fd = find_connection_socket(j.local_port, j.remote_port);
            j.rec.outcome = fd >= 0 ? "reset" : "truncated";
            if (fd >= 0) {
              record_now();
              reset_socket(fd);
            }
            return cut::abort;
          }
          if (reached(j.ms.error_event_after_tokens, sent)) {
            if (!out.event(j.error_event)) {
              write_failed();
              return cut::abort;
            }
            j.rec.outcome = "error_event";
            record_now();
            sink.done();
            return cut::ended;
          }
          return cut::none;
        };
        // The usage the client has been sent so far.
        auto reported = [&](const std::optional<usage>& u) {
          if (u) {
            j.rec.input_tokens = u->input;
            j.rec.output_tokens = u->output;
          }
        };
        if (!send_all(ev.head)) {
          return write_failed();
        }
        reported(ev.head_usage);
        if (j.ms.malformed && !out.event(ev.malformed)) {
          return write_failed();
        }
        const auto start = steady_clock::now();
        for (int i = 0; i <= n; ++i) {
          auto c = cut_short(i);
          if (c != cut::none) {
            return c == cut::ended;
          }
          if (i == n) {
            break;
          }
          if (j.ms.tokens_per_second > 0) {
            auto due =
                start + std::chrono::duration_cast<steady_clock::duration>(
                            std::chrono::duration<double>(
                                (i + 1) / j.ms.tokens_per_second));
            if (!sleep_until(due)) {
              j.rec.outcome = "stopped";
              return false;
            }
          }
          if (!out.event(ev.tokens[static_cast<size_t>(i)])) {
            return write_failed();
          }
          if (i + 1 == n) {
            reported(ev.last_token_usage);
          }
        }
        if (!send_all(ev.finish)) {
          return write_failed();
        }
        reported(ev.finish_usage);
        if (j.ms.end_without_terminator && !ev.terminator.empty()) {
          j.rec.outcome = "no_terminator";
        } else {
          if (!send_all(ev.terminator)) {
            return write_failed();
          }
          j.rec.outcome = j.ms.malformed ? "malformed"
                          : j.blocked    ? "blocked"
                                         : "ok";
        }
        record_now();
        sink.done();
        return true;
      },
      [this, job](bool) {
        if (!job->recorded) {
          record(job->rec);
        }
      });
}

} // namespace tutti::fake
