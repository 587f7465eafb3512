#include "tutti/sse_decoder.hpp"

#include <algorithm>

// Implements the "event stream interpretation" section of the WHATWG HTML
// standard (server-sent events), on bytes. Since every byte the algorithm
// looks at (CR, LF, ':', ' ', NUL) is ASCII, working on undecoded UTF-8 gives
// the same events however the stream was cut into chunks.

namespace tutti {

namespace {

constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

} // namespace

std::vector<stream_event> sse_decoder::feed(std::string_view bytes) {
  std::vector<stream_event> out;
  if (!bom_done_) {
    // The BOM may itself arrive split; hold its bytes until it is whole or
    // proven not to be a BOM, then replay them as ordinary bytes.
    auto wanted = utf8_bom.substr(bom_seen_);
    auto take = std::min(wanted.size(), bytes.size());
    std::size_t matched = 0;
    while (matched < take && bytes[matched] == wanted[matched]) {
      ++matched;
    }
    if (matched == wanted.size()) {
      bom_done_ = true;
      bytes.remove_prefix(matched);
    } else if (matched == bytes.size()) {
      bom_seen_ += matched;
      return out;
    } else {
      bom_done_ = true;
      consume(utf8_bom.substr(0, bom_seen_), out);
    }
    bom_seen_ = 0;
  }
  consume(bytes, out);
  return out;
}

std::vector<stream_event> sse_decoder::finish() {
  std::vector<stream_event> out;
  if (!bom_done_) {
    consume(utf8_bom.substr(0, bom_seen_), out);
  }
  if (!line_.empty()) {
    auto line = std::move(line_);
    line_.clear();
    process_line(line, out);
  }
  dispatch(out);
  *this = sse_decoder{};
  return out;
}

void sse_decoder::consume(std::string_view bytes, std::vector<stream_event>& out) {
  std::size_t pos = 0;
  if (last_was_cr_ && !bytes.empty()) {
    // CR ended the previous chunk; an LF here completes the same line end.
    last_was_cr_ = false;
    if (bytes.front() == '\n') {
      pos = 1;
    }
  }
  while (pos < bytes.size()) {
    auto end = bytes.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) {
      line_.append(bytes.substr(pos));
      return;
    }
    if (line_.empty()) {
      process_line(bytes.substr(pos, end - pos), out);
    } else {
      line_.append(bytes.substr(pos, end - pos));
      auto line = std::move(line_);
      line_.clear();
      process_line(line, out);
    }
    if (bytes[end] == '\r') {
      if (end + 1 == bytes.size()) {
        last_was_cr_ = true;
      } else if (bytes[end + 1] == '\n') {
        ++end;
      }
    }
    pos = end + 1;
  }
}

void sse_decoder::process_line(std::string_view line,
                               std::vector<stream_event>& out) {
  if (line.empty()) {
    dispatch(out);
    return;
  }
  if (line.front() == ':') {
    return;
  }
  std::string_view field = line;
  std::string_view value;
  if (auto colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') {
      value.remove_prefix(1);
    }
  }
  if (field == "data") {
    data_.append(value);
    data_.push_back('\n');
  } else if (field == "event") {
    event_type_.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) {
      last_event_id_.assign(value);
    }
  }
  // "retry" and unknown fields are ignored.
}

void sse_decoder::dispatch(std::vector<stream_event>& out) {
  if (data_.empty()) {
    event_type_.clear();
    return;
  }
  data_.pop_back(); // the '\n' after the last data line
  stream_event event;
  event.event = std::move(event_type_);
  event.data = std::move(data_);
  event.id = last_event_id_;
  out.push_back(std::move(event));
  event_type_.clear();
  data_.clear();
}

} // namespace tutti
