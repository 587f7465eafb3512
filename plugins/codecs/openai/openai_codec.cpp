#include "plugins/codecs/openai/openai_codec.hpp"

#include <utility>

#include "plugins/codecs/openai/openai_wire.hpp"

namespace tutti {

std::unique_ptr<codec> make_openai_codec() {
  openai_dialect dialect;
  dialect.default_base_url = "https://api.openai.com/v1";
  dialect.key_header = openai_key_header::bearer;
  dialect.max_tokens_field = "max_completion_tokens";
  return make_openai_wire_codec(std::move(dialect));
}

} // namespace tutti
