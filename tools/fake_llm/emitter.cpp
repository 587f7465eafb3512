#include "tools/fake_llm/emitter.hpp"

#include <algorithm>
#include <cstdint>
#include <string>

namespace tutti::fake {

namespace {

// Pieces of a split write are 1 to this many bytes long.
constexpr uint32_t max_split_piece = 7;

// Every "\n" as "\r\n" (the events' JSON holds no raw line breaks).
std::string to_crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    if (c == '\n') {
      out += '\r';
    }
    out += c;
  }
  return out;
}

} // namespace

bool emitter::write(std::string_view bytes) {
  if (!ms_.split_chunks) {
    return write_piece(bytes);
  }
  size_t pos = 0;
  while (pos < bytes.size()) {
    auto n = std::min<size_t>(1 + rng_() % max_split_piece, bytes.size() - pos);
    if (!write_piece(bytes.substr(pos, n))) {
      return false;
    }
    pos += n;
  }
  return true;
}

bool emitter::event(std::string_view event) {
  if (!sse_) {
    ++events_;
    return write(event);
  }
  std::string text;
  if (ms_.ping_comments && events_ > 0) {
    text = ": ping\n\n";
  }
  ++events_;
  text.append(event);
  return write(crlf_ ? to_crlf(text) : text);
}

bool emitter::write_piece(std::string_view piece) {
  if (ms_.drip_ms > 0 && writes_ > 0 &&
      !sleep_(std::chrono::steady_clock::now() +
              std::chrono::milliseconds(ms_.drip_ms))) {
    stopped_ = true;
    return false;
  }
  ++writes_;
  return sink_.write(piece.data(), piece.size());
}

} // namespace tutti::fake
