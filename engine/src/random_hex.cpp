#include "engine/src/random_hex.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace tutti {

namespace {

constexpr const char* digits = "0123456789abcdef";

void fill_random(unsigned char* bytes, size_t size) {
  if (RAND_bytes(bytes, static_cast<int>(size)) != 1)
    throw std::runtime_error("no random bytes from OpenSSL's generator");
}

/// Bytes drawn ahead for ids: one RAND_bytes call per 4 KiB instead of a
/// getrandom per id (docs/benchmarks.md, "Store").
class random_pool {
public:
  static random_pool& instance() {
    static random_pool pool;
    return pool;
  }

  void draw(unsigned char* out, size_t size) {
    std::lock_guard<std::mutex> guard{mutex_};
    while (size > 0) {
      if (next_ == sizeof(bytes_)) {
        fill_random(bytes_, sizeof(bytes_));
        next_ = 0;
      }
      auto n = std::min(size, sizeof(bytes_) - next_);
      std::copy(bytes_ + next_, bytes_ + next_ + n, out);
      next_ += n;
      out += n;
      size -= n;
    }
  }

private:
  random_pool() {
    // A forked child must not hand out the ids its parent will: it starts
    // a buffer of its own. The lock is held across the fork so that the
    // child does not inherit it taken.
    pthread_atfork([] { instance().mutex_.lock(); },
                   [] { instance().mutex_.unlock(); },
                   [] {
                     auto& pool = instance();
                     pool.next_ = sizeof(pool.bytes_);
                     pool.mutex_.unlock();
                   });
  }

  std::mutex mutex_;
  unsigned char bytes_[4096];
  size_t next_ = sizeof(bytes_);
};

void write_hex(const unsigned char* bytes, char* out, size_t hex_digits) {
  for (size_t i = 0; i < hex_digits; ++i) {
    auto byte = bytes[i / 2];
    out[i] = digits[i % 2 == 0 ? byte >> 4 : byte & 0xf];
  }
}

} // namespace

std::string random_hex(size_t hex_digits) {
  auto& pool = random_pool::instance();
  std::string text(hex_digits, '0');
  unsigned char bytes[32];
  for (size_t at = 0; at < hex_digits; at += 2 * sizeof(bytes)) {
    auto n = std::min(hex_digits - at, 2 * sizeof(bytes));
    pool.draw(bytes, (n + 1) / 2);
    write_hex(bytes, text.data() + at, n);
  }
  return text;
}

std::string time_sorted_hex(size_t hex_digits) {
  constexpr size_t clock_digits = 8;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  auto tick = static_cast<uint32_t>(static_cast<uint64_t>(ms) / 4);
  std::string text(clock_digits, '0');
  for (size_t i = 0; i < clock_digits; ++i)
    text[i] = digits[(tick >> (28 - 4 * i)) & 0xf];
  return text +
         random_hex(hex_digits > clock_digits ? hex_digits - clock_digits : 0);
}

std::string secret_hex(size_t hex_digits) {
  std::vector<unsigned char> bytes((hex_digits + 1) / 2);
  fill_random(bytes.data(), bytes.size());
  std::string text(hex_digits, '0');
  write_hex(bytes.data(), text.data(), hex_digits);
  // The secret's bytes do not outlive the call.
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return text;
}

} // namespace tutti
