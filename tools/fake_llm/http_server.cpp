#include "tools/fake_llm/http_server.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace tutti::fake {

namespace {

using std::chrono::steady_clock;

// Longest a reset waits for the bytes already sent to be acknowledged.
constexpr auto max_reset_drain = std::chrono::seconds(1);

int port_of(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
  }
  if (addr.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
  }
  return -1;
}

// Calls fn(fd, peer_port) for every connected TCP socket of this process whose
// local port is `local_port`, until fn returns true. httplib does not hand its
// connection sockets to handlers, so they are found through /proc/self/fd.
template <class F>
void for_each_connection(int local_port, F&& fn) {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/self/fd", ec);
  if (ec) {
    return;
  }
  for (const auto& entry : it) {
    const auto name = entry.path().filename().string();
    char* end = nullptr;
    long fd = std::strtol(name.c_str(), &end, 10);
    if (name.empty() || *end != '\0') {
      continue;
    }
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (::getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local),
                      &len) != 0 ||
        port_of(local) != local_port) {
      continue;
    }
    sockaddr_storage peer{};
    len = sizeof(peer);
    if (::getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer),
                      &len) != 0) {
      continue;
    }
    if (fn(static_cast<int>(fd), port_of(peer))) {
      return;
    }
  }
}

// httplib's Stream over a connected socket, as its own SocketStream (which
// the compiled cpp-httplib does not export): reads are buffered, since
// httplib reads request lines a byte at a time.
class socket_stream final : public httplib::Stream {
public:
  socket_stream(int fd, int read_timeout_ms, int write_timeout_ms)
      : fd_(fd), read_timeout_ms_(read_timeout_ms),
        write_timeout_ms_(write_timeout_ms) {}

  /// Bytes read from the socket that httplib has not taken yet (the start
  /// of a pipelined request).
  bool has_buffered() const { return begin_ < end_; }

  bool is_readable() const override {
    return has_buffered() || wait_for(POLLIN, read_timeout_ms_);
  }

  bool is_writable() const override {
    return wait_for(POLLOUT, write_timeout_ms_) && alive();
  }

  ssize_t read(char* ptr, size_t size) override {
    if (!has_buffered()) {
      if (!wait_for(POLLIN, read_timeout_ms_)) {
        return -1;
      }
      if (size >= buffer_.size()) {
        return recv_some(ptr, size);
      }
      auto n = recv_some(buffer_.data(), buffer_.size());
      if (n <= 0) {
        return n;
      }
      begin_ = 0;
      end_ = static_cast<size_t>(n);
    }
    auto n = std::min(size, end_ - begin_);
    std::copy_n(buffer_.data() + begin_, n, ptr);
    begin_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) {
      return -1;
    }
    for (;;) {
      auto n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
      if (n >= 0 || errno != EINTR) {
        return n;
      }
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address_of(::getpeername, ip, port);
  }

  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address_of(::getsockname, ip, port);
  }

  int socket() const override { return fd_; }

private:
  bool wait_for(short events, int timeout_ms) const {
    pollfd p{fd_, events, 0};
    for (;;) {
      auto n = ::poll(&p, 1, timeout_ms);
      if (n >= 0 || errno != EINTR) {
        return n > 0;
      }
    }
  }

  // As httplib's is_socket_alive: a socket with nothing to read is alive;
  // one that reads as closed (or fails) is not.
  bool alive() const {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 0) == 0) {
      return true;
    }
    char byte = 0;
    return ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
  }

  ssize_t recv_some(char* ptr, size_t size) {
    for (;;) {
      auto n = ::recv(fd_, ptr, size, 0);
      if (n >= 0 || errno != EINTR) {
        return n;
      }
    }
  }

  template <class F>
  void address_of(F get_name, std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (get_name(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    char host[INET6_ADDRSTRLEN] = {0};
    if (addr.ss_family == AF_INET) {
      auto& in = reinterpret_cast<sockaddr_in&>(addr);
      ::inet_ntop(AF_INET, &in.sin_addr, host, sizeof(host));
      port = ntohs(in.sin_port);
    } else if (addr.ss_family == AF_INET6) {
      auto& in6 = reinterpret_cast<sockaddr_in6&>(addr);
      ::inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof(host));
      port = ntohs(in6.sin6_port);
    }
    ip = host;
  }

  int fd_;
  int read_timeout_ms_;
  int write_timeout_ms_;
  std::array<char, 4096> buffer_{};
  size_t begin_ = 0;
  size_t end_ = 0;
};

} // namespace

int find_connection_socket(int local_port, int remote_port) {
  int found = -1;
  for_each_connection(local_port, [&](int fd, int peer_port) {
    if (peer_port == remote_port) {
      found = fd;
      return true;
    }
    return false;
  });
  return found;
}

bool peer_closed(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  if (::poll(&p, 1, 0) < 0) {
    return false;
  }
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

void ignore_sigpipe_once() {
  // The system's cpp-httplib sends without MSG_NOSIGNAL: a write to a client
  // that went away would kill the process. Leave a host's own handler alone.
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction current {};
    if (::sigaction(SIGPIPE, nullptr, &current) == 0 &&
        current.sa_handler == SIG_DFL) {
      std::signal(SIGPIPE, SIG_IGN);
    }
  });
}

// SO_LINGER 0 makes the later close() abortive too; connect(AF_UNSPEC)
// disconnects now, before httplib's own shutdown() could send a FIN first.
void reset_socket(int fd) {
  auto deadline = steady_clock::now() + max_reset_drain;
  for (;;) {
    int unacked = 0;
    if (::ioctl(fd, SIOCOUTQ, &unacked) != 0 || unacked <= 0 ||
        steady_clock::now() >= deadline) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  linger abortive{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof(abortive));
  sockaddr unspec{};
  unspec.sa_family = AF_UNSPEC;
  ::connect(fd, &unspec, sizeof(unspec));
}

void shutdown_connections(int local_port) {
  for_each_connection(local_port, [](int fd, int) {
    ::shutdown(fd, SHUT_RDWR);
    return false;
  });
}

bool http_server::process_and_close_socket(int fd) {
  socket_stream strm{fd, static_cast<int>(read_timeout_sec_ * 1000),
                     static_cast<int>(write_timeout_sec_ * 1000)};
  auto idle_ms = static_cast<int>(keep_alive_timeout_sec_ * 1000);
  bool ret = false;
  while (svr_sock_ != INVALID_SOCKET) {
    if (!strm.has_buffered()) {
      pollfd p{fd, POLLIN, 0};
      auto n = ::poll(&p, 1, idle_ms);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        break; // idle past the keep-alive timeout, or an error
      }
    }
    bool connection_closed = false;
    ret = process_request(strm, false, connection_closed, nullptr);
    if (!ret || connection_closed) {
      break;
    }
  }
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
  return ret;
}

} // namespace tutti::fake
