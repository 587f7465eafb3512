#include "server/connection_impl.hpp"

#include <algorithm>
#include <cstdio>

#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>

namespace tutti::http {

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

} // namespace

std::string status_line(int status) {
  auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(status));
  if (status == 499)
    reason = "Client Closed Request";
  return "HTTP/1.1 " + std::to_string(status) + " " +
         std::string{reason.data(), reason.size()} + "\r\n";
}

std::string error_body(std::string_view message, std::string_view code) {
  return R"({"error":{"message":")" + std::string{message} +
         R"(","type":"invalid_request_error","param":null,"code":")" +
         std::string{code} + R"("}})";
}

const std::string* request_head::header(std::string_view name) const {
  for (auto& [key, value] : headers)
    if (equals_ci(key, name))
      return &value;
  return nullptr;
}

// --- the connection ---

connection::connection(tcp::socket socket,
                       std::shared_ptr<listener::impl> owner)
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

connection::~connection() {
  std::lock_guard<std::mutex> guard{owner_->live_mutex};
  if (tracked_)
    owner_->live.erase(entry_);
}

void connection::track() {
  std::lock_guard<std::mutex> guard{owner_->live_mutex};
  entry_ = owner_->live.insert(owner_->live.end(), weak_from_this());
  tracked_ = true;
}

void connection::start() {
  // The first request's head must come within its deadline.
  wait_for_request(owner_->options.header_timeout);
}

void connection::stop(bool idle_only) {
  net::post(socket_.get_executor(), [self = shared_from_this(), idle_only] {
    if (!idle_only || self->phase_ == phase::idle)
      self->close();
  });
}

// --- what an exchange does, by its sequence number ---

void connection::respond(uint64_t seq, response r) {
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

void connection::start_stream(uint64_t seq, int status,
                              std::string content_type,
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

bool connection::write_chunk(uint64_t seq, const std::string& data) {
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

void connection::end_stream(uint64_t seq) {
  if (!current(seq) || !streaming_ || response_done_)
    return;
  response_done_ = true;
  heartbeat_.cancel();
  queue("0\r\n\r\n");
  report();
}

void connection::on_gone(uint64_t seq, std::function<void()> fn) {
  if (seq != seq_)
    return;
  if (gone_) {
    fn();
    return;
  }
  on_gone_.push_back(std::move(fn));
}

void connection::post(std::function<void()> fn) {
  owner_->gate.post(socket_.get_executor(),
                    [self = shared_from_this(), fn = std::move(fn)] {
                      if (self->phase_ != phase::closed)
                        fn();
                    });
}

void connection::after(uint64_t seq, std::chrono::milliseconds delay,
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

// --- reading ---

void connection::wait_for_request(std::chrono::milliseconds timeout) {
  phase_ = phase::idle;
  arm_read_deadline(timeout);
  read_some();
}

void connection::read_next() {
  if (buffer_.size() > 0) {
    start_head();
    return;
  }
  wait_for_request(owner_->options.keep_alive_timeout);
}

void connection::start_head() {
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
                           [self = shared_from_this()](error_code ec, size_t) {
                             self->on_head(ec);
                           });
}

void connection::read_some() {
  if (reading_ || phase_ == phase::closed)
    return;
  if (phase_ != phase::closing && buffer_.size() >= max_pipelined)
    return;
  reading_ = true;
  socket_.async_read_some(buffer_.prepare(4096),
                          [self = shared_from_this()](error_code ec, size_t n) {
                            self->on_read_some(ec, n);
                          });
}

void connection::on_read_some(error_code ec, size_t n) {
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

void connection::on_head(error_code ec) {
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
      refuse_too_large();
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

void connection::on_body(error_code ec) {
  reading_ = false;
  disarm_read_deadline();
  if (phase_ != phase::body) {
    resume_after_read();
    return;
  }
  if (ec) {
    if (ec == bhttp::error::body_limit) {
      refuse_too_large();
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

void connection::resume_after_read() {
  if (phase_ == phase::closing || phase_ == phase::handling ||
      phase_ == phase::idle)
    read_some();
}

void connection::begin_exchange(request_head head) {
  started_ = steady::now();
  response_started_ = response_done_ = streaming_ = gone_ = reported_ = false;
  status_ = 0;
  bytes_in_ = body_bytes_out_ = 0;
  on_gone_.clear();
  ex_ = std::make_shared<exchange>(shared_from_this(), ++seq_, std::move(head));
  phase_ = phase::handling;
}

void connection::refuse(int status, const std::string& message,
                        std::string_view code) {
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

void connection::refuse_too_large() {
  refuse(413,
         "Request body too large: the limit is " +
             std::to_string(owner_->options.max_body_bytes) +
             " bytes (tutti serve --max-body)",
         "request_too_large");
}

void connection::dispatch() {
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

void connection::arm_read_deadline(std::chrono::milliseconds timeout) {
  auto generation = ++deadline_generation_;
  read_deadline_.expires_after(timeout);
  read_deadline_.async_wait(
      [self = shared_from_this(), generation](error_code ec) {
        if (!ec && generation == self->deadline_generation_)
          self->on_read_timeout();
      });
}

void connection::disarm_read_deadline() {
  ++deadline_generation_;
  read_deadline_.cancel();
}

void connection::on_read_timeout() {
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

void connection::arm_heartbeat() {
  heartbeat_.expires_after(heartbeat_after);
  heartbeat_.async_wait([self = shared_from_this(), seq = seq_](error_code ec) {
    if (!ec)
      self->write_chunk(seq, ": keep-alive\n\n");
  });
}

// --- writing ---

void connection::queue(std::string bytes) {
  if (phase_ == phase::closed)
    return;
  out_ += bytes;
  if (out_.size() > owner_->options.max_pending_output) {
    close(); // the client reads far slower than its answer comes
    return;
  }
  flush();
}

void connection::flush() {
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

void connection::on_written(error_code ec) {
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

void connection::report() {
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

void connection::finish_exchange() {
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

void connection::linger_close() {
  phase_ = phase::closing;
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  buffer_.consume(buffer_.size());
  arm_read_deadline(linger_for);
  read_some();
}

void connection::close() {
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

// --- exchange ---

exchange::exchange(std::shared_ptr<connection> conn, uint64_t seq,
                   request_head head)
    : conn_(std::move(conn)), seq_(seq), head_(std::move(head)) {
  // nop
}

void exchange::respond(response r) {
  if (r.status >= 400 && shape_error)
    shape_error(r);
  r.headers.insert(r.headers.end(), extra_headers.begin(), extra_headers.end());
  conn_->respond(seq_, std::move(r));
}

void exchange::start_stream(int status, std::string content_type,
                            std::vector<header_pair> headers) {
  headers.insert(headers.end(), extra_headers.begin(), extra_headers.end());
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

} // namespace tutti::http
