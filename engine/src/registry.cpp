#include "tutti/registry.hpp"

#include "engine/src/names.hpp"

namespace tutti {

const registry& registry::builtin() {
  static const registry instance = [] {
    registry reg;
    register_builtin_plugins(reg);
    return reg;
  }();
  return instance;
}

void registry::add_codec(std::string name, codec_factory make) {
  codecs_[std::move(name)] = std::move(make);
}

void registry::add_combine(std::string name, combine_factory make,
                           combine_traits traits) {
  traits_[name] = std::move(traits);
  combines_[std::move(name)] = std::move(make);
}

void registry::add_combine(std::string name, combine_factory make) {
  traits_.erase(name);
  combines_[std::move(name)] = std::move(make);
}

const combine_traits* registry::traits_of(const std::string& name) const {
  auto i = traits_.find(name);
  return i == traits_.end() ? nullptr : &i->second;
}

std::unique_ptr<codec> registry::make_codec(const std::string& name) const {
  auto i = codecs_.find(name);
  return i == codecs_.end() ? nullptr : i->second();
}

std::unique_ptr<combine_strategy>
registry::make_combine(const std::string& name,
                       const combine_options& options) const {
  auto i = combines_.find(name);
  return i == combines_.end() ? nullptr : i->second(options);
}

std::vector<std::string> registry::codec_names() const {
  return keys_of(codecs_);
}

std::vector<std::string> registry::combine_names() const {
  return keys_of(combines_);
}

} // namespace tutti
