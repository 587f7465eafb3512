#include "server/connection.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <list>
#include <mutex>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

#include "tutti/server.hpp"

namespace tutti::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using steady = std::chrono::steady_clock;

namespace {

/// An SSE comment goes out after this long without a write, so proxies and
/// clients do not take a slow ensemble for a dead connection.
constexpr auto heartbeat_after = std::chrono::seconds{15};

/// After the last response of a connection that must close, what the client
/// still sends (an unread body) is read and dropped, for at most this long
/// and this much, so that closing does not reset the connection before the
/// client has read its answer.
constexpr auto linger_for = std::chrono::milliseconds{1000};
constexpr size_t linger_bytes = 1 << 20;

/// Bytes of requests pipelined behind the current one kept while it is
/// served; beyond this the connection is not read until it is answered.
constexpr size_t max_pipelined = 64 << 10;

/// How long stopping waits for the requests being answered.
constexpr auto stop_grace = std::chrono::milliseconds{2000};

bool equals_ci(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto x = a[i] >= 'A' && a[i] <= 'Z' ? a[i] - 'A' + 'a' : a[i];
    auto y = b[i] >= 'A' && b[i] <= 'Z' ? b[i] - 'A' + 'a' : b[i];
    if (x != y)
      return false;
  }
  return true;
}

std::string status_line(int status) {
  auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(status));
  if (status == 499)
    reason = "Client Closed Request";
  return "HTTP/1.1 " + std::to_string(status) + " " +
         std::string{reason.data(), reason.size()} + "\r\n";
}

/// An error body in OpenAI's format, for what the connection answers itself
/// (its messages hold no quote or backslash).
std::string error_body(std::string_view message, std::string_view code) {
  return R"({"error":{"message":")" + std::string{message} +
         R"(","type":"invalid_request_error","param":null,"code":")" +
         std::string{code} + R"("}})";
}

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

/// Lets the process hold as many sockets as the listener may take: the
/// soft limit on descriptors is often 1024.
void raise_descriptor_limit(size_t wanted) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= wanted)
    return;
  limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, wanted);
  setrlimit(RLIMIT_NOFILE, &limit);
}

} // namespace

const std::string* request_head::header(std::string_view name) const {
  for (auto& [key, value] : headers)
    if (equals_ci(key, name))
      return &value;
  return nullptr;
}

class connection;

// --- the listener's state
// ------------------------------------------------------

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

  impl(listener_options opts, service& r)
      : options(std::move(opts)), routes(r),
        io(static_cast<int>(std::max<size_t>(1, options.threads))),
        acceptor(io), accept_retry(io), stop_timer(io) {
    // nop
  }

  void bind();
  void accept();
  void on_accept(error_code ec, tcp::socket socket);
  void refuse(tcp::socket socket);
  void close_all(bool idle_only);
  void await_closed(steady::time_point deadline);
};

// --- the connection
// -------------------------------------------------------------

/// One client connection: reads requests one after another (pipelined ones
/// in order), hands each to the service, writes its response. Everything
/// runs on the connection's strand.
class connection : public std::enable_shared_from_this<connection> {
public:
  connection(tcp::socket socket, std::shared_ptr<listener::impl> owner)
      : owner_(std::move(owner)), socket_(std::move(socket)),
        buffer_(owner_->options.max_header_bytes + max_pipelined + 4096),
        read_deadline_(socket_.get_executor()),
        write_deadline_(socket_.get_executor()),
        heartbeat_(socket_.get_executor()) {
    error_code ec;
    auto peer = socket_.remote_endpoint(ec);
    if (!ec)
      remote_addr_ = peer.address().to_string();
    socket_.set_option(tcp::no_delay{true}, ec);
    ++owner_->open; // until `close`
  }

  ~connection() {
    std::lock_guard<std::mutex> guard{owner_->live_mutex};
    if (tracked_)
      owner_->live.erase(entry_);
  }

  void track() {
    std::lock_guard<std::mutex> guard{owner_->live_mutex};
    entry_ = owner_->live.insert(owner_->live.end(), weak_from_this());
    tracked_ = true;
  }

  void start() {
    // The first request's head must come within its deadline.
    wait_for_request(owner_->options.header_timeout);
  }

