// The config loader on any text: it returns a config or throws
// `config_error`, whose message is valid UTF-8 and names the file; nothing
// else escapes, nothing crashes or hangs. An accepted config's strategies
// build from their settings, as the loader checked.

#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/src/utf8.hpp"
#include "tests/fuzz/fuzz_check.hpp"
#include "tutti/config.hpp"
#include "tutti/registry.hpp"

using namespace tutti;
using tutti::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text{tutti::fuzz::text_of(data, size)};
  config cfg;
  try {
    cfg = parse_config(text, "fuzz.yaml");
  } catch (const config_error& e) {
    std::string_view what = e.what();
    require(utf8::is_valid(what), "a config error is not valid UTF-8");
    require(what.substr(0, 9) == "fuzz.yaml", "a config error names no file");
    return 0;
  }
  for (const auto& [name, ensemble] : cfg.ensembles) {
    auto strategy = registry::builtin().make_combine(ensemble.combine,
                                                     ensemble.combine_settings);
    require(strategy != nullptr, "an accepted ensemble has no strategy");
    require(!ensemble.members.empty(), "an accepted ensemble has no member");
    for (const auto& member : ensemble.members) {
      require(cfg.providers.count(member.provider) == 1,
              "an ensemble member names no provider");
    }
  }
  for (const auto& [name, provider] : cfg.providers) {
    require(registry::builtin().make_codec(provider.kind) != nullptr,
            "an accepted provider has no codec");
  }
  return 0;
}
