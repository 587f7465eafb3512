#include "engine/src/config_sections.hpp"

#include "engine/src/names.hpp"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "tutti/prompt_template.hpp"

namespace tutti::config_detail {

namespace {

const word_list pipeline_keys = {"inputs", "steps", "output"};

const word_list step_keys = {"ensemble", "call", "prompt", "system", "params"};

/// Reads the `pipelines` section.
class pipeline_reader : private yaml_reader {
public:
  explicit pipeline_reader(const yaml_source& source) : yaml_reader(source) {}

  std::map<std::string, pipeline_config>
  read(const YAML::Node& pipelines, const config& cfg,
       std::vector<config_error>& problems) const {
    std::map<std::string, pipeline_config> result;
    for (auto& entry : entries(pipelines, "pipelines", {})) {
      try {
        result.emplace(entry.key, read_pipeline(entry, cfg));
      } catch (const config_error& e) {
        problems.push_back(e);
      }
    }
    return result;
  }

private:
  pipeline_config read_pipeline(const map_entry& entry,
                                const config& cfg) const {
    auto path = "pipelines." + entry.key;
    check_named_map(entry, path, "pipeline", "'inputs', 'steps' and 'output'");
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
    reject_flat_params(entry.value, path, "a step's", "{temperature: 0.2}");
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
        param_places seen;
        read_params(field, field_path, "{temperature: 0.2, max_tokens: 512}",
                    s.params, seen);
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
};

} // namespace

std::map<std::string, pipeline_config>
read_pipelines(const yaml_source& source, const YAML::Node& pipelines,
               const config& cfg, std::vector<config_error>& problems) {
  return pipeline_reader{source}.read(pipelines, cfg, problems);
}

} // namespace tutti::config_detail
