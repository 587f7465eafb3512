// Reading JSON from outside: iterative, nesting bounded, UTF-8 checked when
// asked. A body of 300,000 `[` used to overflow the stack of whatever thread
// parsed it (an HTTP worker, a CAF worker decoding an upstream reply, the
// batch runner), taking the process with it.

#include <boost/test/unit_test.hpp>

#include <string>
#include <variant>

#include "engine/src/json_reader.hpp"
#include "tutti/registry.hpp"

using namespace tutti;

namespace {

std::string nested_arrays(size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

} // namespace

BOOST_AUTO_TEST_CASE(deep_nesting_is_refused_without_recursion) {
  rapidjson::Document doc;
  auto parsed = json_reader::parse(doc, std::string(300'000, '['));
  BOOST_TEST(!parsed);
  BOOST_TEST(parsed.message() ==
             "arrays and objects nested deeper than 64 levels at offset 64");
  BOOST_TEST(doc.IsNull());
}

BOOST_AUTO_TEST_CASE(nesting_up_to_the_limit_is_read) {
  rapidjson::Document doc;
  BOOST_TEST(static_cast<bool>(json_reader::parse(doc, nested_arrays(64))));
  BOOST_TEST(doc.IsArray());
  auto parsed = json_reader::parse(doc, nested_arrays(65));
  BOOST_TEST(!parsed);
  BOOST_TEST(parsed.offset == 64u);
  std::string objects;
  for (int i = 0; i < 65; ++i)
    objects += "{\"a\":";
  objects += "1" + std::string(65, '}');
  BOOST_TEST(!json_reader::parse(doc, objects));
}

BOOST_AUTO_TEST_CASE(a_smaller_limit_can_be_asked_for) {
  rapidjson::Document doc;
  BOOST_TEST(!json_reader::parse(doc, nested_arrays(3),
                                 json_reader::utf8_check::accept, 2));
  BOOST_TEST(static_cast<bool>(json_reader::parse(
      doc, nested_arrays(2), json_reader::utf8_check::accept, 2)));
}

BOOST_AUTO_TEST_CASE(errors_name_what_and_where) {
  rapidjson::Document doc;
  auto parsed = json_reader::parse(doc, R"({"a": 1,})");
  BOOST_TEST(!parsed);
  BOOST_TEST(parsed.offset == 8u);
  BOOST_TEST(parsed.message().find("at offset 8") != std::string::npos);
  BOOST_TEST(!json_reader::parse(doc, "{} {}"));
  BOOST_TEST(!json_reader::parse(doc, ""));
}

BOOST_AUTO_TEST_CASE(invalid_utf8_is_refused_only_when_validating) {
  rapidjson::Document doc;
  std::string text = "{\"a\": \"\xC3\x28\"}";
  BOOST_TEST(static_cast<bool>(json_reader::parse(doc, text)));
  auto parsed =
      json_reader::parse(doc, text, json_reader::utf8_check::validate);
  BOOST_TEST(!parsed);
  BOOST_TEST(parsed.what.find("Invalid encoding") != std::string::npos);
  BOOST_TEST(static_cast<bool>(json_reader::parse(
      doc, "{\"a\": \"Grüße 東京\"}", json_reader::utf8_check::validate)));
}

// Regression (found by json_reader_fuzz): RapidJSON 1.1.0 takes a `\uDC00`
// with no high surrogate before it and stores the surrogate's bytes, which
// are not UTF-8; validated text (a client's request, a batch row) carried
// them past the check.
BOOST_AUTO_TEST_CASE(a_lone_surrogate_escape_is_refused_when_validating) {
  rapidjson::Document doc;
  for (std::string text :
       {R"(["A3 \udddd"])", R"({"\udfff": 1})", R"(["ok", "\udc00x"])"}) {
    BOOST_TEST_INFO(text);
    auto parsed =
        json_reader::parse(doc, text, json_reader::utf8_check::validate);
    BOOST_TEST(!parsed);
    BOOST_TEST(parsed.what.find("lone UTF-16 surrogate") != std::string::npos);
  }
  BOOST_TEST(static_cast<bool>(json_reader::parse(doc, R"(["\udddd"])")));
  BOOST_TEST(static_cast<bool>(json_reader::parse(
      doc, R"(["\ud83c\udfb5 \u00ed"])", json_reader::utf8_check::validate)));
  BOOST_TEST(doc[0].GetString() == std::string{"\xF0\x9F\x8E\xB5 \xC3\xAD"});
}

// Regression (found by json_reader_fuzz): RapidJSON 1.1.0 reads 8E308 as
// infinity, which a JSON writer cannot write back.
BOOST_AUTO_TEST_CASE(a_number_beyond_a_double_is_refused) {
  rapidjson::Document doc;
  for (std::string text : {"8E308", R"({"cost": -9e308})", "[1, 2e308]"}) {
    BOOST_TEST_INFO(text);
    auto parsed = json_reader::parse(doc, text);
    BOOST_TEST(!parsed);
    BOOST_TEST(parsed.what == "a number too large for a double");
  }
  BOOST_TEST(static_cast<bool>(json_reader::parse(doc, "1.7e308")));
}

BOOST_AUTO_TEST_CASE(a_document_is_reused_cleanly_after_a_failure) {
  rapidjson::Document doc;
  BOOST_TEST(static_cast<bool>(json_reader::parse(doc, R"({"a": [1, 2]})")));
  BOOST_TEST(!json_reader::parse(doc, nested_arrays(100)));
  BOOST_TEST(doc.IsNull());
  BOOST_TEST(static_cast<bool>(json_reader::parse(doc, R"([true])")));
  BOOST_TEST(doc.IsArray());
}

// Every codec reads upstream replies through the bounded reader: a hostile
// or broken upstream gets a `protocol` failure, never a crash.
BOOST_AUTO_TEST_CASE(every_codec_refuses_deep_nesting_from_upstream) {
  auto deep = std::string(300'000, '[');
  auto& plugins = registry::builtin();
  for (auto& name : plugins.codec_names()) {
    BOOST_TEST_CONTEXT("codec " << name) {
      auto codec = plugins.make_codec(name);
      auto body = codec->decode_body(deep);
      auto* error = std::get_if<failure>(&body);
      BOOST_REQUIRE(error != nullptr);
      BOOST_TEST(error->kind == failure_kind::protocol);
      BOOST_TEST(error->message.find("nested deeper than 64 levels") !=
                 std::string::npos);
      auto update = codec->decode_event(stream_event{"", deep, "", ""});
      BOOST_REQUIRE(update.error.has_value());
      BOOST_TEST(update.error->kind == failure_kind::protocol);
      auto classified = codec->classify_error(500, deep, {});
      BOOST_TEST(classified.http_status == 500);
    }
  }
}
