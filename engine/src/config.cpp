#include "tutti/config.hpp"

#include "engine/src/config_sections.hpp"
#include "engine/src/config_yaml.hpp"
#include "engine/src/time_span.hpp"
#include "engine/src/utf8.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <yaml-cpp/yaml.h>

#include "tutti/registry.hpp"

namespace tutti {

std::string to_string(const source_location& loc) {
  if (loc.line <= 0) {
    return loc.file;
  }
  return loc.file + ":" + std::to_string(loc.line) + ":" +
         std::to_string(loc.column);
}

// A message may quote the file (a key, a value, a stray byte): a binary or
// hostile file must not put raw bytes on the user's terminal.
config_error::config_error(const source_location& where,
                           const std::string& message)
    : std::runtime_error(to_string(where) + ": " + utf8::printable(message)),
      where_(where), message_(utf8::printable(message)) {}

namespace {

std::string all_of(const std::vector<config_error>& problems) {
  std::string text;
  for (auto& p : problems)
    text += (text.empty() ? "" : "\n") + std::string{p.what()};
  return text;
}

} // namespace

config_error::config_error(std::vector<config_error> problems)
    : std::runtime_error(all_of(problems)),
      where_(problems.empty() ? source_location{} : problems[0].where()),
      message_(problems.empty() ? std::string{} : problems[0].message()),
      problems_(problems.size() > 1 ? std::move(problems)
                                    : std::vector<config_error>{}) {}

using namespace config_detail;

namespace {

const word_list top_level_keys = {"providers", "ensembles", "pipelines",
                                  "models", "store"};
const word_list store_keys = {"url", "texts", "queue", "history", "retention"};
const word_list history_keys = {"turns", "tokens"};

/// Reads the YAML tree into a `config`, throwing every entry's first
/// problem.
class config_reader : private yaml_reader {
public:
  config_reader(const yaml_source& source, const registry& plugins)
      : yaml_reader(source), plugins_(plugins) {}

  config read(const YAML::Node& root) {
    config result;
    result.file = source().file;
    if (root.IsNull()) {
      throw config_error({source().file, 0, 0},
                         "the file is empty; expected a "
                         "'providers' or 'ensembles' section");
    }
    if (!root.IsMap()) {
      fail(root, "",
           "expected a map with 'providers' and/or 'ensembles' at "
           "the top level, got " +
               describe(root));
    }
    YAML::Node providers;
    YAML::Node ensembles;
    YAML::Node pipelines;
    YAML::Node models;
    for (auto& entry : entries(root, "", top_level_keys)) {
      if (entry.key == "store") {
        read_store(entry, result);
        continue;
      }
      (entry.key == "providers"   ? providers
       : entry.key == "ensembles" ? ensembles
       : entry.key == "models"    ? models
                                  : pipelines) = entry.value;
      if (!entry.value.IsNull() && !entry.value.IsMap()) {
        fail(entry.value, entry.key,
             "expected a map of " + entry.key + " by name, got " +
                 describe(entry.value));
      }
    }
    // Each entry's first problem is collected and the reading goes on, so
    // one run reports every broken provider, ensemble and pipeline.
    std::vector<config_error> problems;
    if (providers.IsMap()) {
      result.providers =
          read_providers(source(), plugins_, providers, problems);
    }
    if (ensembles.IsMap()) {
      result.ensembles = read_ensembles(source(), plugins_, ensembles,
                                        result.providers, problems);
    }
    if (pipelines.IsMap()) {
      result.pipelines = read_pipelines(source(), pipelines, result, problems);
    }
    if (models.IsMap()) {
      result.models = read_models(source(), models, result.providers, problems);
    }
    if (problems.size() == 1)
      throw problems[0];
    if (!problems.empty())
      throw config_error(std::move(problems));
    if (result.providers.empty() && result.ensembles.empty()) {
      fail(root, "", "no providers and no ensembles are defined");
    }
    return result;
  }

private:
  /// `store: URL` or `store: {url: URL, texts: false, queue: 10000}`.
  void read_store(const map_entry& entry, config& result) const {
    result.store_where = value_at(entry);
    auto read_url = [&](const map_entry& e, const std::string& path) {
      auto url = read_string(e, path);
      if (url.empty())
        fail(value_at(e), path,
             "expected none, a file path or a postgresql:// URL, got an "
             "empty string");
      return url;
    };
    if (!entry.value.IsMap()) {
      result.store.url = read_url(entry, "store");
      return;
    }
    for (auto& field : entries(entry.value, "store", store_keys)) {
      auto path = "store." + field.key;
      if (field.key == "url")
        result.store.url = read_url(field, path);
      else if (field.key == "texts")
        result.store.texts =
            read_word(field, path, {"true", "false"}) == "true";
      else if (field.key == "retention")
        result.store.retention_ms = read_retention_ms(field, path);
      else if (field.key == "queue")
        result.store.queue_max = static_cast<size_t>(
            read_int(field, path, 1, 10'000'000, "a count from 1 to 10000000"));
      else
        for (auto& limit :
             entries(map_value(field, path, "{turns: 20, tokens: 8000}"), path,
                     history_keys)) {
          auto n = static_cast<size_t>(read_int(limit, path + "." + limit.key,
                                                0, 10'000'000,
                                                "a count from 0 to 10000000"));
          (limit.key == "turns" ? result.store.history_turns
                                : result.store.history_tokens) = n;
        }
    }
  }

