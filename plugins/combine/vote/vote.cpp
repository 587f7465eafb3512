#include "plugins/combine/vote/vote.hpp"

#include "engine/src/json_canonical.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include <re2/re2.h>

namespace tutti {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/// Limits on an `extract:` regex: the memory RE2 may compile it into (so
/// its program, and the per-byte cost of matching it, stay small), and its
/// capture groups.
constexpr int64_t max_regex_memory = 1 << 20;
constexpr int max_capture_groups = 32;

/// A regex as an error message shows it: at most 80 bytes of it.
std::string shown(const std::string& regex) {
  constexpr size_t limit = 80;
  if (regex.size() <= limit)
    return regex;
  size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(regex[cut]) & 0xC0) == 0x80)
    --cut; // not inside a UTF-8 character
  return regex.substr(0, cut) + "...";
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_space(text.back()))
    text.remove_suffix(1);
  return text;
}

/// The canonical form of `text` when it is a number: no sign for positive
/// values, no thousands separators, no leading zeros, no trailing zeros in
/// the fraction ("-0" is "0").
std::optional<std::string> canonical_number(std::string_view text) {
  size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-'))
    negative = text[i++] == '-';
  auto digits_from = [&](size_t from) {
    size_t to = from;
    while (to < text.size() && is_digit(text[to]))
      ++to;
    return to;
  };
  size_t end = digits_from(i);
  std::string whole(text.substr(i, end - i));
  i = end;
  if (i < text.size() && text[i] == ',') {
    // Thousands separators: a group of 1-3 digits, then groups of exactly 3.
    if (whole.empty() || whole.size() > 3)
      return std::nullopt;
    while (i < text.size() && text[i] == ',') {
      end = digits_from(i + 1);
      if (end - (i + 1) != 3)
        return std::nullopt;
      whole.append(text.substr(i + 1, 3));
      i = end;
    }
  }
  std::string fraction;
  if (i < text.size() && text[i] == '.') {
    end = digits_from(i + 1);
    if (end == i + 1)
      return std::nullopt;
    fraction = text.substr(i + 1, end - i - 1);
    i = end;
  }
  if (i != text.size() || (whole.empty() && fraction.empty()))
    return std::nullopt;
  whole.erase(0, std::min(whole.find_first_not_of('0'), whole.size()));
  if (whole.empty())
    whole = "0";
  while (!fraction.empty() && fraction.back() == '0')
    fraction.pop_back();
  std::string result = whole;
  if (!fraction.empty())
    result += "." + fraction;
  if (negative && result != "0")
    result.insert(0, "-");
  return result;
}

/// Two weights are the same when they differ by rounding only.
bool same_weight(double a, double b) {
  return std::abs(a - b) <= 1e-9 * std::max({1.0, std::abs(a), std::abs(b)});
}

struct tally {
  vote_row row;
  size_t first_voter = 0; ///< member index of the row's first voter
};

/// The tie-break rule: more weight, then more voters, then the earlier
/// first voter.
bool ranks_before(const tally& a, const tally& b) {
  if (!same_weight(a.row.weight, b.row.weight))
    return a.row.weight > b.row.weight;
  if (a.row.members.size() != b.row.members.size())
    return a.row.members.size() > b.row.members.size();
  return a.first_voter < b.first_voter;
}

std::string replies(size_t n) {
  return std::to_string(n) + (n == 1 ? " reply" : " replies");
}

std::string joined(const std::vector<std::string>& labels) {
  std::string out;
  for (auto& label : labels)
    out += (out.empty() ? "" : ", ") + label;
  return out;
}

class vote final : public combine_strategy {
public:
  explicit vote(const combine_options& options)
      : reader_(options.text("extract")) {}

  combined combine(const combine_input& input) const override {
    return count_votes(input, reader_);
  }

private:
  answer_reader reader_;
};

} // namespace

answer_reader::answer_reader(const std::string& extract) {
  if (extract.empty())
    return;
  RE2::Options options;
  options.set_log_errors(false);
  // A bounded program keeps matching time linear with a small factor.
  options.set_max_mem(max_regex_memory);
  auto regex = std::make_shared<const RE2>(extract, options);
  if (!regex->ok())
    throw std::invalid_argument("extract: `" + shown(extract) +
                                "` does not compile: " + regex->error());
  if (regex->NumberOfCapturingGroups() > max_capture_groups)
    throw std::invalid_argument(
        "extract: `" + shown(extract) + "` has " +
        std::to_string(regex->NumberOfCapturingGroups()) +
        " capture groups; at most " + std::to_string(max_capture_groups) +
        " are allowed");
  extract_ = std::move(regex);
  if (auto groups = extract_->NumberOfCapturingGroups(); groups > 1)
    remark_ = "extract has " + std::to_string(groups) +
              " capture groups; each match is read from the first that took "
              "part in it";
}

