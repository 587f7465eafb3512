#include "engine/src/spend_ledger.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>

#include "tutti/config.hpp"

namespace tutti {

namespace {

constexpr int64_t day_ms = 24 * 60 * 60 * 1000;

/// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

/// The civil year and month of day number `z`.
void civil_from_days(int64_t z, int64_t& y, unsigned& m) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
}

int64_t floor_div(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

std::string dollars(double usd) {
  char text[64];
  std::snprintf(text, sizeof text, "$%.2f", usd);
  return text;
}

std::string utc_time(int64_t unix_ms) {
  auto seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

std::string account_id(const std::string& kind, const std::string& name) {
  return kind + " '" + name + "'";
}

/// Rolls `p` over to the period starting at `start` when it has begun.
void roll(auto& p, int64_t start) {
  if (p.start != start) {
    p.start = start;
    p.spent = 0;
    p.reserved = 0;
  }
}

} // namespace

int64_t day_start_ms(int64_t unix_ms) {
  return floor_div(unix_ms, day_ms) * day_ms;
}

int64_t month_start_ms(int64_t unix_ms) {
  int64_t y = 0;
  unsigned m = 0;
  civil_from_days(floor_div(unix_ms, day_ms), y, m);
  return days_from_civil(y, m, 1) * day_ms;
}

int64_t next_month_start_ms(int64_t unix_ms) {
  int64_t y = 0;
  unsigned m = 0;
  civil_from_days(floor_div(unix_ms, day_ms), y, m);
  return (m == 12 ? days_from_civil(y + 1, 1, 1)
                  : days_from_civil(y, m + 1, 1)) *
         day_ms;
}

bool parse_spend_limit(std::string_view text, spend_limit& into,
                       std::string& why) {
  auto slash = text.find('/');
  auto per = slash == std::string_view::npos ? std::string_view{}
                                             : text.substr(slash + 1);
  auto amount = std::string{text.substr(0, slash)};
  if (!amount.empty() && amount.front() == '$')
    amount.erase(0, 1);
  double usd = 0;
  char* end = nullptr;
  bool plain = !amount.empty() &&
               amount.find_first_not_of("0123456789.") == std::string::npos;
  if (plain)
    usd = std::strtod(amount.c_str(), &end);
  if (!plain || end != amount.c_str() + amount.size() || !(usd > 0) ||
      usd > max_budget_usd || (per != "day" && per != "month")) {
    why = "expected a budget in US dollars per day or month such as 10/day "
          "or 250/month (more than 0, at most 1000000000), got '" +
          std::string{text.substr(0, 64)} + "'";
    return false;
  }
  (per == "day" ? into.day_usd : into.month_usd) = usd;
  return true;
}

void spend_ledger::set_limit(const std::string& kind, const std::string& name,
                             spend_limit limit) {
  std::lock_guard<std::mutex> guard{mtx_};
  limits_[account_id(kind, name)] = limit;
}

spend_ledger::account& spend_ledger::account_of(const std::string& id,
                                                int64_t now_ms) {
  auto& a = accounts_[id];
  roll(a.day, day_start_ms(now_ms));
  roll(a.month, month_start_ms(now_ms));
  return a;
}

spend_limit spend_ledger::limit_of(const std::string& id) const {
  auto i = limits_.find(id);
  return i == limits_.end() ? spend_limit{} : i->second;
}

void spend_ledger::add_spent(const std::string& kind, const std::string& name,
                             int64_t at_ms, double usd, int64_t now_ms) {
  if (!(usd > 0))
    return;
  std::lock_guard<std::mutex> guard{mtx_};
  auto& a = account_of(account_id(kind, name), now_ms);
  if (month_start_ms(at_ms) == a.month.start)
    a.month.spent += usd;
  if (day_start_ms(at_ms) == a.day.start)
    a.day.spent += usd;
}

spend_hold spend_ledger::reserve(const spend_parties& who, double estimate_usd,
                                 int64_t now_ms) {
  estimate_usd = std::isfinite(estimate_usd) ? std::max(0.0, estimate_usd) : 0;
  std::vector<std::pair<std::string, spend_limit>> parties;
  std::lock_guard<std::mutex> guard{mtx_};
  auto add = [&](const std::string& kind, const std::string& name) {
    auto id = account_id(kind, name);
    parties.emplace_back(id, limit_of(id));
  };
  add("provider", who.provider);
  if (!who.ensemble.empty())
    add("ensemble", who.ensemble);
  if (!who.key.empty())
    parties.emplace_back(account_id("key", who.key), who.key_limit);
  for (auto& party : parties) {
    // Named, not a structured binding: clang's lambdas cannot capture those.
    const auto& id = party.first;
    const auto& limit = party.second;
    auto& a = account_of(id, now_ms);
    auto check = [&](const period& p, double cap, const char* per,
                     int64_t resets) -> std::string {
      auto after = p.spent + p.reserved + estimate_usd;
      if (cap <= 0 || (after <= cap && p.spent + p.reserved < cap))
        return {};
      auto left = std::max(0.0, cap - p.spent - p.reserved);
      return "the budget of " + id + " (" + dollars(cap) + " a " + per +
             ") has " + dollars(left) + " left and this request may cost " +
             dollars(estimate_usd) + "; it resets at " + utc_time(resets);
    };
    auto why = check(a.day, limit.day_usd, "day", a.day.start + day_ms);
    if (why.empty())
      why =
          check(a.month, limit.month_usd, "month", next_month_start_ms(now_ms));
    if (!why.empty())
      return spend_hold{0, why};
  }
  held h;
  h.usd = estimate_usd;
  h.day = day_start_ms(now_ms);
  h.month = month_start_ms(now_ms);
  for (auto& [id, limit] : parties) {
    auto& a = account_of(id, now_ms);
    a.day.reserved += estimate_usd;
    a.month.reserved += estimate_usd;
    h.accounts.push_back(id);
  }
  auto id = next_id_++;
  held_.emplace(id, std::move(h));
  return spend_hold{id, {}};
}

void spend_ledger::settle(uint64_t id, double actual_usd, int64_t now_ms) {
  actual_usd = std::isfinite(actual_usd) ? std::max(0.0, actual_usd) : 0;
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = held_.find(id);
  if (i == held_.end())
    return;
  auto h = std::move(i->second);
  held_.erase(i);
  for (auto& account : h.accounts) {
    auto& a = account_of(account, now_ms);
    // A reservation from a period that has ended went with it.
    if (a.day.start == h.day)
      a.day.reserved = std::max(0.0, a.day.reserved - h.usd);
    if (a.month.start == h.month)
      a.month.reserved = std::max(0.0, a.month.reserved - h.usd);
    a.day.spent += actual_usd;
    a.month.spent += actual_usd;
  }
}

budget_left spend_ledger::left(const std::string& kind, const std::string& name,
                               spend_limit limit, int64_t now_ms) {
  budget_left result;
  if (!limit.any())
    return result;
  std::lock_guard<std::mutex> guard{mtx_};
  auto id = account_id(kind, name);
  auto& a = account_of(id, now_ms);
  result.limited = true;
  result.usd = std::numeric_limits<double>::infinity();
  auto consider = [&](const period& p, double cap, const char* per,
                      int64_t resets) {
    if (cap <= 0)
      return;
    auto left = std::max(0.0, cap - p.spent - p.reserved);
    if (left < result.usd) {
      result.usd = left;
      result.budget = id + " (" + dollars(cap) + " a " + per + ")";
      result.resets_ms = resets;
    }
  };
  consider(a.day, limit.day_usd, "day", a.day.start + day_ms);
  consider(a.month, limit.month_usd, "month", next_month_start_ms(now_ms));
  return result;
}

std::pair<double, double> spend_ledger::spent(const std::string& kind,
                                              const std::string& name,
                                              int64_t now_ms) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& a = account_of(account_id(kind, name), now_ms);
  return {a.day.spent, a.month.spent};
}

} // namespace tutti
