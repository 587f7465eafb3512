#include "engine/src/config_sections.hpp"

#include "engine/src/names.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <utility>

#include "tutti/registry.hpp"

namespace tutti::config_detail {

namespace {

const word_list provider_keys = {
    "kind",    "model",       "embedding_model", "base_url",
    "api_key", "concurrency", "limit_group",     "rpm",
    "tpm",     "requests",    "tokens",          "queue",
    "breaker", "temperature", "top_p",           "max_tokens",
    "seed",    "stop",        "params",          "timeouts",
    "retry",   "price",       "headers",         "ca_file",
    "budget",  "cache",
};

const word_list budget_keys = {"count", "per"};

const word_list queue_keys = {"max"};

const word_list breaker_keys = {"failures", "cooldown"};

constexpr int max_breaker_failures = 1000;

/// The window of the `rpm` and `tpm` shorthands.
constexpr int64_t minute_ms = 60 * 1000;

const word_list timeout_keys = {"connect", "first_token", "idle", "total"};

const word_list retry_keys = {"attempts", "backoff", "max_backoff"};

const word_list price_keys = {"input_per_mtok", "output_per_mtok",
                              "cached_input_per_mtok"};

/// The headers that carry an API key for any registered kind, lower case:
/// a key comes from `api_key`, never from `headers:` (a header another
/// vendor's key travels in is most likely that key in the wrong place).
word_list key_headers_of(const registry& plugins) {
  word_list names;
  for (const auto& kind : plugins.codec_names()) {
    if (auto codec = plugins.make_codec(kind)) {
      for (auto& name : codec->key_headers()) {
        if (std::find(names.begin(), names.end(), name) == names.end()) {
          names.push_back(name);
        }
      }
    }
  }
  return names;
}

/// The `kind:` a provider's map names, when it is a plain string.
std::string kind_named(const YAML::Node& provider) {
  if (!provider.IsMap()) {
    return {};
  }
  for (const auto& field : provider) {
    if (field.first.IsScalar() && field.first.Scalar() == "kind" &&
        field.second.IsScalar()) {
      return field.second.Scalar();
    }
  }
  return {};
}

constexpr int max_retry_attempts = 20;

constexpr int max_concurrency = 10000;

std::string to_lower(std::string_view text) {
  std::string result{text};
  for (auto& c : result) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return result;
}

/// An HTTP header name as tutti accepts it: letters, digits, '-' and '_'.
bool is_header_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

/// `path` relative to the directory of `file` (the config file), unless it
/// is absolute or the file has no directory part.
std::string relative_to_file(const std::string& path, const std::string& file) {
  auto slash = file.rfind('/');
  if (path.empty() || path.front() == '/' || slash == std::string::npos) {
    return path;
  }
  return file.substr(0, slash + 1) + path;
}

/// Empty if `path` can be opened and read, else the reason it cannot.
std::string unreadable_reason(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return std::strerror(errno);
  }
  char byte = 0;
  std::fread(&byte, 1, 1, f); // a directory opens but fails to read
  bool failed = std::ferror(f) != 0;
  int error = errno;
  std::fclose(f);
  return failed ? std::strerror(error) : std::string{};
}

/// Where a provider wrote one of its limit group's budgets.
struct budget_place {
  std::string path;      ///< e.g. "providers.a.rpm"
  source_location key;   ///< the key
  source_location value; ///< the value (its key when empty)
};

/// The budgets a provider wrote explicitly, by budget: "concurrency",
/// "requests" (`rpm` or `requests`), "tokens" (`tpm` or `tokens`), "queue".
using budget_places = std::map<std::string, budget_place>;

/// A provider's name and the budgets it wrote, in YAML order.
using written_budgets = std::vector<std::pair<std::string, budget_places>>;

/// "60s" or "250ms": windows read best in seconds, as rpm's "per 60s".
std::string format_window(int64_t ms) {
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + "s"
                        : std::to_string(ms) + "ms";
}

/// One budget of `p` as a message shows it: "requests 500 per 60s".
std::string describe_budget(const std::string& budget,
                            const provider_config& p) {
  if (budget == "concurrency") {
    return "concurrency " + std::to_string(p.concurrency);
  }
  if (budget == "queue") {
    return "queue max " + std::to_string(p.max_queue);
  }
  const auto& b = budget == "requests" ? p.requests : p.tokens;
  return budget + " " + std::to_string(b.count) + " per " +
         format_window(b.per_ms);
}

bool same_budget(const std::string& budget, const provider_config& a,
                 const provider_config& b) {
  if (budget == "concurrency") {
    return a.concurrency == b.concurrency;
  }
  if (budget == "queue") {
    return a.max_queue == b.max_queue;
  }
  const auto& x = budget == "requests" ? a.requests : a.tokens;
  const auto& y = budget == "requests" ? b.requests : b.tokens;
  return x.count == y.count && x.per_ms == y.per_ms;
}

void copy_budget(const std::string& budget, const provider_config& from,
                 provider_config& to) {
  if (budget == "concurrency") {
    to.concurrency = from.concurrency;
  } else if (budget == "queue") {
    to.max_queue = from.max_queue;
  } else if (budget == "requests") {
    to.requests = from.requests;
  } else {
    to.tokens = from.tokens;
  }
}

const word_list group_budgets = {"concurrency", "requests", "tokens", "queue"};

/// Reads the `providers` section.
class provider_reader : private yaml_reader {
public:
  provider_reader(const yaml_source& source, const registry& plugins)
      : yaml_reader(source), plugins_(plugins),
        key_headers_(key_headers_of(plugins)) {}

