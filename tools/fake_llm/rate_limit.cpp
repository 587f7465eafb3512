#include "tools/fake_llm/rate_limit.hpp"

namespace tutti::fake {

namespace {

// Counts a request arriving at `a.at_us` against the model's buckets.
admission admit_to_buckets(limit_state& state, const server_limit& limit,
                           admission a) {
  if (!state.started) {
    const int64_t window_us = limit.window_ms * 1000;
    state.started = true;
    state.requests = {limit.requests, window_us, 0};
    state.tokens = {limit.tokens, window_us, 0};
    state.requests.fill(window_us);
    state.tokens.fill(window_us);
    state.filled_us = a.at_us;
  }
  state.requests.fill(a.at_us - state.filled_us);
  state.tokens.fill(a.at_us - state.filled_us);
  state.filled_us = a.at_us;
  const bool over_requests = limit.requests > 0 && !state.requests.holds(1);
  const bool over_tokens = limit.tokens > 0 && !state.tokens.holds(a.charge);
  if (over_requests || over_tokens) {
    a.admitted = false;
    a.refused_on_tokens = !over_requests;
    // A charge above the capacity never fits: it is told the time to full.
    a.retry_us = std::max(over_requests ? state.requests.us_until(1) : 0,
                          over_tokens ? state.tokens.us_until(a.charge) : 0);
  } else {
    state.requests.take(limit.requests > 0 ? 1 : 0);
    state.tokens.take(limit.tokens > 0 ? a.charge : 0);
  }
  a.requests = state.requests.word(a.at_unix_us);
  a.tokens = state.tokens.word(a.at_unix_us);
  return a;
}

// Counts a request arriving at `a.at_us` in the model's current fixed window.
admission admit_in_window(limit_state& state, const server_limit& limit,
                          admission a) {
  const int64_t length = limit.window_ms * 1000;
  if (!state.started) {
    state.started = true;
    state.origin_us = a.at_us;
    state.origin_unix_us = a.at_unix_us;
  }
  const int64_t index = (a.at_us - state.origin_us) / length;
  if (index != state.window) {
    state.window = index;
    state.requests_used = 0;
    state.tokens_used = 0;
  }
  a.window_start_us = state.origin_us + index * length;
  const int64_t end_us = a.window_start_us + length;
  const bool over_requests =
      limit.requests > 0 && state.requests_used + 1 > limit.requests;
  const bool over_tokens =
      limit.tokens > 0 && state.tokens_used + a.charge > limit.tokens;
  if (over_requests || over_tokens) {
    a.admitted = false;
    a.refused_on_tokens = !over_requests;
    a.retry_us = end_us - a.at_us;
  } else {
    ++state.requests_used;
    state.tokens_used += a.charge;
  }
  const auto word = [&](int64_t budget, int64_t used) {
    budget_word w;
    w.remaining = std::max<int64_t>(0, budget - used);
    w.left = static_cast<double>(w.remaining);
    w.reset_us = end_us - a.at_us;
    w.reset_unix_us = state.origin_unix_us + (index + 1) * length;
    return w;
  };
  a.requests = word(limit.requests, state.requests_used);
  a.tokens = word(limit.tokens, state.tokens_used);
  return a;
}

} // namespace

admission admit(limit_state& state, const server_limit& limit, admission a) {
  return limit.refill == limit_refill::window
             ? admit_in_window(state, limit, a)
             : admit_to_buckets(state, limit, a);
}

std::vector<budget_report> budget_reports(const server_limit& limit,
                                          const admission& a) {
  struct budget {
    const char* name;
    int64_t limit;
    const budget_word& word;
  };
  const budget budgets[] = {{"requests", limit.requests, a.requests},
                            {"tokens", limit.tokens, a.tokens}};
  std::vector<budget_report> out;
  for (const auto& b : budgets) {
    if (b.limit <= 0) {
      continue;
    }
    // Rounded up, so that a reset never says "sooner" than the budget is
    // really whole again.
    out.push_back({b.name, b.limit, b.word.remaining,
                   ceil_div(b.word.reset_us, 1000),
                   ceil_div(b.word.reset_unix_us, 1000)});
  }
  return out;
}

limit_refusal refusal_of(const std::string& model, const server_limit& limit,
                         const admission& a, int64_t retry_ms) {
  const bool tokens = a.refused_on_tokens;
  limit_refusal out;
  out.model = model;
  out.budget_name = tokens ? "tokens" : "requests";
  out.budget = tokens ? limit.tokens : limit.requests;
  out.used = out.budget - (tokens ? a.tokens : a.requests).remaining;
  out.requested = tokens ? a.charge : 1;
  out.window_ms = limit.window_ms;
  out.retry_ms = retry_ms;
  return out;
}

int64_t ceil_div(int64_t a, int64_t b) {
  return a >= 0 ? (a + b - 1) / b : -(-a / b);
}

} // namespace tutti::fake
