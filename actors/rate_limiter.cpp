#include "actors/rate_limiter.hpp"

#include <chrono>

#include <caf/event_based_actor.hpp>

#include "actors/clock.hpp"

namespace tutti {

namespace {

using self_ptr = caf::stateful_actor<rate_limiter_state>*;

permit_grant grant(self_ptr self, const permit_request& req) {
  auto id = self->state.next_permit_id++;
  self->state.in_flight.emplace(id, req);
  return permit_grant{true, id, failure_kind::queue_timeout, {}};
}

permit_grant deny(failure_kind kind, std::string reason) {
  return permit_grant{false, 0, kind, std::move(reason)};
}

bool has_free_slot(self_ptr self) {
  return static_cast<int64_t>(self->state.in_flight.size()) <
         self->state.settings.concurrency;
}

/// Hands out free slots to waiters, interactive ones first.
void pump(self_ptr self) {
  for (auto& queue : self->state.queues) {
    while (!queue.empty() && has_free_slot(self)) {
      auto waiter = std::move(queue.front());
      queue.pop_front();
      waiter.promise.deliver(grant(self, waiter.request));
    }
  }
}

/// Removes the waiter for `request_id` and answers it with `denial`.
bool drop_waiter(self_ptr self, const std::string& request_id,
                 const permit_grant& denial) {
  for (auto& queue : self->state.queues) {
    for (auto i = queue.begin(); i != queue.end(); ++i) {
      if (i->request.request_id == request_id) {
        auto promise = std::move(i->promise);
        queue.erase(i);
        promise.deliver(denial);
        return true;
      }
    }
  }
  return false;
}

std::string queue_timeout_reason(self_ptr self) {
  return "no permit before the deadline in limit group '" +
         self->state.settings.group + "' (" +
         std::to_string(self->state.in_flight.size()) + " in flight, " +
         std::to_string(self->state.queued()) + " queued, concurrency " +
         std::to_string(self->state.settings.concurrency) + ")";
}

} // namespace

caf::behavior rate_limiter(self_ptr self, limiter_settings settings) {
  if (settings.concurrency < 1)
    settings.concurrency = 1;
  self->state.settings = std::move(settings);
  return {
      [=](acquire_atom, permit_request& req) -> caf::result<permit_grant> {
        auto now = actor_now_us(self);
        if (req.deadline > 0 && req.deadline <= now)
          return deny(failure_kind::queue_timeout, queue_timeout_reason(self));
        if (self->state.queued() == 0 && has_free_slot(self))
          return grant(self, req);
        if (self->state.queued() >= self->state.settings.max_queue)
          return deny(failure_kind::overloaded,
                      "queue of limit group '" + self->state.settings.group +
                          "' is full (" +
                          std::to_string(self->state.settings.max_queue) +
                          " waiting)");
        if (req.deadline > 0)
          self->scheduled_send(self, to_actor_time(req.deadline),
                               expire_atom::value, req.request_id);
        auto promise = self->make_response_promise();
        auto level = req.priority == priority::interactive ? 0 : 1;
        self->state.queues[level].push_back(
            limiter_waiter{std::move(req), promise});
        return promise;
      },
      [=](release_atom, uint64_t permit_id, const usage&) {
        // Token budgets (a later version) correct their charge here.
        if (self->state.in_flight.erase(permit_id) > 0)
          pump(self);
      },
      [=](withdraw_atom, const std::string& request_id) {
        drop_waiter(self, request_id,
                    deny(failure_kind::cancelled, "withdrawn while queued"));
      },
      [=](expire_atom, const std::string& request_id) {
        drop_waiter(
            self, request_id,
            deny(failure_kind::queue_timeout, queue_timeout_reason(self)));
      },
      [=](state_atom) {
        return limiter_state{self->state.settings.group,
                             static_cast<int64_t>(self->state.in_flight.size()),
                             static_cast<int64_t>(self->state.queued()),
                             self->state.settings.concurrency};
      },
  };
}

} // namespace tutti