  std::map<std::string, provider_config>
  read(const YAML::Node& providers, std::vector<config_error>& problems) const {
    std::map<std::string, provider_config> result;
    written_budgets written;
    for (auto& entry : entries(providers, "providers", {})) {
      written.emplace_back(entry.key, budget_places{});
      try {
        result.emplace(entry.key, read_provider(entry, written.back().second));
      } catch (const config_error& e) {
        problems.push_back(e);
        provider_config kept;
        kept.name = entry.key;
        result.emplace(entry.key, std::move(kept));
      }
    }
    resolve_limit_groups(result, written);
    return result;
  }

private:
  /// A price: a plain number, 0 or more.
  double read_price(const map_entry& entry, const std::string& path) const {
    const std::string expected =
        "a non-negative number of US dollars per million tokens";
    auto text = scalar_text(entry, path, expected);
    double value = 0;
    if (!parse_number(text, value) || value < 0) {
      fail(entry.value, path,
           "expected " + expected + ", got " + describe(entry.value));
    }
    return value;
  }

  provider_timeouts read_timeouts(const map_entry& entry,
                                  const std::string& path) const {
    provider_timeouts result;
    const auto& map = map_value(entry, path, "{connect: 5s, total: 120s}");
    for (auto& field : entries(map, path, timeout_keys)) {
      auto ms = read_duration_ms(field, path + "." + field.key, true);
      if (field.key == "connect") {
        result.connect_ms = ms;
      } else if (field.key == "first_token") {
        result.first_token_ms = ms;
      } else if (field.key == "idle") {
        result.idle_ms = ms;
      } else {
        result.total_ms = ms;
      }
    }
    return result;
  }

