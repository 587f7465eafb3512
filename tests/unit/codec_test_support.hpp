#pragma once

/// Helpers shared by the codec unit tests: recorded fixtures, reading what a
/// codec encoded, and feeding a recorded stream through `sse_decoder` and a
/// codec's `decode_event` the way the provider actor does.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <rapidjson/document.h>

#include "tutti/codec.hpp"
#include "tutti/sse_decoder.hpp"
#include "tutti/stream_decoder.hpp"

namespace tutti::codec_test {

/// The recorded fixture `dir/name` under tests/fixtures, byte for byte.
inline std::string read_fixture(std::string_view dir, const std::string& name) {
  auto path = std::string{TUTTI_FIXTURES_DIR} + "/" + std::string{dir} + "/";
  std::ifstream in{path + name, std::ios::binary};
  BOOST_REQUIRE_MESSAGE(in, "cannot open fixture " << dir << "/" << name);
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

/// `body` parsed; the test stops unless it is a JSON object.
inline rapidjson::Document parse(std::string_view body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  BOOST_REQUIRE_MESSAGE(!doc.HasParseError(), "body is not JSON: " << body);
  BOOST_REQUIRE(doc.IsObject());
  return doc;
}

/// The string value `v`.
inline std::string str(const rapidjson::Value& v) {
  return {v.GetString(), v.GetStringLength()};
}

/// The value of header `name` (any case), or "<absent>".
inline std::string header(const http_request& req, std::string_view name) {
  auto* value = find_header(req.headers, name);
  return value == nullptr ? std::string{"<absent>"} : *value;
}

/// The completion in `result`; the test fails when it is a failure.
inline const completion& as_completion(const body_result& result) {
  if (auto* error = std::get_if<failure>(&result)) {
    BOOST_FAIL("expected a completion, got failure: " << error->message);
  }
  return std::get<completion>(result);
}

/// The failure in `result`; the test stops when it is a completion.
inline const failure& as_failure(const body_result& result) {
  BOOST_REQUIRE_MESSAGE(std::holds_alternative<failure>(result),
                        "expected a failure, got a completion");
  return std::get<failure>(result);
}

/// An event with only a `data` field.
inline stream_event data_event(std::string data) {
  return stream_event{{}, std::move(data), {}, {}};
}

/// An event with an `event` name and a `data` field.
inline stream_event named_event(std::string name, std::string data) {
  return stream_event{std::move(name), std::move(data), {}, {}};
}

/// What `reported` says of a count an event leaves out.
constexpr int64_t not_reported = -1;

/// A count of a `usage_report`, or `not_reported`.
inline int64_t reported(const std::optional<int64_t>& count) {
  return count.value_or(not_reported);
}

/// What a provider would assemble from a streamed reply.
struct streamed_reply {
  std::string text;
  std::string finish_reason;
  std::optional<usage> tokens; ///< set once an event reported usage
  bool terminal = false;
  std::optional<failure> error; ///< the first error event's failure
  int updates_after_terminal = 0;
  reply_parts parts; ///< everything up to the first error
  /// What the provider makes of the stream when its connection ends
  /// cleanly now: the error event's failure, or `stream_outcome`.
  body_result outcome;
};

/// Feeds `pieces` in order through the decoder of the codec's framing, as
/// the network might
/// cut a stream, and decodes every event with `c`, gathering them with
/// `add_update` as the provider actor does (it stops at the first error;
/// this goes on, so tests can see what follows one).
inline streamed_reply
stream_pieces(const codec& c, const std::vector<std::string_view>& pieces) {
  auto decoder = make_stream_decoder(c.framing());
  streamed_reply reply;
  auto apply = [&](const std::vector<stream_event>& events) {
    for (const auto& event : events) {
      auto update = c.decode_event(event);
      if (reply.terminal) {
        ++reply.updates_after_terminal;
      }
      reply.text += update.text;
      if (!update.finish_reason.empty()) {
        reply.finish_reason = update.finish_reason;
      }
      if (update.usage) {
        if (!reply.tokens) {
          reply.tokens = usage{};
        }
        apply_usage(*reply.tokens, *update.usage);
      }
      if (!reply.error) {
        add_update(reply.parts, update);
      }
      if (update.error && !reply.error) {
        reply.error = update.error;
      }
      reply.terminal = reply.terminal || update.terminal;
    }
  };
  for (auto piece : pieces) {
    apply(decoder->feed(piece));
  }
  apply(decoder->finish());
  if (auto problem = decoder->error(); !problem.empty() && !reply.error) {
    failure broken;
    broken.kind = failure_kind::protocol;
    broken.message = problem;
    reply.error = broken;
  }
  if (reply.error) {
    reply.outcome = *reply.error;
  } else {
    reply.outcome = stream_outcome(reply.parts, reply.terminal,
                                   c.accepts_unterminated_stream());
  }
  return reply;
}

/// `bytes` in chunks of `chunk` bytes, through `stream_pieces`.
inline streamed_reply stream_through(const codec& c, std::string_view bytes,
                                     std::size_t chunk) {
  std::vector<std::string_view> pieces;
  for (std::size_t pos = 0; pos < bytes.size(); pos += chunk) {
    pieces.push_back(bytes.substr(pos, chunk));
  }
  return stream_pieces(c, pieces);
}

/// True when `s` is well-formed UTF-8.
inline bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80           ? 1
                    : (c >> 5) == 0x6  ? 2
                    : (c >> 4) == 0xE  ? 3
                    : (c >> 3) == 0x1E ? 4
                                       : 0;
    if (n == 0 || i + n > s.size()) {
      return false;
    }
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
        return false;
      }
    }
    i += n;
  }
  return true;
}

} // namespace tutti::codec_test
