// The endpoint's request guards on any header values: a Host or Origin is
// loopback only when it is spelled with the characters of "localhost" or
// an address (no NUL or anything after it can sneak a name past
// inet_pton); a Last-Event-ID is read only when it is all digits and its
// value is the number written; a bearer token is a part of the header; the
// token comparison is plain equality; method labels stay a fixed set.

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <fuzzer/FuzzedDataProvider.h>

#include "server/guard.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace tutti::http;
using tutti::fuzz::require;

namespace {

/// What a loopback Host may be made of: "localhost" in any case, IPv4 and
/// IPv6 addresses, brackets, a port, surrounding blanks.
bool authority_chars(std::string_view text) {
  for (char c : text) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z') || c == '.' || c == ':' || c == '[' ||
              c == ']' || c == ' ' || c == '\t';
    if (!ok) {
      return false;
    }
  }
  return true;
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto text = tutti::fuzz::text_of(data, size);
  if (is_loopback_authority(text)) {
    require(authority_chars(text), "a loopback Host with odd characters");
  }
  if (is_loopback_origin(text)) {
    auto origin = trimmed(text);
    auto rest = origin.substr(origin.find("://") + 3);
    require(authority_chars(rest), "a loopback Origin with odd characters");
  }
  is_json_content_type(text);
  auto label = method_label(text);
  require(label == text || label == "other", "a method label made up");
  if (auto id = parse_event_id(text)) {
    std::string digits{trimmed(text)};
    errno = 0;
    char* end = nullptr;
    auto value = std::strtoull(digits.c_str(), &end, 10);
    require(errno == 0 && *end == '\0' &&
                digits.find_first_not_of("0123456789") == std::string::npos,
            "an event id read from what is not a number");
    require(value == *id, "an event id read as another number");
  }
  auto token = bearer_token(text);
  if (!token.empty()) {
    require(token.data() >= text.data() &&
                token.data() + token.size() <= text.data() + text.size(),
            "a bearer token that is not part of the header");
    require(token.front() != ' ', "a bearer token starting with a space");
  }
  FuzzedDataProvider in{data, size};
  auto expected = in.ConsumeRandomLengthString(64);
  auto presented = in.ConsumeRemainingBytesAsString();
  require(tokens_match(presented, expected) ==
              (presented == expected && !expected.empty()),
          "tokens_match is not equality");
  return 0;
}
