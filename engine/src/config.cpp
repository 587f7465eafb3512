#include "tutti/config.hpp"

#include "engine/src/config_sections.hpp"
#include "engine/src/config_yaml.hpp"
#include "engine/src/names.hpp"
#include "engine/src/utf8.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <memory>
#include <regex>
#include <sstream>
#include <string_view>
#include <system_error>
#include <utility>

#include <yaml-cpp/eventhandler.h>
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

using namespace config_detail;

namespace {

const word_list top_level_keys = {"providers", "ensembles", "pipelines"};

const word_list ensemble_keys = {
    "members", "until",   "mode",  "hedge_after", "deadline",    "min_success",
    "combine", "extract", "judge", "rubric",      "synthesizer", "prompt",
};

const word_list member_keys = {"provider", "label", "samples", "weight",
                               "params"};

/// The words `until:` takes; `{quorum: K}` is the map form.
const word_list until_words = {"all", "first", "deadline"};

const word_list until_map_keys = {"quorum"};

const word_list supported_modes = {"parallel", "fallback", "hedged"};

/// The ensemble keys that become `combine_options`.
const word_list combine_setting_keys = {"extract", "judge", "rubric",
                                        "synthesizer", "prompt"};

/// The settings each built-in strategy reads. A strategy not listed here (a
/// host program's own) is handed every setting given and its factory
/// decides. judge and rank fall back to a vote, so they read `extract` too.
const std::map<std::string, word_list> strategy_settings = {
    {"collect", {}},
    {"first", {}},
    {"vote", {"extract"}},
    {"judge", {"judge", "rubric", "prompt", "extract"}},
    {"rank", {"judge", "rubric", "prompt", "extract"}},
    {"synthesize", {"synthesizer", "prompt", "rubric", "extract"}},
};

/// The setting a built-in strategy cannot do without, and what it is for.
const std::map<std::string, std::pair<std::string, std::string>>
    strategy_required_setting = {
        {"judge", {"judge", "the provider that judges"}},
        {"rank", {"judge", "the provider that ranks the replies"}},
        {"synthesize",
         {"synthesizer", "the provider that writes the final answer"}},
};

/// Draws one member may ask for (self-consistency).
constexpr int max_samples = 100;

const word_list pipeline_keys = {"inputs", "steps", "output"};

const word_list step_keys = {"ensemble", "call", "prompt", "system", "params"};

/// Reads the YAML tree into a `config`, throwing at the first problem.
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
    for (auto& entry : entries(root, "", top_level_keys)) {
      (entry.key == "providers"   ? providers
       : entry.key == "ensembles" ? ensembles
                                  : pipelines) = entry.value;
      if (!entry.value.IsNull() && !entry.value.IsMap()) {
        fail(entry.value, entry.key,
             "expected a map of " + entry.key + " by name, got " +
                 describe(entry.value));
      }
    }
    if (providers.IsMap()) {
      result.providers = read_providers(source(), plugins_, providers);
    }
    if (ensembles.IsMap()) {
      for (auto& entry : entries(ensembles, "ensembles", {})) {
        result.ensembles.emplace(entry.key,
                                 read_ensemble(entry, result.providers));
      }
    }
    if (pipelines.IsMap()) {
      for (auto& entry : entries(pipelines, "pipelines", {})) {
        result.pipelines.emplace(entry.key, read_pipeline(entry, result));
      }
    }
    if (result.providers.empty() && result.ensembles.empty()) {
      fail(root, "", "no providers and no ensembles are defined");
    }
    return result;
  }

