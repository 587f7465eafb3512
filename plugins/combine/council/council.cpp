#include "plugins/combine/council/council.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "engine/src/splitmix.hpp"
#include "plugins/combine/combine_support.hpp"
#include "plugins/combine/vote/vote.hpp"

namespace tutti {

namespace {

using namespace combine_support;

/// Letters A to Z: a reviewer sees at most 26 others.
constexpr size_t most_members = 27;

const char* const review_system =
    "You review answers that others wrote to a question. Judge what they "
    "say: whether they are correct, complete and to the point. Not their "
    "length, style or the order they are shown in.";

const char* const review_prompt =
    "Question:\n"
    "{{question}}\n"
    "\n"
    "Here are the answers of other participants, each under a letter:\n"
    "\n"
    "{{candidates}}"
    "Evaluate each response in turn: what it does well and what it does "
    "badly.\n"
    "Rubric: {{rubric}}\n"
    "\n"
    "Then end your reply with the line \"FINAL RANKING:\" followed by every "
    "response from best to worst, one per line, as \"1. Response X\" where "
    "X is its letter.";

const char* const chairman_system =
    "You are the chairman of a council of models. Several members answered "
    "a question and reviewed each other's answers. You write the one final "
    "answer the council gives.";

const char* const chairman_prompt =
    "Question:\n"
    "{{question}}\n"
    "\n"
    "{{candidates}}"
    "Write the single best answer to the question, drawing on the answers "
    "and the reviews: keep what the reviews found right, correct what they "
    "found wrong. Reply with the answer alone.";

const char* const missing_chairman =
    "combine: council needs `chairman:` naming the provider that writes the "
    "answer, or `none` for the top-ranked answer";

bool is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}

bool is_letter(char c) {
  return is_upper(c) || (c >= 'a' && c <= 'z');
}

std::string letter(size_t i) {
  return std::string(1, static_cast<char>('A' + i));
}

/// One reviewer's view: whom its letters stood for (indices into the
/// candidates), and what its review says.
struct review_view {
  size_t reviewer = 0;       ///< its place among the candidates
  std::vector<size_t> shown; ///< shown[letter] = candidate place
  std::optional<std::vector<size_t>> ranked; ///< candidate places, best first
  std::string why_not; ///< why the review is left out, when it is
};

class council final : public combine_strategy {
public:
  explicit council(const combine_options& options)
      : chairman_(options.text("chairman")), reader_(options.text("extract")),
        rubric_(options.has("rubric") ? options.text("rubric")
                                      : std::string(default_rubric)) {
    if (chairman_.empty())
      throw std::invalid_argument(missing_chairman);
    if (chairman_ == "none")
      chairman_.clear();
  }

  combined combine(const combine_input& input) const override {
    auto candidates = candidates_of(input);
    std::string left_out;
    if (candidates.size() > most_members) {
      left_out = std::to_string(candidates.size() - most_members) +
                 " answers past the first " + std::to_string(most_members) +
                 " took no part (a reviewer reads at most 26 letters)";
      candidates.resize(most_members);
    }
    if (candidates.size() < 2) {
      auto result = nothing_to_judge(input, candidates);
      result.note = candidates.empty()
                        ? "no member answered; there was nothing to review"
                        : "only " + result.winner +
                              " answered; there was nothing to review";
      return result;
    }
    auto seed = fnv1a64(input.question);
    std::vector<review_view> views;
    for (size_t r = 0; r < candidates.size(); ++r) {
      review_view view;
      view.reviewer = r;
      auto order = review_order(seed, r, candidates.size() - 1);
      for (auto k : order)
        view.shown.push_back(k < r ? k : k + 1); // the others, skipping r
      views.push_back(std::move(view));
    }
    if (input.calls.empty())
      return reviews_round(input, candidates, views);
    auto count = candidates.size();
    for (size_t r = 0; r < count && r < input.calls.size(); ++r)
      read_review(input.calls[r], views[r]);
    auto result = rank_by_reviews(input, candidates, views);
    if (!left_out.empty())
      result.note += (result.note.empty() ? "" : "; ") + left_out;
    if (result.ranking.empty())
      return result; // no usable review: fell back
    if (chairman_.empty())
      return result;
    if (input.calls.size() == count) {
      combined ask;
      ask.call = chairman_call(input, candidates, views, result);
      return ask;
    }
    auto& written = input.calls.back();
    if (auto why = unusable(written, "chairman"); !why.empty()) {
      result.note = why + "; the answer is the top-ranked one" +
                    (result.note.empty() ? "" : "; " + result.note);
      return result;
    }
    result.text = written.reply.text;
    result.winner.clear();
    return result;
  }

