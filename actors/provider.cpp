#include "actors/provider.hpp"

#include <algorithm>
#include <chrono>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/clock.hpp"
#include "actors/provider_support.hpp"
#include "engine/src/saturating.hpp"
#include "tutti/retry.hpp"
#include "tutti/store.hpp"

namespace tutti {

namespace {

using namespace provider_support;

using self_ptr = caf::stateful_actor<provider_state>*;

timing timing_of(self_ptr self, const provider_call& call) {
  timing result;
  auto now = actor_now_us(self);
  auto permitted = call.permitted_at > 0 ? call.permitted_at : now;
  result.queued_us = permitted - call.started_at;
  if (call.first_token_at > 0)
    result.first_token_us = call.first_token_at - call.sent_at;
  result.total_us = now - call.started_at;
  result.started_us = call.started_at;
  return result;
}

/// Stops the current attempt: the transfer and the permit go back.
void end_attempt(self_ptr self, provider_call& call, const usage& used) {
  auto& deps = self->state.deps;
  if (call.transfer_id != 0) {
    self->state.by_transfer.erase(call.transfer_id);
    deps.net->cancel(call.transfer_id);
    call.transfer_id = 0;
  }
  if (call.permit_id != 0) {
    self->send(deps.limiter, release_atom::value, call.permit_id, used);
    call.permit_id = 0;
  } else if (call.waiting_for_permit) {
    self->send(deps.limiter, withdraw_atom::value, call.query.request.id);
    call.waiting_for_permit = false;
  }
}

/// Ends a call for good and answers the query.
void finish(self_ptr self, const std::string& request_id,
            std::variant<completion, failure> result) {
  auto i = self->state.calls.find(request_id);
  if (i == self->state.calls.end())
    return;
  auto call = std::move(i->second);
  self->state.calls.erase(i);
  if (call.deadline_entry)
    self->state.deadlines.erase(*call.deadline_entry);
  for (auto timer : call.timers)
    self->state.deps.timers.cancel(self, timer);
  auto& deps = self->state.deps;
  member_outcome outcome;
  outcome.member = call.query.member;
  outcome.provider = deps.settings.name;
  auto& asked = call.query.request;
  outcome.model = asked.embedding.any() ? embedding_model_of(deps.settings)
                  : asked.params.model.empty() ? deps.settings.model
                                               : asked.params.model;
  if (auto* done = std::get_if<completion>(&result)) {
    outcome.ok = true;
    outcome.reply = std::move(*done);
    outcome.reply.usage = bounded(outcome.reply.usage);
    outcome.reply.timing = timing_of(self, call);
    outcome.reply.cost_usd =
        outcome.reply.cached ? 0 : cost_usd(outcome.reply.usage, deps.price);
    outcome.reply.attempts = call.attempts;
    // The cache keeps text; a reply that calls tools, carries log
    // probabilities or holds several choices is not reused.
    if (!outcome.reply.cached && !call.cache_key.empty() && deps.cache &&
        !outcome.reply.text.empty() && outcome.reply.tool_calls.empty() &&
        outcome.reply.logprobs.empty() && outcome.reply.more_choices.empty())
      self->send(deps.cache, cache_put_atom::value,
                 cache_entry{call.cache_key,
                             saturating_add(unix_now_ms(), call.cache_ttl_ms),
                             deps.settings.name, deps.settings.model,
                             outcome.reply.text, outcome.reply.finish_reason,
                             outcome.reply.usage});
  } else {
    outcome.ok = false;
    auto& error = outcome.error;
    error = std::move(std::get<failure>(result));
    error.message = redacted(std::move(error.message), deps);
    error.timing = timing_of(self, call);
    error.attempts = call.attempts;
    if (error.partial_text.empty())
      error.partial_text = call.reply.text;
    // A failure that says nothing of tokens used what the stream reported.
    if (!any_tokens(error.usage))
      error.usage = call.reply.usage;
    error.usage = bounded(error.usage);
    error.cost_usd = cost_usd(error.usage, deps.price);
  }
  if (outcome.ok && !outcome.reply.cached) {
    // A moving average over about the last eight replies.
    auto took = outcome.reply.timing.total_us;
    auto& avg = self->state.latency_us;
    avg = avg == 0 ? took : avg + (took - avg) / 8;
  }
  if (call.attempts > 0)
    self->state.breaker.record(
        outcome.ok, !outcome.ok && counts_for_breaker(outcome.error.kind),
        actor_now_us(self));
  else if (call.probe)
    // The probe ended before it sent anything (cancelled or denied while
    // queued): it says nothing of the upstream, but frees the probe slot.
    self->state.breaker.record(false, false, actor_now_us(self));
  if (call.spend_hold != 0)
    deps.ledger->settle(call.spend_hold,
                        outcome.ok ? outcome.reply.cost_usd
                                   : outcome.error.cost_usd,
                        unix_now_ms());
  end_attempt(self, call,
              outcome.ok ? outcome.reply.usage : outcome.error.usage);
  call.promise.deliver(std::move(outcome));
}

/// Sets the one deadline timer for the earliest deadline, unless a timer
/// at or before it is set already.
void arm_deadline_timer(self_ptr self) {
  auto& st = self->state;
  if (st.deadlines.empty())
    return;
  auto earliest = st.deadlines.begin()->first;
  if (st.deadline_wake != 0 && st.deadline_wake <= earliest)
    return;
  st.deadline_wake = earliest;
  self->scheduled_send(self, to_actor_time(earliest), expire_atom::value);
}

void schedule_check(self_ptr self, provider_call& call, steady_us at,
                    failure_kind kind) {
  call.timers.push_back(self->state.deps.timers.at(self, at, check_atom::value,
                                                   call.query.request.id,
                                                   call.generation, kind));
}

/// Tells the query's listener where the call stands, when it asked.
void report_progress(self_ptr self, const provider_call& call,
                     member_state state, int64_t wait_ms = 0,
                     const failure* why = nullptr) {
  if (!call.query.progress || !call.query.listener)
    return;
  member_progress progress;
  progress.member = call.query.member;
  progress.state = state;
  progress.attempt = call.attempts;
  progress.wait_ms = wait_ms;
  if (why != nullptr) {
    progress.reason = why->kind;
    progress.message = why->message.substr(0, 512);
  }
  self->send(call.query.listener, std::move(progress));
}

void ask_for_permit(self_ptr self, provider_call& call) {
  auto& deps = self->state.deps;
  auto id = call.query.request.id;
  call.waiting_for_permit = true;
  report_progress(self, call, member_state::queued);
  permit_request req{id, deps.settings.name, call.query.request.priority,
                     call.deadline, estimate_tokens(call.query.request, deps)};
  auto generation = call.generation;
  // The limiter answers every waiter (granted, denied or expired), so this
  // request needs no timeout of its own.
  self->request(deps.limiter, caf::infinite, acquire_atom::value,
                std::move(req))
      .then(
          [=](const permit_grant& grant) {
            auto i = self->state.calls.find(id);
            if (i == self->state.calls.end() ||
                i->second.generation != generation) {
              // The call ended (or moved on) while it waited: give it back.
              if (grant.granted)
                self->send(self->state.deps.limiter, release_atom::value,
                           grant.permit_id, usage{});
              return;
            }
            auto& call = i->second;
            call.waiting_for_permit = false;
            if (call.permitted_at == 0)
              call.permitted_at = actor_now_us(self);
            if (!grant.granted) {
              finish(
                  self, id,
                  give_up_retry(call, make_failure(grant.kind, grant.reason)));
              return;
            }
            call.retrying_after.reset();
            call.permit_id = grant.permit_id;
            // Start the attempt.
            ++call.attempts;
            call.sent_at = actor_now_us(self);
            report_progress(self, call, member_state::sent);
            auto& timeouts = self->state.deps.timeouts;
            if (timeouts.first_token_ms > 0)
              schedule_check(self, call,
                             call.sent_at + timeouts.first_token_ms * 1000,
                             failure_kind::timeout_first_token);
            auto& req = call.query.request;
            provider_settings scratch;
            auto& settings = settings_for(self->state.deps, req, scratch);
            auto http = req.embedding.any()
                            ? self->state.deps.wire->encode_embedding(
                                  req.embedding, settings)
                            : self->state.deps.wire->encode(req, settings);
            self->state.deps.wire->sign(http, settings, unix_now_ms());
            transfer_options options;
            options.connect_timeout_ms = timeouts.connect_ms;
            options.ca_file = self->state.deps.ca_file;
            call.transfer_id = self->state.deps.net->start(
                std::move(http), caf::actor_cast<caf::actor>(self),
                call.deadline, options);
            self->state.by_transfer.emplace(call.transfer_id, id);
          },
          [=](const caf::error& err) {
            finish(self, id,
                   make_failure(failure_kind::overloaded,
                                "rate limiter unavailable: " +
                                    self->system().render(err)));
          });
}

/// How long a looked-up reply may take before the call goes on without it:
/// the cache is a shortcut, never a wait.
constexpr auto cache_lookup_timeout = std::chrono::milliseconds{250};

/// Reserves the call's estimated cost with every budget it counts for;
/// false (and the call finished as `budget_exceeded`) when one cannot
/// take it.
bool reserve_spend(self_ptr self, provider_call& call) {
  auto& deps = self->state.deps;
  if (!deps.ledger)
    return true;
  auto& req = call.query.request;
  spend_parties who{deps.settings.name, req.scope.ensemble, req.scope.key,
                    req.scope.key_budget};
  auto estimate = cost_usd(estimate_usage(req, deps), deps.price);
  auto hold = deps.ledger->reserve(who, estimate, unix_now_ms());
  if (hold.id == 0) {
    auto error = make_failure(failure_kind::budget_exceeded,
                              "not sent: " + hold.refused);
    finish(self, req.id, std::move(error));
    return false;
  }
  call.spend_hold = hold.id;
  return true;
}

/// A call past the cache: its budget, then a permit.
void admit(self_ptr self, provider_call& call) {
  if (reserve_spend(self, call))
    ask_for_permit(self, call);
}

/// Serves a call from the cache when it can, else admits it.
void begin_call(self_ptr self, provider_call& call) {
  choose_cache_key(self->state.deps, call);
  if (call.cache_key.empty()) {
    admit(self, call);
    return;
  }
  auto id = call.query.request.id;
  auto generation = call.generation;
  auto go_on = [=] {
    auto i = self->state.calls.find(id);
    if (i != self->state.calls.end() && i->second.generation == generation)
      admit(self, i->second);
  };
  self->request(self->state.deps.cache, cache_lookup_timeout,
                cache_get_atom::value, call.cache_key, unix_now_ms())
      .then(
          [=](cache_entry& hit) {
            auto i = self->state.calls.find(id);
            if (i == self->state.calls.end() ||
                i->second.generation != generation)
              return; // it ended (cancelled, past its deadline) meanwhile
            if (hit.key.empty()) {
              go_on();
              return;
            }
            auto& call = i->second;
            call.permitted_at = actor_now_us(self);
            call.first_token_at = call.permitted_at;
            call.sent_at = call.permitted_at;
            if (call.query.request.stream && call.query.listener)
              self->send(call.query.listener,
                         member_delta{call.query.member, hit.text});
            completion done;
            done.text = std::move(hit.text);
            done.finish_reason = std::move(hit.finish_reason);
            done.usage = hit.usage;
            done.cached = true;
            finish(self, id, std::move(done));
          },
          [=](const caf::error&) { go_on(); });
}

/// An attempt failed: retry it if allowed and worthwhile, else finish.
void fail_attempt(self_ptr self, provider_call& call, failure error) {
  auto& deps = self->state.deps;
  auto id = call.query.request.id;
  auto asked_ms = retry_after_ms(call.headers, unix_now_ms());
  if (asked_ms)
    error.retry_after_ms = *asked_ms;
  if (error.kind == failure_kind::rate_limited && asked_ms) {
    // The server wants the whole key to wait: pause the limit group.
    self->send(deps.limiter, cooldown_atom::value,
               actor_now_us(self) + *asked_ms * 1000);
  }
  if (!is_retryable(error) || call.delivered_text ||
      call.attempts >= deps.retry.attempts) {
    finish(self, id, std::move(error));
    return;
  }
  std::uniform_int_distribution<int64_t> pick{
      0, backoff_cap_ms(deps.retry, call.attempts)};
  auto wait_ms = pick(self->state.jitter);
  if (asked_ms)
    wait_ms = std::max(wait_ms, *asked_ms);
  auto now = actor_now_us(self);
  auto retry_at = now + wait_ms * 1000;
  if (call.deadline > 0 && retry_at >= call.deadline) {
    error.message += " (not retried: waiting " + std::to_string(wait_ms) +
                     " ms would pass the deadline)";
    finish(self, id, std::move(error));
    return;
  }
  end_attempt(self, call, call.reply.usage);
  report_progress(self, call, member_state::retrying, wait_ms, &error);
  call.retrying_after = error;
  ++call.generation;
  call.first_token_at = 0;
  call.last_chunk_at = 0;
  call.idle_check_pending = false;
  call.status = 0;
  call.headers.clear();
  call.body.clear();
  call.decoder.reset();
  call.stream_bytes = 0;
  call.reply = reply_parts{};
  call.terminal = false;
  call.timers.push_back(self->state.deps.timers.at(
      self, retry_at, retry_atom::value, id, call.generation));
}

provider_call* call_of_transfer(self_ptr self, uint64_t transfer_id) {
  auto i = self->state.by_transfer.find(transfer_id);
  if (i == self->state.by_transfer.end())
    return nullptr;
  auto j = self->state.calls.find(i->second);
  return j == self->state.calls.end() ? nullptr : &j->second;
}

/// Notes that content arrived, for the first-token and idle timeouts.
void note_content(self_ptr self, provider_call& call) {
  if (call.first_token_at == 0)
    call.first_token_at = actor_now_us(self);
}

/// Applies decoded stream events to the call; false once the call ended.
bool apply_events(self_ptr self, provider_call& call,
                  const std::vector<stream_event>& events) {
  auto& deps = self->state.deps;
  for (auto& event : events) {
    auto update = deps.wire->decode_event(event);
    if (!update.text.empty() || !update.refusal.empty())
      note_content(self, call);
    if (!update.text.empty() && call.query.listener) {
      call.delivered_text = true;
      self->send(call.query.listener,
                 member_delta{call.query.member, update.text});
    }
    add_update(call.reply, update);
    if (update.error) {
      auto error = std::move(*update.error);
      error.message = "error inside the stream: " + error.message;
      error.http_status = call.status;
      fail_attempt(self, call, std::move(error));
      return false;
    }
    if (update.terminal)
      call.terminal = true;
  }
  return true;
}

/// The reply's status and headers arrived; `ending`: with the whole reply.
void on_head(self_ptr self, provider_call& call, int status,
             header_list headers, bool ending) {
  call.status = status;
  call.headers = std::move(headers);
  if (call.permit_id == 0)
    return;
  auto& limiter = self->state.deps.limiter;
  auto now = actor_now_us(self);
  // A reply that ends now gives its permit back now, which tells the
  // limiter the same: no separate message.
  if (!ending)
    self->send(limiter, answered_atom::value, call.permit_id, now);
  auto said =
      self->state.deps.wire->server_limits_of(call.headers, unix_now_ms());
  if (said.requests.known()) {
    self->state.requests_left = said.requests.remaining;
    self->state.requests_left_until =
        saturating_add(now, saturating_mul(said.requests.reset_in_ms, 1000));
  }
  if (said.any())
    self->send(limiter, feedback_atom::value, call.permit_id, std::move(said),
               now);
}

/// The attempt's stream decoder, made for the codec's framing on first use.
stream_decoder& decoder_of(self_ptr self, provider_call& call) {
  if (!call.decoder)
    call.decoder = make_stream_decoder(self->state.deps.wire->framing());
  return *call.decoder;
}

/// Fails the attempt when the stream's framing broke; false then.
bool framing_holds(self_ptr self, provider_call& call) {
  auto problem = decoder_of(self, call).error();
  if (problem.empty())
    return true;
  auto framing = self->state.deps.wire->framing();
  fail_attempt(self, call,
               make_failure(failure_kind::protocol,
                            "the stream broke its " +
                                std::string{to_string(framing)} +
                                " framing: " + problem + text_kept(call),
                            call.status));
  return false;
}

/// Decodes streamed bytes and applies their events, within the body limit.
void on_stream_bytes(self_ptr self, provider_call& call,
                     const std::string& bytes) {
  auto limit = self->state.deps.max_body_bytes;
  call.stream_bytes += bytes.size();
  if (call.stream_bytes > limit) {
    fail_attempt(self, call,
                 make_failure(failure_kind::protocol,
                              "streamed reply larger than " +
                                  std::to_string(limit) + " bytes" +
                                  text_kept(call),
                              call.status));
    return;
  }
  if (apply_events(self, call, decoder_of(self, call).feed(bytes)))
    framing_holds(self, call);
}

void on_chunk(self_ptr self, provider_call& call, const std::string& bytes) {
  auto& deps = self->state.deps;
  call.last_chunk_at = actor_now_us(self);
  if (deps.timeouts.idle_ms > 0 && !call.idle_check_pending) {
    call.idle_check_pending = true;
    schedule_check(self, call,
                   call.last_chunk_at + deps.timeouts.idle_ms * 1000,
                   failure_kind::timeout_idle);
  }
  if (call.query.request.stream && is_success(call.status)) {
    on_stream_bytes(self, call, bytes);
    return;
  }
  note_content(self, call);
  if (call.body.size() + bytes.size() > deps.max_body_bytes) {
    fail_attempt(self, call,
                 make_failure(failure_kind::protocol,
                              "response body larger than " +
                                  std::to_string(deps.max_body_bytes) +
                                  " bytes",
                              call.status));
    return;
  }
  call.body += bytes;
}

void on_done(self_ptr self, provider_call& call, const transfer_done& done) {
  auto& deps = self->state.deps;
  auto id = call.query.request.id;
  call.transfer_id = 0; // the transport is done with it
  self->state.by_transfer.erase(done.transfer_id);
  if (!done.ok) {
    fail_attempt(
        self, call,
        make_failure(done.kind, done.message + text_kept(call), done.status));
    return;
  }
  if (!is_success(done.status)) {
    auto error =
        deps.wire->classify_error(done.status, call.body, call.headers);
    error.http_status = done.status;
    fail_attempt(self, call, std::move(error));
    return;
  }
  if (!call.query.request.stream) {
    auto& embedding = call.query.request.embedding;
    auto decoded = embedding.any()
                       ? deps.wire->decode_embedding(call.body, embedding)
                       : deps.wire->decode_body(call.body);
    if (auto* error = std::get_if<failure>(&decoded)) {
      error->http_status = done.status;
      fail_attempt(self, call, std::move(*error));
      return;
    }
    finish(self, id, std::move(decoded));
    return;
  }
  if (!apply_events(self, call, decoder_of(self, call).finish()) ||
      !framing_holds(self, call))
    return;
  auto outcome = stream_outcome(call.reply, call.terminal,
                                deps.wire->accepts_unterminated_stream());
  if (auto* error = std::get_if<failure>(&outcome)) {
    error->http_status = done.status;
    fail_attempt(self, call, std::move(*error));
    return;
  }
  finish(self, id, std::move(outcome));
}

} // namespace

caf::behavior provider(self_ptr self, provider_deps deps) {
  self->state.deps = std::move(deps);
  self->state.breaker = circuit_breaker{self->state.deps.breaker};
  return {
      [=](query_atom, member_query& query) -> caf::result<member_outcome> {
        auto id = query.request.id;
        if (self->state.calls.count(id) > 0) {
          member_outcome outcome;
          outcome.member = query.member;
          outcome.provider = self->state.deps.settings.name;
          outcome.model = self->state.deps.settings.model;
          outcome.error = make_failure(failure_kind::bad_request,
                                       "duplicate request id '" + id + "'");
          outcome.error.attempts = 0;
          return outcome;
        }
        if (auto problem = embedding_problem(self->state.deps, query.request);
            !problem.empty()) {
          member_outcome outcome;
          outcome.member = query.member;
          outcome.provider = self->state.deps.settings.name;
          outcome.model = embedding_model_of(self->state.deps.settings);
          outcome.error = make_failure(failure_kind::bad_request, problem);
          outcome.error.attempts = 0;
          return outcome;
        }
        auto now = actor_now_us(self);
        auto& breaker = self->state.breaker;
        if (!breaker.allow(now)) {
          member_outcome outcome;
          outcome.member = query.member;
          outcome.provider = self->state.deps.settings.name;
          outcome.model = self->state.deps.settings.model;
          auto wait_ms =
              std::max<int64_t>(0, breaker.open_until() - now) / 1000;
          outcome.error =
              make_failure(failure_kind::circuit_open,
                           "skipped: the circuit breaker opened after " +
                               std::to_string(breaker.consecutive_failures()) +
                               " consecutive failures; next try in " +
                               std::to_string(wait_ms) + " ms");
          outcome.error.attempts = 0;
          return outcome;
        }
        auto admitted_as_probe = breaker.probe_in_flight();
        auto promise = self->make_response_promise();
        auto& call = self->state.calls[id];
        call.probe = admitted_as_probe;
        call.started_at = actor_now_us(self);
        call.promise = promise;
        call.deadline = query.request.deadline;
        auto total_ms = self->state.deps.timeouts.total_ms;
        if (total_ms > 0) {
          auto by_total = call.started_at + total_ms * 1000;
          call.deadline =
              call.deadline > 0 ? std::min(call.deadline, by_total) : by_total;
        }
        call.query = std::move(query);
        call.query.request.deadline = call.deadline;
        if (call.deadline > 0) {
          call.deadline_entry =
              self->state.deadlines.emplace(call.deadline, id);
          arm_deadline_timer(self);
        }
        begin_call(self, call);
        return promise;
      },
      [=](transfer_head& head) {
        if (auto* call = call_of_transfer(self, head.transfer_id))
          on_head(self, *call, head.status, std::move(head.headers), false);
      },
      [=](transfer_chunk& chunk) {
        if (auto* call = call_of_transfer(self, chunk.transfer_id))
          on_chunk(self, *call, chunk.bytes);
      },
      [=](transfer_done& done) {
        auto* call = call_of_transfer(self, done.transfer_id);
        if (call == nullptr)
          return;
        if (done.has_head)
          on_head(self, *call, done.status, std::move(done.headers), true);
        if (!done.bytes.empty()) {
          on_chunk(self, *call, done.bytes);
          // The bytes may have ended the attempt (too large, an error event).
          call = call_of_transfer(self, done.transfer_id);
          if (call == nullptr)
            return;
        }
        on_done(self, *call, done);
      },
      [=](check_atom, const std::string& request_id, uint64_t generation,
          failure_kind kind) {
        auto i = self->state.calls.find(request_id);
        if (i == self->state.calls.end() || i->second.generation != generation)
          return;
        auto& call = i->second;
        auto& timeouts = self->state.deps.timeouts;
        auto now = actor_now_us(self);
        if (kind == failure_kind::timeout_first_token) {
          if (call.first_token_at == 0 && call.transfer_id != 0)
            fail_attempt(
                self, call,
                make_failure(kind,
                             "no first token within " +
                                 std::to_string(timeouts.first_token_ms) +
                                 " ms",
                             call.status));
          return;
        }
        // The idle check: fail if no chunk came for a whole idle period.
        call.idle_check_pending = false;
        if (call.transfer_id == 0)
          return;
        auto quiet_until = call.last_chunk_at + timeouts.idle_ms * 1000;
        if (now >= quiet_until) {
          fail_attempt(self, call,
                       make_failure(kind,
                                    "stream idle for " +
                                        std::to_string(timeouts.idle_ms) +
                                        " ms",
                                    call.status));
          return;
        }
        call.idle_check_pending = true;
        schedule_check(self, call, quiet_until, kind);
      },
      [=](retry_atom, const std::string& request_id, uint64_t generation) {
        auto i = self->state.calls.find(request_id);
        if (i != self->state.calls.end() && i->second.generation == generation)
          ask_for_permit(self, i->second);
      },
      [=](expire_atom) {
        auto& st = self->state;
        auto now = actor_now_us(self);
        if (st.deadline_wake <= now)
          st.deadline_wake = 0; // this was the earliest timer set
        while (!st.deadlines.empty() && st.deadlines.begin()->first <= now) {
          auto request_id = std::move(st.deadlines.begin()->second);
          st.deadlines.erase(st.deadlines.begin());
          auto i = st.calls.find(request_id);
          if (i == st.calls.end())
            continue;
          i->second.deadline_entry.reset();
          auto waited_ms = (now - i->second.started_at) / 1000;
          finish(
              self, request_id,
              give_up_retry(i->second,
                            make_failure(failure_kind::timeout_total,
                                         "no complete reply before the "
                                         "deadline (" +
                                             std::to_string(waited_ms) + " ms)",
                                         i->second.status)));
        }
        arm_deadline_timer(self);
      },
      [=](state_atom) {
        auto now = actor_now_us(self);
        auto& breaker = self->state.breaker;
        provider_snapshot snapshot;
        snapshot.breaker = std::string{to_string(breaker.state(now))};
        snapshot.consecutive_failures = breaker.consecutive_failures();
        snapshot.breaker_open_until = breaker.open_until();
        snapshot.calls = static_cast<int64_t>(self->state.calls.size());
        snapshot.latency_us = self->state.latency_us;
        if (self->state.requests_left_until > now) {
          snapshot.requests_left = self->state.requests_left;
          snapshot.requests_left_until = self->state.requests_left_until;
        }
        return snapshot;
      },
      [=](cancel_atom, const std::string& request_id) {
        finish(self, request_id,
               make_failure(failure_kind::cancelled, "cancelled"));
      },
  };
}

} // namespace tutti
