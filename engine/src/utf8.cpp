#include "engine/src/utf8.hpp"

#include <cstdint>
#include <cstdio>
#include <cstring>

namespace tutti::utf8 {

namespace {

/// The length of the well-formed sequence at the start of `text`, or 0
/// when it starts with an ill-formed one. `bad` is then the length of its
/// maximal invalid subpart (at least 1).
size_t sequence_length(std::string_view text, size_t& bad) {
  auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  auto b0 = byte(0);
  bad = 1;
  if (b0 < 0x80)
    return 1;
  size_t length = 0;
  uint8_t low = 0x80;
  uint8_t high = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    if (b0 == 0xE0)
      low = 0xA0; // no overlongs
    else if (b0 == 0xED)
      high = 0x9F; // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    if (b0 == 0xF0)
      low = 0x90; // no overlongs
    else if (b0 == 0xF4)
      high = 0x8F; // nothing above U+10FFFF
  } else {
    return 0;
  }
  for (size_t i = 1; i < length; ++i) {
    if (i >= text.size())
      return 0;
    auto b = byte(i);
    if (b < low || b > high)
      return 0;
    low = 0x80;
    high = 0xBF;
    bad = i + 1;
  }
  return length;
}

/// How many bytes at the start of `text` are ASCII, read eight at a time:
/// nearly all text is, and the store checks every text it keeps.
size_t ascii_prefix(std::string_view text) {
  size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    uint64_t word = 0;
    std::memcpy(&word, text.data() + i, 8);
    if ((word & 0x8080808080808080ULL) != 0)
      break;
  }
  while (i < text.size() && static_cast<uint8_t>(text[i]) < 0x80)
    ++i;
  return i;
}

} // namespace

bool is_valid(std::string_view text) {
  size_t bad = 0;
  while (!text.empty()) {
    text.remove_prefix(ascii_prefix(text));
    if (text.empty())
      break;
    auto n = sequence_length(text, bad);
    if (n == 0)
      return false;
    text.remove_prefix(n);
  }
  return true;
}

std::string repaired(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t bad = 0;
  while (!text.empty()) {
    auto n = sequence_length(text, bad);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      text.remove_prefix(bad);
      continue;
    }
    out.append(text.data(), n);
    text.remove_prefix(n);
  }
  return out;
}

namespace {

/// `text` with control characters (C0, DEL, C1) and bytes that are not
/// UTF-8 as `\xNN`; line breaks and tabs as `\n` and `\t`, or kept when
/// `keep_lines`.
std::string escaped(std::string_view text, bool keep_lines) {
  std::string out;
  out.reserve(text.size());
  size_t bad = 0;
  auto escape = [&](uint8_t b) {
    char buf[5];
    std::snprintf(buf, sizeof buf, "\\x%02x", b);
    out += buf;
  };
  while (!text.empty()) {
    auto b0 = static_cast<uint8_t>(text[0]);
    auto n = sequence_length(text, bad);
    if (n == 0) {
      for (size_t i = 0; i < bad; ++i)
        escape(static_cast<uint8_t>(text[i]));
      text.remove_prefix(bad);
      continue;
    }
    if (n == 1) {
      if ((b0 == '\n' || b0 == '\t') && keep_lines)
        out += static_cast<char>(b0);
      else if (b0 == '\n')
        out += "\\n";
      else if (b0 == '\t')
        out += "\\t";
      else if (b0 < 0x20 || b0 == 0x7F)
        escape(b0);
      else
        out += static_cast<char>(b0);
    } else if (n == 2 && b0 == 0xC2 && static_cast<uint8_t>(text[1]) < 0xA0) {
      // C1 control characters (U+0080 to U+009F) steer terminals too.
      escape(b0);
      escape(static_cast<uint8_t>(text[1]));
    } else {
      out.append(text.data(), n);
    }
    text.remove_prefix(n);
  }
  return out;
}

} // namespace

std::string shortened(std::string_view text, std::size_t limit) {
  if (text.size() <= limit)
    return std::string{text};
  auto cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
    --cut;
  std::string result{text.substr(0, cut)};
  result += "...";
  return result;
}

std::string printable(std::string_view text) {
  return escaped(text, false);
}

std::string for_terminal(std::string_view text) {
  return escaped(text, true);
}

} // namespace tutti::utf8
