// The spend ledger behind budgets: UTC days and months, "10/day" budgets,
// reservations that are all or none and hold under threads racing for the
// last dollars, settlement by the real cost, and periods that roll over.

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "engine/src/spend_ledger.hpp"

using namespace tutti;

namespace {

constexpr int64_t day_ms = 24 * 60 * 60 * 1000;
// 2026-12-06T15:30:00Z and its day and month.
constexpr int64_t now = 1796571000000;
constexpr int64_t day_start = 1796515200000;   // 2026-12-06T00:00:00Z
constexpr int64_t month_start = 1796083200000; // 2026-12-01T00:00:00Z
constexpr int64_t next_month = 1798761600000;  // 2027-01-01T00:00:00Z

spend_parties provider_only(const std::string& name) {
  return spend_parties{name, "", "", {}};
}

} // namespace

BOOST_AUTO_TEST_SUITE(spend_ledger_suite)

BOOST_AUTO_TEST_CASE(days_and_months_are_utc) {
  BOOST_CHECK_EQUAL(day_start_ms(now), day_start);
  BOOST_CHECK_EQUAL(month_start_ms(now), month_start);
  BOOST_CHECK_EQUAL(next_month_start_ms(now), next_month);
  // 2024-02-29T12:00Z: a leap day, and the month after it.
  BOOST_CHECK_EQUAL(month_start_ms(1709208000000), 1706745600000);
  BOOST_CHECK_EQUAL(next_month_start_ms(1709208000000), 1709251200000);
  BOOST_CHECK_EQUAL(day_start_ms(day_start), day_start);
  BOOST_CHECK_EQUAL(day_start_ms(day_start - 1), day_start - day_ms);
}

BOOST_AUTO_TEST_CASE(budgets_parse_from_the_command_line) {
  spend_limit limit;
  std::string why;
  BOOST_CHECK(parse_spend_limit("10/day", limit, why));
  BOOST_CHECK(parse_spend_limit("$250.5/month", limit, why));
  BOOST_CHECK_EQUAL(limit.day_usd, 10);
  BOOST_CHECK_EQUAL(limit.month_usd, 250.5);
  for (auto* bad : {"10", "10/week", "-1/day", "0/day", "1e3/day", "/day",
                    "10/day/x", "nan/day", "2000000000/day", ""}) {
    BOOST_TEST_CONTEXT(bad) {
      BOOST_CHECK(!parse_spend_limit(bad, limit, why));
      BOOST_CHECK(why.find("10/day") != std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_reservation_is_all_or_none) {
  spend_ledger ledger;
  ledger.set_limit("provider", "gpt", spend_limit{0, 100});
  ledger.set_limit("ensemble", "trio", spend_limit{10, 0});
  spend_parties who{"gpt", "trio", "team-a", spend_limit{5, 0}};
  auto first = ledger.reserve(who, 4, now);
  BOOST_REQUIRE_NE(first.id, 0u);
  // The key has $1 left: refused, and nothing else is held for it.
  auto second = ledger.reserve(who, 4, now);
  BOOST_CHECK_EQUAL(second.id, 0u);
  BOOST_CHECK(second.refused.find("key 'team-a' ($5.00 a day) has $1.00 "
                                  "left") != std::string::npos);
  BOOST_CHECK(second.refused.find("2026-12-07T00:00:00Z") != std::string::npos);
  auto ensemble_left = ledger.left("ensemble", "trio", {10, 0}, now);
  BOOST_CHECK_CLOSE(ensemble_left.usd, 6, 1e-9);
  // Settled at its real cost, the rest comes back.
  ledger.settle(first.id, 1.5, now);
  auto key_left = ledger.left("key", "team-a", {5, 0}, now);
  BOOST_CHECK_CLOSE(key_left.usd, 3.5, 1e-9);
  BOOST_CHECK_EQUAL(key_left.budget, "key 'team-a' ($5.00 a day)");
  BOOST_CHECK_CLOSE(ledger.spent("provider", "gpt", now).second, 1.5, 1e-9);
  BOOST_CHECK_NE(ledger.reserve(who, 3, now).id, 0u);
  // Settling twice (or an unknown id) changes nothing.
  ledger.settle(first.id, 100, now);
  BOOST_CHECK_CLOSE(ledger.spent("provider", "gpt", now).second, 1.5, 1e-9);
}

BOOST_AUTO_TEST_CASE(racing_threads_never_overspend) {
  spend_ledger ledger;
  ledger.set_limit("provider", "gpt", spend_limit{100, 0});
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i)
        if (ledger.reserve(provider_only("gpt"), 1, now).id != 0)
          ++granted;
    });
  for (auto& t : threads)
    t.join();
  BOOST_CHECK_EQUAL(granted.load(), 100);
}

BOOST_AUTO_TEST_CASE(periods_roll_over_and_old_spend_counts_where_it_fell) {
  spend_ledger ledger;
  ledger.set_limit("provider", "gpt", spend_limit{10, 15});
  // From the store: $8 yesterday, $4 today, $50 last month.
  // (At `now`, not the wall clock's: this failed from the day after `now`.)
  ledger.add_spent("provider", "gpt", now - day_ms, 8, now);
  ledger.add_spent("provider", "gpt", now - 60'000, 4, now);
  ledger.add_spent("provider", "gpt", month_start - 1, 50, now);
  auto [today, month] = ledger.spent("provider", "gpt", now);
  BOOST_CHECK_CLOSE(today, 4, 1e-9);
  BOOST_CHECK_CLOSE(month, 12, 1e-9);
  // The month's $3 left is the tighter budget.
  auto left = ledger.left("provider", "gpt", {10, 15}, now);
  BOOST_CHECK_CLOSE(left.usd, 3, 1e-9);
  BOOST_CHECK_EQUAL(left.resets_ms, next_month);
  BOOST_CHECK_EQUAL(ledger.reserve(provider_only("gpt"), 3.5, now).id, 0u);
  // A reservation made before midnight and settled after counts in the new
  // day, and the old day's hold goes with the old day.
  auto hold = ledger.reserve(provider_only("gpt"), 2, now);
  BOOST_REQUIRE_NE(hold.id, 0u);
  auto tomorrow = day_start + day_ms + 1000;
  ledger.settle(hold.id, 1, tomorrow);
  auto next = ledger.spent("provider", "gpt", tomorrow);
  BOOST_CHECK_CLOSE(next.first, 1, 1e-9);
  BOOST_CHECK_CLOSE(next.second, 13, 1e-9);
  // In a new month everything starts again.
  auto later = ledger.spent("provider", "gpt", next_month + 1);
  BOOST_CHECK_EQUAL(later.second, 0);
}

BOOST_AUTO_TEST_CASE(calls_without_budgets_are_counted_and_never_refused) {
  spend_ledger ledger;
  auto hold = ledger.reserve(spend_parties{"free", "e", "k", {}}, 1e6, now);
  BOOST_REQUIRE_NE(hold.id, 0u);
  ledger.settle(hold.id, 2, now);
  BOOST_CHECK_CLOSE(ledger.spent("key", "k", now).first, 2, 1e-9);
  BOOST_CHECK(!ledger.left("key", "k", {}, now).limited);
  // Costs from outside are bounded: no NaN or negative spend.
  auto odd = ledger.reserve(provider_only("free"), -5, now);
  ledger.settle(odd.id, std::numeric_limits<double>::quiet_NaN(), now);
  BOOST_CHECK_CLOSE(ledger.spent("provider", "free", now).first, 2, 1e-9);
}

BOOST_AUTO_TEST_SUITE_END()