  /// Closes the connection now, or (`idle_only`) only if it is between
  /// requests; from any thread.
  void stop(bool idle_only) {
    net::post(socket_.get_executor(), [self = shared_from_this(), idle_only] {
      if (!idle_only || self->phase_ == phase::idle)
        self->close();
    });
  }

  // --- what an exchange does, by its sequence number ---

  void respond(uint64_t seq, response r) {
    if (!current(seq) || response_started_)
      return;
    response_started_ = response_done_ = true;
    status_ = r.status;
    std::string bytes = status_line(r.status);
    for (auto& [name, value] : r.headers)
      bytes += name + ": " + value + "\r\n";
    bytes += "Content-Type: " + r.content_type + "\r\n";
    bytes += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    if (!keeps_alive())
      bytes += "Connection: close\r\n";
    bytes += "\r\n";
    body_bytes_out_ = r.body.size();
    bytes += r.body;
    queue(std::move(bytes));
    // Counted as soon as it is handed to the socket, so that a client that
    // has its answer finds it in the metrics.
    report();
  }

  void start_stream(uint64_t seq, int status, std::string content_type,
                    std::vector<header_pair> headers) {
    if (!current(seq) || response_started_)
      return;
    response_started_ = streaming_ = true;
    status_ = status;
    std::string bytes = status_line(status);
    for (auto& [name, value] : headers)
      bytes += name + ": " + value + "\r\n";
    bytes += "Content-Type: " + content_type + "\r\n";
    bytes += "Transfer-Encoding: chunked\r\n";
    if (!keeps_alive())
      bytes += "Connection: close\r\n";
    bytes += "\r\n";
    queue(std::move(bytes));
    arm_heartbeat();
  }

  bool write_chunk(uint64_t seq, const std::string& data) {
    if (!current(seq) || !streaming_ || response_done_)
      return false;
    if (data.empty())
      return true;
    char size[24];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    body_bytes_out_ += data.size();
    queue(size + data + "\r\n");
    arm_heartbeat();
    return current(seq);
  }

  void end_stream(uint64_t seq) {
    if (!current(seq) || !streaming_ || response_done_)
      return;
    response_done_ = true;
    heartbeat_.cancel();
    queue("0\r\n\r\n");
    report();
  }

  bool answered(uint64_t seq) const { return seq == seq_ && response_started_; }

  bool gone(uint64_t seq) const { return !current(seq) || gone_; }

  void on_gone(uint64_t seq, std::function<void()> fn) {
    if (seq != seq_)
      return;
    if (gone_) {
      fn();
      return;
    }
    on_gone_.push_back(std::move(fn));
  }

  void post(std::function<void()> fn) {
    owner_->gate.post(socket_.get_executor(),
                      [self = shared_from_this(), fn = std::move(fn)] {
                        if (self->phase_ != phase::closed)
                          fn();
                      });
  }

  void after(uint64_t seq, std::chrono::milliseconds delay,
             std::function<void()> fn) {
    if (!current(seq))
      return;
    auto timer = std::make_shared<net::steady_timer>(socket_.get_executor());
    timers_.push_back(timer);
    timer->expires_after(delay);
    timer->async_wait([self = shared_from_this(), seq, timer,
                       fn = std::move(fn)](error_code ec) {
      auto& timers = self->timers_;
      timers.erase(std::remove(timers.begin(), timers.end(), timer),
                   timers.end());
      if (!ec && self->current(seq) && !self->response_done_)
        fn();
    });
  }

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
  void wait_for_request(std::chrono::milliseconds timeout) {
    phase_ = phase::idle;
    arm_read_deadline(timeout);
    read_some();
  }

  void read_next() {
    if (buffer_.size() > 0) {
      start_head();
      return;
    }
    wait_for_request(owner_->options.keep_alive_timeout);
  }

  void start_head() {
    if (reading_) {
      // The watch read is still out: end it; its handler starts the head
      // from what is buffered.
      phase_ = phase::idle;
      error_code ignored;
      socket_.cancel(ignored);
      return;
    }
    phase_ = phase::head;
    parser_.emplace();
    parser_->header_limit(
        static_cast<std::uint32_t>(owner_->options.max_header_bytes));
    parser_->body_limit(owner_->options.max_body_bytes);
    arm_read_deadline(owner_->options.header_timeout);
    reading_ = true;
    bhttp::async_read_header(socket_, buffer_, *parser_,
                             [self = shared_from_this()](
                                 error_code ec, size_t) { self->on_head(ec); });
  }

