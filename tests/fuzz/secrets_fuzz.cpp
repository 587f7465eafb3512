// engine/src/secrets.hpp: whatever the text and the secret, what
// `redact_secret` returns holds neither the secret, nor its URL-encoded
// form, nor any 8 of its characters in a row (for secrets of at least 4
// characters, the ones it looks for); the same for each of two secrets
// given to `redact_secrets` at once (a key and a credential header).
// `host_of_url` returns a part of the URL.

#include <cstddef>
#include <cstdint>
#include <string>

#include <fuzzer/FuzzedDataProvider.h>

#include "engine/src/secrets.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace tutti;
using tutti::fuzz::require;

namespace {

std::string url_encoded(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
        c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

/// Whether `text` holds `secret` or any `run` bytes of it in a row.
bool shows(const std::string& text, const std::string& secret, size_t run) {
  run = std::min(run, secret.size());
  for (size_t i = 0; i + run <= secret.size(); ++i) {
    if (text.find(secret.substr(i, run)) != std::string::npos) {
      return true;
    }
  }
  return false;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in{data, size};
  auto secret = in.ConsumeRandomLengthString(96);
  auto other = in.ConsumeRandomLengthString(96);
  auto text = in.ConsumeRemainingBytesAsString();
  auto both = redact_secrets(text, {secret, other});
  for (auto& one : {secret, other})
    if (one.size() >= 4) {
      require(!shows(both, one, 8), "one of two secrets, or 8 bytes, is left");
      require(!shows(both, url_encoded(one), 8),
              "one of two URL-encoded secrets, or 8 bytes of it, is left");
    }
  auto out = redact_secret(text, secret);
  if (secret.size() >= 4) {
    require(!shows(out, secret, 8), "the secret, or 8 bytes of it, is left");
    require(!shows(out, url_encoded(secret), 8),
            "the URL-encoded secret, or 8 bytes of it, is left");
  } else {
    require(out == text, "a secret too short to look for changed the text");
  }
  auto host = host_of_url(text);
  require(text.find(host) != std::string::npos, "host_of_url made up a host");
  return 0;
}
