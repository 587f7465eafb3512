#include "cli/stream_printer.hpp"

#include <iostream>

#include "engine/src/utf8.hpp"

namespace tutti::cli {

void stream_printer::on_delta(const tutti::member_delta& delta) {
  if (delta.answer) {
    if (open_ != line::answer) {
      end_line();
      std::cout << "answer: ";
      open_ = line::answer;
    }
  } else if (open_ != line::member || member_ != delta.member) {
    end_line();
    std::cout << "[" << delta.member << "] ";
    open_ = line::member;
    member_ = delta.member;
  }
  // Model output goes to the terminal with its control characters
  // escaped. A delta is a whole JSON string, so it cuts no character in
  // two; bytes that are not UTF-8 (a hostile upstream's) show as escapes.
  std::cout << tutti::utf8::for_terminal(delta.text) << std::flush;
}

void stream_printer::on_done(const tutti::member_outcome& outcome) {
  end_line();
  std::cout << "[" << outcome.member << " done: "
            << (outcome.ok ? std::string{"ok"}
                           : std::string{to_string(outcome.error.kind)})
            << "]" << std::endl;
}

void stream_printer::line_of(const std::string& text) {
  end_line();
  std::cout << text << std::endl;
}

void stream_printer::finish() {
  end_line();
  std::cout << '\n';
}

void stream_printer::end_line() {
  if (open_ != line::none)
    std::cout << '\n';
  open_ = line::none;
}

} // namespace tutti::cli
