#pragma once

/// Text from outside is not always UTF-8 (a client's body, a binary file
/// given as a config, an upstream's bytes). What tutti writes is: JSON
/// strings are made valid UTF-8, and one-line messages for people show
/// control characters and stray bytes as escapes.

#include <cstddef>
#include <string>
#include <string_view>

namespace tutti::utf8 {

/// True when `text` is well-formed UTF-8 (no overlongs, no surrogates,
/// nothing above U+10FFFF).
bool is_valid(std::string_view text);

/// `text` with each ill-formed sequence replaced by U+FFFD, as the Unicode
/// standard recommends (one replacement per maximal invalid subpart).
std::string repaired(std::string_view text);

/// `text` for a one-line message: control characters as `\n`, `\t` or
/// `\xNN`, bytes that are not UTF-8 as `\xNN`; valid printable UTF-8 as
/// it is.
std::string printable(std::string_view text);

/// `text` for a terminal: like `printable`, but line breaks and tabs are
/// kept. Model output is untrusted: an escape sequence in it must not set
/// the terminal's title, write its clipboard or rewrite what was printed.
std::string for_terminal(std::string_view text);

/// At most `limit` bytes of `text`, cut on a character boundary, with
/// "..." when something was left out.
std::string shortened(std::string_view text, std::size_t limit);

} // namespace tutti::utf8
