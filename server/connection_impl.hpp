#pragma once

/// The Boost side of connection.hpp, shared by connection.cpp (one client
/// connection and the exchanges it serves) and listener.cpp (the acceptor,
/// the io threads, stopping): the `connection` class and the listener's
/// state it reports to. Private to those two files; the routes see
/// connection.hpp only.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "server/connection.hpp"

namespace tutti::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using steady = std::chrono::steady_clock;

/// "HTTP/1.1 404 Not Found\r\n" (499: "Client Closed Request").
std::string status_line(int status);

/// An error body in OpenAI's format, for what the connection answers itself
/// (its messages hold no quote or backslash).
std::string error_body(std::string_view message, std::string_view code);

/// Lets other threads post work to the io threads until the listener has
/// stopped; afterwards posts are dropped (the io_context may be gone).
class post_gate {
public:
  template <class Executor>
  void post(const Executor& executor, std::function<void()> fn) {
    std::lock_guard<std::mutex> guard{mutex_};
    if (open_)
      net::post(executor, std::move(fn));
  }

  void close() {
    std::lock_guard<std::mutex> guard{mutex_};
    open_ = false;
  }

private:
  std::mutex mutex_;
  bool open_ = true;
};

class connection;

/// The listener's state: what its connections share and report to.
struct listener::impl : std::enable_shared_from_this<listener::impl> {
  listener_options options;
  service& routes;
  net::io_context io;
  tcp::acceptor acceptor;
  post_gate gate;
  net::steady_timer accept_retry;
  net::steady_timer stop_timer;
  int bound_port = 0;
  std::atomic<size_t> open{0};
  std::atomic<uint64_t> refused{0};
  std::atomic<bool> stopping{false};

  std::mutex live_mutex;
  std::list<std::weak_ptr<connection>> live;

  impl(listener_options opts, service& r);

  void bind();
  void accept();
  void on_accept(error_code ec, tcp::socket socket);
  /// Past `max_connections`: a 503 that says why, then the close. The write
  /// is small and has its own deadline, so a refused client holds nothing.
  void refuse(tcp::socket socket);
  void close_all(bool idle_only);
  /// Checks every 20 ms whether every connection has closed; past
  /// `deadline` closes those that have not.
  void await_closed(steady::time_point deadline);
};

/// One client connection: reads requests one after another (pipelined ones
/// in order), hands each to the service, writes its response. Everything
/// runs on the connection's strand.
class connection : public std::enable_shared_from_this<connection> {
public:
  connection(tcp::socket socket, std::shared_ptr<listener::impl> owner);
  ~connection();

  /// Enters the listener's list of live connections, for `close_all`.
  void track();

  void start();

  /// Closes the connection now, or (`idle_only`) only if it is between
  /// requests; from any thread.
  void stop(bool idle_only);

  // --- what an exchange does, by its sequence number ---

  void respond(uint64_t seq, response r);
  void start_stream(uint64_t seq, int status, std::string content_type,
                    std::vector<header_pair> headers);
  bool write_chunk(uint64_t seq, const std::string& data);
  void end_stream(uint64_t seq);
  bool answered(uint64_t seq) const { return seq == seq_ && response_started_; }
  bool gone(uint64_t seq) const { return !current(seq) || gone_; }
  void on_gone(uint64_t seq, std::function<void()> fn);
  void post(std::function<void()> fn);
  void after(uint64_t seq, std::chrono::milliseconds delay,
             std::function<void()> fn);

private:
  enum class phase { idle, head, body, handling, closing, closed };

  /// Whether `seq` is the exchange being served, with its client still here.
  bool current(uint64_t seq) const {
    return ex_ != nullptr && seq == seq_ && !gone_ && phase_ != phase::closed;
  }

  bool keeps_alive() const {
    return keep_alive_ && !stopping_ && !owner_->stopping;
  }

  // --- reading ---

  /// Waits (without a thread) for the first byte of the next request.
  void wait_for_request(std::chrono::milliseconds timeout);
  void read_next();
  void start_head();
  /// One read of whatever comes: the start of the next request (idle), a
  /// client leaving or pipelining (while a request is handled), or bytes to
  /// drop (closing).
  void read_some();
  void on_read_some(error_code ec, size_t n);
  void on_head(error_code ec);
  void on_body(error_code ec);
  /// A read ended that the connection has moved past (a deadline answered
  /// the request meanwhile): read on as the new phase wants.
  void resume_after_read();
  void begin_exchange(request_head head);
  /// Answers a request the connection cannot read (bad, too large, too
  /// slow) and closes after the answer.
  void refuse(int status, const std::string& message, std::string_view code);
  /// A 413: the body is over `max_body_bytes`, declared or counted.
  void refuse_too_large();
  void dispatch();

  // --- deadlines ---

  void arm_read_deadline(std::chrono::milliseconds timeout);
  void disarm_read_deadline();
  void on_read_timeout();
  void arm_heartbeat();

  // --- writing ---

  void queue(std::string bytes);
  void flush();
  void on_written(error_code ec);
  /// Tells the service how the exchange went, once: when its response is
  /// handed over whole, or when its client leaves first.
  void report();
  /// The exchange is over (answered, or its client gone): report it if that
  /// is not done, then serve the next request or close.
  void finish_exchange();
  /// Half-closes, then drops what the client still sends until it closes
  /// too (or a second passes), so it reads its answer before the close.
  void linger_close();
  void close();

  /// Shared: the io_context lives as long as any connection, wherever the
  /// last reference to one is dropped (an engine callback, late). Declared
  /// first, so destroyed last: the socket and the timers below go while
  /// the io_context they were opened on is still there.
  std::shared_ptr<listener::impl> owner_;
  tcp::socket socket_;
  std::list<std::weak_ptr<connection>>::iterator entry_;
  bool tracked_ = false;
  std::string remote_addr_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  net::steady_timer read_deadline_;
  net::steady_timer write_deadline_;
  net::steady_timer heartbeat_;
  std::vector<std::shared_ptr<net::steady_timer>> timers_; ///< `after`'s
  uint64_t deadline_generation_ = 0;
  phase phase_ = phase::idle;
  bool reading_ = false; ///< a read of the socket is pending
  bool stopping_ = false;
  size_t lingered_ = 0;

  // The exchange being served.
  uint64_t seq_ = 0;
  std::shared_ptr<exchange> ex_;
  steady::time_point started_;
  bool keep_alive_ = true;
  bool response_started_ = false;
  bool response_done_ = false;
  bool streaming_ = false;
  bool gone_ = false;
  bool reported_ = false;
  int status_ = 0;
  size_t bytes_in_ = 0;
  size_t body_bytes_out_ = 0;
  std::vector<std::function<void()>> on_gone_;

  // What goes out: queued, and being written.
  std::string out_;
  std::string writing_;
  bool write_pending_ = false;
};

} // namespace tutti::http
