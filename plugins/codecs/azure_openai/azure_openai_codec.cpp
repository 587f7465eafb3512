#include "plugins/codecs/azure_openai/azure_openai_codec.hpp"

#include <utility>

#include "plugins/codecs/openai/openai_wire.hpp"

namespace tutti {

std::unique_ptr<codec> make_azure_openai_codec() {
  openai_dialect dialect;
  dialect.default_base_url = ""; // names the resource and the deployment
  dialect.key_header = openai_key_header::api_key;
  dialect.default_api_version = azure_openai_default_api_version;
  return make_openai_wire_codec(std::move(dialect));
}

} // namespace tutti
