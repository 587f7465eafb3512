#pragma once

#include <memory>

#include "tutti/codec.hpp"

namespace tutti {

/// `kind: bedrock` — Amazon Bedrock's Converse API (`/converse`, and
/// `/converse-stream` as an AWS event stream), requests signed with SigV4.
std::unique_ptr<codec> make_bedrock_codec();

} // namespace tutti
