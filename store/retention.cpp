#include "store/retention.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "store/sql_db.hpp"

namespace tutti::store_detail {

namespace {

/// Ids in one `IN (...)` list at most: well under both databases' limits on
/// a statement's parameters.
constexpr size_t ids_per_statement = 100;

} // namespace

int64_t prune_runs(sql_db& db, int64_t before_ms, size_t max_runs) {
  if (max_runs == 0)
    return 0;
  int64_t pruned = 0;
  in_transaction(db, [&] {
    // The ids first, so that the three deletes take exactly the same runs
    // (on PostgreSQL another writer may add runs between two statements).
    std::vector<std::string> ids;
    db.query("SELECT id FROM runs WHERE started_ms < ? ORDER BY started_ms "
             "LIMIT " +
                 std::to_string(max_runs),
             {before_ms}, [&](const sql_row& r) { ids.push_back(r.text(0)); });
    for (size_t from = 0; from < ids.size(); from += ids_per_statement) {
      auto to = std::min(ids.size(), from + ids_per_statement);
      std::string list = "(";
      std::vector<sql_value> params;
      for (size_t i = from; i < to; ++i) {
        list += i == from ? "?" : ", ?";
        params.emplace_back(std::string_view{ids[i]});
      }
      list += ")";
      db.run("DELETE FROM calls WHERE run_id IN " + list, params);
      db.run("DELETE FROM steps WHERE run_id IN " + list, params);
      // Counted as deleted here: with several processes pruning one
      // PostgreSQL store, another may have taken some of these first.
      db.query("DELETE FROM runs WHERE id IN " + list + " RETURNING id", params,
               [&](const sql_row&) { ++pruned; });
    }
  });
  return pruned;
}

} // namespace tutti::store_detail
