#include "server/access_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "engine/src/json_writers.hpp"
#include "engine/src/write_all.hpp"
#include "tutti/server.hpp"

namespace tutti::http {

namespace {

/// 2026-11-25T12:34:56.789Z
std::string utc_time(int64_t unix_ms) {
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[32];
  auto n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &parts);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03dZ",
                static_cast<int>(unix_ms % 1000));
  return std::string{text, n} + millis;
}

} // namespace

std::string access_line(const access_entry& e) {
  using json_detail::write_string;
  return json_detail::json_text([&e](auto& w) {
           w.StartObject();
           w.Key("time");
           write_string(w, utc_time(e.unix_ms));
           w.Key("remote");
           write_string(w, e.remote);
           w.Key("method");
           write_string(w, e.method);
           w.Key("path");
           write_string(w, e.path);
           w.Key("route");
           write_string(w, e.route);
           if (!e.target.empty()) {
             w.Key("target");
             write_string(w, e.target);
           }
           w.Key("status");
           w.Int(e.status);
           w.Key("ms"); // to the microsecond
           w.Double(static_cast<double>(static_cast<int64_t>(e.ms * 1000)) /
                    1000);
           w.Key("bytes_in");
           w.Uint64(e.bytes_in);
           w.Key("bytes_out");
           w.Uint64(e.bytes_out);
           w.Key("stream");
           w.Bool(e.stream);
           w.EndObject();
         }) +
         "\n";
}

access_log::access_log(const std::string& path) {
  if (path == "-") {
    fd_ = STDERR_FILENO;
    return;
  }
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0)
    throw server_error("cannot open the access log " + path + ": " +
                       std::strerror(errno));
  owned_ = true;
}

access_log::~access_log() {
  if (owned_)
    ::close(fd_);
}

void access_log::write(const access_entry& e) {
  // A full disk must not take the endpoint down: the line is dropped.
  write_all(fd_, access_line(e));
}

} // namespace tutti::http
