#pragma once

/// A scripted model that takes a quiz: it knows the labelled rows of a JSONL
/// file and answers each question right with a fixed probability, drawn
/// per question from a seed, so every run gives the same answers. What
/// `tutti eval` is measured against (docs/fake_llm.md, "Quiz-takers").

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace tutti::fake {

/// The most bytes and rows a quiz's key file may hold.
constexpr size_t quiz_max_file_bytes = 64 * 1024 * 1024;
constexpr size_t quiz_max_rows = 200'000;

/// The reply to a question the key does not hold.
constexpr std::string_view quiz_unknown_reply = "I don't know.";

/// `quiz: {key: FILE, question: FIELD, answer: FIELD, right: P, seed: S}`.
struct quiz_script {
  std::string key_path;
  std::string question_field = "question";
  std::string answer_field = "answer";
  double right = 1.0; ///< the chance of a right answer, 0 to 1
  uint64_t seed = 0;
  /// Question (trimmed) -> its answer, from the key file.
  std::unordered_map<std::string, std::string> answers;
  /// The longest question, for finding one inside a longer message.
  size_t longest_question = 0;

  /// The reply to a request whose last user message is `message`: "The
  /// answer is X." for the question it is (or, failing that, the longest
  /// question it contains), right when `draw(seed, question) < right`;
  /// when it holds none, the same for `first` (the conversation's first
  /// user message: a debate's later turn goes on with the question), and
  /// `quiz_unknown_reply` when neither does. The same question always gets
  /// the same answer: a quiz-taker never changes its mind.
  std::string reply_to(std::string_view message,
                       std::string_view first = {}) const;
};

/// Reads the key file of `q.key_path` into `q.answers`: one JSON object a
/// line with the question and answer fields as strings (an answer may be a
/// number). Throws std::runtime_error naming `file:line` on a line that is
/// not such a row, a file beyond `quiz_max_file_bytes` or
/// `quiz_max_rows`, or two rows with one question.
void load_quiz_key(quiz_script& q);

/// A uniform number in [0, 1) from the seed and the question: splitmix64
/// of the question's FNV-1a hash mixed with the seed's own splitmix64.
double quiz_draw(uint64_t seed, std::string_view question);

/// The wrong answer a model with `seed` gives instead of `right`: for an
/// integer, `right + seed + 1`; else `right` with " (wrong S)" after it. Two
/// seeds never give the same wrong answer, and none is the right one.
std::string quiz_wrong_answer(const std::string& right, uint64_t seed);

} // namespace tutti::fake
