#include "plugins/codecs/openai_compatible/openai_compatible_codec.hpp"

#include <utility>

#include "plugins/codecs/openai/openai_wire.hpp"

namespace tutti {

std::unique_ptr<codec> make_openai_compatible_codec() {
  openai_dialect dialect;
  dialect.default_base_url = ""; // every server lives somewhere else
  dialect.key_header = openai_key_header::bearer;
  dialect.accepts_unterminated_stream = true;
  return make_openai_wire_codec(std::move(dialect));
}

} // namespace tutti