  /// One read of whatever comes: the start of the next request (idle), a
  /// client leaving or pipelining (while a request is handled), or bytes to
  /// drop (closing).
  void read_some() {
    if (reading_ || phase_ == phase::closed)
      return;
    if (phase_ != phase::closing && buffer_.size() >= max_pipelined)
      return;
    reading_ = true;
    socket_.async_read_some(
        buffer_.prepare(4096),
        [self = shared_from_this()](error_code ec, size_t n) {
          self->on_read_some(ec, n);
        });
  }

  void on_read_some(error_code ec, size_t n) {
    reading_ = false;
    if (phase_ == phase::closed)
      return;
    if (ec == net::error::operation_aborted && phase_ == phase::idle &&
        buffer_.size() > 0) {
      start_head(); // cancelled to read a pipelined request
      return;
    }
    if (ec) {
      // The client closed or reset its side: gone, whatever we were doing.
      close();
      return;
    }
    buffer_.commit(n);
    switch (phase_) {
    case phase::idle:
      start_head();
      return;
    case phase::closing:
      lingered_ += buffer_.size();
      buffer_.consume(buffer_.size());
      if (lingered_ > linger_bytes) {
        close();
        return;
      }
      read_some();
      return;
    case phase::handling:
      read_some(); // keep watching (up to the pipelining bound)
      return;
    default:
      return;
    }
  }

  void on_head(error_code ec) {
    reading_ = false;
    disarm_read_deadline();
    if (phase_ != phase::head) {
      resume_after_read();
      return;
    }
    if (ec) {
      if (ec == bhttp::error::end_of_stream || ec == net::error::eof ||
          ec == net::error::connection_reset ||
          ec == net::error::operation_aborted) {
        close();
      } else if (ec == bhttp::error::body_limit) {
        refuse(413,
               "Request body too large: the limit is " +
                   std::to_string(owner_->options.max_body_bytes) +
                   " bytes (tutti serve --max-body)",
               "request_too_large");
      } else if (ec == bhttp::error::header_limit) {
        refuse(431,
               "Request head too large: the limit is " +
                   std::to_string(owner_->options.max_header_bytes) + " bytes",
               "headers_too_large");
      } else {
        refuse(400, "Bad request: " + ec.message(), "bad_request");
      }
      return;
    }
    auto& req = parser_->get();
    request_head head;
    head.method = std::string{req.method_string()};
    head.target = std::string{req.target()};
    head.path = head.target.substr(0, head.target.find('?'));
    for (auto& field : req)
      head.headers.emplace_back(std::string{field.name_string()},
                                std::string{field.value()});
    head.remote_addr = remote_addr_;
    begin_exchange(std::move(head));
    keep_alive_ = req.keep_alive();
    if (auto early = owner_->routes.check(*ex_)) {
      if (!parser_->is_done())
        keep_alive_ = false; // its body stays unread
      respond(seq_, std::move(*early));
      return;
    }
    if (parser_->is_done()) {
      dispatch();
      return;
    }
    if (auto* expect = ex_->head().header("Expect");
        expect != nullptr && equals_ci(*expect, "100-continue"))
      queue("HTTP/1.1 100 Continue\r\n\r\n");
    phase_ = phase::body;
    arm_read_deadline(owner_->options.body_timeout);
    reading_ = true;
    bhttp::async_read(socket_, buffer_, *parser_,
                      [self = shared_from_this()](error_code ec, size_t) {
                        self->on_body(ec);
                      });
  }

  void on_body(error_code ec) {
    reading_ = false;
    disarm_read_deadline();
    if (phase_ != phase::body) {
      resume_after_read();
      return;
    }
    if (ec) {
      if (ec == bhttp::error::body_limit) {
        refuse(413,
               "Request body too large: the limit is " +
                   std::to_string(owner_->options.max_body_bytes) +
                   " bytes (tutti serve --max-body)",
               "request_too_large");
      } else if (ec == net::error::eof || ec == bhttp::error::end_of_stream ||
                 ec == net::error::connection_reset ||
                 ec == bhttp::error::partial_message ||
                 ec == net::error::operation_aborted) {
        close();
      } else {
        refuse(400, "Bad request body: " + ec.message(), "bad_request");
      }
      return;
    }
    dispatch();
  }

