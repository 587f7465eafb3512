#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include <caf/fwd.hpp>

#include "tutti/codec.hpp"
#include "tutti/messages.hpp"

namespace tutti {

/// Settings of one transfer.
struct transfer_options {
  int64_t connect_timeout_ms = 10000; ///< 0: libcurl's default
  std::string ca_file;                ///< custom CA bundle; empty: the system's
};

/// What a provider needs from the network: start a transfer, cancel one.
/// An interface so that tests can play the server on CAF's deterministic
/// scheduler, with no thread and no socket.
class transfer_port {
public:
  virtual ~transfer_port() = default;

  /// Starts `req`; the transfer is aborted at `deadline` (steady clock,
  /// 0: none). Returns the id that its `transfer_head`, `transfer_chunk`
  /// and `transfer_done` messages to `receiver` carry.
  virtual uint64_t start(http_request req, caf::actor receiver,
                         steady_us deadline,
                         const transfer_options& options = {}) = 0;

  /// Aborts a transfer; no further message is sent for it.
  virtual void cancel(uint64_t transfer_id) = 0;
};

/// The network side of tutti: one thread running libcurl's multi interface,
/// many transfers at once. The thread waits on an epoll set (Linux) and
/// hands libcurl only the sockets that are ready, so a wake-up costs the same
/// with ten transfers open or thousands. `start` and `cancel` only queue a
/// command and wake the thread, so calling them from an actor never blocks
/// on the network.
/// Status and headers, body bytes and the end of each transfer come back to
/// the receiving actor as `transfer_head`, `transfer_chunk` and
/// `transfer_done` messages, in that order, at most one of each kind per
/// transfer and wake-up of the thread; what arrives in the wake-up that ends
/// a transfer rides on its `transfer_done` (a short reply: one message).
class transport final : public transfer_port {
public:
  transport();

  /// Aborts every transfer still running and joins the thread.
  ~transport() override;

  transport(const transport&) = delete;
  transport& operator=(const transport&) = delete;

  /// Proxies come from the environment (`HTTPS_PROXY`, `NO_PROXY`), as
  /// libcurl reads them; TLS peers are always verified.
  uint64_t start(http_request req, caf::actor receiver, steady_us deadline,
                 const transfer_options& options = {}) override;

  void cancel(uint64_t transfer_id) override;

  /// Transfers started and not yet finished or cancelled.
  int64_t active() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace tutti
