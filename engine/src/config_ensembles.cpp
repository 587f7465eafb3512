#include "engine/src/config_sections.hpp"

#include "engine/src/names.hpp"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <regex>
#include <stdexcept>
#include <utility>

#include "tutti/registry.hpp"

namespace tutti::config_detail {

namespace {

/// An ensemble's own keys; beside them, the settings its strategies
/// declare (`combine_traits`).
const word_list ensemble_keys = {
    "members",     "until",   "mode",   "hedge_after", "deadline",
    "min_success", "combine", "budget", "cache",
};

const word_list member_keys = {"provider", "label", "samples", "weight",
                               "params"};

/// The words `until:` takes; `{quorum: K}` is the map form.
const word_list until_words = {"all", "first", "deadline"};

const word_list until_map_keys = {"quorum"};

const word_list supported_modes = {"parallel", "fallback", "hedged"};

/// Every setting some registered strategy declares, by name, as the first
/// one (in name order) declares it: the keys an ensemble may give beside its
/// own, and how a strategy that declares nothing has them checked.
std::map<std::string, combine_setting>
declared_settings(const registry& plugins) {
  std::map<std::string, combine_setting> result;
  for (const auto& name : plugins.combine_names()) {
    if (const auto* traits = plugins.traits_of(name)) {
      for (const auto& setting : traits->settings) {
        result.emplace(setting.name, setting);
      }
    }
  }
  return result;
}

/// Draws one member may ask for (self-consistency).
constexpr int max_samples = 100;

/// Reads the `ensembles` section.
class ensemble_reader : private yaml_reader {
public:
  ensemble_reader(const yaml_source& source, const registry& plugins)
      : yaml_reader(source), plugins_(plugins),
        settings_(declared_settings(plugins)) {
    keys_ = ensemble_keys;
    for (const auto& entry : settings_) {
      keys_.push_back(entry.first);
    }
  }

  std::map<std::string, ensemble_config>
  read(const YAML::Node& ensembles,
       const std::map<std::string, provider_config>& providers,
       std::vector<config_error>& problems) const {
    std::map<std::string, ensemble_config> result;
    for (auto& entry : entries(ensembles, "ensembles", {})) {
      try {
        result.emplace(entry.key, read_ensemble(entry, providers));
      } catch (const config_error& e) {
        problems.push_back(e);
        ensemble_config kept;
        kept.name = entry.key;
        result.emplace(entry.key, std::move(kept));
      }
    }
    return result;
  }

private:
  /// The fields an ensemble gave, by key, for checks that involve more than
  /// one; "until.quorum" is the quorum's own entry.
  using ensemble_fields = std::map<std::string, map_entry>;

  ensemble_config
  read_ensemble(const map_entry& entry,
                const std::map<std::string, provider_config>& providers) const {
    auto path = "ensembles." + entry.key;
    check_named_map(entry, path, "ensemble", "at least 'members'");
    ensemble_config e;
    e.name = entry.key;
    e.where = at(entry.key_node);
    ensemble_fields given;
    for (auto& field : entries(entry.value, path, keys_)) {
      auto field_path = path + "." + field.key;
      given.emplace(field.key, field);
      if (field.key == "members") {
        e.members = read_members(field, field_path, providers);
      } else if (field.key == "until") {
        given.emplace("until.quorum", read_until(field, field_path, e));
      } else if (field.key == "mode") {
        auto mode = read_word(field, field_path, supported_modes);
        e.mode = mode == "fallback" ? run_mode::fallback
                 : mode == "hedged" ? run_mode::hedged
                                    : run_mode::parallel;
      } else if (field.key == "hedge_after") {
        e.hedge_after_ms = read_duration_ms(field, field_path);
      } else if (field.key == "deadline") {
        e.deadline_ms = read_duration_ms(field, field_path);
      } else if (field.key == "min_success") {
        e.min_success = static_cast<int>(
            read_int(field, field_path, 1, INT32_MAX, "a positive integer"));
      } else if (field.key == "budget") {
        e.budget = read_spend_limit(field, field_path);
      } else if (field.key == "cache") {
        e.cache = read_cache_policy(field, field_path);
      } else if (field.key == "combine") {
        e.combine = read_string(field, field_path);
        auto names = plugins_.combine_names();
        if (std::find(names.begin(), names.end(), e.combine) == names.end()) {
          fail(field.value, field_path,
               "unknown combine strategy '" + e.combine + "'; " +
                   expected_one_of(e.combine, names));
        }
      } else {
        e.combine_settings.set(field.key, read_string(field, field_path));
      }
    }
    if (given.count("members") == 0) {
      fail(e.where, path, "missing required key 'members'");
    }
    check_run_rules(e, given, path);
    check_combine(e, given, path, providers);
    return e;
  }

