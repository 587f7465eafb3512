#pragma once

/// The request log's JSON line: one per request, appended to the `--log`
/// file (see docs/fake_llm.md, "Request log").

#include <string>

#include "tools/fake_llm/fake_llm.hpp"

namespace tutti::fake {

/// One request as a line of the log file (without the line end).
std::string arrival_json(const arrival& a);

} // namespace tutti::fake
