#include "actors/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "actors/clock.hpp"
#include "engine/src/saturating.hpp"

namespace tutti {

namespace {

using self_ptr = caf::stateful_actor<rate_limiter_state>*;

constexpr steady_us never = std::numeric_limits<steady_us>::max();

/// When a grant for `req` could happen: `now` if at once, a later time when
/// a window or a cooldown is the obstacle, `never` when only a release can
/// help (concurrency) or nothing can (the request exceeds the budget).
steady_us earliest_grant(self_ptr self, const permit_request& req,
                         steady_us now) {
  auto& st = self->state;
  auto& cfg = st.settings;
  auto at = std::max(now, st.cooldown_until);
  if (static_cast<int64_t>(st.in_flight.size()) >= cfg.concurrency)
    return never;
  if (st.server_requests.active(now) && st.server_requests.available(now) < 1)
    at = std::max(at, st.server_requests.when_available(now, 1));
  auto tokens = std::max<int64_t>(1, req.estimated_tokens);
  auto& bucket = st.server_tokens;
  if (bucket.active(now) &&
      bucket.available(now) <
          (bucket.rate > 0 ? std::min<double>(tokens, bucket.limit) : tokens))
    at = std::max(
        at, st.server_tokens.when_available(now, static_cast<double>(tokens)));
  if (cfg.requests.count > 0) {
    auto span = cfg.requests.per_us + cfg.margin_us;
    st.request_log.prune(now, span);
    auto need =
        static_cast<int64_t>(st.request_log.size()) + 1 - cfg.requests.count;
    if (need > 0)
      at = std::max(at, st.request_log.when_freed(need, span));
  }
  if (cfg.tokens.count > 0) {
    if (req.estimated_tokens > cfg.tokens.count)
      return never;
    auto span = cfg.tokens.per_us + cfg.margin_us;
    st.token_log.prune(now, span);
    auto need = st.token_log.total() + req.estimated_tokens - cfg.tokens.count;
    if (need > 0)
      at = std::max(at, st.token_log.when_freed(need, span));
  }
  return at;
}

permit_grant grant(self_ptr self, const permit_request& req) {
  auto& st = self->state;
  auto id = st.next_permit_id++;
  st.in_flight.emplace(id, req);
  if (st.settings.requests.count > 0)
    st.request_log.add(id, 1);
  if (st.settings.tokens.count > 0)
    st.token_log.add(id, req.estimated_tokens);
  auto now = actor_now_us(self);
  if (st.server_requests.active(now))
    st.server_requests.take(now, 1);
  if (st.server_tokens.active(now))
    st.server_tokens.take(now, static_cast<double>(req.estimated_tokens));
  return permit_grant{true, id, failure_kind::queue_timeout, {}};
}

permit_grant deny(failure_kind kind, std::string reason) {
  return permit_grant{false, 0, kind, std::move(reason)};
}

std::string group_summary(self_ptr self) {
  auto& st = self->state;
  return "limit group '" + st.settings.group + "' (" +
         std::to_string(st.in_flight.size()) + " in flight, " +
         std::to_string(st.queued()) + " queued, concurrency " +
         std::to_string(st.settings.concurrency) + ")";
}

void wake_at(self_ptr self, steady_us at) {
  auto& st = self->state;
  if (at == never || (st.wake_at != 0 && st.wake_at <= at))
    return;
  st.wake_at = at;
  self->scheduled_send(self, to_actor_time(at), wake_atom::value);
}

/// Hands out what the budgets allow, in order; stops at the first waiter
/// that must wait, so nobody overtakes it.
void pump(self_ptr self) {
  auto now = actor_now_us(self);
  for (auto& queue : self->state.queues) {
    while (!queue.empty()) {
      auto at = earliest_grant(self, queue.front().request, now);
      if (at > now) {
        wake_at(self, at);
        return;
      }
      auto waiter = std::move(queue.front());
      queue.pop_front();
      self->state.settings.timers.cancel(self, waiter.deadline_timer);
      waiter.promise.deliver(grant(self, waiter.request));
    }
  }
}

/// Takes in what the server said is left of one budget, `in_flight_charge`
/// being what the group's other requests in flight may still take from it
/// (the server may not have counted them yet).
void tighten(server_cap& cap, const server_allowance& said, steady_us at,
             int64_t in_flight_charge) {
  if (!said.known() || at < cap.said_at)
    return;
  // Replies can arrive out of the order the server wrote them: news that
  // allows more than the bucket we keep is ignored.
  auto left = static_cast<double>(
      std::max<int64_t>(0, said.remaining - in_flight_charge));
  if (cap.active(at) && left >= cap.available(at))
    return;
  cap.said_at = at;
  cap.at = at;
  cap.level = left;
  cap.until = at + said.reset_in_ms * 1000;
  cap.limit = static_cast<double>(said.limit);
  cap.rate = said.limit > said.remaining && said.reset_in_ms > 0
                 ? static_cast<double>(said.limit - said.remaining) /
                       static_cast<double>(said.reset_in_ms * 1000)
                 : 0;
}

/// Removes the waiter for `request_id` and answers it with `denial`.
bool drop_waiter(self_ptr self, const std::string& request_id,
                 const permit_grant& denial) {
  for (auto& queue : self->state.queues) {
    for (auto i = queue.begin(); i != queue.end(); ++i) {
      if (i->request.request_id == request_id) {
        auto promise = std::move(i->promise);
        self->state.settings.timers.cancel(self, i->deadline_timer);
        queue.erase(i);
        promise.deliver(denial);
        return true;
      }
    }
  }
  return false;
}

} // namespace

double server_cap::available(steady_us now) const {
  if (rate <= 0)
    return level;
  return std::min(limit, level + rate * static_cast<double>(now - at));
}

void server_cap::take(steady_us now, double amount) {
  level = available(now) - amount;
  at = now;
}

steady_us server_cap::when_available(steady_us now, double need) const {
  if (rate > 0)
    need = std::min(need, limit); // more than the bucket holds: when full
  auto missing = need - available(now);
  if (missing <= 0)
    return now;
  if (rate <= 0)
    return until;
  return now + static_cast<steady_us>(std::ceil(missing / rate));
}

void window_log::add(uint64_t permit_id, int64_t amount) {
  index_.emplace(permit_id, popped_ + entries_.size());
  entries_.push_back(entry{permit_id, amount, 0});
  total_ += amount;
}

window_log::entry* window_log::find(uint64_t permit_id) {
  auto i = index_.find(permit_id);
  return i == index_.end() ? nullptr : &entries_[i->second - popped_];
}

void window_log::mark_received(uint64_t permit_id, steady_us at) {
  if (auto* e = find(permit_id); e != nullptr && e->received_at == 0)
    e->received_at = at;
}

void window_log::correct(uint64_t permit_id, int64_t amount) {
  if (auto* e = find(permit_id)) {
    total_ += amount - e->amount;
    e->amount = amount;
  }
}

void window_log::prune(steady_us now, int64_t span_us) {
  while (!entries_.empty() && entries_.front().received_at != 0 &&
         entries_.front().received_at + span_us <= now) {
    total_ -= entries_.front().amount;
    index_.erase(entries_.front().permit_id);
    entries_.pop_front();
    ++popped_;
  }
}

steady_us window_log::when_freed(int64_t need, int64_t span_us) const {
  steady_us at = 0;
  for (auto& e : entries_) {
    if (need <= 0)
      break;
    if (e.received_at == 0)
      return never;
    at = std::max(at, e.received_at + span_us);
    need -= e.amount;
  }
  return need > 0 ? never : at;
}

caf::behavior rate_limiter(self_ptr self, limiter_settings settings) {
  if (settings.concurrency < 1)
    settings.concurrency = 1;
  self->state.settings = std::move(settings);
  return {
      [=](acquire_atom, permit_request& req) -> caf::result<permit_grant> {
        auto& st = self->state;
        auto now = actor_now_us(self);
        // Every request costs at least one token: an estimate below that
        // (a host's own bug) must not jump or stall the queue.
        req.estimated_tokens = std::max<int64_t>(1, req.estimated_tokens);
        if (req.deadline > 0 && req.deadline <= now)
          return deny(failure_kind::queue_timeout,
                      "no permit before the deadline in " +
                          group_summary(self));
        if (st.settings.tokens.count > 0 &&
            req.estimated_tokens > st.settings.tokens.count)
          return deny(failure_kind::bad_request,
                      "the request needs about " +
                          std::to_string(req.estimated_tokens) +
                          " tokens, more than the whole token budget of " +
                          group_summary(self));
        if (st.queued() == 0) {
          auto at = earliest_grant(self, req, now);
          if (at <= now)
            return grant(self, req);
          if (req.deadline > 0 && at != never && at > req.deadline)
            return deny(failure_kind::queue_timeout,
                        "the next permit in " + group_summary(self) +
                            " comes in " + std::to_string((at - now) / 1000) +
                            " ms, after the request's deadline");
          wake_at(self, at);
        }
        if (st.queued() >= st.settings.max_queue)
          return deny(failure_kind::overloaded,
                      "queue of limit group '" + st.settings.group +
                          "' is full (" +
                          std::to_string(st.settings.max_queue) + " waiting)");
        uint64_t timer = 0;
        if (req.deadline > 0)
          timer = st.settings.timers.at(self, req.deadline, expire_atom::value,
                                        req.request_id);
        auto promise = self->make_response_promise();
        auto level = req.priority == priority::interactive ? 0 : 1;
        st.queues[level].push_back(
            limiter_waiter{std::move(req), promise, timer});
        return promise;
      },
      [=](release_atom, uint64_t permit_id, const usage& used) {
        auto& st = self->state;
        if (st.in_flight.erase(permit_id) == 0)
          return;
        // The estimate becomes what was really used, when the server said.
        auto actual = saturating_add(std::max<int64_t>(0, used.input_tokens),
                                     std::max<int64_t>(0, used.output_tokens));
        if (actual > 0)
          st.token_log.correct(permit_id, actual);
        // Released: the server had the request by now if it ever did.
        auto now = actor_now_us(self);
        st.request_log.mark_received(permit_id, now);
        st.token_log.mark_received(permit_id, now);
        pump(self);
      },
      [=](answered_atom, uint64_t permit_id, steady_us at) {
        self->state.request_log.mark_received(permit_id, at);
        self->state.token_log.mark_received(permit_id, at);
        pump(self);
      },
      [=](feedback_atom, uint64_t permit_id, const server_limits& said,
          steady_us at) {
        auto& st = self->state;
        int64_t others = 0;
        int64_t others_tokens = 0;
        for (auto& [id, req] : st.in_flight)
          if (id != permit_id) {
            ++others;
            others_tokens += req.estimated_tokens;
          }
        tighten(st.server_requests, said.requests, at, others);
        tighten(st.server_tokens, said.tokens, at, others_tokens);
        pump(self);
      },
      [=](cooldown_atom, steady_us until) {
        auto& st = self->state;
        st.cooldown_until = std::max(st.cooldown_until, until);
        pump(self);
      },
      [=](wake_atom) {
        self->state.wake_at = 0;
        pump(self);
      },
      [=](withdraw_atom, const std::string& request_id) {
        drop_waiter(self, request_id,
                    deny(failure_kind::cancelled, "withdrawn while queued"));
        pump(self);
      },
      [=](expire_atom, const std::string& request_id) {
        drop_waiter(
            self, request_id,
            deny(failure_kind::queue_timeout,
                 "no permit before the deadline in " + group_summary(self)));
        pump(self);
      },
      [=](state_atom) {
        auto& st = self->state;
        auto now = actor_now_us(self);
        limiter_state result;
        result.group = st.settings.group;
        result.in_flight = static_cast<int64_t>(st.in_flight.size());
        result.queued = static_cast<int64_t>(st.queued());
        result.concurrency = st.settings.concurrency;
        st.request_log.prune(now, st.settings.requests.per_us +
                                      st.settings.margin_us);
        st.token_log.prune(now,
                           st.settings.tokens.per_us + st.settings.margin_us);
        result.requests_limit = st.settings.requests.count;
        result.requests_in_window = static_cast<int64_t>(st.request_log.size());
        result.tokens_limit = st.settings.tokens.count;
        result.tokens_in_window = st.token_log.total();
        result.cooldown_until = st.cooldown_until > now ? st.cooldown_until : 0;
        if (st.server_requests.active(now))
          result.server_requests_left =
              static_cast<int64_t>(st.server_requests.available(now));
        if (st.server_tokens.active(now))
          result.server_tokens_left =
              static_cast<int64_t>(st.server_tokens.available(now));
        return result;
      },
  };
}

} // namespace tutti
