#pragma once

/// The errors Google's Gemini API sends, read into a `google_error` and
/// judged into a failure kind: what the Gemini codec decodes whenever a
/// body, a stream event or an error response holds an error.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "tutti/messages.hpp"

namespace tutti::gemini_errors {

/// The parts of a Google API error that decide its kind.
struct google_error {
  bool found = false; ///< the body held an `error` object
  int64_t code = 0;   ///< `error.code`, the HTTP status it stands for
  std::string message;
  std::string status; ///< `error.status`, e.g. "RESOURCE_EXHAUSTED"
  std::string reason; ///< the first `error.details[].reason` (ErrorInfo)
};

/// Reads `{"error": {"code", "message", "status", "details"}}`, also when it
/// comes wrapped in a one-element JSON array.
google_error google_error_from(const rapidjson::Value& doc);

/// The kind `error.status` names; none for a word it does not know.
std::optional<failure_kind> kind_from_status_word(const google_error& err);

/// The kind of an error response from its HTTP status and what it says.
failure_kind kind_from_http_status(int64_t status, const google_error& err);

/// A failure for an error object found where a reply was expected.
failure failure_from_google_error(const google_error& err,
                                  std::string_view raw);

} // namespace tutti::gemini_errors
