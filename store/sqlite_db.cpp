// The SQLite store's connection: its C API, one prepared statement kept per
// SQL text, WAL mode so that readers (`tutti runs`, GET /v1/runs) never wait
// for the writer and a kill -9 loses no committed transaction.

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <unordered_map>

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "store/sql_db.hpp"

namespace tutti::store_detail {

namespace {

/// How long a statement waits for another process's lock (a second tutti
/// writing the same file) before it fails.
constexpr int busy_timeout_ms = 5000;

/// SQLite's message for the last error, and for one of the file's what
/// may lie behind it: "disk I/O error" alone does not say that the disk is
/// full or read-only. (sqlite3_system_errno is no help: it reads errno
/// after later calls have changed it.)
std::string why_of(sqlite3* db, const std::string& path) {
  std::string why = sqlite3_errmsg(db);
  switch (sqlite3_extended_errcode(db) & 0xff) {
  case SQLITE_IOERR:
  case SQLITE_CANTOPEN:
  case SQLITE_READONLY:
  case SQLITE_FULL:
    break;
  default:
    return why;
  }
  auto dir = std::filesystem::path{path}.parent_path();
  if (dir.empty())
    dir = ".";
  struct statvfs disk {};
  rlimit limit{};
  if (sqlite3_db_readonly(db, "main") == 1 ||
      (::access(dir.c_str(), W_OK) != 0 && (errno == EROFS || errno == EACCES)))
    why += " (the file or its directory is read-only)";
  else if (::statvfs(dir.c_str(), &disk) == 0 && disk.f_bavail == 0)
    why += " (the disk is full)";
  else if (::getrlimit(RLIMIT_FSIZE, &limit) == 0 &&
           limit.rlim_cur != RLIM_INFINITY)
    why += " (this process may write files of " +
           std::to_string(limit.rlim_cur) + " bytes at most: ulimit -f)";
  return why;
}

/// SQLite counts the memory it uses under a global mutex taken around every
/// allocation: a fifth of the store writer's time. Nothing here reads the
/// count. SQLite takes this only before its first use in the process (later
/// it refuses, harmlessly: a program embedding tutti may have used it).
void skip_memory_counting() {
  static std::once_flag once;
  std::call_once(once, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

class sqlite_db final : public sql_db {
public:
  explicit sqlite_db(std::string path) : path_(std::move(path)) {
    skip_memory_counting();
    create_file();
    int flags =
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      std::string why = db_ != nullptr ? why_of(db_, path_) : "out of memory";
      sqlite3_close(db_);
      db_ = nullptr;
      throw store_error("store " + path_ + ": cannot open: " + why);
    }
    sqlite3_busy_timeout(db_, busy_timeout_ms);
    sqlite3_extended_result_codes(db_, 1);
    try {
      // A read-only file keeps its journal mode; the first write says why.
      query("PRAGMA journal_mode=WAL", {}, [](const sql_row&) {});
      run("PRAGMA synchronous=NORMAL");
    } catch (...) {
      close();
      throw;
    }
  }

  ~sqlite_db() override { close(); }

  std::string backend() const override { return "sqlite"; }

  void run(const std::string& sql,
           const std::vector<sql_value>& params = {}) override {
    query(sql, params, [](const sql_row&) {});
  }

  void query(const std::string& sql, const std::vector<sql_value>& params,
             const std::function<void(const sql_row&)>& each) override {
    auto* stmt = prepared(sql);
    sqlite3_reset(stmt);
    // A parameter left unbound must be NULL, not the last run's value; when
    // every one is bound (every write), clearing them first is work thrown
    // away.
    if (static_cast<int>(params.size()) < sqlite3_bind_parameter_count(stmt))
      sqlite3_clear_bindings(stmt);
    for (size_t i = 0; i < params.size(); ++i)
      bind(stmt, static_cast<int>(i + 1), params[i]);
    for (;;) {
      int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE)
        break;
      if (rc != SQLITE_ROW) {
        std::string why = why_of(db_, path_);
        sqlite3_reset(stmt);
        fail(why);
      }
      int n = sqlite3_column_count(stmt);
      std::vector<std::optional<std::string>> columns;
      columns.reserve(static_cast<size_t>(n));
      for (int c = 0; c < n; ++c) {
        if (sqlite3_column_type(stmt, c) == SQLITE_NULL) {
          columns.emplace_back();
          continue;
        }
        auto* text = sqlite3_column_text(stmt, c);
        auto size = sqlite3_column_bytes(stmt, c);
        columns.emplace_back(std::string{reinterpret_cast<const char*>(text),
                                         static_cast<size_t>(size)});
      }
      each(sql_row{std::move(columns)});
    }
    sqlite3_reset(stmt);
  }

  /// Takes the write lock at once: a transaction that only reads first
  /// would otherwise fail to upgrade when another process writes.
  void begin() override { run("BEGIN IMMEDIATE"); }

  void rollback() noexcept override {
    if (db_ != nullptr && sqlite3_get_autocommit(db_) == 0)
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }

private:
  /// Creates the file (and its directory) readable by its owner only: it
  /// holds prompts and answers.
  void create_file() {
    std::filesystem::path p{path_};
    std::error_code ec;
    if (p.has_parent_path() && !std::filesystem::exists(p.parent_path(), ec)) {
      std::filesystem::create_directories(p.parent_path(), ec);
      if (ec)
        throw store_error("store " + path_ +
                          ": cannot create its directory: " + ec.message());
      std::filesystem::permissions(p.parent_path(),
                                   std::filesystem::perms::owner_all, ec);
    }
    // Never open an existing file: closing any descriptor of it drops every
    // POSIX lock this process holds on it, SQLite's included. Another
    // process would then take itself for the file's last user and delete
    // the WAL that this one's connections still write to.
    int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST && errno != EACCES && errno != EROFS)
      throw store_error("store " + path_ +
                        ": cannot open: " + std::strerror(errno));
    if (fd >= 0)
      ::close(fd);
  }

