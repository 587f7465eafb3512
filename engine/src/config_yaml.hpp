#pragma once

/// How the config reader reads YAML: where a node is in the file (line and
/// column, counted in characters), errors that say so, the keys of a map,
/// typed values (strings, numbers, durations, words), "did you mean"
/// suggestions and `${VAR}` references. Private to the config files under
/// engine/src: each section of a config file (config_providers.cpp,
/// config_ensembles.cpp, config_pipelines.cpp) is read with these.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "tutti/config.hpp"

namespace tutti::config_detail {

using word_list = std::vector<std::string>;

// --- words -----------------------------------------------------------------

/// The candidate closest to `word` if it is close enough to be a typo.
std::string closest(std::string_view word, const word_list& candidates);

/// "; did you mean 'b'?" for a near miss, else nothing.
std::string did_you_mean(std::string_view word, const word_list& candidates);

/// "expected one of: a, b, c" and, for a near miss, "; did you mean 'b'?".
std::string expected_one_of(std::string_view word, const word_list& candidates);

/// "unknown provider 'x'; expected one of: a, b" (or "no providers are
/// defined").
std::string
unknown_provider(const std::string& name,
                 const std::map<std::string, provider_config>& providers);

/// Letters, digits, '_', '-' and '.', starting with a letter, digit or '_':
/// names appear on command lines and in URLs, and '#' is kept for labels.
bool is_valid_name(std::string_view name);

/// "invalid provider name; use letters, ..." for a name `is_valid_name`
/// rejects; `what` says of what ("provider", "limit group").
std::string invalid_name(const std::string& what);

bool is_http_url(std::string_view url);

void strip_trailing_slashes(std::string& url);

/// A header value must not break out of its line: no CR, LF or other
/// control characters except tab.
bool is_header_value(std::string_view value);

/// "250ms", "8s", "2m" or "1h": the largest unit that divides `ms`.
std::string format_duration(int64_t ms);

// --- ${VAR} references -------------------------------------------------------

struct env_reference {
  size_t begin = 0; ///< offset of "${"
  size_t end = 0;   ///< one past "}"
  std::string name;
};

/// "what: message", or `message` alone when `what` is empty.
std::string prefixed(const std::string& what, const std::string& message);

/// Every `${NAME}` in `text`. The text may be a secret, so errors never
/// quote it.
std::vector<env_reference> find_env_references(const std::string& text,
                                               const source_location& where,
                                               const std::string& what);

// --- the YAML stream ---------------------------------------------------------

/// Where `mark` is in `file`, as yaml-cpp counts (bytes): for the parser's
/// own errors, before there is a tree to read.
source_location location_of(const YAML::Mark& mark, const std::string& file);

/// Checks that `text` holds at most one YAML document. yaml-cpp 0.7's
/// `LoadAll` never returns on a stray `,` after a document (each round
/// yields an empty document without consuming the comma, and the list of
/// documents grows until memory runs out), so documents are counted one at
/// a time and a document that starts where the last one did is the error.
void check_single_document(const std::string& text, const std::string& file);

// --- reading the tree --------------------------------------------------------

/// The file being read: its text, its name and where each of its lines
/// begins, in bytes, so that finding a line costs no scan of the file
/// (errors in a file of 40,000 providers used to take seconds each).
struct yaml_source {
  yaml_source(const std::string& text, std::string file);

  const std::string& text;
  std::string file;
  std::vector<size_t> line_starts;
};

/// One key-value pair of a YAML map.
struct map_entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
};

/// The sampling parameters, given flat on the provider or under `params`.
inline const word_list param_keys = {"temperature", "top_p", "max_tokens",
                                     "seed", "stop"};

/// Where each sampling parameter was given: its path and key.
using param_places =
    std::map<std::string, std::pair<std::string, source_location>>;

/// Reads nodes of one file's YAML tree, throwing `config_error` at the first
/// problem with the node's file:line:column and its path (such as
/// "providers.a.rpm") in the message. Each section's reader derives from it
/// privately, so that its code says `fail(...)` and `entries(...)`.
class yaml_reader {
public:
  explicit yaml_reader(const yaml_source& source) : source_(source) {}

  const yaml_source& source() const { return source_; }

  // -- locations and errors

  /// yaml-cpp's marks are 0-based and count bytes; editors count characters
  /// from 1.
  source_location at(const YAML::Node& node) const { return at(node.Mark()); }

  source_location at(const YAML::Mark& mark) const;

