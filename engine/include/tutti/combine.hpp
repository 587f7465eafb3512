#pragma once

/// The interface of a combine strategy plugin: a pure function from the
/// members' outcomes to one answer.

#include <string>
#include <vector>

#include "tutti/messages.hpp"

namespace tutti {

/// What a strategy returns: the answer's text and status. The aggregator
/// fills in the rest of the `ensemble_answer` (members, timing).
struct combined {
  answer_status status = answer_status::failed;
  std::string text;
};

class combine_strategy {
public:
  virtual ~combine_strategy() = default;

  /// Combines `outcomes`, given in member order, failures included.
  virtual combined
  combine(const std::vector<member_outcome>& outcomes) const = 0;
};

} // namespace tutti
