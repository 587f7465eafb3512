#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tutti/combine.hpp"

namespace re2 {
class RE2;
} // namespace re2

namespace tutti {

/// `combine: vote` — the answer most members gave. Replies are compared
/// after `normalize_answer` (and, with `extract:`, only the part the regex
/// picks); each member votes with its weight. The heaviest answer wins; on a
/// tie the one with more voters; then the one whose first voter comes first
/// in member order. Throws `std::invalid_argument` when `extract` does not
/// compile.
std::unique_ptr<combine_strategy> make_vote(const combine_options& options);

/// The settings `combine: vote` reads: `extract`.
combine_traits vote_traits();

/// Reads the answer out of a reply: the whole reply, or with an `extract:`
/// regex the last match in the reply — its first capture group that took
/// part in the match, or the whole match when the regex has no group.
/// Matches that leave nothing but spaces are skipped.
///
/// Replies are model output, so untrusted: the regex runs on RE2, whose
/// matching time is linear in the reply and whose memory is bounded, so no
/// reply can overflow a stack or stall a worker (std::regex recursed per
/// character). RE2's syntax is Perl's without backreferences or lookaround.
class answer_reader {
public:
  /// Throws `std::invalid_argument` when `extract` does not compile (or
  /// needs more than RE2's memory bound, or nests too deeply). An empty
  /// `extract` reads the whole reply.
  explicit answer_reader(const std::string& extract = {});

  /// The answer in `reply` as written (trimmed); nullopt when it has none.
  std::optional<std::string> read(std::string_view reply) const;

  /// True when answers are extracted by a regex.
  bool extracts() const { return extract_ != nullptr; }

  /// How the regex is read when that may surprise (more than one capture
  /// group); empty otherwise.
  const std::string& remark() const { return remark_; }

private:
  std::shared_ptr<const re2::RE2> extract_;
  std::string remark_;
};

/// `text` in the form answers are compared in: trimmed, runs of white space
/// made one space, ASCII letters in lower case, trailing periods removed; a
/// number (optional sign, digits with optional `,` thousands separators, an
/// optional fraction) is written canonically, so "+1,000.50" is "1000.5".
std::string normalize_answer(std::string_view text);

/// Counts the votes of `input`'s successful members (see `make_vote`).
/// `votes` lists every answer, winner first; `agreement` is the winner's
/// weight over the weight of every member whose reply had an answer; the
/// note names the replies that had none. Failed when no reply had one.
combined count_votes(const combine_input& input, const answer_reader& reader);

} // namespace tutti
