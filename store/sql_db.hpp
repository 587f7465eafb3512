#pragma once

/// The little SQL both stores need, behind one interface, so that the
/// schema, the writes and the queries (run_store.cpp) are written once:
/// statements with `?` placeholders (PostgreSQL's are numbered for it), a
/// transaction, and rows read as text. SQLite and PostgreSQL both accept the
/// schema's types (BIGINT, DOUBLE PRECISION, TEXT) and `ON CONFLICT ... DO
/// UPDATE`.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tutti/store.hpp"

namespace tutti::store_detail {

/// A parameter of a statement. A `string_view` is bound without a copy: the
/// text it views must outlive the call that runs the statement.
using sql_value = std::variant<std::nullptr_t, int64_t, double, std::string,
                               std::string_view>;

/// One row of a result: each column as text, nullopt for NULL.
class sql_row {
public:
  explicit sql_row(std::vector<std::optional<std::string>> columns)
      : columns_(std::move(columns)) {}
  size_t size() const { return columns_.size(); }
  bool is_null(size_t i) const { return !columns_.at(i).has_value(); }
  /// The text ("" for NULL).
  const std::string& text(size_t i) const;
  /// The number (0 for NULL or text that is not one).
  int64_t integer(size_t i) const;
  double real(size_t i) const;

private:
  std::vector<std::optional<std::string>> columns_;
};

class sql_db {
public:
  virtual ~sql_db() = default;
  virtual std::string backend() const = 0;
  /// Runs one statement with `params` bound to its `?`s, in order.
  virtual void run(const std::string& sql,
                   const std::vector<sql_value>& params = {}) = 0;
  /// Runs a query and calls `each` with every row.
  virtual void query(const std::string& sql,
                     const std::vector<sql_value>& params,
                     const std::function<void(const sql_row&)>& each) = 0;
  virtual void begin() { run("BEGIN"); }
  void commit() { run("COMMIT"); }
  /// Never throws: a failed transaction is rolled back as well as it can be.
  virtual void rollback() noexcept = 0;
};

/// Whether `text` is as both databases keep it: PostgreSQL refuses bytes
/// that are not UTF-8 and cuts text at a NUL.
bool is_storable(std::string_view text);

/// `text` with what neither database keeps as U+FFFD (as the JSON tutti
/// writes has it), rather than losing the run.
std::string storable_copy(std::string_view text);

/// Every text of `params` made storable; text that already is (nearly all)
/// is left alone, not copied.
void make_storable(std::vector<sql_value>& params);

/// `params` made storable.
std::vector<sql_value> storable(std::vector<sql_value> params);

/// `path` opened (created with its directory when missing) in WAL mode.
std::unique_ptr<sql_db> open_sqlite(const std::string& path);

/// A libpq connection to `url`, waiting at most 5 s to connect.
std::unique_ptr<sql_db> open_postgres(const std::string& url);

/// Runs `work` inside a transaction: committed when it returns, rolled back
/// when it throws (and the exception passes on).
template <class F>
void in_transaction(sql_db& db, F&& work) {
  db.begin();
  try {
    work();
    db.commit();
  } catch (...) {
    db.rollback();
    throw;
  }
}

} // namespace tutti::store_detail
