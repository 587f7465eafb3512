#pragma once

// Outcomes and inputs for the combine strategy tests, built the way the
// aggregator hands them over: every member in member order, failures
// included.

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "tutti/combine.hpp"
#include "tutti/registry.hpp"

namespace tutti::test {

inline member_outcome success(std::string label, std::string text,
                              int64_t total_us = 1000) {
  member_outcome outcome;
  outcome.member = std::move(label);
  outcome.provider = "p-" + outcome.member;
  outcome.ok = true;
  outcome.reply.text = std::move(text);
  outcome.reply.finish_reason = "stop";
  outcome.reply.timing.total_us = total_us;
  return outcome;
}

inline member_outcome failed(std::string label, failure_kind kind,
                             std::string message = {},
                             int64_t total_us = 1000) {
  member_outcome outcome;
  outcome.member = std::move(label);
  outcome.provider = "p-" + outcome.member;
  outcome.ok = false;
  outcome.error.kind = kind;
  outcome.error.message = std::move(message);
  outcome.error.timing.total_us = total_us;
  return outcome;
}

inline combine_input input_of(std::vector<member_outcome> outcomes,
                              std::vector<double> weights = {},
                              std::string question = "What is 6 times 7?") {
  combine_input input;
  input.question = std::move(question);
  if (weights.empty())
    weights.assign(outcomes.size(), 1.0);
  input.outcomes = std::move(outcomes);
  input.weights = std::move(weights);
  return input;
}

/// The strategy users get by writing `combine: name`.
inline std::unique_ptr<combine_strategy>
strategy(const std::string& name, const combine_options& options = {}) {
  auto made = registry::builtin().make_combine(name, options);
  if (!made)
    throw std::logic_error("no combine strategy named " + name);
  return made;
}

/// The message `make` throws as `std::invalid_argument`; empty if none.
template <class Make>
std::string invalid_argument_from(Make make) {
  try {
    make();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return {};
}

} // namespace tutti::test
