#include "server/guard.hpp"

#include <arpa/inet.h>

#include <cctype>

namespace tutti::http {

namespace {

bool equals_ci(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

bool all_digits(std::string_view text) {
  for (char c : text)
    if (c < '0' || c > '9')
      return false;
  return true;
}

} // namespace

bool is_loopback_host(const std::string& host) {
  if (host == "localhost")
    return true;
  // inet_pton reads up to a NUL: "127.0.0.1\0.evil.example" is no address.
  if (host.find('\0') != std::string::npos)
    return false;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6))
      return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

bool tokens_match(std::string_view presented, std::string_view expected) {
  // Every byte of the expected token is looked at whatever is presented;
  // only the presented length (which the caller knows) shapes the loop.
  unsigned char diff = presented.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    auto p =
        i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
    diff |=
        static_cast<unsigned char>(p ^ static_cast<unsigned char>(expected[i]));
  }
  return diff == 0 && !expected.empty();
}

std::string_view bearer_token(std::string_view authorization) {
  constexpr std::string_view scheme = "Bearer ";
  if (authorization.size() <= scheme.size())
    return {};
  for (size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
        std::tolower(static_cast<unsigned char>(scheme[i])))
      return {};
  auto token = authorization.substr(scheme.size());
  while (!token.empty() && token.front() == ' ')
    token.remove_prefix(1);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t'))
    token.remove_suffix(1);
  return token;
}

std::string_view presented_token(const std::string* authorization,
                                 const std::string* x_api_key) {
  if (authorization != nullptr)
    return bearer_token(*authorization);
  if (x_api_key != nullptr)
    return *x_api_key;
  return {};
}

bool is_loopback_authority(std::string_view host_header) {
  auto text = trim(host_header);
  std::string_view host;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos)
      return false;
    host = text.substr(1, close - 1);
    auto rest = text.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !all_digits(rest.substr(1))))
      return false;
  } else {
    auto colon = text.find(':');
    host = text.substr(0, colon);
    if (colon != std::string_view::npos && !all_digits(text.substr(colon + 1)))
      return false;
  }
  if (host.empty() || host.size() > 64)
    return false;
  std::string name{host};
  if (equals_ci(name, "localhost"))
    return true;
  return is_loopback_host(name);
}

bool is_loopback_origin(std::string_view origin) {
  auto text = trim(origin);
  for (std::string_view scheme : {"http://", "https://"})
    if (text.size() > scheme.size() &&
        equals_ci(text.substr(0, scheme.size()), scheme))
      return is_loopback_authority(text.substr(scheme.size()));
  return false;
}

bool is_json_content_type(std::string_view content_type) {
  auto media = trim(content_type.substr(0, content_type.find(';')));
  return equals_ci(media, "application/json");
}

std::string_view method_label(std::string_view method) {
  for (std::string_view known :
       {"GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"})
    if (method == known)
      return known;
  return "other";
}

std::optional<uint64_t> parse_event_id(std::string_view text) {
  text = trim(text);
  if (text.empty() || text.size() > 19 || !all_digits(text))
    return std::nullopt;
  uint64_t id = 0;
  for (char c : text)
    id = id * 10 + static_cast<uint64_t>(c - '0');
  return id;
}

} // namespace tutti::http
