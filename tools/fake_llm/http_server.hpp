#pragma once

/// The HTTP server under the fake upstream (cpp-httplib with its own
/// connection loop), and what the fault menu does to its connections: find
/// the socket of a request, see whether its client went away, reset it.
/// Linux only (/proc/self/fd, SIOCOUTQ).

#include <httplib.h>

namespace tutti::fake {

/// Gives access to the listening socket, to raise httplib's fixed backlog of
/// 5, and serves keep-alive connections without polling them. httplib's own
/// loop checks an idle connection about 90 times a second (a 10 ms select
/// and a 1 ms sleep), so a thousand idle connections kept a core busy; here
/// an idle connection's thread sleeps in poll() until the next request, the
/// client's close, the keep-alive timeout or `stop()` (which shuts every
/// connection down).
class http_server : public httplib::Server {
public:
  int listen_socket() const { return svr_sock_; }

private:
  bool process_and_close_socket(int fd) override;
};

/// The socket of this process's TCP connection from `remote_port` to
/// `local_port`; -1 when there is none. httplib does not hand its
/// connection sockets to handlers, so they are found through /proc/self/fd.
int find_connection_socket(int local_port, int remote_port);

/// Shuts down (both ways) every connection to `local_port`.
void shutdown_connections(int local_port);

/// Whether the peer of a connected socket has closed or reset it.
bool peer_closed(int fd);

/// Resets a connected socket: waits (up to a second) until the bytes already
/// sent are acknowledged, so the client reads them before the error, then
/// sends a RST at once. The descriptor stays open for httplib to close.
void reset_socket(int fd);

/// Ignores SIGPIPE unless the host installed a handler of its own. Once per
/// process.
void ignore_sigpipe_once();

} // namespace tutti::fake