  std::vector<std::string> providers_called() const override {
    if (chairman_.empty())
      return {};
    return {chairman_};
  }

private:
  /// "Response A:\n...\n\n" for what `view` shows.
  static std::string lettered(const combine_input& input,
                              const std::vector<size_t>& candidates,
                              const review_view& view) {
    std::string out;
    for (size_t l = 0; l < view.shown.size(); ++l)
      out += "Response " + letter(l) + ":\n" +
             input.outcomes[candidates[view.shown[l]]].reply.text + "\n\n";
    return out;
  }

  combined reviews_round(const combine_input& input,
                         const std::vector<size_t>& candidates,
                         const std::vector<review_view>& views) const {
    combined ask;
    for (auto& view : views) {
      auto& reviewer = input.outcomes[candidates[view.reviewer]];
      model_call call;
      call.provider = reviewer.provider;
      call.member = reviewer.member;
      call.label = reviewer.member + "@review";
      call.system = review_system;
      call.prompt = fill_prompt(review_prompt, input.question,
                                lettered(input, candidates, view), rubric_);
      ask.calls.push_back(std::move(call));
    }
    return ask;
  }

  static void read_review(const member_outcome& call, review_view& view) {
    if (auto why = unusable(call, "review by " + call.member); !why.empty()) {
      view.why_not = why;
      return;
    }
    auto letters = parse_letter_ranking(call.reply.text, view.shown.size());
    if (!letters) {
      view.why_not = "the review by " + call.member + " ranked no letter (" +
                     quote(call.reply.text) + ")";
      return;
    }
    std::vector<size_t> ranked;
    for (auto l : *letters)
      ranked.push_back(view.shown[l]);
    view.ranked = std::move(ranked);
  }

  combined rank_by_reviews(const combine_input& input,
                           const std::vector<size_t>& candidates,
                           const std::vector<review_view>& views) const {
    auto count = candidates.size();
    std::vector<double> sum(count, 0);
    std::vector<size_t> times(count, 0);
    std::vector<size_t> firsts(count, 0);
    std::vector<std::string> notes;
    combined result;
    for (auto& view : views) {
      peer_review review;
      review.reviewer = input.outcomes[candidates[view.reviewer]].member;
      for (auto place : view.shown)
        review.letters.push_back(input.outcomes[candidates[place]].member);
      if (view.ranked) {
        for (size_t pos = 0; pos < view.ranked->size(); ++pos) {
          auto place = (*view.ranked)[pos];
          sum[place] += static_cast<double>(pos + 1);
          ++times[place];
          if (pos == 0)
            ++firsts[place];
          review.ranking.push_back(input.outcomes[candidates[place]].member);
        }
      } else if (!view.why_not.empty()) {
        notes.push_back(view.why_not);
      }
      result.reviews.push_back(std::move(review));
    }
    std::vector<size_t> order(count);
    for (size_t i = 0; i < count; ++i)
      order[i] = i;
    auto mean = [&](size_t i) {
      return sum[i] / static_cast<double>(times[i]);
    };
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      if ((times[a] == 0) != (times[b] == 0))
        return times[b] == 0; // ranked by some review first
      if (times[a] == 0)
        return false;
      if (mean(a) != mean(b))
        return mean(a) < mean(b);
      return firsts[a] > firsts[b];
    });
    std::string joined;
    for (auto& note : notes)
      joined += (joined.empty() ? "" : "; ") + note;
    if (times[order.front()] == 0) {
      auto fallen = fall_back(input, reader_,
                              "no review could be used" +
                                  (joined.empty() ? "" : " (" + joined + ")"));
      fallen.reviews = std::move(result.reviews);
      return fallen;
    }
    for (auto i : order) {
      result.ranking.push_back(input.outcomes[candidates[i]].member);
      result.mean_ranks.push_back(times[i] == 0 ? 0 : mean(i));
    }
    auto& top = input.outcomes[candidates[order.front()]];
    result.status = answer_status::ok;
    result.text = top.reply.text;
    result.winner = top.member;
    result.note = joined;
    return result;
  }

  model_call chairman_call(const combine_input& input,
                           const std::vector<size_t>& candidates,
                           const std::vector<review_view>& views,
                           const combined& ranked) const {
    auto number = [](size_t place) {
      return "Answer " + std::to_string(place + 1);
    };
    std::string body;
    for (size_t i = 0; i < candidates.size(); ++i)
      body +=
          number(i) + ":\n" + input.outcomes[candidates[i]].reply.text + "\n\n";
    body += "Each author then reviewed the other answers, shown to it under "
            "letters of its own:\n\n";
    for (auto& view : views) {
      if (!view.ranked)
        continue;
      body += "Review by the author of " + number(view.reviewer) + " (";
      for (size_t l = 0; l < view.shown.size(); ++l)
        body += (l == 0 ? "" : ", ") + std::string("Response ") + letter(l) +
                " is " + number(view.shown[l]);
      body += "):\n" + input.calls[view.reviewer].reply.text + "\n\n";
    }
    body += "The ranking by mean rank (1 is best): ";
    for (size_t k = 0; k < ranked.ranking.size(); ++k) {
      size_t place = 0;
      while (input.outcomes[candidates[place]].member != ranked.ranking[k])
        ++place;
      char mean[32];
      std::snprintf(mean, sizeof mean, "%.2f", ranked.mean_ranks[k]);
      body += (k == 0 ? "" : ", ") + number(place) + " (" + mean + ")";
    }
    body += "\n\n";
    model_call call;
    call.provider = chairman_;
    call.label = "chairman";
    call.system = chairman_system;
    call.prompt = fill_prompt(chairman_prompt, input.question, body, rubric_);
    call.streams_answer = true;
    return call;
  }

  std::string chairman_; ///< empty: none
  answer_reader reader_;
  std::string rubric_;
};

} // namespace