  /// A read ended that the connection has moved past (a deadline answered
  /// the request meanwhile): read on as the new phase wants.
  void resume_after_read() {
    if (phase_ == phase::closing || phase_ == phase::handling ||
        phase_ == phase::idle)
      read_some();
  }

  void begin_exchange(request_head head) {
    started_ = steady::now();
    response_started_ = response_done_ = streaming_ = gone_ = reported_ = false;
    status_ = 0;
    bytes_in_ = body_bytes_out_ = 0;
    on_gone_.clear();
    ex_ =
        std::make_shared<exchange>(shared_from_this(), ++seq_, std::move(head));
    phase_ = phase::handling;
  }

  /// Answers a request the connection cannot read (bad, too large, too
  /// slow) and closes after the answer.
  void refuse(int status, const std::string& message, std::string_view code) {
    if (ex_ == nullptr) {
      request_head head;
      head.remote_addr = remote_addr_;
      begin_exchange(std::move(head));
      ex_->route = "invalid";
    }
    phase_ = phase::handling;
    keep_alive_ = false;
    response r;
    r.status = status;
    r.body = error_body(message, code);
    respond(seq_, std::move(r));
  }

  void dispatch() {
    phase_ = phase::handling;
    ex_->body_ = std::move(parser_->get().body());
    bytes_in_ = ex_->body_.size();
    parser_.reset();
    auto ex = ex_;
    owner_->routes.handle(ex);
    // Meanwhile the socket is watched: a client that leaves is noticed,
    // and requests pipelined behind this one are kept for later.
    if (phase_ == phase::handling)
      read_some();
  }

  // --- deadlines ---

  void arm_read_deadline(std::chrono::milliseconds timeout) {
    auto generation = ++deadline_generation_;
    read_deadline_.expires_after(timeout);
    read_deadline_.async_wait(
        [self = shared_from_this(), generation](error_code ec) {
          if (!ec && generation == self->deadline_generation_)
            self->on_read_timeout();
        });
  }

  void disarm_read_deadline() {
    ++deadline_generation_;
    read_deadline_.cancel();
  }

  void on_read_timeout() {
    switch (phase_) {
    case phase::head:
    case phase::body: {
      // A client too slow to send its request: say so, then close. The
      // pending read ends with an error, which `resume_after_read` takes.
      auto had_exchange = phase_ == phase::body;
      error_code ignored;
      socket_.cancel(ignored);
      if (!had_exchange)
        ex_.reset();
      refuse(408, "The request did not arrive in time", "request_timeout");
      return;
    }
    case phase::idle:
    case phase::closing:
      close();
      return;
    case phase::handling:
    case phase::closed:
      return;
    }
  }

  void arm_heartbeat() {
    heartbeat_.expires_after(heartbeat_after);
    heartbeat_.async_wait(
        [self = shared_from_this(), seq = seq_](error_code ec) {
          if (!ec)
            self->write_chunk(seq, ": keep-alive\n\n");
        });
  }

  // --- writing ---

  void queue(std::string bytes) {
    if (phase_ == phase::closed)
      return;
    out_ += bytes;
    if (out_.size() > owner_->options.max_pending_output) {
      close(); // the client reads far slower than its answer comes
      return;
    }
    flush();
  }

