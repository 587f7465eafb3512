#include "cli/eval_score.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <stdexcept>

#include <rapidjson/document.h>

#include "engine/src/json_reader.hpp"
#include "engine/src/json_writers.hpp"
#include "tutti/retry.hpp"

namespace tutti::cli {

namespace {

using json_detail::write_string;

std::string string_field(const rapidjson::Value& v, const char* name) {
  auto it = v.FindMember(name);
  if (it == v.MemberEnd() || !it->value.IsString())
    return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

double number_field(const rapidjson::Value& v, const char* name) {
  auto it = v.FindMember(name);
  return it != v.MemberEnd() && it->value.IsNumber() ? it->value.GetDouble()
                                                     : 0;
}

bool bool_field(const rapidjson::Value& v, const char* name, bool otherwise) {
  auto it = v.FindMember(name);
  return it != v.MemberEnd() && it->value.IsBool() ? it->value.GetBool()
                                                   : otherwise;
}

/// A count or microseconds field: a non-negative integer, else 0.
int64_t count_field(const rapidjson::Value& v, const char* name) {
  auto it = v.FindMember(name);
  return it != v.MemberEnd() && it->value.IsInt64() && it->value.GetInt64() >= 0
             ? it->value.GetInt64()
             : 0;
}

/// The real call of `earlier` that a cached outcome `o` repeats: the same
/// provider, model, text and usage; null when none.
const member_outcome*
first_call_of(const member_outcome& o,
              const std::vector<member_outcome>& earlier) {
  for (auto& e : earlier)
    if (e.ok && !e.reply.cached && e.provider == o.provider &&
        e.model == o.model && e.reply.text == o.reply.text &&
        e.reply.usage.input_tokens == o.reply.usage.input_tokens &&
        e.reply.usage.output_tokens == o.reply.usage.output_tokens)
      return &e;
  return nullptr;
}

} // namespace

std::vector<eval_target>
eval_targets(const config& cfg, const std::vector<std::string>& ensembles,
             const std::vector<std::string>& providers) {
  std::vector<eval_target> out;
  std::set<std::string> seen;
  auto add = [&](const std::string& name, bool ensemble) {
    auto known = ensemble ? cfg.ensembles.count(name) > 0
                          : cfg.providers.count(name) > 0;
    if (!known)
      throw std::invalid_argument(std::string{"eval: no "} +
                                  (ensemble ? "ensemble" : "provider") + " '" +
                                  name + "' in the config");
    if (!seen.insert(name).second)
      throw std::invalid_argument(
          "eval: '" + name +
          "' is given twice (a provider and an ensemble "
          "need different names to be compared)");
    out.push_back(eval_target{name, ensemble});
  };
  for (auto& e : ensembles)
    add(e, true);
  for (auto& p : providers)
    add(p, false);
  if (out.empty())
    throw std::invalid_argument(
        "eval: nothing to evaluate: give --ensembles or "
        "--providers");
  return out;
}

answer_scorer::answer_scorer(const std::string& extract) : reader_(extract) {}

std::optional<std::string>
answer_scorer::answer_in(std::string_view reply) const {
  auto read = reader_.read(reply);
  // A reply the regex finds nothing in is compared whole: a vote
  // ensemble's answer is already the part its own extract picked.
  auto normal = normalize_answer(read ? std::string_view{*read} : reply);
  if (normal.empty())
    return std::nullopt;
  return normal;
}

bool answer_scorer::is_right(std::string_view reply,
                             std::string_view expected) const {
  auto got = answer_in(reply);
  return got && *got == normalize_answer(expected);
}

std::string judge_prompt(const std::string& question,
                         const std::string& expected, const std::string& answer,
                         const std::string& rubric) {
  auto rule = rubric.empty()
                  ? std::string{"The answer is correct when it says what the "
                                "expected answer says; wording and length "
                                "do not matter."}
                  : rubric;
  return "You grade an answer to a question against the expected answer.\n" +
         rule + "\n\nQuestion:\n" + question + "\n\nExpected answer:\n" +
         expected + "\n\nAnswer to grade:\n" + answer +
         "\n\nReply with one word: CORRECT or INCORRECT.";
}

std::optional<bool> judge_verdict(std::string_view reply) {
  std::string upper;
  upper.reserve(reply.size());
  for (char c : reply)
    upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto wrong = upper.rfind("INCORRECT");
  auto right = upper.rfind("CORRECT");
  if (right == std::string::npos)
    return std::nullopt;
  // "INCORRECT" holds "CORRECT" two bytes in: the same word.
  if (wrong != std::string::npos && wrong + 2 == right)
    return false;
  return true;
}

void account_calls(const ensemble_answer& answer, const config& cfg,
                   const std::vector<member_outcome>& earlier,
                   eval_result& out) {
  out.spent_usd = answer.cost_usd;
  out.cost_usd = 0;
  out.calls = 0;
  out.shared = 0;
  auto count = [&](const member_outcome& o) {
    if (o.ok && o.reply.cached) {
      ++out.shared;
      auto p = cfg.providers.find(o.provider);
      if (p != cfg.providers.end())
        out.cost_usd += cost_usd(o.reply.usage, p->second.price);
      return;
    }
    auto sent = o.ok || (o.error.kind != failure_kind::circuit_open &&
                         o.error.kind != failure_kind::budget_exceeded &&
                         o.error.kind != failure_kind::queue_timeout &&
                         o.error.kind != failure_kind::config);
    out.calls += sent ? 1 : 0; // a call never sent is none
    out.cost_usd += o.ok ? o.reply.cost_usd : o.error.cost_usd;
  };
  int64_t measured = 0;
  int64_t alone = 0;
  for (auto& m : answer.members) {
    count(m);
    measured = std::max(measured, m.total_us());
    auto* first = m.ok && m.reply.cached ? first_call_of(m, earlier) : nullptr;
    alone = std::max(alone, first ? first->total_us() : m.total_us());
  }
  for (auto& c : answer.combiner_calls)
    count(c);
  out.latency_us = std::max<int64_t>(0, answer.total_us - measured + alone);
}

std::string eval_result_line(const eval_result& r) {
  return json_detail::json_text([&](auto& w) {
           w.StartObject();
           w.Key("line");
           w.Uint64(r.line);
           w.Key("id");
           w.RawValue(r.id_json.data(), r.id_json.size(),
                      rapidjson::kObjectType);
           w.Key("target");
           write_string(w, r.target);
           w.Key("kind");
           write_string(w, r.kind);
           w.Key("status");
           write_string(w, r.status);
           w.Key("right");
           w.Bool(r.right);
           w.Key("scored");
           w.Bool(r.scored);
           w.Key("read");
           write_string(w, r.read);
           w.Key("answer");
           write_string(w, r.answer);
           w.Key("error");
           json_detail::write_string_or_null(w, r.error);
           w.Key("cost_usd");
           w.Double(r.cost_usd);
           w.Key("spent_usd");
           w.Double(r.spent_usd);
           w.Key("judge_usd");
           w.Double(r.judge_usd);
           w.Key("latency_us");
           w.Int64(r.latency_us);
           w.Key("calls");
           w.Uint64(r.calls);
           w.Key("shared");
           w.Uint64(r.shared);
           w.Key("members");
           w.StartArray();
           for (auto& m : r.members) {
             w.StartObject();
             w.Key("member");
             write_string(w, m.member);
             w.Key("provider");
             write_string(w, m.provider);
             w.Key("ok");
             w.Bool(m.ok);
             w.Key("right");
             w.Bool(m.right);
             w.Key("cached");
             w.Bool(m.cached);
             w.EndObject();
           }
           w.EndArray();
           w.EndObject();
         }) +
         "\n";
}

std::optional<eval_result> parse_eval_result(std::string_view line) {
  rapidjson::Document doc;
  if (!json_reader::parse(doc, line) || !doc.IsObject())
    return std::nullopt;
  auto line_no = doc.FindMember("line");
  auto id = doc.FindMember("id");
  if (line_no == doc.MemberEnd() || !line_no->value.IsUint64() ||
      line_no->value.GetUint64() == 0 || id == doc.MemberEnd())
    return std::nullopt;
  eval_result r;
  r.line = line_no->value.GetUint64();
  r.id_json = json_detail::json_text([&](auto& w) { id->value.Accept(w); });
  r.target = string_field(doc, "target");
  r.kind = string_field(doc, "kind");
  if (r.target.empty() || (r.kind != "ensemble" && r.kind != "provider"))
    return std::nullopt;
  r.status = string_field(doc, "status");
  r.right = bool_field(doc, "right", false);
  r.scored = bool_field(doc, "scored", true);
  r.read = string_field(doc, "read");
  r.answer = string_field(doc, "answer");
  r.error = string_field(doc, "error");
  r.cost_usd = number_field(doc, "cost_usd");
  r.spent_usd = number_field(doc, "spent_usd");
  r.judge_usd = number_field(doc, "judge_usd");
  r.latency_us = count_field(doc, "latency_us");
  r.calls = static_cast<size_t>(count_field(doc, "calls"));
  r.shared = static_cast<size_t>(count_field(doc, "shared"));
  auto members = doc.FindMember("members");
  if (members != doc.MemberEnd() && members->value.IsArray())
    for (auto& m : members->value.GetArray()) {
      if (!m.IsObject())
        continue;
      eval_member one;
      one.member = string_field(m, "member");
      one.provider = string_field(m, "provider");
      one.ok = bool_field(m, "ok", false);
      one.right = bool_field(m, "right", false);
      one.cached = bool_field(m, "cached", false);
      r.members.push_back(std::move(one));
    }
  return r;
}

interval wilson_interval(size_t right, size_t n, double z) {
  if (n == 0)
    return {0, 1};
  double p = double(right) / n;
  double z2 = z * z;
  double denominator = 1 + z2 / n;
  double center = (p + z2 / (2.0 * n)) / denominator;
  double half =
      z * std::sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / denominator;
  return {std::max(0.0, center - half), std::min(1.0, center + half)};
}

int64_t eval_tally::latency_quantile_us(double q) const {
  if (latencies_us.empty())
    return -1;
  auto sorted = latencies_us;
  std::sort(sorted.begin(), sorted.end());
  auto rank = static_cast<size_t>(std::ceil(q * sorted.size()));
  return sorted[std::min(sorted.size(), std::max<size_t>(rank, 1)) - 1];
}

void count_eval_result(const eval_result& r,
                       std::map<std::string, eval_tally>& tallies) {
  auto& t = tallies[r.target];
  t.target = eval_target{r.target, r.kind == "ensemble"};
  ++t.rows;
  t.right += r.right ? 1 : 0;
  t.failed += r.status == "failed" ? 1 : 0;
  t.unscored += r.scored ? 0 : 1;
  t.cost_usd += r.cost_usd;
  t.spent_usd += r.spent_usd;
  t.judge_usd += r.judge_usd;
  t.calls += r.calls;
  t.shared += r.shared;
  if (r.status != "failed")
    t.latencies_us.push_back(r.latency_us);
}

std::map<std::string, provider_accuracy>
provider_accuracies(const std::vector<eval_result>& results) {
  std::map<std::string, provider_accuracy> own;
  std::map<std::string, provider_accuracy> as_member;
  for (auto& r : results) {
    if (r.kind == "provider") {
      auto& a = own[r.target];
      ++a.asked;
      a.right += r.right ? 1 : 0;
      continue;
    }
    for (auto& m : r.members) {
      auto& a = as_member[m.provider];
      ++a.asked;
      a.right += m.right ? 1 : 0;
    }
  }
  for (auto& [name, a] : as_member)
    own.emplace(name, a); // a provider's own lines win
  return own;
}

double log_odds_weight(double p) {
  p = std::min(p, 0.999);
  if (p <= 0.5)
    return 0.01;
  return std::max(0.01, std::log(p / (1 - p)));
}

} // namespace tutti::cli
