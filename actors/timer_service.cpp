#include "actors/timer_service.hpp"

#include <algorithm>

namespace tutti {

namespace {

using self_ptr = caf::stateful_actor<timer_service_state>*;

void forget_owner_entry(timer_service_state& st, const caf::actor_addr& owner,
                        uint64_t id) {
  auto i = st.by_owner.find(owner);
  if (i == st.by_owner.end())
    return;
  auto& ids = i->second;
  ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
  if (ids.empty())
    st.by_owner.erase(i);
}

void forget(timer_service_state& st, uint64_t id) {
  auto i = st.entries.find(id);
  if (i == st.entries.end())
    return;
  st.schedule.erase(i->second.slot);
  forget_owner_entry(st, i->second.receiver, id);
  st.entries.erase(i);
}

/// Asks the actor clock for a wake-up at the earliest entry, unless one at
/// or before it is asked for already.
void arm(self_ptr self) {
  auto& st = self->state;
  if (st.schedule.empty())
    return;
  auto earliest = st.schedule.begin()->first;
  if (earliest >= st.armed_at)
    return;
  st.armed_at = earliest;
  self->scheduled_send(self, to_actor_time(earliest), tick_atom::value,
                       earliest);
}

/// Delivers what is due.
void fire(self_ptr self) {
  auto& st = self->state;
  auto now = actor_now_us(self);
  while (!st.schedule.empty() && st.schedule.begin()->first <= now) {
    auto id = st.schedule.begin()->second;
    auto i = st.entries.find(id);
    auto receiver = caf::actor_cast<caf::actor>(i->second.receiver);
    auto content = std::move(i->second.content);
    forget(st, id);
    if (receiver)
      self->send(receiver, std::move(content));
  }
}

} // namespace

caf::behavior timer_service(self_ptr self) {
  return {
      [=](timer_atom, uint64_t id, steady_us at, caf::actor_addr& receiver,
          caf::message& content) {
        auto& st = self->state;
        auto slot = st.schedule.emplace(at, id);
        st.by_owner[receiver].push_back(id);
        st.entries.emplace(
            id, timer_service_state::entry{at, std::move(receiver),
                                           std::move(content), slot});
        arm(self);
      },
      [=](cancel_atom, uint64_t id) { forget(self->state, id); },
      [=](cancel_atom, const caf::actor_addr& owner) {
        auto& st = self->state;
        auto i = st.by_owner.find(owner);
        if (i == st.by_owner.end())
          return;
        auto ids = std::move(i->second);
        st.by_owner.erase(i);
        for (auto id : ids) {
          auto e = st.entries.find(id);
          if (e == st.entries.end())
            continue;
          st.schedule.erase(e->second.slot);
          st.entries.erase(e);
        }
      },
      [=](tick_atom, steady_us armed) {
        auto& st = self->state;
        if (armed == st.armed_at)
          st.armed_at = INT64_MAX;
        fire(self);
        arm(self);
      },
  };
}

} // namespace tutti