  retry_policy read_retry(const map_entry& entry,
                          const std::string& path) const {
    retry_policy result;
    const auto& map = map_value(
        entry, path, "{attempts: 3, backoff: 250ms, max_backoff: 8s}");
    const map_entry* backoff = nullptr;
    const map_entry* max_backoff = nullptr;
    auto fields = entries(map, path, retry_keys);
    for (auto& field : fields) {
      auto field_path = path + "." + field.key;
      if (field.key == "attempts") {
        result.attempts = static_cast<int>(read_int(
            field, field_path, 1, max_retry_attempts,
            "an integer from 1 to " + std::to_string(max_retry_attempts) +
                " (tries in all; 1 means no retry)"));
      } else if (field.key == "backoff") {
        result.backoff_ms = read_duration_ms(field, field_path);
        backoff = &field;
      } else {
        result.max_backoff_ms = read_duration_ms(field, field_path);
        max_backoff = &field;
      }
    }
    if (result.backoff_ms > result.max_backoff_ms) {
      if (backoff != nullptr) {
        fail(backoff->value, path + ".backoff",
             "expected at most max_backoff (" +
                 format_duration(result.max_backoff_ms) +
                 (max_backoff != nullptr ? "" : ", the default") + "), got " +
                 describe(backoff->value));
      }
      fail(max_backoff->value, path + ".max_backoff",
           "expected at least backoff (" + format_duration(result.backoff_ms) +
               ", the default), got " + describe(max_backoff->value));
    }
    return result;
  }

  price_table read_price_table(const map_entry& entry,
                               const std::string& path) const {
    price_table result;
    const auto& map = map_value(
        entry, path, "{input_per_mtok: 3.00, output_per_mtok: 15.00}");
    for (auto& field : entries(map, path, price_keys)) {
      auto value = read_price(field, path + "." + field.key);
      if (field.key == "input_per_mtok") {
        result.input_per_mtok = value;
      } else if (field.key == "output_per_mtok") {
        result.output_per_mtok = value;
      } else {
        result.cached_input_per_mtok = value;
      }
    }
    return result;
  }

  /// Extra headers in YAML order. Values may be secrets (`${VAR}` or a
  /// literal token): errors describe them, never quote them.
  void read_headers(const map_entry& entry, const std::string& path,
                    provider_config& p) const {
    const auto& map = map_value(entry, path, "{x-team: research}");
    std::map<std::string, map_entry> seen; // lower-case name -> first entry
    for (auto& field : entries(map, path, {})) {
      auto field_path = path + "." + field.key;
      if (!is_header_name(field.key)) {
        fail(field.key_node, field_path,
             "invalid header name; use letters, digits, '-' and '_'");
      }
      auto lower = to_lower(field.key);
      if (std::find(key_headers_.begin(), key_headers_.end(), lower) !=
          key_headers_.end()) {
        fail(field.key_node, field_path,
             "the " + field.key +
                 " header carries the API key and is set from 'api_key'; "
                 "give the key as the provider's api_key instead");
      }
      if (auto first = seen.find(lower); first != seen.end()) {
        fail(field.key_node, field_path,
             "duplicate header '" + field.key + "' (first defined as '" +
                 first->second.key + "' at line " +
                 std::to_string(at(first->second.key_node).line) +
                 "; header names ignore case)");
      }
      seen.emplace(lower, field);
      if (!field.value.IsScalar()) {
        fail(value_at(field), field_path,
             "expected a string, got " + describe(field.value));
      }
      const auto& value = field.value.Scalar();
      if (value.empty()) {
        fail(field.value, field_path, "expected a non-empty string");
      }
      if (!is_header_value(value)) {
        fail(field.value, field_path,
             "a header value must not contain line breaks or control "
             "characters");
      }
      find_env_references(value, at(field.value), field_path);
      p.headers.emplace_back(field.key, value);
      p.headers_where.push_back(at(field.value));
    }
  }

  /// A key of the kind's own (`codec::keys()`): a string its codec checks.
  std::string read_codec_key(const map_entry& entry, const std::string& path,
                             const codec_key& key) const {
    auto text = read_string(entry, path);
    auto where = at(entry.value);
    // Checked once expanded (the engine does) when it names a variable.
    if (!find_env_references(text, where, path).empty()) {
      return text;
    }
    if (key.check != nullptr) {
      if (auto problem = key.check(text); !problem.empty()) {
        fail(entry.value, path, problem + ", got " + describe(entry.value));
      }
    }
    return text;
  }

