// How a provider asked alone answers a failure over HTTP, the same for every
// route that asks one (chat completions, embeddings).

#include "server/server_impl.hpp"

namespace tutti {

using http::api_error;

/// The error a provider asked alone answers with: the vendor's own status
/// where it gave one a client understands, else the status that says what
/// happened (a timeout 504, a broken reply 502, an open breaker 503), with
/// the kind as the code and the provider named.
api_error provider_failed(const member_outcome& m) {
  const auto& e = m.error;
  auto status = e.http_status;
  switch (e.kind) {
  case failure_kind::auth:
    status = status == 403 ? 403 : 401;
    break;
  case failure_kind::bad_request:
  case failure_kind::context_length:
  case failure_kind::content_filter:
    status = status == 404 || status == 413 || status == 422 ? status : 400;
    break;
  case failure_kind::rate_limited:
  case failure_kind::budget_exceeded:
    status = 429;
    break;
  case failure_kind::overloaded:
  case failure_kind::queue_timeout:
  case failure_kind::circuit_open:
    status = 503;
    break;
  case failure_kind::server:
    status = status >= 500 && status <= 599 && status != 529 ? status : 502;
    break;
  case failure_kind::timeout_connect:
  case failure_kind::timeout_first_token:
  case failure_kind::timeout_idle:
  case failure_kind::timeout_total:
    status = status == 408 ? 408 : 504;
    break;
  case failure_kind::config:
    status = 500;
    break;
  default: // network, protocol, empty_reply, refused, cancelled
    status = 502;
  }
  std::string type = status == 401   ? "authentication_error"
                     : status == 403 ? "permission_error"
                     : status == 429 ? (e.kind == failure_kind::budget_exceeded
                                            ? "insufficient_quota"
                                            : "rate_limit_error")
                     : status < 500  ? "invalid_request_error"
                                     : "upstream_error";
  auto message = "provider '" + m.provider + "' failed (" +
                 std::string{to_string(e.kind)} +
                 (e.http_status != 0 ? " " + std::to_string(e.http_status)
                                     : std::string{}) +
                 "): " + e.message;
  return api_error{status, std::move(message), std::move(type), "",
                   std::string{to_string(e.kind)}};
}

api_error provider_failed(const ensemble_answer& answer) {
  return provider_failed(answer.members.at(0));
}

http::response provider_failed_response(const member_outcome& m,
                                        const std::string& ensemble_json) {
  auto error = provider_failed(m);
  auto r = http::error_response(error, ensemble_json);
  auto& cause = m.error;
  if (error.status == 429 && cause.retry_after_ms >= 0) {
    // Both, as OpenAI sends them; its SDKs prefer the milliseconds.
    r.headers.emplace_back("Retry-After",
                           std::to_string((cause.retry_after_ms + 999) / 1000));
    r.headers.emplace_back("retry-after-ms",
                           std::to_string(cause.retry_after_ms));
  }
  if (cause.kind == failure_kind::budget_exceeded)
    r.headers.emplace_back("x-should-retry", "false");
  return r;
}

} // namespace tutti
