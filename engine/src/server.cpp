#include "tutti/server.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <list>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <variant>
#include <vector>

#include <httplib.h>

#include "engine/src/server_access_log.hpp"
#include "engine/src/server_http_metrics.hpp"
#include "engine/src/server_openai.hpp"
#include "engine/src/server_runs.hpp"
#include "tutti/json.hpp"
#include "tutti/metrics.hpp"

namespace tutti {

namespace {

using namespace std::chrono_literals;
using http::api_error;

/// How long an HTTP thread waits for news before it looks at its client and
/// at the server's state again.
constexpr auto wait_slice = 50ms;

/// An SSE comment goes out after this long without an event, so proxies and
/// clients do not take a slow ensemble for a dead connection.
constexpr auto keep_alive_comment_after = 15s;

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// --- the worker pool -------------------------------------------------------

/// cpp-httplib serves each connection on one pool thread for the
/// connection's whole life, so a long SSE stream holds a thread. This pool
/// starts threads as connections need them, up to `max_threads`; beyond that
/// connections wait in its queue.
class elastic_pool : public httplib::TaskQueue {
public:
  explicit elastic_pool(size_t max_threads)
      : max_threads_(std::max<size_t>(1, max_threads)) {
    // nop
  }

  void enqueue(std::function<void()> fn) override {
    std::lock_guard<std::mutex> guard{mutex_};
    jobs_.push_back(std::move(fn));
    if (jobs_.size() > idle_ && threads_.size() < max_threads_)
      threads_.emplace_back([this] { work(); });
    ready_.notify_one();
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      shutdown_ = true;
    }
    ready_.notify_all();
    for (auto& t : threads_)
      t.join();
  }

private:
  void work() {
    std::unique_lock<std::mutex> lock{mutex_};
    for (;;) {
      ++idle_;
      ready_.wait(lock, [&] { return !jobs_.empty() || shutdown_; });
      --idle_;
      if (jobs_.empty())
        return; // shutting down
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
  }

  const size_t max_threads_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  std::list<std::thread> threads_; // only touched under mutex_ or at shutdown
  size_t idle_ = 0;
  bool shutdown_ = false;
};

// --- client connections ----------------------------------------------------

int port_of(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET)
    return ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
  if (addr.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
  return -1;
}

/// The address as cpp-httplib spells `Request::remote_addr`.
std::string host_of(const sockaddr_storage& addr, socklen_t len) {
  char host[NI_MAXHOST] = {};
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host,
                  sizeof host, nullptr, 0, NI_NUMERICHOST) != 0)
    return {};
  return host;
}

/// Calls `fn(fd)` for each of this process's connected TCP sockets whose
/// local port is `local_port` and, when `remote_port` >= 0, whose peer is
/// `remote_addr`:`remote_port`; stops when `fn` returns false.
///
/// cpp-httplib 0.11 hands handlers no socket, and its per-connection entry
/// point is private, so the way to a connection's socket is to find it. Only
/// done for slow requests (and at shutdown), so its cost (a few syscalls per
/// open descriptor) stays off the fast path.
template <class Fn>
void for_each_connection(int local_port, const std::string& remote_addr,
                         int remote_port, Fn fn) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr)
    return;
  int own_fd = dirfd(dir);
  while (auto* entry = readdir(dir)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9')
      continue;
    int fd = std::atoi(entry->d_name);
    if (fd == own_fd)
      continue;
    sockaddr_storage local{};
    socklen_t len = sizeof local;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0 ||
        port_of(local) != local_port)
      continue;
    sockaddr_storage peer{};
    len = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0)
      continue; // the listening socket
    if (remote_port >= 0 &&
        (port_of(peer) != remote_port || host_of(peer, len) != remote_addr))
      continue;
    if (!fn(fd))
      break;
  }
  closedir(dir);
}

/// Tells whether the client of one request has gone away (closed or reset
/// its connection) while the server is still working on its answer.
class connection_probe {
public:
  explicit connection_probe(const httplib::Request& req)
      : local_port_(req.local_port), remote_addr_(req.remote_addr),
        remote_port_(req.remote_port) {
    // nop
  }

