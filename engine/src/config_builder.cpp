#include "tutti/config_builder.hpp"

#include "tutti/registry.hpp"

#include <yaml-cpp/yaml.h>

namespace tutti {

namespace {

const char* builder_file = "<builder>";

} // namespace

/// A handle on the entry's node inside the builder's document: yaml-cpp
/// nodes are references, so setting a key here changes the document.
struct config_builder::entry::node {
  YAML::Node yaml;
};

struct config_builder::impl {
  YAML::Node root{YAML::NodeType::Map};

  entry add(const char* section, const std::string& name) {
    YAML::Node n = root[section][name];
    n = YAML::Node{YAML::NodeType::Map};
    return entry{std::make_shared<entry::node>(entry::node{n})};
  }
};

config_builder::entry& config_builder::entry::set(const std::string& key,
                                                  const std::string& value) {
  node_->yaml[key] = value;
  return *this;
}

config_builder::entry& config_builder::entry::set(const std::string& key,
                                                  const char* value) {
  return set(key, std::string{value});
}

config_builder::entry& config_builder::entry::set(const std::string& key,
                                                  int64_t value) {
  node_->yaml[key] = value;
  return *this;
}

config_builder::entry& config_builder::entry::set(const std::string& key,
                                                  int value) {
  return set(key, static_cast<int64_t>(value));
}

config_builder::entry& config_builder::entry::set(const std::string& key,
                                                  double value) {
  node_->yaml[key] = value;
  return *this;
}

config_builder::entry& config_builder::entry::set(const std::string& key,
                                                  bool value) {
  node_->yaml[key] = value;
  return *this;
}

config_builder::entry&
config_builder::entry::set(const std::string& key,
                           const std::vector<std::string>& values) {
  YAML::Node list{YAML::NodeType::Sequence};
  for (auto& v : values)
    list.push_back(v);
  node_->yaml[key] = list;
  return *this;
}

config_builder::entry&
config_builder::entry::set_yaml(const std::string& key,
                                const std::string& yaml_value) {
  try {
    node_->yaml[key] = YAML::Load(yaml_value);
  } catch (const YAML::Exception& e) {
    throw config_error(source_location{builder_file, 0, 0},
                       key + ": not YAML: " + e.msg);
  }
  return *this;
}

config_builder::config_builder() : impl_(std::make_unique<impl>()) {}
config_builder::~config_builder() = default;
config_builder::config_builder(config_builder&&) noexcept = default;
config_builder& config_builder::operator=(config_builder&&) noexcept = default;

config_builder::entry config_builder::provider(const std::string& name,
                                               const std::string& kind,
                                               const std::string& model) {
  auto e = impl_->add("providers", name);
  e.set("kind", kind).set("model", model);
  return e;
}

config_builder::entry
config_builder::ensemble(const std::string& name,
                         const std::vector<std::string>& members) {
  auto e = impl_->add("ensembles", name);
  e.set("members", members);
  return e;
}

config_builder::entry config_builder::pipeline(const std::string& name) {
  return impl_->add("pipelines", name);
}

std::string config_builder::yaml() const {
  YAML::Emitter out;
  out << impl_->root;
  return std::string{out.c_str()} + "\n";
}

config config_builder::build() const {
  return build(registry::builtin());
}

config config_builder::build(const registry& plugins) const {
  try {
    return parse_config(yaml(), builder_file, plugins);
  } catch (const config_error& e) {
    // Lines of generated YAML mean nothing to the caller; the message
    // names the setting.
    throw config_error(source_location{builder_file, 0, 0}, e.message());
  }
}

} // namespace tutti
