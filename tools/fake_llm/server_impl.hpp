#pragma once

// The fake upstream's server state (`server::impl`), shared by its core
// (fake_llm.cpp: routes, the script per model, limits, the request log)
// and its replies (fake_llm_replies.cpp: whole and streamed). Private to
// tools/fake_llm.

#include "tools/fake_llm/fake_llm.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

#include <httplib.h>
#include <rapidjson/stringbuffer.h>

#include "tools/fake_llm/emitter.hpp"
#include "tools/fake_llm/http_server.hpp"
#include "tools/fake_llm/rate_limit.hpp"
#include "tools/fake_llm/reply_plan.hpp"
#include "tools/fake_llm/request_log.hpp"
#include "tools/fake_llm/wire_format.hpp"
#include "tools/fake_llm/wire_support.hpp"

namespace tutti::fake {

namespace detail {

using std::chrono::steady_clock;

// Longest a scripted stall holds a connection before giving up on its own.
inline constexpr auto max_stall = std::chrono::seconds(60);
// How often a stall looks for a gone client or a stopping server.
inline constexpr auto stall_poll = std::chrono::milliseconds(20);

inline int64_t steady_now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(steady_clock::now().time_since_epoch())
      .count();
}

inline int64_t unix_now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch())
      .count();
}

// The mid-stream error event `error_event_after_tokens` sends.
inline std::string stream_error_event(const wire_format& format,
                                      const model_script& ms) {
  const int status = ms.error_event_status != 0 ? ms.error_event_status
                                                : format.error_event_status();
  auto error = format.default_error(status);
  if (!ms.error_event_message.empty()) {
    error.message = ms.error_event_message;
  }
  return format.error_event(format.error_json(status, error, {}));
}

// Whether a request carries an API key where any format puts one.
inline bool carries_api_key(const httplib::Request& req) {
  for (const auto& format : wire_formats()) {
    for (const auto& header : format->key_headers()) {
      if (req.has_header(header)) {
        return true;
      }
    }
    for (const auto& param : format->key_params()) {
      if (req.has_param(param)) {
        return true;
      }
    }
  }
  return false;
}

// The API version a request names in any format's header, "" when none.
inline std::string api_version(const httplib::Request& req) {
  for (const auto& format : wire_formats()) {
    const auto header = format->version_header();
    if (!header.empty() && req.has_header(header)) {
      return req.get_header_value(header);
    }
  }
  return {};
}

} // namespace detail

using namespace detail;

struct server::impl {
  impl(script s, std::string log_path, int threads)
      : script_(std::move(s)), threads_(std::max(1, threads)) {
    if (!log_path.empty()) {
      log_.open(log_path, std::ios::app);
      if (!log_) {
        throw std::runtime_error(log_path + ": cannot open the log file");
      }
    }
    configure();
  }

  void configure();
  void handle(const wire_format& format, const httplib::Request& req,
              httplib::Response& res, bool embedding);
  void serve(const wire_format& format, const httplib::Request& req,
             httplib::Response& res, arrival& rec, bool embedding);
  void serve_embedding(const wire_format& format, httplib::Response& res,
                       arrival& rec, const model_script& ms,
                       const chat_request& req, const response_ids& ids);
  void serve_whole(const wire_format& format, const httplib::Request& req,
                   httplib::Response& res, arrival& rec, const model_script& ms,
                   const chat_request& chat, const response_ids& ids);
  void serve_stream(const wire_format& format, const httplib::Request& req,
                    httplib::Response& res, arrival& rec,
                    const model_script& ms, const chat_request& chat,
                    const response_ids& ids);
  std::string tag_request(const wire_format& format, httplib::Response& res);
  void respond_error(httplib::Response& res, arrival& rec,
                     const wire_format& format, int status,
                     const error_shape& shape, const char* outcome);
  void record(arrival rec);
  int next_attempt(const std::string& model);
  admission admit(const std::string& model, const server_limit& limit,
                  int64_t charge);
  const model_script* find_model(const std::string& name) const;

  // Sleeps until `t`; false when the server began stopping instead.
  bool sleep_until(steady_clock::time_point t) {
    std::unique_lock<std::mutex> lock(stop_mutex_);
    return !stop_cv_.wait_until(lock, t, [this] { return stopping_; });
  }

  emitter::sleeper sleeper() {
    return [this](steady_clock::time_point t) { return sleep_until(t); };
  }

  bool stopping() {
    std::lock_guard<std::mutex> lock(stop_mutex_);
    return stopping_;
  }

  enum class stall_end { client_gone, stopped, timed_out };

  // Holds the connection without sending a byte.
  stall_end stall(int local_port, int remote_port,
                  const std::function<bool()>& writable) {
    int fd = find_connection_socket(local_port, remote_port);
    auto deadline = steady_clock::now() + max_stall;
    for (;;) {
      auto wake = std::min(steady_clock::now() + stall_poll, deadline);
      if (!sleep_until(wake)) {
        return stall_end::stopped;
      }
      if (steady_clock::now() >= deadline) {
        return stall_end::timed_out;
      }
      if ((fd >= 0 && peer_closed(fd)) || (writable && !writable())) {
        return stall_end::client_gone;
      }
    }
  }

  script script_;
  int threads_;
  http_server http_;
  std::thread listener_;
  std::string host_;
  int port_ = 0;
  bool started_ = false;
  bool stopped_ = false;
  std::atomic<uint64_t> next_id_{0};

  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;

  std::mutex attempts_mutex_;
  std::map<std::string, int> attempts_;

  std::mutex limits_mutex_;
  std::map<std::string, limit_state> limits_;

  mutable std::mutex log_mutex_;
  std::vector<arrival> arrivals_;
  /// Requests read and not yet finished, by model (`server::open_requests`).
  std::map<std::string, int> open_;
  std::ofstream log_;
};

} // namespace tutti::fake
