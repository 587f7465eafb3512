#pragma once

/// JSON forms of tutti's values, as the CLI's `--json` prints them and the
/// HTTP endpoint will return them. Field names are stable.

#include <string>

#include <vector>

#include "tutti/messages.hpp"
#include "tutti/store.hpp"

namespace tutti {

std::string to_json(const member_outcome& outcome, bool pretty = false);
std::string to_json(const ensemble_answer& answer, bool pretty = false);
/// Each step with its ensemble answer as above (null when it never ran).
std::string to_json(const pipeline_result& result, bool pretty = false);

/// A stored run as `tutti runs show --json` and `GET /v1/runs/{id}` show it
/// (docs/store.md): its steps and calls included when it has them.
std::string to_json(const stored_run& run, bool pretty = false);
/// {"object": "list", "data": [runs...], "next_cursor": ...}
std::string to_json(const run_page& page, bool pretty = false);
/// {"object": "list", "by": ..., "per": ..., "data": [rows...]}
std::string to_json(const stats_query& query,
                    const std::vector<stats_row>& rows, bool pretty = false);

} // namespace tutti
