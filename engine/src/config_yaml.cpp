#include "engine/src/config_yaml.hpp"

#include "engine/src/names.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <sstream>
#include <system_error>

#include <yaml-cpp/eventhandler.h>

namespace tutti::config_detail {

namespace {

/// Optimal string alignment distance: Levenshtein plus adjacent swaps, so
/// "gtp" is one edit from "gpt".
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1,
                                     std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) {
    d[i][0] = i;
  }
  for (size_t j = 0; j <= b.size(); ++j) {
    d[0][j] = j;
  }
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] =
          std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

bool is_env_name(std::string_view name) {
  if (name.empty()) {
    return false;
  }
  auto alpha = [](char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
  };
  if (!alpha(name.front())) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [&](char c) {
    return alpha(c) || std::isdigit(static_cast<unsigned char>(c));
  });
}

constexpr int64_t max_deadline_ms = 24LL * 60 * 60 * 1000;

/// Notes where each document of a YAML stream starts, and nothing else.
class document_starts : public YAML::EventHandler {
public:
  std::vector<YAML::Mark> marks;

  void OnDocumentStart(const YAML::Mark& mark) override {
    marks.push_back(mark);
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

} // namespace

// --- words -----------------------------------------------------------------

std::string closest(std::string_view word, const word_list& candidates) {
  std::string best;
  size_t best_distance = 0;
  for (const auto& candidate : candidates) {
    size_t limit = std::max<size_t>(1, candidate.size() / 4);
    size_t distance = edit_distance(word, candidate);
    if (distance <= limit && (best.empty() || distance < best_distance)) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::string did_you_mean(std::string_view word, const word_list& candidates) {
  auto guess = closest(word, candidates);
  return guess.empty() ? std::string{} : "; did you mean '" + guess + "'?";
}

std::string expected_one_of(std::string_view word,
                            const word_list& candidates) {
  return "expected one of: " + join_names(candidates) +
         did_you_mean(word, candidates);
}

std::string
unknown_provider(const std::string& name,
                 const std::map<std::string, provider_config>& providers) {
  auto names = keys_of(providers);
  return "unknown provider '" + name + "'; " +
         (names.empty() ? std::string{"no providers are defined"}
                        : expected_one_of(name, names));
}

bool is_valid_name(std::string_view name) {
  if (name.empty()) {
    return false;
  }
  auto word_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  };
  if (!word_char(name.front())) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [&](char c) {
    return word_char(c) || c == '-' || c == '.';
  });
}

std::string invalid_name(const std::string& what) {
  return "invalid " + what +
         " name; use letters, digits, '_', '-' and '.', starting with a "
         "letter, digit or '_'";
}

bool is_http_url(std::string_view url) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (url.size() > scheme.size() && url.substr(0, scheme.size()) == scheme) {
      return true;
    }
  }
  return false;
}

void strip_trailing_slashes(std::string& url) {
  while (!url.empty() && url.back() == '/') {
    url.pop_back();
  }
}

bool is_header_value(std::string_view value) {
  return std::none_of(value.begin(), value.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && u != '\t') || u == 0x7F;
  });
}

std::string format_duration(int64_t ms) {
  if (ms != 0 && ms % (60 * 60 * 1000) == 0) {
    return std::to_string(ms / (60 * 60 * 1000)) + "h";
  }
  if (ms != 0 && ms % (60 * 1000) == 0) {
    return std::to_string(ms / (60 * 1000)) + "m";
  }
  if (ms % 1000 == 0) {
    return std::to_string(ms / 1000) + "s";
  }
  return std::to_string(ms) + "ms";
}

// --- ${VAR} references -------------------------------------------------------

std::string prefixed(const std::string& what, const std::string& message) {
  return what.empty() ? message : what + ": " + message;
}

