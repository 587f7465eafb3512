// The framings besides server-sent events (sse_decoder_fuzz has those):
// newline-delimited JSON and AWS's binary event-stream. However a stream is
// cut into chunks, a decoder yields the same events and the same error as
// when it arrives whole (tutti/stream_decoder.hpp promises it), and once it
// reports an error it yields nothing more.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/fuzz/fuzz_check.hpp"
#include "tutti/stream_decoder.hpp"

using namespace tutti;
using tutti::fuzz::require;

namespace {

struct decoded {
  std::vector<stream_event> events;
  std::string error;
};

bool same(const decoded& a, const decoded& b) {
  if (a.error != b.error || a.events.size() != b.events.size()) {
    return false;
  }
  for (size_t i = 0; i < a.events.size(); ++i) {
    auto& x = a.events[i];
    auto& y = b.events[i];
    if (x.event != y.event || x.data != y.data || x.id != y.id ||
        x.message_type != y.message_type) {
      return false;
    }
  }
  return true;
}

/// Feeds `stream` in pieces of the sizes `next_size` gives, then finishes.
template <class Sizes>
decoded decode(stream_framing framing, std::string_view stream,
               Sizes next_size) {
  auto decoder = make_stream_decoder(framing);
  decoded result;
  size_t pos = 0;
  auto take = [&](std::vector<stream_event> events) {
    if (!result.error.empty()) {
      require(events.empty(), "events after the stream broke");
    }
    for (auto& event : events) {
      result.events.push_back(std::move(event));
    }
    if (result.error.empty()) {
      result.error = decoder->error();
    }
  };
  while (pos < stream.size()) {
    auto n = std::min(next_size(), stream.size() - pos);
    take(decoder->feed(stream.substr(pos, n)));
    pos += n;
  }
  take(decoder->finish());
  result.error = decoder->error();
  return result;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto stream = tutti::fuzz::text_of(data, size);
  for (auto framing :
       {stream_framing::ndjson, stream_framing::aws_event_stream}) {
    auto whole = decode(framing, stream, [&] { return stream.size() + 1; });
    auto by_byte = decode(framing, stream, [] { return size_t{1}; });
    // Piece sizes from the stream's own bytes, read from its end: 0 is an
    // empty feed, never two in a row.
    size_t step = 0;
    size_t last = 1;
    auto pieces = decode(framing, stream, [&] {
      auto b = static_cast<uint8_t>(
          stream[stream.size() - 1 - step++ % stream.size()]);
      last = last == 0 ? b % 16u + 1 : b % 17u;
      return last;
    });
    require(same(whole, by_byte),
            "events differ when the stream comes byte by byte");
    require(same(whole, pieces), "events differ when the stream is split");
  }
  return 0;
}
