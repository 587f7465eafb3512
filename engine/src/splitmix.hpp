#pragma once

/// Two small, fixed hashes for deterministic draws that must come out the
/// same on every platform and run (the standard library's distributions do
/// not): FNV-1a to turn a text into a seed, splitmix64 to draw from it.
/// Not for security.

#include <cstdint>
#include <string_view>

namespace tutti {

/// FNV-1a, 64 bits, of `text`.
inline uint64_t fnv1a64(std::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

/// The next number of the splitmix64 sequence (Steele, Lea and Flood,
/// 2014) whose state is `state`; advances it.
inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

} // namespace tutti
