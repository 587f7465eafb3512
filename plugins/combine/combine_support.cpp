#include "plugins/combine/combine_support.hpp"

#include <stdexcept>

#include <algorithm>
#include <limits>

#include "plugins/combine/first/first.hpp"

namespace tutti::combine_support {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_alnum(char c) {
  return is_digit(c) || is_alpha(c);
}

char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

bool equals_ci(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

/// A whole number written in a judge's reply: [begin, end) and its value.
struct integer_at {
  size_t begin = 0;
  size_t end = 0;
  size_t value = 0;
};

/// The whole numbers in `text`, in order. Digits that belong to something
/// else are skipped: a word ("gpt4", "4o", "gpt-4"), a decimal ("1.5").
/// Ordinals count ("2nd").
std::vector<integer_at> integers_in(std::string_view text) {
  std::vector<integer_at> found;
  size_t i = 0;
  while (i < text.size()) {
    if (!is_digit(text[i])) {
      ++i;
      continue;
    }
    size_t begin = i;
    while (i < text.size() && is_digit(text[i]))
      ++i;
    size_t end = i;
    char before = begin > 0 ? text[begin - 1] : ' ';
    char before2 = begin > 1 ? text[begin - 2] : ' ';
    if (is_alnum(before) ||
        ((before == '.' || before == '-') && is_alnum(before2)))
      continue;
    if (end + 1 < text.size() && text[end] == '.' && is_digit(text[end + 1]))
      continue;
    if (end < text.size() && is_alpha(text[end])) {
      auto suffix = text.substr(end, 2);
      bool ordinal = suffix.size() == 2 &&
                     (equals_ci(suffix, "st") || equals_ci(suffix, "nd") ||
                      equals_ci(suffix, "rd") || equals_ci(suffix, "th")) &&
                     (end + 2 == text.size() || !is_alpha(text[end + 2]));
      if (!ordinal)
        continue;
    }
    integer_at n{begin, end, 0};
    if (end - begin > 9)
      n.value = std::numeric_limits<size_t>::max();
    else
      for (size_t d = begin; d < end; ++d)
        n.value = n.value * 10 + static_cast<size_t>(text[d] - '0');
    found.push_back(n);
  }
  return found;
}

/// Where the clause that goes on at `from` ends: a line break, a comma or
/// semicolon, or a full stop before a space.
size_t clause_end(std::string_view text, size_t from) {
  for (size_t i = from; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\n' || c == ',' || c == ';')
      return i;
    if (c == '.' &&
        (i + 1 == text.size() || text[i + 1] == ' ' || text[i + 1] == '\n'))
      return i;
  }
  return text.size();
}

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos)
      end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::vector<size_t> values_of(const std::vector<integer_at>& integers) {
  std::vector<size_t> values;
  for (auto& n : integers)
    values.push_back(n.value);
  return values;
}

/// The numbers a line of a ranking lists. A leading list number ("1." or
/// "2)") is skipped when more numbers follow; a line that is only numbers
/// and "candidate" words gives them all, a sentence only its first.
std::vector<size_t> ranked_in_line(std::string_view line) {
  auto integers = integers_in(line);
  if (integers.empty())
    return {};
  auto first = integers.front();
  bool leads = line.find_first_not_of(" \t\r") == first.begin;
  if (leads && integers.size() > 1 && first.end < line.size() &&
      (line[first.end] == '.' || line[first.end] == ')')) {
    integers.erase(integers.begin());
    line.remove_prefix(first.end + 1);
  }
  bool only_numbers = true;
  for (size_t i = 0; i < line.size() && only_numbers;) {
    if (!is_alpha(line[i])) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < line.size() && is_alpha(line[end]))
      ++end;
    auto word = line.substr(i, end - i);
    only_numbers = equals_ci(word, "candidate") || equals_ci(word, "st") ||
                   equals_ci(word, "nd") || equals_ci(word, "rd") ||
                   equals_ci(word, "th");
    i = end;
  }
  if (!only_numbers)
    integers.resize(1);
  return values_of(integers);
}

std::string describe(const failure& error) {
  std::string out(to_string(error.kind));
  if (!error.message.empty())
    out += ": " + error.message;
  return out;
}

} // namespace

