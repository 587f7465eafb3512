#pragma once

/// Reading a JSONL file line by line without holding more of a line than a
/// bound: what `tutti batch` and `tutti eval` read their rows with.

#include <cstddef>
#include <istream>
#include <string>

namespace tutti {

/// Reads the next line of `in` (without its '\n') into `line`, keeping at
/// most `max` bytes; false at the end of the input. `too_long` tells that
/// the line had more, which were read past and dropped.
inline bool read_line(std::istream& in, std::string& line, size_t max,
                      bool& too_long) {
  line.clear();
  too_long = false;
  auto* buffer = in.rdbuf();
  bool any = false;
  for (;;) {
    auto c = buffer->sbumpc();
    if (c == std::char_traits<char>::eof()) {
      in.setstate(std::ios::eofbit);
      return any;
    }
    any = true;
    if (c == '\n')
      return true;
    if (line.size() < max)
      line.push_back(static_cast<char>(c));
    else
      too_long = true;
  }
}

} // namespace tutti
