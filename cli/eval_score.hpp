#pragma once

/// `tutti eval`'s arithmetic: how an answer is scored against the expected
/// one, what a (row, target) result line holds, and the figures per target
/// the report prints (docs/eval.md). No engine, no I/O: plain values.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plugins/combine/vote/vote.hpp"
#include "tutti/config.hpp"
#include "tutti/messages.hpp"

namespace tutti::cli {

/// What the report compares: an ensemble of the config, or one provider.
struct eval_target {
  std::string name;
  bool ensemble = true;
  std::string kind() const { return ensemble ? "ensemble" : "provider"; }
};

/// The targets of `--ensembles a,b --providers x,y`, in that order; throws
/// `config_error` for a name `cfg` does not define or a name given twice.
std::vector<eval_target>
eval_targets(const config& cfg, const std::vector<std::string>& ensembles,
             const std::vector<std::string>& providers);

/// Scores replies against expected answers: both in vote's normalised form
/// (`normalize_answer`), the reply's answer read as vote's `extract:`
/// reads it (`answer_reader`).
class answer_scorer {
public:
  /// Throws `std::invalid_argument` when `extract` does not compile.
  explicit answer_scorer(const std::string& extract = {});

  /// The normalised answer in `reply`: what the regex picks, or the whole
  /// reply when it picks nothing (a vote ensemble's answer is already the
  /// part its own `extract:` picked); nullopt when it is empty.
  std::optional<std::string> answer_in(std::string_view reply) const;

  /// Whether `reply`'s answer is `expected` (normalised).
  bool is_right(std::string_view reply, std::string_view expected) const;

private:
  answer_reader reader_;
};

/// The prompt that asks a judge model whether `answer` to `question` says
/// what `expected` says, under `rubric` ("" a default), to be answered
/// with a verdict word.
std::string judge_prompt(const std::string& question,
                         const std::string& expected, const std::string& answer,
                         const std::string& rubric);

/// A judge's verdict in its reply: true for CORRECT, false for INCORRECT,
/// nullopt when it gave neither (the last of the two words it wrote counts).
std::optional<bool> judge_verdict(std::string_view reply);

/// One member's part in a result line.
struct eval_member {
  std::string member;
  std::string provider;
  bool ok = false;     ///< it replied
  bool right = false;  ///< its reply's answer is the expected one
  bool cached = false; ///< served from the eval's shared calls
};

/// One row's result for one target: a line of the results file.
struct eval_result {
  size_t line = 0;     ///< the row's line in the data file
  std::string id_json; ///< the row's "id" (JSON), or its line number
  std::string target;
  std::string kind;   ///< "ensemble" or "provider"
  std::string status; ///< the answer's: ok, partial or failed
  std::string answer; ///< the answer's text ("" when failed)
  std::string read;   ///< the answer read from it (normalised); "" none
  bool right = false;
  bool scored = true;     ///< false: the judge gave no verdict
  std::string error;      ///< why it has no answer, or why it is not scored
  double cost_usd = 0;    ///< as if the target had run alone
  double spent_usd = 0;   ///< what its calls really cost
  double judge_usd = 0;   ///< what scoring it cost (`--judge`)
  int64_t latency_us = 0; ///< as if run alone (docs/eval.md)
  size_t calls = 0;       ///< upstream calls made for it
  size_t shared = 0;      ///< calls served from an earlier target's
  std::vector<eval_member> members;
};

/// What became of a target's member calls, as if it had run alone: the
/// answer's cost with each shared (cached) call priced from the usage it
/// reports, its latency with the members' part taken from the call times
/// of `earlier` (the row's real calls before it) where one was shared.
void account_calls(const ensemble_answer& answer, const config& cfg,
                   const std::vector<member_outcome>& earlier,
                   eval_result& out);

/// The result line (JSON and a line break).
std::string eval_result_line(const eval_result& r);

/// Reads a result line back; nullopt when it is not one.
std::optional<eval_result> parse_eval_result(std::string_view line);

/// A 95% Wilson score interval for `right` of `n`.
struct interval {
  double low = 0;
  double high = 0;
};
interval wilson_interval(size_t right, size_t n, double z = 1.959964);

/// The figures of one target over the rows scored.
struct eval_tally {
  eval_target target;
  size_t rows = 0;
  size_t right = 0;
  size_t failed = 0;   ///< no answer
  size_t unscored = 0; ///< the judge gave no verdict
  double cost_usd = 0; ///< as if alone, summed
  double spent_usd = 0;
  double judge_usd = 0;
  size_t calls = 0;
  size_t shared = 0;
  std::vector<int64_t> latencies_us; ///< of the rows with an answer

  double accuracy() const { return rows ? double(right) / rows : 0; }
  double cost_per_row() const { return rows ? cost_usd / rows : 0; }
  interval ci() const { return wilson_interval(right, rows); }
  /// The `q` quantile (0.5, 0.95) of the latencies, nearest rank; -1 none.
  int64_t latency_quantile_us(double q) const;
};

/// Adds `r` to the tally of its target in `tallies` (made on first use).
void count_eval_result(const eval_result& r,
                       std::map<std::string, eval_tally>& tallies);

/// A member provider's measured accuracy: right replies over rows asked.
struct provider_accuracy {
  size_t asked = 0;
  size_t right = 0;
  double accuracy() const { return asked ? double(right) / asked : 0; }
};

/// Every provider's accuracy, from its own target's lines when it is one,
/// else from its replies as a member of the ensembles.
std::map<std::string, provider_accuracy>
provider_accuracies(const std::vector<eval_result>& results);

/// The vote weight of a member right with probability `p`: its log-odds
/// log(p / (1 - p)), the optimal weights for independent members (Nitzan
/// and Paroush 1982), clamped to [0.01, 6.9] (p below one half counts as
/// barely heard; p of 1 as 99.9%).
double log_odds_weight(double p);

} // namespace tutti::cli
