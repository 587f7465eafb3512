// The framings a streamed reply can come in, other than server-sent events
// (engine/src/sse_decoder.cpp): newline-delimited JSON and AWS's binary
// event-stream. Both treat the bytes as hostile: every length is bounded
// before it is trusted, and a broken stream is an error, never a guess.

#include "tutti/stream_decoder.hpp"

#include <array>
#include <utility>

#include "tutti/sse_decoder.hpp"

namespace tutti {

namespace {

/// The CRC-32 table for the reflected polynomial 0xEDB88320.
constexpr std::array<uint32_t, 256> crc_table = [] {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}();

/// The big-endian unsigned integer of `size` bytes at `at`.
uint64_t big_endian(std::string_view bytes, std::size_t at, std::size_t size) {
  uint64_t value = 0;
  for (std::size_t i = 0; i < size; ++i)
    value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

/// A line without its CR, unless it is blank.
bool is_blank(std::string_view line) {
  for (char c : line)
    if (c != ' ' && c != '\t' && c != '\r')
      return false;
  return true;
}

/// The prelude (12 bytes) and message CRC (4) around every message.
constexpr std::size_t message_overhead = 16;

/// The string headers of one AWS event-stream message that say what it is.
struct message_headers {
  std::string message_type;
  std::string event_type;
  std::string exception_type;
  std::string error_code;
  std::string error_message;
};

/// Reads the headers in `block`; an error message when they are malformed.
std::string read_headers(std::string_view block, message_headers& out) {
  std::size_t pos = 0;
  auto need = [&](std::size_t n) { return block.size() - pos >= n; };
  while (pos < block.size()) {
    auto name_size = static_cast<unsigned char>(block[pos++]);
    if (name_size == 0 || !need(name_size + std::size_t{1}))
      return "a header name runs past the headers";
    auto name = block.substr(pos, name_size);
    pos += name_size;
    auto type = static_cast<unsigned char>(block[pos++]);
    std::size_t value_size = 0;
    switch (type) {
    case 0: // true
    case 1: // false
      break;
    case 2: // byte
      value_size = 1;
      break;
    case 3: // int16
      value_size = 2;
      break;
    case 4: // int32
      value_size = 4;
      break;
    case 5: // int64
    case 8: // timestamp
      value_size = 8;
      break;
    case 9: // uuid
      value_size = 16;
      break;
    case 6:   // bytes
    case 7: { // string
      if (!need(2))
        return "a header value's length runs past the headers";
      value_size = static_cast<std::size_t>(big_endian(block, pos, 2));
      pos += 2;
      break;
    }
    default:
      return "header '" + std::string{name} + "' has unknown type " +
             std::to_string(type);
    }
    if (!need(value_size))
      return "header '" + std::string{name} + "' runs past the headers";
    if (type == 7) {
      std::string value{block.substr(pos, value_size)};
      if (name == ":message-type")
        out.message_type = std::move(value);
      else if (name == ":event-type")
        out.event_type = std::move(value);
      else if (name == ":exception-type")
        out.exception_type = std::move(value);
      else if (name == ":error-code")
        out.error_code = std::move(value);
      else if (name == ":error-message")
        out.error_message = std::move(value);
    }
    pos += value_size;
  }
  return {};
}

} // namespace

uint32_t crc32(std::string_view bytes, uint32_t crc) {
  crc = ~crc;
  for (char byte : bytes)
    crc =
        crc_table[(crc ^ static_cast<unsigned char>(byte)) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

std::unique_ptr<stream_decoder> make_stream_decoder(stream_framing framing) {
  switch (framing) {
  case stream_framing::ndjson:
    return std::make_unique<ndjson_decoder>();
  case stream_framing::aws_event_stream:
    return std::make_unique<aws_event_stream_decoder>();
  case stream_framing::sse:
    break;
  }
  return std::make_unique<sse_decoder>();
}

std::string_view to_string(stream_framing framing) {
  switch (framing) {
  case stream_framing::ndjson:
    return "ndjson";
  case stream_framing::aws_event_stream:
    return "aws-event-stream";
  case stream_framing::sse:
    break;
  }
  return "sse";
}

// --- newline-delimited JSON ---

std::vector<stream_event> ndjson_decoder::feed(std::string_view bytes) {
  std::vector<stream_event> out;
  while (error_.empty() && !bytes.empty()) {
    auto end = bytes.find('\n');
    auto part = bytes.substr(0, end);
    if (line_.size() + part.size() > max_stream_event_bytes) {
      error_ = "a line longer than " + std::to_string(max_stream_event_bytes) +
               " bytes";
      line_.clear();
      break;
    }
    line_ += part;
    if (end == std::string_view::npos)
      break;
    bytes.remove_prefix(end + 1);
    if (!line_.empty() && line_.back() == '\r')
      line_.pop_back();
    if (!is_blank(line_))
      out.push_back(stream_event{{}, std::move(line_), {}, {}});
    line_.clear();
  }
  return out;
}

std::vector<stream_event> ndjson_decoder::finish() {
  std::vector<stream_event> out;
  if (error_.empty() && !is_blank(line_))
    out.push_back(stream_event{{}, std::move(line_), {}, {}});
  line_.clear();
  return out;
}

// --- AWS event-stream ---

std::vector<stream_event>
aws_event_stream_decoder::feed(std::string_view bytes) {
  std::vector<stream_event> out;
  if (!error_.empty())
    return out;
  buffer_.append(bytes);
  std::size_t consumed = 0;
  while (error_.empty()) {
    auto view = std::string_view{buffer_}.substr(consumed);
    if (view.size() < 12)
      break;
    auto total = static_cast<std::size_t>(big_endian(view, 0, 4));
    auto headers = static_cast<std::size_t>(big_endian(view, 4, 4));
    auto prelude_crc = static_cast<uint32_t>(big_endian(view, 8, 4));
    auto where =
        " in the message at byte " + std::to_string(offset_ + consumed);
    if (crc32(view.substr(0, 8)) != prelude_crc) {
      error_ = "prelude checksum mismatch" + where;
      break;
    }
    if (total < message_overhead || total > max_stream_event_bytes) {
      error_ =
          "message length " + std::to_string(total) + " out of bounds" + where;
      break;
    }
    if (headers > total - message_overhead) {
      error_ = "headers length " + std::to_string(headers) +
               " beyond the message" + where;
      break;
    }
    if (view.size() < total)
      break;
    auto message_crc = static_cast<uint32_t>(big_endian(view, total - 4, 4));
    if (crc32(view.substr(0, total - 4)) != message_crc) {
      error_ = "message checksum mismatch" + where;
      break;
    }
    message_headers read;
    if (auto problem = read_headers(view.substr(12, headers), read);
        !problem.empty()) {
      error_ = problem + where;
      break;
    }
    stream_event event;
    event.message_type = read.message_type;
    event.data = std::string{
        view.substr(12 + headers, total - message_overhead - headers)};
    if (read.message_type == "exception") {
      event.event = read.exception_type;
    } else if (read.message_type == "error") {
      event.event = read.error_code;
      if (event.data.empty())
        event.data = read.error_message;
    } else {
      event.event = read.event_type;
    }
    out.push_back(std::move(event));
    consumed += total;
  }
  // The messages before a broken one were whole and checked: they stand, so
  // the events are the same however the bytes were cut.
  offset_ += consumed;
  buffer_.erase(0, consumed);
  if (!error_.empty())
    buffer_.clear();
  return out;
}

std::vector<stream_event> aws_event_stream_decoder::finish() {
  if (error_.empty() && !buffer_.empty())
    error_ = "the stream ended inside a message (" +
             std::to_string(buffer_.size()) + " bytes at byte " +
             std::to_string(offset_) + ")";
  buffer_.clear();
  return {};
}

} // namespace tutti