  bool client_gone() {
    if (fd_ == not_searched) {
      fd_ = not_found;
      for_each_connection(local_port_, remote_addr_, remote_port_, [&](int fd) {
        fd_ = fd;
        return false;
      });
    }
    if (fd_ < 0)
      return false;
    // The handler's own thread owns this socket, so it stays open (and
    // stays this connection) while we look at it.
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    if (poll(&p, 1, 0) <= 0)
      return false;
    if ((p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0)
      return true;
    char byte;
    return recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
  }

private:
  static constexpr int not_searched = -2;
  static constexpr int not_found = -1;
  int local_port_;
  std::string remote_addr_;
  int remote_port_;
  int fd_ = not_searched;
};

// --- per-request bookkeeping for the metrics --------------------------------

/// The request the current pool thread is serving: cpp-httplib serves a
/// request start to end on one thread, and its logger (called once the
/// response is written, a stream's last byte included) sees no state of
/// ours.
struct request_context {
  std::chrono::steady_clock::time_point started;
  std::string route;
  bool active = false;
  std::string target; ///< the model, ensemble or pipeline asked, if any
};

thread_local request_context current_request;

/// cpp-httplib's server with the two things 0.11 does not let us set: a
/// listen backlog that takes a burst of connections (it hard-codes 5), and
/// the bound port of a fixed-port bind.
class listening_server : public httplib::Server {
public:
  void widen_backlog() { ::listen(svr_sock_, SOMAXCONN); }

  int bound_port() const {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (getsockname(svr_sock_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      return -1;
    return port_of(addr);
  }

  /// Closes a socket bound but never served (`stop` only closes a running
  /// one).
  void close_unserved() {
    auto sock = svr_sock_.exchange(INVALID_SOCKET);
    if (sock != INVALID_SOCKET)
      ::close(sock);
  }
};

std::string failure_summary(const ensemble_answer& answer) {
  std::string text = "the ensemble '" + answer.ensemble + "' has no answer";
  if (!answer.note.empty())
    text += ": " + answer.note;
  std::string reasons;
  for (auto& m : answer.members) {
    if (m.ok)
      continue;
    reasons += (reasons.empty() ? "" : "; ") + m.member + " " +
               std::string{to_string(m.error.kind)};
    if (m.error.http_status != 0)
      reasons += " " + std::to_string(m.error.http_status);
    if (!m.error.message.empty())
      reasons += ": " + m.error.message;
  }
  return reasons.empty() ? text : text + " (" + reasons + ")";
}

/// The 502 of an ensemble that has no answer; sent with the answer itself.
api_error ensemble_failed(const ensemble_answer& answer) {
  return api_error{502, failure_summary(answer), "upstream_error", "",
                   "ensemble_failed"};
}

api_error shutting_down() {
  return api_error{503, "tutti serve is shutting down", "server_error", "",
                   "shutting_down"};
}

std::string sse_data(const std::string& json) {
  return "data: " + json + "\n\n";
}

} // namespace

// --- the server ------------------------------------------------------------

struct server::impl {
  tutti::engine& engine;
  server_options options;
  listening_server svr;
  http::http_metrics metrics;
  std::unique_ptr<http::access_log> access; ///< --access-log, if given
  http::run_registry runs;
  int bound_port = 0;

  std::atomic<bool> stopping{false};
  enum class phase { idle, running, done };
  std::mutex phase_mutex;
  std::condition_variable phase_changed;
  phase state = phase::idle;
  std::thread background;

  /// Questions of chat completions in flight, cancelled at stop.
  std::mutex in_flight_mutex;
  std::set<uint64_t> in_flight;

  impl(tutti::engine& e, server_options opts)
      : engine(e), options(std::move(opts)),
        runs(options.keep_runs_for, options.keep_runs_max) {
    // nop
  }

  // --- helpers ---

  void track(uint64_t handle) {
    std::lock_guard<std::mutex> guard{in_flight_mutex};
    in_flight.insert(handle);
  }

  void untrack(uint64_t handle) {
    std::lock_guard<std::mutex> guard{in_flight_mutex};
    in_flight.erase(handle);
  }

  static void send_json(httplib::Response& res, int status,
                        const std::string& json) {
    res.status = status;
    res.set_content(json, "application/json");
  }

