// engine/src/utf8.hpp on any bytes: `repaired` is always well-formed UTF-8
// and leaves well-formed text as it is; `printable` is well-formed UTF-8
// with no control character left in it, and `for_terminal` none but line
// breaks and tabs.

#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/src/utf8.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace tutti;
using tutti::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto text = tutti::fuzz::text_of(data, size);
  auto valid = utf8::is_valid(text);
  auto repaired = utf8::repaired(text);
  require(utf8::is_valid(repaired), "repaired() is not valid UTF-8");
  require(valid == (repaired == text),
          "repaired() changed valid text or kept invalid text");
  require(utf8::repaired(repaired) == repaired, "repaired() is not stable");
  auto printable = utf8::printable(text);
  require(utf8::is_valid(printable), "printable() is not valid UTF-8");
  for (size_t i = 0; i < printable.size(); ++i) {
    auto b = static_cast<uint8_t>(printable[i]);
    require(b >= 0x20 && b != 0x7F, "printable() kept a control character");
    if (b == 0xC2 && i + 1 < printable.size()) {
      require(static_cast<uint8_t>(printable[i + 1]) >= 0xA0,
              "printable() kept a C1 control character");
    }
  }
  auto terminal = utf8::for_terminal(text);
  require(utf8::is_valid(terminal), "for_terminal() is not valid UTF-8");
  for (size_t i = 0; i < terminal.size(); ++i) {
    auto b = static_cast<uint8_t>(terminal[i]);
    require((b >= 0x20 && b != 0x7F) || b == '\n' || b == '\t',
            "for_terminal() kept a control character");
    if (b == 0xC2 && i + 1 < terminal.size()) {
      require(static_cast<uint8_t>(terminal[i + 1]) >= 0xA0,
              "for_terminal() kept a C1 control character");
    }
  }
  return 0;
}
