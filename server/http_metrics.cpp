#include "server/http_metrics.hpp"

#include "engine/src/prometheus_text.hpp"

namespace tutti::http {

namespace {

/// Routes are our own patterns and methods are checked tokens, but they are
/// escaped anyway: a label value must never break the exposition format.
std::string labels_of(const std::pair<std::string, std::string>& key) {
  return prometheus_label("method", key.first) + "," +
         prometheus_label("route", key.second);
}

} // namespace

void http_metrics::observe(const std::string& method, const std::string& route,
                           int status, double seconds) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto key = std::make_pair(method, route);
  ++requests_[key][status];
  auto i = latency_.find(key);
  if (i == latency_.end())
    i = latency_.emplace(key, latency_histogram::standard()).first;
  i->second.observe(seconds);
}

std::string http_metrics::to_prometheus() const {
  prometheus_text out;
  std::lock_guard<std::mutex> guard{mutex_};
  out.family("tutti_http_requests_total", "counter",
             "HTTP requests answered by the endpoint, by method, route and "
             "status.");
  for (auto& [key, by_status] : requests_)
    for (auto& [status, count] : by_status)
      out.sample("tutti_http_requests_total",
                 labels_of(key) + ",status=\"" + std::to_string(status) + "\"",
                 static_cast<double>(count));
  out.family("tutti_http_request_duration_seconds", "histogram",
             "Time from a request's headers to the end of its response (a "
             "stream's whole life).");
  for (auto& [key, h] : latency_)
    out.histogram("tutti_http_request_duration_seconds", labels_of(key), h);
  out.family("tutti_http_open_streams", "gauge",
             "Server-sent event streams open now.");
  out.sample("tutti_http_open_streams", "",
             static_cast<double>(open_streams_.load()));
  return out.str();
}

} // namespace tutti::http