  static void send_error(httplib::Response& res, const api_error& error,
                         const std::string& ensemble_json = {}) {
    if (error.status == 401)
      res.set_header("WWW-Authenticate", "Bearer");
    send_json(res, error.status, http::to_json(error, ensemble_json));
  }

  /// The call a request body asks for, or nothing when the body is not a
  /// valid one (its error is then sent).
  template <class Call>
  static std::optional<Call> valid_call(std::variant<Call, api_error> parsed,
                                        httplib::Response& res) {
    if (auto* error = std::get_if<api_error>(&parsed)) {
      send_error(res, *error);
      return std::nullopt;
    }
    return std::get<Call>(std::move(parsed));
  }

  /// Starts a `text/event-stream` response, counted in the open streams.
  void open_event_stream(httplib::Response& res) {
    res.status = 200;
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    metrics.stream_opened();
  }

  bool authorized(const httplib::Request& req) const {
    if (options.token.empty())
      return true;
    auto header = req.get_header_value("Authorization");
    return http::tokens_match(http::bearer_token(header), options.token);
  }

  using handler =
      std::function<void(const httplib::Request&, httplib::Response&)>;

  /// Wraps a route's handler: names the route for the metrics, checks the
  /// token, and turns an escaping exception into a 500 in OpenAI's format.
  httplib::Server::Handler route(std::string name, handler fn,
                                 bool needs_token = true) {
    return [this, name = std::move(name), fn = std::move(fn),
            needs_token](const httplib::Request& req, httplib::Response& res) {
      current_request.route = name;
      if (needs_token && !authorized(req)) {
        send_error(res,
                   api_error{401,
                             "Missing or wrong bearer token: send "
                             "'Authorization: Bearer <token>' with the "
                             "token tutti serve was started with",
                             "invalid_request_error", "", "invalid_api_key"});
        return;
      }
      try {
        fn(req, res);
      } catch (const std::exception& e) {
        send_error(res,
                   api_error{500, std::string{"internal error: "} + e.what(),
                             "server_error", "", "internal_error"});
      }
    };
  }

  void install_routes() {
    svr.Get("/healthz",
            route(
                "/healthz",
                [](const httplib::Request&, httplib::Response& res) {
                  send_json(res, 200, R"({"status":"ok"})");
                },
                false));
    svr.Get("/metrics", route("/metrics", [this](auto&, auto& res) {
              auto text =
                  to_prometheus(engine.metrics()) + metrics.to_prometheus();
              res.status = 200;
              res.set_content(text, "text/plain; version=0.0.4");
            }));
    svr.Get("/v1/providers", route("/v1/providers", [this](auto&, auto& res) {
              send_json(res, 200,
                        http::providers_json(engine.provider_states(),
                                             engine.loaded_config()));
            }));
    svr.Get("/v1/ensembles", route("/v1/ensembles", [this](auto&, auto& res) {
              send_json(res, 200, http::ensembles_json(engine.loaded_config()));
            }));
    svr.Get("/v1/pipelines", route("/v1/pipelines", [this](auto&, auto& res) {
              send_json(res, 200, http::pipelines_json(engine.loaded_config()));
            }));
    svr.Get("/v1/models", route("/v1/models", [this](auto&, auto& res) {
              send_json(res, 200,
                        http::models_json(engine.loaded_config(), unix_now()));
            }));
    svr.Post("/v1/chat/completions",
             route("/v1/chat/completions",
                   [this](auto& req, auto& res) { chat(req, res); }));
    svr.Post("/v1/runs", route("/v1/runs", [this](auto& req, auto& res) {
               create_run(req, res);
             }));
    svr.Get(R"(/v1/runs/([A-Za-z0-9_]+))",
            route("/v1/runs/{id}",
                  [this](auto& req, auto& res) { get_run(req, res); }));
    svr.Delete(R"(/v1/runs/([A-Za-z0-9_]+))",
               route("/v1/runs/{id}",
                     [this](auto& req, auto& res) { delete_run(req, res); }));
    svr.Get(R"(/v1/runs/([A-Za-z0-9_]+)/events)",
            route("/v1/runs/{id}/events",
                  [this](auto& req, auto& res) { run_events(req, res); }));
  }

