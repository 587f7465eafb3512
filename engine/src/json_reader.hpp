#pragma once

/// Reading JSON that comes from outside (request bodies, upstream replies,
/// batch rows, result files): one way, bounded. RapidJSON's default reader
/// recurses once per nesting level, so a body of 300,000 `[` overflows the
/// stack; this one parses iteratively and stops at `max_depth` levels of
/// arrays and objects, so nothing that reads the document afterwards can
/// recurse deeper either. Header-only so that the fake upstream, which does
/// not link tutti_core, reads the same way.

#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>

#include <rapidjson/document.h>
#include <rapidjson/encodedstream.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

namespace tutti::json_reader {

/// The deepest nesting accepted by default. Every document tutti reads is
/// shallow (a chat request is 4 levels deep; a JSON schema inside one rarely
/// passes 20); 64 leaves room and keeps any recursive walk of it small.
constexpr unsigned default_max_depth = 64;

/// Whether a parse worked and, when not, why and where.
struct parse_result {
  bool ok = false;
  std::string what;  ///< why it is not read; empty when ok
  size_t offset = 0; ///< where, in bytes

  explicit operator bool() const { return ok; }

  /// "<what> at offset <n>".
  std::string message() const {
    return what + " at offset " + std::to_string(offset);
  }
};

/// Whether strings must be well-formed UTF-8. Text a client sends is
/// validated (a 400 names the offset); replies from upstream servers are
/// taken as sent and repaired where they are written out.
enum class utf8_check { validate, accept };

namespace detail {

/// Whether `s` holds what RapidJSON 1.1.0 makes of a `\uDC00`-`\uDFFF`
/// escape without a high surrogate before it: the surrogate's three bytes
/// (ED B0..BF xx), which are not UTF-8. Its encoding check reads only the
/// raw text, so this is the one way such bytes get past it.
inline bool has_lone_surrogate(const char* s, rapidjson::SizeType n) {
  for (rapidjson::SizeType i = 0; i + 1 < n; ++i)
    if (static_cast<unsigned char>(s[i]) == 0xED &&
        static_cast<unsigned char>(s[i + 1]) >= 0xA0)
      return true;
  return false;
}

/// Forwards RapidJSON's SAX events to `Handler` and stops the parse when
/// arrays and objects nest deeper than the limit, a number is beyond a
/// double, or (with `validate`) a string or key holds a lone surrogate.
template <class Handler>
class depth_limited {
public:
  depth_limited(Handler& next, unsigned max_depth, bool validate)
      : next_(next), max_depth_(max_depth), validate_(validate) {
    // nop
  }

  bool too_deep() const { return too_deep_; }
  bool too_large() const { return too_large_; }
  bool lone_surrogate() const { return lone_surrogate_; }

  bool Null() { return next_.Null(); }
  bool Bool(bool b) { return next_.Bool(b); }
  bool Int(int i) { return next_.Int(i); }
  bool Uint(unsigned u) { return next_.Uint(u); }
  bool Int64(int64_t i) { return next_.Int64(i); }
  bool Uint64(uint64_t u) { return next_.Uint64(u); }
  bool Double(double d) {
    // RapidJSON 1.1.0 reads 8e308 as infinity, which no JSON writer can
    // write back (an id written as nothing broke a batch's results file).
    if (!std::isfinite(d)) {
      too_large_ = true;
      return false;
    }
    return next_.Double(d);
  }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) {
    return next_.RawNumber(s, n, copy);
  }
  bool String(const char* s, rapidjson::SizeType n, bool copy) {
    return valid(s, n) && next_.String(s, n, copy);
  }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) {
    return valid(s, n) && next_.Key(s, n, copy);
  }
  bool StartObject() { return enter() && next_.StartObject(); }
  bool EndObject(rapidjson::SizeType n) {
    --depth_;
    return next_.EndObject(n);
  }
  bool StartArray() { return enter() && next_.StartArray(); }
  bool EndArray(rapidjson::SizeType n) {
    --depth_;
    return next_.EndArray(n);
  }

private:
  bool valid(const char* s, rapidjson::SizeType n) {
    if (validate_ && has_lone_surrogate(s, n)) {
      lone_surrogate_ = true;
      return false;
    }
    return true;
  }

  bool enter() {
    if (++depth_ > max_depth_) {
      too_deep_ = true;
      return false;
    }
    return true;
  }

  Handler& next_;
  unsigned max_depth_;
  bool validate_;
  unsigned depth_ = 0;
  bool too_deep_ = false;
  bool too_large_ = false;
  bool lone_surrogate_ = false;
};

template <unsigned Flags>
parse_result parse_with(rapidjson::Document& doc, std::string_view text,
                        unsigned max_depth) {
  parse_result result;
  rapidjson::Reader reader;
  bool too_deep = false;
  bool too_large = false;
  bool lone_surrogate = false;
  auto generate = [&](rapidjson::Document& handler) {
    rapidjson::MemoryStream bytes{text.data(), text.size()};
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream>
        in{bytes};
    depth_limited<rapidjson::Document> guard{
        handler, max_depth,
        (Flags & rapidjson::kParseValidateEncodingFlag) != 0};
    reader.Parse<Flags | rapidjson::kParseIterativeFlag>(in, guard);
    too_deep = guard.too_deep();
    too_large = guard.too_large();
    lone_surrogate = guard.lone_surrogate();
    return !reader.HasParseError();
  };
  doc.SetNull();
  doc.Populate(generate);
  if (!reader.HasParseError()) {
    result.ok = true;
    return result;
  }
  result.offset = reader.GetErrorOffset();
  if (too_deep)
    result.what = "arrays and objects nested deeper than " +
                  std::to_string(max_depth) + " levels";
  else if (too_large)
    result.what = "a number too large for a double";
  else if (lone_surrogate)
    result.what = "a \\u escape is a lone UTF-16 surrogate, not a character";
  else
    result.what = rapidjson::GetParseError_En(reader.GetParseErrorCode());
  return result;
}

} // namespace detail

/// Parses `text` into `doc` without recursion, refusing nesting deeper than
/// `max_depth`. On failure `doc` is null and the result says why and where.
inline parse_result parse(rapidjson::Document& doc, std::string_view text,
                          utf8_check check = utf8_check::accept,
                          unsigned max_depth = default_max_depth) {
  if (check == utf8_check::validate)
    return detail::parse_with<rapidjson::kParseValidateEncodingFlag>(doc, text,
                                                                     max_depth);
  return detail::parse_with<rapidjson::kParseNoFlags>(doc, text, max_depth);
}

} // namespace tutti::json_reader
