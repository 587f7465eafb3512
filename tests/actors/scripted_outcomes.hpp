#pragma once

// Outcomes a scripted provider actor answers with in the aggregator's
// tests: a success with usage, a failure of a kind.

#include <string>
#include <utility>

#include "tutti/messages.hpp"

namespace tutti::testing {

inline member_outcome success(std::string text) {
  member_outcome outcome;
  outcome.ok = true;
  outcome.reply.text = std::move(text);
  outcome.reply.finish_reason = "stop";
  outcome.reply.usage = usage{10, 5};
  return outcome;
}

inline member_outcome failed(failure_kind kind, int status,
                             std::string message) {
  member_outcome outcome;
  outcome.ok = false;
  outcome.error.kind = kind;
  outcome.error.http_status = status;
  outcome.error.message = std::move(message);
  return outcome;
}

} // namespace tutti::testing
