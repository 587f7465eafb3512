#pragma once

/// The HTTP/1.1 side of `tutti serve`, event-driven on Boost.Asio with
/// Boost.Beast's parser: a connection costs a socket and a few buffers, never
/// a thread; a fixed number of threads serve any number of connections.
///
/// Every request is bounded before anything is buffered: its head by size
/// and by one deadline for the whole head (not per read, so a client
/// trickling a byte at a time gains nothing), its body by `max_body_bytes`
/// whatever the transfer encoding (chunked included) and by one deadline;
/// the routes see the head first, so a token, a host or a content type is
/// checked before a body byte is read. Idle keep-alive connections wait
/// without a thread and are closed after their timeout; past
/// `max_connections` a new connection gets a 503 and is closed. Requests
/// pipelined behind one another are answered in order.
///
/// No Boost include here: the routes build without it. The Boost side is
/// connection_impl.hpp, private to connection.cpp and listener.cpp.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tutti/messages.hpp"

namespace tutti::http {

using header_pair = std::pair<std::string, std::string>;

/// A request's head as the routes see it.
struct request_head {
  std::string method;
  std::string target; ///< as sent: the path and the query
  std::string path;   ///< the target without its query
  std::vector<header_pair> headers;
  std::string remote_addr;
  /// The first header named `name` (any case); nullptr when absent.
  const std::string* header(std::string_view name) const;
};

/// A response sent whole.
struct response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<header_pair> headers;
};

class connection;

/// One request and its response. Its members but `post` must be called on
/// the exchange's strand: from the service's callbacks, or from a function
/// given to `post` or `after`. Calls after the response has ended (or the
/// client has gone) do nothing, so late engine callbacks are harmless.
class exchange {
public:
  exchange(std::shared_ptr<connection> conn, uint64_t seq, request_head head);

  const request_head& head() const { return head_; }
  const std::string& body() const { return body_; }

  /// The route pattern ("/v1/runs/{id}") and the model, ensemble or
  /// pipeline asked, for the metrics and the access log.
  std::string route = "unmatched";
  std::string target;
  /// Headers every response of this exchange carries, whole or streamed
  /// (`x-tutti-run-id`).
  std::vector<header_pair> extra_headers;
  /// The API key the request came with (`tutti keys`), until the store has
  /// been asked for it; then its name and the targets it may ask (none:
  /// all). Empty name: the admin token, or no token on loopback.
  std::string key_secret;
  std::string key_name;
  std::vector<std::string> key_targets;
  int64_t key_rpm = 0; ///< the key's own per-minute budgets; 0: none
  int64_t key_tpm = 0;
  tutti::spend_limit key_budget; ///< the key's spend budget; none: 0s

  /// Rewrites an error response (status 400 and up) into the shape this
  /// route's client API has (Anthropic's on /v1/messages); none: as is.
  std::function<void(response&)> shape_error;

  /// Sends a whole response.
  void respond(response r);

  /// Starts a chunked response (an event stream). While it is open, a
  /// comment `: keep-alive` goes out after 15 s without a write.
  void start_stream(int status, std::string content_type,
                    std::vector<header_pair> headers = {});
  /// Sends one piece of an open stream. False when the stream cannot take it
  /// (not started, ended, or the client has gone).
  bool write(std::string data);
  /// Ends the stream cleanly.
  void end_stream();

  /// True once a response has started (whole or streamed).
  bool answered() const;
  /// True once the client has gone (or the server stopped) before the
  /// response ended.
  bool gone() const;

  /// `fn` is called once, on the strand, when the client goes away or the
  /// server stops before the response has ended.
  void on_gone(std::function<void()> fn);

  /// Runs `fn` on this exchange's strand; safe from any thread. Dropped once
  /// the server has stopped.
  void post(std::function<void()> fn);

  /// Runs `fn` on the strand after `delay`, unless the exchange is over by
  /// then.
  void after(std::chrono::milliseconds delay, std::function<void()> fn);

private:
  friend class connection;
  std::shared_ptr<connection> conn_;
  uint64_t seq_;
  request_head head_;
  std::string body_;
};

using exchange_ptr = std::shared_ptr<exchange>;

/// What the access log and the metrics record of one finished request.
struct exchange_summary {
  std::string method;
  std::string path;
  std::string remote_addr;
  std::string route;
  std::string target;
  int status = 0; ///< 499 when the client left before the response ended
  double seconds = 0;
  size_t bytes_in = 0;
  size_t bytes_out = 0; ///< the body's bytes, a stream's included
  bool stream = false;
};

/// What the HTTP side asks of the routes. Called on the exchange's strand.
class service {
public:
  virtual ~service() = default;

  /// The head is read, the body not yet: answer now (an unknown route, a
  /// refused token, host or content type) or return nothing to have the
  /// body read and `handle` called. Sets the exchange's route and target.
  virtual std::optional<response> check(exchange& ex) = 0;

  /// The whole request is in: answer it, now or later.
  virtual void handle(const exchange_ptr& ex) = 0;

  /// A request is over: answered, refused, or its client has gone.
  virtual void finished(const exchange_summary& summary) = 0;
};

/// Where and how the listener serves.
struct listener_options {
  std::string host = "127.0.0.1";
  int port = 0;
  size_t threads = 2;
  size_t max_connections = 4096;
  size_t max_header_bytes = 16 << 10;
  size_t max_body_bytes = 1 << 20;
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds write_timeout{30'000};
  std::chrono::milliseconds keep_alive_timeout{5'000};
  /// Most bytes waiting to be written to one client; a client that reads
  /// slower than its stream comes is dropped beyond this.
  size_t max_pending_output = 8 << 20;
};

/// Accepts connections and serves them on a fixed set of threads.
class listener {
public:
  /// Binds and listens; throws `tutti::server_error` naming the address and
  /// the reason.
  listener(listener_options options, service& routes);
  ~listener();

  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;

  /// The bound port.
  int port() const;

  /// Serves on this thread and `threads - 1` more until `stop`; returns once
  /// every connection is closed.
  void run();

  /// Stops accepting and closes every connection (their exchanges see
  /// `on_gone`). Safe from any thread, more than once.
  void stop();

  /// Connections open now.
  size_t open_connections() const;

  /// Connections refused with a 503 because `max_connections` were open.
  uint64_t refused_connections() const;

  struct impl;

private:
  std::shared_ptr<impl> impl_;
};

} // namespace tutti::http
