// The framings a stream can come in besides server-sent events
// (sse_decoder_test): newline-delimited JSON and AWS's binary event-stream.
// The property every decoder keeps: any split of the same bytes gives the
// same events, and bytes that break the framing are an error, never a guess.

#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tutti/stream_decoder.hpp"

using namespace tutti;

namespace {

/// What a decoder made of a whole stream: its events and its error.
struct decoded {
  std::vector<stream_event> events;
  std::string error;
};

/// Feeds `bytes` cut at `cuts` (sorted positions) to a fresh decoder.
decoded decode(stream_framing framing, std::string_view bytes,
               const std::vector<std::size_t>& cuts = {}) {
  auto decoder = make_stream_decoder(framing);
  decoded result;
  std::size_t from = 0;
  auto take = [&](std::vector<stream_event> events) {
    for (auto& e : events)
      result.events.push_back(std::move(e));
  };
  for (auto cut : cuts) {
    take(decoder->feed(bytes.substr(from, cut - from)));
    from = cut;
  }
  take(decoder->feed(bytes.substr(from)));
  take(decoder->finish());
  result.error = decoder->error();
  return result;
}

bool same(const decoded& a, const decoded& b) {
  if (a.error != b.error || a.events.size() != b.events.size())
    return false;
  for (std::size_t i = 0; i < a.events.size(); ++i) {
    auto& x = a.events[i];
    auto& y = b.events[i];
    if (x.event != y.event || x.data != y.data || x.id != y.id ||
        x.message_type != y.message_type)
      return false;
  }
  return true;
}

/// Byte at a time, and 50 seeded random splits: all read as the whole.
void check_any_split_reads_the_same(stream_framing framing,
                                    std::string_view bytes) {
  auto whole = decode(framing, bytes);
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < bytes.size(); ++i)
    every.push_back(i);
  BOOST_TEST(same(decode(framing, bytes, every), whole));
  std::mt19937 random{42};
  for (int round = 0; round < 50; ++round) {
    std::uniform_int_distribution<std::size_t> at{0, bytes.size()};
    std::vector<std::size_t> cuts(1 + random() % 8);
    for (auto& cut : cuts)
      cut = at(random);
    std::sort(cuts.begin(), cuts.end());
    BOOST_TEST_CONTEXT("round " << round) {
      BOOST_TEST(same(decode(framing, bytes, cuts), whole));
    }
  }
}

std::string from_hex(std::string_view hex) {
  std::string bytes;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    bytes.push_back(static_cast<char>(
        std::stoi(std::string{hex.substr(i, 2)}, nullptr, 16)));
  return bytes;
}

void put_u32(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((value >> shift) & 0xFF));
}

/// One AWS event-stream message with string headers, as AWS encodes it.
std::string
aws_message(const std::vector<std::pair<std::string, std::string>>& headers,
            std::string_view payload) {
  std::string block;
  for (auto& [name, value] : headers) {
    block.push_back(static_cast<char>(name.size()));
    block += name;
    block.push_back(7); // string
    block.push_back(static_cast<char>(value.size() >> 8));
    block.push_back(static_cast<char>(value.size() & 0xFF));
    block += value;
  }
  std::string message;
  put_u32(message, static_cast<uint32_t>(16 + block.size() + payload.size()));
  put_u32(message, static_cast<uint32_t>(block.size()));
  put_u32(message, crc32(message));
  message += block;
  message += payload;
  put_u32(message, crc32(message));
  return message;
}

std::string bedrock_event(const std::string& type, std::string_view payload) {
  return aws_message({{":event-type", type},
                      {":content-type", "application/json"},
                      {":message-type", "event"}},
                     payload);
}

} // namespace

BOOST_AUTO_TEST_CASE(crc32_is_the_zlib_one) {
  BOOST_TEST(crc32("123456789") == 0xCBF43926u);
  BOOST_TEST(crc32("") == 0u);
  BOOST_TEST(crc32("6789", crc32("12345")) == 0xCBF43926u);
}

BOOST_AUTO_TEST_CASE(aws_test_vectors_decode_or_fail_as_published) {
  std::ifstream in{std::string{TUTTI_FIXTURES_DIR} +
                   "/aws_event_stream/vectors.txt"};
  BOOST_REQUIRE(in);
  int count = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#')
      continue;
    std::istringstream fields{line};
    std::string name, expectation, encoded, payload;
    fields >> name >> expectation >> encoded >> payload;
    BOOST_TEST_CONTEXT(name) {
      auto bytes = from_hex(encoded);
      auto result = decode(stream_framing::aws_event_stream, bytes);
      if (expectation == "success") {
        BOOST_TEST(result.error == "");
        BOOST_REQUIRE(result.events.size() == 1u);
        BOOST_TEST(result.events[0].data ==
                   (payload == "-" ? std::string{} : from_hex(payload)));
      } else {
        BOOST_TEST(result.error != "");
        BOOST_TEST(result.events.empty());
      }
      check_any_split_reads_the_same(stream_framing::aws_event_stream, bytes);
    }
    ++count;
  }
  BOOST_TEST(count == 8);
}

