#pragma once

/// Splits a Server-Sent Events byte stream into events, to the letter of the
/// WHATWG spec, whatever way the bytes were cut into network chunks.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "tutti/codec.hpp"
#include "tutti/stream_decoder.hpp"

namespace tutti {

class sse_decoder final : public stream_decoder {
public:
  /// Feeds the next bytes; returns the events they completed, in order.
  std::vector<stream_event> feed(std::string_view bytes) override;

  /// The stream ended: returns the last event if it lacked its blank line.
  std::vector<stream_event> finish() override;

private:
  // Handles one complete line (without its terminator).
  void process_line(std::string_view line, std::vector<stream_event>& out);

  // Splits `bytes` into lines; the unterminated tail waits in `line_`.
  void consume(std::string_view bytes, std::vector<stream_event>& out);

  // Dispatches the buffered event, if it has data, and clears the buffers.
  void dispatch(std::vector<stream_event>& out);

  std::string line_;          // bytes of the line not yet terminated
  std::string data_;          // the data buffer: each data line + '\n'
  std::string event_type_;    // the event type buffer
  std::string last_event_id_; // the last event ID buffer; kept across events
  std::size_t bom_seen_ = 0;  // leading bytes that matched the UTF-8 BOM
  bool bom_done_ = false;     // the stream's start is past any BOM
  bool last_was_cr_ = false;  // the previous chunk ended in CR
  // finish() dispatches an unterminated event (the spec would drop it) and
  // then resets every buffer, so one decoder can read a fresh stream.
};

} // namespace tutti
