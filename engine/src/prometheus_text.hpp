#pragma once

/// Prometheus' text exposition format (version 0.0.4), as the engine's
/// metrics (`tutti::to_prometheus`) and the HTTP endpoint's own counters
/// write it: one spelling of families, samples, histograms and label values.

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "tutti/metrics.hpp"

namespace tutti {

/// A label value with Prometheus' escapes: backslash, quote, newline.
inline std::string prometheus_escaped(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (auto c : value) {
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

/// `key="value"`, the value escaped.
inline std::string prometheus_label(const char* key, const std::string& value) {
  return std::string{key} + "=\"" + prometheus_escaped(value) + "\"";
}

/// Shortest exact text of a number as Prometheus reads it.
inline std::string prometheus_number(double value) {
  char buf[32];
  // Whole numbers (counts, most bucket bounds) as integers: "30", not the
  // "3e+01" %g shortens them to, which a query matching le="10" misses.
  if (value == std::trunc(value) && std::fabs(value) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", value);
    return buf;
  }
  std::snprintf(buf, sizeof buf, "%.17g", value);
  // %.17g of 0.1 is 0.10000000000000001: try shorter forms that read back.
  for (int precision = 1; precision < 17; ++precision) {
    char shorter[32];
    std::snprintf(shorter, sizeof shorter, "%.*g", precision, value);
    if (std::strtod(shorter, nullptr) == value)
      return shorter;
  }
  return buf;
}

/// A document in the text format, written family by family.
class prometheus_text {
public:
  /// The `# HELP` and `# TYPE` lines that start a family.
  void family(const char* name, const char* type, const char* help) {
    out_ << "# HELP " << name << ' ' << help << '\n'
         << "# TYPE " << name << ' ' << type << '\n';
  }

  /// One sample; `labels` is a comma-separated list of `prometheus_label`s,
  /// or empty.
  void sample(const std::string& name, const std::string& labels,
              double value) {
    out_ << name;
    if (!labels.empty())
      out_ << '{' << labels << '}';
    out_ << ' ' << prometheus_number(value) << '\n';
  }

  /// A histogram's cumulative `_bucket`s (`le` added to `labels`), `_sum`
  /// and `_count`.
  void histogram(const std::string& name, const std::string& labels,
                 const latency_histogram& h) {
    auto sep = labels.empty() ? "" : ",";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h.bounds.size(); ++i) {
      cumulative += h.counts[i];
      sample(name + "_bucket",
             labels + sep + "le=\"" + prometheus_number(h.bounds[i]) + "\"",
             static_cast<double>(cumulative));
    }
    sample(name + "_bucket", labels + sep + "le=\"+Inf\"",
           static_cast<double>(h.count));
    sample(name + "_sum", labels, h.sum);
    sample(name + "_count", labels, static_cast<double>(h.count));
  }

  std::string str() const { return out_.str(); }

private:
  std::ostringstream out_;
};

} // namespace tutti