  /// `all`, `first`, `deadline` or `{quorum: K}`; returns the quorum's entry
  /// (empty for a word).
  map_entry read_until(const map_entry& entry, const std::string& path,
                       ensemble_config& e) const {
    const std::string expected =
        "all, first, deadline or a map such as {quorum: 2}";
    if (entry.value.IsMap()) {
      auto fields = entries(entry.value, path, until_map_keys);
      if (fields.empty()) {
        fail(entry.value, path,
             "missing required key 'quorum'; expected a map such as "
             "{quorum: 2}");
      }
      e.until = until_rule::quorum;
      e.quorum = static_cast<int>(
          read_int(fields.front(), path + ".quorum", 1, INT32_MAX,
                   "a positive integer (successful draws to wait for)"));
      return fields.front();
    }
    auto word = scalar_text(entry, path, expected);
    if (word == "quorum") {
      fail(entry.value, path,
           "a quorum needs its size; write it as a map such as "
           "{quorum: 2}");
    }
    if (std::find(until_words.begin(), until_words.end(), word) ==
        until_words.end()) {
      fail(entry.value, path,
           "unsupported value '" + word + "'; expected " + expected +
               did_you_mean(word, until_words));
    }
    e.until = word == "first"      ? until_rule::first
              : word == "deadline" ? until_rule::deadline
                                   : until_rule::all;
    return {};
  }

  /// "3s", or "60s, the default" when the YAML did not give it.
  static std::string describe_deadline(const ensemble_config& e,
                                       const ensemble_fields& given) {
    return format_duration(e.deadline_ms) +
           (given.count("deadline") > 0 ? "" : ", the default");
  }

  /// Checks that involve several of until, quorum, mode, hedge_after,
  /// min_success and the number of draws.
  void check_run_rules(const ensemble_config& e, const ensemble_fields& given,
                       const std::string& path) const {
    int draws = 0;
    for (const auto& m : e.members) {
      draws += m.samples;
    }
    auto draws_range = "an integer from 1 to " + std::to_string(draws) +
                       " (the ensemble's draws: one per member, or its "
                       "samples)";
    if (e.until == until_rule::quorum && e.quorum > draws) {
      const auto& quorum = given.at("until.quorum");
      fail(quorum.value, path + ".until.quorum",
           "expected " + draws_range + ", got " + describe(quorum.value));
    }
    if (e.min_success > draws) {
      const auto& min_success = given.at("min_success");
      fail(min_success.value, path + ".min_success",
           "expected " + draws_range + ", got " + describe(min_success.value));
    }
    if (e.mode == run_mode::hedged) {
      if (given.count("hedge_after") == 0) {
        fail(given.at("mode").value, path + ".mode",
             "mode 'hedged' needs 'hedge_after': how long a member may run "
             "before the next one starts too, such as hedge_after: 1.5s");
      }
      if (e.hedge_after_ms >= e.deadline_ms) {
        const auto& hedge_after = given.at("hedge_after");
        fail(hedge_after.value, path + ".hedge_after",
             "expected less than the deadline (" + describe_deadline(e, given) +
                 "), got " + describe(hedge_after.value) +
                 "; no member would ever be hedged");
      }
    } else if (auto hedge_after = given.find("hedge_after");
               hedge_after != given.end()) {
      fail(hedge_after->second.key_node, path + ".hedge_after",
           "'hedge_after' applies only to mode: hedged; this ensemble's mode "
           "is '" +
               to_string(e.mode) + "'" +
               (given.count("mode") > 0 ? "" : " (the default)"));
    }
    if (e.mode == run_mode::parallel) {
      return;
    }
    // A chain (fallback, hedged) ends at its first success: `all` and
    // `first` both mean "until a member succeeds or all have been tried".
    auto chain = "mode '" + to_string(e.mode) +
                 "' stops at the first successful member, so ";
    if (e.until == until_rule::deadline) {
      fail(given.at("until").value, path + ".until",
           chain + "it cannot wait for the deadline; use until: first or "
                   "all (both mean: until a member succeeds or all have "
                   "been tried), or mode: parallel");
    }
    if (e.until == until_rule::quorum && e.quorum > 1) {
      const auto& quorum = given.at("until.quorum");
      fail(quorum.value, path + ".until.quorum",
           chain + "a quorum of " + std::to_string(e.quorum) +
               " is never reached; use mode: parallel for a quorum, or "
               "until: first");
    }
    if (e.min_success > 1) {
      const auto& min_success = given.at("min_success");
      fail(min_success.value, path + ".min_success",
           chain + "at most 1 succeeds; expected 1, got " +
               describe(min_success.value));
    }
  }

