#include "actors/route_order.hpp"

#include <algorithm>
#include <random>

namespace tutti {

namespace {

/// A weighted random permutation: each next index drawn among those left
/// with probability proportional to its weight.
std::vector<size_t> weighted_order(const std::vector<deployment_view>& views,
                                   uint64_t random) {
  std::mt19937_64 draw{random};
  std::vector<size_t> left(views.size());
  for (size_t i = 0; i < left.size(); ++i)
    left[i] = i;
  std::vector<size_t> order;
  order.reserve(views.size());
  while (!left.empty()) {
    double total = 0;
    for (auto i : left)
      total += views[i].weight;
    auto pick = std::uniform_real_distribution<double>{0, total}(draw);
    size_t chosen = left.size() - 1;
    for (size_t k = 0; k < left.size(); ++k) {
      pick -= views[left[k]].weight;
      if (pick < 0) {
        chosen = k;
        break;
      }
    }
    order.push_back(left[chosen]);
    left.erase(left.begin() + static_cast<std::ptrdiff_t>(chosen));
  }
  return order;
}

/// most_remaining's rank: known and some left, then unknown, then none.
int remaining_rank(const deployment_view& v) {
  if (v.requests_left > 0)
    return 0;
  return v.requests_left < 0 ? 1 : 2;
}

} // namespace

std::vector<size_t> route_order(route_strategy strategy,
                                const std::vector<deployment_view>& views,
                                uint64_t random) {
  auto order = weighted_order(views, random);
  auto before = [&](size_t a, size_t b) {
    auto& x = views[a];
    auto& y = views[b];
    if (x.breaker_open != y.breaker_open)
      return y.breaker_open;
    switch (strategy) {
    case route_strategy::weighted:
      return false;
    case route_strategy::least_busy:
      return x.in_flight < y.in_flight;
    case route_strategy::lowest_latency:
      return x.latency_us < y.latency_us; // 0, none yet, first
    case route_strategy::most_remaining:
      if (remaining_rank(x) != remaining_rank(y))
        return remaining_rank(x) < remaining_rank(y);
      return x.requests_left > y.requests_left;
    }
    return false;
  };
  std::stable_sort(order.begin(), order.end(), before);
  return order;
}

} // namespace tutti
