// What tutti writes is UTF-8 whatever it was given: JSON strings are
// repaired, one-line messages show control and stray bytes as escapes.

#include <boost/test/unit_test.hpp>

#include <string>

#include <rapidjson/document.h>

#include "engine/src/json_writers.hpp"
#include "engine/src/utf8.hpp"

using namespace tutti;

BOOST_AUTO_TEST_CASE(well_formed_text_is_valid) {
  BOOST_TEST(utf8::is_valid(""));
  BOOST_TEST(utf8::is_valid("plain ascii"));
  BOOST_TEST(utf8::is_valid("Grüße aus Köln — 東京 ✓ 🎻"));
  BOOST_TEST(utf8::is_valid("\xF4\x8F\xBF\xBF")); // U+10FFFF
}

BOOST_AUTO_TEST_CASE(ill_formed_text_is_not) {
  BOOST_TEST(!utf8::is_valid("\xC3\x28"));         // bad continuation
  BOOST_TEST(!utf8::is_valid("\xC0\xAF"));         // overlong '/'
  BOOST_TEST(!utf8::is_valid("\xE0\x80\xAF"));     // overlong
  BOOST_TEST(!utf8::is_valid("\xED\xA0\x80"));     // a surrogate
  BOOST_TEST(!utf8::is_valid("\xF4\x90\x80\x80")); // above U+10FFFF
  BOOST_TEST(!utf8::is_valid("\xE6\x9D"));         // cut short
  BOOST_TEST(!utf8::is_valid("\xFF"));
}

// ASCII is skipped eight bytes at a time: what follows a run of it, at
// every offset and at the very end, is still checked.
BOOST_AUTO_TEST_CASE(what_follows_ascii_is_checked_at_every_offset) {
  for (size_t at = 0; at <= 20; ++at) {
    BOOST_TEST_CONTEXT("at " << at) {
      std::string before(at, 'a');
      BOOST_TEST(utf8::is_valid(before + "\xC3\xA9" + std::string(5, 'b')));
      BOOST_TEST(!utf8::is_valid(before + "\xFF" + std::string(9, 'b')));
      BOOST_TEST(!utf8::is_valid(before + "\xE6\x9D"));
      BOOST_TEST(!utf8::is_valid(before + "\xC3\xA9" + before + "\x80"));
    }
  }
}

BOOST_AUTO_TEST_CASE(repair_replaces_each_maximal_invalid_part_once) {
  BOOST_TEST(utf8::repaired("a\xC3\x28z") == "a\xEF\xBF\xBD(z");
  BOOST_TEST(utf8::repaired("\xE6\x9D") == "\xEF\xBF\xBD");
  BOOST_TEST(utf8::repaired("\xFF\xFE") == "\xEF\xBF\xBD\xEF\xBF\xBD");
  BOOST_TEST(utf8::repaired("東京") == "東京");
}

BOOST_AUTO_TEST_CASE(printable_escapes_what_steers_a_terminal) {
  BOOST_TEST(utf8::printable("a\nb\tc") == "a\\nb\\tc");
  BOOST_TEST(utf8::printable("\x1b[31mred") == "\\x1b[31mred");
  BOOST_TEST(utf8::printable("\xC2\x9B"
                             "2J") == "\\xc2\\x9b2J"); // C1 CSI
  BOOST_TEST(utf8::printable("x\xFFy") == "x\\xffy");
  BOOST_TEST(utf8::printable("Köln ✓") == "Köln ✓");
}

BOOST_AUTO_TEST_CASE(terminal_text_keeps_lines_and_escapes_the_rest) {
  BOOST_TEST(utf8::for_terminal("a\nb\tc") == "a\nb\tc");
  BOOST_TEST(utf8::for_terminal("x\x1b]52;c;ZXZp\x07\r\n") ==
             "x\\x1b]52;c;ZXZp\\x07\\x0d\n");
  BOOST_TEST(utf8::for_terminal("\xC2\x9B"
                                "2J") == "\\xc2\\x9b2J");
  BOOST_TEST(utf8::for_terminal("Köln ✓ 🎻") == "Köln ✓ 🎻");
}

// Regression: invalid UTF-8 from a request was echoed raw into an error
// body, which was then not valid JSON text.
BOOST_AUTO_TEST_CASE(json_strings_written_are_always_utf8) {
  auto text = json_detail::json_text([](auto& w) {
    w.StartObject();
    w.Key("message");
    json_detail::write_string(w, "model '\xC3\x28\xFF' not found");
    w.EndObject();
  });
  BOOST_TEST(utf8::is_valid(text));
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(text.c_str());
  BOOST_TEST(!doc.HasParseError());
  BOOST_TEST(std::string{doc["message"].GetString()} ==
             "model '\xEF\xBF\xBD(\xEF\xBF\xBD' not found");
}
