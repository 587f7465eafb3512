#include <boost/test/unit_test.hpp>

#include <fstream>
#include <iterator>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "tutti/sse_decoder.hpp"

namespace tutti {

// Lets BOOST_TEST print events and compare vectors of them.
bool operator==(const stream_event& a, const stream_event& b) {
  return a.event == b.event && a.data == b.data && a.id == b.id;
}

std::ostream& operator<<(std::ostream& os, const stream_event& e) {
  return os << "{event=\"" << e.event << "\" data=\"" << e.data << "\" id=\""
            << e.id << "\"}";
}

} // namespace tutti

using tutti::sse_decoder;
using tutti::stream_event;
using events = std::vector<stream_event>;

namespace {

stream_event data_event(std::string data, std::string type = {},
                        std::string id = {}) {
  return stream_event{std::move(type), std::move(data), std::move(id), {}};
}

void append(events& to, events from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()),
            std::make_move_iterator(from.end()));
}

/// Feeds each chunk in turn, then finishes the stream.
events decode_chunks(const std::vector<std::string_view>& chunks) {
  sse_decoder decoder;
  events out;
  for (auto chunk : chunks) {
    append(out, decoder.feed(chunk));
  }
  append(out, decoder.finish());
  return out;
}

events decode_whole(std::string_view stream) {
  return decode_chunks({stream});
}

std::string read_fixture(const std::string& name) {
  std::ifstream in{std::string{TUTTI_FIXTURES_DIR} + "/" + name,
                   std::ios::binary};
  BOOST_REQUIRE_MESSAGE(in, "cannot open fixture " << name);
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

/// Checks that `stream` decodes to the same events however it is cut: in
/// every 2-way split and in 1-byte chunks.
void check_split_invariance(std::string_view stream) {
  auto expected = decode_whole(stream);
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    auto got = decode_chunks({stream.substr(0, cut), stream.substr(cut)});
    if (got != expected) { // one assertion per split would flood the log
      BOOST_TEST_CONTEXT("split at byte " << cut) {
        BOOST_TEST(got == expected, boost::test_tools::per_element());
      }
    }
  }
  sse_decoder decoder;
  events got;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    append(got, decoder.feed(stream.substr(i, 1)));
  }
  append(got, decoder.finish());
  BOOST_TEST(got == expected, boost::test_tools::per_element());
}

/// A stream that uses every rule of the spec at least once.
const std::string kitchen_sink_stream =
    "\xEF\xBB\xBF"                          // BOM
    ": a comment\n"                         // comment
    "event: greeting\r\n"                   // CRLF
    "id: 1\r"                               // CR
    "data: h\xC3\xA9llo \xF0\x9F\x98\x80\n" // multi-byte UTF-8
    "data:second line\n"                    // no space after the colon
    "retry: 1000\n"                         // ignored
    "\n"                                    // dispatch
    "data\r\n"                              // no colon: empty value
    "\r\n"                                  // dispatch
    "event: ignored\n"                      // reset by an empty dispatch
    "\n"                                    //
    "id: 2\n"                               //
    "data:  two spaces\r"                   // only one space is stripped
    "\r"                                    // dispatch
    "data: tail without blank line";        // dispatched by finish()

} // namespace

