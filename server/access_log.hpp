#pragma once

/// `tutti serve --access-log`: one JSON line per answered request, appended
/// to a file (or written to standard error), as a gateway's access log is.
/// Only what the request line and the answer say is written: never a
/// header, a body or a token.

#include <cstdint>
#include <string>

namespace tutti::http {

/// One answered request.
struct access_entry {
  int64_t unix_ms = 0; ///< when the answer was done
  std::string remote;  ///< the client's address
  std::string method;
  std::string path;   ///< without the query
  std::string route;  ///< the route pattern, as in the metrics
  std::string target; ///< the model, ensemble or pipeline asked; may be empty
  int status = 0;
  double ms = 0;        ///< request read -> answer written (a stream's end)
  size_t bytes_in = 0;  ///< the request body
  size_t bytes_out = 0; ///< a whole answer's body; 0 for a stream
  bool stream = false;
};

/// The entry as one line of JSON, with its newline.
std::string access_line(const access_entry& e);

class access_log {
public:
  /// `path`: a file, appended to (created 0600 if missing); "-": standard
  /// error. Throws `tutti::server_error` naming the path and the reason.
  explicit access_log(const std::string& path);
  ~access_log();
  access_log(const access_log&) = delete;
  access_log& operator=(const access_log&) = delete;

  /// One write(2) per line, so lines of concurrent requests never mix.
  void write(const access_entry& e);

private:
  int fd_ = -1;
  bool owned_ = false;
};

} // namespace tutti::http
