#pragma once

/// What the engine counts while it runs, and its Prometheus text form
/// (what `GET /metrics` of `tutti serve` answers).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tutti/messages.hpp"
#include "tutti/store.hpp"

namespace tutti {

/// A latency histogram in seconds with fixed upper bounds; `counts[i]` is
/// the number of observations <= `bounds[i]` and > `bounds[i-1]`, the last
/// entry counts those above every bound.
struct latency_histogram {
  std::vector<double> bounds;   ///< seconds, ascending
  std::vector<uint64_t> counts; ///< bounds.size() + 1 entries
  double sum = 0;               ///< seconds
  uint64_t count = 0;

  /// The bounds every engine histogram uses: 5 ms to 120 s.
  static latency_histogram standard();

  void observe(double seconds);
};

/// One provider's counters since the engine started, and its queue now.
struct provider_metrics {
  std::string provider;
  uint64_t calls = 0;    ///< member and combiner calls that finished
  uint64_t attempts = 0; ///< HTTP requests sent for them, retries included
  uint64_t ok = 0;
  std::map<std::string, uint64_t> failures; ///< by failure kind
  tutti::usage usage; ///< what the calls used (cached replies excluded)
  double cost_usd = 0;
  uint64_t cached = 0;      ///< calls served from the response cache
  tutti::usage saved_usage; ///< what the cached replies would have used
  latency_histogram latency = latency_histogram::standard();
  latency_histogram first_token = latency_histogram::standard();
  /// Live, from the provider's limit group (shared by the group's
  /// providers); -1 when the provider has not started.
  int64_t in_flight = -1;
  int64_t queued = -1;
};

/// One ensemble's (or a pipeline's) answers since the engine started.
struct answer_metrics {
  std::string name;
  std::map<std::string, uint64_t> by_status; ///< ok, partial, failed
  latency_histogram latency = latency_histogram::standard();
};

struct metrics_snapshot {
  std::vector<provider_metrics> providers; ///< every configured one
  std::vector<answer_metrics> ensembles;   ///< those asked so far
  std::vector<answer_metrics> pipelines;   ///< those run so far
  int64_t questions_in_flight = 0;         ///< asks and runs not answered
  /// How long a message waited for a scheduler thread when the snapshot was
  /// taken (a probe's round trip), in seconds.
  double scheduler_lag = 0;
  double uptime = 0; ///< seconds
  /// The run store's writer (state "off" with `store: none`).
  store_health store;
};

/// The snapshot in Prometheus' text exposition format (version 0.0.4),
/// every metric named `tutti_*` with HELP and TYPE lines.
std::string to_prometheus(const metrics_snapshot& snapshot);

} // namespace tutti