  /// A CA bundle path, relative to the config file's directory unless
  /// absolute; it must be readable now.
  std::string read_ca_file(const map_entry& entry,
                           const std::string& path) const {
    auto file = relative_to_file(read_string(entry, path), source().file);
    if (auto reason = unreadable_reason(file); !reason.empty()) {
      fail(entry.value, path, "cannot read '" + file + "': " + reason);
    }
    return file;
  }

  /// Records that `field` sets `budget`; `rpm` and `requests` (or `tpm`
  /// and `tokens`) set the same one and may not both be given.
  void note_budget(budget_places& places, const std::string& budget,
                   const map_entry& field,
                   const std::string& field_path) const {
    if (auto first = places.find(budget); first != places.end()) {
      fail(field.key_node, field_path,
           "also given as " + first->second.path + " (line " +
               std::to_string(first->second.key.line) + "); give either " +
               (budget == "requests" ? "rpm or requests" : "tpm or tokens") +
               ", not both");
    }
    places.emplace(
        budget, budget_place{field_path, at(field.key_node), value_at(field)});
  }

  /// `{count: N, per: DURATION}`, both required.
  rate_budget read_rate_budget(const map_entry& entry,
                               const std::string& path) const {
    rate_budget result;
    const auto& map = map_value(entry, path, "{count: 500, per: 60s}");
    bool has_count = false;
    bool has_per = false;
    for (auto& field : entries(map, path, budget_keys)) {
      auto field_path = path + "." + field.key;
      if (field.key == "count") {
        result.count =
            read_int(field, field_path, 1, INT64_MAX, "a positive integer");
        has_count = true;
      } else {
        result.per_ms = read_duration_ms(field, field_path);
        has_per = true;
      }
    }
    if (!has_count || !has_per) {
      fail(map, path,
           std::string{"missing required key '"} +
               (has_count ? "per" : "count") +
               "'; expected a map such as {count: 500, per: 60s}");
    }
    return result;
  }

  /// `{max: N}`.
  size_t read_queue(const map_entry& entry, const std::string& path) const {
    const auto& map = map_value(entry, path, "{max: 1000}");
    auto fields = entries(map, path, queue_keys);
    if (fields.empty()) {
      fail(map, path,
           "missing required key 'max'; expected a map such as {max: 1000}");
    }
    return static_cast<size_t>(read_int(fields.front(), path + ".max", 1,
                                        INT64_MAX, "a positive integer"));
  }

  breaker_policy read_breaker(const map_entry& entry,
                              const std::string& path) const {
    breaker_policy result;
    const auto& map = map_value(entry, path, "{failures: 5, cooldown: 30s}");
    for (auto& field : entries(map, path, breaker_keys)) {
      auto field_path = path + "." + field.key;
      if (field.key == "failures") {
        result.failures = static_cast<int>(read_int(
            field, field_path, 0, max_breaker_failures,
            "an integer from 0 to " + std::to_string(max_breaker_failures) +
                " (0 turns the breaker off)"));
      } else {
        result.cooldown_ms = read_duration_ms(field, field_path);
      }
    }
    return result;
  }

