#pragma once

/// A test's client of server-sent events: the parser of an event stream,
/// and a reader that takes a streamed response on a thread of its own
/// while the test waits for what it needs.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

namespace tutti::testing {

/// One server-sent event.
struct sse_event {
  std::string id;
  std::string event;
  std::string data;
};

/// Splits complete events off the front of `buffer`.
inline std::vector<sse_event> take_events(std::string& buffer) {
  std::vector<sse_event> events;
  for (auto end = buffer.find("\n\n"); end != std::string::npos;
       end = buffer.find("\n\n")) {
    auto block = buffer.substr(0, end);
    buffer.erase(0, end + 2);
    sse_event e;
    bool any = false;
    size_t start = 0;
    while (start <= block.size()) {
      auto nl = block.find('\n', start);
      auto line = block.substr(
          start, nl == std::string::npos ? std::string::npos : nl - start);
      auto field = [&](const std::string& name, std::string& into) {
        if (line.rfind(name + ": ", 0) == 0) {
          into += line.substr(name.size() + 2);
          any = true;
        }
      };
      field("id", e.id);
      field("event", e.event);
      field("data", e.data);
      if (nl == std::string::npos)
        break;
      start = nl + 1;
    }
    if (any)
      events.push_back(e);
  }
  return events;
}

/// Reads an SSE response as it arrives on a thread of its own; the test
/// waits for what it needs and can stop reading (closing the connection).
class sse_reader {
public:
  sse_reader(int port, std::string method, std::string path,
             std::string body = "", httplib::Headers headers = {})
      : thread_([=, this] {
          httplib::Client c{"127.0.0.1", port};
          c.set_read_timeout(std::chrono::seconds{10});
          {
            std::lock_guard<std::mutex> guard{mutex_};
            client_ = &c;
          }
          httplib::Request req;
          req.method = method;
          req.path = path;
          req.headers = headers;
          if (!body.empty()) {
            req.body = body;
            req.set_header("Content-Type", "application/json");
          }
          std::string buffer;
          req.content_receiver = [&](const char* data, size_t len, uint64_t,
                                     uint64_t) {
            buffer.append(data, len);
            auto events = take_events(buffer);
            std::lock_guard<std::mutex> guard{mutex_};
            for (auto& e : events)
              events_.push_back(e);
            changed_.notify_all();
            return !quit_;
          };
          httplib::Response res;
          httplib::Error error = httplib::Error::Success;
          c.send(req, res, error);
          std::lock_guard<std::mutex> guard{mutex_};
          client_ = nullptr;
          status_ = res.status;
          content_type_ = res.get_header_value("Content-Type");
          ended_ = true;
          changed_.notify_all();
        }) {
    // nop
  }

  ~sse_reader() {
    close();
    thread_.join();
  }

  /// Closes the connection at the next piece that arrives.
  void quit() {
    std::lock_guard<std::mutex> guard{mutex_};
    quit_ = true;
  }

  /// Closes the connection now, without waiting for a piece to arrive.
  void close() {
    std::lock_guard<std::mutex> guard{mutex_};
    quit_ = true;
    if (client_ != nullptr)
      client_->stop();
  }

  /// Waits until `pred(events)` holds; false after `timeout`.
  bool wait_for(const std::function<bool(const std::vector<sse_event>&)>& pred,
                std::chrono::milliseconds timeout = std::chrono::seconds{10}) {
    std::unique_lock<std::mutex> lock{mutex_};
    return changed_.wait_for(lock, timeout, [&] { return pred(events_); });
  }

  bool wait_end(std::chrono::milliseconds timeout = std::chrono::seconds{10}) {
    std::unique_lock<std::mutex> lock{mutex_};
    return changed_.wait_for(lock, timeout, [&] { return ended_; });
  }

  std::vector<sse_event> events() {
    std::lock_guard<std::mutex> guard{mutex_};
    return events_;
  }

  int status() {
    std::lock_guard<std::mutex> guard{mutex_};
    return status_;
  }

  std::string content_type() {
    std::lock_guard<std::mutex> guard{mutex_};
    return content_type_;
  }

private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<sse_event> events_;
  bool quit_ = false;
  httplib::Client* client_ = nullptr; ///< while the request runs
  bool ended_ = false;
  int status_ = 0;
  std::string content_type_;
  std::thread thread_;
};

inline bool has_event(const std::vector<sse_event>& events,
                      const std::string& name) {
  for (auto& e : events)
    if (e.event == name)
      return true;
  return false;
}

} // namespace tutti::testing