  void configure() {
    svr.new_task_queue = [workers = options.workers] {
      return new elastic_pool(workers);
    };
    svr.set_tcp_nodelay(true);
    // Only SO_REUSEADDR: cpp-httplib's default adds SO_REUSEPORT, which lets
    // a second server bind the same port and silently take half the
    // connections.
    svr.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    auto seconds = [](std::chrono::milliseconds ms) {
      return std::make_pair(static_cast<time_t>(ms.count() / 1000),
                            static_cast<time_t>(ms.count() % 1000 * 1000));
    };
    auto [read_s, read_us] = seconds(options.read_timeout);
    auto [write_s, write_us] = seconds(options.write_timeout);
    svr.set_read_timeout(read_s, read_us);
    svr.set_write_timeout(write_s, write_us);
    svr.set_keep_alive_timeout(options.keep_alive_timeout.count());
    svr.set_keep_alive_max_count(100000);
    svr.set_payload_max_length(options.max_body_bytes);
    svr.set_pre_routing_handler(
        [](const httplib::Request&, httplib::Response&) {
          current_request = request_context{std::chrono::steady_clock::now(),
                                            "unmatched", true, ""};
          return httplib::Server::HandlerResponse::Unhandled;
        });
    // Responses cpp-httplib makes itself (404, 413, a malformed request)
    // get a body in OpenAI's format too.
    svr.set_error_handler(httplib::Server::HandlerWithResponse{
        [this](const httplib::Request&, httplib::Response& res) {
          if (!res.body.empty() || res.content_provider_)
            return httplib::Server::HandlerResponse::Unhandled;
          api_error e{res.status, "", "invalid_request_error", "", ""};
          if (res.status == 404) {
            e.message = "No such route; see docs/http.md for the routes";
            e.code = "not_found";
          } else if (res.status == 413) {
            e.message = "Request body too large: the limit is " +
                        std::to_string(options.max_body_bytes) +
                        " bytes (tutti serve --max-body)";
            e.code = "request_too_large";
          } else if (res.status == 405) {
            e.message = "Method not allowed on this route";
            e.code = "method_not_allowed";
          } else {
            e.message = "Bad request";
            e.code = "bad_request";
          }
          send_error(res, e);
          return httplib::Server::HandlerResponse::Handled;
        }});
    svr.set_logger([this](const httplib::Request& req,
                          const httplib::Response& res) {
      auto now = std::chrono::steady_clock::now();
      auto& ctx = current_request;
      auto seconds =
          ctx.active ? std::chrono::duration<double>(now - ctx.started).count()
                     : 0.0;
      auto method = req.method.empty() ? "-" : req.method;
      auto route = ctx.active ? ctx.route : "invalid";
      metrics.observe(method, route, res.status, seconds);
      if (access) {
        http::access_entry e;
        e.unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
        e.remote = req.remote_addr;
        e.method = method;
        e.path = req.path;
        e.route = route;
        e.target = ctx.active ? ctx.target : "";
        e.status = res.status;
        e.ms = seconds * 1000;
        e.bytes_in = req.body.size();
        e.bytes_out = res.body.size();
        e.stream = static_cast<bool>(res.content_provider_);
        access->write(e);
      }
      ctx.active = false;
    });
    install_routes();
  }

  void bind() {
    if (options.token.empty() && !http::is_loopback_host(options.host))
      throw server_error(
          "refusing to listen on " + options.host +
          ": it is not a loopback address, so anyone who can reach it could "
          "spend your API budget; give a token (--token or TUTTI_TOKEN) or "
          "listen on 127.0.0.1");
    if (options.port < 0 || options.port > 65535)
      throw server_error("port " + std::to_string(options.port) +
                         " is out of range (0 to 65535)");
    errno = 0;
    bool bound = false;
    if (options.port == 0) {
      bound = svr.bind_to_any_port(options.host) > 0;
    } else {
      bound = svr.bind_to_port(options.host, options.port);
    }
    if (!bound) {
      auto reason = errno != 0 ? std::string{": "} + std::strerror(errno) : "";
      throw server_error("cannot listen on " + options.host + ":" +
                         std::to_string(options.port) + reason);
    }
    svr.widen_backlog();
    bound_port = svr.bound_port();
    if (!options.access_log.empty())
      access = std::make_unique<http::access_log>(options.access_log);
  }