  /// `store: {retention: 90d}`: hours or days, 1h to 3650d; 0 or none
  /// keeps every run.
  int64_t read_retention_ms(const map_entry& entry,
                            const std::string& path) const {
    const std::string expected =
        "a time such as 90d or 12h (1h to 3650d), or none";
    auto text = scalar_text(entry, path, expected);
    if (text == "none" || text == "0")
      return 0;
    // Hours or days, at most 5 digits; minutes are too fine for it.
    auto ms = !text.empty() && text.size() <= 6 && text.back() != 'm'
                  ? time_span_ms(text)
                  : std::nullopt;
    if (!ms)
      fail(entry.value, path,
           "expected " + expected + ", got " + describe(entry.value));
    if (*ms < 3'600'000 || *ms > 3650 * int64_t{86'400'000})
      fail(entry.value, path, "must be from 1h to 3650d (or none)");
    return *ms;
  }

  const registry& plugins_;
};

/// A config is a few kilobytes; a file far larger is a mistake (or
/// /dev/zero), and reading it whole would only take the memory.
constexpr size_t max_config_bytes = size_t{16} << 20;

} // namespace

config parse_config(const std::string& yaml_text, const std::string& file,
                    const registry& plugins) {
  yaml_source source{yaml_text, file};
  config_reader reader{source, plugins};
  YAML::Node document;
  try {
    check_single_document(yaml_text, file);
    document = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw config_error(location_of(e.mark, file), "invalid YAML: " + e.msg);
  }
  return reader.read(document);
}

ensemble_config parse_inline_ensemble(const std::string& text,
                                      const std::string& name,
                                      const std::string& path,
                                      const config& cfg,
                                      const registry& plugins) {
  const std::string file = "request";
  // The reader names what it reads "ensembles.NAME...": the request's own
  // field is named instead.
  auto renamed = [&](const config_error& e) {
    auto message = e.message();
    auto own = "ensembles." + name;
    if (message.rfind(own, 0) == 0)
      message = path + message.substr(own.size());
    else
      message = path + ": " + message;
    return config_error({file, 0, 0}, message);
  };
  YAML::Node definition;
  try {
    check_single_document(text, file);
    definition = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw config_error({file, 0, 0}, path + ": invalid: " + e.msg);
  } catch (const config_error& e) {
    throw renamed(e);
  }
  if (!definition.IsMap())
    throw config_error({file, 0, 0},
                       path + ": expected an object with members, until, "
                              "mode, combine...");
  YAML::Node ensembles;
  ensembles[name] = definition;
  yaml_source source{text, file};
  std::vector<config_error> problems;
  std::map<std::string, ensemble_config> read;
  try {
    read = read_ensembles(source, plugins, ensembles, cfg.providers, problems);
  } catch (const config_error& e) {
    problems.push_back(e);
  }
  if (!problems.empty())
    throw renamed(problems.front());
  auto& e = read.at(name);
  // The spend ledger knows the config's budgets; one written here would be
  // ignored, so it is refused.
  if (e.budget.any())
    throw config_error({file, 0, 0},
                       path + ".budget: an ensemble defined in a request has "
                              "no budget of its own (its providers' and the "
                              "key's apply)");
  e.where = {file, 0, 0};
  return e;
}

config parse_config(const std::string& yaml_text, const std::string& file) {
  return parse_config(yaml_text, file, registry::builtin());
}

config load_config(const std::string& path, const registry& plugins) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    throw config_error({path, 0, 0},
                       std::string{"cannot read: "} + std::strerror(errno));
  }
  std::string text;
  char buffer[8192];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) {
    if (text.size() + n > max_config_bytes) {
      std::fclose(f);
      throw config_error({path, 0, 0},
                         "the file is larger than " +
                             std::to_string(max_config_bytes >> 20) +
                             " MiB; is it a config?");
    }
    text.append(buffer, n);
  }
  bool failed = std::ferror(f) != 0;
  int error = errno;
  std::fclose(f);
  if (failed) {
    throw config_error({path, 0, 0},
                       std::string{"cannot read: "} + std::strerror(error));
  }
  return parse_config(text, path, plugins);
}

