#pragma once

/// One spelling for JSON documents that mean the same: what `vote` compares
/// when replies are JSON (structured answers, tool-call arguments), so that
/// key order, spacing, escapes and number formatting do not split a vote.

#include <optional>
#include <string>
#include <string_view>

namespace tutti {

/// `text` as canonical JSON: object members sorted by key (bytewise), no
/// spaces, strings as RapidJSON escapes them, and a number that is a whole
/// number below 2^53 written as an integer (`1.0`, `1e0` and `1` are `1`),
/// any other as the shortest text that reads back as the same double.
/// Nothing when `text` is not one JSON document (or nests deeper than the
/// JSON reader's limit).
std::optional<std::string> canonical_json(std::string_view text);

} // namespace tutti