std::vector<env_reference> find_env_references(const std::string& text,
                                               const source_location& where,
                                               const std::string& what) {
  std::vector<env_reference> result;
  size_t pos = 0;
  while ((pos = text.find("${", pos)) != std::string::npos) {
    auto close = text.find('}', pos + 2);
    if (close == std::string::npos) {
      throw config_error(where, prefixed(what, "'${' without a closing '}'"));
    }
    auto name = text.substr(pos + 2, close - pos - 2);
    if (!is_env_name(name)) {
      throw config_error(
          where, prefixed(what, "invalid environment variable reference; "
                                "expected ${NAME} where NAME is letters, "
                                "digits and '_', not starting with a digit"));
    }
    result.push_back({pos, close + 1, std::move(name)});
    pos = close + 1;
  }
  return result;
}

// --- the YAML stream ---------------------------------------------------------

source_location location_of(const YAML::Mark& mark, const std::string& file) {
  if (mark.is_null()) {
    return {file, 0, 0};
  }
  return {file, mark.line + 1, mark.column + 1};
}

void check_single_document(const std::string& text, const std::string& file) {
  std::istringstream in{text};
  YAML::Parser parser{in};
  document_starts starts;
  while (starts.marks.size() < 2 && parser.HandleNextDocument(starts)) {
  }
  if (starts.marks.size() < 2) {
    return;
  }
  auto& second = starts.marks[1];
  auto at = static_cast<size_t>(second.pos);
  bool new_document = at < text.size() && text.compare(at, 3, "---") == 0;
  if (!new_document && at < text.size()) {
    auto bytes = text.substr(at, 1);
    throw config_error(location_of(second, file),
                       "invalid YAML: unexpected '" + bytes + "'");
  }
  throw config_error(location_of(second, file),
                     "expected one YAML document, found more than one");
}

// --- reading the tree --------------------------------------------------------

yaml_source::yaml_source(const std::string& text, std::string file)
    : text(text), file(std::move(file)) {
  // yaml-cpp does not count a byte order mark.
  line_starts.push_back(text.rfind("\xEF\xBB\xBF", 0) == 0 ? 3 : 0);
  for (auto nl = text.find('\n'); nl != std::string::npos;
       nl = text.find('\n', nl + 1)) {
    line_starts.push_back(nl + 1);
  }
}

source_location yaml_reader::at(const YAML::Mark& mark) const {
  if (mark.is_null()) {
    return {source_.file, 0, 0};
  }
  return {source_.file, mark.line + 1, character_column(mark) + 1};
}

source_location yaml_reader::at_braces(const YAML::Node& node,
                                       const std::string& value, size_t offset,
                                       size_t length) const {
  auto mark = node.Mark();
  if (mark.is_null()) {
    return at(node);
  }
  size_t k = 0;
  size_t pos = 0;
  while ((pos = value.find("{{", pos)) != std::string::npos && pos < offset) {
    ++k;
    pos += 2;
  }
  auto start = line_begin(mark.line);
  if (pos != offset || start == std::string::npos) {
    return at(node);
  }
  auto source = start + static_cast<size_t>(mark.column);
  auto end = quoted_end(source);
  for (size_t i = 0;; ++i) {
    source = source_.text.find("{{", source);
    if (source == std::string::npos) {
      return at(node);
    }
    if (i == k) {
      break;
    }
    source += 2;
  }
  if (source + length > end ||
      source_.text.compare(source, length, value, offset, length) != 0) {
    return at(node);
  }
  return at_byte(source);
}

void yaml_reader::fail(const source_location& where, const std::string& path,
                       const std::string& message) const {
  throw config_error(where, prefixed(path, message));
}

void yaml_reader::fail(const YAML::Node& node, const std::string& path,
                       const std::string& message) const {
  fail(at(node), path, message);
}

source_location yaml_reader::value_at(const map_entry& entry) const {
  return at(entry.value.IsNull() ? entry.key_node : entry.value);
}

std::string yaml_reader::describe(const YAML::Node& node) {
  if (node.IsMap()) {
    return "a map";
  }
  if (node.IsSequence()) {
    return "a list";
  }
  if (node.IsNull()) {
    return "nothing";
  }
  auto text = node.Scalar();
  if (text.size() > 40) {
    text = text.substr(0, 37) + "...";
  }
  return "'" + text + "'";
}

