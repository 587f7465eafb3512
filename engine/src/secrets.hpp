#pragma once

/// Keeping secrets out of what tutti says: an upstream's error text can echo
/// the key it was sent (whole, cut short, URL-encoded), and libcurl's
/// messages name hosts. Both pass through here before they reach a failure
/// that may be printed, logged, stored or returned over HTTP.

#include <string>
#include <string_view>
#include <vector>

namespace tutti {

/// `text` with every piece of `secret` replaced by "[redacted]": the whole
/// secret, its URL-encoded form, and any run of at least 8 of its
/// characters in a row (a vendor that quotes a prefix, a suffix or the
/// middle of a key). A secret shorter than 4 characters is not looked for
/// (it would match ordinary words).
std::string redact_secret(std::string text, std::string_view secret);

/// `text` with every piece of each of `secrets` redacted as above, all
/// marked in the original text before any is replaced.
std::string redact_secrets(std::string text,
                           const std::vector<std::string_view>& secrets);

/// Whether a request header of this name carries a credential, so its value
/// is redacted like the key: a name holding (in any case) "auth", "key",
/// "token", "secret", "password", "passwd", "credential", "session",
/// "cookie", "bearer", "signature" or "jwt" (Authorization, x-api-key,
/// x-portkey-api-key, cf-aig-authorization, x-amz-signature...).
/// Other header values ("anthropic-beta: ...") stay: redacting every value
/// would blank ordinary words out of error messages.
bool is_credential_header(std::string_view name);

/// The host of an http(s) URL ("https://user@api.example.com:443/v1" ->
/// "api.example.com"); empty when there is none.
std::string host_of_url(std::string_view url);

/// `text` with each occurrence of `host` replaced by "[host]".
std::string redact_host(std::string text, std::string_view host);

} // namespace tutti