  /// Each strategy setting given must be one the strategy reads; a required
  /// one must be there; then the strategy is built as the engine will build
  /// it, and the providers it calls must exist.
  void
  check_combine(const ensemble_config& e, const ensemble_fields& given,
                const std::string& path,
                const std::map<std::string, provider_config>& providers) const {
    auto registered = plugins_.combine_names();
    bool is_default = given.count("combine") == 0;
    auto strategy_name = "combine strategy '" + e.combine + "'" +
                         (is_default ? " (the default)" : "");
    // What each setting given is, as this strategy (or, when it declares
    // nothing, any strategy) declares it.
    const auto* traits = plugins_.traits_of(e.combine);
    auto declared = [&](const std::string& key) -> const combine_setting* {
      if (traits == nullptr) {
        auto i = settings_.find(key);
        return i == settings_.end() ? nullptr : &i->second;
      }
      for (const auto& setting : traits->settings) {
        if (setting.name == key) {
          return &setting;
        }
      }
      return nullptr;
    };
    for (const auto& entry : e.combine_settings.all()) {
      // Named, not bound: clang's C++17 lambdas cannot capture a binding.
      const auto& key = entry.first;
      const auto& value = entry.second;
      const auto& field = given.at(key);
      const auto* setting = declared(key);
      if (setting == nullptr) {
        word_list reads;
        for (const auto& s : traits->settings) {
          reads.push_back(s.name);
        }
        auto message =
            strategy_name + (reads.empty()
                                 ? std::string{" takes no settings"}
                                 : " does not use '" + key +
                                       "'; it reads: " + join_names(reads));
        word_list readers;
        for (const auto& name : registered) {
          const auto* other = plugins_.traits_of(name);
          if (other != nullptr &&
              std::any_of(other->settings.begin(), other->settings.end(),
                          [&](const auto& s) { return s.name == key; })) {
            readers.push_back(name);
          }
        }
        if (!readers.empty()) {
          message += "; '" + key + "' is for combine: " + join_names(readers);
        }
        fail(field.key_node, path + "." + key, message);
      }
      if (setting->type == setting_type::provider &&
          providers.find(value) == providers.end()) {
        fail(field.value, path + "." + key, unknown_provider(value, providers));
      }
    }
    if (traits != nullptr) {
      for (const auto& setting : traits->settings) {
        if (setting.required && !e.combine_settings.has(setting.name)) {
          fail(e.where, path,
               "missing required key '" + setting.name + "' (" +
                   setting.purpose + ") for combine strategy '" + e.combine +
                   "'");
        }
      }
    }
    std::unique_ptr<combine_strategy> strategy;
    try {
      strategy = plugins_.make_combine(e.combine, e.combine_settings);
    } catch (const std::invalid_argument& error) {
      fail(e.where, path, strategy_name + ": " + error.what());
    } catch (const std::regex_error& error) {
      fail(e.where, path,
           strategy_name + ": 'extract' is not a valid regular expression: " +
               error.what());
    }
    if (!strategy) {
      fail(e.where, path,
           strategy_name + " is not registered; set 'combine:' to one of: " +
               join_names(registered));
    }
    for (const auto& called : strategy->providers_called()) {
      if (providers.find(called) == providers.end()) {
        fail(e.where, path,
             strategy_name + " calls provider '" + called +
                 "': " + unknown_provider(called, providers));
      }
    }
  }

  std::vector<member_config>
  read_members(const map_entry& entry, const std::string& path,
               const std::map<std::string, provider_config>& providers) const {
    if (entry.value.IsNull() ||
        (entry.value.IsSequence() && entry.value.size() == 0)) {
      fail(value_at(entry), path, "an ensemble needs at least one member");
    }
    if (!entry.value.IsSequence()) {
      fail(entry.value, path,
           "expected a list of provider names, got " + describe(entry.value));
    }
    std::vector<member_config> members;
    std::vector<YAML::Node> label_nodes; // the explicit label, if any
    for (size_t i = 0; i < entry.value.size(); ++i) {
      auto item = entry.value[i];
      auto item_path = path + "[" + std::to_string(i) + "]";
      member_config m;
      m.where = at(item.IsNull() ? entry.value : item);
      YAML::Node provider_node;
      YAML::Node label_node; // stays undefined without an explicit label
      if (item.IsScalar()) {
        provider_node = item;
      } else if (item.IsMap()) {
        read_member_map(item, item_path, m, provider_node, label_node);
        item_path += ".provider";
      } else {
        fail(m.where, item_path,
             "expected a provider name or a map such as {provider: NAME, "
             "samples: 3}, got " +
                 describe(item));
      }
      m.provider = provider_node.Scalar();
      if (providers.find(m.provider) == providers.end()) {
        fail(provider_node, item_path, unknown_provider(m.provider, providers));
      }
      members.push_back(std::move(m));
      label_nodes.push_back(label_node);
    }
    assign_labels(members, label_nodes, path);
    check_draw_labels(members, label_nodes, path);
    return members;
  }

