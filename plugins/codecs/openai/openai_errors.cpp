#include "plugins/codecs/openai/openai_errors.hpp"

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "plugins/codecs/codec_support.hpp"

// How OpenAI-shaped servers report errors, and what kind of failure each
// report is: finding an error object in the shapes they send, reading its
// message, and judging its kind from the HTTP status, `code` and `type`.
// docs/codecs.md lists the shapes and the kinds.

namespace tutti::openai_errors {

using namespace codec_support;

namespace {

/// How deep `message_text` looks into nested error messages.
constexpr int message_depth_limit = 4;

/// Readable text from an error's `message` or `detail`, whatever its shape:
/// a string; an object with a `message`, `detail` or `msg`; or an array of
/// those (FastAPI's validation errors: "body.model: Field required").
std::string message_text(const rapidjson::Value& value, int depth = 0) {
  if (value.IsString()) {
    return {value.GetString(), value.GetStringLength()};
  }
  if (depth >= message_depth_limit) {
    return {};
  }
  if (value.IsArray()) {
    std::string text;
    for (const auto& item : value.GetArray()) {
      auto part = message_text(item, depth + 1);
      if (!part.empty()) {
        text += text.empty() ? "" : "; ";
        text += part;
      }
    }
    return text;
  }
  if (!value.IsObject()) {
    return {};
  }
  for (std::string_view key : {"message", "detail"}) {
    if (auto* inner = member(value, key)) {
      if (auto text = message_text(*inner, depth + 1); !text.empty()) {
        return text;
      }
    }
  }
  auto msg = string_member(value, "msg");
  if (msg.empty()) {
    return {};
  }
  std::string where;
  if (auto* loc = member(value, "loc"); loc != nullptr && loc->IsArray()) {
    for (const auto& step : loc->GetArray()) {
      where += where.empty() ? "" : ".";
      if (step.IsString()) {
        where.append(step.GetString(), step.GetStringLength());
      } else if (step.IsInt64()) {
        where += std::to_string(step.GetInt64());
      }
    }
  }
  return where.empty() ? std::string{msg} : where + ": " + std::string{msg};
}

/// Reads `message`, `type`, `code` and Azure's `innererror` from `obj`.
void read_error_fields(const rapidjson::Value& obj, vendor_error& err) {
  if (auto* message = member(obj, "message")) {
    err.message = message_text(*message);
  }
  err.type = string_member(obj, "type");
  if (auto* code = member(obj, "code"); code != nullptr) {
    if (code->IsString()) {
      err.code.assign(code->GetString(), code->GetStringLength());
    } else if (code->IsInt64()) {
      err.code = std::to_string(code->GetInt64());
    }
  }
  auto* inner = object_member(obj, "innererror");
  if (inner == nullptr) {
    return;
  }
  if (string_member(*inner, "code") == "ResponsibleAIPolicyViolation") {
    err.content_filtered = true;
  }
  if (auto* result = object_member(*inner, "content_filter_result")) {
    err.content_filtered = true;
    for (const auto& category : result->GetObject()) {
      if (auto* filtered = member(category.value, "filtered");
          filtered != nullptr && filtered->IsTrue()) {
        err.filtered.emplace_back(category.name.GetString(),
                                  category.name.GetStringLength());
      }
    }
  }
}

bool says_context_length(const vendor_error& err) {
  return err.code == "context_length_exceeded" ||
         err.type == "exceed_context_size_error" ||
         contains_ci(err.message, "maximum context length");
}

bool says_content_filter(const vendor_error& err) {
  return err.code == "content_filter" ||
         err.code == "content_policy_violation" || err.content_filtered;
}

/// The HTTP status an error's `code` carries ("429", 400), or 0.
int status_in_code(std::string_view code) {
  if (code.size() != 3 || !std::all_of(code.begin(), code.end(), [](char c) {
        return c >= '0' && c <= '9';
      })) {
    return 0;
  }
  int status = std::stoi(std::string{code});
  return status >= 400 && status <= 599 ? status : 0;
}

/// The kind of an error that carries no HTTP status (one inside a stream, or
/// in a 2xx body), judged from its `code` and `type`, then a status in its
/// `code`.
failure_kind kind_from_vendor_error(const vendor_error& err) {
  if (says_context_length(err)) {
    return failure_kind::context_length;
  }
  if (says_content_filter(err)) {
    return failure_kind::content_filter;
  }
  for (std::string_view word :
       {std::string_view{err.code}, std::string_view{err.type}}) {
    if (word == "rate_limit_exceeded" || word == "insufficient_quota" ||
        word == "rate_limit_error" || word == "tokens" || word == "requests" ||
        word == "RateLimitError") {
      return failure_kind::rate_limited;
    }
    if (word == "overloaded" || word == "server_overloaded" ||
        word == "overloaded_error") {
      return failure_kind::overloaded;
    }
    if (word == "invalid_api_key" || word == "authentication_error" ||
        word == "permission_error" || word == "AuthenticationError") {
      return failure_kind::auth;
    }
    if (word == "invalid_request_error" || word == "BadRequestError" ||
        word == "NotFoundError") {
      return failure_kind::bad_request;
    }
    if (word == "server_error" || word == "api_error" ||
        word == "InternalServerError") {
      return failure_kind::server;
    }
  }
  if (auto status = status_in_code(err.code); status != 0) {
    return kind_from_status(status, err);
  }
  return failure_kind::server;
}

} // namespace

vendor_error vendor_error_from(const rapidjson::Value& doc) {
  vendor_error result;
  if (auto* error = member(doc, "error");
      error != nullptr && !error->IsNull()) {
    result.found = true;
    if (error->IsString()) {
      result.message.assign(error->GetString(), error->GetStringLength());
    } else if (error->IsObject()) {
      read_error_fields(*error, result);
    }
    return result;
  }
  if (!doc.IsObject() || member(doc, "choices") != nullptr) {
    return result;
  }
  if (auto* detail = member(doc, "detail");
      detail != nullptr && !detail->IsNull()) {
    result.found = true;
    result.message = message_text(*detail);
    return result;
  }
  if (auto* message = member(doc, "message");
      message != nullptr &&
      (message->IsString() || string_member(doc, "object") == "error")) {
    result.found = true;
    read_error_fields(doc, result);
  }
  return result;
}

std::string message_of(const vendor_error& err) {
  auto message = err.message;
  if (!err.filtered.empty()) {
    message += message.empty() ? "filtered: " : " (filtered: ";
    for (std::size_t i = 0; i < err.filtered.size(); ++i) {
      message += (i == 0 ? "" : ", ") + err.filtered[i];
    }
    message += err.message.empty() ? "" : ")";
  }
  return message;
}

failure_kind kind_from_status(int status, const vendor_error& err) {
  if (auto kind = kind_from_common_status(status)) {
    return *kind;
  }
  switch (status) {
  case 400:
  case 404:
  case 409:
  case 413:
  case 422:
    if (says_context_length(err)) {
      return failure_kind::context_length;
    }
    if (says_content_filter(err)) {
      return failure_kind::content_filter;
    }
    return failure_kind::bad_request;
  default:
    return failure_kind::protocol;
  }
}

failure failure_from_vendor_error(const vendor_error& err,
                                  std::string_view raw) {
  auto message = message_of(err);
  if (message.empty()) {
    message = quote(raw);
  }
  return make_failure(kind_from_vendor_error(err), std::move(message));
}

failure finished_with_error() {
  return make_failure(failure_kind::server,
                      "the server ended the reply with finish_reason "
                      "\"error\" and no error message");
}

} // namespace tutti::openai_errors