  void flush() {
    if (write_pending_ || out_.empty() || phase_ == phase::closed)
      return;
    writing_.swap(out_);
    out_.clear();
    write_pending_ = true;
    write_deadline_.expires_after(owner_->options.write_timeout);
    write_deadline_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec && self->write_pending_)
        self->close(); // it stopped reading
    });
    net::async_write(socket_, net::buffer(writing_),
                     [self = shared_from_this()](error_code ec, size_t) {
                       self->on_written(ec);
                     });
  }

  void on_written(error_code ec) {
    write_pending_ = false;
    write_deadline_.cancel();
    writing_.clear();
    if (phase_ == phase::closed)
      return;
    if (ec) {
      close();
      return;
    }
    if (!out_.empty()) {
      flush();
      return;
    }
    if (response_done_ && ex_ != nullptr)
      finish_exchange();
  }

  /// Tells the service how the exchange went, once: when its response is
  /// handed over whole, or when its client leaves first.
  void report() {
    if (reported_ || ex_ == nullptr)
      return;
    reported_ = true;
    exchange_summary summary;
    summary.method = ex_->head().method;
    summary.path = ex_->head().path;
    summary.remote_addr = remote_addr_;
    summary.route = ex_->route;
    summary.target = ex_->target;
    summary.status = gone_ ? 499 : status_;
    summary.seconds =
        std::chrono::duration<double>(steady::now() - started_).count();
    summary.bytes_in = bytes_in_;
    summary.bytes_out = body_bytes_out_;
    summary.stream = streaming_;
    owner_->routes.finished(summary);
  }

  /// The exchange is over (answered, or its client gone): report it if that
  /// is not done, then serve the next request or close.
  void finish_exchange() {
    report();
    ex_.reset();
    on_gone_.clear();
    for (auto& timer : timers_)
      timer->cancel();
    if (phase_ == phase::closed)
      return;
    if (!keeps_alive()) {
      linger_close();
      return;
    }
    read_next();
  }

  /// Half-closes, then drops what the client still sends until it closes
  /// too (or a second passes), so it reads its answer before the close.
  void linger_close() {
    phase_ = phase::closing;
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    buffer_.consume(buffer_.size());
    arm_read_deadline(linger_for);
    read_some();
  }

  void close() {
    if (phase_ == phase::closed)
      return;
    phase_ = phase::closed;
    --owner_->open;
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    ++deadline_generation_;
    read_deadline_.cancel();
    write_deadline_.cancel();
    heartbeat_.cancel();
    if (ex_ == nullptr)
      return;
    if (!response_done_ || write_pending_ || !out_.empty()) {
      // The client did not get its whole answer.
      gone_ = true;
      auto callbacks = std::move(on_gone_);
      on_gone_.clear();
      for (auto& fn : callbacks)
        fn();
    }
    finish_exchange();
  }

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

// --- exchange
// --------------------------------------------------------------------

exchange::exchange(std::shared_ptr<connection> conn, uint64_t seq,
                   request_head head)
    : conn_(std::move(conn)), seq_(seq), head_(std::move(head)) {
  // nop
}

void exchange::respond(response r) {
  conn_->respond(seq_, std::move(r));
}

void exchange::start_stream(int status, std::string content_type,
                            std::vector<header_pair> headers) {
  conn_->start_stream(seq_, status, std::move(content_type),
                      std::move(headers));
}

bool exchange::write(std::string data) {
  return conn_->write_chunk(seq_, data);
}

void exchange::end_stream() {
  conn_->end_stream(seq_);
}

bool exchange::answered() const {
  return conn_->answered(seq_);
}

bool exchange::gone() const {
  return conn_->gone(seq_);
}

void exchange::on_gone(std::function<void()> fn) {
  conn_->on_gone(seq_, std::move(fn));
}

void exchange::post(std::function<void()> fn) {
  conn_->post(std::move(fn));
}

void exchange::after(std::chrono::milliseconds delay,
                     std::function<void()> fn) {
  conn_->after(seq_, delay, std::move(fn));
}

// --- the listener
// ----------------------------------------------------------------

void listener::impl::bind() {
  error_code ec;
  auto address = net::ip::make_address(
      options.host == "localhost" ? "127.0.0.1" : options.host, ec);
  if (ec)
    throw server_error("cannot listen on " + options.host + ":" +
                       std::to_string(options.port) +
                       ": not an IP address (give one, or localhost)");
  tcp::endpoint endpoint{address, static_cast<unsigned short>(options.port)};
  auto fail = [&](const error_code& e) {
    throw server_error("cannot listen on " + options.host + ":" +
                       std::to_string(options.port) + ": " + e.message());
  };
  acceptor.open(endpoint.protocol(), ec);
  if (ec)
    fail(ec);
  // Only SO_REUSEADDR: SO_REUSEPORT would let a second server bind the same
  // port and silently take half the connections.
  acceptor.set_option(net::socket_base::reuse_address{true}, ec);
  acceptor.bind(endpoint, ec);
  if (ec)
    fail(ec);
  acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    fail(ec);
  bound_port = acceptor.local_endpoint().port();
  raise_descriptor_limit(options.max_connections + 256);
}

