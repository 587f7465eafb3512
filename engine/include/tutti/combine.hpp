#pragma once

/// The interface of a combine strategy plugin: a pure function from the
/// members' outcomes to one answer. A strategy that needs another model call
/// (a judge, a synthesizer) does not make it: it returns the call as data,
/// the aggregator makes it through the same provider and limiter path as any
/// member, appends the outcome to `combine_input::calls` and asks the
/// strategy again.

#include <optional>
#include <string>
#include <vector>

#include "tutti/messages.hpp"

namespace tutti {

/// A strategy's settings from the ensemble's YAML. Each strategy reads the
/// fields it needs; its factory rejects bad values (a regex that does not
/// compile, a judge missing) by throwing `std::invalid_argument` with a
/// plain message, which the config loader reports at the ensemble's
/// file:line:column.
struct combine_options {
  /// vote: a regex; its first capture group (or the whole match) is what is
  /// compared. A reply without a match votes for nothing.
  std::string extract;
  /// judge, rank: the provider that judges.
  std::string judge;
  /// judge, rank: what "best" means; empty: a built-in rubric.
  std::string rubric;
  /// synthesize: the provider that writes the final answer.
  std::string synthesizer;
  /// judge, rank, synthesize: the prompt sent to the judge or synthesizer;
  /// empty: a built-in one. `{{question}}`, `{{candidates}}` (numbered
  /// replies) and `{{rubric}}` are replaced.
  std::string prompt;
};

/// What a strategy sees.
struct combine_input {
  /// The user's question (the last user message), for judges and
  /// synthesizers.
  std::string question;
  /// Every member's outcome, in member order, failures included. Members the
  /// ensemble no longer needed (cancelled once `until` was met) are failures
  /// of kind `cancelled`.
  std::vector<member_outcome> outcomes;
  /// Indices into `outcomes` in the order the outcomes reached the ensemble
  /// (what "first" means: the first success here is the one a stream
  /// showed). Empty when unknown; then the shortest `total_us` is first.
  std::vector<size_t> arrival;
  /// One weight per outcome (1 unless the YAML says otherwise).
  std::vector<double> weights;
  /// The outcomes of the calls this strategy asked for, in order.
  std::vector<member_outcome> calls;
};

/// A model call a strategy asks the aggregator to make for it.
struct model_call {
  std::string provider; ///< a provider name from the config
  std::string label;    ///< how the call is listed, e.g. "judge"
  std::string system;   ///< system prompt; may be empty
  std::string prompt;   ///< the user message
  /// The call's tokens are the answer's own tokens (synthesize): the
  /// aggregator streams them to the listener as the answer.
  bool streams_answer = false;
};

/// What a strategy returns: either a finished answer or one more call to
/// make (`call` set; the other fields are then ignored).
struct combined {
  /// ok: there is an answer; failed: there is none. The aggregator turns ok
  /// into partial when a member failed (other than being cancelled because
  /// the ensemble was done), and into failed below `min_success`.
  answer_status status = answer_status::failed;
  std::string text;
  std::string winner; ///< label of the member whose reply is `text`
  std::vector<vote_row> votes;
  double agreement = 0;
  std::vector<std::string> ranking;
  std::string note;
  std::optional<model_call> call;
};

class combine_strategy {
public:
  virtual ~combine_strategy() = default;

  /// Combines `input`; see `combined`.
  virtual combined combine(const combine_input& input) const = 0;

  /// The providers this strategy may ask (`judge`, `synthesizer`), so that
  /// the config loader can check they exist. None by default.
  virtual std::vector<std::string> providers_called() const { return {}; }
};

} // namespace tutti
