#include "engine/src/random_hex.hpp"

#include <mutex>
#include <random>

namespace tutti {

std::string random_hex(size_t hex_digits) {
  static std::mutex mutex;
  static std::random_device device;
  static const char* digits = "0123456789abcdef";
  std::lock_guard<std::mutex> guard{mutex};
  std::string text;
  while (text.size() < hex_digits) {
    auto bits = device();
    for (int i = 0; i < 8 && text.size() < hex_digits; ++i, bits >>= 4)
      text += digits[bits & 0xf];
  }
  return text;
}

} // namespace tutti