void listener::impl::accept() {
  if (stopping)
    return;
  acceptor.async_accept(net::make_strand(io),
                        [this](error_code ec, tcp::socket socket) {
                          on_accept(ec, std::move(socket));
                        });
}

void listener::impl::on_accept(error_code ec, tcp::socket socket) {
  if (stopping || !acceptor.is_open())
    return;
  if (ec) {
    // Out of descriptors or memory: wait a little rather than spin.
    accept_retry.expires_after(std::chrono::milliseconds{50});
    accept_retry.async_wait([this](error_code e) {
      if (!e)
        accept();
    });
    return;
  }
  if (open.load() >= options.max_connections) {
    refuse(std::move(socket));
  } else {
    auto conn =
        std::make_shared<connection>(std::move(socket), shared_from_this());
    conn->track();
    conn->start();
  }
  accept();
}

/// Past `max_connections`: a 503 that says why, then the close. The write
/// is small and has its own deadline, so a refused client holds nothing.
void listener::impl::refuse(tcp::socket socket) {
  ++refused;
  auto body = error_body("Too many connections; try again shortly",
                         "too_many_connections");
  auto bytes = std::make_shared<std::string>(
      status_line(503) + "Content-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) +
      "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" + body);
  auto sock = std::make_shared<tcp::socket>(std::move(socket));
  auto timer = std::make_shared<net::steady_timer>(sock->get_executor());
  timer->expires_after(std::chrono::seconds{1});
  timer->async_wait([sock](error_code ec) {
    if (!ec) {
      error_code ignored;
      sock->close(ignored);
    }
  });
  net::async_write(*sock, net::buffer(*bytes),
                   [sock, bytes, timer](error_code, size_t) {
                     error_code ignored;
                     sock->shutdown(tcp::socket::shutdown_both, ignored);
                     sock->close(ignored);
                     timer->cancel();
                   });
}

void listener::impl::close_all(bool idle_only) {
  std::vector<std::shared_ptr<connection>> open_now;
  {
    std::lock_guard<std::mutex> guard{live_mutex};
    for (auto& weak : live)
      if (auto conn = weak.lock())
        open_now.push_back(std::move(conn));
  }
  for (auto& conn : open_now)
    conn->stop(idle_only);
}

listener::listener(listener_options options, service& routes)
    : impl_(std::make_shared<impl>(std::move(options), routes)) {
  impl_->bind();
}

listener::~listener() {
  stop();
}

int listener::port() const {
  return impl_->bound_port;
}

void listener::run() {
  impl_->accept();
  std::vector<std::thread> extra;
  for (size_t i = 1; i < std::max<size_t>(1, impl_->options.threads); ++i)
    extra.emplace_back([this] { impl_->io.run(); });
  impl_->io.run();
  for (auto& t : extra)
    t.join();
  impl_->gate.close();
}

void listener::stop() {
  if (impl_->stopping.exchange(true))
    return;
  // Weak: a listener that never ran keeps this handler queued in its own
  // io_context, and a strong reference there would keep the state, the
  // io_context and the bound socket alive for good. While `run` is serving,
  // the listener itself holds the state.
  net::post(impl_->io, [weak = std::weak_ptr<impl>{impl_}] {
    auto self = weak.lock();
    if (!self)
      return;
    error_code ignored;
    self->acceptor.close(ignored);
    self->accept_retry.cancel();
    // Idle connections go now; requests being answered get a moment to end
    // (their answers close their connections), then everything goes.
    self->close_all(true);
    self->await_closed(steady::now() + stop_grace);
  });
}

/// Checks every 20 ms whether every connection has closed; past `deadline`
/// closes those that have not.
void listener::impl::await_closed(steady::time_point deadline) {
  if (open.load() == 0)
    return;
  if (steady::now() >= deadline)
    close_all(false);
  stop_timer.expires_after(std::chrono::milliseconds{20});
  stop_timer.async_wait([self = shared_from_this(), deadline](error_code ec) {
    if (!ec)
      self->await_closed(deadline);
  });
}

size_t listener::open_connections() const {
  return impl_->open.load();
}

uint64_t listener::refused_connections() const {
  return impl_->refused.load();
}

} // namespace tutti::http
