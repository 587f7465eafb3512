#pragma once

/// Builds a config in code instead of a YAML file. It accepts exactly what
/// a file does (docs/configuration.md) and validates it the same way, so a
/// host program gets the same errors and the same defaults:
///
///   tutti::config_builder b;
///   b.provider("gpt", "openai", "gpt-4o-mini")
///       .set("api_key", "${OPENAI_API_KEY}")
///       .set("rpm", 500);
///   b.provider("claude", "anthropic", "claude-3-5-haiku-latest")
///       .set("api_key", "${ANTHROPIC_API_KEY}");
///   b.ensemble("poll", {"gpt", "claude"}).set("combine", "vote");
///   tutti::engine engine{b.build()};

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "tutti/config.hpp"
#include "tutti/registry.hpp"

namespace tutti {

class config_builder {
public:
  /// One entry (a provider, an ensemble or a pipeline) being filled in.
  class entry {
  public:
    /// Sets `key` of the entry, as the YAML would (`rpm`, `base_url`,
    /// `combine`, `until`, `deadline`, ...). A later `set` of the same key
    /// replaces the earlier one.
    entry& set(const std::string& key, const std::string& value);
    entry& set(const std::string& key, const char* value);
    entry& set(const std::string& key, int64_t value);
    entry& set(const std::string& key, int value);
    entry& set(const std::string& key, double value);
    entry& set(const std::string& key, bool value);
    entry& set(const std::string& key, const std::vector<std::string>& values);

    /// Sets `key` to a YAML value written out, for nested settings:
    /// `set_yaml("until", "{quorum: 2}")`, `set_yaml("steps", "[...]")`.
    /// Throws `config_error` when the text is not YAML.
    entry& set_yaml(const std::string& key, const std::string& yaml_value);

  private:
    friend class config_builder;
    struct node;
    explicit entry(std::shared_ptr<node> n) : node_(std::move(n)) {}
    std::shared_ptr<node> node_;
  };

  config_builder();
  ~config_builder();
  config_builder(config_builder&&) noexcept;
  config_builder& operator=(config_builder&&) noexcept;

  /// A provider of codec `kind` (openai, anthropic, gemini, ...) for
  /// `model`; set the rest (api_key, base_url, limits) on the entry.
  entry provider(const std::string& name, const std::string& kind,
                 const std::string& model);

  /// An ensemble of the named providers (or `label: provider` pairs via
  /// `set_yaml("members", ...)` for overrides, weights and samples).
  entry ensemble(const std::string& name,
                 const std::vector<std::string>& members);

  /// A pipeline; give its `inputs`, `steps` and `output` through `set` and
  /// `set_yaml`.
  entry pipeline(const std::string& name);

  /// The YAML the builder stands for, e.g. to print or save it.
  std::string yaml() const;

  /// Validates and returns the config. Throws `config_error` whose message
  /// names the setting (e.g. "ensembles.poll.members[1]: unknown provider
  /// 'x'") and whose location is `<builder>`.
  config build() const;

  /// As `build()`, with the kinds and strategies of `plugins` (a host
  /// program's own beside the built-ins).
  config build(const registry& plugins) const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace tutti
