#include "actors/provider.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/clock.hpp"

namespace tutti {

namespace {

using self_ptr = caf::stateful_actor<provider_state>*;

/// A rough token estimate (4 bytes a token) for the limiter's token budget.
int64_t estimate_tokens(const chat_request& req) {
  int64_t bytes = 0;
  for (auto& msg : req.messages)
    bytes += static_cast<int64_t>(msg.content.size());
  return bytes / 4 + req.params.max_tokens.value_or(0);
}

/// Secrets never leave the provider: blank out the key wherever it appears.
std::string redact(std::string text, const std::string& secret) {
  if (secret.size() < 4)
    return text;
  for (auto pos = text.find(secret); pos != std::string::npos;
       pos = text.find(secret, pos))
    text.replace(pos, secret.size(), "[redacted]");
  return text;
}

timing timing_of(self_ptr self, const provider_call& call) {
  timing result;
  auto now = actor_now_us(self);
  auto permitted = call.permitted_at > 0 ? call.permitted_at : now;
  result.queued_us = permitted - call.started_at;
  if (call.first_token_at > 0)
    result.first_token_us = call.first_token_at - permitted;
  result.total_us = now - call.started_at;
  return result;
}

/// Ends a call: returns its permit, stops its transfer and answers the query.
void finish(self_ptr self, const std::string& request_id,
            std::variant<completion, failure> result) {
  auto i = self->state.calls.find(request_id);
  if (i == self->state.calls.end())
    return;
  auto call = std::move(i->second);
  self->state.calls.erase(i);
  auto& deps = self->state.deps;
  if (call.transfer_id != 0) {
    self->state.by_transfer.erase(call.transfer_id);
    deps.net->cancel(call.transfer_id);
  }
  member_outcome outcome;
  outcome.member = call.query.member;
  outcome.provider = deps.settings.name;
  outcome.model = deps.settings.model;
  if (auto* done = std::get_if<completion>(&result)) {
    outcome.ok = true;
    outcome.reply = std::move(*done);
    outcome.reply.timing = timing_of(self, call);
  } else {
    outcome.ok = false;
    outcome.error = std::move(std::get<failure>(result));
    outcome.error.message =
        redact(std::move(outcome.error.message), deps.settings.api_key);
    outcome.error.timing = timing_of(self, call);
    if (outcome.error.partial_text.empty())
      outcome.error.partial_text = call.text;
    if (outcome.error.usage.input_tokens == 0 &&
        outcome.error.usage.output_tokens == 0)
      outcome.error.usage = call.usage;
  }
  if (call.permit_id != 0) {
    auto used = outcome.ok ? outcome.reply.usage : outcome.error.usage;
    self->send(deps.limiter, release_atom::value, call.permit_id, used);
  } else if (call.permitted_at == 0) {
    self->send(deps.limiter, withdraw_atom::value, request_id);
  }
  call.promise.deliver(std::move(outcome));
}

failure make_failure(failure_kind kind, std::string message, int status = 0) {
  failure f;
  f.kind = kind;
  f.message = std::move(message);
  f.http_status = status;
  return f;
}

void start_transfer(self_ptr self, provider_call& call) {
  auto& deps = self->state.deps;
  auto http = deps.wire->encode(call.query.request, deps.settings);
  call.transfer_id =
      deps.net->start(std::move(http), caf::actor_cast<caf::actor>(self),
                      call.query.request.deadline);
  self->state.by_transfer.emplace(call.transfer_id, call.query.request.id);
}

void on_permit(self_ptr self, const std::string& request_id,
               const permit_grant& grant) {
  auto i = self->state.calls.find(request_id);
  if (i == self->state.calls.end()) {
    // The call ended while it waited; give the permit straight back.
    if (grant.granted)
      self->send(self->state.deps.limiter, release_atom::value, grant.permit_id,
                 usage{});
    return;
  }
  auto& call = i->second;
  call.permitted_at = actor_now_us(self);
  if (!grant.granted) {
    finish(self, request_id, make_failure(grant.kind, grant.reason));
    return;
  }
  call.permit_id = grant.permit_id;
  start_transfer(self, call);
}

provider_call* call_of_transfer(self_ptr self, uint64_t transfer_id) {
  auto i = self->state.by_transfer.find(transfer_id);
  if (i == self->state.by_transfer.end())
    return nullptr;
  auto j = self->state.calls.find(i->second);
  return j == self->state.calls.end() ? nullptr : &j->second;
}

bool is_success(int status) {
  return status >= 200 && status < 300;
}

/// Applies decoded stream events to the call; false once the call ended.
bool apply_events(self_ptr self, provider_call& call,
                  const std::vector<sse_event>& events) {
  auto& deps = self->state.deps;
  for (auto& event : events) {
    auto update = deps.wire->decode_event(event);
    if (!update.text.empty()) {
      if (call.first_token_at == 0)
        call.first_token_at = actor_now_us(self);
      call.text += update.text;
      if (call.query.listener)
        self->send(call.query.listener,
                   member_delta{call.query.member, update.text});
    }
    if (update.usage)
      call.usage = *update.usage;
    if (!update.finish_reason.empty())
      call.finish_reason = update.finish_reason;
    if (update.error) {
      auto error = std::move(*update.error);
      error.message = "error inside the stream: " + error.message;
      finish(self, call.query.request.id, std::move(error));
      return false;
    }
    if (update.terminal)
      call.terminal = true;
  }
  return true;
}

void on_chunk(self_ptr self, provider_call& call, transfer_chunk& chunk) {
  if (call.query.request.stream && is_success(call.status)) {
    auto events = call.decoder.feed(chunk.bytes);
    apply_events(self, call, events);
    return;
  }
  if (call.first_token_at == 0)
    call.first_token_at = actor_now_us(self);
  if (call.body.size() + chunk.bytes.size() > self->state.deps.max_body_bytes) {
    finish(self, call.query.request.id,
           make_failure(failure_kind::protocol,
                        "response body larger than " +
                            std::to_string(self->state.deps.max_body_bytes) +
                            " bytes",
                        call.status));
    return;
  }
  call.body += chunk.bytes;
}

void on_done(self_ptr self, provider_call& call, const transfer_done& done) {
  auto& deps = self->state.deps;
  auto id = call.query.request.id;
  call.transfer_id = 0; // the transport is done with it
  self->state.by_transfer.erase(done.transfer_id);
  if (!done.ok) {
    auto message = done.message;
    if (!call.text.empty())
      message += " (incomplete reply, " + std::to_string(call.text.size()) +
                 " bytes of text kept)";
    finish(self, id, make_failure(done.kind, message, done.status));
    return;
  }
  if (!is_success(done.status)) {
    auto error =
        deps.wire->classify_error(done.status, call.body, call.headers);
    error.http_status = done.status;
    finish(self, id, std::move(error));
    return;
  }
  if (!call.query.request.stream) {
    auto decoded = deps.wire->decode_body(call.body);
    if (auto* error = std::get_if<failure>(&decoded))
      error->http_status = done.status;
    finish(self, id, std::move(decoded));
    return;
  }
  if (!apply_events(self, call, call.decoder.finish()))
    return;
  if (!call.terminal) {
    auto error = make_failure(failure_kind::protocol,
                              "stream ended without its end marker "
                              "(incomplete reply, " +
                                  std::to_string(call.text.size()) +
                                  " bytes of text kept)",
                              done.status);
    finish(self, id, std::move(error));
    return;
  }
  completion reply;
  reply.text = call.text;
  reply.finish_reason = call.finish_reason;
  reply.usage = call.usage;
  finish(self, id, std::move(reply));
}

} // namespace

caf::behavior provider(self_ptr self, provider_deps deps) {
  self->state.deps = std::move(deps);
  self->set_down_handler([](caf::down_msg&) {});
  return {
      [=](query_atom, member_query& query) -> caf::result<member_outcome> {
        auto promise = self->make_response_promise();
        auto id = query.request.id;
        if (self->state.calls.count(id) > 0) {
          member_outcome outcome;
          outcome.member = query.member;
          outcome.provider = self->state.deps.settings.name;
          outcome.model = self->state.deps.settings.model;
          outcome.error = make_failure(failure_kind::bad_request,
                                       "duplicate request id '" + id + "'");
          return outcome;
        }
        auto& call = self->state.calls[id];
        call.started_at = actor_now_us(self);
        call.promise = promise;
        permit_request req{id, self->state.deps.settings.name,
                           priority::interactive, query.request.deadline,
                           estimate_tokens(query.request)};
        auto deadline = query.request.deadline;
        call.query = std::move(query);
        if (deadline > 0)
          self->scheduled_send(self, to_actor_time(deadline),
                               expire_atom::value, id);
        // The limiter answers every waiter (granted, denied or expired), so
        // this request needs no timeout of its own.
        self->request(self->state.deps.limiter, caf::infinite,
                      acquire_atom::value, std::move(req))
            .then(
                [=](const permit_grant& grant) { on_permit(self, id, grant); },
                [=](const caf::error& err) {
                  finish(self, id,
                         make_failure(failure_kind::overloaded,
                                      "rate limiter unavailable: " +
                                          self->system().render(err)));
                });
        return promise;
      },
      [=](transfer_head& head) {
        if (auto* call = call_of_transfer(self, head.transfer_id)) {
          call->status = head.status;
          call->headers = std::move(head.headers);
        }
      },
      [=](transfer_chunk& chunk) {
        if (auto* call = call_of_transfer(self, chunk.transfer_id))
          on_chunk(self, *call, chunk);
      },
      [=](const transfer_done& done) {
        if (auto* call = call_of_transfer(self, done.transfer_id))
          on_done(self, *call, done);
      },
      [=](expire_atom, const std::string& request_id) {
        auto i = self->state.calls.find(request_id);
        if (i == self->state.calls.end())
          return;
        auto waited_ms = (actor_now_us(self) - i->second.started_at) / 1000;
        finish(self, request_id,
               make_failure(failure_kind::timeout_total,
                            "no complete reply before the deadline (" +
                                std::to_string(waited_ms) + " ms)",
                            i->second.status));
      },
      [=](cancel_atom, const std::string& request_id) {
        finish(self, request_id,
               make_failure(failure_kind::cancelled, "cancelled"));
      },
  };
}

} // namespace tutti
