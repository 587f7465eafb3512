#pragma once

/// AWS Signature Version 4, as Amazon Bedrock (and every AWS API) wants
/// its requests signed. Pure: the time it signs with is passed in, never
/// read here, so the same request, credentials and time always give the
/// same signature; tests/unit/sigv4_test.cpp checks it against AWS's
/// published test suite.

#include <cstdint>
#include <string>
#include <string_view>

#include "tutti/codec.hpp"

namespace tutti::sigv4 {

/// Who signs: an access key, and for temporary credentials a session token.
struct credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token; ///< empty for long-term keys
};

/// What the signature is for: an AWS region and service ("bedrock").
struct scope {
  std::string region;
  std::string service;
};

/// Signs `req` in place at `unix_seconds`: adds `X-Amz-Date`, with a
/// session token `X-Amz-Security-Token`, and `Authorization`. Every header
/// the request carries is signed, and `host` (from the URL when there is no
/// Host header). The path is signed as sent, encoded once more, as AWS
/// does for every service but S3; the query as sent, sorted.
void sign(http_request& req, const credentials& who, const scope& where,
          int64_t unix_seconds);

/// `unix_seconds` as SigV4 writes it: "20150830T123600Z".
std::string amz_date(int64_t unix_seconds);

/// The canonical request SigV4 hashes, for a request already carrying its
/// `X-Amz-Date` (and token): method, canonical path, sorted query, signed
/// headers with their values, their names, the body's SHA-256.
std::string canonical_request(const http_request& req);

/// The lowercase hex SHA-256 of `bytes`.
std::string sha256_hex(std::string_view bytes);

} // namespace tutti::sigv4
