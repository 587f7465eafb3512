#include "engine/src/secrets.hpp"

#include <algorithm>
#include <unordered_set>
#include <vector>

namespace tutti {

namespace {

constexpr size_t min_secret = 4;
constexpr size_t fragment = 8;
constexpr std::string_view marker = "[redacted]";

std::string url_encoded(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                      c == '.' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

/// Marks in `hidden` every byte of `text` that belongs to a run of at least
/// `length` bytes also found, in a row, in `secret`.
void mark_fragments(std::string_view text, std::string_view secret,
                    std::vector<bool>& hidden) {
  auto length = std::min(fragment, secret.size());
  if (text.size() < length)
    return;
  std::unordered_set<std::string_view> pieces;
  for (size_t i = 0; i + length <= secret.size(); ++i)
    pieces.insert(secret.substr(i, length));
  for (size_t i = 0; i + length <= text.size(); ++i)
    if (pieces.count(text.substr(i, length)) > 0)
      std::fill(hidden.begin() + static_cast<std::ptrdiff_t>(i),
                hidden.begin() + static_cast<std::ptrdiff_t>(i + length), true);
}

/// Marks the bytes of `text` that are pieces of `secret` or of its
/// URL-encoded form.
std::vector<bool> secret_bytes(std::string_view text, std::string_view secret) {
  std::vector<bool> hidden(text.size(), false);
  mark_fragments(text, secret, hidden);
  if (auto encoded = url_encoded(secret); encoded != secret)
    mark_fragments(text, encoded, hidden);
  return hidden;
}

bool any(const std::vector<bool>& marks) {
  return std::find(marks.begin(), marks.end(), true) != marks.end();
}

/// `text` with each run of hidden bytes replaced by `mark`.
std::string replaced(const std::string& text, const std::vector<bool>& hidden,
                     std::string_view mark) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (!hidden[i]) {
      out += text[i++];
      continue;
    }
    out += mark;
    while (i < text.size() && hidden[i])
      ++i;
  }
  return out;
}

} // namespace

std::string redact_secrets(std::string text,
                           const std::vector<std::string_view>& secrets) {
  std::vector<std::string_view> looked_for;
  for (auto secret : secrets)
    if (secret.size() >= min_secret)
      looked_for.push_back(secret);
  if (looked_for.empty() || text.empty())
    return text;
  // Every secret's pieces are marked in the original text before anything is
  // replaced: redacting one secret first could cut another's run short and
  // leave its tail readable (two secrets sharing "-secret-").
  auto marked = [&](std::string_view in) {
    std::vector<bool> hidden(in.size(), false);
    for (auto secret : looked_for) {
      auto mine = secret_bytes(in, secret);
      for (size_t i = 0; i < in.size(); ++i)
        hidden[i] = hidden[i] || mine[i];
    }
    return hidden;
  };
  auto hidden = marked(text);
  if (!any(hidden))
    return text;
  auto out = replaced(text, hidden, marker);
  if (!any(marked(out)))
    return out;
  // A secret holds part of the marker ("l[redac"), so the marker and the
  // text beside it spell a piece of it again. A marker of a character that
  // no secret nor its encoded form has cannot.
  for (char c = '!'; c <= '~'; ++c) {
    bool absent = true;
    for (auto secret : looked_for)
      absent = absent && secret.find(c) == std::string_view::npos &&
               url_encoded(secret).find(c) == std::string::npos;
    if (absent)
      return replaced(text, hidden, std::string(3, c));
  }
  return {}; // every printable character is in a secret: keep nothing
}

std::string redact_secret(std::string text, std::string_view secret) {
  return redact_secrets(std::move(text), {secret});
}

bool is_credential_header(std::string_view name) {
  std::string lower(name);
  for (auto& c : lower)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  for (std::string_view word :
       {"auth", "key", "token", "secret", "password", "passwd", "credential",
        "session", "cookie", "bearer", "signature", "jwt"})
    if (lower.find(word) != std::string::npos)
      return true;
  return false;
}

std::string host_of_url(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos)
    return {};
  auto rest = url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = rest.rfind('@'); at != std::string_view::npos)
    rest.remove_prefix(at + 1);
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    return std::string{rest.substr(1, close == std::string_view::npos
                                          ? std::string_view::npos
                                          : close - 1)};
  }
  return std::string{rest.substr(0, rest.find(':'))};
}

std::string redact_host(std::string text, std::string_view host) {
  if (host.empty())
    return text;
  for (auto pos = text.find(host); pos != std::string::npos;
       pos = text.find(host, pos + 6))
    text.replace(pos, host.size(), "[host]");
  return text;
}

} // namespace tutti
