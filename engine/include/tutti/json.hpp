#pragma once

/// JSON forms of tutti's values, as the CLI's `--json` prints them and the
/// HTTP endpoint will return them. Field names are stable.

#include <string>

#include "tutti/messages.hpp"

namespace tutti {

std::string to_json(const member_outcome& outcome, bool pretty = false);
std::string to_json(const ensemble_answer& answer, bool pretty = false);
/// Each step with its ensemble answer as above (null when it never ran).
std::string to_json(const pipeline_result& result, bool pretty = false);

} // namespace tutti
