#pragma once

/// The config the endpoint fuzz targets validate requests against: two
/// providers, an ensemble and a pipeline with two inputs.

#include "tutti/config.hpp"

namespace tutti::fuzz {

inline const config& endpoint_config() {
  static const config cfg = parse_config(R"(
providers:
  alpha: {kind: openai, model: m-alpha, base_url: "http://127.0.0.1:1/v1", api_key: sk-secret-alpha}
  bravo: {kind: anthropic, model: m-bravo, base_url: "http://127.0.0.1:1"}
ensembles:
  duo: {members: [alpha, bravo], combine: vote, deadline: 5s}
pipelines:
  ask:
    inputs: [question, context]
    steps:
      first: {ensemble: duo, prompt: "{{input.question}} {{input.context}}"}
    output: first
)",
                                         "fuzz-endpoint.yaml");
  return cfg;
}

} // namespace tutti::fuzz