  /// The location of the `{{` at `offset` of `value`, the text of the
  /// scalar `node`, with `length` bytes from there written as they are in
  /// the file. The scalar's `{{` pairs are found in the file in the same
  /// order as in its value whatever its style (plain, quoted, `|` or `>`,
  /// on one line or several), so the k-th of the value is the k-th in the
  /// file after the scalar's start. When that text does not match, or lies
  /// past a quoted scalar's closing quote (an escape such as "\x7b" made a
  /// brace), the scalar's own start is used.
  source_location at_braces(const YAML::Node& node, const std::string& value,
                            size_t offset, size_t length) const;

  [[noreturn]] void fail(const source_location& where, const std::string& path,
                         const std::string& message) const;

  [[noreturn]] void fail(const YAML::Node& node, const std::string& path,
                         const std::string& message) const;

  /// The location of `entry`'s value, or of its key when the value is
  /// empty: yaml-cpp marks an empty value at whatever token follows it.
  source_location value_at(const map_entry& entry) const;

  /// What a node is, for "expected X, got Y". Never used on secrets.
  static std::string describe(const YAML::Node& node);

  // -- maps

  /// The entries of `map` in YAML order, each key a unique scalar; with a
  /// non-empty `allowed`, every key must be one of those words.
  std::vector<map_entry> entries(const YAML::Node& map, const std::string& path,
                                 const word_list& allowed) const;

  /// Checks a section's entry `NAME: {...}`: NAME must be a valid name of a
  /// `what` ("provider") and the value a map, which `holds` describes ("at
  /// least 'kind' and 'model'").
  void check_named_map(const map_entry& entry, const std::string& path,
                       const std::string& what, const std::string& holds) const;

  /// The value of `entry`, which must be a map; `example` shows one.
  const YAML::Node& map_value(const map_entry& entry, const std::string& path,
                              const std::string& example) const;

  // -- scalars

  /// The text of a scalar value; `expected` names what was wanted.
  std::string scalar_text(const map_entry& entry, const std::string& path,
                          const std::string& expected) const;

  std::string read_string(const map_entry& entry,
                          const std::string& path) const;

  static bool parse_int(const std::string& text, int64_t& value);

  /// Plain decimal numbers only: no "inf", "nan", hex or exponent.
  static bool parse_number(const std::string& text, double& value);

  int64_t read_int(const map_entry& entry, const std::string& path, int64_t min,
                   int64_t max, const std::string& expected) const;

  double read_number(const map_entry& entry, const std::string& path,
                     double min, double max) const;

  /// Positive numbers such as a vote weight: 0.5, 2, "1.25".
  double read_positive_number(const map_entry& entry, const std::string& path,
                              const std::string& expected) const;

  /// "250ms", "1.5s", "30s", "2m", "1h" or a bare number of seconds; with
  /// `zero_is_none`, also 0 (in any unit), which means "none".
  int64_t read_duration_ms(const map_entry& entry, const std::string& path,
                           bool zero_is_none = false) const;

  /// `budget:` of a provider or an ensemble: `{day: 5, month: 100}` in US
  /// dollars, or one period as "10/day" or "100/month".
  spend_limit read_spend_limit(const map_entry& entry,
                               const std::string& path) const;

  /// `cache:` of a provider or an ensemble: `{ttl: 1h, sampled: false}`.
  cache_policy read_cache_policy(const map_entry& entry,
                                 const std::string& path) const;

  /// A scalar that must be one of `words`.
  std::string read_word(const map_entry& entry, const std::string& path,
                        const word_list& words) const;

  // -- sampling parameters (providers, ensemble members, pipeline steps)

  /// A string or a list of strings.
  std::vector<std::string> read_stop(const map_entry& entry,
                                     const std::string& path) const;

  /// One sampling parameter, flat or under `params`; each may be given in
  /// only one of the two places.
  void read_param(const map_entry& field, const std::string& field_path,
                  chat_params& defaults, param_places& seen) const;

  /// `params: {...}`, a map of sampling parameters (`example` shows one);
  /// `seen` holds those already given.
  void read_params(const map_entry& field, const std::string& field_path,
                   const std::string& example, chat_params& params,
                   param_places& seen) const;

  /// Members and steps take their sampling parameters under `params` only:
  /// a flat one in `map` is an unknown key whose message says where it goes
  /// (`whose`: "a member's"; `example`: "{temperature: 0.9}").
  void reject_flat_params(const YAML::Node& map, const std::string& path,
                          const std::string& whose,
                          const std::string& example) const;

private:
  int character_column(const YAML::Mark& mark) const;

  /// Where the text of the file's line `line` (0-based) begins, in bytes;
  /// npos past the end.
  size_t line_begin(int line) const;

  /// The location of byte `pos` of the file.
  source_location at_byte(size_t pos) const;

  /// Where the quoted scalar starting at byte `begin` ends (its closing
  /// quote); npos if it is not quoted or not closed.
  size_t quoted_end(size_t begin) const;

  const yaml_source& source_;
};

} // namespace tutti::config_detail
