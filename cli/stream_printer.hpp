#pragma once

/// What `tutti ask --stream` and `tutti run --stream` print as it happens.

#include <string>

#include "tutti/messages.hpp"

namespace tutti::cli {

/// Prints a streamed ask as it happens: each member's tokens on lines
/// starting `[member] `, `[member done: how]` when one ends, and the
/// answer's own tokens (a synthesizer's, or the winner's text under
/// `combine: first`) on a line starting `answer: `.
class stream_printer {
public:
  void on_delta(const tutti::member_delta& delta);

  void on_done(const tutti::member_outcome& outcome);

  /// Prints `text` on a line of its own.
  void line_of(const std::string& text);

  /// Ends the streamed part with an empty line.
  void finish();

private:
  enum class line { none, member, answer };

  void end_line();

  line open_ = line::none;
  std::string member_;
};

} // namespace tutti::cli