  sqlite3_stmt* prepared(const std::string& sql) {
    if (auto i = statements_.find(sql); i != statements_.end())
      return i->second;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()),
                           &stmt, nullptr) != SQLITE_OK)
      fail(why_of(db_, path_));
    statements_.emplace(sql, stmt);
    return stmt;
  }

  void bind(sqlite3_stmt* stmt, int at, const sql_value& value) {
    int rc = SQLITE_OK;
    if (std::holds_alternative<std::nullptr_t>(value))
      rc = sqlite3_bind_null(stmt, at);
    else if (auto* i = std::get_if<int64_t>(&value))
      rc = sqlite3_bind_int64(stmt, at, *i);
    else if (auto* d = std::get_if<double>(&value))
      rc = sqlite3_bind_double(stmt, at, *d);
    else {
      auto* view = std::get_if<std::string_view>(&value);
      std::string_view s = view ? *view : std::get<std::string>(value);
      // An empty view may point nowhere, and SQLite binds a null pointer as
      // NULL, not as "".
      rc = sqlite3_bind_text64(stmt, at, s.empty() ? "" : s.data(), s.size(),
                               SQLITE_STATIC, SQLITE_UTF8);
    }
    if (rc != SQLITE_OK)
      fail(sqlite3_errmsg(db_));
  }

  [[noreturn]] void fail(const std::string& why) const {
    throw store_error("store " + path_ + ": " + why);
  }

  void close() noexcept {
    for (auto& [sql, stmt] : statements_)
      sqlite3_finalize(stmt);
    statements_.clear();
    if (db_ != nullptr)
      sqlite3_close(db_);
    db_ = nullptr;
  }

  std::string path_;
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

} // namespace

std::unique_ptr<sql_db> open_sqlite(const std::string& path) {
  return std::make_unique<sqlite_db>(path);
}

} // namespace tutti::store_detail
