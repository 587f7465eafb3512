// The ids and secrets the store names runs and API keys by, and the one
// hash it keeps of a key: never the key itself (docs/store.md).

#include <cctype>
#include <string>
#include <string_view>

#include <openssl/sha.h>

#include "engine/src/random_hex.hpp"
#include "tutti/store.hpp"

namespace tutti {

std::string new_run_id() {
  // Sorted by time, so that a batch's rows land on a few pages of the runs
  // and calls keys, not a random page each (docs/benchmarks.md, "Store CPU
  // per row"); its 64 random bits keep it unguessable.
  return "run_" + time_sorted_hex(24);
}

std::string new_key_secret() {
  return "tutti-sk-" + secret_hex(48);
}

bool looks_like_key_secret(const std::string& text) {
  if (text.size() != 9 + 48 || text.rfind("tutti-sk-", 0) != 0)
    return false;
  for (size_t i = 9; i < text.size(); ++i)
    if (!std::isxdigit(static_cast<unsigned char>(text[i])))
      return false;
  return true;
}

std::string key_hash(const std::string& secret) {
  return sha256_hex(secret);
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
         digest);
  static const char* hex = "0123456789abcdef";
  std::string text;
  for (auto byte : digest) {
    text += hex[byte >> 4];
    text += hex[byte & 0xf];
  }
  return text;
}

} // namespace tutti