  /// Providers in one limit group share one limiter: a budget written by
  /// two of them must agree, and afterwards every member carries the
  /// group's value (written by any member, else the default).
  void resolve_limit_groups(std::map<std::string, provider_config>& providers,
                            const written_budgets& written) const {
    struct group_state {
      provider_config values; // only the budgets are used
      std::map<std::string, std::pair<std::string, budget_place>> first;
    };
    std::map<std::string, group_state> groups;
    for (const auto& [name, places] : written) {
      const auto& p = providers.at(name);
      auto& group = groups[p.limit_group];
      for (const auto& budget : group_budgets) {
        auto place = places.find(budget);
        if (place == places.end()) {
          continue;
        }
        auto first = group.first.find(budget);
        if (first == group.first.end()) {
          group.first.emplace(budget, std::make_pair(name, place->second));
          copy_budget(budget, p, group.values);
        } else if (!same_budget(budget, p, group.values)) {
          const auto& [first_name, first_place] = first->second;
          fail(place->second.value, place->second.path,
               "limit group '" + p.limit_group + "' already has " +
                   describe_budget(budget, group.values) + " from providers." +
                   first_name + " (line " +
                   std::to_string(first_place.key.line) +
                   "); providers in a group share one budget");
        }
      }
    }
    for (auto& [name, p] : providers) {
      const auto& group = groups.at(p.limit_group);
      for (const auto& budget : group_budgets) {
        copy_budget(budget, group.values, p);
      }
    }
  }

