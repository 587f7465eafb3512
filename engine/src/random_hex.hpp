#pragma once

#include <cstddef>
#include <string>

namespace tutti {

/// A fresh random id of `hex_digits` hex digits from the kernel's random
/// source: ids (runs, completions) must not be guessable from others.
std::string random_hex(size_t hex_digits);

} // namespace tutti
