#pragma once

/// The sections of a config file, each read in its own file
/// (config_providers.cpp, config_ensembles.cpp, config_pipelines.cpp) with
/// the machinery of config_yaml.hpp; config.cpp reads the top level and
/// calls these in order, each section seeing the ones read before it.

#include <map>
#include <string>

#include <yaml-cpp/yaml.h>

#include "engine/src/config_yaml.hpp"
#include "tutti/config.hpp"

namespace tutti::config_detail {

// Each reader goes on past an entry with a problem: the problem is added to
// `problems` and the entry's name is kept (default-valued), so the sections
// after it do not also call it unknown.

/// `providers:`, each provider by name. Providers in one limit group share
/// one limiter: a budget written by two of them must agree, and each member
/// carries the group's budgets (written by any member, else the default).
std::map<std::string, provider_config>
read_providers(const yaml_source& source, const registry& plugins,
               const YAML::Node& providers,
               std::vector<config_error>& problems);

/// `ensembles:`, each ensemble by name; its members, its judge and its
/// synthesizer must be among `providers`.
std::map<std::string, ensemble_config>
read_ensembles(const yaml_source& source, const registry& plugins,
               const YAML::Node& ensembles,
               const std::map<std::string, provider_config>& providers,
               std::vector<config_error>& problems);

/// `pipelines:`, each pipeline by name; its steps ask the ensembles and
/// providers of `cfg`.
std::map<std::string, pipeline_config>
read_pipelines(const yaml_source& source, const YAML::Node& pipelines,
               const config& cfg, std::vector<config_error>& problems);

/// `models:`, each public model name with its deployments among
/// `providers`.
std::map<std::string, model_route>
read_models(const yaml_source& source, const YAML::Node& models,
            const std::map<std::string, provider_config>& providers,
            std::vector<config_error>& problems);

} // namespace tutti::config_detail
