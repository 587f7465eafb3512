// What an engine checks of a config it is given: the rules a config read
// from YAML already holds (the reader checks them with the YAML's line and
// column), for a config a host program built or changed in code. Each rule
// that the engine relies on is here: names that refer to something refer
// to something that exists, counts are in range, a strategy gets exactly
// the settings it declares, a pipeline's steps form no cycle.

#include "tutti/config.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>

#include "engine/src/names.hpp"
#include "tutti/registry.hpp"

namespace tutti {

namespace {

/// Draws one member may ask for, as the reader allows.
constexpr int max_samples = 100;

[[noreturn]] void invalid(const source_location& where, const std::string& path,
                          const std::string& message) {
  throw config_error(where, path + ": " + message);
}

void validate_provider(const std::string& name, const provider_config& p,
                       const registry& plugins) {
  auto path = "providers." + name;
  if (name.empty())
    invalid(p.where, "providers", "a provider needs a name");
  if (p.name != name)
    invalid(p.where, path,
            "its name field is '" + p.name + "'; expected '" + name + "'");
  auto codec = plugins.make_codec(p.kind);
  if (!codec)
    invalid(p.where, path + ".kind",
            "unknown provider kind '" + p.kind +
                "'; expected one of: " + join_names(plugins.codec_names()));
  if (p.model.empty())
    invalid(p.where, path, "missing required key 'model'");
  if (p.base_url.empty())
    invalid(p.where, path, "missing 'base_url' (kind " + p.kind + ")");
  if (p.concurrency < 1)
    invalid(p.where, path + ".concurrency",
            "expected a positive integer, got " +
                std::to_string(p.concurrency));
  if (p.max_queue < 1)
    invalid(p.where, path + ".queue.max", "expected a positive integer");
  if (p.limit_group.empty())
    invalid(p.where, path + ".limit_group",
            "empty; a provider of its own has its name as its group");
  for (const auto& key : codec->keys()) {
    auto value = p.options.find(key.name);
    if (value == p.options.end()) {
      if (key.required)
        invalid(p.where, path,
                "missing required key '" + key.name + "' (a " + p.kind +
                    " provider needs it)");
      continue;
    }
    // A ${VAR} is checked once expanded, when the provider starts.
    if (key.check != nullptr && value->second.find("${") == std::string::npos) {
      if (auto problem = key.check(value->second); !problem.empty())
        invalid(p.where, path + "." + key.name, problem);
    }
  }
  for (const auto& entry : p.options) {
    const auto& option = entry.first; // clang cannot capture a binding
    auto keys = codec->keys();
    if (std::none_of(keys.begin(), keys.end(),
                     [&](const codec_key& k) { return k.name == option; }))
      invalid(p.where, path, "unknown key '" + option + "' for kind " + p.kind);
  }
}

/// The settings `e` gives its strategy, checked against what the strategy
/// declares; then the strategy is made as the engine will make it, and
/// returned.
std::unique_ptr<combine_strategy>
check_combine(const std::string& path, const source_location& where,
              const std::string& combine, const combine_options& settings,
              const config& cfg, const registry& plugins) {
  auto names = plugins.combine_names();
  if (std::find(names.begin(), names.end(), combine) == names.end())
    invalid(where, path + ".combine",
            "unknown combine strategy '" + combine +
                "'; expected one of: " + join_names(names));
  if (const auto* traits = plugins.traits_of(combine)) {
    for (const auto& entry : settings.all()) {
      const auto& key = entry.first; // clang cannot capture a binding
      const auto& value = entry.second;
      auto setting =
          std::find_if(traits->settings.begin(), traits->settings.end(),
                       [&](const combine_setting& s) { return s.name == key; });
      if (setting == traits->settings.end())
        invalid(where, path + "." + key,
                "combine strategy '" + combine + "' does not use '" + key +
                    "'");
      if (setting->type == setting_type::provider &&
          cfg.providers.count(value) == 0)
        invalid(where, path + "." + key, "unknown provider '" + value + "'");
    }
    for (const auto& setting : traits->settings)
      if (setting.required && !settings.has(setting.name))
        invalid(where, path,
                "missing required key '" + setting.name + "' (" +
                    setting.purpose + ") for combine strategy '" + combine +
                    "'");
  }
  std::unique_ptr<combine_strategy> strategy;
  try {
    strategy = plugins.make_combine(combine, settings);
  } catch (const std::invalid_argument& error) {
    invalid(where, path, "combine strategy '" + combine + "': " + error.what());
  } catch (const std::regex_error& error) {
    invalid(where, path, "combine strategy '" + combine + "': " + error.what());
  }
  for (const auto& called : strategy->providers_called())
    if (cfg.providers.count(called) == 0)
      invalid(where, path,
              "combine strategy '" + combine + "' calls provider '" + called +
                  "', which is not in the config");
  return strategy;
}

void validate_ensemble(const std::string& name, const ensemble_config& e,
                       const config& cfg, const registry& plugins) {
  auto path = "ensembles." + name;
  if (e.members.empty())
    invalid(e.where, path + ".members",
            "an ensemble needs at least one member");
  int draws = 0;
  std::set<std::string> labels;
  for (size_t i = 0; i < e.members.size(); ++i) {
    const auto& m = e.members[i];
    auto member_path = path + ".members[" + std::to_string(i) + "]";
    if (cfg.providers.count(m.provider) == 0)
      invalid(m.where, member_path,
              "unknown provider '" + m.provider +
                  "'; expected one of: " + join_names(keys_of(cfg.providers)));
    if (m.label.empty())
      invalid(m.where, member_path + ".label", "empty");
    if (m.samples < 1 || m.samples > max_samples)
      invalid(m.where, member_path + ".samples",
              "expected an integer from 1 to " + std::to_string(max_samples));
    if (!(m.weight > 0))
      invalid(m.where, member_path + ".weight", "expected a positive number");
    for (int draw = 1; draw <= m.samples; ++draw) {
      auto label =
          m.samples == 1 ? m.label : m.label + ":" + std::to_string(draw);
      if (!labels.insert(label).second)
        invalid(m.where, member_path + ".label",
                "duplicate label '" + label + "'");
    }
    draws += m.samples;
  }
  auto draws_range = "an integer from 1 to " + std::to_string(draws) +
                     " (the ensemble's draws)";
  if (e.until == until_rule::quorum && (e.quorum < 1 || e.quorum > draws))
    invalid(e.where, path + ".until.quorum", "expected " + draws_range);
  if (e.min_success < 1 || e.min_success > draws)
    invalid(e.where, path + ".min_success", "expected " + draws_range);
  if (e.deadline_ms <= 0)
    invalid(e.where, path + ".deadline", "expected a positive duration");
  if (e.mode == run_mode::hedged &&
      (e.hedge_after_ms <= 0 || e.hedge_after_ms >= e.deadline_ms))
    invalid(e.where, path + ".hedge_after",
            "mode 'hedged' needs a hedge_after above 0 and below the "
            "deadline");
  if (e.mode != run_mode::parallel) {
    auto chain = "mode '" + to_string(e.mode) +
                 "' stops at the first successful member, so ";
    if (e.until == until_rule::deadline)
      invalid(e.where, path + ".until",
              chain + "it cannot wait for the deadline");
    if (e.until == until_rule::quorum && e.quorum > 1)
      invalid(e.where, path + ".until.quorum",
              chain + "a quorum above 1 is never reached");
    if (e.min_success > 1)
      invalid(e.where, path + ".min_success", chain + "expected 1");
  }
  check_combine(path, e.where, e.combine, e.combine_settings, cfg, plugins);
}

void validate_pipeline(const std::string& name, const pipeline_config& p,
                       const config& cfg) {
  auto path = "pipelines." + name;
  if (p.steps.empty())
    invalid(p.where, path + ".steps", "a pipeline needs at least one step");
  std::set<std::string> done; // steps that come earlier, in YAML order
  std::set<std::string> ids;
  for (const auto& s : p.steps)
    if (!ids.insert(s.id).second)
      invalid(s.where, path + ".steps", "duplicate step id '" + s.id + "'");
  // Every step's needs must be steps; Kahn's algorithm finds a cycle.
  std::map<std::string, size_t> waiting;
  for (const auto& s : p.steps) {
    auto step_path = path + ".steps." + s.id;
    if (s.ensemble.empty() == s.call.empty())
      invalid(s.where, step_path,
              "expected exactly one of 'ensemble' and "
              "'call'");
    if (!s.ensemble.empty() && cfg.ensembles.count(s.ensemble) == 0)
      invalid(s.where, step_path + ".ensemble",
              "unknown ensemble '" + s.ensemble + "'");
    if (!s.call.empty() && cfg.providers.count(s.call) == 0)
      invalid(s.where, step_path + ".call",
              "unknown provider '" + s.call + "'");
    for (const auto& need : s.needs)
      if (ids.count(need) == 0)
        invalid(s.where, step_path, "needs unknown step '" + need + "'");
    waiting[s.id] = s.needs.size();
  }
  size_t finished = 0;
  for (bool progress = true; progress;) {
    progress = false;
    for (const auto& s : p.steps) {
      if (done.count(s.id) != 0 || waiting[s.id] != 0)
        continue;
      done.insert(s.id);
      ++finished;
      progress = true;
      for (const auto& other : p.steps)
        for (const auto& need : other.needs)
          if (need == s.id)
            --waiting[other.id];
    }
  }
  if (finished != p.steps.size())
    invalid(p.where, path + ".steps", "the steps' references form a cycle");
  if (ids.count(p.output) == 0)
    invalid(p.where, path + ".output", "unknown step '" + p.output + "'");
}

} // namespace

std::unique_ptr<combine_strategy>
validate_combine_choice(const std::string& path, const source_location& where,
                        const std::string& combine,
                        const combine_options& settings, const config& cfg,
                        const registry& plugins) {
  return check_combine(path, where, combine, settings, cfg, plugins);
}

void validate_config(const config& cfg, const registry& plugins) {
  for (const auto& [name, p] : cfg.providers)
    validate_provider(name, p, plugins);
  for (const auto& [name, e] : cfg.ensembles)
    validate_ensemble(name, e, cfg, plugins);
  for (const auto& [name, p] : cfg.pipelines)
    validate_pipeline(name, p, cfg);
}

} // namespace tutti