  // --- POST /v1/chat/completions ---

  /// Everything one streamed chat completion needs across calls of its
  /// content provider.
  struct chat_stream {
    std::shared_ptr<http::answer_channel> channel;
    uint64_t handle = 0;
    http::completion_ids ids;
    http::chat_call call;
    connection_probe probe;
    std::vector<http::stream_item> pending;
    std::optional<ensemble_answer> answer;
    bool role_sent = false;
    std::string sent_text; ///< answer text streamed so far
    std::chrono::steady_clock::time_point last_write;
  };

  /// Whether a delta is a token of the answer: a provider asked alone
  /// answers with its own reply, so its member tokens are the answer's (and
  /// the `first` strategy's whole-reply answer delta that follows them is a
  /// repeat); an ensemble's answer tokens are marked.
  static bool is_answer_delta(const http::chat_call& call,
                              const member_delta& d) {
    return call.to.of == target::kind::provider ? !d.answer : d.answer;
  }

  /// A member's own token, for `tutti.members`.
  static bool is_member_delta(const member_delta& d) { return !d.answer; }

  /// Waits for the answer of a whole reply; gives up when the client goes
  /// away or the server stops (cancelling the question).
  std::optional<ensemble_answer> wait_answer(http::answer_channel& channel,
                                             uint64_t handle,
                                             connection_probe& probe,
                                             bool& client_gone) {
    std::optional<ensemble_answer> answer;
    std::vector<http::stream_item> ignored;
    while (!answer) {
      channel.take(wait_slice, ignored, answer);
      ignored.clear();
      if (answer)
        break;
      if (stopping) {
        engine.cancel(handle);
        return std::nullopt;
      }
      if (probe.client_gone()) {
        engine.cancel(handle);
        client_gone = true;
        return std::nullopt;
      }
    }
    return answer;
  }

  void chat(const httplib::Request& req, httplib::Response& res) {
    auto parsed = valid_call(
        http::parse_chat_request(req.body, engine.loaded_config()), res);
    if (!parsed)
      return;
    auto call = std::move(*parsed);
    current_request.target = call.model;
    auto channel = std::make_shared<http::answer_channel>();
    ask_options ask;
    ask.stream = call.stream;
    ask.params = call.params;
    if (call.stream) {
      ask.on_delta = [this, channel, call_copy = call](const member_delta& d) {
        if (is_answer_delta(call_copy, d) ||
            (call_copy.stream_members && is_member_delta(d)))
          channel->push(http::stream_item{true, d, {}});
      };
      if (call.stream_members)
        ask.on_member_done = [channel](const member_outcome& o) {
          channel->push(http::stream_item{false, {}, o});
        };
    }
    uint64_t handle = 0;
    try {
      handle = engine.start_ask(
          call.to, call.messages, std::move(ask),
          [channel](ensemble_answer a) { channel->finish(std::move(a)); });
    } catch (const config_error& e) {
      send_error(res, api_error{500, e.message(), "server_error", "model",
                                "config_error"});
      return;
    }
    track(handle);
    http::completion_ids ids{"chatcmpl-" + http::random_hex(24), unix_now(),
                             call.model};
    connection_probe probe{req};
    if (!call.stream) {
      bool client_gone = false;
      auto answer = wait_answer(*channel, handle, probe, client_gone);
      untrack(handle);
      if (!answer) {
        if (client_gone) {
          res.status = 499; // nginx's "client closed request"; nobody reads it
          return;
        }
        send_error(res, shutting_down());
        return;
      }
      if (answer->status == answer_status::failed) {
        send_error(res, ensemble_failed(*answer), to_json(*answer));
        return;
      }
      send_json(res, 200, http::chat_completion_json(ids, *answer));
      return;
    }
    // Streamed: hold the status line until there is something to send, so
    // that an ensemble that fails before its first token is an HTTP error
    // (which OpenAI's SDKs raise) rather than a stream that says nothing.
    auto stream = std::make_shared<chat_stream>(
        chat_stream{channel,
                    handle,
                    ids,
                    std::move(call),
                    probe,
                    {},
                    {},
                    false,
                    {},
                    std::chrono::steady_clock::now()});
    while (stream->pending.empty() && !stream->answer) {
      channel->take(wait_slice, stream->pending, stream->answer);
      if (!stream->pending.empty() || stream->answer)
        break;
      if (stopping || stream->probe.client_gone()) {
        engine.cancel(handle);
        untrack(handle);
        if (stopping)
          send_error(res, shutting_down());
        else
          res.status = 499;
        return;
      }
    }
    if (stream->answer && stream->answer->status == answer_status::failed &&
        stream->pending.empty()) {
      untrack(handle);
      send_error(res, ensemble_failed(*stream->answer),
                 to_json(*stream->answer));
      return;
    }
    open_event_stream(res);
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, stream](size_t, httplib::DataSink& sink) {
          return chat_stream_step(*stream, sink);
        },
        [this, stream](bool completed) {
          if (!completed)
            engine.cancel(stream->handle);
          untrack(stream->handle);
          metrics.stream_closed();
        });
  }

