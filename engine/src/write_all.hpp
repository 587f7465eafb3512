#pragma once

/// Appends text to a file descriptor whole, for the line-per-record files
/// (batch results, the access log): on an O_APPEND descriptor a line lands
/// in one piece, whatever else writes to the file.

#include <unistd.h>

#include <cerrno>
#include <string_view>

namespace tutti {

/// Writes all of `text`, retrying interrupted and short writes; false (with
/// `errno` set) if the file refuses it.
inline bool write_all(int fd, std::string_view text) {
  size_t written = 0;
  while (written < text.size()) {
    auto n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      if (n == 0)
        errno = EIO;
      return false;
    }
    written += static_cast<size_t>(n);
  }
  return true;
}

} // namespace tutti
