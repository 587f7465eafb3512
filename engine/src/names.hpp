#pragma once

// Lists of names, as error messages print them ("expected one of: a, b").

#include <string>
#include <vector>

namespace tutti {

/// "a, b, c"
inline std::string join_names(const std::vector<std::string>& names) {
  std::string result;
  for (const auto& name : names) {
    if (!result.empty())
      result += ", ";
    result += name;
  }
  return result;
}

/// The keys of a map, in its order.
template <class Map>
std::vector<std::string> keys_of(const Map& map) {
  std::vector<std::string> result;
  result.reserve(map.size());
  for (const auto& entry : map)
    result.push_back(entry.first);
  return result;
}

} // namespace tutti
