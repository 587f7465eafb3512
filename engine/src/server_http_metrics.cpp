#include "engine/src/server_http_metrics.hpp"

#include <cstdio>
#include <sstream>

namespace tutti::http {

namespace {

std::string number(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

/// Routes are our own patterns and methods are checked tokens, but escape
/// anyway: a label value must never break the exposition format.
std::string escaped(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string labels_of(const std::pair<std::string, std::string>& key) {
  return "method=\"" + escaped(key.first) + "\",route=\"" +
         escaped(key.second) + "\"";
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
  std::ostringstream out;
  std::lock_guard<std::mutex> guard{mutex_};
  out << "# HELP tutti_http_requests_total HTTP requests answered by the "
         "endpoint, by method, route and status.\n"
      << "# TYPE tutti_http_requests_total counter\n";
  for (auto& [key, by_status] : requests_)
    for (auto& [status, count] : by_status)
      out << "tutti_http_requests_total{" << labels_of(key) << ",status=\""
          << status << "\"} " << count << '\n';
  out << "# HELP tutti_http_request_duration_seconds Time from a request's "
         "headers to the end of its response (a stream's whole life).\n"
      << "# TYPE tutti_http_request_duration_seconds histogram\n";
  for (auto& [key, h] : latency_) {
    auto labels = labels_of(key);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h.bounds.size(); ++i) {
      cumulative += h.counts[i];
      out << "tutti_http_request_duration_seconds_bucket{" << labels << ",le=\""
          << number(h.bounds[i]) << "\"} " << cumulative << '\n';
    }
    out << "tutti_http_request_duration_seconds_bucket{" << labels
        << ",le=\"+Inf\"} " << h.count << '\n'
        << "tutti_http_request_duration_seconds_sum{" << labels << "} "
        << number(h.sum) << '\n'
        << "tutti_http_request_duration_seconds_count{" << labels << "} "
        << h.count << '\n';
  }
  out << "# HELP tutti_http_open_streams Server-sent event streams open "
         "now.\n"
      << "# TYPE tutti_http_open_streams gauge\n"
      << "tutti_http_open_streams " << open_streams_.load() << '\n';
  return out.str();
}

} // namespace tutti::http
