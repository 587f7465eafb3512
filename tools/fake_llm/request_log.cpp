#include "tools/fake_llm/request_log.hpp"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include <rapidjson/stringbuffer.h>

#include "tools/fake_llm/wire_support.hpp"

namespace tutti::fake {

std::string arrival_json(const arrival& a) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  w.StartObject();
  w.Key("arrival_unix_us");
  w.Int64(a.unix_us);
  w.Key("arrival_steady_us");
  w.Int64(a.steady_us);
  w.Key("finished_steady_us");
  w.Int64(a.finished_steady_us);
  w.Key("path");
  write_string(w, a.path);
  w.Key("format");
  write_string(w, a.format);
  w.Key("model");
  write_string(w, a.model);
  w.Key("stream");
  w.Bool(a.stream);
  w.Key("api_key");
  w.Bool(a.api_key);
  w.Key("api_version");
  write_string(w, a.api_version);
  w.Key("status");
  w.Int(a.status);
  w.Key("outcome");
  write_string(w, a.outcome);
  w.Key("input_tokens");
  w.Int(a.input_tokens);
  w.Key("output_tokens");
  w.Int(a.output_tokens);
  w.Key("seed");
  w.Int64(a.seed);
  w.Key("limit_window_steady_us");
  w.Int64(a.limit_window_steady_us);
  w.Key("limit_requests_left");
  w.Double(a.limit_requests_left);
  w.Key("limit_tokens_left");
  w.Double(a.limit_tokens_left);
  w.EndObject();
  return buf.GetString();
}

// Declared in fake_llm.hpp: what tests read from the log.
int peak_concurrency(const std::vector<arrival>& log) {
  std::vector<std::pair<int64_t, int>> edges;
  for (auto& a : log) {
    edges.emplace_back(a.steady_us, +1);
    edges.emplace_back(a.finished_steady_us, -1);
  }
  std::sort(edges.begin(), edges.end()); // an end sorts before a start
  int open = 0;
  int peak = 0;
  for (auto& e : edges)
    peak = std::max(peak, open += e.second);
  return peak;
}

} // namespace tutti::fake
