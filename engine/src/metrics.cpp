#include "tutti/metrics.hpp"

#include <algorithm>

#include "engine/src/prometheus_text.hpp"

namespace tutti {

latency_histogram latency_histogram::standard() {
  latency_histogram h;
  h.bounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
              1,     2.5,  5,     10,   30,  60,   120};
  h.counts.assign(h.bounds.size() + 1, 0);
  return h;
}

void latency_histogram::observe(double seconds) {
  auto i = std::lower_bound(bounds.begin(), bounds.end(), seconds);
  ++counts[static_cast<size_t>(i - bounds.begin())];
  sum += seconds;
  ++count;
}

std::string to_prometheus(const metrics_snapshot& s) {
  prometheus_text out;
  auto each_provider = [&](auto&& write) {
    for (auto& p : s.providers)
      write(p, prometheus_label("provider", p.provider));
  };

  out.family("tutti_provider_calls_total", "counter",
             "Member and combiner calls that finished, failed ones included.");
  each_provider([&](const provider_metrics& p, const std::string& l) {
    out.sample("tutti_provider_calls_total", l, static_cast<double>(p.calls));
  });
  out.family("tutti_provider_failures_total", "counter",
             "Failed calls by provider and failure kind.");
  each_provider([&](const provider_metrics& p, const std::string& l) {
    for (auto& [kind, n] : p.failures)
      out.sample("tutti_provider_failures_total",
                 l + "," + prometheus_label("kind", kind),
                 static_cast<double>(n));
  });
  out.family("tutti_provider_http_attempts_total", "counter",
             "HTTP requests sent upstream, retries included.");
  each_provider([&](const provider_metrics& p, const std::string& l) {
    out.sample("tutti_provider_http_attempts_total", l,
               static_cast<double>(p.attempts));
  });
  out.family("tutti_provider_tokens_total", "counter",
             "Tokens the upstream counted, by direction (input, output, "
             "cached_input).");
  each_provider([&](const provider_metrics& p, const std::string& l) {
    out.sample("tutti_provider_tokens_total", l + ",direction=\"input\"",
               static_cast<double>(p.usage.input_tokens));
    out.sample("tutti_provider_tokens_total", l + ",direction=\"output\"",
               static_cast<double>(p.usage.output_tokens));
    out.sample("tutti_provider_tokens_total", l + ",direction=\"cached_input\"",
               static_cast<double>(p.usage.cached_input_tokens));
  });
  out.family("tutti_provider_cached_total", "counter",
             "Calls served from the response cache.");
  each_provider([&](const provider_metrics& p, const std::string& l) {
    out.sample("tutti_provider_cached_total", l, static_cast<double>(p.cached));
  });
  out.family("tutti_provider_saved_tokens_total", "counter",
             "Tokens the cached replies took when first made, by direction: "
             "not spent again.");
  each_provider([&](const provider_metrics& p, const std::string& l) {
    out.sample("tutti_provider_saved_tokens_total", l + ",direction=\"input\"",
               static_cast<double>(p.saved_usage.input_tokens));
    out.sample("tutti_provider_saved_tokens_total", l + ",direction=\"output\"",
               static_cast<double>(p.saved_usage.output_tokens));
  });
  out.family("tutti_provider_cost_usd_total", "counter",
             "Cost from the providers' price tables, in US dollars.");
  each_provider([&](const provider_metrics& p, const std::string& l) {
    out.sample("tutti_provider_cost_usd_total", l, p.cost_usd);
  });
  out.family("tutti_provider_latency_seconds", "histogram",
             "Time from a call's query to its outcome.");
  each_provider([&](const provider_metrics& p, const std::string& l) {
    out.histogram("tutti_provider_latency_seconds", l, p.latency);
  });
  out.family("tutti_provider_first_token_seconds", "histogram",
             "Time from sending a request to its first content byte.");
  each_provider([&](const provider_metrics& p, const std::string& l) {
    out.histogram("tutti_provider_first_token_seconds", l, p.first_token);
  });
  out.family("tutti_provider_in_flight", "gauge",
             "Requests holding a permit of the provider's limit group now "
             "(-1: not started).");
  each_provider([&](const provider_metrics& p, const std::string& l) {
    out.sample("tutti_provider_in_flight", l, static_cast<double>(p.in_flight));
  });
  out.family("tutti_provider_queue_depth", "gauge",
             "Requests waiting for a permit of the provider's limit group now "
             "(-1: not started).");
  each_provider([&](const provider_metrics& p, const std::string& l) {
    out.sample("tutti_provider_queue_depth", l, static_cast<double>(p.queued));
  });

  auto answers = [&](const char* family, const char* help, const char* key,
                     const std::vector<answer_metrics>& all) {
    auto total = std::string{family} + "_total";
    auto seconds = std::string{family} + "_seconds";
    out.family(total.c_str(), "counter", help);
    for (auto& a : all)
      for (auto& [status, n] : a.by_status)
        out.sample(total,
                   prometheus_label(key, a.name) + "," +
                       prometheus_label("status", status),
                   static_cast<double>(n));
    out.family(seconds.c_str(), "histogram", "Wall time until the answer.");
    for (auto& a : all)
      out.histogram(seconds, prometheus_label(key, a.name), a.latency);
  };
  answers("tutti_ensemble_answers",
          "Ensemble answers (and single-provider questions) by status.",
          "ensemble", s.ensembles);
  answers("tutti_pipeline_runs", "Pipeline runs by status.", "pipeline",
          s.pipelines);

  out.family("tutti_in_flight", "gauge",
             "Questions and pipeline runs started and not yet answered.");
  out.sample("tutti_in_flight", "", static_cast<double>(s.questions_in_flight));
  out.family("tutti_scheduler_lag_seconds", "gauge",
             "How long a probe message waited for an actor-scheduler thread.");
  out.sample("tutti_scheduler_lag_seconds", "", s.scheduler_lag);
  if (s.store.state != "off") {
    out.family("tutti_store_up", "gauge",
               "1 while the run store takes every record, 0 while degraded.");
    out.sample("tutti_store_up", "", s.store.state == "ok" ? 1.0 : 0.0);
    out.family("tutti_store_written_total", "counter",
               "Runs written to the store.");
    out.sample("tutti_store_written_total", "",
               static_cast<double>(s.store.written));
    out.family("tutti_store_dropped_total", "counter",
               "Runs the store could not keep: its queue was full or it "
               "refused them.");
    out.sample("tutti_store_dropped_total", "",
               static_cast<double>(s.store.dropped));
    out.family("tutti_store_pruned_total", "counter",
               "Runs deleted from the store past its retention.");
    out.sample("tutti_store_pruned_total", "",
               static_cast<double>(s.store.pruned));
    out.family("tutti_store_queued", "gauge",
               "Runs waiting to be written to the store.");
    out.sample("tutti_store_queued", "", static_cast<double>(s.store.queued));
  }
  out.family("tutti_uptime_seconds", "gauge",
             "Seconds since the engine started.");
  out.sample("tutti_uptime_seconds", "", s.uptime);
  return out.str();
}

} // namespace tutti
