#pragma once

/// The per-minute budgets of API keys (`tutti keys create --rpm --tpm`):
/// requests and tokens each key used in the last 60 s, counted in one-second
/// buckets, so a key's state is a fixed 120 numbers however busy it is.
/// Thread-safe; no call waits for anything but a short lock.

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "tutti/messages.hpp"

namespace tutti::http {

class key_limits {
public:
  /// Counts a request of key `name` at `now_s` (seconds, any epoch) when
  /// the key's last minute leaves room under `rpm` requests and `tpm`
  /// tokens (0: no limit); else counts nothing, sets `retry_after_s` (when
  /// enough of the window will have passed) and returns false.
  bool admit(const std::string& name, int64_t rpm, int64_t tpm, int64_t now_s,
             int64_t& retry_after_s);

  /// Adds the tokens a request of key `name` used, when its reply came.
  void add_tokens(const std::string& name, int64_t tokens, int64_t now_s);

  /// The same for a reply's usage, now; nothing for "" (no key).
  void charge(const std::string& name, const usage& used);

  static constexpr int window_s = 60;
  /// Keys tracked at most; past it the table starts over (their windows
  /// are forgotten, which errs towards admitting).
  static constexpr size_t max_keys = 100'000;

private:
  struct window {
    std::array<int64_t, window_s> requests{};
    std::array<int64_t, window_s> tokens{};
    int64_t last_s = 0; ///< the second the buckets were last brought up to

    /// Empties the buckets of the seconds since `last_s`.
    void advance(int64_t now_s);
    int64_t sum_requests() const;
    int64_t sum_tokens() const;
    /// Seconds until at least `needed` of `buckets`' count has left the
    /// window.
    int64_t seconds_until_freed(const std::array<int64_t, window_s>& buckets,
                                int64_t needed, int64_t now_s) const;
  };

  window& window_of(const std::string& name, int64_t now_s);

  std::mutex mutex_;
  std::map<std::string, window> windows_;
};

} // namespace tutti::http
