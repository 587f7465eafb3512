#pragma once

/// Cuts a streamed reply's bytes into events, whatever way the network cut
/// the bytes into chunks. A codec declares which framing its vendor streams
/// in (`codec::framing()`); the provider actor makes the decoder for it and
/// hands each event to the codec's `decode_event`. Every decoder is pure:
/// any split of the same bytes gives the same events.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tutti/codec.hpp"

namespace tutti {

/// The largest event a decoder holds while it waits for the rest: a line of
/// newline-delimited JSON, a declared AWS event-stream message. An upstream
/// that announces or sends more breaks the stream (`error()`).
constexpr std::size_t max_stream_event_bytes = 16 * 1024 * 1024;

class stream_decoder {
public:
  virtual ~stream_decoder() = default;

  /// Feeds the next bytes; returns the events they completed, in order.
  virtual std::vector<stream_event> feed(std::string_view bytes) = 0;

  /// The stream ended: returns what the last bytes held, if the framing
  /// allows an event without its terminator.
  virtual std::vector<stream_event> finish() = 0;

  /// Why the bytes are not a stream of this framing (a checksum that does
  /// not match, a length out of bounds); empty while they are. Once set,
  /// the decoder returns no more events.
  virtual std::string error() const { return {}; }
};

/// A fresh decoder for `framing`.
std::unique_ptr<stream_decoder> make_stream_decoder(stream_framing framing);

/// The name of a framing in messages and docs ("sse", "ndjson",
/// "aws-event-stream").
std::string_view to_string(stream_framing framing);

/// Newline-delimited JSON: each line (LF or CRLF ended) is one event whose
/// `data` is the line; blank lines are skipped; `finish` delivers a last
/// line that lacked its line end.
class ndjson_decoder final : public stream_decoder {
public:
  std::vector<stream_event> feed(std::string_view bytes) override;
  std::vector<stream_event> finish() override;
  std::string error() const override { return error_; }

private:
  std::string line_; // bytes of the line not yet ended
  std::string error_;
};

/// AWS event-stream: each message is a 12-byte prelude (total length,
/// headers length, CRC32 of the eight bytes before it), the headers, the
/// payload and a CRC32 of everything before it, integers big-endian. Both
/// checksums are checked and every length is bounded before anything is
/// allocated; headers are read by their declared types.
class aws_event_stream_decoder final : public stream_decoder {
public:
  std::vector<stream_event> feed(std::string_view bytes) override;
  std::vector<stream_event> finish() override;
  std::string error() const override { return error_; }

private:
  std::string buffer_;     // bytes of messages not yet whole
  std::size_t offset_ = 0; // stream position of buffer_'s first byte
  std::string error_;
};

/// CRC-32 as zlib, gzip and AWS event-stream compute it (reflected
/// polynomial 0xEDB88320), continuing from `crc` (0 to start).
uint32_t crc32(std::string_view bytes, uint32_t crc = 0);

} // namespace tutti
