#pragma once

#include <memory>

#include "tutti/codec.hpp"

namespace tutti {

/// The `api-version` sent when the provider sets none.
inline constexpr const char* azure_openai_default_api_version = "2024-10-21";

/// `kind: azure-openai` — OpenAI models deployed on Azure. Needs a
/// `base_url` naming the deployment
/// (`https://RESOURCE.openai.azure.com/openai/deployments/DEPLOYMENT`);
/// posts to `{base_url}/chat/completions?api-version=...` with the key in an
/// `api-key` header.
std::unique_ptr<codec> make_azure_openai_codec();

} // namespace tutti