std::vector<size_t> word_positions(std::string_view text,
                                   std::string_view word) {
  std::vector<size_t> found;
  for (size_t i = 0; i + word.size() <= text.size(); ++i) {
    if (i > 0 && is_alpha(text[i - 1]))
      continue;
    size_t end = i + word.size();
    if (end < text.size() && is_alpha(text[end]))
      continue;
    if (equals_ci(text.substr(i, word.size()), word))
      found.push_back(i);
  }
  return found;
}

std::vector<size_t> candidates_of(const combine_input& input) {
  std::vector<size_t> candidates;
  for (size_t i = 0; i < input.outcomes.size(); ++i)
    if (input.outcomes[i].ok)
      candidates.push_back(i);
  return candidates;
}

std::string numbered_candidates(const combine_input& input,
                                const std::vector<size_t>& candidates) {
  std::string out;
  for (size_t n = 0; n < candidates.size(); ++n) {
    auto& reply = input.outcomes[candidates[n]].reply;
    out += "Candidate " + std::to_string(n + 1) + ":\n" + reply.text;
    // A reply that calls tools is judged by its calls: each as data.
    for (auto& call : reply.tool_calls)
      out += (out.back() == '\n' ? "" : "\n") + std::string{"[tool call] "} +
             call.name + " " + call.arguments;
    out += "\n\n";
  }
  return out;
}

std::string fill_prompt(std::string_view prompt, std::string_view question,
                        std::string_view candidates, std::string_view rubric) {
  const std::pair<std::string_view, std::string_view> fields[] = {
      {"{{question}}", question},
      {"{{candidates}}", candidates},
      {"{{rubric}}", rubric},
  };
  std::string out;
  size_t i = 0;
  while (i < prompt.size()) {
    bool replaced = false;
    for (auto& [name, value] : fields) {
      if (prompt.substr(i, name.size()) == name) {
        out.append(value);
        i += name.size();
        replaced = true;
        break;
      }
    }
    if (!replaced)
      out += prompt[i++];
  }
  return out;
}

std::vector<combine_setting> prompt_setting_traits() {
  return {
      {"rubric", setting_type::text, false, "what \"best\" means"},
      {"prompt", setting_type::text, false,
       "the prompt sent instead of the built-in one"},
      {"extract", setting_type::regex, false,
       "what a reply's answer is, for the vote it falls back to"},
  };
}

prompt_settings settings_for(const std::string& provider,
                             const combine_options& options,
                             const char* default_prompt,
                             const char* default_system, const char* missing) {
  if (provider.empty())
    throw std::invalid_argument(missing);
  prompt_settings settings;
  settings.provider = provider;
  auto prompt = options.text("prompt");
  auto rubric = options.text("rubric");
  settings.prompt = prompt.empty() ? default_prompt : prompt;
  settings.system = prompt.empty() ? default_system : "";
  settings.rubric = rubric.empty() ? std::string(default_rubric) : rubric;
  return settings;
}

model_call make_call(const prompt_settings& settings, std::string label,
                     const combine_input& input,
                     const std::vector<size_t>& candidates) {
  model_call call;
  call.provider = settings.provider;
  call.label = std::move(label);
  call.system = settings.system;
  call.prompt =
      fill_prompt(settings.prompt, input.question,
                  numbered_candidates(input, candidates), settings.rubric);
  return call;
}

std::string unusable(const member_outcome& call, std::string_view who) {
  std::string name(who);
  if (!call.ok)
    return "the " + name + " failed (" + describe(call.error) + ")";
  if (call.reply.text.find_first_not_of(" \t\r\n") == std::string::npos)
    return "the " + name + "'s reply was empty";
  return {};
}

std::string quote(std::string_view text) {
  constexpr size_t limit = 80;
  std::string out(text.substr(0, limit));
  if (text.size() > limit) {
    // Do not cut a UTF-8 sequence: drop continuation bytes and their lead.
    size_t cut = out.size();
    while (cut > 0 && (static_cast<unsigned char>(out[cut - 1]) & 0xC0) == 0x80)
      --cut;
    if (cut > 0 && (static_cast<unsigned char>(out[cut - 1]) & 0x80) != 0)
      --cut;
    out.resize(cut);
    out += "...";
  }
  std::replace(out.begin(), out.end(), '\n', ' ');
  std::replace(out.begin(), out.end(), '\r', ' ');
  return "\"" + out + "\"";
}

