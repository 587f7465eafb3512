#pragma once

/// Helpers shared by the integration tests that run the engine against the
/// fake upstream: what it recorded per model, config YAML with one provider
/// per fake model, and an answer's member by label.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/config.hpp"
#include "tutti/messages.hpp"

namespace tutti::fake_upstream {

/// The requests `upstream` recorded for `model`, in the order they arrived.
inline std::vector<fake::arrival> arrivals_of(const fake::server& upstream,
                                              const std::string& model) {
  std::vector<fake::arrival> result;
  for (auto& a : upstream.arrivals()) {
    if (a.model == model) {
      result.push_back(a);
    }
  }
  std::sort(result.begin(), result.end(),
            [](auto& x, auto& y) { return x.steady_us < y.steady_us; });
  return result;
}

/// YAML lines under `providers:` with one `openai` provider per model, named
/// after it, on `base_url`; `fields` is appended to each (", api_key: k").
inline std::string providers_yaml(const std::vector<std::string>& models,
                                  const std::string& base_url,
                                  const std::string& fields = "") {
  std::string yaml;
  for (auto& m : models) {
    yaml += "  " + m + ": {kind: openai, model: " + m + ", base_url: \"" +
            base_url + "\"" + fields + "}\n";
  }
  return yaml;
}

/// YAML for an ensemble `e` of `members` with `deadline`.
inline std::string ensemble_yaml(const std::vector<std::string>& members,
                                 const std::string& deadline) {
  std::string yaml = "ensembles:\n  e:\n    members: [";
  for (std::size_t i = 0; i < members.size(); ++i) {
    yaml += (i > 0 ? ", " : "") + members[i];
  }
  yaml += "]\n    deadline: " + deadline + "\n";
  return yaml;
}

/// Where a provider of `kind` finds `upstream`: each kind's API root.
inline std::string base_url_for(const fake::server& upstream,
                                const std::string& kind) {
  auto root = upstream.root_url();
  if (kind == "gemini")
    return root + "/v1beta";
  if (kind == "azure-openai" || kind == "bedrock" || kind == "ollama")
    return root;
  return root + "/v1";
}

/// Points every provider of a config written for the real vendors (the
/// ready-to-run configs/) at `upstream`, in its own wire format, with a
/// placeholder key: the config runs as shipped, against the fake.
inline void point_at(config& cfg, const fake::server& upstream) {
  for (auto& [name, pc] : cfg.providers) {
    pc.base_url = base_url_for(upstream, pc.kind);
    pc.api_key = "sk-fake-" + name;
  }
}

/// The outcome of `answer`'s member `label`; fails the test when it has none.
inline const member_outcome& member_named(const ensemble_answer& answer,
                                          const std::string& label) {
  for (auto& m : answer.members)
    if (m.member == label)
      return m;
  BOOST_FAIL("no member " + label);
  throw std::logic_error("unreachable");
}

} // namespace tutti::fake_upstream
