#include "tools/fake_llm/quiz.hpp"

#include "engine/src/splitmix.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

#include "engine/src/json_reader.hpp"

namespace tutti::fake {

namespace {

std::string_view trimmed(std::string_view text) {
  auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
  };
  while (!text.empty() && is_space(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_space(text.back()))
    text.remove_suffix(1);
  return text;
}

/// splitmix64 of `x` alone: the first draw of the sequence it seeds.
uint64_t mixed(uint64_t x) {
  return splitmix64(x);
}

/// A field of a key row as text: a string as it is, a number as written.
bool field_text(const rapidjson::Value& row, const std::string& name,
                std::string& out) {
  auto it = row.FindMember(name.c_str());
  if (it == row.MemberEnd())
    return false;
  auto& v = it->value;
  if (v.IsString()) {
    out.assign(v.GetString(), v.GetStringLength());
    return true;
  }
  if (v.IsInt64()) {
    out = std::to_string(v.GetInt64());
    return true;
  }
  if (v.IsUint64()) {
    out = std::to_string(v.GetUint64());
    return true;
  }
  return false;
}

} // namespace

double quiz_draw(uint64_t seed, std::string_view question) {
  auto bits = mixed(fnv1a64(question) ^ mixed(seed));
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

std::string quiz_wrong_answer(const std::string& right, uint64_t seed) {
  constexpr long long bound = 1'000'000'000'000'000LL;
  errno = 0;
  char* end = nullptr;
  long long value = std::strtoll(right.c_str(), &end, 10);
  bool integer = !right.empty() && *end == '\0' && errno == 0 &&
                 value > -bound && value < bound && seed < uint64_t(bound) &&
                 right.find_first_of(" \t+") == std::string::npos;
  if (integer)
    return std::to_string(value + static_cast<long long>(seed) + 1);
  return right + " (wrong " + std::to_string(seed) + ")";
}

void load_quiz_key(quiz_script& q) {
  std::ifstream in(q.key_path, std::ios::binary);
  if (!in)
    throw std::runtime_error(q.key_path + ": cannot open the quiz key");
  in.seekg(0, std::ios::end);
  auto size = static_cast<size_t>(in.tellg());
  if (size > quiz_max_file_bytes)
    throw std::runtime_error(q.key_path + ": a quiz key holds at most " +
                             std::to_string(quiz_max_file_bytes) + " bytes");
  in.seekg(0);
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    auto where = q.key_path + ":" + std::to_string(number) + ": ";
    if (trimmed(line).empty())
      continue;
    if (q.answers.size() >= quiz_max_rows)
      throw std::runtime_error(where + "a quiz key holds at most " +
                               std::to_string(quiz_max_rows) + " rows");
    rapidjson::Document row;
    if (!json_reader::parse(row, line) || !row.IsObject())
      throw std::runtime_error(where + "not a JSON object");
    std::string question;
    std::string answer;
    if (!field_text(row, q.question_field, question))
      throw std::runtime_error(where + "no string '" + q.question_field + "'");
    if (!field_text(row, q.answer_field, answer))
      throw std::runtime_error(where + "no string or integer '" +
                               q.answer_field + "'");
    auto key = std::string{trimmed(question)};
    if (key.empty())
      throw std::runtime_error(where + "an empty question");
    if (!q.answers.emplace(key, std::string{trimmed(answer)}).second)
      throw std::runtime_error(where + "the question is on an earlier line");
    q.longest_question = std::max(q.longest_question, key.size());
  }
}

std::string quiz_script::reply_to(std::string_view message,
                                  std::string_view first) const {
  // The question a message is, or inside a longer message (a template
  // around it) the longest question of the key it contains.
  auto find = [this](std::string_view message) {
    auto text = std::string{trimmed(message)};
    auto it = answers.find(text);
    if (it == answers.end()) {
      size_t best = 0;
      for (auto i = answers.begin(); i != answers.end(); ++i)
        if (i->first.size() > best &&
            text.find(i->first) != std::string::npos) {
          best = i->first.size();
          it = i;
        }
    }
    return it;
  };
  auto it = find(message);
  if (it == answers.end() && !first.empty())
    it = find(first);
  if (it == answers.end())
    return std::string{quiz_unknown_reply};
  bool is_right = quiz_draw(seed, it->first) < right;
  return "The answer is " +
         (is_right ? it->second : quiz_wrong_answer(it->second, seed)) + ".";
}

} // namespace tutti::fake