std::optional<std::string> answer_reader::read(std::string_view reply) const {
  if (!extract_) {
    auto answer = trim(reply);
    if (answer.empty())
      return std::nullopt;
    return std::string(answer);
  }
  std::optional<std::string> last;
  auto groups = static_cast<size_t>(extract_->NumberOfCapturingGroups());
  std::vector<re2::StringPiece> match(groups + 1);
  re2::StringPiece text{reply.data(), reply.size()};
  size_t at = 0;
  while (at <= reply.size() &&
         extract_->Match(text, at, reply.size(), RE2::UNANCHORED, match.data(),
                         static_cast<int>(match.size()))) {
    auto whole_end =
        static_cast<size_t>(match[0].data() - reply.data()) + match[0].size();
    // The next search starts after this match; an empty match moves on by
    // one byte so the search always advances.
    at = match[0].empty() ? whole_end + 1 : whole_end;
    size_t group = 0;
    for (size_t g = 1; g < match.size() && group == 0; ++g)
      if (match[g].data() != nullptr)
        group = g;
    if (group == 0 && groups > 0)
      continue; // groups exist but none took part
    auto answer =
        trim(std::string_view(match[group].data(), match[group].size()));
    if (!answer.empty())
      last = std::string(answer);
  }
  return last;
}

std::string normalize_answer(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (is_space(c)) {
      space = !out.empty();
      continue;
    }
    if (space)
      out += ' ';
    space = false;
    out += ascii_lower(c);
  }
  while (!out.empty() && out.back() == '.') {
    out.pop_back();
    while (!out.empty() && out.back() == ' ')
      out.pop_back();
  }
  if (auto number = canonical_number(out))
    return *number;
  return out;
}

namespace {

/// What a reply with tool calls votes for: each call's name and canonical
/// arguments, in a fixed order (the same calls listed in another order are
/// the same answer).
std::string tool_calls_key(const std::vector<tool_call>& calls) {
  std::vector<std::string> each;
  for (auto& call : calls)
    each.push_back(call.name + " " +
                   canonical_json(call.arguments).value_or(call.arguments));
  std::sort(each.begin(), each.end());
  std::string key = "tool calls:";
  for (auto& one : each)
    key += " " + one;
  return key;
}

/// What an answer votes for: a JSON object or array in canonical form (a
/// structured answer; key order and number spelling do not matter), any
/// other text as `normalize_answer` has it.
std::string answer_key(const std::string& answer) {
  auto start = answer.find_first_not_of(" \t\r\n");
  if (start != std::string::npos &&
      (answer[start] == '{' || answer[start] == '['))
    if (auto canonical = canonical_json(answer))
      return *canonical;
  return normalize_answer(answer);
}

} // namespace

combined count_votes(const combine_input& input, const answer_reader& reader) {
  combined result;
  std::vector<tally> rows;
  std::vector<std::string> without_answer;
  size_t successes = 0;
  double voting_weight = 0;
  for (size_t i = 0; i < input.outcomes.size(); ++i) {
    auto& outcome = input.outcomes[i];
    if (!outcome.ok)
      continue;
    ++successes;
    auto& calls = outcome.reply.tool_calls;
    auto answer = calls.empty() ? reader.read(outcome.reply.text)
                                : std::optional<std::string>{};
    auto key = !calls.empty() ? tool_calls_key(calls)
               : answer       ? answer_key(*answer)
                              : std::string();
    if (key.empty()) {
      without_answer.push_back(outcome.member);
      continue;
    }
    double weight = i < input.weights.size() ? input.weights[i] : 1.0;
    voting_weight += weight;
    auto row = std::find_if(rows.begin(), rows.end(), [&](const tally& t) {
      return t.row.answer == key;
    });
    if (row == rows.end()) {
      tally fresh;
      fresh.row.answer = key;
      fresh.row.text =
          reader.extracts() && answer ? *answer : outcome.reply.text;
      fresh.first_voter = i;
      rows.push_back(std::move(fresh));
      row = rows.end() - 1;
    }
    row->row.weight += weight;
    row->row.members.push_back(outcome.member);
  }
  std::stable_sort(rows.begin(), rows.end(), ranks_before);

  std::vector<std::string> notes;
  if (successes == 0)
    notes.push_back("no member succeeded");
  if (!without_answer.empty())
    notes.push_back(replies(without_answer.size()) +
                    (reader.extracts() ? " had no answer matching extract: "
                                       : " had no answer (empty): ") +
                    joined(without_answer));
  if (!reader.remark().empty() && !rows.empty())
    notes.push_back(reader.remark());
  for (auto& note : notes)
    result.note += (result.note.empty() ? "" : "; ") + note;

  if (rows.empty())
    return result;
  auto& best = rows.front().row;
  result.status = answer_status::ok;
  result.text = best.text;
  result.winner = best.members.front();
  result.agreement = voting_weight > 0 ? best.weight / voting_weight : 0;
  for (auto& t : rows)
    result.votes.push_back(std::move(t.row));
  return result;
}

std::unique_ptr<combine_strategy> make_vote(const combine_options& options) {
  return std::make_unique<vote>(options);
}

combine_traits vote_traits() {
  combine_traits traits;
  traits.answers_with_a_member = true;
  traits.settings.push_back(
      {"extract", setting_type::regex, false, "what a reply's answer is"});
  return traits;
}

} // namespace tutti