  provider_config read_provider(const map_entry& entry,
                                budget_places& budgets) const {
    auto path = "providers." + entry.key;
    check_named_map(entry, path, "provider", "at least 'kind' and 'model'");
    provider_config p;
    p.name = entry.key;
    p.definition = YAML::Dump(entry.value);
    p.where = at(entry.key_node);
    p.api_key_where = p.where;
    p.base_url_where = p.where;
    bool has_base_url = false;
    param_places params_seen;
    std::optional<map_entry> budget_field;
    // Every provider's keys, and those its kind adds.
    auto allowed = provider_keys;
    std::vector<codec_key> own_keys;
    auto codec = plugins_.make_codec(kind_named(entry.value));
    if (codec) {
      own_keys = codec->keys();
      for (auto& key : own_keys) {
        allowed.push_back(key.name);
      }
    }
    for (auto& field : entries(entry.value, path, allowed)) {
      auto field_path = path + "." + field.key;
      if (field.key == "kind") {
        p.kind = read_string(field, field_path);
        auto kinds = plugins_.codec_names();
        if (std::find(kinds.begin(), kinds.end(), p.kind) == kinds.end()) {
          fail(field.value, field_path,
               "unknown kind '" + p.kind + "'; " +
                   expected_one_of(p.kind, kinds));
        }
      } else if (field.key == "model") {
        p.model = read_string(field, field_path);
      } else if (field.key == "embedding_model") {
        p.embedding_model = read_string(field, field_path);
        if (p.embedding_model.empty()) {
          fail(field.value, field_path,
               "must not be empty (leave it out to embed with 'model')");
        }
        if (codec && !codec->takes_embeddings()) {
          fail(field.value, field_path,
               "a " + kind_named(entry.value) +
                   " provider has no embeddings endpoint");
        }
      } else if (field.key == "base_url") {
        p.base_url = read_string(field, field_path);
        p.base_url_where = at(field.value);
        has_base_url = true;
        strip_trailing_slashes(p.base_url);
        auto refs =
            find_env_references(p.base_url, p.base_url_where, field_path);
        if (refs.empty() && !is_http_url(p.base_url)) {
          fail(field.value, field_path,
               "expected an http:// or https:// URL, got " +
                   describe(field.value));
        }
      } else if (field.key == "api_key") {
        // A literal key is a secret: never quote it in a message.
        if (!field.value.IsNull()) {
          if (!field.value.IsScalar()) {
            fail(field.value, field_path,
                 "expected a string such as ${OPENAI_API_KEY}");
          }
          p.api_key = field.value.Scalar();
        }
        p.api_key_where = value_at(field);
        find_env_references(p.api_key, p.api_key_where, field_path);
      } else if (field.key == "concurrency") {
        note_budget(budgets, "concurrency", field, field_path);
        p.concurrency = static_cast<int>(read_int(
            field, field_path, 1, max_concurrency,
            "a positive integer up to " + std::to_string(max_concurrency)));
      } else if (field.key == "limit_group") {
        p.limit_group = read_string(field, field_path);
        if (!is_valid_name(p.limit_group)) {
          fail(field.value, field_path, invalid_name("limit group"));
        }
      } else if (field.key == "rpm" || field.key == "tpm") {
        bool rpm = field.key == "rpm";
        note_budget(budgets, rpm ? "requests" : "tokens", field, field_path);
        auto count = read_int(field, field_path, 1, INT64_MAX,
                              rpm ? "a positive integer (requests per minute)"
                                  : "a positive integer (tokens per minute)");
        (rpm ? p.requests : p.tokens) = rate_budget{count, minute_ms};
      } else if (field.key == "requests" || field.key == "tokens") {
        note_budget(budgets, field.key, field, field_path);
        (field.key == "requests" ? p.requests : p.tokens) =
            read_rate_budget(field, field_path);
      } else if (field.key == "queue") {
        note_budget(budgets, "queue", field, field_path);
        p.max_queue = read_queue(field, field_path);
      } else if (field.key == "breaker") {
        p.breaker = read_breaker(field, field_path);
      } else if (std::find(param_keys.begin(), param_keys.end(), field.key) !=
                 param_keys.end()) {
        read_param(field, field_path, p.defaults, params_seen);
      } else if (field.key == "params") {
        read_params(field, field_path, "{max_tokens: 1024, temperature: 0.2}",
                    p.defaults, params_seen);
      } else if (field.key == "timeouts") {
        p.timeouts = read_timeouts(field, field_path);
      } else if (field.key == "retry") {
        p.retry = read_retry(field, field_path);
      } else if (field.key == "price") {
        p.price = read_price_table(field, field_path);
      } else if (field.key == "budget") {
        p.budget = read_spend_limit(field, field_path);
        budget_field = field;
      } else if (field.key == "cache") {
        p.cache = read_cache_policy(field, field_path);
      } else if (field.key == "headers") {
        read_headers(field, field_path, p);
      } else if (field.key == "ca_file") {
        p.ca_file = read_ca_file(field, field_path);
      } else {
        for (auto& key : own_keys) {
          if (key.name == field.key) {
            p.options[key.name] = read_codec_key(field, field_path, key);
            p.options_where[key.name] = at(field.value);
          }
        }
      }
    }
    if (budget_field && p.price.input_per_mtok == 0 &&
        p.price.output_per_mtok == 0) {
      // Unpriced calls cost $0 and would never meet the budget.
      fail(budget_field->key_node, path + ".budget",
           "a budget needs the provider's price: (input_per_mtok and "
           "output_per_mtok), else its calls cost nothing");
    }
    if (p.kind.empty()) {
      fail(p.where, path,
           "missing required key 'kind' (one of: " +
               join_names(plugins_.codec_names()) + ")");
    }
    if (p.model.empty()) {
      fail(p.where, path, "missing required key 'model'");
    }
    for (auto& key : own_keys) {
      if (key.required && p.options.count(key.name) == 0) {
        fail(p.where, path,
             "missing required key '" + key.name + "' (a " + p.kind +
                 " provider needs it)");
      }
    }
    if (p.limit_group.empty()) {
      p.limit_group = p.name;
    }
    if (!has_base_url) {
      // The kind was checked above: the codec made for its keys is its own.
      p.base_url =
          codec ? codec->default_base_url_for(p.options) : std::string{};
      strip_trailing_slashes(p.base_url);
      if (p.base_url.empty()) {
        fail(p.where, path,
             "missing required key 'base_url'; kind '" + p.kind +
                 "' has no default URL");
      }
    }
    return p;
  }

  const registry& plugins_;
  word_list key_headers_;
};

} // namespace

std::map<std::string, provider_config>
read_providers(const yaml_source& source, const registry& plugins,
               const YAML::Node& providers,
               std::vector<config_error>& problems) {
  return provider_reader{source, plugins}.read(providers, problems);
}

} // namespace tutti::config_detail