config load_config(const std::string& path) {
  return load_config(path, registry::builtin());
}

std::string to_string(until_rule rule) {
  switch (rule) {
  case until_rule::all:
    return "all";
  case until_rule::first:
    return "first";
  case until_rule::quorum:
    return "quorum";
  case until_rule::deadline:
    return "deadline";
  }
  return "all";
}

std::string until_name(until_rule rule, int quorum) {
  return rule == until_rule::quorum ? "quorum:" + std::to_string(quorum)
                                    : to_string(rule);
}

std::string to_string(run_mode mode) {
  switch (mode) {
  case run_mode::parallel:
    return "parallel";
  case run_mode::fallback:
    return "fallback";
  case run_mode::hedged:
    return "hedged";
  }
  return "parallel";
}

std::string expand_env(const std::string& text, const source_location& where,
                       const std::string& what) {
  std::string result;
  size_t copied = 0;
  for (const auto& ref : find_env_references(text, where, what)) {
    const char* value = std::getenv(ref.name.c_str());
    if (value == nullptr) {
      throw config_error(where, prefixed(what, "environment variable " +
                                                   ref.name + " is not set"));
    }
    if (*value == '\0') {
      throw config_error(where,
                         prefixed(what, "environment variable " + ref.name +
                                            " is set but empty"));
    }
    result.append(text, copied, ref.begin - copied);
    result += value;
    copied = ref.end;
  }
  result.append(text, copied, std::string::npos);
  return result;
}

void resolve_env(config& cfg, const std::vector<std::string>& used) {
  for (const auto& name : used) {
    auto i = cfg.providers.find(name);
    if (i == cfg.providers.end()) {
      throw config_error({cfg.file, 0, 0},
                         unknown_provider(name, cfg.providers));
    }
    auto& p = i->second;
    if (p.env_resolved) {
      continue;
    }
    auto path = "providers." + p.name;
    auto api_key = expand_env(p.api_key, p.api_key_where, path + ".api_key");
    // The kind's own keys before the base URL: a default URL may name one
    // (Bedrock's region), and an unset variable is reported where it is
    // written.
    auto options = p.options;
    for (auto& [key, value] : options) {
      auto where =
          p.options_where.count(key) != 0 ? p.options_where.at(key) : p.where;
      value = expand_env(value, where, path + "." + key);
    }
    auto base_url =
        expand_env(p.base_url, p.base_url_where, path + ".base_url");
    if (base_url != p.base_url) {
      strip_trailing_slashes(base_url);
      if (!is_http_url(base_url)) {
        throw config_error(p.base_url_where,
                           path + ".base_url: expected an http:// or "
                                  "https:// URL after expanding ${...}");
      }
    }
    auto headers = p.headers;
    for (size_t h = 0; h < headers.size(); ++h) {
      auto& [header, value] = headers[h];
      const auto& where =
          h < p.headers_where.size() ? p.headers_where[h] : p.where;
      auto what = path + ".headers." + header;
      value = expand_env(value, where, what);
      if (!is_header_value(value)) {
        throw config_error(where, what + ": the value contains a line break "
                                         "or control character after "
                                         "expanding ${...}");
      }
    }
    p.api_key = std::move(api_key);
    p.base_url = std::move(base_url);
    p.headers = std::move(headers);
    p.options = std::move(options);
    p.env_resolved = true;
  }
}

} // namespace tutti
