#pragma once

/// Who may ask `tutti serve` what, decided from a request's head before its
/// body is read: the bearer token; in the tokenless loopback mode, the Host
/// and Origin a browser sends (a web page must not reach the endpoint, by
/// cross-site requests or DNS rebinding) and a JSON content type for POSTs
/// (which a cross-site form cannot send); and the fixed words the metrics
/// label requests with. Pure functions, unit-tested from strings.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tutti::http {

/// Whether `host` (an address or "localhost") is a loopback address.
bool is_loopback_host(const std::string& host);

/// Whether a Host header ("127.0.0.1:8700", "localhost", "[::1]:8700") names
/// a loopback host. A name that only resolves to one (DNS rebinding) does
/// not count: the endpoint never resolves what a client sends.
bool is_loopback_authority(std::string_view host_header);

/// Whether an Origin header ("http://localhost:8700") is a loopback origin.
/// "null" (a sandboxed frame, a file) is not.
bool is_loopback_origin(std::string_view origin);

/// Whether a Content-Type header is JSON ("application/json", any case,
/// parameters such as "; charset=utf-8" allowed).
bool is_json_content_type(std::string_view content_type);

/// Compares a presented bearer token with the expected one in time that
/// does not depend on where they differ.
bool tokens_match(std::string_view presented, std::string_view expected);

/// "Bearer T" -> "T"; empty when the header is not a bearer credential.
std::string_view bearer_token(std::string_view authorization);

/// The credential a request presents: `Authorization: Bearer T`, or else
/// `x-api-key: T` (how Anthropic's SDK sends its key); empty when neither.
/// Each argument is its header's value, nullptr when absent.
std::string_view presented_token(const std::string* authorization,
                                 const std::string* x_api_key);

/// The method as a metrics label: one of GET, POST, DELETE, PUT, PATCH,
/// HEAD, OPTIONS, or "other" (any token is a valid method, and labels must
/// stay a fixed set whatever clients send).
std::string_view method_label(std::string_view method);

/// A Last-Event-ID header as an event id: digits only, at most 19 of them
/// (so it fits); nothing otherwise.
std::optional<uint64_t> parse_event_id(std::string_view text);

} // namespace tutti::http
