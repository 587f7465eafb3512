// `models:`: public model names routed to deployments (docs/routing.md).

#include "engine/src/config_sections.hpp"
#include "engine/src/config_yaml.hpp"

#include <algorithm>

#include <yaml-cpp/yaml.h>

namespace tutti::config_detail {

namespace {

const word_list route_keys = {"deployments", "strategy", "deadline"};
const word_list deployment_keys = {"provider", "weight"};
const word_list strategy_words = {"weighted", "least_busy", "lowest_latency",
                                  "most_remaining"};

/// Most deployments one model may have.
constexpr size_t max_deployments = 64;

/// 1 to 128 of letters, digits and `. _ - : /`, ending in "/*" for a
/// wildcard; never "ensemble/..." (that names the config's ensembles).
std::string name_problem(const std::string& name) {
  auto body = name;
  if (body.size() >= 2 && body.compare(body.size() - 2, 2, "/*") == 0)
    body.resize(body.size() - 1); // keep the '/' of the prefix
  if (name.empty() || name.size() > 128)
    return "a model name is 1 to 128 characters";
  for (char c : body)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
          c == ':' || c == '/'))
      return "a model name has letters, digits and . _ - : / only (and may "
             "end in /* to match every name that starts so)";
  if (name.rfind("ensemble/", 0) == 0)
    return "names starting with ensemble/ name the config's ensembles";
  return {};
}

class model_reader : private yaml_reader {
public:
  using yaml_reader::yaml_reader;

  std::map<std::string, model_route>
  read(const YAML::Node& models,
       const std::map<std::string, provider_config>& providers,
       std::vector<config_error>& problems) const {
    std::map<std::string, model_route> result;
    for (auto& entry : entries(models, "models", {})) {
      try {
        result.emplace(entry.key, read_route(entry, providers));
      } catch (const config_error& e) {
        problems.push_back(e);
      }
    }
    return result;
  }

private:
  model_route
  read_route(const map_entry& entry,
             const std::map<std::string, provider_config>& providers) const {
    auto path = "models." + entry.key;
    model_route r;
    r.name = entry.key;
    r.where = at(entry.key_node);
    if (auto problem = name_problem(r.name); !problem.empty())
      fail(entry.key_node, path, problem);
    if (providers.count(r.name) > 0)
      fail(entry.key_node, path,
           "'" + r.name +
               "' is a provider's name; a routed model needs its own");
    r.wildcard =
        r.name.size() >= 2 && r.name.compare(r.name.size() - 2, 2, "/*") == 0;
    const auto& value = map_value(entry, path,
                                  "{deployments: [gpt-east, gpt-west], "
                                  "strategy: least_busy}");
    bool has_deployments = false;
    for (auto& field : entries(value, path, route_keys)) {
      auto field_path = path + "." + field.key;
      if (field.key == "deployments") {
        has_deployments = true;
        r.deployments = read_deployments(field, field_path, providers);
      } else if (field.key == "strategy") {
        auto word = read_word(field, field_path, strategy_words);
        r.strategy = word == "least_busy"       ? route_strategy::least_busy
                     : word == "lowest_latency" ? route_strategy::lowest_latency
                     : word == "most_remaining" ? route_strategy::most_remaining
                                                : route_strategy::weighted;
      } else {
        r.deadline_ms = read_duration_ms(field, field_path);
      }
    }
    if (!has_deployments)
      fail(r.where, path, "missing required key 'deployments'");
    return r;
  }

  std::vector<deployment_config> read_deployments(
      const map_entry& entry, const std::string& path,
      const std::map<std::string, provider_config>& providers) const {
    if (!entry.value.IsSequence() || entry.value.size() == 0)
      fail(value_at(entry), path,
           "expected a list of providers such as [gpt-east, {provider: "
           "gpt-west, weight: 3}], got " +
               describe(entry.value));
    if (entry.value.size() > max_deployments)
      fail(value_at(entry), path,
           "at most " + std::to_string(max_deployments) + " deployments");
    std::vector<deployment_config> result;
    for (size_t i = 0; i < entry.value.size(); ++i) {
      auto item = entry.value[i];
      auto item_path = path + "[" + std::to_string(i) + "]";
      deployment_config d;
      d.where = at(item);
      YAML::Node provider_node;
      if (item.IsScalar()) {
        provider_node = item;
      } else if (item.IsMap()) {
        for (auto& field : entries(item, item_path, deployment_keys)) {
          if (field.key == "provider")
            provider_node = field.value;
          else
            d.weight = read_positive_number(field, item_path + ".weight",
                                            "a positive number such as 3");
        }
        if (!provider_node.IsDefined())
          fail(item, item_path, "missing required key 'provider'");
        item_path += ".provider";
      } else {
        fail(item, item_path,
             "expected a provider name or {provider: NAME, weight: W}, got " +
                 describe(item));
      }
      if (!provider_node.IsScalar())
        fail(provider_node, item_path,
             "expected a provider name, got " + describe(provider_node));
      d.provider = provider_node.Scalar();
      if (providers.count(d.provider) == 0)
        fail(provider_node, item_path, unknown_provider(d.provider, providers));
      if (std::any_of(result.begin(), result.end(),
                      [&](const deployment_config& other) {
                        return other.provider == d.provider;
                      }))
        fail(provider_node, item_path,
             "'" + d.provider + "' is listed twice; give it a weight instead");
      result.push_back(std::move(d));
    }
    return result;
  }
};

} // namespace

std::map<std::string, model_route>
read_models(const yaml_source& source, const YAML::Node& models,
            const std::map<std::string, provider_config>& providers,
            std::vector<config_error>& problems) {
  return model_reader{source}.read(models, providers, problems);
}

} // namespace tutti::config_detail

namespace tutti {

std::string to_string(route_strategy strategy) {
  switch (strategy) {
  case route_strategy::weighted:
    return "weighted";
  case route_strategy::least_busy:
    return "least_busy";
  case route_strategy::lowest_latency:
    return "lowest_latency";
  case route_strategy::most_remaining:
    return "most_remaining";
  }
  return "weighted";
}

const model_route* find_route(const config& cfg, const std::string& model,
                              std::string& rest) {
  rest.clear();
  if (auto exact = cfg.models.find(model);
      exact != cfg.models.end() && !exact->second.wildcard)
    return &exact->second;
  const model_route* best = nullptr;
  size_t best_prefix = 0;
  for (auto& [name, route] : cfg.models) {
    if (!route.wildcard)
      continue;
    auto prefix = name.size() - 1; // up to and with the '/'
    if (model.size() > prefix &&
        model.compare(0, prefix, name, 0, prefix) == 0 &&
        prefix > best_prefix) {
      best = &route;
      best_prefix = prefix;
    }
  }
  if (best != nullptr)
    rest = model.substr(best_prefix);
  return best;
}

ensemble_config ensemble_of_route(const model_route& route,
                                  const std::string& rest) {
  ensemble_config e;
  e.name = route.name;
  e.until = until_rule::first;
  e.mode = run_mode::fallback;
  e.combine = "first";
  e.deadline_ms = route.deadline_ms;
  e.route = route.strategy;
  e.where = route.where;
  for (auto& d : route.deployments) {
    member_config m;
    m.provider = d.provider;
    m.label = d.provider;
    m.weight = d.weight;
    m.params.model = rest;
    m.where = d.where;
    e.members.push_back(std::move(m));
  }
  return e;
}

} // namespace tutti
