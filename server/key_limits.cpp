#include "server/key_limits.hpp"

#include <algorithm>
#include <chrono>

namespace tutti::http {

void key_limits::window::advance(int64_t now_s) {
  if (now_s <= last_s)
    return;
  auto gone = std::min<int64_t>(now_s - last_s, window_s);
  for (int64_t s = 1; s <= gone; ++s) {
    auto i = static_cast<size_t>((last_s + s) % window_s);
    requests[i] = 0;
    tokens[i] = 0;
  }
  last_s = now_s;
}

namespace {

int64_t saturating_sum(const std::array<int64_t, key_limits::window_s>& b) {
  int64_t n = 0;
  for (auto v : b)
    n = v > INT64_MAX - n ? INT64_MAX : n + v;
  return n;
}

} // namespace

int64_t key_limits::window::sum_requests() const {
  return saturating_sum(requests);
}

int64_t key_limits::window::sum_tokens() const {
  return saturating_sum(tokens);
}

int64_t key_limits::window::seconds_until_freed(
    const std::array<int64_t, window_s>& buckets, int64_t needed,
    int64_t now_s) const {
  // The oldest second in the window leaves first: now - 59, then on.
  int64_t freed = 0;
  for (int64_t age = window_s - 1; age >= 0; --age) {
    auto i = static_cast<size_t>((now_s - age) % window_s);
    freed = buckets[i] > INT64_MAX - freed ? INT64_MAX : freed + buckets[i];
    if (freed >= needed)
      return window_s - age;
  }
  return window_s;
}

key_limits::window& key_limits::window_of(const std::string& name,
                                          int64_t now_s) {
  if (windows_.size() >= max_keys && windows_.count(name) == 0)
    windows_.clear();
  auto& w = windows_[name];
  if (w.last_s == 0)
    w.last_s = now_s;
  w.advance(now_s);
  return w;
}

bool key_limits::admit(const std::string& name, int64_t rpm, int64_t tpm,
                       int64_t now_s, int64_t& retry_after_s) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto& w = window_of(name, now_s);
  retry_after_s = 0;
  if (rpm > 0) {
    auto used = w.sum_requests();
    if (used >= rpm)
      retry_after_s = w.seconds_until_freed(w.requests, used - rpm + 1, now_s);
  }
  if (tpm > 0) {
    auto used = w.sum_tokens();
    if (used >= tpm)
      retry_after_s =
          std::max(retry_after_s,
                   w.seconds_until_freed(w.tokens, used - tpm + 1, now_s));
  }
  if (retry_after_s > 0)
    return false;
  ++w.requests[static_cast<size_t>(now_s % window_s)];
  return true;
}

void key_limits::add_tokens(const std::string& name, int64_t tokens,
                            int64_t now_s) {
  if (tokens <= 0)
    return;
  std::lock_guard<std::mutex> guard{mutex_};
  auto& w = window_of(name, now_s);
  auto& bucket = w.tokens[static_cast<size_t>(now_s % window_s)];
  bucket = tokens > INT64_MAX - bucket ? INT64_MAX : bucket + tokens;
}

void key_limits::charge(const std::string& name, const usage& used) {
  if (name.empty())
    return;
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto in = std::max<int64_t>(used.input_tokens, 0);
  auto out = std::max<int64_t>(used.output_tokens, 0);
  add_tokens(name, in > INT64_MAX - out ? INT64_MAX : in + out, now);
}

} // namespace tutti::http
