#pragma once

/// The order a routed model's deployments are tried in (`models:` in the
/// config): the first is asked, the next only if it fails. A pure function
/// of what each deployment's provider reports (`provider_snapshot`), the
/// strategy and a random draw, so every rule is tested from values.

#include <cstdint>
#include <vector>

#include "tutti/config.hpp"

namespace tutti {

/// What routing knows of one deployment when a question arrives.
struct deployment_view {
  double weight = 1;
  bool breaker_open = false;
  int64_t in_flight = 0;
  int64_t latency_us = 0;     ///< 0: no reply yet
  int64_t requests_left = -1; ///< -1: its upstream said nothing
};

/// Indices into `views`, in the order to try them. Every strategy starts
/// from a weighted random order (a deployment of weight 3 comes first three
/// times as often as one of weight 1), which breaks its ties:
/// - weighted: that order;
/// - least_busy: fewest calls in flight first;
/// - lowest_latency: the fastest recent replies first, one with none yet
///   before all (so it gets measured);
/// - most_remaining: the most requests left under the upstream's rate-limit
///   headers first, then those whose upstream said nothing, then those it
///   said have none left.
/// A deployment whose circuit breaker is open goes last whatever the
/// strategy (its provider refuses it at once, so it is in effect skipped).
std::vector<size_t> route_order(route_strategy strategy,
                                const std::vector<deployment_view>& views,
                                uint64_t random);

} // namespace tutti
