#pragma once

#include <cstddef>
#include <string_view>

namespace tutti::http {

/// A file compiled into the binary (cmake/embed_files.cmake writes the
/// arrays these point at).
struct embedded_file {
  const char* path;
  const unsigned char* data;
  size_t size;
};

/// One of the dashboard's built files (dashboard/dist), as `tutti serve`
/// answers it: no file is read at run time.
struct dashboard_asset {
  /// Its path under dashboard/dist, e.g. "app.js".
  std::string_view path;
  /// The Content-Type it is served with, from its extension.
  std::string_view content_type;
  std::string_view bytes;
};

/// The dashboard file at `path` (relative to dashboard/dist, e.g.
/// "index.html"); nothing when there is none.
const dashboard_asset* find_dashboard_asset(std::string_view path);

/// The Content-Type for a file name's extension; application/octet-stream
/// for one not known.
std::string_view content_type_for(std::string_view path);

} // namespace tutti::http
