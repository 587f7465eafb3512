// The PostgreSQL store's connection: libpq, text parameters, one prepared
// statement kept per SQL text (numbered `$n` in place of the `?`s).

#include <charconv>
#include <cstdio>
#include <map>

#include <libpq-fe.h>

#include "store/sql_db.hpp"

namespace tutti::store_detail {

namespace {

/// `?` placeholders numbered as PostgreSQL wants them. The store's SQL
/// has no `?` inside a literal.
std::string numbered(const std::string& sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  for (char c : sql) {
    if (c == '?')
      out += "$" + std::to_string(++n);
    else
      out += c;
  }
  return out;
}

struct result_deleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using result_ptr = std::unique_ptr<PGresult, result_deleter>;

class postgres_db final : public sql_db {
public:
  explicit postgres_db(const std::string& url)
      : where_(printable_store_url(url)) {
    // Bounded waits: a server that is gone must not hold the writer's
    // thread for the kernel's TCP timeouts.
    const char* keys[] = {"dbname",           "connect_timeout",
                          "keepalives_idle",  "tcp_user_timeout",
                          "application_name", nullptr};
    const char* values[] = {url.c_str(), "5", "10", "10000", "tutti", nullptr};
    conn_ = PQconnectdbParams(keys, values, 1);
    if (conn_ == nullptr)
      throw store_error("store " + where_ + ": cannot connect: out of memory");
    if (PQstatus(conn_) != CONNECTION_OK) {
      auto why = error_text();
      PQfinish(conn_);
      conn_ = nullptr;
      throw store_error("store " + where_ + ": cannot connect: " + why);
    }
    run("SET statement_timeout = 30000");
    run("SET client_min_messages = warning");
  }

  ~postgres_db() override {
    if (conn_ != nullptr)
      PQfinish(conn_);
  }

  std::string backend() const override { return "postgresql"; }

  void run(const std::string& sql,
           const std::vector<sql_value>& params = {}) override {
    query(sql, params, [](const sql_row&) {});
  }

  void query(const std::string& sql, const std::vector<sql_value>& params,
             const std::function<void(const sql_row&)>& each) override {
    auto& name = prepared(sql, params.size());
    std::vector<std::string> texts(params.size());
    std::vector<const char*> values(params.size(), nullptr);
    for (size_t i = 0; i < params.size(); ++i) {
      auto& p = params[i];
      if (std::holds_alternative<std::nullptr_t>(p))
        continue;
      if (auto* n = std::get_if<int64_t>(&p))
        texts[i] = std::to_string(*n);
      else if (auto* d = std::get_if<double>(&p)) {
        char buffer[32];
        auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, *d);
        texts[i].assign(buffer, ec == std::errc{} ? end : buffer);
      } else if (auto* view = std::get_if<std::string_view>(&p))
        texts[i] = std::string{*view};
      else
        texts[i] = std::get<std::string>(p);
      values[i] = texts[i].c_str();
    }
    result_ptr result{PQexecPrepared(conn_, name.c_str(),
                                     static_cast<int>(params.size()),
                                     values.data(), nullptr, nullptr, 0)};
    check(result.get());
    int rows = PQntuples(result.get());
    int columns = PQnfields(result.get());
    for (int r = 0; r < rows; ++r) {
      std::vector<std::optional<std::string>> row;
      row.reserve(static_cast<size_t>(columns));
      for (int c = 0; c < columns; ++c) {
        if (PQgetisnull(result.get(), r, c))
          row.emplace_back();
        else
          row.emplace_back(std::string{
              PQgetvalue(result.get(), r, c),
              static_cast<size_t>(PQgetlength(result.get(), r, c))});
      }
      each(sql_row{std::move(row)});
    }
  }

  void rollback() noexcept override {
    if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK)
      return;
    if (PQtransactionStatus(conn_) == PQTRANS_IDLE)
      return;
    PQclear(PQexec(conn_, "ROLLBACK"));
  }

private:
  const std::string& prepared(const std::string& sql, size_t params) {
    if (auto i = statements_.find(sql); i != statements_.end())
      return i->second;
    auto name = "tutti_" + std::to_string(statements_.size() + 1);
    result_ptr result{PQprepare(conn_, name.c_str(), numbered(sql).c_str(),
                                static_cast<int>(params), nullptr)};
    check(result.get());
    return statements_.emplace(sql, name).first->second;
  }

  void check(PGresult* result) const {
    auto status =
        result != nullptr ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
      return;
    std::string why;
    if (result != nullptr && PQresultErrorMessage(result)[0] != '\0')
      why = PQresultErrorMessage(result);
    else
      why = error_text();
    throw store_error("store " + where_ + ": " + trimmed(why));
  }

  std::string error_text() const {
    return trimmed(conn_ != nullptr ? PQerrorMessage(conn_) : "no connection");
  }

  static std::string trimmed(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
      text.pop_back();
    return text;
  }

  std::string where_;
  PGconn* conn_ = nullptr;
  std::map<std::string, std::string> statements_;
};

} // namespace

std::unique_ptr<sql_db> open_postgres(const std::string& url) {
  return std::make_unique<postgres_db>(url);
}

} // namespace tutti::store_detail