  /// Writes what is there, or waits a slice for more. False ends the
  /// stream as failed (the client went away, or the server stops).
  bool chat_stream_step(chat_stream& s, httplib::DataSink& sink) {
    bool usage = s.call.include_usage;
    auto write = [&](const std::string& text) {
      s.last_write = std::chrono::steady_clock::now();
      return sink.write(text.data(), text.size());
    };
    if (!s.role_sent) {
      s.role_sent = true;
      if (!write(sse_data(http::role_chunk(s.ids, usage))))
        return false;
    }
    for (auto& item : s.pending) {
      std::string chunk;
      if (!item.is_delta) {
        chunk = http::member_done_chunk(s.ids, item.outcome, usage);
      } else if (is_answer_delta(s.call, item.delta)) {
        s.sent_text += item.delta.text;
        chunk = http::content_chunk(s.ids, item.delta.text, usage);
      } else if (is_member_delta(item.delta)) {
        chunk = http::member_delta_chunk(s.ids, item.delta, usage);
      } else {
        continue;
      }
      if (!write(sse_data(chunk)))
        return false;
    }
    s.pending.clear();
    if (s.answer) {
      auto& answer = *s.answer;
      if (answer.status == answer_status::failed) {
        // Mid-stream, the error goes as an event; OpenAI's SDKs raise it.
        write(
            sse_data(http::to_json(ensemble_failed(answer), to_json(answer))));
        sink.done();
        return true;
      }
      // Strategies that do not stream their answer send it whole here; a
      // streamed one sends whatever its tokens did not cover.
      if (answer.text.rfind(s.sent_text, 0) == 0 &&
          answer.text.size() > s.sent_text.size()) {
        if (!write(sse_data(http::content_chunk(
                s.ids, answer.text.substr(s.sent_text.size()), usage))))
          return false;
      }
      if (!write(sse_data(http::finish_chunk(s.ids, answer, usage))))
        return false;
      if (usage && !write(sse_data(http::usage_chunk(s.ids, answer.usage))))
        return false;
      if (!write("data: [DONE]\n\n"))
        return false;
      sink.done();
      return true;
    }
    while (s.pending.empty() && !s.answer) {
      if (stopping || s.probe.client_gone()) {
        engine.cancel(s.handle);
        return false;
      }
      s.channel->take(wait_slice, s.pending, s.answer);
      if (s.pending.empty() && !s.answer &&
          std::chrono::steady_clock::now() - s.last_write >
              keep_alive_comment_after &&
          !write(": keep-alive\n\n"))
        return false;
    }
    return true;
  }

  // --- /v1/runs ---