combined nothing_to_judge(const combine_input& input,
                          const std::vector<size_t>& candidates) {
  combined result;
  if (candidates.empty()) {
    result.note = "no member succeeded; the judge was not asked";
    return result;
  }
  auto& only = input.outcomes[candidates.front()];
  result.status = answer_status::ok;
  result.text = only.reply.text;
  result.winner = only.member;
  result.note = "only " + only.member + " succeeded; the judge was not asked";
  return result;
}

combined fall_back(const combine_input& input, const answer_reader& reader,
                   const std::string& why) {
  auto voted = count_votes(input, reader);
  if (voted.status == answer_status::ok) {
    voted.note = why + "; fell back to vote" +
                 (voted.note.empty() ? "" : " (" + voted.note + ")");
    return voted;
  }
  auto earliest = first_success(input);
  earliest.note = why + "; vote found no answer" +
                  (voted.note.empty() ? "" : " (" + voted.note + ")") +
                  "; fell back to first";
  return earliest;
}

std::optional<size_t> parse_choice(std::string_view reply, size_t count) {
  static constexpr std::string_view verdict_words[] = {
      "best",   "choice", "choose",   "chose",  "chosen",    "winner", "pick",
      "picked", "select", "selected", "prefer", "preferred", "verdict"};
  // The first verdict word followed by a number in its clause decides.
  std::optional<size_t> verdict;
  size_t verdict_at = reply.size();
  for (auto word : verdict_words) {
    // A clause read to its end without a number is not read again for the
    // next verdict word in it, so a reply of "best best best ..." is read
    // in linear time, not quadratic.
    size_t read_to = 0;
    for (size_t at : word_positions(reply, word)) {
      if (at >= verdict_at)
        break;
      size_t from = at + word.size();
      if (from < read_to)
        continue;
      read_to = clause_end(reply, from);
      auto integers = integers_in(reply.substr(from, read_to - from));
      if (integers.empty())
        continue;
      verdict = integers.front().value;
      verdict_at = at;
      break;
    }
  }
  size_t chosen = 0;
  if (verdict) {
    chosen = *verdict;
  } else {
    auto integers = integers_in(reply);
    if (integers.empty())
      return std::nullopt;
    chosen = integers.front().value;
  }
  if (chosen < 1 || chosen > count)
    return std::nullopt;
  return chosen;
}

std::optional<std::vector<size_t>> parse_ranking(std::string_view reply,
                                                 size_t count) {
  if (auto at = word_positions(reply, "ranking"); !at.empty())
    reply.remove_prefix(at.back() + 7);
  auto lines = lines_of(reply);
  std::vector<size_t> listed;
  // "3 > 1 > 2" on one line: the last such line.
  for (auto line = lines.rbegin(); line != lines.rend() && listed.empty();
       ++line)
    if (line->find('>') != std::string_view::npos)
      if (auto integers = integers_in(*line); integers.size() >= 2)
        listed = values_of(integers);
  // [3, 1, 2]: the last bracketed list.
  if (listed.empty()) {
    size_t close = reply.rfind(']');
    size_t open = close == std::string_view::npos ? std::string_view::npos
                                                  : reply.rfind('[', close);
    if (open != std::string_view::npos)
      listed = values_of(integers_in(reply.substr(open, close - open)));
  }
  // One number per line, a numbered list, or "3, 1, 2".
  if (listed.empty())
    for (auto line : lines)
      for (size_t n : ranked_in_line(line))
        listed.push_back(n);
  std::vector<size_t> ranking;
  for (size_t n : listed) {
    if (n < 1 || n > count)
      return std::nullopt;
    if (std::find(ranking.begin(), ranking.end(), n) == ranking.end())
      ranking.push_back(n);
  }
  if (ranking.empty())
    return std::nullopt;
  return ranking;
}

} // namespace tutti::combine_support