std::vector<map_entry> yaml_reader::entries(const YAML::Node& map,
                                            const std::string& path,
                                            const word_list& allowed) const {
  std::vector<map_entry> result;
  std::map<std::string, YAML::Node> seen;
  for (auto pair : map) {
    const YAML::Node& key_node = pair.first;
    if (!key_node.IsScalar()) {
      fail(key_node, path,
           "expected a plain word as a key, got " + describe(key_node));
    }
    auto key = key_node.Scalar();
    if (!allowed.empty() &&
        std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      auto what = path.empty() ? "unknown top-level key '" + key + "'"
                               : "unknown key '" + key + "'";
      fail(key_node, path, what + "; " + expected_one_of(key, allowed));
    }
    if (auto first = seen.find(key); first != seen.end()) {
      fail(key_node, path,
           "duplicate key '" + key + "' (first defined at line " +
               std::to_string(at(first->second).line) + ")");
    }
    seen.emplace(key, key_node);
    result.push_back({key, key_node, pair.second});
  }
  return result;
}

void yaml_reader::check_named_map(const map_entry& entry,
                                  const std::string& path,
                                  const std::string& what,
                                  const std::string& holds) const {
  if (!is_valid_name(entry.key)) {
    fail(entry.key_node, path, invalid_name(what));
  }
  if (!entry.value.IsMap()) {
    fail(value_at(entry), path,
         "expected a map with " + holds + ", got " + describe(entry.value));
  }
}

const YAML::Node& yaml_reader::map_value(const map_entry& entry,
                                         const std::string& path,
                                         const std::string& example) const {
  if (!entry.value.IsMap()) {
    fail(value_at(entry), path,
         "expected a map such as " + example + ", got " +
             describe(entry.value));
  }
  return entry.value;
}

std::string yaml_reader::scalar_text(const map_entry& entry,
                                     const std::string& path,
                                     const std::string& expected) const {
  if (!entry.value.IsScalar()) {
    fail(value_at(entry), path,
         "expected " + expected + ", got " + describe(entry.value));
  }
  return entry.value.Scalar();
}

std::string yaml_reader::read_string(const map_entry& entry,
                                     const std::string& path) const {
  auto text = scalar_text(entry, path, "a string");
  if (text.empty()) {
    fail(entry.value, path, "expected a non-empty string");
  }
  return text;
}

bool yaml_reader::parse_int(const std::string& text, int64_t& value) {
  auto first = text.data();
  auto last = text.data() + text.size();
  auto [end, ec] = std::from_chars(first, last, value);
  return ec == std::errc{} && end == last && !text.empty();
}

bool yaml_reader::parse_number(const std::string& text, double& value) {
  auto first = text.data();
  auto last = text.data() + text.size();
  auto [end, ec] =
      std::from_chars(first, last, value, std::chars_format::fixed);
  return ec == std::errc{} && end == last && !text.empty() &&
         std::isfinite(value);
}

int64_t yaml_reader::read_int(const map_entry& entry, const std::string& path,
                              int64_t min, int64_t max,
                              const std::string& expected) const {
  auto text = scalar_text(entry, path, expected);
  int64_t value = 0;
  if (!parse_int(text, value) || value < min || value > max) {
    fail(entry.value, path,
         "expected " + expected + ", got " + describe(entry.value));
  }
  return value;
}

double yaml_reader::read_number(const map_entry& entry, const std::string& path,
                                double min, double max) const {
  auto expected = "a number from " + std::to_string(int(min)) + " to " +
                  std::to_string(int(max));
  auto text = scalar_text(entry, path, expected);
  double value = 0;
  if (!parse_number(text, value) || value < min || value > max) {
    fail(entry.value, path,
         "expected " + expected + ", got " + describe(entry.value));
  }
  return value;
}

double yaml_reader::read_positive_number(const map_entry& entry,
                                         const std::string& path,
                                         const std::string& expected) const {
  auto text = scalar_text(entry, path, expected);
  double value = 0;
  if (!parse_number(text, value) || value <= 0) {
    fail(entry.value, path,
         "expected " + expected + ", got " + describe(entry.value));
  }
  return value;
}

