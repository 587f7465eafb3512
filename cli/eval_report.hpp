#pragma once

/// What `tutti eval` prints and draws from its tallies: the table, the
/// vote weights the accuracies suggest, and the accuracy-against-cost chart.

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "cli/eval_score.hpp"

namespace tutti::cli {

/// The table, one line per target in `targets`' order, then the actual
/// spend and the calls made and shared.
void print_eval_table(const std::vector<eval_target>& targets,
                      const std::map<std::string, eval_tally>& tallies,
                      std::ostream& out);

/// `ensembles:` with each member of the vote ensembles of `targets` (as
/// `cfg` lists them) and
/// its log-odds vote weight from `accuracy`, as YAML to paste into the
/// config; a member whose provider has no measure keeps weight 1.
std::string
weights_yaml(const config& cfg, const std::vector<eval_target>& targets,
             const std::map<std::string, provider_accuracy>& accuracy);

/// An SVG chart of accuracy (y, with its interval as an error bar) against
/// mean cost per row (x), one labelled point per target.
std::string accuracy_cost_svg(const std::vector<eval_target>& targets,
                              const std::map<std::string, eval_tally>& tallies,
                              const std::string& title);

} // namespace tutti::cli
