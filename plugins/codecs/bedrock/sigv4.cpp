#include "plugins/codecs/bedrock/sigv4.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "plugins/codecs/codec_support.hpp"

// SigV4 step by step, as AWS documents it: a canonical request, a string to
// sign naming the date, region and service, a key derived from the secret
// by HMAC over each of those, and the signature over the string to sign.

namespace tutti::sigv4 {

namespace {

using codec_support::ascii_lower;

constexpr std::string_view algorithm = "AWS4-HMAC-SHA256";

std::string hex(const unsigned char* bytes, std::size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(digits[bytes[i] >> 4]);
    out.push_back(digits[bytes[i] & 0xF]);
  }
  return out;
}

/// HMAC-SHA256 of `data` under `key`, raw bytes.
std::string hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
       &size);
  return {reinterpret_cast<const char*>(out), size};
}

std::string lower(std::string_view text) {
  std::string out{text};
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  return out;
}

/// A header value as SigV4 signs it: trimmed, runs of spaces made one.
std::string canonical_value(std::string_view value) {
  std::string out;
  bool space = false;
  for (char c : codec_support::trim(value)) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !out.empty())
      out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

/// The parts of an absolute URL SigV4 needs.
struct url_parts {
  std::string host; ///< with a port when the URL names one
  std::string path;
  std::string query;
};

url_parts split_url(std::string_view url) {
  url_parts parts;
  if (auto scheme = url.find("://"); scheme != std::string_view::npos)
    url.remove_prefix(scheme + 3);
  auto path_at = url.find_first_of("/?");
  parts.host = std::string{url.substr(0, path_at)};
  if (path_at == std::string_view::npos)
    return parts;
  url.remove_prefix(path_at);
  auto query_at = url.find('?');
  parts.path = std::string{url.substr(0, query_at)};
  if (query_at != std::string_view::npos)
    parts.query = std::string{url.substr(query_at + 1)};
  return parts;
}

/// The path encoded as SigV4 wants it for services other than S3: every
/// byte outside the unreserved set and '/' percent-encoded, '%' included
/// (so a path sent encoded is signed encoded twice).
std::string canonical_path(std::string_view path) {
  if (path.empty())
    return "/";
  std::string out;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    auto segment =
        path.substr(start, end == std::string_view::npos ? end : end - start);
    out += codec_support::url_encode(segment);
    if (end == std::string_view::npos)
      break;
    out.push_back('/');
    start = end + 1;
  }
  return out;
}

/// The query's pairs sorted by name, then value, as sent.
std::string canonical_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> pairs;
  std::size_t start = 0;
  while (start < query.size()) {
    auto end = query.find('&', start);
    auto pair =
        query.substr(start, end == std::string_view::npos ? end : end - start);
    if (!pair.empty()) {
      auto eq = pair.find('=');
      pairs.emplace_back(std::string{pair.substr(0, eq)},
                         eq == std::string_view::npos
                             ? std::string{}
                             : std::string{pair.substr(eq + 1)});
    }
    if (end == std::string_view::npos)
      break;
    start = end + 1;
  }
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (auto& [name, value] : pairs)
    out += (out.empty() ? "" : "&") + name + "=" + value;
  return out;
}

/// The signed headers, by lowercase name (values of repeated names joined
/// with commas), `host` included.
std::map<std::string, std::string> signed_headers(const http_request& req) {
  std::map<std::string, std::string> headers;
  for (auto& [name, value] : req.headers) {
    auto& slot = headers[lower(name)];
    slot += (slot.empty() ? "" : ",") + canonical_value(value);
  }
  if (headers.count("host") == 0)
    headers["host"] = split_url(req.url).host;
  return headers;
}

std::string signed_names(const std::map<std::string, std::string>& headers) {
  std::string out;
  for (auto& [name, value] : headers)
    out += (out.empty() ? "" : ";") + name;
  return out;
}

} // namespace

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
         digest);
  return hex(digest, sizeof digest);
}

std::string amz_date(int64_t unix_seconds) {
  auto seconds = static_cast<std::time_t>(unix_seconds);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[17];
  std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &utc);
  return text;
}

std::string canonical_request(const http_request& req) {
  auto parts = split_url(req.url);
  auto headers = signed_headers(req);
  std::string out = req.method + "\n" + canonical_path(parts.path) + "\n" +
                    canonical_query(parts.query) + "\n";
  for (auto& [name, value] : headers)
    out += name + ":" + value + "\n";
  out += "\n" + signed_names(headers) + "\n" + sha256_hex(req.body);
  return out;
}

void sign(http_request& req, const credentials& who, const scope& where,
          int64_t unix_seconds) {
  auto date_time = amz_date(unix_seconds);
  auto date = date_time.substr(0, 8);
  req.headers.emplace_back("X-Amz-Date", date_time);
  if (!who.session_token.empty())
    req.headers.emplace_back("X-Amz-Security-Token", who.session_token);
  auto credential_scope =
      date + "/" + where.region + "/" + where.service + "/aws4_request";
  auto string_to_sign = std::string{algorithm} + "\n" + date_time + "\n" +
                        credential_scope + "\n" +
                        sha256_hex(canonical_request(req));
  auto key =
      hmac(hmac(hmac(hmac("AWS4" + who.secret_access_key, date), where.region),
                where.service),
           "aws4_request");
  auto signature = hmac(key, string_to_sign);
  req.headers.emplace_back(
      "Authorization",
      std::string{algorithm} + " Credential=" + who.access_key_id + "/" +
          credential_scope + ", SignedHeaders=" +
          signed_names(signed_headers(req)) + ", Signature=" +
          hex(reinterpret_cast<const unsigned char*>(signature.data()),
              signature.size()));
}

} // namespace tutti::sigv4
