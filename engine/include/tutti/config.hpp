#pragma once

/// The YAML configuration: providers and ensembles. Loading validates
/// everything it can without the environment; `${VAR}` references in API keys
/// are resolved later, only for the providers a command actually uses.

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "tutti/messages.hpp"

namespace tutti {

/// A place in a config file, 1-based as editors show it.
struct source_location {
  std::string file;
  int line = 0;
  int column = 0;
};

/// "file:line:column"
std::string to_string(const source_location& loc);

/// A configuration error; `what()` reads "file:line:column: message".
class config_error : public std::runtime_error {
public:
  config_error(const source_location& where, const std::string& message);
  const source_location& where() const { return where_; }

private:
  source_location where_;
};

/// One configured upstream.
struct provider_config {
  std::string name;
  std::string kind; ///< codec name: openai, ...
  std::string model;
  std::string base_url; ///< without trailing slash; the codec's default if
                        ///< the YAML omits it
  std::string api_key;  ///< raw YAML text, e.g. "${OPENAI_API_KEY}"
  int concurrency = 4;  ///< requests in flight at once
  chat_params defaults; ///< temperature, top_p, max_tokens, seed, stop
  source_location where;
};

/// One member of an ensemble: a reference to a provider.
struct member_config {
  std::string provider;
  std::string label; ///< unique within the ensemble; the provider name
                     ///< unless the same provider appears twice
  source_location where;
};

/// A named ensemble.
struct ensemble_config {
  std::string name;
  std::vector<member_config> members;
  std::string until = "all";
  std::string combine = "collect";
  int64_t deadline_ms = 60000;
  source_location where;
};

struct config {
  std::string file;
  std::map<std::string, provider_config> providers;
  std::map<std::string, ensemble_config> ensembles;
};

/// Loads and validates a config file. Throws `config_error`.
config load_config(const std::string& path);

/// Same, from YAML text; `file` names it in error messages.
config parse_config(const std::string& yaml_text, const std::string& file);

/// Replaces each `${VAR}` in `text` with the environment's value. Throws
/// `config_error` at `where` naming the first unset variable.
std::string expand_env(const std::string& text, const source_location& where);

/// Expands `${VAR}` in the api_key and base_url of the providers named in
/// `used`, leaving the others untouched. Throws `config_error`.
void resolve_env(config& cfg, const std::vector<std::string>& used);

} // namespace tutti
