// Every built-in plugin, registered under the word users write in YAML after
// `kind:` (codecs) or `combine:` (strategies). Grep for a YAML word, find it.

#include "tutti/registry.hpp"

#include "plugins/codecs/openai/openai_codec.hpp"
#include "plugins/combine/collect/collect.hpp"

namespace tutti {

void register_builtin_plugins(registry& reg) {
  reg.add_codec("openai", make_openai_codec);
  reg.add_combine("collect", make_collect);
}

} // namespace tutti
