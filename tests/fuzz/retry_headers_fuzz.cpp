// The retry rules on any response headers an upstream sends (an HTTP head,
// "Name: value" per line): `retry_after_ms` and every codec's
// `server_limits_of` read them or ignore them, never a negative wait or reset;
// go durations are never negative.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/fuzz/builtin_codecs.hpp"
#include "tests/fuzz/fuzz_check.hpp"
#include "tutti/registry.hpp"
#include "tutti/retry.hpp"

using namespace tutti;
using tutti::fuzz::builtin_codecs;
using tutti::fuzz::require;

namespace {

/// 2026-12-06T00:00:00Z, a fixed "now".
constexpr int64_t now_ms = 1796515200000;

header_list headers_of(std::string_view text) {
  header_list headers;
  size_t start = 0;
  while (start < text.size()) {
    auto end = std::min(text.find('\n', start), text.size());
    auto line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    auto colon = line.find(':');
    if (colon != std::string_view::npos) {
      auto value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') {
        value.remove_prefix(1);
      }
      headers.emplace_back(std::string{line.substr(0, colon)},
                           std::string{value});
    }
    start = end + 1;
  }
  return headers;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto headers = headers_of(tutti::fuzz::text_of(data, size));
  if (auto wait = retry_after_ms(headers, now_ms)) {
    require(*wait >= 0, "a negative Retry-After");
  }
  for (const auto& c : builtin_codecs()) {
    auto limits = c->server_limits_of(headers, now_ms);
    for (const auto* budget : {&limits.requests, &limits.tokens}) {
      if (budget->known()) {
        require(budget->remaining >= 0 && budget->reset_in_ms >= 0,
                "a negative budget or reset");
      }
    }
  }
  for (const auto& [name, value] : headers) {
    if (auto ms = parse_go_duration_ms(value)) {
      require(*ms >= 0, "a negative duration");
    }
  }
  return 0;
}