std::vector<size_t> review_order(uint64_t seed, size_t reviewer, size_t count) {
  std::vector<size_t> order(count);
  for (size_t i = 0; i < count; ++i)
    order[i] = i;
  uint64_t state = seed ^ (0x9E3779B97F4A7C15ULL * (reviewer + 1));
  for (size_t i = count; i > 1; --i)
    std::swap(order[i - 1], order[splitmix64(state) % i]);
  return order;
}

std::optional<std::vector<size_t>> parse_letter_ranking(std::string_view reply,
                                                        size_t count) {
  if (auto at = word_positions(reply, "ranking"); !at.empty()) {
    reply.remove_prefix(at.back() + 7);
  } else {
    // No marker: the last line that says anything.
    auto end = reply.find_last_not_of(" \t\r\n");
    if (end == std::string_view::npos)
      return std::nullopt;
    reply = reply.substr(0, end + 1);
    auto start = reply.rfind('\n');
    if (start != std::string_view::npos)
      reply.remove_prefix(start + 1);
  }
  std::vector<size_t> ranked;
  for (size_t i = 0; i < reply.size(); ++i) {
    char c = reply[i];
    if (!is_upper(c) || static_cast<size_t>(c - 'A') >= count)
      continue;
    if ((i > 0 && is_letter(reply[i - 1])) ||
        (i + 1 < reply.size() && is_letter(reply[i + 1])))
      continue;
    auto l = static_cast<size_t>(c - 'A');
    if (std::find(ranked.begin(), ranked.end(), l) == ranked.end())
      ranked.push_back(l);
  }
  if (ranked.empty())
    return std::nullopt;
  return ranked;
}

std::unique_ptr<combine_strategy> make_council(const combine_options& options) {
  return std::make_unique<council>(options);
}

combine_traits council_traits() {
  combine_traits traits;
  traits.settings = {
      {"chairman", setting_type::text, true,
       "the provider that writes the answer, or none"},
      {"rubric", setting_type::text, false,
       "what \"best\" means to the reviewers"},
      {"extract", setting_type::regex, false,
       "what a reply's answer is, for the vote it falls back to"},
  };
  return traits;
}

} // namespace tutti
