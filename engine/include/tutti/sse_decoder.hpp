#pragma once

/// Splits a Server-Sent Events byte stream into events, to the letter of the
/// WHATWG spec, whatever way the bytes were cut into network chunks.

#include <string>
#include <string_view>
#include <vector>

#include "tutti/codec.hpp"

namespace tutti {

class sse_decoder {
public:
  /// Feeds the next bytes; returns the events they completed, in order.
  std::vector<sse_event> feed(std::string_view bytes);

  /// The stream ended: returns the last event if it lacked its blank line.
  std::vector<sse_event> finish();

private:
  // filled in by the implementation
  std::string line_;
  sse_event pending_;
  bool has_data_ = false;
  bool last_was_cr_ = false;
  bool started_ = false;
};

} // namespace tutti