int64_t yaml_reader::read_duration_ms(const map_entry& entry,
                                      const std::string& path,
                                      bool zero_is_none) const {
  const std::string expected =
      zero_is_none ? "a duration such as 250ms, 1.5s, 30s or 2m (a bare "
                     "number is seconds; 0 is none)"
                   : "a duration such as 250ms, 1.5s, 30s or 2m (a bare "
                     "number is seconds)";
  auto text = scalar_text(entry, path, expected);
  auto unit_at = text.find_first_not_of("0123456789.");
  auto number = text.substr(0, unit_at);
  auto unit = unit_at == std::string::npos ? "" : text.substr(unit_at);
  double value = 0;
  double scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1000;
  } else if (unit == "ms") {
    scale = 1;
  } else if (unit == "m") {
    scale = 60 * 1000;
  } else if (unit == "h") {
    scale = 60 * 60 * 1000;
  }
  if (scale == 0 || !parse_number(number, value)) {
    fail(entry.value, path,
         "expected " + expected + ", got " + describe(entry.value));
  }
  if (zero_is_none && value == 0) {
    return 0;
  }
  auto ms = value * scale;
  if (ms > double(max_deadline_ms)) {
    fail(entry.value, path, "must be at most 24h");
  }
  auto rounded = std::llround(ms);
  if (rounded <= 0) {
    fail(entry.value, path,
         zero_is_none ? "must be 0 (none) or at least 1ms"
                      : "must be at least 1ms");
  }
  return rounded;
}

spend_limit yaml_reader::read_spend_limit(const map_entry& entry,
                                          const std::string& path) const {
  spend_limit result;
  if (!entry.value.IsMap()) {
    auto text = scalar_text(entry, path, "a budget such as 10/day");
    std::string why;
    if (!parse_spend_limit(text, result, why))
      fail(entry.value, path, why);
    return result;
  }
  for (auto& field : entries(map_value(entry, path, "{day: 5, month: 100}"),
                             path, {"day", "month"})) {
    auto field_path = path + "." + field.key;
    auto usd = read_number(field, field_path, 0, max_budget_usd);
    (field.key == "day" ? result.day_usd : result.month_usd) = usd;
  }
  return result;
}

cache_policy yaml_reader::read_cache_policy(const map_entry& entry,
                                            const std::string& path) const {
  cache_policy result;
  bool has_ttl = false;
  for (auto& field :
       entries(map_value(entry, path, "{ttl: 1h}"), path, {"ttl", "sampled"})) {
    auto field_path = path + "." + field.key;
    if (field.key == "ttl") {
      result.ttl_ms = read_duration_ms(field, field_path);
      has_ttl = true;
    } else {
      result.sampled =
          read_word(field, field_path, {"true", "false"}) == "true";
    }
  }
  if (!has_ttl)
    fail(entry.value, path,
         "missing required key 'ttl'; expected a map such as {ttl: 1h}");
  return result;
}

std::string yaml_reader::read_word(const map_entry& entry,
                                   const std::string& path,
                                   const word_list& words) const {
  auto word = scalar_text(entry, path, "one of: " + join_names(words));
  if (std::find(words.begin(), words.end(), word) == words.end()) {
    fail(entry.value, path,
         "unsupported value '" + word + "'; " + expected_one_of(word, words));
  }
  return word;
}

std::vector<std::string> yaml_reader::read_stop(const map_entry& entry,
                                                const std::string& path) const {
  const std::string expected = "a string or a list of strings";
  if (entry.value.IsScalar()) {
    return {read_string(entry, path)};
  }
  if (!entry.value.IsSequence()) {
    fail(value_at(entry), path,
         "expected " + expected + ", got " + describe(entry.value));
  }
  std::vector<std::string> result;
  for (size_t i = 0; i < entry.value.size(); ++i) {
    auto item = entry.value[i];
    auto item_path = path + "[" + std::to_string(i) + "]";
    if (!item.IsScalar() || item.Scalar().empty()) {
      fail(item.IsNull() ? entry.value : item, item_path,
           "expected a non-empty string, got " + describe(item));
    }
    result.push_back(item.Scalar());
  }
  return result;
}

