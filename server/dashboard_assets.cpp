#include "server/dashboard_assets.hpp"

#include <vector>

namespace tutti::http {

extern const embedded_file dashboard_files[];
extern const size_t dashboard_files_count;

namespace {

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() &&
         text.substr(text.size() - suffix.size()) == suffix;
}

std::vector<dashboard_asset> make_assets() {
  std::vector<dashboard_asset> assets;
  assets.reserve(dashboard_files_count);
  for (size_t i = 0; i < dashboard_files_count; ++i) {
    auto& f = dashboard_files[i];
    assets.push_back(dashboard_asset{
        f.path, content_type_for(f.path),
        std::string_view{reinterpret_cast<const char*>(f.data), f.size}});
  }
  return assets;
}

} // namespace

std::string_view content_type_for(std::string_view path) {
  struct by_extension {
    std::string_view extension;
    std::string_view type;
  };
  static constexpr by_extension types[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
  };
  for (auto& t : types)
    if (ends_with(path, t.extension))
      return t.type;
  return "application/octet-stream";
}

const dashboard_asset* find_dashboard_asset(std::string_view path) {
  static const std::vector<dashboard_asset> assets = make_assets();
  for (auto& a : assets)
    if (a.path == path)
      return &a;
  return nullptr;
}

} // namespace tutti::http