  void create_run(const httplib::Request& req, httplib::Response& res) {
    auto parsed = valid_call(
        http::parse_run_request(req.body, engine.loaded_config()), res);
    if (!parsed)
      return;
    auto call = std::move(*parsed);
    current_request.target = call.name;
    runs.prune();
    auto kind = call.of == http::run_call::kind::pipeline
                    ? http::run_record::kind::pipeline
                : call.of == http::run_call::kind::provider
                    ? http::run_record::kind::provider
                    : http::run_record::kind::ensemble;
    auto record = runs.add(kind, call.name, unix_now());
    record->push("run.started", record->json());
    uint64_t handle = 0;
    try {
      if (kind == http::run_record::kind::pipeline) {
        run_options options;
        options.stream = true;
        options.on_step_started = [record](const std::string& step) {
          record->push("step.started", step_started_json(step));
        };
        options.on_delta = [record](const std::string& step,
                                    const member_delta& d) {
          record->push("member.delta", delta_json(d, &step));
        };
        options.on_member_done = [record](const std::string& step,
                                          const member_outcome& o) {
          record->push("member.done", member_done_json(o, &step));
        };
        options.on_step_done = [record](const step_outcome& step) {
          record->push("step.done", http::step_json(step));
        };
        handle =
            engine.start_run(call.name, call.inputs, std::move(options),
                             [record](pipeline_result r) {
                               record->finish(std::string{to_string(r.status)},
                                              to_json(r), unix_now());
                             });
      } else {
        ask_options options;
        options.stream = call.stream;
        options.params = call.params;
        options.system = call.system;
        options.on_delta = [record](const member_delta& d) {
          record->push("member.delta", delta_json(d, nullptr));
        };
        options.on_member_done = [record](const member_outcome& o) {
          record->push("member.done", member_done_json(o, nullptr));
        };
        auto to = kind == http::run_record::kind::provider
                      ? target::provider(call.name)
                      : target::ensemble(call.name);
        handle = engine.start_ask(
            to, call.messages, std::move(options), [record](ensemble_answer a) {
              record->finish(std::string{to_string(a.status)}, to_json(a),
                             unix_now());
            });
      }
    } catch (const config_error& e) {
      runs.remove(record->id());
      send_error(
          res, api_error{500, e.message(), "server_error", "", "config_error"});
      return;
    }
    record->set_handle(handle);
    res.set_header("Location", "/v1/runs/" + record->id());
    send_json(res, 202, record->json());
  }

  static std::string step_started_json(const std::string& step) {
    return "{\"step\":" + quote_json(step) + "}";
  }

