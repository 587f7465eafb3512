#pragma once

/// Every built-in codec, made once, for the fuzz targets that run an input
/// through all of them.

#include <memory>
#include <vector>

#include "tutti/codec.hpp"
#include "tutti/registry.hpp"

namespace tutti::fuzz {

inline const std::vector<std::unique_ptr<codec>>& builtin_codecs() {
  static auto all = [] {
    std::vector<std::unique_ptr<codec>> result;
    const auto& plugins = registry::builtin();
    for (const auto& name : plugins.codec_names()) {
      result.push_back(plugins.make_codec(name));
    }
    return result;
  }();
  return all;
}

} // namespace tutti::fuzz
