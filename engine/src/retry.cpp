#include "tutti/retry.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

namespace tutti {

bool is_retryable(const failure& f) {
  switch (f.kind) {
  case failure_kind::rate_limited:
  case failure_kind::overloaded:
  case failure_kind::server:
  case failure_kind::network:
  case failure_kind::timeout_connect:
    return true;
  default:
    return f.http_status == 408;
  }
}

namespace {

/// A non-negative number, fractions allowed ("1.5").
std::optional<double> parse_non_negative(const std::string& text) {
  if (text.empty())
    return std::nullopt;
  char* end = nullptr;
  auto value = std::strtod(text.c_str(), &end);
  while (end != nullptr && (*end == ' ' || *end == '\t'))
    ++end;
  if (end == nullptr || *end != '\0' || !(value >= 0) || value > 1e9)
    return std::nullopt;
  return value;
}

/// Parses an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") to Unix ms.
std::optional<int64_t> parse_http_date_ms(const std::string& text) {
  std::tm tm{};
  auto* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S", &tm);
  if (end == nullptr)
    return std::nullopt;
  auto seconds = timegm(&tm);
  if (seconds == static_cast<time_t>(-1))
    return std::nullopt;
  return static_cast<int64_t>(seconds) * 1000;
}

} // namespace

std::optional<int64_t> parse_rfc3339_ms(const std::string& text) {
  std::tm tm{};
  auto* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == nullptr)
    return std::nullopt;
  auto seconds = timegm(&tm);
  if (seconds == static_cast<time_t>(-1))
    return std::nullopt;
  auto ms = static_cast<int64_t>(seconds) * 1000;
  if (*end == '.') {
    int64_t scale = 100;
    for (++end; *end >= '0' && *end <= '9'; ++end, scale /= 10)
      ms += (*end - '0') * scale;
  }
  if (*end == 'Z' || *end == 'z')
    return end[1] == '\0' ? std::optional<int64_t>{ms} : std::nullopt;
  if ((*end == '+' || *end == '-') && std::strlen(end) == 6 && end[3] == ':') {
    int sign = *end == '+' ? 1 : -1;
    int hours = std::atoi(end + 1);
    int minutes = std::atoi(end + 4);
    return ms - sign * (hours * 60 + minutes) * 60'000LL;
  }
  return std::nullopt;
}

std::optional<int64_t> header_count(const header_list& headers,
                                    const std::string& name) {
  auto* text = find_header(headers, name);
  if (text == nullptr)
    return std::nullopt;
  auto value = parse_non_negative(*text);
  if (!value)
    return std::nullopt;
  return static_cast<int64_t>(*value);
}

std::optional<int64_t> parse_go_duration_ms(const std::string& text) {
  if (text.empty())
    return std::nullopt;
  double total_ms = 0;
  const char* at = text.c_str();
  while (*at != '\0') {
    char* end = nullptr;
    auto value = std::strtod(at, &end);
    if (end == at || !(value >= 0))
      return std::nullopt;
    at = end;
    double unit_ms = 0;
    if (at[0] == 'm' && at[1] == 's')
      unit_ms = 1, at += 2;
    else if (at[0] == 'h')
      unit_ms = 3'600'000, ++at;
    else if (at[0] == 'm')
      unit_ms = 60'000, ++at;
    else if (at[0] == 's')
      unit_ms = 1000, ++at;
    else
      return std::nullopt;
    total_ms += value * unit_ms;
  }
  if (total_ms > 1e12)
    return std::nullopt;
  return static_cast<int64_t>(std::ceil(total_ms));
}

std::optional<int64_t> retry_after_ms(const header_list& headers,
                                      int64_t now_unix_ms) {
  if (auto* ms = find_header(headers, "retry-after-ms"))
    if (auto value = parse_non_negative(*ms))
      return static_cast<int64_t>(*value);
  auto* after = find_header(headers, "retry-after");
  if (after == nullptr)
    return std::nullopt;
  if (auto seconds = parse_non_negative(*after))
    return static_cast<int64_t>(*seconds * 1000);
  if (auto when = parse_http_date_ms(*after))
    return std::max<int64_t>(0, *when - now_unix_ms);
  return std::nullopt;
}

int64_t backoff_cap_ms(const retry_policy& policy, int attempt) {
  auto cap = policy.backoff_ms;
  for (int i = 1; i < attempt && cap < policy.max_backoff_ms; ++i)
    cap *= 2;
  return std::min(cap, policy.max_backoff_ms);
}

double cost_usd(const usage& used, const price_table& price) {
  auto cached = std::min(used.cached_input_tokens, used.input_tokens);
  auto cached_price = price.cached_input_per_mtok > 0
                          ? price.cached_input_per_mtok
                          : price.input_per_mtok;
  return (static_cast<double>(used.input_tokens - cached) *
              price.input_per_mtok +
          static_cast<double>(cached) * cached_price +
          static_cast<double>(used.output_tokens) * price.output_per_mtok) /
         1e6;
}

} // namespace tutti