  static std::string quote_json(const std::string& text) {
    std::string out = "\"";
    for (unsigned char c : text) {
      switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
      }
    }
    return out + "\"";
  }

  static std::string delta_json(const member_delta& d,
                                const std::string* step) {
    std::string json = "{";
    if (step != nullptr)
      json += "\"step\":" + quote_json(*step) + ",";
    json += "\"member\":" + quote_json(d.member) +
            ",\"text\":" + quote_json(d.text) +
            ",\"answer\":" + (d.answer ? "true" : "false") + "}";
    return json;
  }

  /// A member's outcome as answer.md shows it; in a pipeline run, with the
  /// step it belongs to first.
  static std::string member_done_json(const member_outcome& o,
                                      const std::string* step) {
    auto json = to_json(o);
    if (step == nullptr)
      return json;
    return "{\"step\":" + quote_json(*step) + "," + json.substr(1);
  }

  std::shared_ptr<http::run_record> find_run(const httplib::Request& req,
                                             httplib::Response& res) {
    runs.prune();
    auto id = req.matches[1].str();
    auto record = runs.find(id);
    if (!record)
      send_error(res,
                 api_error{404,
                           "No run '" + id +
                               "' (finished runs are forgotten after a "
                               "while)",
                           "invalid_request_error", "id", "run_not_found"});
    return record;
  }

  void get_run(const httplib::Request& req, httplib::Response& res) {
    if (auto record = find_run(req, res))
      send_json(res, 200, record->json());
  }

  void delete_run(const httplib::Request& req, httplib::Response& res) {
    auto record = find_run(req, res);
    if (!record)
      return;
    if (record->request_cancel()) {
      if (auto handle = record->handle())
        engine.cancel(*handle);
      // Cancelled members report within a fraction of a second; answer
      // with the final state when it comes in time.
      record->wait_finished(5s);
    }
    send_json(res, 200, record->json());
  }

  void run_events(const httplib::Request& req, httplib::Response& res) {
    auto record = find_run(req, res);
    if (!record)
      return;
    uint64_t cursor = 0;
    if (req.has_header("Last-Event-ID")) {
      try {
        cursor = std::stoull(req.get_header_value("Last-Event-ID"));
      } catch (const std::exception&) {
        cursor = 0;
      }
    }
    struct subscription {
      std::shared_ptr<http::run_record> record;
      uint64_t cursor;
      connection_probe probe;
      std::chrono::steady_clock::time_point last_write;
    };
    auto sub = std::make_shared<subscription>(
        subscription{record, cursor, connection_probe{req},
                     std::chrono::steady_clock::now()});
    open_event_stream(res);
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, sub](size_t, httplib::DataSink& sink) {
          std::vector<http::run_event> events;
          bool ended =
              sub->record->events_after(sub->cursor, wait_slice, events);
          for (auto& e : events) {
            auto text = "id: " + std::to_string(e.id) + "\nevent: " + e.name +
                        "\ndata: " + e.data + "\n\n";
            if (!sink.write(text.data(), text.size()))
              return false;
            sub->cursor = e.id;
            sub->last_write = std::chrono::steady_clock::now();
          }
          if (ended) {
            sink.done();
            return true;
          }
          if (stopping || sub->probe.client_gone())
            return false;
          if (events.empty() &&
              std::chrono::steady_clock::now() - sub->last_write >
                  keep_alive_comment_after) {
            sub->last_write = std::chrono::steady_clock::now();
            if (!sink.write(": keep-alive\n\n", 14))
              return false;
          }
          return true;
        },
        [this](bool) { metrics.stream_closed(); });
  }

  // --- lifecycle ---

  void run() {
    {
      std::lock_guard<std::mutex> guard{phase_mutex};
      if (stopping || state != phase::idle)
        return;
      state = phase::running;
    }
    svr.listen_after_bind();
    {
      std::lock_guard<std::mutex> guard{phase_mutex};
      state = phase::done;
    }
    phase_changed.notify_all();
  }

  void cancel_everything() {
    std::vector<uint64_t> handles;
    {
      std::lock_guard<std::mutex> guard{in_flight_mutex};
      handles.assign(in_flight.begin(), in_flight.end());
    }
    for (auto& record : runs.all())
      if (!record->finished() && record->request_cancel())
        if (auto handle = record->handle())
          handles.push_back(*handle);
    for (auto handle : handles)
      engine.cancel(handle);
  }

  void stop() {
    stopping = true;
    cancel_everything();
    std::unique_lock<std::mutex> lock{phase_mutex};
    if (state == phase::idle) {
      state = phase::done;
      svr.close_unserved();
      return;
    }
    while (state == phase::running) {
      lock.unlock();
      svr.stop();
      // Threads waiting on idle keep-alive connections would otherwise
      // sit out their keep-alive timeout before the pool can join them.
      for_each_connection(bound_port, "", -1, [](int fd) {
        ::shutdown(fd, SHUT_RDWR);
        return true;
      });
      lock.lock();
      phase_changed.wait_for(lock, wait_slice,
                             [&] { return state != phase::running; });
    }
  }
};

server::server(tutti::engine& engine, server_options options)
    : impl_(std::make_unique<impl>(engine, std::move(options))) {
  // cpp-httplib 0.11 writes to sockets without MSG_NOSIGNAL: a client that
  // goes away mid-stream would kill the process with SIGPIPE. A host that
  // set its own SIGPIPE handler keeps it.
  struct sigaction current {};
  if (sigaction(SIGPIPE, nullptr, &current) == 0 &&
      current.sa_handler == SIG_DFL)
    signal(SIGPIPE, SIG_IGN);
  impl_->configure();
  impl_->bind();
}

server::~server() {
  stop();
  if (impl_->background.joinable())
    impl_->background.join();
}

int server::port() const {
  return impl_->bound_port;
}

std::string server::url() const {
  auto& host = impl_->options.host;
  bool v6 = host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" +
         std::to_string(impl_->bound_port);
}

void server::run() {
  impl_->run();
}

void server::start() {
  if (!impl_->background.joinable())
    impl_->background = std::thread{[this] { impl_->run(); }};
}

void server::stop() {
  impl_->stop();
  if (impl_->background.joinable() &&
      impl_->background.get_id() != std::this_thread::get_id())
    impl_->background.join();
}

} // namespace tutti
