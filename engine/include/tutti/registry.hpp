#pragma once

/// Plugins found by name: the word after `kind:` names a codec, the word after
/// `combine:` names a combine strategy. `plugins/builtin.cpp` registers every
/// built-in one in a single list.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tutti/codec.hpp"
#include "tutti/combine.hpp"

namespace tutti {

class registry {
public:
  using codec_factory = std::function<std::unique_ptr<codec>()>;
  /// Builds a strategy from its YAML settings; throws
  /// `std::invalid_argument` when they are unusable.
  using combine_factory =
      std::function<std::unique_ptr<combine_strategy>(const combine_options&)>;

  /// The registry with every built-in plugin.
  static const registry& builtin();

  void add_codec(std::string name, codec_factory make);
  /// `traits`: the settings the strategy reads and how it answers.
  void add_combine(std::string name, combine_factory make,
                   combine_traits traits);
  /// A strategy that declares nothing: it is handed every setting the
  /// ensemble gives (any key another strategy declares) and its factory
  /// decides.
  void add_combine(std::string name, combine_factory make);

  /// nullptr when no codec has that name.
  std::unique_ptr<codec> make_codec(const std::string& name) const;
  /// nullptr when no strategy has that name; throws
  /// `std::invalid_argument` when `options` are unusable.
  std::unique_ptr<combine_strategy>
  make_combine(const std::string& name,
               const combine_options& options = {}) const;

  /// What the strategy `name` declares; nullptr when it declares nothing or
  /// none has that name.
  const combine_traits* traits_of(const std::string& name) const;

  std::vector<std::string> codec_names() const;
  std::vector<std::string> combine_names() const;

private:
  std::map<std::string, codec_factory> codecs_;
  std::map<std::string, combine_factory> combines_;
  std::map<std::string, combine_traits> traits_;
};

/// Adds every built-in plugin to `reg` (defined in plugins/builtin.cpp).
void register_builtin_plugins(registry& reg);

} // namespace tutti
