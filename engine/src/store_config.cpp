#include <cstdlib>
#include <string>
#include <string_view>

#include "tutti/store.hpp"

// The store's names and places, pure: the endpoint's request parsing (and
// its fuzzers, which link no store) use them too.

namespace tutti {

std::string default_store_path() {
  auto* data = std::getenv("XDG_DATA_HOME");
  if (data != nullptr && data[0] == '/')
    return std::string{data} + "/tutti/tutti.db";
  auto* home = std::getenv("HOME");
  if (home != nullptr && home[0] == '/')
    return std::string{home} + "/.local/share/tutti/tutti.db";
  return "";
}

bool store_is_off(const store_config& config) {
  return config.url == "none" ||
         (config.url.empty() && default_store_path().empty());
}

bool is_session_id(std::string_view id) {
  if (id.empty() || id.size() > max_session_bytes)
    return false;
  for (char c : id)
    if (c <= ' ' || c >= 0x7f)
      return false;
  return true;
}

} // namespace tutti
