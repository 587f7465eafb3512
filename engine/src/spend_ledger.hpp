#pragma once

/// Spend budgets (docs/store.md): what each provider, ensemble and API key
/// has spent today and this month, and what calls in flight may still
/// spend. A call reserves its estimated cost against every budget it counts
/// for before it is sent, all or none under one lock, so members running in
/// parallel cannot overspend together; its real cost replaces the
/// reservation when it ends.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "tutti/config.hpp"

namespace tutti {

/// The start of the UTC day that holds `unix_ms`.
int64_t day_start_ms(int64_t unix_ms);

/// The start of the UTC month that holds `unix_ms`, and of the next one.
int64_t month_start_ms(int64_t unix_ms);
int64_t next_month_start_ms(int64_t unix_ms);

/// Who a call's cost counts for.
struct spend_parties {
  std::string provider;
  std::string ensemble; ///< "" for a provider asked alone
  std::string key;      ///< "" when no key asked
  spend_limit key_limit;
};

/// A reservation, or why there is none.
struct spend_hold {
  uint64_t id = 0;     ///< 0: refused
  std::string refused; ///< names the budget and what it has left
};

class spend_ledger {
public:
  /// The budgets of the config's providers and ensembles.
  void set_limit(const std::string& kind, const std::string& name,
                 spend_limit limit);

  /// Counts spend from before this process (the store's), made at
  /// `at_ms`, in the day and month of `now_ms` it falls in; `kind` is
  /// "provider", "ensemble" or "key".
  void add_spent(const std::string& kind, const std::string& name,
                 int64_t at_ms, double usd, int64_t now_ms);

  /// Reserves `estimate_usd` against every budget `who` counts for, or
  /// none when one of them cannot take it.
  spend_hold reserve(const spend_parties& who, double estimate_usd,
                     int64_t now_ms);

  /// Replaces reservation `id` by what the call really cost.
  void settle(uint64_t id, double actual_usd, int64_t now_ms);

  /// What the budget `limit` of `kind` `name` has left at `now_ms`.
  budget_left left(const std::string& kind, const std::string& name,
                   spend_limit limit, int64_t now_ms);

  /// Spent (settled) today and this month, for reports and tests.
  std::pair<double, double> spent(const std::string& kind,
                                  const std::string& name, int64_t now_ms);

private:
  struct period {
    int64_t start = -1;
    double spent = 0;
    double reserved = 0;
  };
  struct account {
    period day;
    period month;
  };
  struct held {
    std::vector<std::string> accounts;
    double usd = 0;
    int64_t day = 0;
    int64_t month = 0;
  };

  account& account_of(const std::string& id, int64_t now_ms);
  spend_limit limit_of(const std::string& id) const;

  std::mutex mtx_;
  std::unordered_map<std::string, spend_limit> limits_;
  std::unordered_map<std::string, account> accounts_;
  std::unordered_map<uint64_t, held> held_;
  uint64_t next_id_ = 1;
};

} // namespace tutti
