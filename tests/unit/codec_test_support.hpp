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
inline sse_event data_event(std::string data) {
  return sse_event{{}, std::move(data), {}};
}

/// An event with an `event` name and a `data` field.
inline sse_event named_event(std::string name, std::string data) {
  return sse_event{std::move(name), std::move(data), {}};
}

/// Usage updates merged the way the provider merges them: each field the
/// largest value seen.
inline void merge_usage(usage& into, const usage& update) {
  into.input_tokens = std::max(into.input_tokens, update.input_tokens);
  into.output_tokens = std::max(into.output_tokens, update.output_tokens);
  into.cached_input_tokens =
      std::max(into.cached_input_tokens, update.cached_input_tokens);
}

/// How `stream_through` combines the usage of several updates.
enum class usage_updates : uint8_t {
  replace, ///< the last one reported stands (OpenAI: one usage chunk)
  merge,   ///< `merge_usage` (Anthropic's halves, Gemini's running totals)
};

/// What a provider would assemble from a streamed reply.
struct streamed_reply {
  std::string text;
  std::string finish_reason;
  std::optional<usage> tokens;
  bool terminal = false;
  std::optional<failure> error;
  int updates_after_terminal = 0;
};

/// Feeds `bytes` through an sse_decoder in chunks of `chunk` bytes and
/// decodes every event with `c`, the way the provider actor does.
inline streamed_reply stream_through(const codec& c, std::string_view bytes,
                                     std::size_t chunk,
                                     usage_updates usage_is) {
  sse_decoder decoder;
  streamed_reply reply;
  auto apply = [&](const std::vector<sse_event>& events) {
    for (const auto& event : events) {
      auto update = c.decode_event(event);
      if (reply.terminal) {
        ++reply.updates_after_terminal;
      }
      reply.text += update.text;
      if (!update.finish_reason.empty()) {
        reply.finish_reason = update.finish_reason;
      }
      if (update.usage && usage_is == usage_updates::replace) {
        reply.tokens = update.usage;
      } else if (update.usage) {
        if (!reply.tokens) {
          reply.tokens = usage{};
        }
        merge_usage(*reply.tokens, *update.usage);
      }
      if (update.error && !reply.error) {
        reply.error = update.error;
      }
      reply.terminal = reply.terminal || update.terminal;
    }
  };
  for (std::size_t pos = 0; pos < bytes.size(); pos += chunk) {
    apply(decoder.feed(bytes.substr(pos, chunk)));
  }
  apply(decoder.finish());
  return reply;
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
