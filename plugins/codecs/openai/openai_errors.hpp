#pragma once

/// The errors OpenAI-shaped servers send, read into a `vendor_error` and
/// judged into a `failure`: what the OpenAI wire codec decodes whenever a
/// body, a stream event or an error response holds an error.

#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "tutti/messages.hpp"

namespace tutti::openai_errors {

/// The parts of an error object that decide its kind.
struct vendor_error {
  bool found = false; ///< the body held an error in one of the known shapes
  std::string message;
  std::string code;                  ///< `code`; numbers are written as text
  std::string type;                  ///< `type`
  bool content_filtered = false;     ///< Azure's `innererror` says so
  std::vector<std::string> filtered; ///< Azure's categories that fired
};

/// Finds an error in any of the shapes OpenAI-style servers send:
/// `{"error": {...}}`, `{"error": "text"}`, FastAPI's `{"detail": ...}`, and
/// vLLM's and Mistral's top-level `{"object": "error", "message": ...}`. The
/// last two only count in a document without `choices`.
vendor_error vendor_error_from(const rapidjson::Value& doc);

/// The vendor's message, naming the content-filter categories that fired.
std::string message_of(const vendor_error& err);

/// The kind of an error response, from its HTTP status and what it says.
failure_kind kind_from_status(int status, const vendor_error& err);

/// A failure for an error object found where a reply was expected.
failure failure_from_vendor_error(const vendor_error& err,
                                  std::string_view raw);

/// The failure for a finish reason of "error" that came without an error
/// object (OpenRouter sends both when an upstream breaks mid-reply).
failure finished_with_error();

} // namespace tutti::openai_errors
