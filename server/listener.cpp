#include "server/connection_impl.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <thread>

#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

#include "tutti/server.hpp"

namespace tutti::http {

namespace {

/// How long stopping waits for the requests being answered.
constexpr auto stop_grace = std::chrono::milliseconds{2000};

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

listener::impl::impl(listener_options opts, service& r)
    : options(std::move(opts)), routes(r),
      io(static_cast<int>(std::max<size_t>(1, options.threads))), acceptor(io),
      accept_retry(io), stop_timer(io) {
  // nop
}

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

size_t listener::open_connections() const {
  return impl_->open.load();
}

uint64_t listener::refused_connections() const {
  return impl_->refused.load();
}

} // namespace tutti::http
