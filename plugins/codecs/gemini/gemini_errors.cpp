#include "plugins/codecs/gemini/gemini_errors.hpp"

#include <utility>

#include "plugins/codecs/codec_support.hpp"

namespace tutti::gemini_errors {

namespace {

using namespace codec_support;

int64_t int_member(const rapidjson::Value& obj, std::string_view name) {
  auto* value = member(obj, name);
  return value != nullptr && value->IsInt64() ? value->GetInt64() : 0;
}

bool says_bad_key(const google_error& err) {
  return err.reason == "API_KEY_INVALID" ||
         contains_ci(err.message, "API key not valid") ||
         contains_ci(err.message, "API key expired");
}

bool says_context_length(const google_error& err) {
  return (contains_ci(err.message, "token count") &&
          contains_ci(err.message, "exceeds")) ||
         contains_ci(err.message, "maximum number of tokens") ||
         contains_ci(err.message, "too long") ||
         contains_ci(err.message, "context window");
}

/// The kind of a request Google refused as wrong: a bad key (Google answers
/// it with 400 INVALID_ARGUMENT), a prompt too long, or anything else.
failure_kind client_error_kind(const google_error& err) {
  if (says_bad_key(err)) {
    return failure_kind::auth;
  }
  if (says_context_length(err)) {
    return failure_kind::context_length;
  }
  return failure_kind::bad_request;
}

} // namespace

using namespace codec_support;

/// Reads `{"error": {"code", "message", "status", "details"}}`, also when it
/// comes wrapped in a one-element JSON array.
google_error google_error_from(const rapidjson::Value& doc) {
  google_error result;
  const auto& holder = doc.IsArray() && !doc.Empty() ? doc[0] : doc;
  auto* error = member(holder, "error");
  if (error == nullptr || error->IsNull()) {
    return result;
  }
  result.found = true;
  if (error->IsString()) {
    result.message.assign(error->GetString(), error->GetStringLength());
    return result;
  }
  result.code = int_member(*error, "code");
  result.message = string_member(*error, "message");
  result.status = string_member(*error, "status");
  if (auto* details = member(*error, "details");
      details != nullptr && details->IsArray()) {
    for (const auto& detail : details->GetArray()) {
      if (auto reason = string_member(detail, "reason"); !reason.empty()) {
        result.reason = reason;
        break;
      }
    }
  }
  return result;
}

/// The kind named by a canonical Google status word; nullopt when the word
/// is absent or not one tutti maps.
std::optional<failure_kind> kind_from_status_word(const google_error& err) {
  const auto& word = err.status;
  if (word == "INVALID_ARGUMENT" || word == "FAILED_PRECONDITION" ||
      word == "NOT_FOUND" || word == "OUT_OF_RANGE") {
    return client_error_kind(err);
  }
  if (word == "UNAUTHENTICATED" || word == "PERMISSION_DENIED") {
    return failure_kind::auth;
  }
  if (word == "RESOURCE_EXHAUSTED") {
    return failure_kind::rate_limited;
  }
  if (word == "UNAVAILABLE") {
    return failure_kind::overloaded;
  }
  if (word == "INTERNAL" || word == "UNKNOWN" || word == "DATA_LOSS") {
    return failure_kind::server;
  }
  if (word == "DEADLINE_EXCEEDED") {
    return failure_kind::timeout_total;
  }
  return std::nullopt;
}

/// The kind an HTTP status implies when the body names no known status word.
failure_kind kind_from_http_status(int64_t status, const google_error& err) {
  if (auto kind = kind_from_common_status(status)) {
    return *kind;
  }
  if (status == 400 || status == 404 || status == 409 || status == 422) {
    return client_error_kind(err);
  }
  return failure_kind::protocol;
}

/// A failure for an error object found where a reply was expected (a 2xx
/// body or a stream event): kinded by its status word, then its code.
failure failure_from_google_error(const google_error& err,
                                  std::string_view raw) {
  auto kind = kind_from_status_word(err);
  if (!kind) {
    kind = err.code != 0 ? kind_from_http_status(err.code, err)
                         : failure_kind::server;
    if (*kind == failure_kind::protocol) {
      kind = failure_kind::server;
    }
  }
  auto message = err.message.empty() ? quote(raw) : err.message;
  return make_failure(*kind, std::move(message));
}

} // namespace tutti::gemini_errors
