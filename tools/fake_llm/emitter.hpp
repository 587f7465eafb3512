#pragma once

/// Writes a reply's bytes as the script's fault menu says: each write split
/// into small pieces (one HTTP chunk each) and dripped; SSE events with the
/// chosen line ends and `: ping` comments between them.

#include <chrono>
#include <functional>
#include <random>
#include <string_view>
#include <utility>

#include <httplib.h>

#include "tools/fake_llm/fake_llm.hpp"

namespace tutti::fake {

class emitter {
public:
  /// Sleeps until the time given; false when the server began stopping
  /// instead.
  using sleeper = std::function<bool(std::chrono::steady_clock::time_point)>;

  /// `ms` must outlive the emitter.
  /// `sse`: events are SSE events (else written as they are).
  emitter(httplib::DataSink& sink, const model_script& ms, bool sse, bool crlf,
          sleeper sleep)
      : sink_(sink), ms_(ms), sse_(sse), crlf_(crlf), sleep_(std::move(sleep)),
        rng_(ms.split_seed) {}

  /// True when a write failed because the server began stopping.
  bool stopped() const { return stopped_; }

  /// Writes bytes as they are (split and dripped as scripted); false when
  /// the client went away or the server began stopping.
  bool write(std::string_view bytes);

  /// Writes an SSE event given with LF line ends, in the chosen line ends
  /// and after a `: ping` comment when scripted; an event of another
  /// framing as it is.
  bool event(std::string_view event);

private:
  bool write_piece(std::string_view piece);

  httplib::DataSink& sink_;
  const model_script& ms_;
  bool sse_;
  bool crlf_;
  sleeper sleep_;
  std::minstd_rand rng_;
  int writes_ = 0;
  int events_ = 0;
  bool stopped_ = false;
};

} // namespace tutti::fake