BOOST_AUTO_TEST_CASE(aws_messages_say_their_type_and_carry_their_payload) {
  auto bytes =
      bedrock_event("messageStart", R"({"role":"assistant"})") +
      bedrock_event("contentBlockDelta",
                    R"({"contentBlockIndex":0,"delta":{"text":"Par"}})") +
      aws_message({{":exception-type", "throttlingException"},
                   {":content-type", "application/json"},
                   {":message-type", "exception"}},
                  R"({"message":"Too many requests"})") +
      aws_message({{":message-type", "error"},
                   {":error-code", "InternalFailure"},
                   {":error-message", "An internal error occurred"}},
                  "");
  auto result = decode(stream_framing::aws_event_stream, bytes);
  BOOST_TEST(result.error == "");
  BOOST_REQUIRE(result.events.size() == 4u);
  BOOST_TEST(result.events[0].event == "messageStart");
  BOOST_TEST(result.events[0].message_type == "event");
  BOOST_TEST(result.events[0].data == R"({"role":"assistant"})");
  BOOST_TEST(result.events[1].event == "contentBlockDelta");
  BOOST_TEST(result.events[2].event == "throttlingException");
  BOOST_TEST(result.events[2].message_type == "exception");
  BOOST_TEST(result.events[3].event == "InternalFailure");
  BOOST_TEST(result.events[3].data == "An internal error occurred");
  check_any_split_reads_the_same(stream_framing::aws_event_stream, bytes);
}

BOOST_AUTO_TEST_CASE(any_corrupted_byte_breaks_the_aws_stream) {
  auto first = bedrock_event("messageStart", R"({"role":"assistant"})");
  auto bytes =
      first + bedrock_event("messageStop", R"({"stopReason":"end_turn"})");
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto broken = bytes;
    broken[i] = static_cast<char>(broken[i] ^ 0x20);
    BOOST_TEST_CONTEXT("byte " << i) {
      auto result = decode(stream_framing::aws_event_stream, broken);
      BOOST_TEST(result.error != "");
      // The messages before the broken one stand; none after it.
      BOOST_TEST(result.events.size() == (i < first.size() ? 0u : 1u));
    }
  }
}

BOOST_AUTO_TEST_CASE(a_cut_aws_stream_is_an_error_at_its_end) {
  auto bytes = bedrock_event("messageStart", R"({"role":"assistant"})");
  for (std::size_t keep : {std::size_t{3}, std::size_t{12}, bytes.size() - 1}) {
    auto result =
        decode(stream_framing::aws_event_stream, bytes.substr(0, keep));
    BOOST_TEST(result.events.empty());
    BOOST_TEST(result.error.find("ended inside a message") !=
               std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(an_announced_length_beyond_the_bound_is_refused_at_once) {
  // A prelude with a valid checksum announcing 2 GiB: refused before the
  // decoder waits for (or allocates) any of it.
  std::string prelude;
  put_u32(prelude, 0x7FFFFFFFu);
  put_u32(prelude, 0);
  put_u32(prelude, crc32(prelude));
  auto decoder = make_stream_decoder(stream_framing::aws_event_stream);
  BOOST_TEST(decoder->feed(prelude).empty());
  BOOST_TEST(decoder->error().find("out of bounds") != std::string::npos);
  BOOST_TEST(decoder->feed(bedrock_event("messageStart", "{}")).empty());
}

BOOST_AUTO_TEST_CASE(ndjson_lines_are_events) {
  std::string bytes = "{\"message\":{\"content\":\"Par\"},\"done\":false}\n"
                      "\r\n"
                      "   \n"
                      "{\"message\":{\"content\":\"is\"},\"done\":false}\r\n"
                      "{\"done\":true,\"eval_count\":2}";
  auto result = decode(stream_framing::ndjson, bytes);
  BOOST_TEST(result.error == "");
  BOOST_REQUIRE(result.events.size() == 3u);
  BOOST_TEST(result.events[0].data ==
             "{\"message\":{\"content\":\"Par\"},\"done\":false}");
  BOOST_TEST(result.events[1].data ==
             "{\"message\":{\"content\":\"is\"},\"done\":false}");
  BOOST_TEST(result.events[2].data == "{\"done\":true,\"eval_count\":2}");
  BOOST_TEST(result.events[2].event == "");
  check_any_split_reads_the_same(stream_framing::ndjson, bytes);
}

BOOST_AUTO_TEST_CASE(an_ndjson_line_beyond_the_bound_breaks_the_stream) {
  auto decoder = make_stream_decoder(stream_framing::ndjson);
  std::string piece(1024 * 1024, 'x');
  std::size_t fed = 0;
  while (fed <= max_stream_event_bytes && decoder->error().empty()) {
    BOOST_TEST(decoder->feed(piece).empty());
    fed += piece.size();
  }
  BOOST_TEST(decoder->error().find("longer than") != std::string::npos);
  BOOST_TEST(decoder->feed("\n{}\n").empty());
  BOOST_TEST(decoder->finish().empty());
}

BOOST_AUTO_TEST_CASE(sse_is_the_default_framing) {
  auto decoder = make_stream_decoder(stream_framing::sse);
  auto events = decoder->feed("event: ping\ndata: {}\n\n");
  BOOST_REQUIRE(events.size() == 1u);
  BOOST_TEST(events[0].event == "ping");
  BOOST_TEST(to_string(stream_framing::aws_event_stream) == "aws-event-stream");
}