void yaml_reader::read_param(const map_entry& field,
                             const std::string& field_path,
                             chat_params& defaults, param_places& seen) const {
  auto here = at(field.key_node);
  if (auto first = seen.find(field.key); first != seen.end()) {
    const auto& [first_path, first_at] = first->second;
    fail(here, field_path,
         "also given as " + first_path + " (line " +
             std::to_string(first_at.line) +
             "); give each sampling parameter either directly on the "
             "provider or under 'params', not both");
  }
  seen.emplace(field.key, std::make_pair(field_path, here));
  if (field.key == "temperature") {
    defaults.temperature = read_number(field, field_path, 0, 2);
  } else if (field.key == "top_p") {
    defaults.top_p = read_number(field, field_path, 0, 1);
  } else if (field.key == "max_tokens") {
    defaults.max_tokens = read_int(field, field_path, 1, max_tokens_limit,
                                   "a positive integer up to " +
                                       std::to_string(max_tokens_limit));
  } else if (field.key == "seed") {
    defaults.seed =
        read_int(field, field_path, INT64_MIN, INT64_MAX, "an integer");
  } else if (field.key == "stop") {
    defaults.stop = read_stop(field, field_path);
  }
}

void yaml_reader::read_params(const map_entry& field,
                              const std::string& field_path,
                              const std::string& example, chat_params& params,
                              param_places& seen) const {
  const auto& map = map_value(field, field_path, example);
  for (auto& param : entries(map, field_path, param_keys)) {
    read_param(param, field_path + "." + param.key, params, seen);
  }
}

void yaml_reader::reject_flat_params(const YAML::Node& map,
                                     const std::string& path,
                                     const std::string& whose,
                                     const std::string& example) const {
  for (auto pair : map) {
    const auto& key = pair.first;
    if (key.IsScalar() && std::find(param_keys.begin(), param_keys.end(),
                                    key.Scalar()) != param_keys.end()) {
      fail(key, path,
           "unknown key '" + key.Scalar() + "'; " + whose +
               " sampling parameters go under 'params', such as params: " +
               example);
    }
  }
}

int yaml_reader::character_column(const YAML::Mark& mark) const {
  auto begin = line_begin(mark.line);
  if (begin == std::string::npos) {
    return mark.column;
  }
  auto end = std::min(source_.text.size(), begin + mark.column);
  int column = 0;
  for (auto i = begin; i < end; ++i) {
    if ((static_cast<unsigned char>(source_.text[i]) & 0xC0) != 0x80) {
      ++column;
    }
  }
  return column;
}

size_t yaml_reader::line_begin(int line) const {
  if (line < 0 || static_cast<size_t>(line) >= source_.line_starts.size()) {
    return std::string::npos;
  }
  return source_.line_starts[static_cast<size_t>(line)];
}

source_location yaml_reader::at_byte(size_t pos) const {
  auto line =
      static_cast<int>(std::upper_bound(source_.line_starts.begin() + 1,
                                        source_.line_starts.end(), pos) -
                       (source_.line_starts.begin() + 1));
  int column = 0;
  for (auto i = line_begin(line); i < pos; ++i) {
    if ((static_cast<unsigned char>(source_.text[i]) & 0xC0) != 0x80) {
      ++column;
    }
  }
  return {source_.file, line + 1, column + 1};
}

size_t yaml_reader::quoted_end(size_t begin) const {
  if (begin >= source_.text.size() ||
      (source_.text[begin] != '"' && source_.text[begin] != '\'')) {
    return std::string::npos;
  }
  auto quote = source_.text[begin];
  for (auto i = begin + 1; i < source_.text.size(); ++i) {
    if (quote == '"' && source_.text[i] == '\\') {
      ++i; // an escape: the next character is not the end
    } else if (source_.text[i] == quote) {
      if (quote == '\'' && i + 1 < source_.text.size() &&
          source_.text[i + 1] == '\'') {
        ++i; // '' is a quote inside single quotes
      } else {
        return i;
      }
    }
  }
  return std::string::npos;
}

} // namespace tutti::config_detail