private:
  // -- ensembles

  /// The fields an ensemble gave, by key, for checks that involve more than
  /// one; "until.quorum" is the quorum's own entry.
  using ensemble_fields = std::map<std::string, map_entry>;

  ensemble_config
  read_ensemble(const map_entry& entry,
                const std::map<std::string, provider_config>& providers) const {
    auto path = "ensembles." + entry.key;
    if (!is_valid_name(entry.key)) {
      fail(entry.key_node, path,
           "invalid ensemble name; use letters, digits, '_', '-' and '.', "
           "starting with a letter, digit or '_'");
    }
    if (!entry.value.IsMap()) {
      fail(value_at(entry), path,
           "expected a map with at least 'members', got " +
               describe(entry.value));
    }
    ensemble_config e;
    e.name = entry.key;
    e.where = at(entry.key_node);
    ensemble_fields given;
    for (auto& field : entries(entry.value, path, ensemble_keys)) {
      auto field_path = path + "." + field.key;
      given.emplace(field.key, field);
      if (field.key == "members") {
        e.members = read_members(field, field_path, providers);
      } else if (field.key == "until") {
        given.emplace("until.quorum", read_until(field, field_path, e));
      } else if (field.key == "mode") {
        e.mode = read_word(field, field_path, supported_modes);
      } else if (field.key == "hedge_after") {
        e.hedge_after_ms = read_duration_ms(field, field_path);
      } else if (field.key == "deadline") {
        e.deadline_ms = read_duration_ms(field, field_path);
      } else if (field.key == "min_success") {
        e.min_success = static_cast<int>(
            read_int(field, field_path, 1, INT32_MAX, "a positive integer"));
      } else if (field.key == "combine") {
        e.combine = read_string(field, field_path);
        auto names = plugins_.combine_names();
        if (std::find(names.begin(), names.end(), e.combine) == names.end()) {
          fail(field.value, field_path,
               "unknown combine strategy '" + e.combine + "'; " +
                   expected_one_of(e.combine, names));
        }
      } else {
        read_combine_setting(field, field_path, providers, e.combine_settings);
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
      e.until = "quorum";
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
    e.until = word;
    return {};
  }

  /// `extract`, `judge`, `rubric`, `synthesizer` or `prompt`; the judge and
  /// the synthesizer must be providers of this file.
  void
  read_combine_setting(const map_entry& field, const std::string& path,
                       const std::map<std::string, provider_config>& providers,
                       combine_options& settings) const {
    auto text = read_string(field, path);
    if ((field.key == "judge" || field.key == "synthesizer") &&
        providers.find(text) == providers.end()) {
      fail(field.value, path, unknown_provider(text, providers));
    }
    if (field.key == "extract") {
      settings.extract = text;
    } else if (field.key == "judge") {
      settings.judge = text;
    } else if (field.key == "rubric") {
      settings.rubric = text;
    } else if (field.key == "synthesizer") {
      settings.synthesizer = text;
    } else {
      settings.prompt = text;
    }
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
    if (e.until == "quorum" && e.quorum > draws) {
      const auto& quorum = given.at("until.quorum");
      fail(quorum.value, path + ".until.quorum",
           "expected " + draws_range + ", got " + describe(quorum.value));
    }
    if (e.min_success > draws) {
      const auto& min_success = given.at("min_success");
      fail(min_success.value, path + ".min_success",
           "expected " + draws_range + ", got " + describe(min_success.value));
    }
    if (e.mode == "hedged") {
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
               e.mode + "'" +
               (given.count("mode") > 0 ? "" : " (the default)"));
    }
    if (e.mode == "parallel") {
      return;
    }
    // A chain (fallback, hedged) ends at its first success: `all` and
    // `first` both mean "until a member succeeds or all have been tried".
    auto chain =
        "mode '" + e.mode + "' stops at the first successful member, so ";
    if (e.until == "deadline") {
      fail(given.at("until").value, path + ".until",
           chain + "it cannot wait for the deadline; use until: first or "
                   "all (both mean: until a member succeeds or all have "
                   "been tried), or mode: parallel");
    }
    if (e.until == "quorum" && e.quorum > 1) {
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
    if (auto reads = strategy_settings.find(e.combine);
        reads != strategy_settings.end()) {
      for (const auto& key : combine_setting_keys) {
        auto setting = given.find(key);
        if (setting == given.end() ||
            std::find(reads->second.begin(), reads->second.end(), key) !=
                reads->second.end()) {
          continue;
        }
        auto message = strategy_name +
                       (reads->second.empty()
                            ? std::string{" takes no settings"}
                            : " does not use '" + key +
                                  "'; it reads: " + join_names(reads->second));
        word_list readers;
        for (const auto& [name, keys] : strategy_settings) {
          if (std::find(keys.begin(), keys.end(), key) != keys.end() &&
              std::find(registered.begin(), registered.end(), name) !=
                  registered.end()) {
            readers.push_back(name);
          }
        }
        if (!readers.empty()) {
          message += "; '" + key + "' is for combine: " + join_names(readers);
        }
        fail(setting->second.key_node, path + "." + key, message);
      }
      if (auto required = strategy_required_setting.find(e.combine);
          required != strategy_required_setting.end() &&
          given.count(required->second.first) == 0) {
        fail(e.where, path,
             "missing required key '" + required->second.first + "' (" +
                 required->second.second + ") for combine strategy '" +
                 e.combine + "'");
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
    for (auto pair : item) {
      const auto& key = pair.first;
      if (key.IsScalar() && std::find(param_keys.begin(), param_keys.end(),
                                      key.Scalar()) != param_keys.end()) {
        fail(key, path,
             "unknown key '" + key.Scalar() +
                 "'; a member's sampling parameters go under 'params', such "
                 "as params: {temperature: 0.9}");
      }
    }
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
        const auto& map =
            map_value(field, field_path, "{temperature: 0.9, seed: 7}");
        param_places seen;
        for (auto& param : entries(map, field_path, param_keys)) {
          read_param(param, field_path + "." + param.key, m.params, seen);
        }
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

  // -- pipelines

  pipeline_config read_pipeline(const map_entry& entry,
                                const config& cfg) const {
    auto path = "pipelines." + entry.key;
    if (!is_valid_name(entry.key)) {
      fail(entry.key_node, path,
           "invalid pipeline name; use letters, digits, '_', '-' and '.', "
           "starting with a letter, digit or '_'");
    }
    if (!entry.value.IsMap()) {
      fail(value_at(entry), path,
           "expected a map with 'inputs', 'steps' and 'output', got " +
               describe(entry.value));
    }
    pipeline_config p;
    p.name = entry.key;
    p.where = at(entry.key_node);
    std::map<std::string, map_entry> given;
    for (auto& field : entries(entry.value, path, pipeline_keys)) {
      given.emplace(field.key, field);
    }
    // Inputs first, wherever they are written: the steps' templates use them.
    if (auto inputs = given.find("inputs"); inputs != given.end()) {
      p.inputs = read_inputs(inputs->second, path + ".inputs");
    }
    auto steps = given.find("steps");
    if (steps == given.end()) {
      fail(p.where, path, "missing required key 'steps'");
    }
    read_steps(steps->second, path + ".steps", p, cfg);
    check_no_cycle(p, path);
    auto output = given.find("output");
    if (output == given.end()) {
      fail(p.where, path,
           "missing required key 'output' (the step whose answer is the "
           "pipeline's answer; one of: " +
               join_names(step_ids(p)) + ")");
    }
    p.output = read_string(output->second, path + ".output");
    if (!has_step(p, p.output)) {
      fail(output->second.value, path + ".output",
           "unknown step '" + p.output + "'; " +
               expected_one_of(p.output, step_ids(p)));
    }
    return p;
  }

  static word_list step_ids(const pipeline_config& p) {
    word_list ids;
    for (const auto& step : p.steps) {
      ids.push_back(step.id);
    }
    return ids;
  }

  static bool has_step(const pipeline_config& p, const std::string& id) {
    return std::any_of(p.steps.begin(), p.steps.end(),
                       [&](const pipeline_step& s) { return s.id == id; });
  }

  /// `[question, context]`: names the templates write as `{{input.NAME}}`.
  word_list read_inputs(const map_entry& entry, const std::string& path) const {
    if (entry.value.IsNull()) {
      return {};
    }
    if (!entry.value.IsSequence()) {
      fail(value_at(entry), path,
           "expected a list of input names such as [question], got " +
               describe(entry.value));
    }
    word_list inputs;
    std::map<std::string, YAML::Node> seen;
    for (size_t i = 0; i < entry.value.size(); ++i) {
      auto item = entry.value[i];
      auto item_path = path + "[" + std::to_string(i) + "]";
      if (!item.IsScalar()) {
        fail(item.IsNull() ? entry.value : item, item_path,
             "expected an input name, got " + describe(item));
      }
      const auto& name = item.Scalar();
      if (!is_template_identifier(name)) {
        fail(item, item_path,
             "invalid input name '" + name +
                 "'; use letters, digits, '_' and '-', starting with a "
                 "letter or '_'");
      }
      if (auto first = seen.find(name); first != seen.end()) {
        fail(item, item_path,
             "duplicate input '" + name + "' (first declared at line " +
                 std::to_string(at(first->second).line) + ")");
      }
      seen.emplace(name, item);
      inputs.push_back(name);
    }
    return inputs;
  }

  /// The steps in YAML order; every id is known before any template is
  /// checked, so a step may use one written after it.
  void read_steps(const map_entry& entry, const std::string& path,
                  pipeline_config& p, const config& cfg) const {
    if (entry.value.IsNull() ||
        (entry.value.IsMap() && entry.value.size() == 0)) {
      fail(value_at(entry), path, "a pipeline needs at least one step");
    }
    if (!entry.value.IsMap()) {
      fail(value_at(entry), path,
           "expected a map of steps by id, got " + describe(entry.value));
    }
    auto fields = entries(entry.value, path, {});
    word_list ids;
    for (const auto& field : fields) {
      if (!is_template_identifier(field.key)) {
        fail(field.key_node, path + "." + field.key,
             "invalid step id; use letters, digits, '_' and '-', starting "
             "with a letter or '_'");
      }
      ids.push_back(field.key);
    }
    for (const auto& field : fields) {
      p.steps.push_back(
          read_step(field, path + "." + field.key, p.inputs, ids, cfg));
    }
  }

  pipeline_step read_step(const map_entry& entry, const std::string& path,
                          const word_list& inputs, const word_list& ids,
                          const config& cfg) const {
    pipeline_step s;
    s.id = entry.key;
    s.where = at(entry.key_node);
    if (!entry.value.IsMap()) {
      fail(value_at(entry), path,
           "expected a map with 'ensemble' or 'call' and 'prompt', got " +
               describe(entry.value));
    }
    for (auto pair : entry.value) {
      const auto& key = pair.first;
      if (key.IsScalar() && std::find(param_keys.begin(), param_keys.end(),
                                      key.Scalar()) != param_keys.end()) {
        fail(key, path,
             "unknown key '" + key.Scalar() +
                 "'; a step's sampling parameters go under 'params', such "
                 "as params: {temperature: 0.2}");
      }
    }
    auto fields = entries(entry.value, path, step_keys);
    const map_entry* target = nullptr;
    const map_entry* prompt = nullptr;
    const map_entry* system = nullptr;
    for (const auto& field : fields) {
      auto field_path = path + "." + field.key;
      if (field.key == "ensemble" || field.key == "call") {
        if (target != nullptr) {
          fail(field.key_node, field_path,
               "a step asks either an ensemble or one provider, not both; "
               "'" +
                   target->key + "' is given at line " +
                   std::to_string(at(target->key_node).line));
        }
        target = &field;
        auto name = read_string(field, field_path);
        if (field.key == "ensemble") {
          if (cfg.ensembles.find(name) == cfg.ensembles.end()) {
            auto names = keys_of(cfg.ensembles);
            fail(field.value, field_path,
                 "unknown ensemble '" + name + "'; " +
                     (names.empty() ? std::string{"no ensembles are defined"}
                                    : expected_one_of(name, names)));
          }
          s.ensemble = name;
        } else {
          if (cfg.providers.find(name) == cfg.providers.end()) {
            fail(field.value, field_path,
                 unknown_provider(name, cfg.providers));
          }
          s.call = name;
        }
      } else if (field.key == "prompt") {
        s.prompt = read_template(field, field_path);
        prompt = &field;
      } else if (field.key == "system") {
        s.system = read_template(field, field_path);
        system = &field;
      } else {
        const auto& map =
            map_value(field, field_path, "{temperature: 0.2, max_tokens: 512}");
        param_places seen;
        for (auto& param : entries(map, field_path, param_keys)) {
          read_param(param, field_path + "." + param.key, s.params, seen);
        }
      }
    }
    if (target == nullptr) {
      fail(s.where, path,
           "missing 'ensemble' or 'call': a step asks an ensemble "
           "(ensemble: NAME) or one provider (call: NAME)");
    }
    if (prompt == nullptr) {
      fail(s.where, path, "missing required key 'prompt'");
    }
    check_references(s, s.prompt, *prompt, path + ".prompt", inputs, ids);
    if (system != nullptr) {
      check_references(s, s.system, *system, path + ".system", inputs, ids);
    }
    return s;
  }

  /// A non-empty string parsed as a template; a template error is reported
  /// where it is in the file.
  prompt_template read_template(const map_entry& field,
                                const std::string& path) const {
    auto text = read_string(field, path);
    try {
      return parse_template(text);
    } catch (const template_error& e) {
      fail(at_braces(field.value, text, e.offset(), 2), path, e.what());
    }
  }

  /// Every input a template uses must be declared and every step it uses
  /// must be another step of the pipeline; adds the steps to `s.needs`.
  void check_references(pipeline_step& s, const prompt_template& t,
                        const map_entry& field, const std::string& path,
                        const word_list& inputs, const word_list& ids) const {
    for (const auto& ref : t.refs) {
      auto written = t.text.substr(ref.offset, ref.length);
      auto here = [&] {
        return at_braces(field.value, t.text, ref.offset, ref.length);
      };
      if (ref.from == template_ref::source::input) {
        if (std::find(inputs.begin(), inputs.end(), ref.name) == inputs.end()) {
          fail(here(), path,
               "unknown input '" + ref.name + "' in " + written + "; " +
                   (inputs.empty()
                        ? "the pipeline declares no inputs; declare it "
                          "with inputs: [" +
                              ref.name + "]"
                        : expected_one_of(ref.name, inputs) +
                              (closest(ref.name, inputs).empty()
                                   ? " (or declare it under 'inputs')"
                                   : "")));
        }
        continue;
      }
      if (ref.name == s.id) {
        fail(here(), path,
             "step '" + s.id + "' cannot use its own answer (" + written +
                 "); a step uses the answers of other steps");
      }
      if (std::find(ids.begin(), ids.end(), ref.name) == ids.end()) {
        word_list others;
        for (const auto& id : ids) {
          if (id != s.id) {
            others.push_back(id);
          }
        }
        fail(here(), path,
             "unknown step '" + ref.name + "' in " + written + "; " +
                 (others.empty() ? std::string{"the pipeline has no other step"}
                                 : expected_one_of(ref.name, others)));
      }
      if (std::find(s.needs.begin(), s.needs.end(), ref.name) ==
          s.needs.end()) {
        s.needs.push_back(ref.name);
      }
    }
  }

  /// The steps must form a DAG. A cycle is reported at the step of it that
  /// comes first in the file, going the way the references go.
  void check_no_cycle(const pipeline_config& p, const std::string& path) const {
    std::map<std::string, size_t> index;
    for (size_t i = 0; i < p.steps.size(); ++i) {
      index.emplace(p.steps[i].id, i);
    }
    enum class mark : uint8_t { unseen, open, done };
    std::vector<mark> state(p.steps.size(), mark::unseen);
    // A depth-first walk with its own stack (a chain of many steps must not
    // recurse): each entry is a step and how many of its needs are seen.
    std::vector<std::pair<size_t, size_t>> stack;
    auto report_cycle = [&](size_t j) {
      std::vector<size_t> cycle;
      for (auto k = std::find_if(stack.begin(), stack.end(),
                                 [&](const auto& e) { return e.first == j; });
           k != stack.end(); ++k) {
        cycle.push_back(k->first);
      }
      std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()),
                  cycle.end());
      std::string chain;
      for (auto k : cycle) {
        chain += p.steps[k].id + " -> ";
      }
      chain += p.steps[cycle.front()].id;
      fail(p.steps[cycle.front()].where, path,
           "steps form a cycle: " + chain +
               " (each step uses the answer of the next)");
    };
    for (size_t start = 0; start < p.steps.size(); ++start) {
      if (state[start] != mark::unseen) {
        continue;
      }
      state[start] = mark::open;
      stack.emplace_back(start, 0);
      while (!stack.empty()) {
        auto& [i, seen] = stack.back();
        const auto& needs = p.steps[i].needs;
        if (seen == needs.size()) {
          state[i] = mark::done;
          stack.pop_back();
          continue;
        }
        auto j = index.at(needs[seen++]);
        if (state[j] == mark::open) {
          report_cycle(j);
        }
        if (state[j] == mark::unseen) {
          state[j] = mark::open;
          stack.emplace_back(j, 0);
        }
      }
    }
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
      word_list names;
      for (const auto& entry : cfg.providers) {
        names.push_back(entry.first);
      }
      throw config_error({cfg.file, 0, 0},
                         "unknown provider '" + name + "'; " +
                             (names.empty() ? "no providers are defined"
                                            : expected_one_of(name, names)));
    }
    auto& p = i->second;
    if (p.env_resolved) {
      continue;
    }
    auto path = "providers." + p.name;
    auto api_key = expand_env(p.api_key, p.api_key_where, path + ".api_key");
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
    p.env_resolved = true;
  }
}

} // namespace tutti
