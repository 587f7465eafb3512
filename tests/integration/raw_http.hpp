#pragma once

/// A bare HTTP/1.1 client on a socket the test controls byte by byte: the
/// way to be a client that trickles, pipelines, lies about lengths or goes
/// away mid-answer. Loopback only.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>

namespace tutti::testing {

class raw_connection {
public:
  explicit raw_connection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 ||
        ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      if (fd_ >= 0)
        ::close(fd_);
      throw std::runtime_error("cannot connect");
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }

  ~raw_connection() { close(); }

  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;

  /// Sends `bytes`; false when the server has closed its side.
  bool send(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      auto n =
          ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0)
        return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  /// A POST of a JSON body as OpenAI clients send it.
  void send_post(const std::string& path, const std::string& body) {
    if (!send("POST " + path +
              " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
              "application/json\r\nContent-Length: " +
              std::to_string(body.size()) + "\r\n\r\n" + body))
      throw std::runtime_error("cannot send");
  }

  /// Reads until what came contains `text`; false after `timeout` or when
  /// the server closed first.
  bool read_until(const std::string& text, std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (received_.find(text) == std::string::npos) {
      if (!read_some(until))
        return false;
    }
    return true;
  }

  /// Reads until the server closes the connection; false after `timeout`.
  bool read_until_closed(std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (!closed_) {
      if (!read_some(until) && !closed_)
        return false;
    }
    return true;
  }

  /// Reads one whole response with a Content-Length body; "" after
  /// `timeout`. What follows it stays for the next call.
  std::string read_response(std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto end = received_.find("\r\n\r\n");
      if (end != std::string::npos) {
        size_t length = 0;
        auto at = lower(received_.substr(0, end)).find("content-length:");
        if (at != std::string::npos)
          length = std::stoul(received_.substr(at + 15));
        if (received_.size() >= end + 4 + length) {
          auto response = received_.substr(0, end + 4 + length);
          received_.erase(0, end + 4 + length);
          return response;
        }
      }
      if (!read_some(until))
        return {};
    }
  }

  /// Waits up to `timeout` for the server to send something or close; true
  /// when it did. A trickling client paces itself with this, so it stops as
  /// soon as the server answers instead of when its own loop ends.
  bool server_spoke(std::chrono::milliseconds timeout) {
    if (fd_ < 0)
      return true;
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
  }

  const std::string& received() const { return received_; }
  bool closed() const { return closed_; }

  void close() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }

private:
  static std::string lower(std::string text) {
    for (auto& c : text)
      if (c >= 'A' && c <= 'Z')
        c = static_cast<char>(c - 'A' + 'a');
    return text;
  }

  bool read_some(std::chrono::steady_clock::time_point until) {
    if (fd_ < 0 || closed_)
      return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    until - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0)
      return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0)
      return true; // try again until the deadline
    char buf[16384];
    auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    received_.append(buf, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool closed_ = false;
  std::string received_;
};

} // namespace tutti::testing