BOOST_AUTO_TEST_CASE(lf_line_ends_dispatch_on_blank_line) {
  BOOST_TEST(decode_whole("data: a\n\ndata: b\n\n") ==
                 (events{data_event("a"), data_event("b")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(crlf_line_ends_dispatch_on_blank_line) {
  BOOST_TEST(decode_whole("data: a\r\n\r\ndata: b\r\n\r\n") ==
                 (events{data_event("a"), data_event("b")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(cr_line_ends_dispatch_on_blank_line) {
  BOOST_TEST(decode_whole("data: a\r\rdata: b\r\r") ==
                 (events{data_event("a"), data_event("b")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(mixed_line_ends_in_one_stream) {
  BOOST_TEST(decode_whole("data: a\rdata: b\r\ndata: c\n\r\n") ==
                 (events{data_event("a\nb\nc")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(cr_at_chunk_end_then_lf_is_one_line_end) {
  // Were "\r" + "\n" two line ends, the empty line between them would
  // dispatch "a" on its own.
  sse_decoder decoder;
  BOOST_TEST(decoder.feed("data: a\r").empty());
  BOOST_TEST(decoder.feed("\ndata: b\n").empty());
  BOOST_TEST(decoder.feed("\n") == (events{data_event("a\nb")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(cr_at_chunk_end_survives_an_empty_chunk) {
  sse_decoder decoder;
  BOOST_TEST(decoder.feed("data: a\r").empty());
  BOOST_TEST(decoder.feed("").empty());
  BOOST_TEST(decoder.feed("\n").empty());
  BOOST_TEST(decoder.feed("\r\n") == (events{data_event("a")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(cr_at_chunk_end_then_cr_is_a_blank_line) {
  sse_decoder decoder;
  BOOST_TEST(decoder.feed("data: a\r").empty());
  BOOST_TEST(decoder.feed("\r") == (events{data_event("a")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(bom_at_start_is_skipped) {
  BOOST_TEST(decode_whole("\xEF\xBB\xBF"
                          "data: a\n\n") == (events{data_event("a")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(bom_split_across_chunks_is_skipped) {
  BOOST_TEST(decode_chunks({"\xEF", "\xBB",
                            "\xBF"
                            "data: a\n\n"}) == (events{data_event("a")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(only_the_first_bom_is_skipped) {
  // A second BOM makes the field name "\xEF\xBB\xBF" "data": unknown, ignored.
  BOOST_TEST(decode_whole("\xEF\xBB\xBF\xEF\xBB\xBF"
                          "data: a\n\n")
                 .empty());
  BOOST_TEST(decode_whole("data: a\n\n\xEF\xBB\xBF"
                          "data: b\n\n") == (events{data_event("a")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(bytes_that_start_like_a_bom_are_kept) {
  // "\xEF\xBB" followed by something else is not a BOM: it is part of the
  // first line, here the field name, which makes the field unknown.
  BOOST_TEST(decode_chunks({"\xEF\xBB", "data: a\n\ndata: b\n\n"}) ==
                 (events{data_event("b")}),
             boost::test_tools::per_element());
  // And as a data value it comes through unchanged.
  BOOST_TEST(decode_chunks({"data:", "\xEF\xBB", "\n\n"}) ==
                 (events{data_event("\xEF\xBB")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(stream_of_only_a_partial_bom_yields_nothing) {
  BOOST_TEST(decode_chunks({"\xEF\xBB"}).empty());
}

BOOST_AUTO_TEST_CASE(comment_lines_are_ignored) {
  BOOST_TEST(decode_whole(": keep-alive\n\n:\ndata: a\n: between\n\n") ==
                 (events{data_event("a")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(one_leading_space_is_stripped_from_the_value) {
  BOOST_TEST(decode_whole("data:a\n\ndata: a\n\ndata:  a\n\n") ==
                 (events{data_event("a"), data_event("a"), data_event(" a")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(only_the_first_colon_separates_field_and_value) {
  BOOST_TEST(decode_whole("data: {\"a\":1}\n\n") ==
                 (events{data_event("{\"a\":1}")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(line_without_colon_is_a_field_with_empty_value) {
  BOOST_TEST(decode_whole("data\n\n") == (events{data_event("")}),
             boost::test_tools::per_element());
  BOOST_TEST(decode_whole("data\ndata\n\n") == (events{data_event("\n")}),
             boost::test_tools::per_element());
  // "event" with no colon sets an empty type, i.e. the default one.
  BOOST_TEST(decode_whole("event: x\nevent\ndata: a\n\n") ==
                 (events{data_event("a")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(data_lines_are_joined_with_newlines) {
  BOOST_TEST(decode_whole("data: one\ndata: two\ndata:\ndata: four\n\n") ==
                 (events{data_event("one\ntwo\n\nfour")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(empty_data_line_dispatches_an_empty_event) {
  BOOST_TEST(decode_whole("data:\n\n") == (events{data_event("")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(event_sets_the_type_until_the_next_dispatch) {
  BOOST_TEST(decode_whole("event: delta\ndata: a\n\ndata: b\n\n") ==
                 (events{data_event("a", "delta"), data_event("b")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(last_event_type_wins) {
  BOOST_TEST(decode_whole("event: a\nevent: b\ndata: x\n\n") ==
                 (events{data_event("x", "b")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(blank_line_without_data_dispatches_nothing) {
  BOOST_TEST(decode_whole("\n\n\n").empty());
  BOOST_TEST(decode_whole("id: 7\n\n").empty());
}

BOOST_AUTO_TEST_CASE(blank_line_without_data_resets_the_event_type) {
  BOOST_TEST(decode_whole("event: error\n\ndata: a\n\n") ==
                 (events{data_event("a")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(id_sets_the_last_event_id_which_persists) {
  // Per the spec the last event ID buffer is not cleared by dispatch.
  BOOST_TEST(decode_whole("id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n") ==
                 (events{data_event("a", "", "1"), data_event("b", "", "1"),
                         data_event("c", "", "")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(id_is_taken_even_from_an_event_without_data) {
  BOOST_TEST(decode_whole("id: 5\n\ndata: a\n\n") ==
                 (events{data_event("a", "", "5")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(id_containing_nul_is_ignored) {
  using namespace std::string_literals;
  auto stream = "id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n"s;
  BOOST_TEST(decode_whole(stream) ==
                 (events{data_event("a", "", "1"), data_event("b", "", "1")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(retry_and_unknown_fields_are_ignored) {
  BOOST_TEST(decode_whole("retry: 3000\nfoo: bar\nDATA: no\ndata : no\n"
                          "data: a\n\n") == (events{data_event("a")}),
             boost::test_tools::per_element());
  BOOST_TEST(decode_whole("retry: 3000\nfoo: bar\n\n").empty());
}

BOOST_AUTO_TEST_CASE(nul_bytes_in_data_are_kept) {
  using namespace std::string_literals;
  BOOST_TEST(decode_whole("data: a\0b\n\n"s) == (events{data_event("a\0b"s)}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(multibyte_utf8_split_anywhere_gives_identical_events) {
  // 2-, 3- and 4-byte characters in data, event type and id.
  const std::string stream = "event: \xC3\xA9v\xC3\xA9nement\n"
                             "id: \xE2\x82\xAC\n"
                             "data: caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x97\xBC\n"
                             "\n";
  auto expected = events{data_event("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x97\xBC",
                                    "\xC3\xA9v\xC3\xA9nement", "\xE2\x82\xAC")};
  BOOST_TEST(decode_whole(stream) == expected,
             boost::test_tools::per_element());
  check_split_invariance(stream);
}

BOOST_AUTO_TEST_CASE(events_complete_only_when_their_blank_line_arrives) {
  sse_decoder decoder;
  BOOST_TEST(decoder.feed("data: a").empty());
  BOOST_TEST(decoder.feed("\n").empty());
  BOOST_TEST(decoder.feed("data: b\n").empty());
  BOOST_TEST(decoder.feed("\ndata: c\n\ndata: d") ==
                 (events{data_event("a\nb"), data_event("c")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(finish_dispatches_an_event_missing_its_blank_line) {
  sse_decoder decoder;
  BOOST_TEST(decoder.feed("data: a\n\ndata: b\n") == (events{data_event("a")}),
             boost::test_tools::per_element());
  BOOST_TEST(decoder.finish() == (events{data_event("b")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(finish_handles_a_final_line_without_terminator) {
  BOOST_TEST(decode_whole("event: last\ndata: a\ndata: b") ==
                 (events{data_event("a\nb", "last")}),
             boost::test_tools::per_element());
  BOOST_TEST(decode_whole("data: a\r") == (events{data_event("a")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(finish_without_pending_data_yields_nothing) {
  BOOST_TEST(decode_whole("").empty());
  BOOST_TEST(decode_whole("data: a\n\n") == (events{data_event("a")}),
             boost::test_tools::per_element());
  BOOST_TEST(decode_whole("event: x\nid: 3").empty());
  BOOST_TEST(decode_whole(": comment without end").empty());
}

BOOST_AUTO_TEST_CASE(finish_resets_the_decoder_for_a_new_stream) {
  sse_decoder decoder;
  BOOST_TEST(decoder.feed("id: 9\nevent: x\ndata: a").empty());
  BOOST_TEST(decoder.finish() == (events{data_event("a", "x", "9")}),
             boost::test_tools::per_element());
  BOOST_TEST(decoder.finish().empty());
  BOOST_TEST(decoder.feed("\xEF\xBB\xBF"
                          "data: b\n\n") == (events{data_event("b")}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(kitchen_sink_stream_decodes_to_the_spec) {
  auto expected = events{
      data_event("h\xC3\xA9llo \xF0\x9F\x98\x80\nsecond line", "greeting", "1"),
      data_event("", "", "1"), data_event(" two spaces", "", "2"),
      data_event("tail without blank line", "", "2")};
  BOOST_TEST(decode_whole(kitchen_sink_stream) == expected,
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(kitchen_sink_stream_decodes_the_same_however_split) {
  check_split_invariance(kitchen_sink_stream);
}

BOOST_AUTO_TEST_CASE(recorded_openai_stream_decodes_the_same_however_split) {
  auto stream = read_fixture("openai/stream_with_usage.sse");
  auto whole = decode_whole(stream);
  BOOST_TEST(whole.size() == 26u);
  BOOST_TEST(whole.back().data == "[DONE]");
  check_split_invariance(stream);
}

BOOST_AUTO_TEST_CASE(recorded_stream_with_crlf_decodes_the_same) {
  // The same recording as a server using CRLF (or CR) line ends would send it.
  auto lf = read_fixture("openai/stream_with_usage.sse");
  auto expected = decode_whole(lf);
  for (std::string_view end : {"\r\n", "\r"}) {
    std::string converted;
    for (char c : lf) {
      if (c == '\n') {
        converted += end;
      } else {
        converted += c;
      }
    }
    BOOST_TEST(decode_whole(converted) == expected,
               boost::test_tools::per_element());
    check_split_invariance(converted);
  }
}
