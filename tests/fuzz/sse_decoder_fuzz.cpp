// The SSE decoder: however a stream is cut into chunks, it yields the same
// events as when it arrives whole (tutti/sse_decoder.hpp promises it), and
// no event carries a line break where the spec allows none.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/fuzz/fuzz_check.hpp"
#include "tutti/sse_decoder.hpp"

using tutti::sse_decoder;
using tutti::stream_event;
using tutti::fuzz::require;

namespace {

bool same(const std::vector<stream_event>& a, const std::vector<stream_event>& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].event != b[i].event || a[i].data != b[i].data ||
        a[i].id != b[i].id) {
      return false;
    }
  }
  return true;
}

void append(std::vector<stream_event>& to, std::vector<stream_event> more) {
  for (auto& event : more) {
    to.push_back(std::move(event));
  }
}

std::vector<stream_event> decode_whole(sse_decoder& decoder,
                                    std::string_view stream) {
  auto events = decoder.feed(stream);
  append(events, decoder.finish());
  return events;
}

/// Feeds `stream` in pieces whose sizes come from the stream's own bytes,
/// read from its end: a byte b gives a piece of b % 17 bytes, 0 being an
/// empty feed (never two in a row).
std::vector<stream_event> decode_in_pieces(std::string_view stream) {
  sse_decoder decoder;
  std::vector<stream_event> events;
  size_t pos = 0;
  size_t step = 0;
  size_t n = 1;
  while (pos < stream.size()) {
    auto b =
        static_cast<uint8_t>(stream[stream.size() - 1 - step % stream.size()]);
    ++step;
    n = std::min<size_t>(n == 0 ? b % 16 + 1 : b % 17, stream.size() - pos);
    append(events, decoder.feed(stream.substr(pos, n)));
    pos += n;
  }
  append(events, decoder.feed({}));
  append(events, decoder.finish());
  return events;
}

std::vector<stream_event> decode_byte_by_byte(std::string_view stream) {
  sse_decoder decoder;
  std::vector<stream_event> events;
  for (size_t i = 0; i < stream.size(); ++i) {
    append(events, decoder.feed(stream.substr(i, 1)));
  }
  append(events, decoder.finish());
  return events;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto stream = tutti::fuzz::text_of(data, size);
  sse_decoder decoder;
  auto whole = decode_whole(decoder, stream);
  for (const auto& event : whole) {
    require(event.data.find('\r') == std::string::npos,
            "event data holds a CR");
    require(event.event.find_first_of("\r\n") == std::string::npos,
            "event type holds a line break");
    require(event.id.find_first_of(std::string_view{"\r\n\0", 3}) ==
                std::string::npos,
            "event id holds a line break or NUL");
  }
  require(same(whole, decode_in_pieces(stream)),
          "events differ when the stream is split");
  require(same(whole, decode_byte_by_byte(stream)),
          "events differ when the stream comes byte by byte");
  require(same(whole, decode_whole(decoder, stream)),
          "a decoder reused after finish() gives other events");
  return 0;
}
