#pragma once

/// The HTTP endpoint's own counters, beside the engine's: requests by route
/// and status, request latency by route, SSE streams open now. Prometheus
/// text, appended to `tutti::to_prometheus(engine.metrics())`.

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "tutti/metrics.hpp"

namespace tutti::http {

class http_metrics {
public:
  /// One answered request; `route` is the route pattern (e.g.
  /// "/v1/runs/{id}"), not the path, so ids do not explode the label set.
  void observe(const std::string& method, const std::string& route, int status,
               double seconds);
  void stream_opened() { ++open_streams_; }
  void stream_closed() { --open_streams_; }
  int64_t open_streams() const { return open_streams_; }

  std::string to_prometheus() const;

private:
  mutable std::mutex mutex_;
  /// (method, route) -> status -> count
  std::map<std::pair<std::string, std::string>, std::map<int, uint64_t>>
      requests_;
  std::map<std::pair<std::string, std::string>, latency_histogram> latency_;
  std::atomic<int64_t> open_streams_{0};
};

} // namespace tutti::http
