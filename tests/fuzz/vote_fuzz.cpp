// The vote strategy's answer reading on any reply, with a fixed set of
// `extract:` regexes: RE2 reads in time linear in the reply; an answer read
// is a non-blank part of the reply; the normalized form of an answer is
// stable (normalizing it again changes nothing).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "plugins/combine/vote/vote.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace tutti;
using tutti::fuzz::require;

namespace {

const std::vector<answer_reader>& readers() {
  static const std::vector<answer_reader> all = {
      answer_reader{},
      answer_reader{R"((?i)answer\s*[:=]\s*([A-E]))"},
      answer_reader{R"(-?\d+(?:\.\d+)?)"},
      answer_reader{R"((?s)<answer>(.*?)</answer>)"},
      answer_reader{R"(\*\*(.+?)\*\*)"},
      answer_reader{R"((?m)^Final: (.*)$)"},
      answer_reader{R"((yes)|(no)|(maybe))"},
      answer_reader{R"(\b)"},
      answer_reader{R"((\s*))"},
      answer_reader{R"((?i)(?:the answer is|therefore)\s+(\S+))"},
  };
  return all;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto reply = tutti::fuzz::text_of(data, size);
  for (const auto& reader : readers()) {
    auto answer = reader.read(reply);
    if (!answer) {
      continue;
    }
    require(answer->find_first_not_of(" \t\r\n") != std::string::npos,
            "a blank answer");
    require(reply.find(*answer) != std::string_view::npos,
            "an answer that is not part of the reply");
    auto normal = normalize_answer(*answer);
    require(normalize_answer(normal) == normal,
            "normalizing an answer twice changes it");
  }
  auto normal = normalize_answer(reply);
  require(normalize_answer(normal) == normal,
          "normalizing a reply twice changes it");
  return 0;
}