  /// `{provider: NAME, label: L, samples: N, weight: W, params: {...}}`;
  /// `params` takes the same keys as a provider's `params`.
  void read_member_map(const YAML::Node& item, const std::string& path,
                       member_config& m, YAML::Node& provider_node,
                       YAML::Node& label_node) const {
    reject_flat_params(item, path, "a member's", "{temperature: 0.9}");
    bool has_provider = false;
    for (auto& field : entries(item, path, member_keys)) {
      auto field_path = path + "." + field.key;
      if (field.key == "provider") {
        provider_node = field.value;
        has_provider = true;
        if (!field.value.IsScalar()) {
          fail(value_at(field), field_path,
               "expected a provider name, got " + describe(field.value));
        }
      } else if (field.key == "label") {
        m.label = read_string(field, field_path);
        label_node = field.value;
      } else if (field.key == "samples") {
        m.samples = static_cast<int>(
            read_int(field, field_path, 1, max_samples,
                     "an integer from 1 to " + std::to_string(max_samples) +
                         " (draws from this provider)"));
      } else if (field.key == "weight") {
        m.weight = read_positive_number(field, field_path,
                                        "a positive number (the vote weight)");
      } else {
        param_places seen;
        read_params(field, field_path, "{temperature: 0.9, seed: 7}", m.params,
                    seen);
      }
    }
    if (!has_provider) {
      fail(item, path, "missing required key 'provider'");
    }
  }

  /// Members without a label get their provider's name, then NAME#2, NAME#3
  /// for the same provider again; explicit labels must not clash with any
  /// other label.
  void assign_labels(std::vector<member_config>& members,
                     const std::vector<YAML::Node>& label_nodes,
                     const std::string& path) const {
    std::map<std::string, size_t> owner; // label -> member index
    std::map<std::string, int> occurrences;
    for (size_t i = 0; i < members.size(); ++i) {
      auto& m = members[i];
      if (m.label.empty()) {
        int n = ++occurrences[m.provider];
        m.label = n == 1 ? m.provider : m.provider + "#" + std::to_string(n);
        owner.emplace(m.label, i);
      }
    }
    for (size_t i = 0; i < members.size(); ++i) {
      if (!label_nodes[i].IsScalar()) {
        continue;
      }
      auto& m = members[i];
      auto [it, inserted] = owner.emplace(m.label, i);
      if (!inserted) {
        fail(label_nodes[i], path + "[" + std::to_string(i) + "].label",
             "duplicate label '" + m.label + "'; " + path + "[" +
                 std::to_string(it->second) +
                 "] already has it (labels must be unique in an ensemble)");
      }
    }
  }

  /// A member with samples runs as LABEL:1 ... LABEL:N; no other label may
  /// be one of those names. Labels are already unique, so a clash is a
  /// member without samples whose label is another's draw: an explicit
  /// label (default ones never contain ':'), which is blamed.
  void check_draw_labels(const std::vector<member_config>& members,
                         const std::vector<YAML::Node>& label_nodes,
                         const std::string& path) const {
    auto member_path = [&](size_t i) {
      return path + "[" + std::to_string(i) + "]";
    };
    std::map<std::string, size_t> owner; // run-time label -> member index
    for (size_t i = 0; i < members.size(); ++i) {
      const auto& m = members[i];
      for (int draw = 1; draw <= m.samples; ++draw) {
        auto name =
            m.samples == 1 ? m.label : m.label + ":" + std::to_string(draw);
        auto [it, inserted] = owner.emplace(name, i);
        if (inserted) {
          continue;
        }
        auto other = it->second;
        auto blamed = m.samples == 1 ? i : other;
        auto drawing = blamed == i ? other : i;
        fail(label_nodes[blamed], member_path(blamed) + ".label",
             "duplicate label '" + name + "'; " + member_path(drawing) +
                 " runs as " + members[drawing].label + ":1 to " +
                 members[drawing].label + ":" +
                 std::to_string(members[drawing].samples) +
                 " (labels must be unique in an ensemble)");
      }
    }
  }

  const registry& plugins_;
  /// Every setting some strategy declares (`declared_settings`).
  std::map<std::string, combine_setting> settings_;
  /// The keys an ensemble may give: its own and those settings.
  word_list keys_;
};

} // namespace

std::map<std::string, ensemble_config>
read_ensembles(const yaml_source& source, const registry& plugins,
               const YAML::Node& ensembles,
               const std::map<std::string, provider_config>& providers,
               std::vector<config_error>& problems) {
  return ensemble_reader{source, plugins}.read(ensembles, providers, problems);
}

} // namespace tutti::config_detail
